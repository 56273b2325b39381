/**
 * The host side of every engine: queues calls, checks input, serves host calls through
 * the capability registry, enforces timeouts with the escalation ladder (interrupt in
 * place, then kill and restart), and replays loaded scripts after a restart.
 */
import { BUILTIN_CAPABILITIES, builtinFunctions, type LogEntry } from './capabilities/builtins.js';
import { HostFunctionRegistry, granted, type HostFunction } from './capabilities/registry.js';
import type { CoreFailure, ToEngine } from './channel/protocol.js';
import { InterruptReason } from './channel/sab-channel.js';
import { HostCallError, type CoreInit } from './core.js';
import type { EngineOptions, EngineStats, ExecResult, RemoteObject, RunOptions, ScriptEngine } from './engine.js';
import {
  DisposedError, EngineCrashedError, InvalidInputError, MemoryLimitError, ScriptBoxError, ScriptError, TimeoutError,
  UnavailableError,
} from './errors.js';
import { checkTimeout, coreLimits, type ResolvedOptions } from './options.js';
import { failureOf, type Answer, type Connection, type ConnectionFactory, type RequestHandlers } from './placement/connection.js';
import { MemoryStore } from './state/memory.js';
import type { StateStore } from './state/store.js';
import { checkValue, type ScriptValue } from './values.js';

let nextId = 1;
const encoder = new TextEncoder();

type Failed = Extract<Answer, { t: 'failed' }>;

export class SandboxEngine implements ScriptEngine {
  readonly backend = 'wasm' as const;
  readonly id: string;
  readonly language;
  readonly placement;
  lastError: ScriptBoxError | null = null;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private busy = false;
  private readonly registry = new HostFunctionRegistry();
  private readonly loads = new Map<string, string>();
  /** Installed wheels, replayed (before loaded scripts) when the engine restarts. */
  private readonly wheels: { wheel: Uint8Array; name: string }[] = [];
  private config: ScriptValue;
  private readonly started = performance.now();
  private counts = { execs: 0, calls: 0, hostCalls: 0, restarts: 0 };
  private lastEscalation: EngineStats['lastEscalation'] = null;
  private readonly opts: EngineOptions;
  private readonly store: StateStore;
  /** The store was made here (not given), so dispose closes it. */
  private readonly ownStore: boolean;
  private readonly quotaUsed = new Map<string, number>();

  constructor(
    private readonly resolved: ResolvedOptions,
    private readonly connect: ConnectionFactory,
  ) {
    this.id = `${resolved.language}-${nextId++}`;
    this.language = resolved.language;
    this.placement = resolved.placement;
    this.opts = resolved.options;
    this.config = (this.opts.config ?? {}) as ScriptValue;
    this.ownStore = !this.opts.state;
    this.store = this.opts.state ?? new MemoryStore();
    const builtins = builtinFunctions({
      engineId: this.id,
      store: this.store,
      config: () => this.config,
      log: (e) => this.log(e),
      allowedHosts: resolved.allowedHosts,
      ...(resolved.files ? { files: resolved.files } : {}),
    });
    for (const [name, b] of Object.entries(builtins)) this.registry.add(name, b.fn, b.capability, { builtin: true });
    for (const [name, v] of Object.entries(this.opts.hostFunctions ?? {})) {
      if (typeof v === 'function') this.registry.add(name, v);
      else if (v && typeof v === 'object') this.registry.add(name, (v as { fn: unknown }).fn, (v as { capability?: unknown }).capability);
      else this.registry.add(name, v);
    }
    this.opts.signal?.addEventListener('abort', () => void this.dispose(), { once: true });
    this.warnUnknownGrants();
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

  /** Boots the first core; called once by createEngine. */
  async start(): Promise<void> {
    this.conn = await this.connect(this.init());
  }

  private init(): CoreInit {
    return {
      language: this.language,
      engineId: this.id,
      limits: coreLimits(this.resolved.limits),
      hostFunctions: this.registry.names(),
      config: this.config,
    };
  }

  // ---- queue -------------------------------------------------------------------------

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError(`engine ${this.id} was disposed; create a new engine`));
    const run = this.tail.then(() => {
      if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed before this call ran`);
      return task();
    });
    this.tail = run.catch(() => {});
    return run;
  }

  private async connection(): Promise<Connection> {
    if (this.connecting) await this.connecting.catch(() => {});
    if (!this.conn) {
      this.connecting = this.restart();
      try {
        this.conn = await this.connecting;
      } finally {
        this.connecting = undefined;
      }
    }
    return this.conn;
  }

  /** A fresh core with everything replayed: host functions, config, loaded scripts. */
  private async restart(): Promise<Connection> {
    await this.killing;
    this.counts.restarts++;
    const conn = await this.connect(this.init());
    for (const { wheel, name } of this.wheels) {
      await conn.request({ t: 'install', wheel, name, timeoutMs: this.resolved.limits.timeoutMs }, this.handlers());
    }
    for (const [name, code] of this.loads) {
      await conn.request({ t: 'load', code, name, timeoutMs: this.resolved.limits.timeoutMs, stream: false }, this.handlers());
    }
    return conn;
  }

  private dropConnection(): void {
    const c = this.conn;
    this.conn = undefined;
    // Restart and dispose wait for this, so a dead worker never overlaps its replacement.
    if (c) this.killing = c.kill().catch(() => {});
  }
  private killing: Promise<void> = Promise.resolve();

  // ---- one request, with timeout escalation ----------------------------------------

  private handlers(deadline?: { timedOut: Promise<never> }): RequestHandlers {
    return {
      hostCall: (name, args) => {
        const fn = this.authorizeCall(name, args);
        const run = Promise.resolve(fn()).then((v) => this.finishCall(name, args, v));
        return deadline ? Promise.race([run, deadline.timedOut]) : run;
      },
      hostCallSync: (name, args) => {
        const fn = this.authorizeCall(name, args);
        const v = fn();
        if (v && typeof (v as Promise<unknown>).then === 'function') {
          (v as Promise<unknown>).catch(() => {}); // it was audited; nobody awaits it
          throw new HostCallError({
            type: 'UnavailableError',
            message: `host.${name} returned a Promise, and the inline placement cannot wait for one; make it synchronous or use placement 'worker'`,
          });
        }
        return this.finishCall(name, args, v as ScriptValue);
      },
      output: (stream, text) => this.opts.onOutput?.({ stream, text }),
    };
  }

  private audit(name: string, capability: string, allowed: boolean, started: number, error?: string): void {
    if (!this.opts.onHostCall) return;
    const ev = { engineId: this.id, name, capability, allowed, ms: performance.now() - started, ...(error ? { error } : {}) };
    try {
      this.opts.onHostCall(ev);
    } catch {
      // an audit hook's failure must not change the script's result
    }
  }

  /** Checks the call and returns a thunk that runs the host function. Throws HostCallError when denied. */
  private authorizeCall(name: string, args: ScriptValue[]): () => unknown {
    this.counts.hostCalls++;
    const started = performance.now();
    const entry = this.registry.get(name);
    if (!entry) {
      throw new HostCallError({ type: 'NameError', message: `host.${name} is not a registered host function` });
    }
    if (!granted(this.resolved.capabilities, entry.capability)) {
      this.audit(name, entry.capability, false, started);
      throw new HostCallError({
        type: 'PermissionError',
        message: `host.${name} needs capability '${entry.capability}', which this engine was not granted`,
      });
    }
    for (const [pattern, max] of this.resolved.quotas) {
      if (!granted([pattern], entry.capability)) continue;
      const used = this.quotaUsed.get(pattern) ?? 0;
      if (used >= max) {
        this.audit(name, entry.capability, false, started, 'quota used up');
        throw new HostCallError({
          type: 'PermissionError',
          message: `host.${name} is over its quota: limits.hostCalls['${pattern}'] allows ${max} call${max === 1 ? '' : 's'} per engine`,
        });
      }
      this.quotaUsed.set(pattern, used + 1);
    }
    return () => {
      const deny = () => {
        this.audit(name, entry.capability, false, started);
        throw new HostCallError({ type: 'PermissionError', message: `host.${name} was denied by the authorize hook` });
      };
      const fail = (e: unknown) => {
        if (e instanceof HostCallError) throw e;
        const err = e as Error;
        this.audit(name, entry.capability, true, started, String(err?.message ?? e));
        throw new HostCallError(failureOf(e));
      };
      try {
        if (this.opts.authorize) {
          const ok = this.opts.authorize({ engineId: this.id, name, capability: entry.capability, args });
          if (ok && typeof (ok as Promise<boolean>).then === 'function') {
            return (ok as Promise<boolean>).then((v) => (v ? entry.fn(...args) : deny())).then((v) => {
              this.audit(name, entry.capability, true, started);
              return v;
            }, fail);
          }
          if (!ok) deny();
        }
        const v = entry.fn(...args);
        if (v && typeof (v as Promise<unknown>).then === 'function') {
          return (v as Promise<unknown>).then((r) => {
            this.audit(name, entry.capability, true, started);
            return r;
          }, fail);
        }
        this.audit(name, entry.capability, true, started);
        return v;
      } catch (e) {
        return fail(e);
      }
    };
  }

  private finishCall(name: string, _args: ScriptValue[], v: unknown): ScriptValue {
    try {
      return checkValue(v, { maxDepth: this.resolved.limits.maxValueDepth, root: `result of host.${name}` });
    } catch (e) {
      throw new HostCallError({ type: 'InvalidInputError', message: (e as Error).message });
    }
  }

  private async request(msg: ToEngine, timeoutMs: number): Promise<Answer> {
    const conn = await this.connection();
    conn.clearInterrupt();
    let interruptTimer: ReturnType<typeof setTimeout> | undefined;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    let rejectTimedOut!: (e: Error) => void;
    const timedOut = new Promise<never>((_, rej) => (rejectTimedOut = rej));
    timedOut.catch(() => {});
    const killed = new Promise<'killed'>((resolve) => {
      interruptTimer = setTimeout(() => {
        conn.interrupt(InterruptReason.Timeout);
        rejectTimedOut(new HostCallError({ type: 'TimeoutError', message: 'the call timed out while waiting for the host' }));
        killTimer = setTimeout(() => resolve('killed'), conn.canInterrupt ? this.resolved.limits.graceMs : 0);
      }, timeoutMs);
    });
    this.busy = true;
    this.current = conn;
    try {
      const res = await Promise.race([conn.request(msg, this.handlers({ timedOut })), killed, conn.died]);
      if (res === 'killed') {
        this.lastEscalation = 'restarted';
        this.dropConnection();
        return timeoutFailure();
      }
      if (res instanceof Error) {
        this.conn = undefined;
        return crashFailure(res.message);
      }
      if (res.t === 'failed') {
        if (res.failure.kind === 'timeout' || res.failure.kind === 'interrupted') this.lastEscalation = 'interrupted';
        if (res.failure.kind === 'memory' || res.failure.kind === 'crashed') this.dropConnection();
      }
      return res;
    } catch (e) {
      this.dropConnection();
      return crashFailure((e as Error).message);
    } finally {
      clearTimeout(interruptTimer);
      clearTimeout(killTimer);
      this.busy = false;
      this.current = undefined;
    }
  }
  private current: Connection | undefined;

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
    return this.enqueue(async () => {
      this.counts.execs++;
      const t0 = performance.now();
      const a = await this.request({ t: 'exec', code, timeoutMs, stream: this.stream }, timeoutMs);
      const durationMs = performance.now() - t0;
      if (a.t === 'done') {
        return { success: true, value: a.value, ...a.out, durationMs, timedOut: false };
      }
      if (a.t !== 'failed') throw new EngineCrashedError(`unexpected answer ${a.t}`);
      this.lastError = this.errorOf(a.failure);
      const { kind, path: _p, restarted: _r, ...error } = a.failure;
      const type = kind === 'memory' ? 'MemoryLimitError' : error.type;
      return { success: false, ...a.out, error: { ...error, type }, durationMs, timedOut: kind === 'timeout' };
    });
  }

  /** Maps a failure to the error class a throwing method raises. */
  private errorOf(f: CoreFailure): ScriptBoxError {
    switch (f.kind) {
      case 'timeout':
        return new TimeoutError(f.message, f.restarted ? 'restarted' : 'interrupted');
      case 'memory':
        return new MemoryLimitError(`${f.message}; the engine was restarted`);
      case 'invalid':
        if (f.type === 'UnavailableError') return new UnavailableError(f.message);
        return new InvalidInputError(f.message, f.path);
      case 'crashed':
        return new EngineCrashedError(`${f.message}; the engine restarts on the next call`);
      default: {
        const info: ConstructorParameters<typeof ScriptError>[0] = { type: f.type, message: f.message };
        if (f.traceback !== undefined) info.traceback = f.traceback;
        if (f.line !== undefined) info.line = f.line;
        return new ScriptError(info);
      }
    }
  }

  private async run(msg: ToEngine, timeoutMs: number): Promise<Extract<Answer, { t: 'done' }>> {
    const a = await this.request(msg, timeoutMs);
    if (a.t === 'done') return a;
    const err = this.errorOf((a as Failed).failure);
    this.lastError = err;
    throw err;
  }

  load(code: string, name = 'main'): Promise<void> {
    this.checkCode(code, 'load');
    if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('load: name must be a non-empty string');
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.enqueue(async () => {
      await this.run({ t: 'load', code, name, timeoutMs, stream: this.stream }, timeoutMs);
      this.loads.delete(name);
      this.loads.set(name, code);
    });
  }

  async install(wheel: string | URL | Uint8Array): Promise<void> {
    if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed; create a new engine`);
    if (this.language !== 'python') {
      throw new UnavailableError(`install() adds Python packages; a ${this.language} engine has none to install`);
    }
    const { readWheel } = await import('./script-files.js');
    const { bytes, name } = await readWheel(wheel);
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.enqueue(async () => {
      await this.run({ t: 'install', wheel: bytes, name, timeoutMs }, timeoutMs);
      this.wheels.push({ wheel: bytes, name });
    });
  }

  async loadFile(path: string | URL): Promise<void> {
    const { readScript } = await import('./script-files.js');
    const { code, name } = await readScript(path);
    return this.load(code, name);
  }

  async loadInit(code: string, name = 'main'): Promise<void> {
    await this.load(code, name);
    await this.callOptional('init', []);
  }

  private callOptional(fn: string, args: ScriptValue[]): Promise<void> {
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.enqueue(async () => {
      await this.run({ t: 'call', fn, args, timeoutMs, stream: this.stream, optional: true }, timeoutMs);
    });
  }

  call(fn: string, args: ScriptValue[] = [], opts?: RunOptions): Promise<ScriptValue> {
    if (typeof fn !== 'string' || !/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/.test(fn)) {
      return Promise.reject(new InvalidInputError(`call: ${JSON.stringify(fn)} is not a function name; use a name like 'area' or 'geom.area'`));
    }
    if (!Array.isArray(args)) return Promise.reject(new InvalidInputError('call: args must be an array'));
    let checked: ScriptValue[];
    let timeoutMs: number;
    try {
      checked = checkValue(args, { maxDepth: this.resolved.limits.maxValueDepth + 1, root: 'args' }) as ScriptValue[];
      timeoutMs = this.timeoutOf(opts);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(async () => {
      this.counts.calls++;
      const a = await this.run({ t: 'call', fn, args: checked, timeoutMs, stream: this.stream, optional: false }, timeoutMs);
      return a.value;
    });
  }

  async create(cls: string): Promise<RemoteObject> {
    throw new UnavailableError(`create('${cls}'): remote objects are not available in this version`);
  }

  registerHostFunction(name: string, fn: HostFunction, opts?: { capability?: string }): void {
    if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed`);
    this.registry.add(name, fn, opts?.capability);
    const names = this.registry.names();
    void this.enqueue(async () => {
      const conn = await this.connection();
      await conn.request({ t: 'setHostFunctions', names }, this.handlers());
    }).catch(() => {});
  }

  async configure(config: ScriptValue): Promise<void> {
    const checked = checkValue(config, { maxDepth: this.resolved.limits.maxValueDepth, root: 'config' });
    await this.enqueue(async () => {
      this.config = checked;
      await this.run({ t: 'setConfig', config: checked }, this.resolved.limits.timeoutMs);
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
    if (name !== undefined && !this.loads.has(name)) {
      const known = [...this.loads.keys()].join(', ') || 'none';
      return Promise.reject(new InvalidInputError(`reload: no script named '${name}' was loaded (loaded: ${known})`));
    }
    const timeoutMs = this.resolved.limits.timeoutMs;
    return this.enqueue(async () => {
      if (name !== undefined) {
        await this.run({ t: 'load', code: this.loads.get(name)!, name, timeoutMs, stream: this.stream }, timeoutMs);
        return;
      }
      await this.run({ t: 'reset' }, timeoutMs);
      for (const [n, code] of this.loads) await this.run({ t: 'load', code, name: n, timeoutMs, stream: this.stream }, timeoutMs);
    });
  }

  interrupt(): void {
    if (!this.busy || !this.current) return;
    if (this.current.canInterrupt) this.current.interrupt(InterruptReason.User);
    else {
      // No shared memory: the only way to stop running code is to kill it.
      this.lastEscalation = 'restarted';
      this.dropConnection();
    }
  }

  async stats(): Promise<EngineStats> {
    const memoryBytes = await this.enqueue(async () => {
      const conn = await this.connection();
      const a = await conn.request({ t: 'stats' }, this.handlers());
      return a.t === 'stats' ? a.memoryBytes : 0;
    });
    return { memoryBytes, ...this.counts, uptimeMs: performance.now() - this.started, lastEscalation: this.lastEscalation };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const c = this.conn;
    this.conn = undefined;
    await c?.kill().catch(() => {});
    await this.killing;
    if (this.connecting) await this.connecting.then((x) => x.kill()).catch(() => {});
    if (this.ownStore) await this.store.close().catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

function timeoutFailure(): Failed {
  return {
    t: 'failed',
    failure: { kind: 'timeout', type: 'TimeoutError', restarted: true, message: 'the script ran past its time limit; it did not stop when interrupted, so its worker was killed and restarted' },
    out: { stdout: '', stderr: '', truncated: false },
  };
}

function crashFailure(message: string): Failed {
  return { t: 'failed', failure: { kind: 'crashed', type: 'EngineCrashed', message }, out: { stdout: '', stderr: '', truncated: false } };
}
