/**
 * Sampling and statistics through tinybench: one Bench per case, so each workload sets
 * its own budget. A case may return the measured value itself (`overriddenDuration`)
 * when only part of an iteration counts (an interrupt, a batch of host calls).
 */
import { Bench } from 'tinybench';
import type { Budget } from './types.js';

export interface Stats {
  median: number;
  p95: number;
  samples: number;
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
  const sorted = [...(result.latency.samples ?? [])].sort((a, b) => a - b);
  const p95 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]! : result.latency.p99;
  return { median: result.latency.p50, p95, samples: result.latency.samplesCount };
}
