/**
 * The engine's link to its core: the call queue, the current connection and its
 * replacement after a kill or crash (replaying installed wheels and loaded scripts), and
 * one request at a time under the escalation ladder. SandboxEngine builds the public API
 * on top of it.
 */
import type { HostCalls } from './capabilities/host-calls.js';
import type { CoreFailure, ToEngine } from './channel/protocol.js';
import type { CoreInit } from './core.js';
import type { EngineStats } from './engine.js';
import {
  AbortError, DisposedError, EngineCrashedError, InvalidInputError, MemoryLimitError, ScriptBoxError, ScriptError,
  TimeoutError, UnavailableError,
} from './errors.js';
import { requestWithin } from './escalation.js';
import type { ResolvedOptions } from './options.js';
import type { Answer, Connection, ConnectionFactory } from './placement/connection.js';
import type { HandleTable } from './remote-object.js';

let nextId = 1;

/** How one request runs: its deadline, its abort signal, the handle generation it relies on. */
export interface RunRules {
  signal?: AbortSignal | undefined;
  /** The request names handles of this generation: fail with DisposedError if the core changed. */
  generation?: number | undefined;
  /** For messages: `call('area')`, `exec`. */
  what: string;
}

type Failed = Extract<Answer, { t: 'failed' }>;

export abstract class EngineSession {
  readonly id: string;
  lastError: ScriptBoxError | null = null;
  protected conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls queued or running. */
  private pending = 0;
  protected disposed = false;
  private busy = false;
  protected readonly loads = new Map<string, string>();
  /** Installed wheels, replayed (before loaded scripts) when the engine restarts. */
  protected readonly wheels: { wheel: Uint8Array; name: string }[] = [];
  protected counts = { execs: 0, calls: 0, hostCalls: 0, restarts: 0 };
  protected lastEscalation: EngineStats['lastEscalation'] = null;
  protected lastRecovery: EngineStats['lastRecovery'] = null;
  /** When the current core was killed or found dead: recovery time counts from here. */
  private lostAt: number | undefined;
  protected abstract readonly hostCalls: HostCalls;
  protected abstract readonly handles: HandleTable;

  constructor(
    protected readonly resolved: ResolvedOptions,
    private readonly connect: ConnectionFactory,
  ) {
    this.id = `${resolved.language}-${nextId++}`;
  }

  protected abstract init(): CoreInit;

  /** Boots the first core; called once by createEngine. */
  async start(): Promise<void> {
    this.conn = await this.connect(this.init());
  }

  // ---- queue -------------------------------------------------------------------------

  /**
   * Runs `task` after every call queued before it. With a signal: aborted before its turn,
   * it is dropped without running and its promise rejects at once.
   */
  protected enqueue<T>(task: () => Promise<T>, signal?: AbortSignal, what = 'the call'): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError(`engine ${this.id} was disposed; create a new engine`));
    if (signal?.aborted) return Promise.reject(abortError(what, signal, 'before it started'));
    let started = false;
    this.pending++;
    const run = this.tail.then(() => {
      if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed before this call ran`);
      if (signal?.aborted) throw abortError(what, signal, 'while it waited in the queue');
      started = true;
      return task();
    }).finally(() => {
      // Before the caller resumes, so its next call may take the fast path (runNow).
      this.pending--;
    });
    this.tail = run.catch(() => {});
    if (!signal) return run;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!started) reject(abortError(what, signal, 'while it waited in the queue'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  protected async connection(): Promise<Connection> {
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
    const since = this.lostAt ?? performance.now();
    this.lostAt = undefined;
    await this.killing;
    this.counts.restarts++;
    this.handles.invalidate();
    const conn = await this.connect(this.init());
    const timeoutMs = this.resolved.limits.timeoutMs;
    try {
      for (const { wheel, name } of this.wheels) {
        await conn.request({ t: 'install', wheel, name, timeoutMs }, this.hostCalls.handlers());
      }
      for (const [name, code] of this.loads) {
        await conn.request({ t: 'load', code, name, timeoutMs, stream: false }, this.hostCalls.handlers());
      }
      if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed while it restarted`);
    } catch (e) {
      // Never leave a half-replayed core behind (dispose does not see it until this returns).
      await conn.kill().catch(() => {});
      throw e;
    }
    const boot = conn.boot?.restored ? 'snapshot' : 'scratch';
    this.lastRecovery = { boot, ms: performance.now() - since };
    if (this.lastEscalation === 'restarted' && boot === 'scratch') this.lastEscalation = 'cold-booted';
    return conn;
  }

  protected dropConnection(): void {
    const c = this.conn;
    this.conn = undefined;
    // Restart and dispose wait for this, so a dead worker never overlaps its replacement.
    if (c) this.killing = c.kill().catch(() => {});
    this.lost();
  }

  /**
   * The core is gone (killed or dead): start its replacement now, in the background, so
   * the next call finds it ready. A failed boot is tried again by the next call.
   */
  private lost(): void {
    this.lostAt = performance.now();
    this.lastEscalation = 'restarted';
    if (this.disposed) return;
    void this.connection().catch(() => {});
  }
  private killing: Promise<void> = Promise.resolve();

  // ---- one request ------------------------------------------------------------------

  /** Sends one request; timeouts and aborts escalate (interrupt, then kill). Throws AbortError when aborted. */
  protected async request(msg: ToEngine, timeoutMs: number, rules: RunRules): Promise<Answer> {
    const conn = await this.connection();
    if (rules.generation !== undefined && rules.generation !== this.handles.generation) {
      throw new DisposedError(`${rules.what}: its RemoteObjects were lost when the engine restarted; create the objects again`);
    }
    this.busy = true;
    this.current = conn;
    let ending;
    try {
      ending = await Promise.race([
        requestWithin(conn, msg, (stop) => this.hostCalls.handlers(stop), {
          timeoutMs,
          graceMs: this.resolved.limits.graceMs,
          signal: rules.signal,
          onInterrupt: (fire) => (this.interruptCurrent = fire),
        }),
        this.stopped,
      ]);
    } finally {
      this.busy = false;
      this.current = undefined;
      this.interruptCurrent = undefined;
    }
    switch (ending.t) {
      case 'unresponsive':
        this.dropConnection();
        if (ending.stoppedBy === 'abort') throw this.aborted(rules, 'and its worker was killed because the code did not stop');
        if (ending.stoppedBy === 'interrupt') return interruptedFailure();
        return timeoutFailure();
      case 'died':
        this.conn = undefined;
        this.lost();
        return crashFailure(ending.error.message);
      case 'broken':
        this.dropConnection();
        return crashFailure(ending.error.message);
    }
    if (ending.t === 'stopped') throw new DisposedError(`${rules.what}: engine ${this.id} was disposed while the call ran`);
    const res = ending.answer;
    this.noteAnswer(res);
    if (ending.stoppedBy === 'abort') throw this.aborted(rules, 'while it ran');
    return res;
  }

  /** What an answer says about the core: stopped in place, or to be replaced. */
  private noteAnswer(res: Answer): void {
    if (res.t !== 'failed') return;
    if (res.failure.kind === 'timeout' || res.failure.kind === 'interrupted' || res.failure.kind === 'aborted') {
      this.lastEscalation = 'interrupted';
    }
    if (res.failure.kind === 'memory' || res.failure.kind === 'crashed') this.dropConnection();
  }

  /** True when a call may take the inline fast path (runNow): nothing queued or running, a live core on this thread. */
  protected canRunNow(): boolean {
    return !!this.conn?.requestNow && this.pending === 0 && !this.busy && !this.connecting && !this.disposed;
  }

  /**
   * The inline fast path: the call runs one microtask from now (so it still queues like any
   * call, and dispose() still stops it), without timers or channel (see Connection.requestNow).
   * `fallback` is the usual path, for a core that went away meanwhile.
   */
  protected runNow(msg: Extract<ToEngine, { t: 'call' | 'callMethod' }>, fallback: () => Promise<Answer>): Promise<Answer> {
    this.pending++;
    const run = Promise.resolve()
      .then(() => {
        if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed before this call ran`);
        const conn = this.conn;
        if (!conn?.requestNow || this.busy || this.connecting) return fallback();
        this.busy = true;
        let a: Answer | Promise<Answer>;
        try {
          a = conn.requestNow(msg, this.hostCalls.handlers());
        } finally {
          this.busy = false;
        }
        if (a instanceof Promise) return a.then((x) => (this.noteAnswer(x), x));
        this.noteAnswer(a);
        return a;
      })
      .finally(() => this.pending--);
    // Calls queued behind this one wait for it.
    this.tail = run.catch(() => {});
    return run;
  }
  private current: Connection | undefined;

  private aborted(rules: RunRules, when: string): AbortError {
    const err = abortError(rules.what, rules.signal!, when);
    this.lastError = err;
    return err;
  }

  /** Maps a failure to the error class a throwing method raises. */
  protected errorOf(f: CoreFailure): ScriptBoxError {
    switch (f.kind) {
      case 'timeout':
        return new TimeoutError(f.message, f.restarted ? 'restarted' : 'interrupted');
      case 'memory':
        return new MemoryLimitError(`${f.message}; the engine was restarted`);
      case 'invalid':
        if (f.type === 'UnavailableError') return new UnavailableError(f.message);
        if (f.type === 'DisposedError') return new DisposedError(f.message);
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

  protected async run(msg: ToEngine, timeoutMs: number, rules: RunRules): Promise<Extract<Answer, { t: 'done' }>> {
    const a = await this.request(msg, timeoutMs, rules);
    if (a.t === 'done') return a;
    const err = this.errorOf((a as Failed).failure);
    this.lastError = err;
    throw err;
  }

  /**
   * Interrupts the running call in place; code that does not stop within graceMs (C code,
   * a JIT-compiled LuaJIT loop) is killed and the engine restarted, as for a timeout.
   * Without shared memory the interrupt cannot reach running code, so that kill is at once.
   */
  interrupt(): void {
    if (!this.busy || !this.current) return;
    this.interruptCurrent?.();
  }
  private interruptCurrent: (() => void) | undefined;

  /** Resolves when the engine is disposed, so a call in flight ends at once. */
  private stop!: () => void;
  private readonly stopped = new Promise<{ t: 'stopped' }>((resolve) => (this.stop = () => resolve({ t: 'stopped' })));

  /** Stops the core for good. */
  protected async stopCore(): Promise<void> {
    this.stop();
    const c = this.conn;
    this.conn = undefined;
    await c?.kill().catch(() => {});
    await this.killing;
    if (this.connecting) await this.connecting.then((x) => x.kill()).catch(() => {});
  }
}
function timeoutFailure(): Failed {
  return {
    t: 'failed',
    failure: { kind: 'timeout', type: 'TimeoutError', restarted: true, message: 'the script ran past its time limit; it did not stop when interrupted, so its worker was killed and restarted' },
    out: { stdout: '', stderr: '', truncated: false },
  };
}

function interruptedFailure(): Failed {
  return {
    t: 'failed',
    failure: { kind: 'interrupted', type: 'Interrupted', restarted: true, message: 'the script was interrupted; it did not stop within graceMs, so its worker was killed and restarted' },
    out: { stdout: '', stderr: '', truncated: false },
  };
}

function crashFailure(message: string): Failed {
  return { t: 'failed', failure: { kind: 'crashed', type: 'EngineCrashed', message }, out: { stdout: '', stderr: '', truncated: false } };
}

export function abortError(what: string, signal: AbortSignal, when: string): AbortError {
  const r = signal.reason as { message?: unknown } | undefined;
  const why = typeof r?.message === 'string' ? r.message : r === undefined ? '' : String(r);
  return new AbortError(`${what} was aborted ${when}${why ? `: ${why}` : ''}`, signal.reason);
}
