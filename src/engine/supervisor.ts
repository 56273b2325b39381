/**
 * The core supervisor: one engine's link to its core. It owns the call queue, the current
 * connection and its replacement after a kill or crash (replaying installed wheels and
 * loaded scripts), and runs one request at a time under the escalation ladder. The public
 * Engine composes it with a handle table and the host-call server; the supervisor knows
 * them only through the narrow {@link SupervisorParts} below.
 */
import type { ToEngine } from '../channel/protocol.js';
import type { CoreInit } from '../core.js';
import { AbortError, DisposedError, EngineCrashedError, InvalidInputError, ScriptBoxError, UnavailableError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { Answer, Connection, ConnectionFactory, RequestHandlers } from '../placement/connection.js';
import { requestWithin, type Ending } from './escalation.js';
import type { RequestStop } from './request-stop.js';
import { Ending as Stopping } from '../ending.js';
import { endedError, errorOf } from './failures.js';
import type { EngineCrash, EngineStats } from './types.js';

/**
 * Restarts in a row whose replay of loaded scripts failed before the engine gives up: each
 * costs up to limits.timeoutMs + graceMs plus a boot, and a script that fails to replay
 * on three fresh cores will fail on the fourth.
 */
export const MAX_FAILED_REPLAYS = 3;

/** What `stopped` ends with once the engine is disposed. */
const STOPPED: unique symbol = Symbol('stopped');

/** What the killed-core endings tell the caller (and `exec` reports as its error message). */
const KILLED = {
  timeout: 'the script ran past its time limit; it did not stop when interrupted, so its worker was killed and restarted',
  interrupted: 'the script was interrupted; it did not stop within graceMs, so its worker was killed and restarted',
} as const;

/** How one request runs: its abort signal, the handle generation it relies on, its name. */
export interface RunRules {
  signal?: AbortSignal | undefined;
  /** The request names handles of this generation: fail with DisposedError if the core changed. */
  generation?: number | undefined;
  /** For messages: `call('area')`, `exec`. */
  what: string;
}

/** What the supervisor needs from the engine around it. */
export interface SupervisorParts {
  readonly id: string;
  readonly resolved: ResolvedOptions;
  readonly connect: ConnectionFactory;
  /** What a new core boots with (the host functions and config as they are now). */
  init(): CoreInit;
  /** The host-call server: serves the core's host calls and output for one request (`stop` rejects when it is stopped). */
  readonly hostCalls: { handlers(stop?: RequestStop): RequestHandlers };
  /** The handle table's generation, and its reset when the core's table is emptied. */
  readonly handles: { readonly generation: number; invalidate(): void };
}

type Done = Extract<Answer, { t: 'done' }>;
type Call = Extract<ToEngine, { t: 'call' | 'callMethod' }>;

export class Supervisor {
  /** The last failure of any request (see ScriptEngine.lastError). */
  lastError: ScriptBoxError | null = null;
  /** Set by dispose(): nothing new runs, and a request in flight ends at once. */
  disposed = false;
  restarts = 0;
  lastEscalation: EngineStats['lastEscalation'] = null;
  lastRecovery: EngineStats['lastRecovery'] = null;
  lastCrash: EngineCrash | null = null;
  /** Loaded scripts by name, replayed (in load order) when the core is replaced. */
  readonly loads = new Map<string, string>();
  /** Installed wheels, replayed (before loaded scripts) when the core is replaced. */
  readonly wheels: { wheel: Uint8Array; name: string }[] = [];

  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private killing: Promise<void> = Promise.resolve();
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls queued or running. */
  private pending = 0;
  private busy = false;
  /** Interrupts the running request (set while one runs). */
  private interruptCurrent: (() => void) | undefined;
  /** Restarts in a row whose replay failed (reset by one that succeeds). */
  private failedReplays = 0;
  /** Set after MAX_FAILED_REPLAYS: every later call fails with it at once. */
  private gaveUp: EngineCrashedError | undefined;
  /** performance.now() when the engine was made (for lastCrash.atMs). */
  private readonly createdAt = performance.now();
  /** When the current core was killed or found dead: recovery time counts from here. */
  private lostAt: number | undefined;
  /** Ends when the engine is disposed, so a call (or a replay) in flight ends at once (an Ending: raced by every call). */
  private readonly stopped = new Stopping<typeof STOPPED>();
  private stop(): void {
    this.stopped.end(STOPPED);
  }

  constructor(private readonly parts: SupervisorParts) {}

  private get id(): string {
    return this.parts.id;
  }

  /** The current core's boot report (snapshot use, native isolation), if a core is up. */
  get boot(): Connection['boot'] {
    return this.conn?.boot;
  }

  /** True while a core is up (not killed, not being replaced). */
  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** Boots the first core; called once by createEngine. */
  async start(): Promise<void> {
    this.conn = await this.parts.connect(this.parts.init());
  }

  /**
   * Replaces the core's state with a session payload (engine.restore, inside a queued
   * task). `inPlace`: the core restores it in its own memory (Lua: 'send' it; Python:
   * the payload the core booted from, 'kept' there); a refusal is thrown
   * as is, and any other failure falls back to a new core. Otherwise a new core boots from
   * the payload and replaces the old one only once it is up, so a payload that fails to
   * boot leaves the engine as it was. Either way the handles and the replay list start
   * over: the payload is the state now.
   */
  async replaceState(payload: Uint8Array, inPlace: 'send' | 'kept' | false): Promise<void> {
    const { timeoutMs } = this.parts.resolved.limits;
    let done = false;
    if (inPlace && this.conn) {
      try {
        // 'kept': the core restores the payload it booted from, so it does not cross again.
        await this.run(inPlace === 'kept' ? { t: 'restoreSession' } : { t: 'restoreSession', payload }, timeoutMs, { what: 'restore()' });
        done = true;
      } catch (e) {
        if (e instanceof InvalidInputError || e instanceof DisposedError) throw e;
        // The core broke while restoring (it is being replaced): a new one boots from the payload below.
      }
    }
    if (!done) {
      // A core being replaced in the background (after a crash) is the old one here, once it is up.
      if (this.connecting) await this.connecting.catch(() => undefined);
      await this.killing;
      const booting = this.parts.connect({ ...this.parts.init(), session: payload });
      const conn = await this.stopped.race(booting, (): typeof STOPPED => STOPPED);
      if (conn === STOPPED) {
        // Nobody will use this core: stop it once it is up (a boot that fails has nothing to stop).
        void booting.then((c) => c.kill()).catch(() => undefined);
        throw new DisposedError(`engine ${this.id} was disposed while it restored a snapshot`);
      }
      const old = this.conn;
      this.conn = conn;
      // The old core is abandoned either way: a kill that fails changes nothing.
      if (old) this.killing = old.kill().catch(() => undefined);
    }
    this.loads.clear();
    this.wheels.length = 0;
    this.parts.handles.invalidate();
  }

  /** Records `err` as the engine's last error and returns it, for `throw`. */
  failed<E extends ScriptBoxError>(err: E): E {
    this.lastError = err;
    return err;
  }

  // ---- queue -------------------------------------------------------------------------

  /**
   * Runs `task` after every call queued before it. With a signal: aborted before its turn,
   * it is dropped without running and its promise rejects at once.
   */
  enqueue<T>(task: () => Promise<T>, signal?: AbortSignal, what = 'the call'): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError(`engine ${this.id} was disposed; create a new engine`));
    if (signal?.aborted) return Promise.reject(abortError(what, signal, 'before it started'));
    let started = false;
    this.pending++;
    const run = this.tail
      .then(() => {
        if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed before this call ran`);
        if (signal?.aborted) throw abortError(what, signal, 'while it waited in the queue');
        started = true;
        return task();
      })
      .finally(() => {
        // Before the caller resumes, so its next call may take the fast path (runNow).
        this.pending--;
      });
    // The queue only orders calls: each call's own promise carries its failure to its caller.
    this.tail = run.catch(() => undefined);
    if (!signal) return run;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!started) reject(abortError(what, signal, 'while it waited in the queue'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  // ---- the core and its replacement ----------------------------------------------------

  private async connection(): Promise<Connection> {
    // A failed restart is reported to the call that started it; this call tries again below.
    if (this.connecting) await this.connecting.catch(() => undefined);
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
    this.restarts++;
    this.parts.handles.invalidate();
    const booting = this.parts.connect(this.parts.init());
    const booted = await this.stopped.race(booting, (): typeof STOPPED => STOPPED);
    if (booted === STOPPED) {
      // Nobody will use this core: stop it once it is up. A boot that fails has nothing to
      // stop, and its error has no caller left (the engine is disposed).
      void booting.then((c) => c.kill()).catch(() => undefined);
      throw new DisposedError(`engine ${this.id} was disposed while it restarted`);
    }
    const conn = booted;
    const timeoutMs = this.parts.resolved.limits.timeoutMs;
    try {
      for (const { wheel, name } of this.wheels) await this.replay(conn, { t: 'install', wheel, name, timeoutMs }, `install('${name}')`);
      for (const [name, code] of this.loads)
        await this.replay(conn, { t: 'load', code, name, timeoutMs, stream: false }, `load('${name}')`);
      if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed while it restarted`);
    } catch (e) {
      // Never leave a half-replayed core behind (dispose does not see it until this returns).
      // A kill that fails leaves nothing to do: the core is abandoned either way.
      await conn.kill().catch(() => undefined);
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
    const { timeoutMs, graceMs } = this.parts.resolved.limits;
    const ending = await this.stopped.race(
      requestWithin(conn, msg, (stop) => this.parts.hostCalls.handlers(stop), { timeoutMs, graceMs }),
      (): typeof STOPPED => STOPPED,
    );
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
  private noteCrash(kind: EngineCrash['kind'], during: string, message: string): void {
    this.lastCrash = { kind, during, message: message.slice(0, 1000), atMs: performance.now() - this.createdAt };
  }

  /** Kills the current core (it is broken or stuck); the next call gets a new one. */
  dropConnection(): void {
    const c = this.conn;
    this.conn = undefined;
    // Restart and dispose wait for this, so a dead worker never overlaps its replacement.
    // A kill that fails leaves nothing to undo: the core is abandoned either way.
    if (c) this.killing = c.kill().catch(() => undefined);
    this.lost();
  }

  /**
   * The core is gone (killed or dead): start its replacement now, in the background, so
   * the next call finds it ready. A failed boot is tried again (and reported) by the next call.
   */
  private lost(): void {
    this.lostAt = performance.now();
    this.lastEscalation = 'restarted';
    if (this.disposed) return;
    void this.connection().catch(() => undefined);
  }

  // ---- one request ------------------------------------------------------------------

  /**
   * Sends one request under the ladder: timeouts and aborts escalate (interrupt, then kill).
   * Resolves with the core's answer. When the host ended the request itself it throws that
   * error's class directly: AbortError (aborted), TimeoutError / InterruptedError (the code
   * ignored the stop and its core was killed), EngineCrashedError (the core died, broke the
   * protocol), DisposedError (the engine was disposed meanwhile).
   */
  async request(msg: ToEngine, timeoutMs: number, rules: RunRules): Promise<Answer> {
    let conn: Connection;
    try {
      conn = await this.connection();
    } catch (e) {
      // A restart that failed (or gave up): the caller learns why, and so does lastError.
      if (e instanceof ScriptBoxError && !(e instanceof DisposedError)) this.lastError = e;
      throw e;
    }
    if (rules.generation !== undefined && rules.generation !== this.parts.handles.generation) {
      throw new DisposedError(`${rules.what}: its RemoteObjects were lost when the engine restarted; create the objects again`);
    }
    this.busy = true;
    let ending: Ending | typeof STOPPED;
    try {
      ending = await this.stopped.race(
        requestWithin(conn, msg, (stop) => this.parts.hostCalls.handlers(stop), {
          timeoutMs,
          graceMs: this.parts.resolved.limits.graceMs,
          signal: rules.signal,
          onInterrupt: (fire) => (this.interruptCurrent = fire),
        }),
        (): typeof STOPPED => STOPPED,
      );
    } finally {
      this.busy = false;
      this.interruptCurrent = undefined;
    }
    if (ending === STOPPED) throw new DisposedError(`${rules.what}: engine ${this.id} was disposed while the call ran`);
    if (ending.t !== 'answer') {
      this.noteCrash(
        ending.t === 'unresponsive' ? 'killed' : ending.t === 'died' ? 'died' : 'malformed',
        rules.what,
        describeEnding(ending, timeoutMs),
      );
    }
    switch (ending.t) {
      case 'unresponsive':
        this.dropConnection();
        if (ending.stoppedBy === 'abort') throw this.aborted(rules, 'and its worker was killed because the code did not stop');
        if (ending.stoppedBy === 'interrupt') throw this.failed(endedError('interrupted', KILLED.interrupted));
        throw this.failed(endedError('timeout', KILLED.timeout));
      case 'died':
        this.conn = undefined;
        this.lost();
        throw this.failed(endedError('crashed', ending.error.message));
      case 'broken':
        this.dropConnection();
        throw this.failed(endedError('crashed', crashText(ending.error)));
    }
    const res = ending.answer;
    if (res.t !== 'failed' && (msg.t === 'stats') !== (res.t === 'stats')) {
      // A well-formed message at the wrong moment is still not the protocol: the core is broken.
      const message = `the engine answered '${res.t}' to a '${msg.t}' request`;
      this.noteCrash('malformed', rules.what, message);
      this.dropConnection();
      throw this.failed(endedError('crashed', message));
    }
    this.noteAnswer(res, rules.what);
    if (ending.stoppedBy === 'abort') throw this.aborted(rules, 'while it ran');
    return res;
  }

  /** One request whose answer must be `done`: a failure the core reports is thrown as its error class. */
  async run(msg: ToEngine, timeoutMs: number, rules: RunRules): Promise<Done> {
    return this.done(await this.request(msg, timeoutMs, rules));
  }

  /** The answer as a `done`, or its failure thrown (and recorded in lastError). */
  done(a: Answer): Done {
    if (a.t === 'done') return a;
    if (a.t === 'failed') throw this.failed(errorOf(a.failure));
    throw this.failed(new EngineCrashedError(`unexpected answer ${a.t}`));
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

  // ---- the inline fast path -------------------------------------------------------------

  /**
   * Handlers for requests run on the caller's thread (runNow, runSync): made once, as they
   * read the host-call settings when called and hold no per-request state (no stop).
   */
  private nowHandlers: RequestHandlers | undefined;

  private get handlersNow(): RequestHandlers {
    return (this.nowHandlers ??= this.parts.hostCalls.handlers());
  }

  /** True when a call may take the inline fast path (runNow): nothing queued or running, a live core on this thread. */
  canRunNow(): boolean {
    return !!this.conn?.requestNow && this.pending === 0 && !this.busy && !this.connecting && !this.disposed;
  }

  /**
   * The inline fast path: the call runs one microtask from now (so it still queues like any
   * call, and dispose() still stops it), without timers or channel (see Connection.requestNow).
   * `fallback` is the usual path, for a core that went away meanwhile.
   */
  /** One call on the caller's thread, the engine busy while it runs. */
  private requestNow(conn: Connection, msg: Call): Answer | Promise<Answer> {
    this.busy = true;
    try {
      return conn.requestNow!(msg, this.handlersNow);
    } finally {
      this.busy = false;
    }
  }

  runNow(msg: Call, fallback: () => Promise<Answer>): Promise<Answer> {
    this.pending++;
    const run = Promise.resolve()
      .then(() => {
        if (this.disposed) throw new DisposedError(`engine ${this.id} was disposed before this call ran`);
        const conn = this.conn;
        if (!conn?.requestNow || this.busy || this.connecting) return fallback();
        const a = this.requestNow(conn, msg);
        if (a instanceof Promise) return a.then((x) => (this.noteAnswer(x, msg.t), x));
        this.noteAnswer(a, msg.t);
        return a;
      })
      .finally(() => this.pending--);
    // Calls queued behind this one wait for it; its own promise carries its failure to its caller.
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * The synchronous sibling of runNow (engine.callSync): runs `msg` on the caller's thread
   * and returns the core's answer before returning, or throws why it cannot run now. It
   * never waits: another call queued or running, a core being replaced, a placement whose
   * core is not on this thread, each throws (UnavailableError; DisposedError once disposed).
   * The core keeps its own deadline, so timeouts still apply.
   */
  runSync(msg: Call, what: () => string): Answer {
    if (this.disposed) throw new DisposedError(`${what()}: engine ${this.id} was disposed; create a new engine`);
    const conn = this.conn;
    if (this.pending !== 0 || this.busy) {
      throw new UnavailableError(
        `${what()}: another call on engine ${this.id} is queued or running, and callSync never waits; await that call first, or use await engine.call(...)`,
      );
    }
    if (!conn || this.connecting) {
      if (this.gaveUp) throw this.gaveUp;
      throw new UnavailableError(
        `${what()}: engine ${this.id} is restarting (its core is being replaced), and callSync never waits; use await engine.call(...), which waits for the new core`,
      );
    }
    if (!conn.requestNow) {
      throw new UnavailableError(
        `${what()}: callSync runs only on placement 'inline' engines (this engine is '${conn.placement}'); use await engine.call(...)`,
      );
    }
    const a = this.requestNow(conn, msg);
    if (a instanceof Promise) return this.settleLater(a, msg.t, what);
    this.noteAnswer(a, msg.t);
    return a;
  }

  /**
   * A core answered a synchronous call asynchronously (no inline core does: inline cores
   * have no non-blocking wait). The request still runs: calls after it wait for it as for
   * any queued call, and the caller is told to use call().
   */
  private settleLater(a: Promise<Answer>, during: string, what: () => string): never {
    this.pending++;
    const settled = a.then((x) => this.noteAnswer(x, during)).finally(() => this.pending--);
    // Its answer has no caller left (it was refused below): the queue only waits for it.
    this.tail = settled.catch(() => undefined);
    throw new UnavailableError(
      `${what()}: the engine's core answered asynchronously, so callSync cannot return its value; use await engine.call(...)`,
    );
  }

  private aborted(rules: RunRules, when: string): AbortError {
    return this.failed(abortError(rules.what, rules.signal!, when));
  }

  // ---- stopping -----------------------------------------------------------------------

  /**
   * Interrupts the running call in place; code that does not stop within graceMs (C code,
   * a JIT-compiled LuaJIT loop) is killed and the engine restarted, as for a timeout.
   * Without shared memory the interrupt cannot reach running code, so that kill is at once.
   */
  interrupt(): void {
    if (this.busy) this.interruptCurrent?.();
  }

  /** Stops the core for good: a request in flight rejects with DisposedError at once. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.stop();
    const c = this.conn;
    this.conn = undefined;
    // The engine is going away: a core that fails to die has no one left to tell.
    await c?.kill().catch(() => undefined);
    await this.killing;
    // A restart in flight: kill its core once it is up; its failure, if any, was the restart's to report.
    if (this.connecting) await this.connecting.then((x) => x.kill()).catch(() => undefined);
  }
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
