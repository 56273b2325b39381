/**
 * `scriptbox packages lock DIR`: writes `DIR/pyodide-lock.json` for a folder of wheels, in
 * Pyodide's own lock-file format, so the folder becomes an offline package source
 * (`packageSource: DIR`, `--package-source DIR`). Each wheel is read for its METADATA (name,
 * version, Requires-Dist), its top-level modules and its sha256, and checked against the
 * installed Pyodide's tags.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOCK_FILE, normalizeName, type LockPackage, type PyodideLock } from '../packages/lock-file.js';
import { importsOf, parseMetadata } from '../packages/wheel-metadata.js';
import { PYODIDE_ABI, wheelMismatch } from '../packages/wheel-tags.js';
import { readZipEntry, zipEntries } from '../node/zip.js';

export const PACKAGES_USAGE = `usage: scriptbox packages lock DIR

  lock DIR   write DIR/${LOCK_FILE} for the wheels (*.whl) in DIR: name, version,
             dependencies (Requires-Dist), top-level modules and sha256 of each, in
             Pyodide's lock-file format. Then: scriptbox run --packages NAME,... --package-source DIR

exit status: 0 written, 1 a wheel could not be locked (the reason on stderr), 2 bad usage`;

/** One wheel's lock entry, read from its bytes. */
export function lockEntry(fileName: string, bytes: Buffer): LockPackage {
  const why = wheelMismatch(fileName);
  if (why) throw new Error(why);
  const entries = zipEntries(bytes);
  const infos = [...new Set([...entries.keys()].map((n) => n.split('/')[0]!).filter((d) => d.endsWith('.dist-info')))];
  if (infos.length !== 1) throw new Error(`it has ${infos.length} .dist-info folders (a wheel has one)`);
  const text = (name: string) => {
    const e = entries.get(`${infos[0]}/${name}`);
    return e && readZipEntry(bytes, e).toString('utf8');
  };
  const metadata = text('METADATA');
  if (metadata === undefined) throw new Error(`it has no ${infos[0]}/METADATA`);
  const meta = parseMetadata(metadata);
  return {
    name: meta.name,
    version: meta.version,
    file_name: fileName,
    install_dir: 'site',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    package_type: 'package',
    imports: importsOf(text('top_level.txt'), text('RECORD')),
    depends: meta.depends,
    unvendored_tests: false,
  };
}

/** The lock file for the wheels in `dir`, and what they need that the folder lacks. */
export async function lockFolder(dir: string): Promise<{ lock: PyodideLock; missing: string[] }> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.whl')).sort();
  const packages: Record<string, LockPackage> = {};
  for (const f of files) {
    let entry: LockPackage;
    try {
      entry = lockEntry(f, await readFile(join(dir, f)));
    } catch (e) {
      throw new Error(`${join(dir, f)} cannot be locked: ${(e as Error).message}`);
    }
    const key = normalizeName(entry.name);
    if (packages[key])
      throw new Error(`${packages[key].file_name} and ${f} are both '${key}'; keep one version of each package in the folder`);
    packages[key] = entry;
  }
  const missing = Object.values(packages).flatMap((p) => p.depends.filter((d) => !packages[d]).map((d) => `${p.name} needs ${d}`));
  const info = { abi_version: PYODIDE_ABI.abiVersion, arch: PYODIDE_ABI.arch, platform: PYODIDE_ABI.platform, python: PYODIDE_ABI.python };
  return { lock: { info, packages }, missing };
}

export async function packagesMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h', default: false } } });
  } catch (e) {
    process.stderr.write(`scriptbox packages: ${(e as Error).message}\n\n${PACKAGES_USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${PACKAGES_USAGE}\n`);
    return 0;
  }
  const [command, dir, ...extra] = parsed.positionals;
  if (command !== 'lock' || dir === undefined || extra.length) {
    process.stderr.write(
      `scriptbox packages: ${command === 'lock' ? 'lock takes one DIR' : `unknown subcommand ${command ?? '(none)'}; try 'lock DIR'`}\n\n${PACKAGES_USAGE}\n`,
    );
    return 2;
  }
  const folder = resolve(dir);
  let result;
  try {
    result = await lockFolder(folder);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`scriptbox packages lock: ${err.code === 'ENOENT' ? `${folder} does not exist` : err.message}\n`);
    return 1;
  }
  const file = join(folder, LOCK_FILE);
  // A temporary file, then rename: an engine reading the folder meanwhile sees the old lock or the new.
  await writeFile(`${file}.tmp`, `${JSON.stringify(result.lock, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
  const n = Object.keys(result.lock.packages).length;
  process.stdout.write(`wrote ${file} (${n} package${n === 1 ? '' : 's'})\n`);
  for (const m of result.missing) process.stderr.write(`warning: ${m}, which is not in ${folder}; add its wheel and lock again\n`);
  return 0;
}
