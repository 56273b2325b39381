/**
 * The `distributed` workload (issue 24): a trivial exec through the queue (BullMQ on a
 * private redis-server) with 1, 2 and 3 `scriptbox worker` processes, beside the local
 * pool's `pool-acquire` of the same target, so that the queue's overhead is a measured
 * number. Latency rows (ms, sequential callers) compare with `pool-acquire`; jobs/s rows
 * (a burst from many callers at once) carry their own unit.
 */
import { budget } from './common.js';
import { sample } from './sample.js';
import { FIRST } from './scripts.js';
import type { Measured, Workload } from './workloads.js';

const WORKERS = [1, 2, 3];

export const distributed: Workload = {
  id: 'distributed',
  unit: 'ms',
  what: 'exec of 1 + 1 through the queue (BullMQ + Redis on loopback) with N worker processes (N = 1, 2, 3): latency of one caller; jobs/s of 64 callers at once',
  baseline: (t) => t.id,
  baselineWorkload: 'pool-acquire',
  skip: (t) =>
    t.backend !== 'wasm' || t.placement !== 'worker'
      ? "workers run the default engines (wasm, placement 'worker'): measured on the */wasm/worker targets only"
      : undefined,
  async unavailable(ctx) {
    if (!ctx.baselines.distributed) return 'this platform starts no redis-server or worker processes (Node only)';
    return ctx.baselines.distributedMissing?.();
  },
  async measure(ctx, t) {
    const first = FIRST[t.language];
    ctx.progress(`distributed ${t.id}: starting redis-server and a worker`);
    const d = await ctx.baselines.distributed!(t.language);
    const out: Measured[] = [];
    try {
      const once = async () => {
        const t0 = performance.now();
        const r = await d.exec(first);
        if (!r.success || r.value !== 2) throw new Error(`exec(${JSON.stringify(first)}) through the queue gave ${JSON.stringify(r)}`);
        return performance.now() - t0;
      };
      for (const n of WORKERS) {
        while (n > out.length / 2 + 1) {
          ctx.progress(`distributed ${t.id}: starting worker ${out.length / 2 + 2}`);
          await d.addWorker();
        }
        const latency = await sample(`distributed ${t.id} x${n}`, once, budget(ctx.quick, [30, 300], [200, 2000]));
        const burst = await sample(
          `distributed ${t.id} x${n} jobs/s`,
          async () => {
            const jobs = 64;
            const t0 = performance.now();
            await Promise.all(Array.from({ length: jobs }, once));
            // The sample is the rate itself, as the throughput workload's are.
            return jobs / ((performance.now() - t0) / 1000);
          },
          budget(ctx.quick, [3, 10], [0, 0], false),
        );
        out.push({ ...latency, params: { workers: n } }, { ...burst, unit: 'calls/s', params: { workers: n, callers: 64 } });
      }
    } finally {
      await d.close();
    }
    return out;
  },
};
