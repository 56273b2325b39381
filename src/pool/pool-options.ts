/**
 * PoolOptions (DESIGN §2 `createPool`): the pool's own options, split from the engine
 * options every pooled engine is made with, and checked with messages naming the fix.
 */
import { describeValue } from '../describe-value.js';
import type { EngineOptions } from '../engine/types.js';
import { InvalidInputError } from '../errors.js';
import { MAX_TIMER_MS, timerTooLong } from '../options.js';
import type { SessionSnapshot } from '../session/snapshot.js';

export interface PoolOptions {
  /** Engines kept ready, even when idle. Default 1; at most `max` (so at most 1024). */
  min?: number;
  /** Most engines at once, at most 1024. Default max(min, 2). */
  max?: number;
  /** Most callers waiting for an engine; more are refused with QueueFullError. Default 1000. */
  maxQueue?: number;
  /** Idle engines above `min` are disposed after this long. Default 60 000 ms. */
  idleTimeoutMs?: number;
  /** Replace an engine after this many runs or this much age (checked when it is released). */
  recycleAfter?: { execs?: number; ms?: number };
  /**
   * `reuse` (default): a released engine goes back to the pool with its state, and the
   * next run (possibly another tenant) sees what the last one left:
   * - survives: the script's globals, loaded functions and classes, live handles, modules
   *   it imported or changed (Python) or globals and library tables it changed (Lua),
   *   files it wrote in the engine's own file system, the engine's kv and channels;
   * - never survives: `host`. Before every request the runtime puts back `host` (Python:
   *   the module, its classes, `sys.modules['host']`; Lua: the host table, from the
   *   prelude's private copy) and its own internals (Python: the runtime's names, the
   *   builtins, `time.sleep` / `input` / asyncio's entry points; the runtime module is
   *   not importable). Whatever a run did to them, `host.name(...)` in the next run
   *   reaches the host's own function.
   * Use `fresh` when runs must not see each other at all (different tenants): a script
   * can always leave code in a reused engine that the next run's own code may call.
   * `fresh`: every run gets an engine no one has used; used ones are disposed and the
   * pool refills in the background.
   */
  reset?: 'fresh' | 'reuse' | 'template';
  /**
   * A session snapshot (`engine.snapshot()`, or its bytes) every engine of the pool starts
   * from, so an expensive setup (imports, tables, compiled rules) runs once, where the
   * snapshot was taken, instead of in each engine. With `reset: 'template'`, a released
   * engine is put back to it (Lua: in place, in milliseconds; Python: a new interpreter
   * from the snapshot) instead of keeping what the run left. See docs/session-snapshots.md.
   */
  template?: SessionSnapshot | Uint8Array;
  /** Code loaded (`load`, then `init()` if defined) into every engine before it is handed out. */
  init?: string;
  /** How often idle engines are checked, and replaced if they do not answer. Default 30 000 ms; at most 2**31-1 ms. */
  healthCheckMs?: number;
}

export interface ResolvedPoolOptions {
  min: number;
  max: number;
  maxQueue: number;
  idleTimeoutMs: number;
  recycleExecs: number;
  recycleMs: number;
  reset: 'fresh' | 'reuse' | 'template';
  init: string | undefined;
  /** Read by EnginePool.start (bytes become a SessionSnapshot there). */
  template: unknown;
  healthCheckMs: number;
}

/** The most engines one pool may hold (and so start: `min` is at most `max`). */
export const MAX_ENGINES = 1024;

const POOL_KEYS = ['min', 'max', 'maxQueue', 'idleTimeoutMs', 'recycleAfter', 'reset', 'init', 'healthCheckMs', 'template'] as const;

function count(v: unknown, name: string, least: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < least) {
    throw new InvalidInputError(`pool option ${name} must be an integer >= ${least} (got ${describeValue(v)})`);
  }
  return v;
}

function ms(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v > 0)) {
    throw new InvalidInputError(`pool option ${name} must be a positive number of milliseconds (got ${describeValue(v)})`);
  }
  return v;
}

/** A period the pool's sweep timer is set from (idleTimeoutMs and recycleAfter.ms are only compared, so may be Infinity). */
function timer(v: unknown, name: string): number {
  const n = ms(v, name);
  if (n > MAX_TIMER_MS) throw timerTooLong(`pool option ${name}`, n);
  return n;
}

/** Splits `options` into the pool's options (checked) and the engine options (checked later by createEngine). */
export function splitPoolOptions(options: unknown): { pool: ResolvedPoolOptions; engine: EngineOptions } {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidInputError('createPool options must be an object');
  }
  const o = options as Record<string, unknown>;
  const engine: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (!(POOL_KEYS as readonly string[]).includes(k)) engine[k] = o[k];
  if (engine.signal !== undefined) {
    throw new InvalidInputError(
      'createPool takes no signal option; dispose the pool with pool.dispose(), and pass { signal } to pool.run() per run',
    );
  }
  const min = o.min === undefined ? 1 : count(o.min, 'min', 0);
  const max = o.max === undefined ? Math.max(min, 2) : count(o.max, 'max', 1);
  if (max < min) throw new InvalidInputError(`pool option max (${max}) is below min (${min}); raise max or lower min`);
  // Each engine is a worker (Python: ~50-70 MB): a typo such as 1e9 must not try to boot them all.
  if (max > MAX_ENGINES) {
    // Name the option the caller set: with max left out, it follows min.
    const which = o.max === undefined ? `min (${min})` : `max (${max})`;
    throw new InvalidInputError(`pool option ${which} is over ${MAX_ENGINES} engines in one pool; use several pools for more`);
  }
  const recycle = o.recycleAfter;
  if (recycle !== undefined && (typeof recycle !== 'object' || recycle === null || Array.isArray(recycle))) {
    throw new InvalidInputError('pool option recycleAfter must be an object such as { execs: 1000, ms: 600000 }');
  }
  const r = (recycle ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (k !== 'execs' && k !== 'ms') throw new InvalidInputError(`pool option recycleAfter.${k} is unknown; use execs and/or ms`);
  }
  if (o.reset !== undefined && o.reset !== 'fresh' && o.reset !== 'reuse' && o.reset !== 'template') {
    throw new InvalidInputError(`pool option reset must be 'fresh', 'reuse' or 'template' (got ${describeValue(o.reset)})`);
  }
  if (o.reset === 'template' && o.template === undefined) {
    throw new InvalidInputError(
      "pool option reset 'template' puts engines back to the pool's template: pass template: await engine.snapshot()",
    );
  }
  if (o.template !== undefined && engine.restore !== undefined) {
    throw new InvalidInputError('createPool takes template, not restore: every engine of the pool starts from the template');
  }
  if (o.init !== undefined && typeof o.init !== 'string') throw new InvalidInputError('pool option init must be code, as a string');
  return {
    pool: {
      min,
      max,
      maxQueue: o.maxQueue === undefined ? 1000 : count(o.maxQueue, 'maxQueue', 0),
      idleTimeoutMs: o.idleTimeoutMs === undefined ? 60_000 : ms(o.idleTimeoutMs, 'idleTimeoutMs'),
      recycleExecs: r.execs === undefined ? Infinity : count(r.execs, 'recycleAfter.execs', 1),
      recycleMs: r.ms === undefined ? Infinity : ms(r.ms, 'recycleAfter.ms'),
      reset: (o.reset as ResolvedPoolOptions['reset'] | undefined) ?? 'reuse',
      init: o.init as string | undefined,
      template: o.template,
      healthCheckMs: o.healthCheckMs === undefined ? 30_000 : timer(o.healthCheckMs, 'healthCheckMs'),
    },
    engine: engine as EngineOptions,
  };
}
