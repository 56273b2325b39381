/**
 * EnginePool (DESIGN §2 `createPool`, docs/pools.md): warm engines handed out one caller at
 * a time, a bounded wait queue, recycling, and supervision (idle health checks; engines
 * whose worker or process died are healed before anyone gets them again).
 */
import type { EngineOptions, Language, ScriptEngine } from '../engine/types.js';
import { AbortError, DisposedError, InvalidInputError, QueueFullError } from '../errors.js';
import { FACTORY, requireFactory, type FactoryToken } from '../factory-token.js';
import { Histogram, type HistogramSnapshot } from '../histogram.js';
import { toSessionSnapshot, type SessionSnapshot } from '../session/snapshot.js';
import { splitPoolOptions, type ResolvedPoolOptions } from './pool-options.js';

export type { PoolOptions } from './pool-options.js';

export interface PoolStats {
  /** Engines alive (idle + busy), and those still booting. */
  engines: number;
  idle: number;
  busy: number;
  starting: number;
  /** Callers waiting for an engine. */
  queued: number;
  runs: number;
  /** Runs whose function threw. */
  failedRuns: number;
  /** Engines whose worker or process was replaced under a lease, or that failed a health check. */
  crashes: number;
  /** Engines retired: recycled, `reset: 'fresh'`, idle timeout, failed health check. */
  retired: number;
  /** Engines put back to the template after a run (`reset: 'template'`). */
  restored: number;
  healthChecks: number;
  /** Time from acquire() to getting an engine. */
  waitMs: HistogramSnapshot;
  /** Time an engine was held (run() or acquire() -> release()). */
  runMs: HistogramSnapshot;
}

interface Slot {
  engine: ScriptEngine;
  born: number;
  runs: number;
  busy: boolean;
  idleSince: number;
  /** engine.lastError when it was handed out: a new one may mean its core was replaced. */
  errorAtLease: unknown;
  /** stats().restarts when last looked at. */
  restarts: number;
  leasedAt: number;
}

interface Waiter {
  give(slot: Slot): void;
  fail(e: Error): void;
}

type Create = (language: Language, options: EngineOptions) => Promise<ScriptEngine>;

/** The probe a health check runs: a trailing expression in both languages. */
const PROBE = '1';

export class EnginePool implements AsyncDisposable {
  private readonly slots = new Map<ScriptEngine, Slot>();
  private idle: Slot[] = [];
  private readonly waiters: Waiter[] = [];
  private starting = 0;
  private state: 'open' | 'draining' | 'closed' = 'open';
  private drained: (() => void) | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  private lastHealth = performance.now();
  private startError: Error | undefined;
  private readonly counts = { runs: 0, failedRuns: 0, crashes: 0, retired: 0, restored: 0, healthChecks: 0 };
  private readonly waitMs = new Histogram();
  private readonly runMs = new Histogram();

  private constructor(
    token: FactoryToken,
    readonly language: Language,
    private readonly o: ResolvedPoolOptions,
    private readonly engineOptions: EngineOptions,
    private readonly create: Create,
    /** The snapshot engines start from and (`reset: 'template'`) go back to. */
    private readonly template: SessionSnapshot | undefined,
  ) {
    // JavaScript can call a private constructor: refuse before a timer or engine starts.
    requireFactory(token, 'EnginePool', 'await createPool(language, options)');
    const tick = Math.max(50, Math.min(o.healthCheckMs, o.idleTimeoutMs) / 2);
    this.timer = setInterval(() => void this.sweep(), tick);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Checks the options, boots `min` engines, and resolves when they answer. */
  static async start(language: Language, options: unknown, create: Create): Promise<EnginePool> {
    const { pool, engine } = splitPoolOptions(options);
    // Read once (bytes are checked here); each engine checks it against itself when it boots.
    const template = pool.template === undefined ? undefined : await toSessionSnapshot(pool.template, 'pool option template');
    const p = new EnginePool(FACTORY, language, pool, template ? { ...engine, restore: template } : engine, create, template);
    try {
      // The first engine also proves the engine options: a bad one fails createPool itself.
      const first = await p.boot();
      p.offer(first);
      await Promise.all(Array.from({ length: Math.max(0, pool.min - 1) }, () => p.boot().then((s) => p.offer(s))));
    } catch (e) {
      await p.dispose();
      throw e;
    }
    return p;
  }

  // ---- engines ------------------------------------------------------------------------

  private boot(): Promise<Slot> {
    return this.track(this.bootOne());
  }

  private async bootOne(): Promise<Slot> {
    this.starting++;
    try {
      const engine = await this.create(this.language, this.engineOptions);
      try {
        if (this.o.init !== undefined) await engine.loadInit(this.o.init, 'init');
        // A first exec costs a few ms (code paths on both sides run for the first time):
        // paid here, not by the first caller.
        await engine.exec(PROBE, { timeoutMs: 5000 });
      } catch (e) {
        await engine.dispose();
        throw e;
      }
      const slot: Slot = {
        engine,
        born: performance.now(),
        runs: 0,
        busy: false,
        idleSince: 0,
        errorAtLease: null,
        leasedAt: 0,
        restarts: 0,
      };
      this.slots.set(engine, slot);
      return slot;
    } finally {
      this.starting--;
    }
  }

  /** Starts engines for waiting callers and up to `min`, within `max`. */
  private grow(): void {
    if (this.state === 'closed') return;
    const wanted = Math.max(this.o.min - this.slots.size, this.waiters.length - this.idle.length);
    while (this.starting < wanted && this.slots.size + this.starting < this.o.max) {
      this.boot().then(
        (slot) => this.offer(slot),
        (e: Error) => {
          this.startError = e;
          // Nothing else will serve the waiters: tell the first one why.
          if (this.slots.size === 0 && this.starting === 0) this.waiters.shift()?.fail(e);
        },
      );
    }
  }

  /** Hands a ready engine to the first waiter, or parks it. */
  private offer(slot: Slot): void {
    if (this.state === 'closed' || (this.state === 'draining' && this.waiters.length === 0)) {
      void this.retire(slot, false);
      return;
    }
    const w = this.waiters.shift();
    if (w) w.give(slot);
    else {
      slot.idleSince = performance.now();
      this.idle.push(slot);
    }
    this.checkDrained();
  }

  /** Boots and disposals under way; dispose() waits for them. */
  private readonly pending = new Set<Promise<unknown>>();
  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.then(
      () => this.pending.delete(p),
      () => this.pending.delete(p),
    );
    return p;
  }

  private retire(slot: Slot, replace = true): Promise<void> {
    return this.track(this.retireOne(slot, replace));
  }

  private async retireOne(slot: Slot, replace: boolean): Promise<void> {
    this.slots.delete(slot.engine);
    this.idle = this.idle.filter((s) => s !== slot);
    this.counts.retired++;
    // Engine.dispose settles every call and frees its worker or process even when it
    // rejects; the pool has let go of the engine either way, so there is nobody to tell.
    await slot.engine.dispose().catch(() => {});
    if (replace) this.grow();
    this.checkDrained();
  }

  // ---- leases -------------------------------------------------------------------------

  private lease(slot: Slot, queuedAt: number): ScriptEngine {
    slot.busy = true;
    slot.leasedAt = performance.now();
    slot.errorAtLease = slot.engine.lastError;
    this.waitMs.record(slot.leasedAt - queuedAt);
    return slot.engine;
  }

  /**
   * Takes an engine for your own use; give it back with `release(engine)`. Waits (in
   * arrival order) when all `max` engines are busy; `signal` gives up waiting.
   */
  acquire(opts?: { signal?: AbortSignal }): Promise<ScriptEngine> {
    const signal = opts?.signal;
    if (this.state !== 'open')
      return Promise.reject(new DisposedError(`the pool was ${this.state === 'closed' ? 'closed' : 'drained'}; create a new pool`));
    if (signal?.aborted) return Promise.reject(new AbortError('pool.acquire was aborted before it started', signal.reason));
    const queuedAt = performance.now();
    const ready = this.idle.pop(); // the most recently used engine is the warmest
    if (ready) return Promise.resolve(this.lease(ready, queuedAt));
    if (this.waiters.length >= this.o.maxQueue) {
      return Promise.reject(
        new QueueFullError(
          `the pool's queue is full (maxQueue ${this.o.maxQueue}, all ${this.o.max} engines busy); retry later, or raise max or maxQueue`,
        ),
      );
    }
    return new Promise<ScriptEngine>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AbortError('pool.acquire was aborted while it waited for an engine', signal!.reason));
      };
      const waiter: Waiter = {
        give: (slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.lease(slot, queuedAt));
        },
        fail: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.grow();
    });
  }

  /** Gives back an engine from `acquire`. It is healed, recycled or replaced as needed. */
  async release(engine: ScriptEngine): Promise<void> {
    const slot = this.slots.get(engine);
    // dispose() already let go of every engine, leased ones included.
    if (!slot && this.state === 'closed') return;
    if (!slot || !slot.busy) {
      throw new InvalidInputError(`release: engine ${engine?.id} is not leased from this pool (release each acquired engine once)`);
    }
    slot.busy = false;
    slot.runs++;
    this.runMs.record(performance.now() - slot.leasedAt);
    const age = performance.now() - slot.born;
    if (this.state === 'closed' || this.o.reset === 'fresh' || slot.runs >= this.o.recycleExecs || age >= this.o.recycleMs) {
      await this.retire(slot);
      return;
    }
    if (this.o.reset === 'template') {
      // Put back in the background: the caller does not wait, and nobody gets the engine meanwhile.
      void this.track(this.backToTemplate(slot));
      return;
    }
    if (engine.lastError !== slot.errorAtLease) {
      // Something failed under this lease. If the worker or process was replaced, this
      // boots the new one now rather than on the next caller's time.
      try {
        const { restarts } = await engine.stats();
        if (restarts > slot.restarts) this.counts.crashes++;
        slot.restarts = restarts;
      } catch {
        // An engine that cannot report its stats is not healthy: replace it.
        await this.retire(slot);
        return;
      }
    }
    this.offer(slot);
  }

  /** `reset: 'template'`: the engine's state replaced by the template's, then offered again (or replaced if that fails). */
  private async backToTemplate(slot: Slot): Promise<void> {
    try {
      await slot.engine.restore(this.template!);
    } catch {
      // An engine that cannot go back to the template is replaced by one that starts from it.
      await this.retire(slot);
      return;
    }
    this.counts.restored++;
    this.offer(slot);
  }

  /**
   * Runs `fn` with an engine and releases it after, even when `fn` throws. Aborting
   * `signal` gives up waiting for an engine, or interrupts the engine's running call;
   * pass `signal` on to your calls (`engine.call(fn, args, { signal })`) to abort them.
   */
  async run<T>(fn: (engine: ScriptEngine, signal?: AbortSignal) => Promise<T> | T, opts?: { signal?: AbortSignal }): Promise<T> {
    if (typeof fn !== 'function') throw new InvalidInputError('pool.run takes a function: pool.run((engine) => engine.call(...))');
    const signal = opts?.signal;
    const engine = await this.acquire(signal ? { signal } : undefined);
    const onAbort = () => engine.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.counts.runs++;
    try {
      return await fn(engine, signal);
    } catch (e) {
      this.counts.failedRuns++;
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.release(engine);
    }
  }

  // ---- supervision ------------------------------------------------------------------

  private async sweep(): Promise<void> {
    if (this.state === 'closed') return;
    const now = performance.now();
    // Idle engines above min, unused for idleTimeoutMs, are let go (oldest idle first).
    for (const slot of [...this.idle]) {
      if (this.slots.size <= this.o.min) break;
      if (now - slot.idleSince >= this.o.idleTimeoutMs) await this.retire(slot, false);
    }
    if (now - this.lastHealth < this.o.healthCheckMs) return;
    this.lastHealth = now;
    for (const slot of this.idle.splice(0)) {
      slot.busy = true;
      this.counts.healthChecks++;
      const ok = await slot.engine
        .exec(PROBE, { timeoutMs: 5000 })
        .then((r) => r.success && r.value === 1)
        // A probe that throws is a failed health check: the engine is replaced below.
        .catch(() => false);
      slot.busy = false;
      if (ok) this.offer(slot);
      else {
        this.counts.crashes++;
        await this.retire(slot);
      }
    }
  }

  // ---- shutdown -----------------------------------------------------------------------

  private checkDrained(): void {
    if (this.state !== 'draining' || this.waiters.length || this.starting) return;
    if ([...this.slots.values()].some((s) => s.busy)) return;
    for (const s of this.idle.splice(0)) void this.retire(s, false);
    this.drained?.();
  }

  /**
   * Stops the pool and disposes every engine, including ones still booting; resolves once
   * they are all gone. Idempotent; `await using` calls it.
   *
   * By default it stops now: waiting callers get DisposedError and running calls fail.
   * With `{ drain: true }` it first stops taking new callers and lets the queued and
   * running ones finish.
   */
  async dispose(options?: { drain?: boolean }): Promise<void> {
    if (options?.drain) await this.waitUntilIdle();
    if (this.state === 'closed' && this.slots.size === 0) return;
    this.state = 'closed';
    clearInterval(this.timer);
    for (const w of this.waiters.splice(0)) w.fail(new DisposedError('the pool was closed before an engine was free'));
    this.idle = [];
    const all = [...this.slots.values()];
    this.slots.clear();
    // Each engine's disposal is final whatever it reports (see retireOne); one failing must
    // not keep the others alive.
    await Promise.all(all.map((s) => s.engine.dispose().catch(() => {})));
    // Engines still booting dispose themselves when they arrive (offer sees 'closed'):
    // wait for those disposals too, so nothing outlives dispose().
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Resolves once no caller is queued or running and no engine is booting (the pool then takes no new callers). */
  private async waitUntilIdle(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'open') this.state = 'draining';
    await new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated Use `dispose({ drain: true })`; kept for one release. */
  drain(): Promise<void> {
    return this.dispose({ drain: true });
  }

  /** @deprecated Use `dispose()`; kept for one release. */
  close(): Promise<void> {
    return this.dispose();
  }

  stats(): PoolStats {
    const busy = [...this.slots.values()].filter((s) => s.busy).length;
    return {
      engines: this.slots.size,
      idle: this.idle.length,
      busy,
      starting: this.starting,
      queued: this.waiters.length,
      ...this.counts,
      waitMs: this.waitMs.snapshot(),
      runMs: this.runMs.snapshot(),
    };
  }

  /** The last error an engine failed to boot with, if any (for diagnostics). */
  get lastStartError(): Error | undefined {
    return this.startError;
  }
}
