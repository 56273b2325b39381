/**
 * The lifecycle workloads (DESIGN §7): how long an engine takes to start (`cold-start`),
 * to come from a warm pool (`pool-acquire`), and to come back after a hard kill (`restart`).
 */
import type { EngineOptions } from '../engine/types.js';
import { forgetSnapshots } from '../snapshot/fast-start.js';
import type { EnginePool } from '../pool/engine-pool.js';
import { budget, noKill, sleep } from './common.js';
import { sample, type Stats } from './sample.js';
import { BENCH_SCRIPT, FIRST, STUCK } from './scripts.js';
import type { Measured, Workload } from './workloads.js';

/** Resolves once the pool has an idle engine and none booting (a refill done), then lets it settle. */
async function warm(pool: EnginePool, timeoutMs = 120_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const s = pool.stats();
    if (s.idle > 0 && s.starting === 0) break;
    if (performance.now() > end) {
      throw new Error(`the pool did not refill within ${timeoutMs} ms${pool.lastStartError ? `: ${pool.lastStartError.message}` : ''}`);
    }
    await sleep(10);
  }
  // The new engine's boot may still be finishing work (GC, a child's page-ins) off our thread.
  await sleep(50);
}

/** Python boots take hundreds of ms to seconds each: few samples, no warm-up. */
const pythonBoots = (ctx: { quick: boolean }) => budget(ctx.quick, [2, 7], [0, 0], false);

export const coldStart: Workload = {
  id: 'cold-start',
  unit: 'ms',
  what: 'createEngine -> first exec result, fresh engine (Python: restored from its memory snapshot; also read from disk, and from scratch)',
  baseline: (t) => (t.backend === 'native' ? undefined : t.language === 'python' ? 'baseline/stock-loadPyodide' : 'baseline/stock-wasmoon'),
  async measure(ctx, t) {
    const first = FIRST[t.language];
    const boot = (label: string, more?: EngineOptions, before?: () => unknown) =>
      sample(
        label,
        async () => {
          // Each start begins from a settled process (collected, idle), as a new
          // session's does; the baselines get the same.
          await ctx.settle();
          await before?.();
          const t0 = performance.now();
          const e = await ctx.create(t, more);
          await e.exec(first);
          const ms = performance.now() - t0;
          await e.dispose();
          return ms;
        },
        t.language === 'python' ? pythonBoots(ctx) : budget(ctx.quick, [3, 15], [0, 0], false),
      );
    // Lua boots in milliseconds; native Python has no snapshot (the interpreter stays up in its process).
    if (t.language !== 'python' || t.backend === 'native') return [await boot(`cold-start ${t.id}`)];
    // The snapshot is taken once, before sampling, as the first engine of a cache does;
    // every engine after it restores the snapshot.
    await (await ctx.create(t)).dispose();
    const restored = await boot(`cold-start ${t.id}`);
    // As the first engine of a new process (page) would: the snapshot read back (and checked)
    // from the platform's store.
    const fromCache = ctx.snapshotCacheColdStart;
    const fromStore: Measured = fromCache
      ? {
          ...(await sample(`cold-start ${t.id} (snapshot from Cache Storage)`, () => ctx.settle().then(fromCache), pythonBoots(ctx))),
          params: { snapshotFromCache: 1 },
        }
      : { ...(await boot(`cold-start ${t.id} (snapshot from disk)`, undefined, forgetSnapshots)), params: { snapshotFromDisk: 1 } };
    const scratch = await boot(`cold-start ${t.id} (boot from scratch)`, { snapshot: false });
    // Without a worker started ahead of need (browsers), every restore starts its own thread.
    if (!ctx.spareWorker && t.placement === 'worker')
      return [{ ...restored, params: { spareWorker: 0 } }, fromStore, { ...scratch, params: { snapshot: 0 } }];
    const rows: Measured[] = [restored, fromStore, { ...scratch, params: { snapshot: 0 } }];
    if (t.placement === 'worker') {
      // Restored rows take the worker started ahead of need; this one starts its own thread.
      const own = await boot(`cold-start ${t.id} (no pre-started worker)`, undefined, () => ctx.releaseSpareWorker());
      rows.splice(1, 0, { ...own, params: { spareWorker: 0 } });
    }
    return rows;
  },
  baselines: {
    'baseline/stock-loadPyodide': (ctx) => {
      const stock = ctx.baselines.stockPyodideColdStart;
      return stock && sample('baseline/stock-loadPyodide', () => ctx.settle().then(stock), pythonBoots(ctx));
    },
    'baseline/stock-wasmoon': (ctx) => {
      const stock = ctx.baselines.stockWasmoonColdStart;
      return stock && sample('baseline/stock-wasmoon', () => ctx.settle().then(stock), budget(ctx.quick, [3, 15], [0, 0], false));
    },
  },
};

export const poolAcquire: Workload = {
  id: 'pool-acquire',
  unit: 'ms',
  what: "pool.acquire() -> exec of 1 + 1 -> result, warm pool (reset 'reuse'; and 'fresh', refilled between samples); release() untimed",
  baseline: (t) => t.id,
  baselineWorkload: 'cold-start',
  async measure(ctx, t) {
    const first = FIRST[t.language];
    const once = async (pool: EnginePool) => {
      const t0 = performance.now();
      const e = await pool.acquire();
      let ms: number;
      try {
        const r = await e.exec(first);
        ms = performance.now() - t0;
        if (!r.success || r.value !== 2)
          throw new Error(`exec(${JSON.stringify(first)}) on a pooled engine gave ${JSON.stringify(r.error ?? r.value)}`);
      } finally {
        await pool.release(e);
      }
      return ms;
    };
    // Health checks are pushed past the run: one landing mid-sample measures the sweep,
    // not acquire.
    const quiet = { min: 1, max: 1, healthCheckMs: 3_600_000 };
    const measureWith = async (reset: 'reuse' | 'fresh', run: (pool: EnginePool) => Promise<Stats>) => {
      ctx.progress(`pool-acquire ${t.id}: reset ${reset}, warming the pool`);
      const pool = await ctx.pool(t, { ...quiet, reset });
      try {
        return await run(pool);
      } finally {
        await pool.dispose();
        if (pool.stats().engines !== 0) throw new Error(`the ${reset} pool kept ${pool.stats().engines} engines after close()`);
      }
    };
    const reuse = await measureWith('reuse', (pool) =>
      sample(`pool-acquire ${t.id}`, () => once(pool), budget(ctx.quick, [20, 300], [50, 1000])),
    );
    // 'fresh' disposes each used engine and boots its replacement in the background. Each
    // sample waits for that refill first, so it measures a warm pool, not a boot.
    const fresh = await measureWith('fresh', (pool) =>
      sample(
        `pool-acquire ${t.id} (reset fresh)`,
        async () => {
          await warm(pool);
          return once(pool);
        },
        budget(ctx.quick, t.language === 'python' ? [2, 7] : [3, 15], [0, 0], false),
      ),
    );
    return [reuse, { ...fresh, params: { resetFresh: 1 } }];
  },
};

export const restart: Workload = {
  id: 'restart',
  unit: 'ms',
  what: 'code stuck in C ignores the interrupt and is killed after graceMs: kill -> a new core with the bench script replayed (stats().lastRecovery.ms)',
  skip: noKill,
  async measure(ctx, t) {
    const e = await ctx.create(t, { limits: { graceMs: 50 } });
    try {
      await e.load(BENCH_SCRIPT[t.language], 'bench');
      const s = await sample(
        `restart ${t.id}`,
        async () => {
          const r = await e.exec(STUCK[t.language], { timeoutMs: 50 });
          if (!r.timedOut) throw new Error('the stuck code was not stopped by its deadline');
          const after = await e.exec(FIRST[t.language]);
          if (after.value !== 2) throw new Error('the engine did not answer after its restart');
          const { lastRecovery } = await e.stats();
          if (!lastRecovery) throw new Error('the engine reports no recovery');
          return lastRecovery.ms;
        },
        budget(ctx.quick, t.language === 'python' ? [2, 7] : [3, 15], [0, 0], false),
      );
      return [s];
    } finally {
      await e.dispose();
    }
  },
};
