/**
 * Pyodide's lock-file format (`pyodide-lock.json`), as ScriptBox reads and writes it: an
 * `info` block (the Python, ABI and platform the packages were built for) and a `packages`
 * map from normalized name to one entry per package. The file comes from the package
 * source the host configured; it is still checked field by field here, so a broken or
 * foreign file is a typed error naming the source, not a crash later.
 */
import { InvalidInputError } from '../errors.js';

/** One package of a lock file (the fields ScriptBox uses; Pyodide's other fields are kept as they are). */
export interface LockPackage {
  name: string;
  version: string;
  file_name: string;
  sha256: string;
  /** Normalized names of the packages it needs. */
  depends: string[];
  /** Top-level modules it provides (imported before a snapshot is taken). */
  imports: string[];
  package_type?: string;
  install_dir?: string;
  [more: string]: unknown;
}

export interface LockInfo {
  arch?: string;
  platform?: string;
  python?: string;
  abi_version?: string;
  [more: string]: unknown;
}

export interface PyodideLock {
  info: LockInfo;
  packages: Record<string, LockPackage>;
}

/** The lock file's name in a package source. */
export const LOCK_FILE = 'pyodide-lock.json';

/** PEP 503: lower case, runs of `-`, `_` and `.` become one `-`. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

const SHA256 = /^[0-9a-f]{64}$/;
/** A file name that cannot leave the source's folder or be a URL of its own. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+!-]*$/;
const MODULE = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;

function stringList(v: unknown, what: string, bad: (m: string) => InvalidInputError): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(`${what} must be a list of strings`);
  return v as string[];
}

/**
 * Parses and checks a lock file's text; `where` names it in messages (the source's lock URL
 * or path). Package names are keyed by their normalized form.
 */
export function parseLock(text: string, where: string): PyodideLock {
  const bad = (m: string) =>
    new InvalidInputError(`${where} is not a usable pyodide-lock.json: ${m}; regenerate it with 'scriptbox packages lock DIR'`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(`it is not JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('it is not a JSON object');
  const { info, packages } = raw as { info?: unknown; packages?: unknown };
  if (typeof info !== 'object' || info === null || Array.isArray(info)) throw bad("it has no 'info' object");
  if (typeof packages !== 'object' || packages === null || Array.isArray(packages)) throw bad("it has no 'packages' object");
  const out: Record<string, LockPackage> = {};
  for (const [key, value] of Object.entries(packages)) {
    const p = value as Partial<LockPackage> | null;
    if (typeof p !== 'object' || p === null) throw bad(`packages['${key}'] is not an object`);
    for (const f of ['name', 'version', 'file_name', 'sha256'] as const) {
      if (typeof p[f] !== 'string' || p[f] === '') throw bad(`packages['${key}'].${f} must be a non-empty string`);
    }
    if (!SHA256.test(p.sha256!)) throw bad(`packages['${key}'].sha256 must be 64 lower-case hex digits`);
    if (!FILE_NAME.test(p.file_name!)) throw bad(`packages['${key}'].file_name '${p.file_name}' must be a plain file name`);
    const depends = stringList(p.depends, `packages['${key}'].depends`, bad).map(normalizeName);
    // Pyodide's own lock lists a few names that are not modules ('matplotlib-inline'): not importable, so not imported.
    const imports = stringList(p.imports, `packages['${key}'].imports`, bad).filter((m) => MODULE.test(m));
    out[normalizeName(key)] = { ...(p as LockPackage), depends, imports };
  }
  return { info: info as LockInfo, packages: out };
}
