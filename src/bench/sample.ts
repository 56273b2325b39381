/**
 * Sampling and statistics through tinybench: one Bench per case, so each workload sets
 * its own budget. A case may return the measured value itself (`overriddenDuration`)
 * when only part of an iteration counts (an interrupt, a batch of host calls).
 */
import { Bench } from 'tinybench';
import type { Budget } from './types.js';

export interface Stats {
  median: number;
  mean: number;
  p95: number;
  p99: number;
  samples: number;
}

/**
 * The nearest-rank `q` quantile (0 < q <= 1) of ascending `sorted`: the smallest sample
 * with at least `q` of the samples at or below it. Undefined for no samples.
 */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))];
}

/** Runs `fn` as tinybench samples it; the values are milliseconds unless `fn` returns its own. */
export async function sample(name: string, fn: () => Promise<number | void>, budget: Budget): Promise<Stats> {
  const bench = new Bench({ ...budget, retainSamples: true, throws: true });
  bench.add(name, async () => {
    const v = await fn();
    return typeof v === 'number' ? { overriddenDuration: v } : undefined;
  });
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state !== 'completed') throw new Error(`${name}: sampling ended in state ${result.state}`);
  const { latency } = result;
  const sorted = [...(latency.samples ?? [])].sort((a, b) => a - b);
  return {
    median: latency.p50,
    mean: latency.mean,
    // The same rule for both tails, from the retained samples (tinybench's own are interpolated).
    p95: percentile(sorted, 0.95) ?? latency.p99,
    p99: percentile(sorted, 0.99) ?? latency.p99,
    samples: latency.samplesCount,
  };
}

/**
 * What a sequential caller feels: `rounds` plain loops of `calls` awaited calls, each loop
 * timed as a whole, with nothing between calls (no per-call timer or sampler bookkeeping).
 * Median, p95 and p99 are over the rounds' per-call means; `mean` is all the time over all
 * the calls; `samples` counts calls. One untimed round first warms the path.
 */
export async function sequential(once: () => Promise<unknown>, calls: number, rounds: number): Promise<Stats> {
  for (let i = 0; i < Math.max(1, calls >> 2); i++) await once();
  const perCall: number[] = [];
  let total = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await once();
    const ms = performance.now() - t0;
    total += ms;
    perCall.push(ms / calls);
  }
  const sorted = perCall.sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return {
    median: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
    mean: total / (calls * rounds),
    p95: percentile(sorted, 0.95)!,
    p99: percentile(sorted, 0.99)!,
    samples: calls * rounds,
  };
}
