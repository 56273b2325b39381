/**
 * Runs the selected workloads on the selected targets, then the baselines they name, and
 * builds the report. Engines are made once per target and reused across workloads.
 */
import type { EngineOptions, ScriptEngine } from '../engine/types.js';
import { InvalidInputError } from '../errors.js';
import { EnginePool, type PoolOptions } from '../pool/engine-pool.js';
import { allTargets, targetMatcher } from './targets.js';
import type { BenchReport, BenchResult, EngineTarget, Skipped } from './types.js';
import { BENCH_SCRIPT, WORKLOADS, type BaselineEnv, type BenchContext, type Measured } from './workloads.js';

export interface BenchEnv {
  node: boolean;
  cpus: number;
  nodeVersion: string;
  platform: string;
  baselines: BaselineEnv;
  rssBytes(): number;
  settle(): Promise<void>;
  /** Stops the pre-started worker of fast Python starts, if the platform keeps one. */
  releaseSpareWorker?(): Promise<void>;
  createEngine(language: EngineTarget['language'], options: EngineOptions): Promise<ScriptEngine>;
  /** Why a language's native backend cannot run here (its library is missing), or undefined. */
  nativeMissing?(language: EngineTarget['language']): string | undefined;
  /**
   * Browsers' stand-in for Node's disk cache in cold-start: ms of one Python start in a new
   * realm that reads the snapshot from Cache Storage (row param `snapshotFromCache`).
   * Absent (Node): the snapshot this process holds is forgotten and read back from disk.
   */
  snapshotCacheColdStart?(): Promise<number>;
}

export interface BenchOptions {
  quick: boolean;
  /** Workload ids; all when absent. */
  only?: string[];
  /** `--targets` pattern; all when absent. */
  targets?: string;
  progress(text: string): void;
}

/** A report row from a measurement: the statistics in DESIGN §7's order, then mean and p99. */
function row(workload: string, target: string, unit: BenchResult['unit'], m: Measured): BenchResult {
  return { workload, target, median: m.median, p95: m.p95, mean: m.mean, p99: m.p99, unit, samples: m.samples };
}

export async function runBench(opts: BenchOptions, env: BenchEnv): Promise<BenchReport> {
  const known = WORKLOADS.map((w) => w.id);
  const unknown = (opts.only ?? []).filter((id) => !known.includes(id));
  if (unknown.length) throw new InvalidInputError(`unknown workload ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const match = targetMatcher(opts.targets);
  const choices = allTargets({ node: env.node, ...(env.nativeMissing ? { nativeMissing: (l) => env.nativeMissing!(l) } : {}) }).filter(
    (c) => match(c.target.id),
  );
  if (choices.length === 0)
    throw new InvalidInputError(`--targets ${opts.targets} matches no target; targets look like python/wasm/worker`);
  const workloads = WORKLOADS.filter((w) => !opts.only || opts.only.includes(w.id));

  const primary = new Map<string, Promise<ScriptEngine>>();
  const extras: ScriptEngine[] = [];
  const pools: EnginePool[] = [];
  const engineOptions = (t: EngineTarget, more: EngineOptions = {}): EngineOptions => ({
    backend: t.backend,
    placement: t.placement,
    // Inline has no isolation, nor has a native worker: the bench's own scripts are trusted.
    ...(t.placement === 'inline' || (t.backend === 'native' && t.placement === 'worker') ? { trusted: true } : {}),
    capabilities: ['echo'],
    hostFunctions: { echo: (x) => x },
    limits: { timeoutMs: 120_000 },
    ...more,
  });
  const create = (t: EngineTarget, more: EngineOptions = {}) => env.createEngine(t.language, engineOptions(t, more));
  const loaded = async (t: EngineTarget) => {
    const e = await create(t);
    await e.load(BENCH_SCRIPT[t.language], 'bench');
    return e;
  };
  const ctx: BenchContext = {
    quick: opts.quick,
    cpus: env.cpus,
    create,
    engine(t) {
      if (!primary.has(t.id)) primary.set(t.id, loaded(t));
      return primary.get(t.id)!;
    },
    async extraEngine(t) {
      const e = await loaded(t);
      extras.push(e);
      return e;
    },
    async pool(t, options: PoolOptions) {
      // What createPool does, with this environment's createEngine.
      const p = await EnginePool.start(t.language, { ...engineOptions(t), ...options }, env.createEngine);
      pools.push(p);
      return p;
    },
    rssBytes: env.rssBytes,
    settle: env.settle,
    releaseSpareWorker: async () => env.releaseSpareWorker?.(),
    spareWorker: env.releaseSpareWorker !== undefined,
    ...(env.snapshotCacheColdStart ? { snapshotCacheColdStart: () => env.snapshotCacheColdStart!() } : {}),
    progress: opts.progress,
    baselines: env.baselines,
  };

  const results: BenchResult[] = [];
  const skipped: Skipped[] = [];
  try {
    for (const w of workloads) {
      const mine: BenchResult[] = [];
      for (const { target: t, unavailable } of choices) {
        const reason = unavailable ?? w.skip?.(t);
        if (reason) {
          skipped.push({ workload: w.id, target: t.id, reason });
          continue;
        }
        opts.progress(`${w.id} on ${t.id}`);
        try {
          const cannot = await w.unavailable?.(ctx, t);
          if (cannot) {
            skipped.push({ workload: w.id, target: t.id, reason: cannot });
            continue;
          }
          for (const m of await w.measure(ctx, t)) {
            const r = row(w.id, t.id, m.unit ?? w.unit, m);
            // A row in another unit than its workload's (jobs/s beside latencies) has no ratio to that baseline.
            const base = m.unit === undefined || m.unit === w.unit ? w.baseline?.(t) : undefined;
            if (base) r.baseline = base;
            if (base && w.baselineWorkload) r.baselineWorkload = w.baselineWorkload;
            if (m.params) r.params = m.params;
            mine.push(r);
          }
        } catch (e) {
          skipped.push({ workload: w.id, target: t.id, reason: `failed: ${(e as Error).message}` });
        }
      }
      // Baselines this workload's results name (call-rtt also shows plain postMessage).
      const wanted = new Set(mine.flatMap((r) => (r.baseline ? [r.baseline] : [])));
      if (w.id === 'call-rtt' && mine.length) wanted.add('baseline/postMessage');
      for (const id of wanted) {
        // Undefined where this platform has no such baseline (a stock boot in a browser): no ratio then.
        const running = w.baselines?.[id]?.(ctx);
        if (!running) continue;
        opts.progress(`${w.id} on ${id}`);
        mine.push(row(w.id, id, w.unit, await running));
      }
      results.push(...mine);
    }
    // After every workload, so a ratio may name another workload's row (pool-acquire vs
    // cold-start); the row without params is the one a target is compared by.
    for (const r of results) {
      const workload = r.baselineWorkload ?? r.workload;
      const base = r.baseline && results.find((b) => b.workload === workload && b.target === r.baseline && !b.params);
      if (base && base.median > 0) r.ratio = r.median / base.median;
    }
  } finally {
    // Teardown after the last sample: a failed dispose cannot change a number, and the
    // report (or the error being thrown) matters more than a second error from cleanup.
    for (const p of pools) await p.dispose().catch(() => {});
    for (const p of primary.values()) await p.then((e) => e.dispose()).catch(() => {});
    for (const e of extras) await e.dispose().catch(() => {});
  }
  return {
    machine: { cpus: env.cpus, node: env.nodeVersion, platform: env.platform, when: new Date().toISOString() },
    quick: opts.quick,
    results,
    skipped,
  };
}
