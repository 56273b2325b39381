/**
 * Which wheels the installed Pyodide can use, from the compatibility tags in a wheel's file
 * name (`name-version[-build]-python-abi-platform.whl`, PEP 427 / PEP 425): pure-Python
 * wheels (`py3-none-any`), and wasm32 wheels built for this Pyodide's Python and ABI
 * (`cp314-cp314-pyemscripten_2026_0_wasm32`, `cp39-abi3-...`). Anything else (a Linux or
 * macOS wheel, another Python, another Pyodide ABI) is refused before it is fetched.
 */
import { UnavailableError } from '../errors.js';

/**
 * The installed Pyodide's Python, ABI and platform: `info` of node_modules/pyodide/pyodide-lock.json
 * (test/packages/tags.test.ts keeps this equal to it, so a Pyodide upgrade cannot leave it stale).
 */
export const PYODIDE_ABI = { python: '3.14.2', abiVersion: '2026_0', platform: 'emscripten_5_0_3', arch: 'wasm32' } as const;

/** The platform tags this Pyodide loads (the names Pyodide's builds have used for the same ABI). */
function platforms(abi = PYODIDE_ABI): string[] {
  return ['any', `pyemscripten_${abi.abiVersion}_wasm32`, `pyodide_${abi.abiVersion}_wasm32`, `${abi.platform}_wasm32`];
}

/** Why a wheel of this file name does not fit this Pyodide, or undefined if it fits. */
export function wheelMismatch(fileName: string, abi = PYODIDE_ABI): string | undefined {
  if (!fileName.endsWith('.whl')) return 'it is not a wheel (.whl); only wheels can be installed';
  const parts = fileName.slice(0, -4).split('-');
  if (parts.length !== 5 && parts.length !== 6) return 'its file name does not carry wheel tags (name-version-python-abi-platform.whl)';
  const [pyTags, abiTags, platTags] = parts.slice(-3).map((t) => t.split('.')) as [string[], string[], string[]];
  const [major, minor] = abi.python.split('.').map(Number) as [number, number];
  const version = `${major}.${minor}`;
  const cp = `cp${major}${minor}`;
  const known = platforms(abi);
  if (!platTags.some((p) => known.includes(p))) {
    return `it is built for platform ${platTags.join('.')}, not for this Pyodide (${known.slice(1).join(' or ')}, or 'any')`;
  }
  const pyFits = (t: string) => t === `py${major}` || t === `py${major}${minor}` || t === cp;
  // abi3 wheels run on every CPython from the one they name on.
  const abi3Fits = (t: string) => {
    const m = /^cp(\d)(\d+)$/.exec(t);
    return !!m && Number(m[1]) === major && Number(m[2]) <= minor;
  };
  const fits =
    (abiTags.includes('none') && pyTags.some(pyFits)) ||
    (abiTags.includes(cp) && pyTags.includes(cp)) ||
    (abiTags.includes('abi3') && pyTags.some(abi3Fits));
  if (!fits)
    return `it is built for Python ${pyTags.join('.')} with ABI ${abiTags.join('.')}, and this Pyodide runs Python ${version} (${cp})`;
  return undefined;
}

/** Throws UnavailableError naming the package, its file and the fix when the wheel does not fit this Pyodide. */
export function checkWheelFits(pkg: { name: string; file_name: string }, where: string): void {
  const why = wheelMismatch(pkg.file_name);
  if (why === undefined) return;
  throw new UnavailableError(
    `package '${pkg.name}' (${pkg.file_name} in ${where}) cannot be installed: ${why}; use a pure-Python wheel (py3-none-any) or one built for this Pyodide (Python ${PYODIDE_ABI.python}, ABI ${PYODIDE_ABI.abiVersion})`,
  );
}
