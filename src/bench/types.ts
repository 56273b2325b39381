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
  /**
   * Mean and 99th percentile of the same samples (absent in reports from before they were
   * kept). A sequential caller pays the mean, and the tail shows in p99, where the median
   * hides both.
   */
  mean?: number;
  p99?: number;
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
  /** The ratio guards `--check` evaluated over this run (src/bench/guards.ts); absent without `--check`. */
  guards?: GuardOutcome[];
}

/** A statistic of a row a guard compares: `p99/median` is a row's own tail against its median. */
export type GuardStatistic = 'median' | 'mean' | 'p99' | 'p99/median';

/** What one guard found for one target. `not-evaluated` is neither a pass nor a failure. */
export interface GuardOutcome {
  guard: string;
  target: string;
  workload: string;
  status: 'pass' | 'fail' | 'not-evaluated';
  statistic: GuardStatistic;
  limit: number;
  /** Whether CI enforces this guard (`--check ci`). */
  ci: boolean;
  /** The compared row, `workload target` (absent for `p99/median`, which compares a row with itself). */
  versus?: string;
  /** The measured ratio (pass and fail only). */
  ratio?: number;
  /** The two numbers whose quotient is `ratio`: the row's statistic and the compared row's (p99 and median for `p99/median`). */
  compared?: [number, number];
  /** The row's median and the compared row's (absent for `p99/median`). */
  medians?: [number, number];
  unit?: Unit;
  /** Why the guard was not evaluated. */
  reason?: string;
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
