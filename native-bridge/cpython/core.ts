/**
 * The native Python backend: real CPython (libpython3) through koffi, the same EngineCore
 * as wasm/python/core.ts and the same Python runtime (its RUNTIME_SOURCES, adapted by
 * sources.ts), so values, errors, handles, `import host`, REPL rules and asyncio behave
 * alike. Trusted or OS-isolated only: no lockdown, the full standard library and the
 * interpreter's site-packages are there.
 *
 * Transport: Python reaches the host only through a koffi-registered callback it calls
 * with ctypes (transport.ts, hub.ts), exchanging the wasm device's JSON requests; the
 * host calls the runtime's entry points with strings through the C API. `call` has a
 * fast path for simple values straight through the C API (fast.ts).
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
 * Interrupts and timeouts: a watchdog thread (hub.ts) reads the interrupt word (by its
 * address when it lives in a SharedArrayBuffer, else a copy refreshed at each host
 * callback) and the deadline every ~5 ms while a request runs, and raises
 * KeyboardInterrupt in the engine's thread with PyThreadState_SetAsyncExc, repeatedly, so
 * `except BaseException: pass` loops stop too. PyErr_SetInterruptEx is not used: it only
 * runs Python's SIGINT handler on the interpreter's main thread, and only if a handler is
 * installed, which would take SIGINT from Node. time.sleep sleeps in JS (Atomics.wait on
 * the word), so it ends at once. What cannot be stopped in place: C code that holds the
 * GIL and never returns to the eval loop (a huge `10**10**8`, a C extension's loop), and a
 * blocking C call (socket read, lock wait, input from a pipe); the async exception lands
 * when it returns. Only the process placement can kill those (by killing the process).
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { HostCallError, type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../src/core.js';
import type { CoreFailure } from '../../src/channel/protocol.js';
import type { ScriptValue } from '../../src/values.js';
import { OutputCapture } from '../../wasm/output.js';
import { fromWire, toWire } from '../../wasm/python/wire.js';
import { C_DEADLINE, C_IDENT, C_PENDING, C_RUNNING, C_SEQ, C_STOP, C_STREAM, C_WORD, viewDoubles } from './control.js';
import { FALLBACK, FastValues, isSimple } from './fast.js';
import { acquire, release, takeException, threadPython, type Ptr, type ThreadPython } from './lib.js';
import { writeWheel } from './install.js';
import { nativeRuntimeSources } from './sources.js';
import { Transport, type NativeRequest } from './transport.js';

type Stop = null | 'interrupted' | 'timeout' | 'aborted';
type Reply = { ok: true; value: ScriptValue; defined?: boolean } | { ok: false; failure: CoreFailure };
/** What a request body produced: wire text, a fast-path value, or an exception that escaped. */
type Result = { text: string } | { value: ScriptValue } | { crash: { type: string; message: string } };

const STOP_TEXT = {
  timeout: ['TimeoutError', 'the script ran past its time limit and was stopped'],
  interrupted: ['Interrupted', 'the script was interrupted'],
  aborted: ['AbortError', 'the call was aborted'],
} as const;
const STOP_OF_CODE: Record<number, Exclude<Stop, null>> = { 1: 'interrupted', 2: 'timeout', 3: 'aborted' };

const ENTRIES = ['exec_', 'load', 'call', 'create', 'call_method', 'get_attr', 'release', 'drop_made', 'handle_count', 'reset', 'set_host_names', 'set_engine', 'install_wheel'] as const;
type Entry = (typeof ENTRIES)[number];

/** Boots a native CPython core (the interpreter starts with the first core of the process). */
export async function createCPythonCore(init: CoreInit, env: CoreEnv): Promise<EngineCore> {
  if (init.language !== 'python') throw new Error(`the native CPython backend runs Python, not ${init.language}`);
  return new CPythonCore(threadPython(), init, env);
}

class CPythonCore implements EngineCore {
  readonly language = 'python' as const;
  private stop: Stop = null;
  private deadline = Infinity;
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

  constructor(
    private readonly t: ThreadPython,
    private readonly init: CoreInit,
    private readonly env: CoreEnv,
  ) {
    this.out = new OutputCapture(init.limits.maxOutputBytes, env);
    this.transport = new Transport((req) => this.serve(req));
    const word = env.interruptWord;
    // A SharedArrayBuffer never moves: the watchdog reads the word in place. Other
    // buffers (inline placement) may move, so a copy is kept in the control block.
    const wordAddr = word.buffer instanceof SharedArrayBuffer ? t.libc.memmove(word, word, 0) : 0;
    const api = t.api;
    acquire(t);
    try {
      this.fast = new FastValues(t);
      const r = this.callPy(t.attr('new_engine'), [nativeRuntimeSources(), this.transport.address, wordAddr, init.limits.maxOutputBytes]);
      if (!r) throw new Error(`the Python runtime failed to load: ${this.escaped().crash.message}`);
      this.mod = api.PyTuple_GetItem(r, 0);
      api.Py_IncRef(this.mod);
      this.ctrl = viewDoubles(api.PyFloat_AsDouble(api.PyTuple_GetItem(r, 1)));
      api.Py_DecRef(r);
      for (const name of ENTRIES) this.fns[name] = this.getattr(this.mod, name);
      const outObj = this.getattr(this.mod, '_sb_out');
      this.fns.take_json = this.getattr(outObj, 'take_json');
      api.Py_DecRef(outObj);
      for (const name of ['set_current', 'wake', 'slow_result', 'fail_json', 'describe'] as const) this.fns[name] = t.attr(name);
      this.wd = viewDoubles(api.PyFloat_AsDouble(t.attr('WD_ADDR')), 2);
      this.ctrl[C_IDENT] = t.ident;
      this.must(this.callPy(this.fns.set_engine, [init.engineId]));
      this.must(this.callPy(this.fns.set_host_names, [JSON.stringify(init.hostFunctions)]));
      this.refreshGlobals();
    } finally {
      release(t);
    }
  }

  private getattr(o: Ptr, name: string): Ptr {
    const p = this.t.api.PyObject_GetAttrString(o, name);
    if (!p) throw new Error(`the Python runtime has no ${name}: ${this.escaped().crash.message}`);
    return p;
  }

  /** Calls a Python callable with strings, integers and booleans: a new reference, or 0 with an error set. */
  private callPy(fn: Ptr, args: (string | number | boolean | Ptr)[]): Ptr {
    const api = this.t.api;
    const tuple = api.PyTuple_New(args.length);
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      let p: Ptr;
      if (typeof a === 'string') {
        const b = Buffer.from(a, 'utf8');
        p = api.PyUnicode_DecodeUTF8(b, b.length, 'surrogateescape');
      } else if (typeof a === 'boolean') p = api.PyBool_FromLong(a ? 1 : 0);
      else p = Number.isSafeInteger(a) ? api.PyLong_FromLongLong(a) : api.PyFloat_FromDouble(a);
      if (!p) {
        api.Py_DecRef(tuple);
        return 0;
      }
      api.PyTuple_SetItem(tuple, i, p);
    }
    const r = api.PyObject_Call(fn, tuple, 0);
    api.Py_DecRef(tuple);
    return r;
  }

  /** Text of a str result (the runtime's replies are ASCII JSON), consuming the reference. */
  private text(r: Ptr): string {
    const s = this.t.api.PyUnicode_AsUTF8(r) ?? 'null';
    this.t.api.Py_DecRef(r);
    return s;
  }

  /** A call that must succeed (setup, bookkeeping): throws with the Python error otherwise. */
  private must(r: Ptr): Ptr {
    if (!r) throw new Error(this.escaped().crash.message);
    this.t.api.Py_DecRef(r);
    return r;
  }

  /** The exception that escaped a call, described and cleared. */
  private escaped(): { crash: { type: string; message: string } } {
    const api = this.t.api;
    const e = takeException(api);
    if (!e) return { crash: { type: 'SystemError', message: 'a Python call failed without an exception' } };
    const r = api.PyObject_CallOneArg ? api.PyObject_CallOneArg(this.fns.describe ?? this.t.attr('describe'), e) : this.callTuple(this.t.attr('describe'), [e]);
    api.Py_DecRef(e);
    if (!r) {
      api.PyErr_Clear();
      return { crash: { type: 'SystemError', message: 'a Python call failed and its exception could not be described' } };
    }
    return { crash: JSON.parse(this.text(r)) as { type: string; message: string } };
  }

  /** Calls with object arguments (borrowed references). */
  private callTuple(fn: Ptr, objs: Ptr[]): Ptr {
    const api = this.t.api;
    const tuple = api.PyTuple_New(objs.length);
    objs.forEach((o, i) => {
      api.Py_IncRef(o);
      api.PyTuple_SetItem(tuple, i, o);
    });
    const r = api.PyObject_Call(fn, tuple, 0);
    api.Py_DecRef(tuple);
    return r;
  }

  private refreshGlobals(): void {
    const api = this.t.api;
    const g = this.getattr(this.mod, 'G');
    if (this.G) api.Py_DecRef(this.G);
    this.G = g;
  }

  // ---- requests ------------------------------------------------------------------------

  private poll(): number {
    if (this.stop === null) {
      const word = Atomics.load(this.env.interruptWord, 0);
      if (word !== 0) this.stop = word === 2 ? 'timeout' : word === 3 ? 'aborted' : 'interrupted';
      else if (this.ctrl[C_STOP]) this.stop = STOP_OF_CODE[this.ctrl[C_STOP]!] ?? 'interrupted';
      else if (performance.now() > this.deadline) this.stop = 'timeout';
      else return 0;
    }
    return 2;
  }

  /** Answers one request from Python (the wasm device's, plus printed text). */
  private serve(req: NativeRequest): unknown {
    try {
      return this.answer(req);
    } finally {
      // The watchdog's copy of a word it cannot read in place (a host function may set it).
      this.ctrl[C_WORD] = Atomics.load(this.env.interruptWord, 0);
    }
  }

  private answer(req: NativeRequest): unknown {
    switch (req[0]) {
      case 'out':
        for (const [which, text] of req[1]) this.out.write(which ? 'stderr' : 'stdout', text);
        return null;
      case 'sleep': {
        const ms = Math.max(0, Math.min(req[1] * 1000, this.deadline - performance.now()));
        const word = this.env.interruptWord;
        if (ms > 0 && Atomics.load(word, 0) === 0) {
          try {
            Atomics.wait(word, 0, 0, ms);
          } catch {
            // Not a shared buffer (inline): nothing can change the word while this thread waits.
            const end = performance.now() + ms;
            while (performance.now() < end && Atomics.load(word, 0) === 0);
          }
        }
        return this.poll() !== 0 ? 'interrupted' : 'ok';
      }
      case 'astart':
        this.out.flush();
        try {
          return [true, this.env.hostStart(req[1], req[2] as ScriptValue[])];
        } catch (e) {
          if (e instanceof HostCallError) return [false, e.failure];
          throw e;
        }
      case 'await': {
        const ms = Math.max(0, Math.min(req[1] * 1000, this.deadline - performance.now()));
        return this.env.hostWait(ms);
      }
      case 'call': {
        this.out.flush();
        try {
          return [true, this.env.hostCall(req[1], req[2] as ScriptValue[])];
        } catch (e) {
          if (e instanceof HostCallError) return [false, e.failure];
          return [false, { type: 'HostError', message: (e as Error)?.message ?? String(e) }];
        }
      }
    }
    throw new Error(`unknown request ${String((req as unknown[])[0])}`);
  }

  /** Runs one request body holding the GIL, and turns its result (or a stop) into an outcome. */
  private request(run: RunContext, body: () => Result): CoreOutcome {
    if (this.disposed) throw new Error('the native Python core was disposed');
    const t = this.t;
    const c = this.ctrl;
    this.stop = null;
    this.begun = false;
    this.deadline = performance.now() + run.timeoutMs;
    this.out.begin(run.stream);
    c[C_DEADLINE] = this.deadline + t.monoOffset;
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
    if (this.wd[0] !== 0) this.quiet(this.t.api.PyObject_CallNoArgs(this.fns.wake));
    let res: Result;
    try {
      res = body();
    } catch (e) {
      res = { crash: { type: (e as Error)?.name ?? 'Error', message: String((e as Error)?.message ?? e) } };
    }
    c[C_RUNNING] = 0;
    if (c[C_STOP] !== 0 && this.stop === null) this.stop = STOP_OF_CODE[c[C_STOP]!] ?? 'interrupted';
    if (this.stop !== null || c[C_STOP] !== 0) {
      // A stop queued for this request must not land in the next one (a failure here is
      // that stop firing at the call's entry: consumed all the same).
      this.quiet(t.api.PyObject_CallNoArgs(t.attr('settle')));
    }
    if ((this.stop !== null || 'crash' in res) && this.begun) this.quiet(this.callPy(this.fns.drop_made, []));
    if (c[C_PENDING] !== 0) this.drainOutput();
    if (t.depth > 1 && this.prev instanceof CPythonCore && this.prev !== this) this.prev.makeCurrent();
    release(t);
    const out = this.out.end();
    if (this.stop !== null) {
      const [type, message] = STOP_TEXT[this.stop];
      return { ok: false, failure: { kind: this.stop, type, message }, out };
    }
    if ('crash' in res) return { ok: false, failure: { kind: 'crashed', ...res.crash }, out };
    if ('value' in res) return { ok: true, value: res.value, defined: true, out };
    const r = fromWire(res.text, this.init.engineId) as Reply;
    if (!r.ok) return { ok: false, failure: r.failure, out };
    return { ok: true, value: r.value, defined: r.defined ?? true, out };
  }

  private makeCurrent(): void {
    this.quiet(this.callTuple(this.fns.set_current, [this.mod]));
    this.t.current = this;
  }

  /** Drops a result; a failure is cleared (bookkeeping calls whose failure changes nothing). */
  private quiet(r: Ptr): void {
    if (r) this.t.api.Py_DecRef(r);
    else this.t.api.PyErr_Clear();
  }

  private drainOutput(): void {
    const r = this.t.api.PyObject_CallNoArgs(this.fns.take_json);
    if (!r) return this.t.api.PyErr_Clear();
    for (const [which, text] of JSON.parse(this.text(r)) as [0 | 1, string][]) this.out.write(which ? 'stderr' : 'stdout', text);
  }

  /** Calls a runtime entry with the wire's argument types; its reply is JSON text. */
  private wire(entry: Entry, args: (string | number | boolean)[]): Result {
    this.begun = true;
    const r = this.callPy(this.fns[entry], args);
    return r ? { text: this.text(r) } : this.escaped();
  }

  private get depth(): number {
    return this.init.limits.maxValueDepth;
  }

  exec(code: string, run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire('exec_', [code, this.depth]));
  }

  load(code: string, name: string, run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire('load', [code, name, this.depth]));
  }

  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): CoreOutcome {
    const slow = () => this.wire('call', [fn, toWire(args), optional, this.depth]);
    if (fn.includes('.') || args.length > 8 || !isSimple(args)) return this.request(run, slow);
    return this.request(run, () => this.fastCall(fn, args, slow));
  }

  /** `call` through the C API: the function from the globals, simple values both ways. */
  private fastCall(fn: string, args: ScriptValue[], slow: () => Result): Result {
    const api = this.t.api;
    const f = api.PyDict_GetItemString(this.G, fn);
    // Missing: the wire path gives the runtime's own answer (optional, or its NameError).
    if (!f) return slow();
    let r: Ptr;
    if (args.length === 0) r = api.PyObject_CallNoArgs(f);
    else {
      const objs: Ptr[] = [];
      for (const a of args) {
        const p = this.fast.toPy(a);
        if (!p) {
          api.PyErr_Clear();
          for (const o of objs) api.Py_DecRef(o);
          return slow();
        }
        objs.push(p);
      }
      r = this.callTuple(f, objs);
      for (const o of objs) api.Py_DecRef(o);
    }
    if (!r) {
      if (!api.PyCallable_Check(f)) {
        api.PyErr_Clear();
        return slow();
      }
      const e = takeException(api);
      if (!e) return { crash: { type: 'SystemError', message: `calling ${fn} failed without an exception` } };
      const text = this.callTuple(this.fns.fail_json, [this.mod, e]);
      api.Py_DecRef(e);
      return text ? { text: this.text(text) } : this.escaped();
    }
    const v = this.fast.fromPy(r);
    if (v !== FALLBACK) {
      api.Py_DecRef(r);
      return { value: v };
    }
    // Coroutines, containers, objects: the runtime awaits and encodes them (handles too).
    this.begun = true;
    const depth = api.PyLong_FromLongLong(this.depth);
    const text = this.callTuple(this.fns.slow_result, [this.mod, r, depth]);
    api.Py_DecRef(depth);
    api.Py_DecRef(r);
    return text ? { text: this.text(text) } : this.escaped();
  }

  create(cls: string, args: ScriptValue[], run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire('create', [cls, toWire(args), this.depth]));
  }

  callMethod(handle: number, method: string, args: ScriptValue[], run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire('call_method', [handle, method, toWire(args), this.depth]));
  }

  getAttr(handle: number, attr: string, run: RunContext): CoreOutcome {
    return this.request(run, () => this.wire('get_attr', [handle, attr, this.depth]));
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
      if (!site) return this.escaped();
      this.t.api.Py_DecRef(site);
      return this.wire('install_wheel', [path]);
    });
  }

  /** Runs bookkeeping holding the GIL (not a request: no deadline, no output). */
  private locked<T>(fn: () => T): T {
    if (this.disposed) throw new Error('the native Python core was disposed');
    acquire(this.t);
    try {
      return fn();
    } finally {
      release(this.t);
    }
  }

  release(ids: number[]): void {
    if (ids.length > 0) this.locked(() => this.must(this.callPy(this.fns.release, [JSON.stringify(ids)])));
  }

  handleCount(): number {
    return this.locked(() => {
      const r = this.callPy(this.fns.handle_count, []);
      if (!r) throw new Error(this.escaped().crash.message);
      const n = this.t.api.PyLong_AsDouble(r);
      this.t.api.Py_DecRef(r);
      return n;
    });
  }

  setConfig(_config: ScriptValue): void {
    // host.config is served host-side, as in the wasm backend.
  }

  setHostFunctions(names: string[]): void {
    this.locked(() => this.must(this.callPy(this.fns.set_host_names, [JSON.stringify(names)])));
  }

  reset(): void {
    this.locked(() => {
      this.must(this.callPy(this.fns.reset, []));
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
      this.quiet(this.callTuple(t.attr('drop_engine'), [this.mod]));
      for (const p of Object.values(this.fns)) if (p && !isHubAttr(t, p)) t.api.Py_DecRef(p);
      if (this.G) t.api.Py_DecRef(this.G);
      t.api.Py_DecRef(this.mod);
      if (t.current === this) t.current = undefined;
    } finally {
      release(t);
      this.disposed = true;
      this.transport.close();
    }
  }
}

function isHubAttr(t: ThreadPython, p: Ptr): boolean {
  for (const name of ['set_current', 'wake', 'slow_result', 'fail_json', 'describe']) if (t.attr(name) === p) return true;
  return false;
}
