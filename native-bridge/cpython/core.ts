/**
 * The native backend of Python: real CPython (libpython3) through koffi, over the shared
 * Python layer (src/lang/python: the same runtime, requests, entries and failure wording
 * as the Pyodide backend), so values, errors, handles, `import host`, REPL rules and
 * asyncio behave alike. Trusted or OS-isolated only: no lockdown, the full standard
 * library and the interpreter's site-packages are there.
 *
 * Transport: Python reaches the host only through a koffi-registered callback it calls
 * with ctypes (transport.ts, hub.py; the runtime gets it as its init() device), exchanging
 * the runtime's requests and values in marshal's format; the host calls the runtime's
 * entry points with strings, numbers and booleans through the C API. `call` has a fast path for simple values straight through the C API
 * (fast.ts).
 *
 * One interpreter per process (lib.ts): every engine of the process, inline on the main
 * thread or in worker threads, shares it. Each engine has its own runtime module (its own
 * globals, handle table, event loop, host module, output buffer); the hub routes the
 * globally patched pieces (time.sleep, asyncio, sys.stdout/stderr, `import host`) to the
 * engine whose request runs on the current thread. Shared anyway: sys.modules (an import,
 * or a monkey-patch of a library module, is seen by every engine), sys.path and installed
 * wheels, os.environ, the cwd, and the GIL: Python code of two engines never runs at once
 * (host calls and sleeps release it). Threads a script starts outlive its request, print
 * to the process's own stdout and cannot call host functions.
 *
 * Interrupts and timeouts: a watchdog thread (watchdog.py) reads the interrupt word (by its
 * address when it lives in a SharedArrayBuffer, else a copy refreshed at each host
 * callback) and the deadline every ~5 ms while a request runs (it parks after a second
 * with nothing running, so idle engines cost nothing), and raises a KeyboardInterrupt
 * subclass in the engine's thread with PyThreadState_SetAsyncExc, repeatedly; once raised
 * it also traces the script's own frames so every further line raises it again, so even
 * `except BaseException: pass` around a tight loop stops. PyErr_SetInterruptEx is not used: it only
 * runs Python's SIGINT handler on the interpreter's main thread, and only if a handler is
 * installed, which would take SIGINT from Node. time.sleep sleeps in JS (Atomics.wait on
 * the word), so it ends at once. What cannot be stopped in place: C code that holds the
 * GIL and never returns to the eval loop (a huge `10**10**8`, a C extension's loop), and a
 * blocking C call (socket read, lock wait, input from a pipe); the async exception lands
 * when it returns. Only the process placement can kill those (by killing the process).
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../src/core.js';
import type { ScriptValue } from '../../src/values.js';
import { OutputCapture } from '../../src/lang/output.js';
import { bookkeeping, type BookkeepingRequest } from '../../src/lang/python/bookkeeping.js';
import { entryCall } from '../../src/lang/python/entries.js';
import { STOPS_JSON, replyOutcome, stopFailure, stopOf } from '../../src/lang/python/failures.js';
import { RUNTIME_PY } from '../../src/lang/python/runtime.py.generated.js';
import { C_DEADLINE, C_IDENT, C_PENDING, C_RUNNING, C_SEQ, C_STOP, C_STREAM, C_WORD, viewDoubles } from './control.js';
import { FALLBACK, FastValues, isSimple } from './fast.js';
import { callArgs, callObjs, escaped, getattr, must, quiet, takeText } from './calls.js';
import { acquire, release, takeException, threadPython, type Ptr, type ThreadPython } from './lib.js';
import { writeWheel } from './install.js';
import { HostSide } from './host-side.js';
import { Transport } from './transport.js';

/** What a request body produced: wire text, a fast-path value, or an exception that escaped. */
type Result = { text: string } | { value: ScriptValue } | { crash: { type: string; message: string } };

const ENTRIES = [
  'exec_',
  'load',
  'call',
  'create',
  'call_method',
  'get_attr',
  'release',
  'drop_made',
  'handle_count',
  'reset',
  'set_host_names',
  'set_engine',
  'set_value_bytes',
  'install_wheel',
] as const;
type Entry = (typeof ENTRIES)[number];

/** Boots a native CPython core (the interpreter starts with the first core of the process). */
export async function createCPythonCore(init: CoreInit, env: CoreEnv): Promise<CPythonCore> {
  if (init.language !== 'python') throw new Error(`the native CPython backend runs Python, not ${init.language}`);
  return new CPythonCore(threadPython(), init, env);
}

/** The native core; every method answers synchronously (the script blocks the thread). */
export class CPythonCore implements EngineCore {
  readonly language = 'python' as const;
  private readonly host: HostSide;
  private seq = 0;
  /** The request called a runtime entry (which resets its list of handles made). */
  private begun = false;
  private prev: unknown;
  private disposed = false;
  private readonly out: OutputCapture;
  private readonly transport: Transport;
  private readonly fast: FastValues;
  private readonly ctrl: Float64Array;
  private readonly wd: Float64Array;
  private readonly mod: Ptr;
  private readonly fns = {} as Record<Entry | 'take_json' | 'set_current' | 'wake' | 'slow_result' | 'fail_json' | 'describe', Ptr>;
  private G: Ptr = 0;
  private readonly keys = new Map<string, Ptr>();

  constructor(
    private readonly t: ThreadPython,
    private readonly init: CoreInit,
    private readonly env: CoreEnv,
  ) {
    this.out = new OutputCapture(init.limits.maxOutputBytes, env);
    this.host = new HostSide(env, this.out, () => this.ctrl);
    this.transport = new Transport((req) => this.host.serve(req));
    const word = env.interruptWord;
    // A SharedArrayBuffer never moves: the watchdog reads the word in place. Other
    // buffers (inline placement) may move, so a copy is kept in the control block.
    const wordAddr = word.buffer instanceof SharedArrayBuffer ? t.libc.memmove(word, word, 0) : 0;
    const api = t.api;
    acquire(t);
    try {
      this.fast = new FastValues(t);
      const r = callArgs(this.t, t.attr('new_engine'), [
        RUNTIME_PY,
        this.transport.address,
        wordAddr,
        init.limits.maxOutputBytes,
        STOPS_JSON,
      ]);
      if (!r) throw new Error(`the Python runtime failed to load: ${escaped(this.t).crash.message}`);
      this.mod = api.PyTuple_GetItem(r, 0);
      api.Py_IncRef(this.mod);
      this.ctrl = viewDoubles(api.PyFloat_AsDouble(api.PyTuple_GetItem(r, 1)));
      api.Py_DecRef(r);
      for (const name of ENTRIES) this.fns[name] = getattr(this.t, this.mod, name);
      const outObj = getattr(this.t, this.mod, '_sb_out');
      this.fns.take_json = getattr(this.t, outObj, 'take_json');
      api.Py_DecRef(outObj);
      for (const name of ['set_current', 'wake', 'slow_result', 'fail_json', 'describe'] as const) this.fns[name] = t.attr(name);
      this.wd = viewDoubles(api.PyFloat_AsDouble(t.attr('WD_ADDR')), 2);
      this.ctrl[C_IDENT] = t.ident;
      must(this.t, callArgs(this.t, this.fns.set_engine, [init.engineId]));
      must(this.t, callArgs(this.t, this.fns.set_host_names, [JSON.stringify(init.hostFunctions)]));
      must(this.t, callArgs(this.t, this.fns.set_value_bytes, [init.limits.maxValueBytes]));
      this.refreshGlobals();
    } catch (e) {
      this.transport.close();
      throw e;
    } finally {
      release(t);
    }
  }

  private refreshGlobals(): void {
    const api = this.t.api;
    const g = getattr(this.t, this.mod, 'G');
    if (this.G) api.Py_DecRef(this.G);
    this.G = g;
  }

  // ---- requests ------------------------------------------------------------------------

  /** Runs one request body holding the GIL, and turns its result (or a stop) into an outcome. */
  private request(run: RunContext, body: () => Result): CoreOutcome {
    this.begin(run);
    let res: Result;
    try {
      res = body();
    } catch (e) {
      res = crashOf(e);
    }
    return this.finish(res);
  }

  /** Starts a request: arms the watchdog and takes the GIL. */
  private begin(run: RunContext): void {
    if (this.disposed) throw new Error('the native Python core was disposed');
    const t = this.t;
    const c = this.ctrl;
    this.host.begin(run.timeoutMs);
    this.begun = false;
    this.out.begin(run.stream);
    this.transport.stage(undefined);
    c[C_DEADLINE] = this.host.deadline + t.monoOffset;
    c[C_STOP] = 0;
    c[C_STREAM] = run.stream ? 1 : 0;
    c[C_SEQ] = ++this.seq;
    c[C_IDENT] = t.ident;
    c[C_WORD] = Atomics.load(this.env.interruptWord, 0);
    c[C_RUNNING] = 1;
    acquire(t);
    this.prev = t.current;
    if (t.current !== this) this.makeCurrent();
    // Read after taking the GIL: the watchdog parks holding it, so it either sees C_RUNNING or is seen parked here.
    if (this.wd[0] !== 0) quiet(this.t, this.t.api.PyObject_CallNoArgs(this.fns.wake));
  }

  /** Ends a request (stops the watchdog, settles a stop, gives the GIL back) and makes its outcome. */
  private finish(res: Result): CoreOutcome {
    const t = this.t;
    const c = this.ctrl;
    c[C_RUNNING] = 0;
    const host = this.host;
    if (c[C_STOP] !== 0 && host.stop === null) host.stop = stopOf(c[C_STOP]!);
    if (host.stop !== null || c[C_STOP] !== 0) {
      // A stop queued for this request must not land in the next one (a failure here is
      // that stop firing at the call's entry: consumed all the same).
      quiet(this.t, t.api.PyObject_CallNoArgs(t.attr('settle')));
    }
    if ((host.stop !== null || 'crash' in res) && this.begun) quiet(this.t, callArgs(this.t, this.fns.drop_made, []));
    if (c[C_PENDING] !== 0) this.drainOutput();
    if (t.depth > 1 && this.prev instanceof CPythonCore && this.prev !== this) this.prev.makeCurrent();
    release(t);
    const out = this.out.end();
    if (host.stop !== null) return { ok: false, failure: stopFailure(host.stop, this.init.limits.memoryBytes), out };
    if ('crash' in res) return { ok: false, failure: { kind: 'crashed', ...res.crash }, out };
    if ('value' in res) return { ok: true, value: res.value, defined: true, out };
    const written = { bytes: this.transport.take(), engineId: this.init.engineId, maxDepth: this.init.limits.maxValueDepth };
    return replyOutcome(res.text, written, out);
  }

  private makeCurrent(): void {
    quiet(this.t, callObjs(this.t, this.fns.set_current, [this.mod]));
    this.t.current = this;
  }

  private drainOutput(): void {
    const r = this.t.api.PyObject_CallNoArgs(this.fns.take_json);
    if (!r) return this.t.api.PyErr_Clear();
    for (const [which, text] of JSON.parse(takeText(this.t, r)) as [0 | 1, string][]) this.out.write(which ? 'stderr' : 'stdout', text);
  }

  /** Calls a runtime entry (its script arguments on the value channel first); its reply is JSON text. */
  private wire([entry, args, staged]: [Entry, (string | number | boolean)[], Uint8Array?]): Result {
    this.begun = true;
    this.transport.stage(staged);
    const r = callArgs(this.t, this.fns[entry], args);
    return r ? { text: takeText(this.t, r) } : escaped(this.t);
  }

  private get depth(): number {
    return this.init.limits.maxValueDepth;
  }

  exec(code: string, run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire(entryCall.exec(code, this.depth)));
  }

  load(code: string, name: string, run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire(entryCall.load(code, name, this.depth)));
  }

  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): CoreOutcome {
    // No closures here: this is the hot path (call('noop') round trips).
    const fast = args.length <= 8 && !fn.includes('.') && isSimple(args);
    this.begin(run);
    let res: Result;
    try {
      res = fast ? this.fastCall(fn, args, optional) : this.slowCall(fn, args, optional);
    } catch (e) {
      res = crashOf(e);
    }
    return this.finish(res);
  }

  private slowCall(fn: string, args: ScriptValue[], optional: boolean): Result {
    return this.wire(entryCall.call(fn, args, optional, this.depth));
  }

  /** The interned Python str for a global's name (kept: names are few). */
  private key(name: string): Ptr {
    let k = this.keys.get(name);
    if (k === undefined) {
      k = this.keys.size < 4096 ? this.t.api.PyUnicode_InternFromString(name) : 0;
      if (!k) return 0;
      this.keys.set(name, k);
    }
    return k;
  }

  /** `call` through the C API: the function from the globals, simple values both ways. */
  private fastCall(fn: string, args: ScriptValue[], optional: boolean): Result {
    const api = this.t.api;
    const k = this.key(fn);
    const f = k ? api.PyDict_GetItem(this.G, k) : api.PyDict_GetItemString(this.G, fn);
    // Missing: the wire path gives the runtime's own answer (optional, or its NameError).
    if (!f) return this.slowCall(fn, args, optional);
    let r: Ptr;
    if (args.length === 0) r = api.PyObject_CallNoArgs(f);
    else {
      const objs: Ptr[] = [];
      for (const a of args) {
        const p = this.fast.toPy(a);
        if (!p) {
          api.PyErr_Clear();
          for (const o of objs) api.Py_DecRef(o);
          return this.slowCall(fn, args, optional);
        }
        objs.push(p);
      }
      r = callObjs(this.t, f, objs);
      for (const o of objs) api.Py_DecRef(o);
    }
    if (!r) {
      if (!api.PyCallable_Check(f)) {
        api.PyErr_Clear();
        return this.slowCall(fn, args, optional);
      }
      const e = takeException(api);
      if (!e) return { crash: { type: 'SystemError', message: `calling ${fn} failed without an exception` } };
      const text = callObjs(this.t, this.fns.fail_json, [this.mod, e]);
      api.Py_DecRef(e);
      return text ? { text: takeText(this.t, text) } : escaped(this.t);
    }
    const v = this.fast.fromPy(r);
    if (v !== FALLBACK) {
      api.Py_DecRef(r);
      return { value: v };
    }
    // Coroutines, containers, objects: the runtime awaits and encodes them (handles too).
    this.begun = true;
    const depth = api.PyLong_FromLongLong(this.depth);
    const text = callObjs(this.t, this.fns.slow_result, [this.mod, r, depth]);
    api.Py_DecRef(depth);
    api.Py_DecRef(r);
    return text ? { text: takeText(this.t, text) } : escaped(this.t);
  }

  create(cls: string, args: ScriptValue[], run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire(entryCall.create(cls, args, this.depth)));
  }

  callMethod(handle: number, method: string, args: ScriptValue[], run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire(entryCall.callMethod(handle, method, args, this.depth)));
  }

  getAttr(handle: number, attr: string, run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire(entryCall.getAttr(handle, attr, this.depth)));
  }

  install(wheel: Uint8Array, name: string, run: RunContext): CoreOutcome {
    const path = writeWheel(wheel, name);
    try {
      return this.installFrom(path, run);
    } finally {
      rmSync(dirname(path), { recursive: true, force: true });
    }
  }

  private installFrom(path: string, run: RunContext): CoreOutcome {
    return this.request(run, () => {
      const site = this.t.api.PyObject_CallNoArgs(this.t.attr('private_site'));
      if (!site) return escaped(this.t);
      this.t.api.Py_DecRef(site);
      return this.wire(['install_wheel', [path]]);
    });
  }

  /** A bookkeeping entry runs as a request (src/lang/python/bookkeeping.ts), the watchdog armed. */
  private locked<T>(fn: () => T): T {
    if (this.disposed) throw new Error('the native Python core was disposed');
    return bookkeeping(this.bookkeeper, fn);
  }
  private readonly bookkeeper: BookkeepingRequest = {
    begin: () => this.begin({ timeoutMs: Infinity, stream: false }),
    end: (threw) => {
      // What a throw was is the caller's to rethrow; here it only makes the request drop its handles.
      const o = this.finish(threw ? { crash: { type: 'Error', message: 'the bookkeeping entry threw' } } : { value: null });
      return { stop: !o.ok && o.failure.kind !== 'crashed' ? o.failure : undefined, out: o.out };
    },
  };

  release(ids: number[]): void {
    if (ids.length > 0) this.locked(() => must(this.t, callArgs(this.t, this.fns.release, [JSON.stringify(ids)])));
  }

  handleCount(): number {
    return this.locked(() => {
      const r = callArgs(this.t, this.fns.handle_count, []);
      if (!r) throw new Error(escaped(this.t).crash.message);
      const n = this.t.api.PyLong_AsDouble(r);
      this.t.api.Py_DecRef(r);
      return n;
    });
  }

  setHostFunctions(names: string[]): void {
    this.locked(() => must(this.t, callArgs(this.t, this.fns.set_host_names, [JSON.stringify(names)])));
  }

  reset(): void {
    this.locked(() => {
      must(this.t, callArgs(this.t, this.fns.reset, []));
      this.refreshGlobals();
    });
  }

  /**
   * The resident set size of the whole process: every engine of the process shares one
   * interpreter and one allocator, so no per-engine figure exists. In the process
   * placement the process is the engine's own.
   */
  memoryBytes(): number {
    return process.memoryUsage.rss();
  }

  dispose(): void {
    if (this.disposed) return;
    const t = this.t;
    acquire(t);
    try {
      quiet(this.t, callObjs(this.t, t.attr('drop_engine'), [this.mod]));
      for (const p of Object.values(this.fns)) if (p && !isHubAttr(t, p)) t.api.Py_DecRef(p);
      if (this.G) t.api.Py_DecRef(this.G);
      for (const k of this.keys.values()) t.api.Py_DecRef(k);
      this.keys.clear();
      t.api.Py_DecRef(this.mod);
      if (t.current === this) t.current = undefined;
    } finally {
      release(t);
      this.disposed = true;
      this.transport.close();
    }
  }
}

function crashOf(e: unknown): Result {
  return { crash: { type: (e as Error)?.name ?? 'Error', message: String((e as Error)?.message ?? e) } };
}

function isHubAttr(t: ThreadPython, p: Ptr): boolean {
  for (const name of ['set_current', 'wake', 'slow_result', 'fail_json', 'describe']) if (t.attr(name) === p) return true;
  return false;
}
