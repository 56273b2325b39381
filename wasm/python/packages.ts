/**
 * Installs a package set into a booting Pyodide core (src/packages/, docs/packages.md),
 * through the runtime's own install path (runtime.py `install_wheel`, which `install()`
 * uses too). A boot from scratch installs the wheels and imports their modules before
 * the memory snapshot is taken, so engines restored from it start with them imported. A
 * restored heap has the modules but not the files (the file system lives in JavaScript,
 * outside the snapshot), so a restore writes the files again and imports nothing.
 */
import type { CorePackages } from '../../src/core.js';
import type { Pyodide, PyFn } from './boot.js';

/** Calls a runtime entry once and frees its proxy. */
function call(m: Record<string, PyFn<unknown>>, entry: string, ...args: unknown[]): unknown {
  const fn = m[entry]!;
  try {
    return fn(...args);
  } finally {
    fn.destroy();
  }
}

/** Installs `packages` (and, with `andImport`, imports their modules); throws naming the package that failed. */
export function installPackages(py: Pyodide, m: Record<string, PyFn<unknown>>, packages: CorePackages, andImport: boolean): void {
  for (const w of packages.wheels) {
    // install_wheel removes the file once it has read it.
    const path = `/tmp/${w.fileName}`;
    py.FS.writeFile(path, w.bytes);
    const reply = JSON.parse(String(call(m, 'install_wheel', path))) as { ok: boolean; failure?: { message?: string } };
    if (!reply.ok)
      throw new Error(`package '${w.name}' (${w.fileName}) could not be installed: ${reply.failure?.message ?? 'unknown reason'}`);
  }
  if (!andImport || packages.imports.length === 0) return;
  const failed = call(m, 'import_packages', JSON.stringify(packages.imports));
  if (typeof failed === 'string') throw new Error(`a package's module failed to import while the engine started: ${failed}`);
}
