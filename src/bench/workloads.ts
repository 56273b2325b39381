/**
 * The workloads of DESIGN §7, each defined once: how to measure it on any engine target,
 * which baseline it is compared with, and when a target cannot run it (and why).
 */
import type { EngineOptions, Language, ScriptEngine } from '../engine/types.js';
import type { EnginePool, PoolOptions } from '../pool/engine-pool.js';
import { budget, noInterrupt, sleep } from './common.js';
import { distributed } from './distributed.js';
import { coldStart, poolAcquire, restart } from './lifecycle.js';
import { sessionFork, sessionSnapshot } from './session.js';
import { BENCH_SCRIPT, ENDLESS, FIRST } from './scripts.js';
import { sample, sequential, type Stats } from './sample.js';
import type { EngineTarget, Unit } from './types.js';

/** What a workload needs from the harness. */
export interface BenchContext {
  quick: boolean;
  cpus: number;
  /** A warm engine for the target with the bench script loaded (created once, reused). */
  engine(t: EngineTarget): Promise<ScriptEngine>;
  /** A fresh engine for the target with the bench script loaded; the harness disposes it at the end. */
  extraEngine(t: EngineTarget): Promise<ScriptEngine>;
  /** Creates an engine with the harness's options (and `more`); the caller disposes it. */
  create(t: EngineTarget, more?: EngineOptions): Promise<ScriptEngine>;
  /**
   * A pool of the target's engines (the harness's engine options plus `options`), resolved
   * once `min` engines answer. The caller closes it; the harness closes any left open.
   */
  pool(t: EngineTarget, options: PoolOptions): Promise<EnginePool>;
  rssBytes(): number;
  settle(): Promise<void>;
  /** Stops the worker kept started ahead of need for fast Python starts (none where there is none). */
  releaseSpareWorker(): Promise<void>;
  /** Whether this platform keeps such a worker (Node does, browsers do not). */
  spareWorker: boolean;
  /** See `BenchEnv.snapshotCacheColdStart` (browsers only). */
  snapshotCacheColdStart?(): Promise<number>;
  progress(text: string): void;
  baselines: BaselineEnv;
}

/** The baselines' machinery (Node: src/node/bench-env.ts; browsers: web/bench/bench-env.ts). */
export interface BaselineEnv {
  /** Absent where the platform does not measure stock boots (the browser page). */
  stockPyodideColdStart?(): Promise<number>;
  stockWasmoonColdStart?(): Promise<number>;
  postMessageEcho(): { call(p: unknown): Promise<unknown>; close(): Promise<void> };
  comlinkEcho(): Promise<{ call(p: unknown): Promise<unknown>; close(): Promise<void> }>;
  /**
   * A distributed deployment (Node: a private redis-server, `scriptbox worker` processes and
   * a distributed pool); absent where the platform has none (browsers).
   */
  distributed?(language: Language): Promise<DistributedDeployment>;
  /** Why `distributed` cannot run here (redis-server is not installed), or undefined. */
  distributedMissing?(): string | undefined;
}

/** What the `distributed` workloads drive: one pool, workers added one at a time. */
export interface DistributedDeployment {
  addWorker(): Promise<void>;
  exec(code: string): Promise<{ success: boolean; value?: unknown }>;
  close(): Promise<void>;
}

export interface Measured extends Stats {
  params?: Record<string, number | number[]>;
  /** This row's unit when it is not the workload's (then it has no ratio to the workload's baseline). */
  unit?: Unit;
}

export interface Workload {
  id: string;
  unit: Unit;
  /** One line for docs/performance.md and the table. */
  what: string;
  baseline?(t: EngineTarget): string | undefined;
  /** The workload whose rows `baseline` names, when not this one (its own run supplies the median). */
  baselineWorkload?: string;
  /** Why this target cannot run the workload, if it cannot. */
  skip?(t: EngineTarget): string | undefined;
  /** Why this target's engine cannot run it (asked after `skip`, e.g. a method this build lacks). */
  unavailable?(ctx: BenchContext, t: EngineTarget): Promise<string | undefined>;
  measure(ctx: BenchContext, t: EngineTarget): Promise<Measured[]>;
  /** How each baseline this workload names is measured; undefined where this platform cannot. */
  baselines?: Record<string, (ctx: BenchContext) => Promise<Measured> | undefined>;
}

const us = (s: Stats): Measured => ({ ...s, median: s.median * 1000, mean: s.mean * 1000, p95: s.p95 * 1000, p99: s.p99 * 1000 });

/** Round trips of `once`, in microseconds, with the budget every round-trip workload uses. */
async function roundTrips(ctx: BenchContext, label: string, once: () => Promise<unknown>): Promise<Measured> {
  return us(await sample(label, () => once().then(() => {}), budget(ctx.quick, [300, 3000], [200, 2000])));
}

/** A plain await loop of `once`, in microseconds per call (see `sequential`). */
async function sequentialLoop(ctx: BenchContext, once: () => Promise<unknown>): Promise<Measured> {
  return us(await sequential(once, ctx.quick ? 200 : 2000, ctx.quick ? 5 : 10));
}

/** A round trip through a worker that echoes the same message our channel carries. */
async function echoBaseline(
  ctx: BenchContext,
  kind: 'postMessage' | 'comlink',
  payload: unknown,
  how: 'sampled' | 'sequential' = 'sampled',
): Promise<Measured> {
  const w = kind === 'postMessage' ? ctx.baselines.postMessageEcho() : await ctx.baselines.comlinkEcho();
  try {
    const once = () => w.call(payload);
    return how === 'sampled' ? await roundTrips(ctx, `baseline/${kind}`, once) : await sequentialLoop(ctx, once);
  } finally {
    await w.close();
  }
}

/** The engine's `callSync` bound to it, where this build and placement have one. */
type CallSync = (fn: string, args?: unknown[]) => unknown;
function callSyncOf(e: ScriptEngine): CallSync | undefined {
  // Looked up, not called through the type: an engine without callSync (an older build) is skipped, not failed.
  const f = (e as { callSync?: unknown }).callSync;
  return typeof f === 'function' ? (f as CallSync).bind(e) : undefined;
}

/** Synchronous calls per sample: one call is below the timer's resolution. */
const SYNC_BATCH = 1000;

const METHOD_MSG = { t: 'callMethod', handle: 1, method: 'noop', args: [], timeoutMs: 30000, stream: false };
const CALL_MSG = { t: 'call', fn: 'noop', args: [], timeoutMs: 30000, stream: false, optional: false };

/** Host calls from a script loop of 200 (`fn` in the bench script), per call. */
function hostLoop(id: string, fn: string, what: string, skip?: (t: EngineTarget) => string | undefined): Workload {
  return {
    id,
    unit: 'us',
    what,
    baseline: () => 'baseline/postMessage',
    ...(skip ? { skip } : {}),
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      const n = 200;
      const s = await sample(
        `${id} ${t.id}`,
        async () => {
          const t0 = performance.now();
          await e.call(fn, [n]);
          return (performance.now() - t0) / n;
        },
        // Samples are per-call times (overridden), so the budget is in iterations only.
        { ...budget(ctx.quick, [10, 60], [0, 0]), warmupIterations: ctx.quick ? 3 : 10, warmupTime: 0 },
      );
      return [us(s)];
    },
    baselines: { 'baseline/postMessage': (ctx) => echoBaseline(ctx, 'postMessage', { t: 'hostReturn', ok: true, value: 1 }) },
  };
}

function transfer(id: string, bytes: number): Workload {
  const payload = new Uint8Array(bytes).map((_, i) => i & 0xff);
  return {
    id,
    unit: 'us',
    what: `call('same', [${bytes >= 1e6 ? '1 MB' : '1 KB'} of bytes]) and back`,
    baseline: () => 'baseline/structuredClone',
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      const big = bytes >= 1e6;
      return [
        us(
          await sample(
            `${id} ${t.id}`,
            () => e.call('same', [payload]).then(() => {}),
            budget(ctx.quick, big ? [5, 30] : [200, 2000], big ? [200, 2000] : [200, 2000]),
          ),
        ),
      ];
    },
    baselines: {
      // The same bytes cloned there and back, as a structured-clone channel would.
      'baseline/structuredClone': async (ctx) =>
        us(
          await sample(
            'baseline/structuredClone',
            async () => void structuredClone(structuredClone(payload)),
            budget(ctx.quick, [200, 2000], [200, 2000]),
          ),
        ),
    },
  };
}

export const WORKLOADS: Workload[] = [
  coldStart,
  poolAcquire,
  distributed,
  sessionSnapshot,
  sessionFork,
  {
    id: 'call-rtt',
    unit: 'us',
    what: "call('noop') round trip",
    baseline: () => 'baseline/comlink',
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      return [await roundTrips(ctx, `call-rtt ${t.id}`, () => e.call('noop'))];
    },
    baselines: {
      'baseline/comlink': (ctx) => echoBaseline(ctx, 'comlink', CALL_MSG),
      'baseline/postMessage': (ctx) => echoBaseline(ctx, 'postMessage', CALL_MSG),
    },
  },
  {
    id: 'call-rtt-sequential',
    unit: 'us',
    what: "a plain loop of awaited call('noop'), timed as a whole: per call, what a sequential caller pays",
    baseline: () => 'baseline/comlink',
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      return [await sequentialLoop(ctx, () => e.call('noop'))];
    },
    baselines: { 'baseline/comlink': (ctx) => echoBaseline(ctx, 'comlink', CALL_MSG, 'sequential') },
  },
  {
    id: 'call-sync',
    unit: 'us',
    what: "synchronous engine.callSync('add', [1, 2]) on inline engines, per call (batches of 1000); compared with call-rtt on the same target",
    // Against the same engine's async call: a plain JS add(1, 2) would compare with nothing real.
    baseline: (t) => t.id,
    baselineWorkload: 'call-rtt',
    skip: (t) =>
      t.placement !== 'inline' ? 'callSync is inline-only: a call into another thread or process cannot return synchronously' : undefined,
    async unavailable(ctx, t) {
      const callSync = callSyncOf(await ctx.engine(t));
      if (!callSync) return 'ScriptEngine.callSync is not in this build';
      try {
        callSync('add', [1, 2]);
        return undefined;
      } catch (e) {
        // A typed refusal (this backend has no synchronous path) is a reason; anything else fails the row.
        if ((e as { code?: unknown }).code === 'UNAVAILABLE') return `callSync refused: ${(e as Error).message}`;
        throw e;
      }
    },
    async measure(ctx, t) {
      const callSync = callSyncOf(await ctx.engine(t))!;
      const got = callSync('add', [1, 2]);
      if (got !== 3) throw new Error(`callSync('add', [1, 2]) gave ${JSON.stringify(got)}`);
      const s = await sample(
        `call-sync ${t.id}`,
        async () => {
          const t0 = performance.now();
          for (let i = 0; i < SYNC_BATCH; i++) callSync('add', [1, 2]);
          return (performance.now() - t0) / SYNC_BATCH;
        },
        // Samples are per-call times (overridden), so the budget is in iterations only.
        { ...budget(ctx.quick, [30, 300], [0, 0]), warmupIterations: ctx.quick ? 5 : 20, warmupTime: 0 },
      );
      return [us(s)];
    },
  },
  {
    id: 'method-call-rtt',
    unit: 'us',
    what: "RemoteObject.call('noop') round trip on an object made by create('Obj'); compare call-rtt on the same target",
    baseline: () => 'baseline/comlink',
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      const obj = await e.create('Obj');
      try {
        return [await roundTrips(ctx, `method-call-rtt ${t.id}`, () => obj.call('noop'))];
      } finally {
        await obj.dispose();
      }
    },
    baselines: { 'baseline/comlink': (ctx) => echoBaseline(ctx, 'comlink', METHOD_MSG) },
  },
  hostLoop('host-call-rtt', 'hc', 'script calls a granted host function returning its argument, per call'),
  hostLoop('host-aio-rtt', 'ahc', 'Python `await host.aio.echo(i)`, per call, from a loop of 200', (t) =>
    t.language !== 'python' ? 'host.aio is the Python form; Lua host calls block' : undefined,
  ),
  transfer('transfer-1k', 1024),
  transfer('transfer-1m', 1024 * 1024),
  {
    id: 'interrupt',
    unit: 'ms',
    what: 'endless loop running, interrupt() -> exec result returned, engine answers again',
    skip: noInterrupt,
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      const s = await sample(
        `interrupt ${t.id}`,
        async () => {
          const running = e.exec(ENDLESS[t.language]);
          await sleep(30);
          const t0 = performance.now();
          e.interrupt();
          const r = await running;
          const ms = performance.now() - t0;
          if (r.success) throw new Error('the endless loop ended by itself');
          const after = await e.exec(FIRST[t.language]);
          if (after.value !== 2) throw new Error('the engine did not answer after the interrupt');
          return ms;
        },
        budget(ctx.quick, [3, 15], [0, 0], false),
      );
      return [s];
    },
  },
  restart,
  {
    id: 'fib',
    unit: 'ms',
    what: 'fib(27) in the script',
    baseline: (t) => (t.backend === 'native' ? `${t.language}/wasm/${t.placement}` : undefined),
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      return [await sample(`fib ${t.id}`, () => e.call('fib', [27]).then(() => {}), budget(ctx.quick, [3, 15], [0, 0]))];
    },
  },
  {
    id: 'json',
    unit: 'ms',
    what: 'parse + dump a 100 KB JSON document in the script',
    async measure(ctx, t) {
      const e = await ctx.engine(t);
      return [await sample(`json ${t.id}`, () => e.call('json_roundtrip').then(() => {}), budget(ctx.quick, [5, 30], [0, 1000]))];
    },
  },
  {
    id: 'memory',
    unit: 'MB',
    what: 'RSS added per engine (1, 2, 4 engines, without the spare worker; the process placement counts its child processes)',
    async measure(ctx, t) {
      const counts = ctx.quick ? [1, 2] : [1, 2, 4];
      const out: Measured[] = [];
      // Engines only: the spare worker (one per process, docs/snapshots.md) is let go before each reading.
      await ctx.releaseSpareWorker();
      await ctx.settle();
      const before = ctx.rssBytes();
      let made = 0;
      for (const n of counts) {
        while (made < n) {
          ctx.progress(`memory ${t.id}: engine ${made + 1}/${n}`);
          await ctx.extraEngine(t);
          made++;
        }
        await ctx.releaseSpareWorker();
        await ctx.settle();
        const per = (ctx.rssBytes() - before) / n / 2 ** 20;
        out.push({ median: per, mean: per, p95: per, p99: per, samples: 1, params: { engines: n } });
      }
      return out;
    },
  },
  {
    id: 'throughput',
    unit: 'calls/s',
    what: "call('noop') per second with N engines called at once (N = 1, 2, cores)",
    skip: (t) => (t.placement === 'inline' ? "inline engines share the caller's thread: N of them are not N times anything" : undefined),
    async measure(ctx, t) {
      const ns = [...new Set([1, 2, ctx.cpus])].sort((a, b) => a - b);
      const windowMs = ctx.quick ? 250 : 1000;
      const out: Measured[] = [];
      const engines = [await ctx.engine(t)];
      for (const n of ns) {
        while (engines.length < n) engines.push(await ctx.extraEngine(t));
        const group = engines.slice(0, n);
        const s = await sample(
          `throughput ${t.id} x${n}`,
          async () => {
            let calls = 0;
            const end = performance.now() + windowMs;
            await Promise.all(
              group.map(async (e) => {
                while (performance.now() < end) {
                  await e.call('noop');
                  calls++;
                }
              }),
            );
            return calls / (windowMs / 1000);
          },
          budget(ctx.quick, [3, 5], [0, 0], false),
        );
        out.push({ ...s, params: { engines: n } });
      }
      return out;
    },
  },
];

export { BENCH_SCRIPT };
