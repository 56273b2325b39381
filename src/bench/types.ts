/**
 * The benchmark harness's data: targets, results and the report whose JSON shape
 * DESIGN §7 fixes (`machine`, `results`), plus the cases it skipped and why.
 */
import type { Language, Placement } from '../engine/types.js';

/** What a number is measured in. Times are lower-is-better; `calls/s` is higher-is-better. */
export type Unit = 'ms' | 'us' | 'MB' | 'calls/s';

/** An engine configuration the harness measures, e.g. `python/wasm/worker`. */
export interface EngineTarget {
  id: string;
  language: Language;
  backend: 'wasm' | 'native';
  placement: Placement;
}

export interface BenchResult {
  workload: string;
  target: string;
  /** The target this row is compared with: a `baseline/...` target or another engine target. */
  baseline?: string;
  /** Set when `baseline` names a row of another workload (pool-acquire vs cold-start). */
  baselineWorkload?: string;
  median: number;
  p95: number;
  unit: Unit;
  samples: number;
  /**
   * median / the baseline's median (for times: below 1 is faster than the baseline). Absent
   * when the baseline was not measured in this run (e.g. `--only pool-acquire`).
   */
  ratio?: number;
  /** Workload parameters, e.g. `{ engines: 2 }` for throughput. */
  params?: Record<string, number | number[]>;
}

export interface Skipped {
  workload: string;
  target: string;
  reason: string;
}

export interface BenchReport {
  machine: { cpus: number; node: string; platform: string; when: string };
  quick: boolean;
  results: BenchResult[];
  skipped: Skipped[];
}

/** How many samples a workload takes, and for how long it warms up. */
export interface Budget {
  iterations: number;
  time: number;
  warmupIterations: number;
  warmupTime: number;
  /** False for workloads whose every sample is a cold event (a boot, an interrupt). */
  warmup: boolean;
}
