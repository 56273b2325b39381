/**
 * The Pyodide backend of Python: Pyodide from local files, one interpreter per core, over
 * the shared Python layer (src/lang/python: the runtime, its requests, entries and failure
 * wording). What is Pyodide's own: the boot (boot.ts, snapshots), the `/dev/scriptbox`
 * device the runtime talks through (device.ts), the heap cap, the lockdown entries, and
 * the interrupt: Pyodide's interrupt buffer is a getter that CPython polls while it runs,
 * so one poll checks the interrupt word, the deadline and the heap size.
 */
import type { CoreBoot, CoreEnv, CoreInit, CoreOutcome, EngineCore, RunContext } from '../../src/core.js';
import type { AsyncHostResult, CapturedOutput, CoreFailure } from '../../src/channel/protocol.js';
import type { ScriptValue } from '../../src/values.js';
import { OutputCapture } from '../../src/lang/output.js';
import { bookkeeping, type BookkeepingRequest } from '../../src/lang/python/bookkeeping.js';
import { entryCall, type EntryCall, type RequestEntry } from '../../src/lang/python/entries.js';
import { interpreterFailure, replyOutcome, stopFailure, stopOf, type Stop } from '../../src/lang/python/failures.js';
import { serveRequest, type RequestContext } from '../../src/lang/python/requests.js';
import { DEVICE_PATH, VALUE_PATH, installDevice, type ValueChannel } from './device.js';
import { mountFiles, type EmscriptenFS } from './mount-fs.js';
import { BOOTSTRAP, RUNTIME_BOOT, loadPython, loadSession, type Loaded, type Pyodide, type PyFn } from './boot.js';
import { installPackages } from './packages.js';
import {
  readPythonSession,
  restoreInPlace,
  restorePythonSession,
  sessionHeapWriter,
  takePythonSession,
  type PythonSession,
} from './session.js';

/** How a runtime entry's reply starts when the request waits for the host (runtime.py `_drive`). */
const PENDING = '{"pending"';
/** The longest one trampoline wait (setTimeout cannot wait past 2^31 ms; the runtime waits again). */
const MAX_PARK_MS = 60_000;

interface Runtime extends Record<RequestEntry, PyFn> {
  release: PyFn<void>;
  drop_made: PyFn<void>;
  handle_count: PyFn<number>;
  reset: PyFn;
  set_host_names: PyFn;
  install_wheel: PyFn;
  resume: PyFn;
  abandon: PyFn<void>;
  restore: PyFn<void>;
  prepare: PyFn<void>;
  session_save: PyFn<void>;
  session_saved: PyFn<void>;
}

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

export class PythonCore implements EngineCore {
  readonly language = 'python' as const;
  private stop: Stop | null = null;
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
    this.requests = {
      env,
      out: this.out,
      deadline: () => this.deadline,
      poll: () => this.poll(),
      ...(env.hostWaitAsync ? { collected: () => this.collected.splice(0) } : {}),
      taint: () => {
        this.tainted = true;
      },
    };
  }
  /** What the device's requests are answered with (src/lang/python/requests.ts). */
  private readonly requests: RequestContext;
  /**
   * Set when the runtime's audit hook reports that a script may have reached the runtime's
   * globals (a frame, a gc walk): until the next tenant, every entry restores them first.
   */
  private tainted = false;

  /** The runtime's entries, its names and builtins put back first once the engine is tainted. */
  private entries(): Runtime {
    if (this.tainted) this.rt.restore();
    return this.rt;
  }

  static async create(init: CoreInit, env: CoreEnv): Promise<PythonCore> {
    // A spare worker may have restored the snapshot before this engine asked (the host
    // hands such a worker only to an engine of the same snapshot).
    if (init.session) {
      // A session snapshot (./session.ts): read and checked before anything boots.
      const session = readPythonSession(init.session, init.limits.memoryBytes);
      const loaded = await loadSession(init, session.header, sessionHeapWriter(session), env.pyodideModule);
      const core = new PythonCore(loaded.py, init, env);
      core.boot(loaded, session);
      return core;
    }
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
  /** The value channel: an entry's arguments staged, its result taken. */
  private values!: ValueChannel;
  private snapshot: Uint8Array | undefined;
  /** The host function names the runtime has now (set again after an in-place restore). */
  private hostNames: string[] = [];

  /** The `_scriptbox` module, looked up without leaving names in `__main__`. */
  private runtimeModule(): Record<string, PyFn> {
    return this.py.runPython("__import__('sys').modules['_scriptbox']") as Record<string, PyFn>;
  }

  private boot(loaded: Loaded, session?: PythonSession): void {
    const py = this.py;
    this.booted = loaded;
    // File system devices live on the JavaScript side: a snapshot never holds them.
    this.values = installDevice(py.FS, (req) => serveRequest(req, this.requests));
    let m: Record<string, PyFn>;
    const packages = this.init.packages;
    if (session) {
      // A sealed heap with a session in it: its files and open files come back, then the
      // runtime redoes what lives outside the heap. It is sealed already, and stays tainted
      // if the engine it was taken from was.
      restorePythonSession(py, session, this.mountPaths());
      m = this.runtimeModule();
      once(m.session_restored!);
      this.tainted = session.tainted;
    } else if (loaded.restored) {
      m = this.runtimeModule();
      once(m.after_restore!);
      // The snapshot (keyed by the package set) has the modules; the files come back here.
      if (packages) installPackages(py, m, packages, false);
    } else {
      // bootstrap.py takes _sb_boot out of the globals again.
      py.globals.set('_sb_boot', RUNTIME_BOOT);
      py.runPython(BOOTSTRAP, { filename: '<scriptbox>' });
      m = this.runtimeModule();
      if (packages) installPackages(py, m, packages, true);
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
      restore: m.restore! as PyFn<void>,
      prepare: m.prepare! as PyFn<void>,
      session_save: m.session_save! as PyFn<void>,
      session_saved: m.session_saved! as PyFn<void>,
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
    // A session may come from an engine that waited the other way.
    if (this.env.hostWaitAsync || session) once(m.set_trampoline!, !!this.env.hostWaitAsync);
    this.setHostFunctions(this.init.hostFunctions);
    // Host directories must never be mountable, whatever reaches the FS object.
    const fsys = (py.FS as unknown as { filesystems: Record<string, unknown> }).filesystems;
    delete fsys.NODEFS;
    delete fsys.NODERAWFS;
    // Mounts as files: JavaScript-side, so mounted again after every restore.
    mountFiles(py.FS as unknown as EmscriptenFS, this.init.mounts ?? [], (name, args) => this.env.hostCall(name, args));
    if (!session) once(m.lockdown_seal!);
  }

  private mountPaths(): string[] {
    return (this.init.mounts ?? []).map((p) => p.path);
  }

  /**
   * Puts back the session this core booted from (a pool's `reset: 'template'`; the host
   * sends only that one): the heap, files and open files rewritten in this interpreter,
   * then what lives outside the heap redone as after a boot from it. Throws where it
   * cannot (the host then boots a new core from the session): SessionRefused for a bad
   * payload, before anything changed.
   */
  restoreSession(payload: Uint8Array | undefined): void {
    const from = this.init.session;
    if (!from || (payload && payload !== from)) throw new Error('this core restores in place only the session snapshot it booted from');
    const session = readPythonSession(from, this.init.limits.memoryBytes);
    if (this.running) throw new Error('a request is running');
    if (!restoreInPlace(this.py, session, this.mountPaths(), [DEVICE_PATH, VALUE_PATH])) {
      throw new Error('the interpreter holds JavaScript objects, so its heap cannot be rewritten in place');
    }
    // From here the heap is the session's: what boot() does after a restore, minus the JavaScript side it kept.
    const m = this.runtimeModule();
    try {
      once(m.session_restored!);
      once(m.set_engine!, this.init.engineId);
      once(m.set_value_bytes!, this.init.limits.maxValueBytes);
      once(m.set_trampoline!, !!this.env.hostWaitAsync);
    } finally {
      (m as unknown as PyFn<unknown>).destroy();
    }
    this.tainted = session.tainted;
    this.setHostFunctions(this.hostNames);
  }

  /** The session snapshot of this engine (./session.ts), taken between requests. */
  saveSession(): Uint8Array {
    return this.guarded(() => takePythonSession(this.py, this.entries(), this.mountPaths(), this.tainted));
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
      if (word !== 0) this.stop = stopOf(word);
      else if (this.heapBytes() > this.init.limits.memoryBytes) this.stop = 'memory';
      else if (performance.now() > this.deadline) this.stop = 'timeout';
      else return 0;
    }
    return 2;
  }

  private heapBytes(): number {
    return this.py._module.HEAPU8.length;
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
   * The trampoline (runtime.py `_then`): the request's Python task waits for host.aio results
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
        text = this.entries().resume();
      } catch (e) {
        [text, thrown] = [undefined, e];
      }
    }
    return this.outcome(text, thrown);
  }
  /** Host results the trampoline collected, for the runtime's next 'await'. */
  private collected: AsyncHostResult[] = [];

  /** Ends a request: the stop that cut it short (the heap checked once more), and what it printed. */
  private end(): { stop: CoreFailure | undefined; out: CapturedOutput } {
    this.running = false;
    if (this.stop === null && this.heapBytes() > this.init.limits.memoryBytes) this.stop = 'memory';
    return { stop: this.stop ? stopFailure(this.stop, this.init.limits.memoryBytes) : undefined, out: this.out.end() };
  }

  private outcome(text: unknown, thrown: unknown): CoreOutcome {
    const { stop, out } = this.end();
    if (stop) return this.discard({ ok: false, failure: stop, out });
    // Only a broken interpreter throws out of a runtime entry (a wasm abort, a fatal error).
    if (text === undefined && thrown !== undefined) return this.discard({ ok: false, failure: interpreterFailure(thrown), out });
    const written = { bytes: this.values.take(), engineId: this.init.engineId, maxDepth: this.init.limits.maxValueDepth };
    const o = replyOutcome(text, written, out);
    return !o.ok && o.failure.kind === 'crashed' ? this.discard(o) : o;
  }

  /** A bookkeeping entry runs as a request (src/lang/python/bookkeeping.ts), unless one runs already. */
  private guarded<T>(entry: () => T): T {
    return this.running ? entry() : bookkeeping(this.bookkeeper, entry);
  }
  private readonly bookkeeper: BookkeepingRequest = {
    begin: () => this.begin({ timeoutMs: Infinity, stream: false }),
    end: () => this.end(),
  };

  /**
   * A reply the host never sees must not leave the handles it made in the table, nor tasks
   * that could wake up in the next request (a stop may have cut the loop's cleanup short).
   */
  private discard(o: CoreOutcome): CoreOutcome {
    try {
      const rt = this.entries();
      rt.drop_made();
      rt.abandon();
    } catch {
      // A broken interpreter is restarted anyway, handles and all.
    }
    return o;
  }

  /** Runs one request entry. */
  private request(run: RunContext, [entry, args, staged]: EntryCall): CoreOutcome | Promise<CoreOutcome> {
    this.values.stage(staged);
    this.begin(run);
    return this.finish(() => this.entries()[entry](...args));
  }

  private get depth(): number {
    return this.init.limits.maxValueDepth;
  }

  exec(code: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    return this.request(run, entryCall.exec(code, this.depth));
  }

  load(code: string, name: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    return this.request(run, entryCall.load(code, name, this.depth));
  }

  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): CoreOutcome | Promise<CoreOutcome> {
    return this.request(run, entryCall.call(fn, args, optional, this.depth));
  }

  create(cls: string, args: ScriptValue[], run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    return this.request(run, entryCall.create(cls, args, this.depth));
  }

  callMethod(handle: number, method: string, args: ScriptValue[], run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    return this.request(run, entryCall.callMethod(handle, method, args, this.depth));
  }

  getAttr(handle: number, attr: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    return this.request(run, entryCall.getAttr(handle, attr, this.depth));
  }

  release(ids: number[]): void {
    if (ids.length > 0) this.guarded(() => this.entries().release(JSON.stringify(ids)));
  }

  handleCount(): number {
    const n: unknown = this.guarded(() => this.entries().handle_count());
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      throw new Error(`the Python runtime counted ${typeof n === 'number' ? n : `a ${typeof n}`} handles`);
    return n;
  }

  install(wheel: Uint8Array, name: string, run: RunContext): CoreOutcome | Promise<CoreOutcome> {
    const path = `/tmp/${name.replace(/[^\w.-]/g, '_')}`;
    this.py.FS.writeFile(path, wheel);
    this.values.stage(undefined);
    this.begin(run);
    return this.finish(() => this.entries().install_wheel(path));
  }

  setHostFunctions(names: string[]): void {
    this.hostNames = names;
    this.guarded(() => this.entries().set_host_names(JSON.stringify(names)));
  }

  reset(): void {
    this.guarded(() => this.entries().reset());
    // A new tenant holds nothing of the last one's (runtime.py reset clears its side too).
    this.tainted = false;
  }

  /**
   * The next request's start, done while the worker waits for it (runtime.py `prepare`):
   * the builtins, the host module and the runtime's patches put back off the call's path.
   * A tainted engine restores and prepares at every entry instead.
   */
  idle(): void {
    if (this.tainted) return;
    try {
      this.guarded(() => this.rt.prepare());
    } catch {
      // A stop or a broken interpreter: the next entry prepares for itself (and reports a broken one).
    }
  }

  memoryBytes(): number {
    return this.heapBytes();
  }

  dispose(): void {
    for (const f of Object.values(this.rt ?? {})) f.destroy();
  }
}
