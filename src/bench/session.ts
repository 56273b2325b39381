/**
 * The session snapshot workloads (issue 23, docs/session-snapshots.md):
 * - `session-snapshot`: what a snapshot of a live engine costs: its size, the time to take
 *   it, to restore it into a new engine (to its first result), and to put it back in place
 *   (`engine.restore`, what a pool's `reset: 'template'` does), for an engine holding
 *   ~10 MB of Python objects and for a small Lua state;
 * - `session-fork`: the first result of an engine whose setup (`init`) takes 1 s, three
 *   ways side by side: a cold start that runs the init itself, a new engine restored from a
 *   template snapshot taken after it, and a template pool's acquire (`reset: 'template'`).
 */
import type { EngineTarget } from './types.js';
import type { EnginePool } from '../pool/engine-pool.js';
import type { ScriptEngine } from '../engine/types.js';
import type { SessionSnapshot } from '../session/snapshot.js';
import { budget } from './common.js';
import { sample } from './sample.js';
import type { BenchContext, Measured, Workload } from './workloads.js';

/** Python: ~10 MB of objects (100k dicts of a str, an int and a float); Lua: a small state. */
const STATE = {
  python: 'rows = [{"name": "row %d" % i, "n": i, "x": i * 0.5} for i in range(100_000)]\ndef total():\n    return len(rows)',
  lua: 'rows = {}\nfor i = 1, 1000 do rows[i] = { name = "row " .. i, n = i } end\nfunction total() return #rows end',
};
const TOTAL = { python: 100_000, lua: 1000 };

/** An init that takes 1 s: Python sleeps (an import-heavy init waits the same way), Lua computes. */
const SLOW_INIT = {
  python: 'import time, json, decimal\ndef init():\n    time.sleep(1)\n    global ready\n    ready = 2\ndef first():\n    return ready',
  lua: 'function init()\n  local stop = os.clock() + 1\n  while os.clock() < stop do end\n  ready = 2\nend\nfunction first() return ready end',
};

const wasmOnly = (t: EngineTarget) =>
  t.backend !== 'wasm' ? "native engines take no session snapshots (their interpreter's memory is the process's own)" : undefined;

/** Boots and restores take hundreds of ms: few samples, no warm-up (Lua's are cheap: more). */
const boots = (ctx: { quick: boolean }, t: EngineTarget) => budget(ctx.quick, t.language === 'python' ? [2, 7] : [3, 15], [0, 0], false);

async function firstResult(e: ScriptEngine, fn: string, want: unknown): Promise<void> {
  const v = await e.call(fn);
  if (v !== want) throw new Error(`${fn}() gave ${JSON.stringify(v)}, not ${JSON.stringify(want)}`);
}

export const sessionSnapshot: Workload = {
  id: 'session-snapshot',
  unit: 'ms',
  what: "a session snapshot of an engine holding ~10 MB of Python objects (Lua: a small state): take it; restore it into a new engine (-> first result); put it back in place (engine.restore, what reset 'template' does); its size",
  skip: wasmOnly,
  async measure(ctx, t) {
    const source = await ctx.create(t);
    let snap: SessionSnapshot;
    try {
      await source.exec(STATE[t.language]);
      const take = await sample(
        `session-snapshot ${t.id} take`,
        async () => {
          const t0 = performance.now();
          snap = await source.snapshot();
          return performance.now() - t0;
        },
        boots(ctx, t),
      );
      const size: Measured = { median: snap!.size / 1e6, mean: snap!.size / 1e6, p95: snap!.size / 1e6, p99: snap!.size / 1e6, samples: 1 };
      const restoreNew = await sample(
        `session-snapshot ${t.id} restore`,
        async () => {
          await ctx.settle();
          const t0 = performance.now();
          const e = await ctx.create(t, { restore: snap });
          await firstResult(e, 'total', TOTAL[t.language]);
          const ms = performance.now() - t0;
          await e.dispose();
          return ms;
        },
        boots(ctx, t),
      );
      const target = await ctx.create(t, { restore: snap! });
      let inPlace;
      try {
        inPlace = await sample(
          `session-snapshot ${t.id} in place`,
          async () => {
            await target.exec(t.language === 'python' ? 'rows = None' : 'rows = nil');
            const t0 = performance.now();
            await target.restore(snap);
            const ms = performance.now() - t0;
            await firstResult(target, 'total', TOTAL[t.language]);
            return ms;
          },
          budget(ctx.quick, [5, 30], [0, 0], false),
        );
      } finally {
        await target.dispose();
      }
      const rows: Measured[] = [
        { ...take, params: { take: 1 } },
        { ...restoreNew, params: { restoreNew: 1 } },
        { ...inPlace, params: { restoreInPlace: 1 } },
        { ...size, unit: 'MB', params: { size: 1 } },
      ];
      return rows;
    } finally {
      await source.dispose();
    }
  },
};

/** A pool of the target whose engines start from `template` and go back to it after each run. */
async function templatePool(ctx: BenchContext, t: EngineTarget, template: SessionSnapshot): Promise<EnginePool> {
  return ctx.pool(t, { min: 1, max: 1, healthCheckMs: 3_600_000, template, reset: 'template' });
}

export const sessionFork: Workload = {
  id: 'session-fork',
  unit: 'ms',
  what: "first result of an engine whose init takes 1 s: a cold start running the init; a new engine restored from a template snapshot taken after it; a template pool's acquire (reset 'template', the put-back untimed)",
  skip: wasmOnly,
  async measure(ctx, t) {
    const code = SLOW_INIT[t.language];
    const cold = await sample(
      `session-fork ${t.id} cold + init`,
      async () => {
        await ctx.settle();
        const t0 = performance.now();
        const e = await ctx.create(t);
        await e.loadInit(code, 'init');
        await firstResult(e, 'first', 2);
        const ms = performance.now() - t0;
        await e.dispose();
        return ms;
      },
      budget(ctx.quick, [2, 5], [0, 0], false),
    );
    const maker = await ctx.create(t);
    let template: SessionSnapshot;
    try {
      await maker.loadInit(code, 'init');
      template = await maker.snapshot();
    } finally {
      await maker.dispose();
    }
    const restored = await sample(
      `session-fork ${t.id} restore`,
      async () => {
        await ctx.settle();
        const t0 = performance.now();
        const e = await ctx.create(t, { restore: template });
        await firstResult(e, 'first', 2);
        const ms = performance.now() - t0;
        await e.dispose();
        return ms;
      },
      boots(ctx, t),
    );
    ctx.progress(`session-fork ${t.id}: warming a template pool`);
    const pool = await templatePool(ctx, t, template!);
    let acquired;
    try {
      acquired = await sample(
        `session-fork ${t.id} pool`,
        async () => {
          // The put-back of the last run finishes first: each sample acquires a restored engine.
          while (pool.stats().idle === 0) await new Promise((r) => setTimeout(r, 2));
          const t0 = performance.now();
          const e = await pool.acquire();
          try {
            await firstResult(e, 'first', 2);
            return performance.now() - t0;
          } finally {
            await pool.release(e);
          }
        },
        budget(ctx.quick, [10, 100], [0, 0], false),
      );
    } finally {
      await pool.dispose();
    }
    const rows: Measured[] = [
      { ...cold, params: { coldInit: 1 } },
      { ...restored, params: { restoreNew: 1 } },
      { ...acquired, params: { templatePool: 1 } },
    ];
    return rows;
  },
};
