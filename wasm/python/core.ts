/**
 * The Python backend: Pyodide from local files, one interpreter per core. Python talks to
 * the host only through the `/dev/scriptbox` device (device.ts); the host calls the
 * `_scriptbox` runtime (runtime.ts) with strings. Pyodide's interrupt buffer is a getter
 * that CPython polls while it runs, so one poll checks the interrupt word, the deadline
 * and the heap size.
 */
import { HostCallError, type CoreBoot, type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../src/core.js';
import type { AsyncHostResult, CoreFailure } from '../../src/channel/protocol.js';
import type { ScriptValue } from '../../src/values.js';
import { StoppedRequest } from '../../src/placement/stopped.js';
import { OutputCapture } from '../../src/lang/output.js';
import { installDevice, type DeviceRequest } from './device.js';
import { BOOTSTRAP, RUNTIME_SOURCES, loadPython, type Loaded, type Pyodide, type PyFn } from './boot.js';
import { fromWire, toWire } from './wire.js';

type Stop = null | 'interrupted' | 'timeout' | 'aborted' | 'memory';

/** How a runtime entry's reply starts when the request waits for the host (runtime-aio.ts). */
const PENDING = '{"pending"';
/** The longest one trampoline wait (setTimeout cannot wait past 2^31 ms; the runtime waits again). */
const MAX_PARK_MS = 60_000;

interface Runtime {
  exec_: PyFn;
  load: PyFn;
  call: PyFn;
  create: PyFn;
  call_method: PyFn;
  get_attr: PyFn;
  release: PyFn<void>;
  drop_made: PyFn<void>;
  handle_count: PyFn<number>;
  reset: PyFn;
  set_host_names: PyFn;
  install_wheel: PyFn;
  resume: PyFn;
  abandon: PyFn<void>;
}

type Reply = { ok: true; value: ScriptValue; defined?: boolean } | { ok: false; failure: CoreFailure };

function isPending(text: unknown): text is string {
  return typeof text === 'string' && text.startsWith(PENDING);
}

/** Calls a runtime entry that is used once, and frees its proxy. */
function once(fn: PyFn<unknown>, ...args: unknown[]): void {
  try {
    fn(...args);
  } finally {
    fn.destroy();
  }
}

const STOP_TEXT = {
  timeout: ['TimeoutError', 'the script ran past its time limit and was stopped'],
  interrupted: ['Interrupted', 'the script was interrupted'],
  aborted: ['AbortError', 'the call was aborted'],
} as const;

export class PythonCore implements EngineCore {
  readonly language = 'python' as const;
  private stop: Stop = null;
  private deadline = Infinity;
  private running = false;
  private readonly out: OutputCapture;
  private rt!: Runtime;

  private constructor(
    private readonly py: Pyodide,
    private readonly init: CoreInit,
    private readonly env: CoreEnv,
  ) {
    this.out = new OutputCapture(init.limits.maxOutputBytes, env);
  }

  static async create(init: CoreInit, env: CoreEnv): Promise<PythonCore> {
    // A spare worker may have restored the snapshot before this engine asked (the host
    // hands such a worker only to an engine of the same snapshot).
    const ahead = (await (env.restoredAhead as Promise<Loaded | undefined> | undefined)?.catch(() => undefined)) ?? undefined;
    const loaded = ahead ? { ...ahead, ahead: true } : await loadPython(init, env.pyodideModule);
    const core = new PythonCore(loaded.py, init, env);
    core.boot(loaded);
    return core;
  }

  /** How this core booted; the snapshot it took (if any) is handed over once. */
  bootInfo(): CoreBoot {
    const info: CoreBoot = { restored: this.booted.restored };
    if (this.booted.ahead) info.ahead = true;
    if (this.booted.rejected !== undefined) info.rejected = this.booted.rejected;
    if (this.snapshot) info.snapshot = this.snapshot;
    this.snapshot = undefined;
    return info;
  }
  private booted!: Loaded;
  private snapshot: Uint8Array | undefined;

  /** The `_scriptbox` module, looked up without leaving names in `__main__`. */
  private runtimeModule(): Record<string, PyFn> {
    return this.py.runPython("__import__('sys').modules['_scriptbox']") as Record<string, PyFn>;
  }

  private boot(loaded: Loaded): void {
    const py = this.py;
    this.booted = loaded;
    // File system devices live on the JavaScript side: a snapshot never holds them.
    installDevice(py.FS, (req) => this.serveDevice(req));
    let m: Record<string, PyFn>;
    if (loaded.restored) {
      m = this.runtimeModule();
      once(m.after_restore!);
    } else {
      py.globals.set('_sb_sources', JSON.stringify(RUNTIME_SOURCES));
      py.runPython(BOOTSTRAP, { filename: '<scriptbox>' });
      py.globals.delete('_sb_sources');
      m = this.runtimeModule();
      if (loaded.making) {
        // The snapshot holds what every engine shares; all below is this engine's own and
        // JavaScript-side, so it is set up again after every restore.
        once(m.before_snapshot!);
        this.snapshot = py.makeMemorySnapshot();
        once(m.after_snapshot!);
      } else {
        once(m.lockdown_prepare!);
      }
    }
    this.rt = {
      exec_: m.exec_!,
      load: m.load!,
      call: m.call!,
      create: m.create!,
      call_method: m.call_method!,
      get_attr: m.get_attr!,
      release: m.release! as PyFn<void>,
      drop_made: m.drop_made! as PyFn<void>,
      handle_count: m.handle_count! as unknown as PyFn<number>,
      reset: m.reset!,
      set_host_names: m.set_host_names!,
      install_wheel: m.install_wheel!,
      resume: m.resume!,
      abandon: m.abandon! as PyFn<void>,
    };
    const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    for (const stream of ['stdout', 'stderr'] as const) {
      const write = (b: Uint8Array) => {
        this.out.write(stream, decoders[stream].decode(b, { stream: true }));
        return b.length;
      };
      (stream === 'stdout' ? py.setStdout : py.setStderr)({ write });
    }
    py.setStdin({ error: true });
    const booted = this.heapBytes();
    if (booted > this.init.limits.memoryBytes) {
      throw new Error(
        `limits.memoryBytes (${this.init.limits.memoryBytes}) is below the ${booted} bytes Python needs to start; raise it (64 MiB or more)`,
      );
    }
    this.capHeap();
    // CPython reads index 0 of the interrupt buffer every few thousand bytecodes. (Set
    // after the snapshot: the flag it flips lives in the heap, the buffer in JavaScript.)
    const core = this;
    py.setInterruptBuffer({
      get 0() {
        return core.poll();
      },
      set 0(_v: number) {},
    });
    once(m.set_engine!, this.init.engineId);
    once(m.set_value_bytes!, this.init.limits.maxValueBytes);
    if (this.env.hostWaitAsync) once(m.set_trampoline!);
    this.setHostFunctions(this.init.hostFunctions);
    // Host directories must never be mountable, whatever reaches the FS object.
    const fsys = (py.FS as unknown as { filesystems: Record<string, unknown> }).filesystems;
    delete fsys.NODEFS;
    delete fsys.NODERAWFS;
    once(m.lockdown_seal!);
  }

  /**
   * Makes memoryBytes a hard cap: growing the WASM heap past it fails (Python sees a
   * MemoryError) and marks the run for a memory stop. The poll is the fallback check.
   */
  private capHeap(): void {
    const mem = this.py._module.memory;
    if (!mem || typeof mem.grow !== 'function') return;
    const grow = mem.grow.bind(mem);
    const limit = this.init.limits.memoryBytes;
    Object.defineProperty(mem, 'grow', {
      value: (pages: number) => {
        if (mem.buffer.byteLength + pages * 65536 > limit) {
          if (this.stop === null && this.running) this.stop = 'memory';
          throw new RangeError('limits.memoryBytes reached');
        }
        return grow(pages);
      },
    });
  }

  /** The interrupt buffer's value: 2 (SIGINT) once the run must stop, and from then on. */
  private poll(): number {
    if (!this.running) return 0;
    if (this.stop === null) {
      const word = Atomics.load(this.env.interruptWord, 0);
      if (word !== 0) this.stop = word === 2 ? 'timeout' : word === 3 ? 'aborted' : 'interrupted';
      else if (this.heapBytes() > this.init.limits.memoryBytes) this.stop = 'memory';
      else if (performance.now() > this.deadline) this.stop = 'timeout';
      else return 0;
    }
    return 2;
  }

  private heapBytes(): number {
    return this.py._module.HEAPU8.length;
  }

  private serveDevice(req: DeviceRequest): unknown {
    if (req[0] === 'sleep') {
      const ms = Math.max(0, Math.min(req[1] * 1000, this.deadline - performance.now()));
      const word = this.env.interruptWord;
      if (ms > 0 && Atomics.load(word, 0) === 0) {
        try {
          Atomics.wait(word, 0, 0, ms);
        } catch {
          // A thread that may not block (a browser page, inline): wait by spinning.
          const end = performance.now() + ms;
          while (performance.now() < end && Atomics.load(word, 0) === 0);
        }
      }
      return this.poll() !== 0 ? 'interrupted' : 'ok';
    }
    if (req[0] === 'astart') {
      this.out.flush();
      try {
        return [true, this.env.hostStart(req[1], req[2] as ScriptValue[])];
      } catch (e) {
        if (e instanceof HostCallError) return [false, e.failure];
        throw e;
      }
    }
    if (req[0] === 'await') {
      if (this.env.hostWaitAsync) return this.collected.splice(0);
      const ms = Math.max(0, Math.min(req[1] * 1000, this.deadline - performance.now()));
      return this.env.hostWait(ms);
    }
    const [, name, args] = req;
    this.out.flush();
    try {
      return [true, this.env.hostCall(name, args as ScriptValue[])];
    } catch (e) {
      if (e instanceof HostCallError) return [false, e.failure];
      return [false, { type: 'HostError', message: (e as Error)?.message ?? String(e) }];
    }
  }

  private begin(run: RunContext): void {
    this.stop = null;
    this.deadline = performance.now() + run.timeoutMs;
    this.out.begin(run.stream);
    this.running = true;
  }

  /**
   * Runs one runtime entry and turns its reply (or a stop) into an outcome. Without
   * blocking waits (hostWaitAsync), a request waiting for the host answers later.
   */
  private finish(entry: () => unknown): CoreOutcome | Promise<CoreOutcome> {
    let text: unknown;
    let thrown: unknown;
    try {
      text = entry();
    } catch (e) {
      thrown = e;
    }
    if (this.env.hostWaitAsync && isPending(text)) return this.parked(text);
    return this.outcome(text, thrown);
  }

  /**
   * The trampoline (runtime-aio.ts): the request's Python task waits for host.aio results
   * or a timer. Waits here without blocking, hands the results over and runs it on, until
   * it answers or is stopped (deadline, or a stop the host sent with the results).
   */
  private async parked(text: unknown): Promise<CoreOutcome> {
    let thrown: unknown;
    while (isPending(text)) {
      this.out.flush();
      const wait = (JSON.parse(text) as { wait: number | null }).wait ?? Infinity;
      const ms = Math.max(0, Math.min(wait * 1000, this.deadline - performance.now(), MAX_PARK_MS));
      const results = await this.env.hostWaitAsync!(ms).catch((e: unknown) => void (thrown = e));
      // Stopped (the reply is thrown away, and discard() drops the parked request).
      if (!results || this.poll() !== 0) return this.outcome(undefined, thrown);
      this.collected = results;
      try {
        text = this.rt.resume();
      } catch (e) {
        [text, thrown] = [undefined, e];
      }
    }
    return this.outcome(text, thrown);
  }
  /** Host results the trampoline collected, for the runtime's next 'await'. */
  private collected: AsyncHostResult[] = [];

  private outcome(text: unknown, thrown: unknown): CoreOutcome {
    this.running = false;
    if (this.stop === null && this.heapBytes() > this.init.limits.memoryBytes) this.stop = 'memory';
    const out = this.out.end();
    if (this.stop) return this.discard({ ok: false, failure: this.stopFailure(this.stop), out });
    if (text === undefined && thrown !== undefined) {
      // Only a broken interpreter throws out of a runtime entry (a wasm abort, a fatal
      // error); the error's own name (RuntimeError, SyntaxError...) must not pass for the script's.
      const err = thrown as { name?: unknown; message?: unknown };
      const why = `${typeof err?.name === 'string' ? err.name : 'Error'}: ${typeof err?.message === 'string' ? err.message : String(thrown)}`;
      return this.discard({ ok: false, failure: { kind: 'crashed', type: 'EngineCrashedError', message: `the Python interpreter failed: ${why.slice(0, 2000)}` }, out });
    }
    const r = this.reply(text);
    if (!r) {
      const what = typeof text === 'string' ? 'text that is not a reply' : `a ${typeof text}`;
      return this.discard({ ok: false, failure: { kind: 'crashed', type: 'EngineCrashedError', message: `the Python runtime answered with ${what}; the engine restarts` }, out });
    }
    if (!r.ok) return { ok: false, failure: r.failure, out };
    return { ok: true, value: r.value, defined: r.defined ?? true, out };
  }

  /**
   * The runtime's reply, or undefined when it is not one (the runtime lives in the same
   * heap as the script, so its answer is checked like input; the host checks the fields).
   */
  private reply(text: unknown): Reply | undefined {
    if (typeof text !== 'string') return undefined;
    try {
      const r = fromWire(text, this.init.engineId) as { ok?: unknown } | null;
      if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') return undefined;
      return r as Reply;
    } catch {
      // Not JSON: reported as a broken runtime by the caller.
      return undefined;
    }
  }

  /**
   * Runs a bookkeeping entry (release, handle_count, set_host_names, reset) as a request:
   * it can run script code (`__del__`, a gc callback, a profile hook), so the interrupt
   * word and the heap cap are checked while it runs. The host's ladder keeps the deadline
   * (it interrupts at limits.timeoutMs, then kills). A stop throws StoppedRequest.
   */
  private guarded<T>(entry: () => T): T {
    if (this.running) return entry();
    this.begin({ timeoutMs: Infinity, stream: false });
    let value: T | undefined;
    let thrown: unknown;
    let ok = false;
    try {
      value = entry();
      ok = true;
    } catch (e) {
      thrown = e;
    }
    this.running = false;
    if (this.stop === null && this.heapBytes() > this.init.limits.memoryBytes) this.stop = 'memory';
    const out = this.out.end();
    if (this.stop) throw new StoppedRequest(this.stopFailure(this.stop), out);
    if (!ok) throw thrown;
    return value as T;
  }

  /**
   * A reply the host never sees must not leave the handles it made in the table, nor tasks
   * that could wake up in the next request (a stop may have cut the loop's cleanup short).
   */
  private discard(o: CoreOutcome): CoreOutcome {
    try {
      this.rt.drop_made();
      this.rt.abandon();
    } catch {
      // A broken interpreter is restarted anyway, handles and all.
    }
    return o;
  }

  private stopFailure(stop: Exclude<Stop, null>): CoreFailure {
    if (stop === 'memory') {
      return {
        kind: 'memory',
        type: 'MemoryError',
        message: `the script used more than limits.memoryBytes (${this.init.limits.memoryBytes} bytes)`,
      };
    }
    const [type, message] = STOP_TEXT[stop];
    return { kind: stop, type, message };
  }

  exec(code: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    this.begin(run);
    return this.finish(() => this.rt.exec_(code, this.init.limits.maxValueDepth));
  }

  load(code: string, name: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    this.begin(run);
    return this.finish(() => this.rt.load(code, name, this.init.limits.maxValueDepth));
  }

  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): CoreOutcome | Promise<CoreOutcome> {
    this.begin(run);
    return this.finish(() => this.rt.call(fn, toWire(args), optional, this.init.limits.maxValueDepth));
  }

  create(cls: string, args: ScriptValue[], run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    this.begin(run);
    return this.finish(() => this.rt.create(cls, toWire(args), this.init.limits.maxValueDepth));
  }

  callMethod(handle: number, method: string, args: ScriptValue[], run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    this.begin(run);
    return this.finish(() => this.rt.call_method(handle, method, toWire(args), this.init.limits.maxValueDepth));
  }

  getAttr(handle: number, attr: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    this.begin(run);
    return this.finish(() => this.rt.get_attr(handle, attr, this.init.limits.maxValueDepth));
  }

  release(ids: number[]): void {
    if (ids.length > 0) this.guarded(() => this.rt.release(JSON.stringify(ids)));
  }

  handleCount(): number {
    const n: unknown = this.guarded(() => this.rt.handle_count());
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error(`the Python runtime counted ${typeof n === 'number' ? n : `a ${typeof n}`} handles`);
    return n;
  }

  install(wheel: Uint8Array, name: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    const path = `/tmp/${name.replace(/[^\w.-]/g, '_')}`;
    this.py.FS.writeFile(path, wheel);
    this.begin(run);
    return this.finish(() => this.rt.install_wheel(path));
  }

  setConfig(_config: ScriptValue): void {
    // host.config arrives with the capabilities issue; the value is kept host-side.
  }

  setHostFunctions(names: string[]): void {
    this.guarded(() => this.rt.set_host_names(JSON.stringify(names)));
  }

  reset(): void {
    this.guarded(() => this.rt.reset());
  }

  memoryBytes(): number {
    return this.heapBytes();
  }

  dispose(): void {
    for (const f of Object.values(this.rt ?? {})) f.destroy();
  }
}
