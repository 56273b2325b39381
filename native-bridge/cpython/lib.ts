/**
 * libpython through koffi: the C API subset the bridge uses, the one interpreter of the
 * process (started once, whichever thread asks first), and the per-thread side of the GIL.
 *
 * Object pointers are declared `uintptr_t`, so they arrive as plain numbers (user-space
 * addresses fit in 53 bits) instead of koffi's BigInt pointers: cheaper on every call.
 *
 * One interpreter per process: Node's main thread and every worker thread of the process
 * share it. The thread that starts it keeps the interpreter's main thread state; every
 * other JS thread makes one thread state of its own (PyGILState_Ensure) and keeps it for
 * its life. Between requests no JS thread holds the GIL (PyEval_SaveThread), so engines
 * on other threads and Python threads run meanwhile.
 */
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLibPython, koffi, type FoundPython } from '../../src/node/native-libs.js';
import { UnavailableError } from '../../src/errors.js';
import { HUB_PY } from './hub.py.generated.js';
import { WATCHDOG_PY } from './watchdog.py.generated.js';

/** A PyObject* (0 is NULL). */
export type Ptr = number;

const P = 'uintptr_t';

/** The C API functions the bridge calls, bound once per JS thread. */
export function bind(lib: ReturnType<ReturnType<typeof koffi>['load']>) {
  const f = (name: string, ret: string, args: string[]) => lib.func(name, ret, args) as unknown as (...a: unknown[]) => never;
  const optional = (name: string, ret: string, args: string[]) => {
    try {
      return f(name, ret, args);
    } catch {
      return undefined;
    }
  };
  return {
    Py_IsInitialized: f('Py_IsInitialized', 'int', []) as () => number,
    Py_InitializeEx: f('Py_InitializeEx', 'void', ['int']) as (sigs: number) => void,
    Py_DecodeLocale: f('Py_DecodeLocale', P, ['str', P]) as (s: string, size: number) => Ptr,
    Py_SetPythonHome: optional('Py_SetPythonHome', 'void', [P]) as ((home: Ptr) => void) | undefined,
    PyEval_SaveThread: f('PyEval_SaveThread', P, []) as () => Ptr,
    PyEval_RestoreThread: f('PyEval_RestoreThread', 'void', [P]) as (ts: Ptr) => void,
    PyGILState_Ensure: f('PyGILState_Ensure', 'int', []) as () => number,
    Py_CompileString: f('Py_CompileString', P, ['str', 'str', 'int']) as (src: string, file: string, start: number) => Ptr,
    PyImport_ExecCodeModule: f('PyImport_ExecCodeModule', P, ['str', P]) as (name: string, code: Ptr) => Ptr,
    PyImport_ImportModule: f('PyImport_ImportModule', P, ['str']) as (name: string) => Ptr,
    PyObject_GetAttrString: f('PyObject_GetAttrString', P, [P, 'str']) as (o: Ptr, name: string) => Ptr,
    PyObject_SetAttrString: f('PyObject_SetAttrString', 'int', [P, 'str', P]) as (o: Ptr, name: string, v: Ptr) => number,
    PyObject_Call: f('PyObject_Call', P, [P, P, P]) as (fn: Ptr, args: Ptr, kw: Ptr) => Ptr,
    PyObject_CallNoArgs: f('PyObject_CallNoArgs', P, [P]) as (fn: Ptr) => Ptr,
    PyObject_CallOneArg: optional('PyObject_CallOneArg', P, [P, P]) as ((fn: Ptr, a: Ptr) => Ptr) | undefined,
    PyCallable_Check: f('PyCallable_Check', 'int', [P]) as (o: Ptr) => number,
    PyTuple_New: f('PyTuple_New', P, ['intptr_t']) as (n: number) => Ptr,
    PyTuple_SetItem: f('PyTuple_SetItem', 'int', [P, 'intptr_t', P]) as (t: Ptr, i: number, v: Ptr) => number,
    PyTuple_Size: f('PyTuple_Size', 'intptr_t', [P]) as (t: Ptr) => number,
    PyTuple_GetItem: f('PyTuple_GetItem', P, [P, 'intptr_t']) as (t: Ptr, i: number) => Ptr,
    PyList_New: f('PyList_New', P, ['intptr_t']) as (n: number) => Ptr,
    PyList_SetItem: f('PyList_SetItem', 'int', [P, 'intptr_t', P]) as (l: Ptr, i: number, v: Ptr) => number,
    PyList_Size: f('PyList_Size', 'intptr_t', [P]) as (l: Ptr) => number,
    PyList_GetItem: f('PyList_GetItem', P, [P, 'intptr_t']) as (l: Ptr, i: number) => Ptr,
    PyDict_GetItem: f('PyDict_GetItem', P, [P, P]) as (d: Ptr, key: Ptr) => Ptr,
    PyUnicode_InternFromString: f('PyUnicode_InternFromString', P, ['str']) as (s: string) => Ptr,
    PyDict_GetItemString: f('PyDict_GetItemString', P, [P, 'str']) as (d: Ptr, key: string) => Ptr,
    PyLong_FromLongLong: f('PyLong_FromLongLong', P, ['int64_t']) as (v: number) => Ptr,
    PyLong_AsDouble: f('PyLong_AsDouble', 'double', [P]) as (o: Ptr) => number,
    PyFloat_FromDouble: f('PyFloat_FromDouble', P, ['double']) as (v: number) => Ptr,
    PyFloat_AsDouble: f('PyFloat_AsDouble', 'double', [P]) as (o: Ptr) => number,
    PyBool_FromLong: f('PyBool_FromLong', P, ['long']) as (v: number) => Ptr,
    PyUnicode_FromString: f('PyUnicode_FromString', P, ['str']) as (s: string) => Ptr,
    PyUnicode_DecodeUTF8: f('PyUnicode_DecodeUTF8', P, ['void *', 'intptr_t', 'str']) as (
      b: Uint8Array,
      n: number,
      errors: string | null,
    ) => Ptr,
    PyUnicode_AsUTF8: f('PyUnicode_AsUTF8', 'str', [P]) as (o: Ptr) => string | null,
    PyUnicode_AsUTF8AndSize: f('PyUnicode_AsUTF8AndSize', P, [P, '_Out_ intptr_t *']) as (o: Ptr, size: number[]) => Ptr,
    Py_IncRef: f('Py_IncRef', 'void', [P]) as (o: Ptr) => void,
    Py_DecRef: f('Py_DecRef', 'void', [P]) as (o: Ptr) => void,
    PyErr_Occurred: f('PyErr_Occurred', P, []) as () => Ptr,
    PyErr_Clear: f('PyErr_Clear', 'void', []) as () => void,
    PyErr_Fetch: f('PyErr_Fetch', 'void', ['_Out_ uintptr_t *', '_Out_ uintptr_t *', '_Out_ uintptr_t *']) as (
      t: number[],
      v: number[],
      tb: number[],
    ) => void,
    PyErr_NormalizeException: f('PyErr_NormalizeException', 'void', [
      '_Inout_ uintptr_t *',
      '_Inout_ uintptr_t *',
      '_Inout_ uintptr_t *',
    ]) as (t: number[], v: number[], tb: number[]) => void,
    PyException_SetTraceback: f('PyException_SetTraceback', 'int', [P, P]) as (e: Ptr, tb: Ptr) => number,
  };
}

export type Api = ReturnType<typeof bind>;

/** What every JS thread holds: the API, its thread state, and the hub's entry points. */
export interface ThreadPython {
  api: Api;
  found: FoundPython;
  /** This thread's thread state, saved while the thread does not hold the GIL. */
  ts: Ptr;
  /** threading.get_ident() of this thread. */
  ident: number;
  /** Python's time.monotonic() in ms, minus performance.now() on this thread. */
  monoOffset: number;
  /** The `_scriptbox_native` hub module (what the engines of the process share: hub.py). */
  hub: Ptr;
  /** Borrowed-forever references to hub attributes (functions, None, types). */
  attr(name: string): Ptr;
  /** Whether the GIL is held by this thread right now (nesting is counted). */
  depth: number;
  /** The engine whose module `host` resolves to on this thread (set through the hub). */
  current: unknown;
  /** Python's None, True and False. */
  none: Ptr;
  yes: Ptr;
  no: Ptr;
  /** Where ob_type sits in a PyObject (checked at boot; -1 when the layout is unknown). */
  typeOffset: number;
  libc: { memmove: (d: unknown, s: unknown, n: number) => number };
}

let thread: ThreadPython | undefined;

const Py_file_input = 257;

/**
 * Runs `fn` while holding a process-wide lock (flock on a per-process file): two worker
 * threads must not both start the interpreter. Module state is per thread, so no JS-side
 * lock would do, and the interpreter cannot lock for itself before it exists.
 */
function withStartLock<T>(flock: (fd: number, op: number) => number, fn: () => T): T {
  // The pid alone is not unique: every native child is pid 1 of its own PID namespace and they
  // share /tmp (two such children only serialize their starts); a file another uid made cannot be opened.
  const path = join(tmpdir(), `scriptbox-libpython-${process.getuid?.() ?? 'u'}-${process.pid}.lock`);
  const fd = openSync(path, 'a');
  try {
    if (flock(fd, 2 /* LOCK_EX */) !== 0) throw new Error('flock failed on ' + path);
    return fn();
  } finally {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // another thread removed it first
    }
  }
}

/** The Python error that is set, as text, cleared (for boot failures). */
function errorText(api: Api): string {
  if (!api.PyErr_Occurred()) return 'no Python error was set';
  const t = [0];
  const v = [0];
  const tb = [0];
  api.PyErr_Fetch(t, v, tb);
  api.PyErr_NormalizeException(t, v, tb);
  let text = 'unknown error';
  const s = v[0] ? api.PyObject_GetAttrString(v[0], '__repr__') : 0;
  if (s) {
    const r = api.PyObject_CallNoArgs(s);
    if (r) text = api.PyUnicode_AsUTF8(r) ?? text;
    api.Py_DecRef(s);
    if (r) api.Py_DecRef(r);
  }
  api.PyErr_Clear();
  for (const p of [t[0], v[0], tb[0]]) if (p) api.Py_DecRef(p);
  return text;
}

/** The process-wide modules, in load order: the hub imports the watchdog. */
const MODULES = [
  ['_scriptbox_watchdog', WATCHDOG_PY, '<scriptbox-watchdog>'],
  ['_scriptbox_native', HUB_PY, '<scriptbox-native>'],
] as const;

/** Starts the interpreter (first thread of the process) and loads the hub module. */
function startInterpreter(api: Api, found: FoundPython): void {
  if (found.home) {
    // Set before Py_Initialize; the decoded string must live for the whole process.
    const home = api.Py_DecodeLocale(found.home, 0);
    if (api.Py_SetPythonHome) api.Py_SetPythonHome(home);
    else process.env.PYTHONHOME = found.home;
  }
  // 0: no signal handlers. Node owns SIGINT; timeouts use the hub's watchdog instead.
  api.Py_InitializeEx(0);
  if (!api.Py_IsInitialized()) throw new UnavailableError(`libpython at ${found.path} did not initialize`);
  for (const [name, source, file] of MODULES) {
    const code = api.Py_CompileString(source, file, Py_file_input);
    const mod = code ? api.PyImport_ExecCodeModule(name, code) : 0;
    if (code) api.Py_DecRef(code);
    if (!mod) {
      const text = errorText(api);
      api.PyEval_SaveThread();
      throw new UnavailableError(`libpython at ${found.path} started, but the ScriptBox module ${name} failed: ${text}`);
    }
    api.Py_DecRef(mod);
  }
}

/**
 * This thread's view of the interpreter, starting the interpreter if no thread of the
 * process has. Throws UnavailableError when libpython cannot be found or started.
 */
export function threadPython(): ThreadPython {
  if (thread) return thread;
  const found = findLibPython();
  const k = koffi();
  // RTLD_GLOBAL: extension modules (_ctypes, _json...) resolve libpython's symbols from it.
  const lib = k.load(found.path, { global: true });
  const api = bind(lib);
  const libcLib = k.load(process.platform === 'darwin' ? 'libc.dylib' : 'libc.so.6');
  const libc = {
    memmove: libcLib.func('memmove', 'uintptr_t', ['void *', 'void *', 'size_t']) as (d: unknown, s: unknown, n: number) => number,
  };
  const flock = libcLib.func('flock', 'int', ['int', 'int']) as (fd: number, op: number) => number;
  let ts = 0;
  withStartLock(flock, () => {
    if (!api.Py_IsInitialized()) {
      startInterpreter(api, found);
      ts = api.PyEval_SaveThread();
    }
  });
  if (!ts) {
    // Another thread started it: make this thread's own thread state, kept for its life.
    api.PyGILState_Ensure();
    ts = api.PyEval_SaveThread();
  }
  api.PyEval_RestoreThread(ts);
  try {
    const hub = api.PyImport_ImportModule('_scriptbox_native');
    if (!hub) throw new UnavailableError(`the ScriptBox hub module is missing from the interpreter: ${errorText(api)}`);
    const attrs = new Map<string, Ptr>();
    const attr = (name: string): Ptr => {
      let p = attrs.get(name);
      if (p === undefined) {
        p = api.PyObject_GetAttrString(hub, name);
        if (!p) throw new Error(`the hub has no ${name}: ${errorText(api)}`);
        attrs.set(name, p);
      }
      return p;
    };
    const call0 = (name: string): number => {
      const r = api.PyObject_CallNoArgs(attr(name));
      if (!r) throw new Error(`hub.${name} failed: ${errorText(api)}`);
      const v = api.PyFloat_AsDouble(r);
      api.Py_DecRef(r);
      return v;
    };
    const ident = call0('thread_ident');
    const monoOffset = call0('monotonic_ms') - performance.now();
    const none = attr('NONE');
    const noneType = attr('NONE_TYPE');
    const typeOffset = k.decode(none, 8, 'uintptr_t') === noneType ? 8 : -1;
    thread = {
      api,
      found,
      ts,
      ident,
      monoOffset,
      hub,
      attr,
      depth: 0,
      current: undefined,
      none,
      yes: attr('TRUE'),
      no: attr('FALSE'),
      typeOffset,
      libc,
    };
  } finally {
    api.PyEval_SaveThread();
  }
  return thread;
}

/** Takes the GIL on this thread (nestable: a host callback may run another engine). */
export function acquire(t: ThreadPython): void {
  t.api.PyEval_RestoreThread(t.ts);
  t.depth++;
}

/** Gives the GIL back. */
export function release(t: ThreadPython): void {
  t.depth--;
  t.api.PyEval_SaveThread();
}

/**
 * The pending Python exception, normalized and with its traceback, as a new reference
 * (0 if none); the error indicator is cleared.
 */
export function takeException(api: Api): Ptr {
  if (!api.PyErr_Occurred()) return 0;
  const t = [0];
  const v = [0];
  const tb = [0];
  api.PyErr_Fetch(t, v, tb);
  api.PyErr_NormalizeException(t, v, tb);
  if (v[0] && tb[0]) api.PyException_SetTraceback(v[0], tb[0]);
  if (t[0]) api.Py_DecRef(t[0]);
  if (tb[0]) api.Py_DecRef(tb[0]);
  return v[0] ?? 0;
}

export { errorText };
