/**
 * The public engine (DESIGN §2) for every backend and placement, as a facade over three
 * parts it composes: the core {@link Supervisor} (queue, connection, restart with replay,
 * the escalation ladder), the {@link HandleTable} (RemoteObjects) and the host-call server
 * ({@link HostCalls}: capabilities, quotas, audit). The facade checks input at the entry and
 * turns answers into results, errors and RemoteObjects.
 */
import { BUILTIN_CAPABILITIES, builtinFunctions, type LogEntry } from '../capabilities/builtins.js';
import { HostCalls } from '../capabilities/host-calls.js';
import { HostFunctionRegistry, granted, type HostFunction } from '../capabilities/registry.js';
import type { ToEngine } from '../channel/protocol.js';
import type { CoreInit } from '../core.js';
import { describeValue } from '../describe-value.js';
import { DisposedError, EngineCrashedError, InvalidInputError, UnavailableError, type ScriptBoxError } from '../errors.js';
import { requireMade } from '../factory-token.js';
import { checkTimeout, coreLimits, type ResolvedOptions } from '../options.js';
import type { Answer, ConnectionFactory } from '../placement/connection.js';
import type { EngineSessions } from '../session/engine-sessions.js';
import { SESSION_REFUSED } from '../session/refused.js';
import type { SessionSnapshot } from '../session/snapshot.js';
import { engineStoreLimits } from '../state/engine-limits.js';
import { MemoryStore } from '../state/memory.js';
import type { StateStore } from '../state/store.js';
import { checkValue, type ScriptValue } from '../values.js';
import { errorOf, execEndingOf, execErrorOf } from './failures.js';
import { HandleTable, RemoteHandle, type HandleOwner } from './remote-object.js';
import { Supervisor } from './supervisor.js';
import type { EngineOptions, EngineStats, ExecResult, RemoteObject, RunOptions, ScriptEngine } from './types.js';

const encoder = new TextEncoder();
const FUNCTION_NAME = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
const MEMBER_NAME = /^[A-Za-z_]\w*$/;

let nextId = 1;

/** What callSync takes of RunOptions: a signal cannot stop a call that blocks the thread (refused when given). */
type SyncRunOptions = Pick<RunOptions, 'timeoutMs'> & { signal?: undefined };

/**
 * A copy of `args` when it is a small flat array of numbers, strings, booleans and nulls
 * (what checkValue would answer for it, without its walk); undefined for anything else,
 * which checkValue checks. Each item is read once, so the copy cannot change under a getter.
 */
function flatCopy(args: unknown[]): ScriptValue[] | undefined {
  const n = args.length;
  if (n > 16) return undefined;
  const out: ScriptValue[] = new Array<ScriptValue>(n);
  for (let i = 0; i < n; i++) {
    const v = args[i];
    const t = typeof v;
    if (t !== 'number' && t !== 'string' && t !== 'boolean' && v !== null) return undefined;
    out[i] = v as ScriptValue;
  }
  return out;
}

/** One engine: what createEngine returns (as a ScriptEngine). */
export class Engine implements ScriptEngine, HandleOwner {
  readonly id: string;
  readonly backend: 'wasm' | 'native';
  readonly language;
  readonly placement;
  private readonly supervisor: Supervisor;
  private readonly handles: HandleTable;
  private readonly hostCalls: HostCalls;
  private readonly registry = new HostFunctionRegistry();
  private readonly counts = { execs: 0, calls: 0, hostCalls: 0 };
  private config: ScriptValue;
  private readonly started = performance.now();
  private readonly opts: EngineOptions;
  private readonly store: StateStore;
  /** The store was made here (not given), so dispose closes it. */
  private readonly ownStore: boolean;
  /** Aborted by dispose(): built-ins still running for this engine (host.fetch) stop then. */
  private readonly builtinsAbort = new AbortController();

  /** The session payload cores boot from (createEngine's `restore`, then the last restore()); absent: a fresh state. */
  private session: Uint8Array | undefined;

  constructor(
    private readonly resolved: ResolvedOptions,
    connect: ConnectionFactory,
    /** Session snapshots (wasm engines); absent for native ones. */
    private readonly sessions?: EngineSessions,
  ) {
    // `new (engine.constructor)(...)` from JavaScript: refuse before anything starts.
    requireMade(resolved, 'a ScriptEngine', 'await createEngine(language, options)');
    this.id = `${resolved.language}-${nextId++}`;
    this.language = resolved.language;
    this.backend = resolved.backend === 'native' ? 'native' : 'wasm';
    this.placement = resolved.placement;
    this.opts = resolved.options;
    this.config = (this.opts.config ?? {}) as ScriptValue;
    this.ownStore = !this.opts.state;
    // An engine's own store is bounded by its memory limit (issue 17, class 4).
    this.store = this.opts.state ?? new MemoryStore(engineStoreLimits(resolved.limits.memoryBytes));
    const builtins = builtinFunctions({
      engineId: this.id,
      store: this.store,
      config: () => this.config,
      log: (e) => this.log(e),
      allowedHosts: resolved.allowedHosts,
      ...(resolved.files ? { files: resolved.files } : {}),
      ...{ signal: this.builtinsAbort.signal },
    });
    for (const [name, b] of Object.entries(builtins)) this.registry.add(name, b.fn, b.capability, { builtin: true });
    for (const [name, v] of Object.entries(this.opts.hostFunctions ?? {})) {
      if (typeof v === 'function') this.registry.add(name, v);
      else if (v && typeof v === 'object') this.registry.add(name, (v as { fn: unknown }).fn, (v as { capability?: unknown }).capability);
      else this.registry.add(name, v);
    }
    this.handles = new HandleTable(this, (ids) => this.releaseIds(ids));
    this.hostCalls = new HostCalls({
      engineId: this.id,
      registry: this.registry,
      capabilities: resolved.capabilities,
      quotas: resolved.quotas,
      maxValueDepth: resolved.limits.maxValueDepth,
      options: this.opts,
      handle: this.handles.toWire,
      counted: () => void this.counts.hostCalls++,
    });
    this.supervisor = new Supervisor({
      id: this.id,
      resolved,
      connect,
      init: () => this.init(),
      hostCalls: this.hostCalls,
      handles: this.handles,
    });
    this.opts.signal?.addEventListener('abort', () => void this.dispose(), { once: true });
    this.warnUnknownGrants();
  }

  /** Boots the first core, from `session` (a checked payload) if given; called once by createEngine. */
  async start(session?: Uint8Array): Promise<void> {
    this.session = session;
    try {
      await this.supervisor.start();
    } catch (e) {
      throw sessionBootError(e);
    }
  }

  /** The last failure of any call on this engine. */
  get lastError(): ScriptBoxError | null {
    return this.supervisor.lastError;
  }

  /** A granted name that matches nothing this engine offers is most likely a typo: say so once. */
  private warnUnknownGrants(): void {
    const known = [...new Set([...BUILTIN_CAPABILITIES, ...this.registry.capabilities()])].sort();
    const unknown = this.resolved.capabilities.filter((p) => p !== '*' && !known.some((c) => granted([p], c)));
    if (unknown.length) {
      console.warn(
        `scriptbox: ${this.id} was granted ${unknown.map((u) => `'${u}'`).join(', ')}, which match${unknown.length === 1 ? 'es' : ''} no capability it offers; known: ${known.join(', ')}`,
      );
    }
  }

  private log(e: LogEntry): void {
    if (this.opts.onLog) {
      try {
        this.opts.onLog(e);
      } catch {
        // a logging hook's failure must not change the script's result
      }
      return;
    }
    const method = e.level === 'debug' ? 'debug' : e.level === 'warn' ? 'warn' : e.level === 'error' ? 'error' : 'info';
    console[method](`[scriptbox ${e.engineId}] ${e.message}`);
  }

  /** What a new core boots with: the host functions and config as they are now. */
  private init(): CoreInit {
    return {
      language: this.language,
      engineId: this.id,
      limits: coreLimits(this.resolved.limits),
      hostFunctions: this.registry.names(),
      ...(this.resolved.files ? { mounts: this.resolved.files.points() } : {}),
      ...(this.opts.onInput ? { input: true } : {}),
      config: this.config,
      ...(this.backend === 'native' ? { backend: 'native' as const } : {}),
      ...(this.session ? { session: this.session } : {}),
    };
  }

  // ---- session snapshots -----------------------------------------------------------

  private sessionsFor(what: string): EngineSessions {
    if (!this.sessions) {
      throw new UnavailableError(
        `${what}: native engines take no session snapshots (their interpreter's memory is the process's own, not a heap ScriptBox can copy); use backend 'wasm'`,
      );
    }
    return this.sessions;
  }

  async snapshot(): Promise<SessionSnapshot> {
    const sessions = this.sessionsFor('snapshot()');
    const timeoutMs = this.resolved.limits.timeoutMs;
    const payload = await this.supervisor.enqueue(async () => {
      const a = await this.supervisor.run({ t: 'saveSession' }, timeoutMs, { what: 'snapshot()' });
      if (!(a.value instanceof Uint8Array))
        throw this.supervisor.failed(new EngineCrashedError('the engine answered a snapshot request without its bytes'));
      return a.value;
    });
    return sessions.pack(payload);
  }

  async restore(snapshot: SessionSnapshot | Uint8Array): Promise<void> {
    if (this.supervisor.disposed) throw new DisposedError(`engine ${this.id} was disposed; create a new engine`);
    const payload = await this.sessionsFor('restore()').check(snapshot, 'restore()');
    return this.supervisor.enqueue(
      async () => {
        try {
          // Lua restores any snapshot in its own memory. Python does only the session its core
          // booted from (a pool's template): Pyodide's JavaScript side points into that heap.
          const inPlace = this.language === 'lua' ? 'send' : payload === this.session ? 'kept' : false;
          await this.supervisor.replaceState(payload, inPlace);
        } catch (e) {
          const err = sessionBootError(e);
          throw err instanceof InvalidInputError ? this.supervisor.failed(err) : err;
        }
        this.session = payload;
      },
      undefined,
      'restore()',
    );
  }

  // ---- public API ------------------------------------------------------------------

  private checkCode(code: unknown, what: string): string {
    if (typeof code !== 'string') throw new InvalidInputError(`${what} takes code as a string (got ${typeof code})`);
    const size = encoder.encode(code).length;
    if (size > this.resolved.limits.maxCodeBytes) {
      throw new InvalidInputError(
        `code is ${size} bytes, over limits.maxCodeBytes (${this.resolved.limits.maxCodeBytes}); split it or raise the limit`,
      );
    }
    return code;
  }

  private timeoutOf(opts?: RunOptions): number {
    if (opts?.timeoutMs === undefined) return this.resolved.limits.timeoutMs;
    return checkTimeout(opts.timeoutMs, 'timeoutMs');
  }

  private get stream(): boolean {
    return !!this.opts.onOutput;
  }

  async exec(code: string, opts?: RunOptions): Promise<ExecResult> {
    this.checkCode(code, 'exec');
    const timeoutMs = this.timeoutOf(opts);
    const signal = this.signalOf(opts);
    const rules = { signal, what: 'exec' };
    return this.supervisor.enqueue(
      async () => {
        this.counts.execs++;
        const t0 = performance.now();
        let a: Answer;
        try {
          a = await this.supervisor.request({ t: 'exec', code, timeoutMs, stream: this.stream }, timeoutMs, rules);
        } catch (e) {
          // A timeout or interrupt that needed a kill, a crash: data here, like the core's own failures.
          const ended = execEndingOf(e);
          if (!ended) throw e;
          return {
            success: false,
            stdout: '',
            stderr: '',
            outputs: [],
            truncated: false,
            error: ended.error,
            durationMs: performance.now() - t0,
            timedOut: ended.timedOut,
          };
        }
        const durationMs = performance.now() - t0;
        if (a.t === 'done') {
          return { success: true, value: a.value, ...a.out, outputs: a.out.outputs ?? [], durationMs, timedOut: false };
        }
        if (a.t !== 'failed') throw new EngineCrashedError(`unexpected answer ${a.t}`);
        this.supervisor.failed(errorOf(a.failure));
        const outputs = a.out.outputs ?? [];
        return { success: false, ...a.out, outputs, error: execErrorOf(a.failure), durationMs, timedOut: a.failure.kind === 'timeout' };
      },
      signal,
      'exec',
    );
  }

  load(code: string, name = 'main'): Promise<void> {
    this.checkCode(code, 'load');
    if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('load: name must be a non-empty string');
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.supervisor.enqueue(async () => {
      await this.supervisor.run({ t: 'load', code, name, timeoutMs, stream: this.stream }, timeoutMs, { what: `load('${name}')` });
      this.supervisor.loads.delete(name);
      this.supervisor.loads.set(name, code);
    });
  }

  async install(wheel: string | URL | Uint8Array): Promise<void> {
    if (this.supervisor.disposed) throw new DisposedError(`engine ${this.id} was disposed; create a new engine`);
    if (this.language !== 'python') {
      throw new UnavailableError(`install() adds Python packages; a ${this.language} engine has none to install`);
    }
    const { readWheel } = await import('../script-files.js');
    const { bytes, name } = await readWheel(wheel);
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.supervisor.enqueue(async () => {
      await this.supervisor.run({ t: 'install', wheel: bytes, name, timeoutMs }, timeoutMs, { what: `install('${name}')` });
      this.supervisor.wheels.push({ wheel: bytes, name });
    });
  }

  async loadFile(path: string | URL): Promise<void> {
    const { readScript } = await import('../script-files.js');
    const { code, name } = await readScript(path);
    return this.load(code, name);
  }

  async loadInit(code: string, name = 'main'): Promise<void> {
    await this.load(code, name);
    await this.callOptional('init', []);
  }

  private callOptional(fn: string, args: ScriptValue[]): Promise<void> {
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.supervisor.enqueue(async () => {
      await this.supervisor.run({ t: 'call', fn, args, timeoutMs, stream: this.stream, optional: true }, timeoutMs, { what: `${fn}()` });
    });
  }

  /** Checks call arguments; RemoteObjects of this engine cross as handles (and pin the generation). */
  private checkArgs(args: unknown, what: string): { args: ScriptValue[]; generation: number | undefined } {
    if (!Array.isArray(args)) throw new InvalidInputError(`${what}: args must be an array`);
    const flat = flatCopy(args);
    if (flat) return { args: flat, generation: undefined };
    let generation: number | undefined;
    const checked = checkValue(args, {
      maxDepth: this.resolved.limits.maxValueDepth + 1,
      root: 'args',
      handle: (v, path) => {
        const ref = this.handles.toWire(v, path);
        if (ref) generation = this.handles.generation;
        return ref;
      },
    }) as ScriptValue[];
    return { args: checked, generation };
  }

  private signalOf(opts?: RunOptions): AbortSignal | undefined {
    const signal = opts?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidInputError('signal must be an AbortSignal (for example from new AbortController().signal)');
    }
    return signal;
  }

  /** The path call, create, RemoteObject.call and get share: check, queue, run, wrap handles in the result. */
  private invoke(
    what: string,
    args: unknown,
    opts: RunOptions | undefined,
    message: (args: ScriptValue[], timeoutMs: number) => ToEngine,
    target?: RemoteHandle,
  ): Promise<ScriptValue> {
    let prepared;
    try {
      if (target) this.handles.check(target, what);
      prepared = { ...this.checkArgs(args, what), timeoutMs: this.timeoutOf(opts), signal: this.signalOf(opts) };
    } catch (e) {
      return Promise.reject(e);
    }
    const { args: checked, timeoutMs, signal } = prepared;
    const generation = target ? target.generation : prepared.generation;
    const msg = message(checked, timeoutMs);
    if (!signal && generation === undefined && (msg.t === 'call' || msg.t === 'callMethod') && this.supervisor.canRunNow()) {
      this.counts.calls++;
      const supervisor = this.supervisor;
      return supervisor.runNow(msg, () => supervisor.request(msg, timeoutMs, { what })).then((a) => this.answerValue(a));
    }
    return this.supervisor.enqueue(
      async () => {
        // The engine may have restarted while this waited in the queue.
        if (target) this.handles.check(target, what);
        this.counts.calls++;
        const a = await this.supervisor.run(msg, timeoutMs, { signal, generation, what });
        return this.handles.wrap(a.value);
      },
      signal,
      what,
    );
  }

  /** A call's answer as the caller gets it: the value (handles wrapped), or the error thrown. */
  private answerValue(a: Answer): ScriptValue {
    return this.handles.wrap(this.supervisor.done(a).value);
  }

  call(fn: string, args: ScriptValue[] = [], opts?: RunOptions): Promise<ScriptValue> {
    if (typeof fn !== 'string' || !FUNCTION_NAME.test(fn)) {
      return Promise.reject(
        new InvalidInputError(`call: ${describeValue(fn)} is not a function name; use a name like 'area' or 'geom.area'`),
      );
    }
    const stream = this.stream;
    return this.invoke(`call('${fn}')`, args, opts, (a, timeoutMs) => ({ t: 'call', fn, args: a, timeoutMs, stream, optional: false }));
  }

  callSync(fn: string, args: ScriptValue[] = [], opts?: SyncRunOptions): ScriptValue {
    if (this.placement !== 'inline') {
      throw new UnavailableError(
        `callSync runs only on placement 'inline' engines (this engine is '${this.placement}'); use await engine.call(...)`,
      );
    }
    if (typeof fn !== 'string' || !FUNCTION_NAME.test(fn)) {
      throw new InvalidInputError(`callSync: ${describeValue(fn)} is not a function name; use a name like 'area' or 'geom.area'`);
    }
    const what = () => `callSync('${fn}')`;
    if (this.supervisor.disposed) throw new DisposedError(`${what()}: engine ${this.id} was disposed; create a new engine`);
    if (opts?.signal !== undefined) {
      throw new InvalidInputError(`${what()} takes no signal: it blocks until the call ends; use await engine.call(fn, args, { signal })`);
    }
    const checked = this.checkArgs(args, what());
    // A RemoteObject argument of an older core: the same refusal as call's (request()).
    if (checked.generation !== undefined && checked.generation !== this.handles.generation) {
      throw new DisposedError(`${what()}: its RemoteObjects were lost when the engine restarted; create the objects again`);
    }
    const timeoutMs = this.timeoutOf(opts);
    const msg = { t: 'call', fn, args: checked.args, timeoutMs, stream: this.stream, optional: false } as const;
    const a = this.supervisor.runSync(msg, what);
    this.counts.calls++;
    return this.answerValue(a);
  }

  /**
   * Makes an object inside the engine and returns a handle to it: Python calls the class
   * (`geom.Rect(2, 3)`), Lua calls `Rect.new(2, 3)` (or `Rect(2, 3)` when Rect is callable).
   */
  async create(cls: string, args: ScriptValue[] = [], opts?: RunOptions): Promise<RemoteObject> {
    if (typeof cls !== 'string' || !FUNCTION_NAME.test(cls)) {
      throw new InvalidInputError(`create: ${describeValue(cls)} is not a class name; use a name like 'Rect' or 'geom.Rect'`);
    }
    const stream = this.stream;
    const h = await this.invoke(`create('${cls}')`, args, opts, (a, timeoutMs) => ({ t: 'create', cls, args: a, timeoutMs, stream }));
    if (!(h instanceof RemoteHandle)) throw new EngineCrashedError(`create('${cls}'): the engine answered without a handle`);
    return h;
  }

  /** @internal RemoteObject.call */
  callMethod(h: RemoteHandle, method: string, args: ScriptValue[] = [], opts?: RunOptions): Promise<ScriptValue> {
    if (typeof method !== 'string' || !MEMBER_NAME.test(method)) {
      return Promise.reject(
        new InvalidInputError(
          `RemoteObject.call: ${describeValue(method)} is not a method name; use a name like 'area' (or '__call__' to call the object itself)`,
        ),
      );
    }
    const stream = this.stream;
    const what = `RemoteObject ${h.label}: ${method}()`;
    return this.invoke(what, args, opts, (a, timeoutMs) => ({ t: 'callMethod', handle: h.id, method, args: a, timeoutMs, stream }), h);
  }

  /** @internal RemoteObject.get */
  getAttr(h: RemoteHandle, attr: string, opts?: RunOptions): Promise<ScriptValue> {
    if (typeof attr !== 'string' || !MEMBER_NAME.test(attr)) {
      return Promise.reject(
        new InvalidInputError(`RemoteObject.get: ${describeValue(attr)} is not an attribute name; use a name like 'width'`),
      );
    }
    const stream = this.stream;
    const what = `RemoteObject ${h.label}: get('${attr}')`;
    return this.invoke(what, [], opts, (_a, timeoutMs) => ({ t: 'getAttr', handle: h.id, attr, timeoutMs, stream }), h);
  }

  /**
   * @internal RemoteObject.dispose: frees the object in the engine, if the engine still
   * holds it. Freeing runs script code (a `__del__`, a `__gc`), so it runs under the ladder.
   * It resolves however that ends: the object is gone either way (a killed core took it
   * along), and a timeout or crash shows in lastError and stats() like any call's.
   */
  async releaseHandle(h: RemoteHandle): Promise<void> {
    this.handles.forget(h);
    if (this.supervisor.disposed || h.generation !== this.handles.generation) return;
    // Resolves however the release ends (see above): run() already put its failure in lastError.
    await this.supervisor.enqueue(async () => this.sendRelease([h.id], h.generation)).catch(() => undefined);
  }

  /** Forgotten handles, found by the FinalizationRegistry. */
  private releaseIds(ids: number[]): void {
    if (this.supervisor.disposed) return;
    const generation = this.handles.generation;
    // Nobody awaits a collected handle's release: run() already put its failure in lastError.
    void this.supervisor.enqueue(async () => this.sendRelease(ids, generation)).catch(() => undefined);
  }

  private async sendRelease(ids: number[], generation: number): Promise<void> {
    // A dead or replaced core took its handles with it: nothing to free, nothing to restart for.
    if (!this.supervisor.connected || generation !== this.handles.generation) return;
    await this.supervisor.run({ t: 'release', ids }, this.resolved.limits.timeoutMs, { what: 'RemoteObject.dispose', generation });
  }

  registerHostFunction(name: string, fn: HostFunction, opts?: { capability?: string }): void {
    if (this.supervisor.disposed) throw new DisposedError(`engine ${this.id} was disposed`);
    this.registry.add(name, fn, opts?.capability);
    const names = this.registry.names();
    // The method is synchronous, so nobody awaits the update. Its failure still surfaces:
    // run() puts it in lastError (a pool sees the change), and a core that may not have taken
    // the names is replaced, so the next call runs on a core booted with them (init()).
    void this.supervisor
      .enqueue(async () => {
        try {
          await this.supervisor.run({ t: 'setHostFunctions', names }, this.resolved.limits.timeoutMs, {
            what: `registerHostFunction('${name}')`,
          });
        } catch (e) {
          if (this.supervisor.connected && !(e instanceof DisposedError)) this.supervisor.dropConnection();
          // Recorded in lastError and handled by the replacement above: rethrowing would reach no one.
        }
      })
      // Only a disposed engine refuses the update, and it needs no host functions any more.
      .catch(() => undefined);
  }

  async configure(config: ScriptValue): Promise<void> {
    const checked = checkValue(config, { maxDepth: this.resolved.limits.maxValueDepth, root: 'config' });
    // In queue order, so calls queued before see the old config and calls after the new one.
    // Cores read config only from CoreInit at boot (host.config is served here), so no request is sent.
    await this.supervisor.enqueue(async () => {
      this.config = checked;
    });
    await this.callOptional('configure', [checked]);
  }

  async warmup(fn: string, args: ScriptValue[] = []): Promise<void> {
    await this.call(fn, args);
  }

  cleanup(fn = 'cleanup'): Promise<void> {
    if (typeof fn !== 'string') return Promise.reject(new InvalidInputError('cleanup: fn must be a function name'));
    return this.callOptional(fn, []);
  }

  reload(name?: string): Promise<void> {
    if (name !== undefined && !this.supervisor.loads.has(name)) {
      const known = [...this.supervisor.loads.keys()].join(', ') || 'none';
      return Promise.reject(new InvalidInputError(`reload: no script named '${name}' was loaded (loaded: ${known})`));
    }
    const timeoutMs = this.resolved.limits.timeoutMs;
    const what = { what: 'reload' };
    return this.supervisor.enqueue(async () => {
      if (name !== undefined) {
        await this.supervisor.run(
          { t: 'load', code: this.supervisor.loads.get(name)!, name, timeoutMs, stream: this.stream },
          timeoutMs,
          what,
        );
        return;
      }
      // A fresh state drops the core's objects: every handle so far is dead.
      this.handles.invalidate();
      await this.supervisor.run({ t: 'reset' }, timeoutMs, what);
      for (const [n, code] of this.supervisor.loads)
        await this.supervisor.run({ t: 'load', code, name: n, timeoutMs, stream: this.stream }, timeoutMs, what);
    });
  }

  /**
   * Counting handles runs script code in some cores (a gc pass can run a `__del__`), so
   * stats() runs under the ladder too: a core that does not answer within limits.timeoutMs
   * is interrupted, then killed, and stats() throws that error (TimeoutError,
   * EngineCrashedError...); the next stats() reports the restart and lastCrash.
   */
  async stats(): Promise<EngineStats> {
    const core = await this.supervisor.enqueue(async () => {
      const a = await this.supervisor.request({ t: 'stats' }, this.resolved.limits.timeoutMs, { what: 'stats' });
      if (a.t === 'stats') return a;
      // (request() turned any other answer to a stats request into a crash.)
      throw this.supervisor.failed(a.t === 'failed' ? errorOf(a.failure) : new EngineCrashedError(`stats: unexpected answer ${a.t}`));
    });
    return {
      memoryBytes: core.memoryBytes,
      handles: core.handles,
      ...this.counts,
      restarts: this.supervisor.restarts,
      uptimeMs: performance.now() - this.started,
      lastEscalation: this.supervisor.lastEscalation,
      lastRecovery: this.supervisor.lastRecovery,
      lastCrash: this.supervisor.lastCrash,
      ...(this.supervisor.boot?.isolation ? { isolation: this.supervisor.boot.isolation } : {}),
    };
  }

  /**
   * Stops the running call, if any: in place where the code notices (the call rejects with
   * InterruptedError; exec reports error.type 'Interrupted'); code that does not stop within
   * graceMs (C code, a JIT-compiled LuaJIT loop) is killed and the engine restarted, as for
   * a timeout. Without shared memory the interrupt cannot reach running code, so that kill is at once.
   */
  interrupt(): void {
    this.supervisor.interrupt();
  }

  /** Stops the engine for good: queued and running calls reject with DisposedError. Idempotent. */
  async dispose(): Promise<void> {
    if (this.supervisor.disposed) return;
    this.supervisor.disposed = true;
    this.builtinsAbort.abort(new DisposedError(`engine ${this.id} was disposed`));
    await this.supervisor.dispose();
    // The engine's own store is an in-memory map nobody else holds: closing it cannot leave anything behind.
    if (this.ownStore) await this.store.dispose().catch(() => undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * A core that refused a session payload fails to boot with a `SessionRefused` failure
 * (src/session/refused.ts): bad input, not a crash. The placements report a boot failure
 * as UnavailableError with the core's message, or (inline) throw the core's own error.
 */
function sessionBootError(e: unknown): unknown {
  const err = e as { name?: unknown; message?: unknown } | undefined;
  if (err?.name === SESSION_REFUSED || (typeof err?.message === 'string' && err.message.includes(`${SESSION_REFUSED}:`))) {
    const message = String(err?.message).replace(/^.*?SessionRefused: /, '');
    return new InvalidInputError(`the session snapshot was refused: ${message}`);
  }
  return e;
}
