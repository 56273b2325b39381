/**
 * Finds the native libraries behind `backend: 'native'` and loads them through koffi, once
 * per process. A missing library is an UnavailableError that names the library, how it
 * was looked for, and the Debian package that provides it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Language } from '../core.js';
import { UnavailableError } from '../errors.js';

/** The koffi module (typed loosely: its own types are used by the bridge modules). */
export type Koffi = typeof import('koffi');

let koffiModule: Koffi | undefined;

/** koffi, or UnavailableError when it is not installed (it is an optional dependency). */
export function koffi(): Koffi {
  if (koffiModule) return koffiModule;
  try {
    koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (e) {
    throw new UnavailableError(
      `backend 'native' needs the koffi package, which could not be loaded (${(e as Error).message.split('\n')[0]}); run \`npm install koffi\`, or use backend 'wasm'`,
    );
  }
  return koffiModule;
}

/** Where a library was found and how. */
export interface FoundLibrary {
  path: string;
  /** How it was found: 'SCRIPTBOX_LIBLUAJIT', 'python3 sysconfig', 'loader path', ... */
  via: string;
}

export interface FoundPython extends FoundLibrary {
  /** The prefix whose lib/pythonX.Y holds the standard library (PYTHONHOME), when known. */
  home?: string;
  /** 'X.Y' */
  version: string;
}

const LUAJIT_NAMES = ['libluajit-5.1.so.2', 'libluajit-5.1.so', 'libluajit-5.1.2.dylib', 'libluajit-5.1.dylib'];
const LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/usr/lib',
  '/usr/local/lib',
  '/opt/homebrew/lib',
];

/** True when the dynamic loader can open `name` (a path or a bare soname). */
function loads(name: string): boolean {
  try {
    koffi().load(name).unload();
    return true;
  } catch {
    return false;
  }
}

let luajit: FoundLibrary | undefined;

/** Where to look: sonames for the loader, and folders to try them in. */
export interface LibrarySearch {
  names: string[];
  dirs: string[];
}

/** libluajit-5.1: SCRIPTBOX_LIBLUAJIT, else the loader path, else the usual library folders. */
export function findLuaJit(search?: LibrarySearch): FoundLibrary {
  if (search) return searchLuaJit(search);
  return (luajit ??= searchLuaJit({ names: LUAJIT_NAMES, dirs: LIB_DIRS }));
}

function searchLuaJit({ names, dirs }: LibrarySearch): FoundLibrary {
  const env = process.env.SCRIPTBOX_LIBLUAJIT;
  if (env) {
    if (!loads(env))
      throw new UnavailableError(`SCRIPTBOX_LIBLUAJIT is ${env}, which cannot be loaded; point it at libluajit-5.1.so.2 or unset it`);
    return { path: env, via: 'SCRIPTBOX_LIBLUAJIT' };
  }
  for (const name of names) if (loads(name)) return { path: name, via: 'loader path' };
  for (const dir of dirs) {
    for (const name of names) {
      const p = join(dir, name);
      if (existsSync(p) && loads(p)) return { path: p, via: dir };
    }
  }
  throw new UnavailableError(
    "backend 'native' for Lua needs LuaJIT's shared library libluajit-5.1.so.2, which was not found (SCRIPTBOX_LIBLUAJIT unset, not on the loader path or in /usr/lib); install the Debian package libluajit-5.1-2 (apt-get install libluajit-5.1-2), set SCRIPTBOX_LIBLUAJIT to its path, or use backend 'wasm'",
  );
}

/** The prefix whose lib/pythonX.Y/os.py exists, looking up from a library's folder. */
function homeOf(lib: string, version: string): string | undefined {
  const seen = new Set<string>();
  for (let dir = dirname(lib); ; dir = dirname(dir)) {
    for (const prefix of [dir, join(dir, 'usr')]) {
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      if (existsSync(join(prefix, 'lib', `python${version}`, 'os.py'))) return prefix;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function versionOf(path: string): string | undefined {
  return /libpython(\d+\.\d+)/.exec(path)?.[1];
}

/** Asks `python3` where its shared libpython is; undefined when it has none or is absent. */
function fromSysconfig(): FoundPython | undefined {
  const script =
    "import sys, sysconfig, json; v = sysconfig.get_config_var; print(json.dumps([v('LIBDIR'), v('INSTSONAME') or v('LDLIBRARY'), sys.base_prefix, '%d.%d' % sys.version_info[:2], v('Py_ENABLE_SHARED')]))";
  let out: string;
  try {
    out = execFileSync('python3', ['-I', '-c', script], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
  try {
    const [libdir, soname, prefix, version, shared] = JSON.parse(out) as [string | null, string | null, string, string, number | null];
    if (!shared || !libdir || !soname) return undefined;
    const path = join(libdir, soname);
    if (!existsSync(path)) return undefined;
    return { path, via: 'python3 sysconfig', home: prefix, version };
  } catch {
    return undefined;
  }
}

/** libpythonX.Y sonames the loader may know, newest first. */
function loaderCandidates(): string[] {
  const names: string[] = [];
  for (let minor = 14; minor >= 8; minor--) names.push(`libpython3.${minor}.so.1.0`, `libpython3.${minor}.so`);
  // A library in the usual folders under another name (a distribution's own build).
  for (const dir of LIB_DIRS) {
    try {
      for (const f of readdirSync(dir)) if (/^libpython3\.\d+\.so\.1\.0$/.test(f)) names.push(join(dir, f));
    } catch {
      // not there on this system
    }
  }
  return names;
}

let python: FoundPython | undefined;

/**
 * libpython3: SCRIPTBOX_LIBPYTHON, else python3's sysconfig, else the loader path. A
 * `search` replaces the last two (tests use it to see the message for a missing library).
 */
export function findLibPython(search?: LibrarySearch): FoundPython {
  if (search) return searchPython(search);
  return (python ??= searchPython(undefined));
}

function searchPython(search: LibrarySearch | undefined): FoundPython {
  const env = process.env.SCRIPTBOX_LIBPYTHON;
  if (env) {
    const version = versionOf(env);
    if (!version || !loads(env)) {
      throw new UnavailableError(
        `SCRIPTBOX_LIBPYTHON is ${env}, which cannot be loaded as libpython3.X; point it at a shared libpython (e.g. /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0) or unset it`,
      );
    }
    const home = process.env.SCRIPTBOX_PYTHONHOME ?? homeOf(env, version);
    return { path: env, via: 'SCRIPTBOX_LIBPYTHON', version, ...(home ? { home } : {}) };
  }
  const sys = search ? undefined : fromSysconfig();
  if (sys && loads(sys.path)) return sys;
  const candidates = search ? [...search.names, ...search.dirs.flatMap((d) => search.names.map((n) => join(d, n)))] : loaderCandidates();
  for (const name of candidates) {
    const version = versionOf(name);
    if (!version || !loads(name)) continue;
    const home = homeOf(name.includes('/') ? name : join('/usr/lib/x86_64-linux-gnu', name), version);
    return { path: name, via: 'loader path', version, ...(home ? { home } : {}) };
  }
  throw new UnavailableError(
    "backend 'native' for Python needs a shared libpython3 (libpython3.X.so.1.0), which was not found (SCRIPTBOX_LIBPYTHON unset, python3 has no shared library, none on the loader path); install the Debian package libpython3.11 (apt-get install libpython3.11), set SCRIPTBOX_LIBPYTHON to its path, or use backend 'wasm'",
  );
}

/**
 * Uses `lib` for a language from now on in this thread: what the host found, handed to a
 * worker or child process (whose environment is empty) so that it loads the same library.
 */
export function preferLibrary(language: Language, lib: FoundLibrary | FoundPython): void {
  if (language === 'lua') luajit = { path: lib.path, via: lib.via };
  else {
    const version = (lib as FoundPython).version ?? versionOf(lib.path);
    if (!version) throw new UnavailableError(`${lib.path} is not a libpython3.X; set SCRIPTBOX_LIBPYTHON to a shared libpython`);
    python = { ...(lib as FoundPython), version };
  }
}

/** Finds the library a language's native backend needs; throws UnavailableError when absent. */
export function findNative(language: Language): FoundLibrary {
  return language === 'lua' ? findLuaJit() : findLibPython();
}

/** Whether the native backend of a language can load here (for backend 'auto'). */
export function nativeAvailable(language: Language): boolean {
  try {
    findNative(language);
    return true;
  } catch {
    return false;
  }
}
