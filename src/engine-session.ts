/**
 * The engine's link to its core: the call queue, the current connection and its
 * replacement after a kill or crash (replaying installed wheels and loaded scripts), and
 * one request at a time under the escalation ladder. SandboxEngine builds the public API
 * on top of it.
 */
import type { HostCalls } from './capabilities/host-calls.js';
import type { CoreFailure, ToEngine } from './channel/protocol.js';
import type { CoreInit } from './core.js';
import type { EngineCrash, EngineStats } from './engine.js';
import {
  AbortError, DisposedError, EngineCrashedError, InvalidInputError, MemoryLimitError, ScriptBoxError, ScriptError,
  TimeoutError, UnavailableError,
} from './errors.js';
import { requestWithin, type Ending } from './escalation.js';
import type { ResolvedOptions } from './options.js';
import type { Answer, Connection, ConnectionFactory } from './placement/connection.js';
import type { HandleTable } from './remote-object.js';

let nextId = 1;

/**
 * Restarts in a row whose replay of loaded scripts failed before the engine gives up: each
 * costs up to limits.timeoutMs + graceMs plus a boot, and a script that fails to replay
 * on three fresh cores will fail on the fourth.
 */
export const MAX_FAILED_REPLAYS = 3;

/** What `stopped` resolves with once the engine is disposed. */
const STOPPED: unique symbol = Symbol('stopped');

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
  protected lastCrash: EngineCrash | null = null;
  /** Restarts in a row whose replay failed (reset by one that succeeds). */
  private failedReplays = 0;
  /** Set after MAX_FAILED_REPLAYS: every later call fails with it at once. */
  private gaveUp: EngineCrashedError | undefined;
  /** performance.now() when the engine was made (for lastCrash.atMs). */
  protected readonly createdAt = performance.now();
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
      if (this.gaveUp) throw this.gaveUp;
      if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed; create a new engine`);
      this.connecting = this.restart();
      try {
        this.conn = await this.connecting;
      } finally {
        this.connecting = undefined;
      }
    }
    return this.conn;
  }

  /**
   * A fresh core with everything replayed: host functions, config, loaded scripts. Each
   * replayed request runs under the same ladder as a call (limits.timeoutMs, interrupt,
   * kill), and dispose() ends the wait at once. A replay that fails (stuck, crashed, over
   * memory) kills the new core and throws EngineCrashedError naming the script; after
   * MAX_FAILED_REPLAYS in a row the engine gives up for good.
   */
  private async restart(): Promise<Connection> {
    const since = this.lostAt ?? performance.now();
    this.lostAt = undefined;
    await this.killing;
    this.counts.restarts++;
    this.handles.invalidate();
    const booting = this.connect(this.init());
    const booted = await Promise.race([booting, this.stopped]);
    if (booted === STOPPED) {
      // Nobody will use this core: stop it once it is up (a failed boot has nothing to stop).
      void booting.then((c) => c.kill()).catch(() => {});
      throw new DisposedError(`engine ${this.id} was disposed while it restarted`);
    }
    const conn = booted;
    const timeoutMs = this.resolved.limits.timeoutMs;
    try {
      for (const { wheel, name } of this.wheels) await this.replay(conn, { t: 'install', wheel, name, timeoutMs }, `install('${name}')`);
      for (const [name, code] of this.loads) await this.replay(conn, { t: 'load', code, name, timeoutMs, stream: false }, `load('${name}')`);
      if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed while it restarted`);
    } catch (e) {
      // Never leave a half-replayed core behind (dispose does not see it until this returns).
      await conn.kill().catch(() => {});
      if (!(e instanceof ReplayFailed)) throw e;
      this.failedReplays++;
      this.lostAt = since;
      this.lastEscalation = 'restarted';
      this.noteCrash('replay', `replay ${e.what}`, e.why);
      const tried = `replaying ${e.what} on a new core failed: ${e.why}`;
      if (this.failedReplays >= MAX_FAILED_REPLAYS) {
        this.gaveUp = new EngineCrashedError(
          `engine ${this.id} gave up restarting after ${this.failedReplays} failed attempts in a row; ${tried}. A loaded script must load the same way on every restart: dispose this engine and create a new one`,
        );
        throw this.gaveUp;
      }
      throw new EngineCrashedError(
        `engine ${this.id} could not restart (attempt ${this.failedReplays} of ${MAX_FAILED_REPLAYS}); ${tried}. The next call tries again; make the script load the same way every time`,
      );
    }
    this.failedReplays = 0;
    const boot = conn.boot?.restored ? 'snapshot' : 'scratch';
    this.lastRecovery = { boot, ms: performance.now() - since };
    if (this.lastEscalation === 'restarted' && boot === 'scratch') this.lastEscalation = 'cold-booted';
    return conn;
  }

  /** One replayed request on a new core, under the ladder. Throws ReplayFailed unless the core is still good. */
  private async replay(conn: Connection, msg: ToEngine, what: string): Promise<void> {
    const timeoutMs = this.resolved.limits.timeoutMs;
    const ending = await Promise.race([
      requestWithin(conn, msg, (stop) => this.hostCalls.handlers(stop), { timeoutMs, graceMs: this.resolved.limits.graceMs }),
      this.stopped,
    ]);
    if (ending === STOPPED) throw new DisposedError(`engine ${this.id} was disposed while it replayed ${what}`);
    if (ending.t === 'answer') {
      const a = ending.answer;
      // A script error leaves the core usable (the script lacks what it failed to define), as a first load would.
      if (a.t === 'done' || (a.t === 'failed' && a.failure.kind === 'script')) return;
      throw new ReplayFailed(what, a.t === 'failed' ? `${a.failure.type}: ${a.failure.message}` : `the engine answered '${a.t}'`);
    }
    throw new ReplayFailed(what, describeEnding(ending, timeoutMs));
  }

  /** Records why the core was lost, for stats().lastCrash. */
  protected noteCrash(kind: EngineCrash['kind'], during: string, message: string): void {
    this.lastCrash = { kind, during, message: message.slice(0, 1000), atMs: performance.now() - this.createdAt };
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
    let conn: Connection;
    try {
      conn = await this.connection();
    } catch (e) {
      // A restart that failed (or gave up): the caller learns why, and so does lastError.
      if (e instanceof ScriptBoxError && !(e instanceof DisposedError)) this.lastError = e;
      throw e;
    }
    if (rules.generation !== undefined && rules.generation !== this.handles.generation) {
      throw new DisposedError(`${rules.what}: its RemoteObjects were lost when the engine restarted; create the objects again`);
    }
    this.busy = true;
    this.current = conn;
    let ending: Ending | typeof STOPPED;
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
    if (ending !== STOPPED && ending.t !== 'answer') {
      this.noteCrash(ending.t === 'unresponsive' ? 'killed' : ending.t === 'died' ? 'died' : 'malformed', rules.what, describeEnding(ending, timeoutMs));
    }
    if (ending === STOPPED) throw new DisposedError(`${rules.what}: engine ${this.id} was disposed while the call ran`);
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
        return crashFailure(crashText(ending.error));
    }
    const res = ending.answer;
    if (res.t !== 'failed' && (msg.t === 'stats') !== (res.t === 'stats')) {
      // A well-formed message at the wrong moment is still not the protocol: the core is broken.
      const message = `the engine answered '${res.t}' to a '${msg.t}' request`;
      this.noteCrash('malformed', rules.what, message);
      this.dropConnection();
      return crashFailure(message);
    }
    this.noteAnswer(res, rules.what);
    if (ending.stoppedBy === 'abort') throw this.aborted(rules, 'while it ran');
    return res;
  }

  /** What an answer says about the core: stopped in place, or to be replaced. */
  private noteAnswer(res: Answer, what: string): void {
    if (res.t !== 'failed') return;
    if (res.failure.kind === 'timeout' || res.failure.kind === 'interrupted' || res.failure.kind === 'aborted') {
      this.lastEscalation = 'interrupted';
    }
    if (res.failure.kind === 'memory' || res.failure.kind === 'crashed') {
      this.noteCrash(res.failure.kind, what, res.failure.message);
      this.dropConnection();
    }
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
        if (a instanceof Promise) return a.then((x) => (this.noteAnswer(x, msg.t), x));
        this.noteAnswer(a, msg.t);
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

  /** Resolves when the engine is disposed, so a call (or a replay) in flight ends at once. */
  private stop!: () => void;
  private readonly stopped = new Promise<typeof STOPPED>((resolve) => (this.stop = () => resolve(STOPPED)));

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
  return { t: 'failed', failure: { kind: 'crashed', type: 'EngineCrashedError', message }, out: { stdout: '', stderr: '', truncated: false } };
}

/** A broken channel's error as text: a placement's EngineCrashedError as is, anything else named as a broken connection. */
function crashText(e: unknown): string {
  if (e instanceof EngineCrashedError) return e.message;
  const err = e as { name?: unknown; message?: unknown } | undefined;
  const why = `${typeof err?.name === 'string' ? err.name : 'Error'}: ${typeof err?.message === 'string' ? err.message : String(e)}`;
  return `the connection to the engine broke (${why.slice(0, 500)}); the engine restarts on the next call`;
}

/** What a request's non-answer ending means, in words. */
function describeEnding(ending: Exclude<Ending, { t: 'answer' }>, timeoutMs: number): string {
  switch (ending.t) {
    case 'unresponsive':
      return ending.stoppedBy === 'timeout'
        ? `it ran past its ${timeoutMs} ms limit and did not stop when interrupted, so its worker was killed`
        : `it was stopped (${ending.stoppedBy}) and did not stop when interrupted, so its worker was killed`;
    case 'died':
      return `the engine's worker or process died: ${ending.error.message}`;
    case 'broken':
      return crashText(ending.error);
  }
}

/** A replayed script or wheel that left the new core unusable. */
class ReplayFailed extends Error {
  constructor(
    readonly what: string,
    readonly why: string,
  ) {
    super(`replaying ${what} failed: ${why}`);
  }
}

export function abortError(what: string, signal: AbortSignal, when: string): AbortError {
  const r = signal.reason as { message?: unknown } | undefined;
  const why = typeof r?.message === 'string' ? r.message : r === undefined ? '' : String(r);
  return new AbortError(`${what} was aborted ${when}${why ? `: ${why}` : ''}`, signal.reason);
}
