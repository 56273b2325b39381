/**
 * The in-page benchmark: DESIGN §7's cold-start, call-rtt, host-call-rtt and fib on
 * python/wasm/worker and lua/wasm/worker, through the public API, with the Node harness's
 * scripts (src/bench/scripts.ts) and statistics (src/bench/sample.ts) so rows compare.
 */
import { sample, type Stats } from '../../src/bench/sample.js';
import { BENCH_SCRIPT, FIRST } from '../../src/bench/scripts.js';
import type { BenchReport, BenchResult, Budget, Skipped, Unit } from '../../src/bench/types.js';
import { createEngine, type EngineOptions, type Language, type ScriptEngine } from '../../src/index.js';
import { browserMachine } from './report.js';
import { echoWorker, freshRealmColdStart } from './workers.js';

export type StepState = 'pending' | 'running' | 'done' | 'failed';

export interface Step {
  label: string;
  state: StepState;
  /** What the step is doing now, or why it failed. */
  detail?: string;
}

/** Samples per step. Python boots take seconds each, so its cold starts get few. */
const PLANS = {
  full: { scratch: 2, store: 3, memory: 3, lua: 5, rttIterations: 1000, rttMs: 1000, hostLoops: 20, fib: 5 },
  quick: { scratch: 1, store: 1, memory: 2, lua: 3, rttIterations: 200, rttMs: 200, hostLoops: 5, fib: 2 },
};

/** Host calls per sample of host-call-rtt (as in the Node harness). */
const HOST_LOOP = 200;

/** The message a call('noop') sends (src/bench/workloads.ts), for the postMessage baseline. */
const CALL_MSG = { t: 'call', fn: 'noop', args: [], timeoutMs: 30000, stream: false, optional: false };

const target = (l: Language) => `${l}/wasm/worker`;

// The options the Node harness gives its engines (src/bench/runner.ts).
const options = (more: EngineOptions = {}): EngineOptions => ({
  capabilities: ['echo'],
  hostFunctions: { echo: (x) => x },
  limits: { timeoutMs: 120_000 },
  ...more,
});

/** A budget of exactly `n` cold samples, no warm-up: each one is a boot. */
const cold = (n: number): Budget => ({ iterations: n, time: 0, warmupIterations: 0, warmupTime: 0, warmup: false });

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** createEngine -> first exec result, in ms; the engine is disposed after the clock stops. */
async function bootOnce(language: Language, more?: EngineOptions): Promise<number> {
  // Let the previous engine's teardown finish off the clock, as the Node harness settles.
  await pause(100);
  const t0 = performance.now();
  const e = await createEngine(language, options(more));
  try {
    const r = await e.exec(FIRST[language]);
    const ms = performance.now() - t0;
    if (!r.success || r.value !== 2) throw new Error(`exec(${JSON.stringify(FIRST[language])}) gave ${JSON.stringify(r.error ?? r.value)}`);
    return ms;
  } finally {
    await e.dispose();
  }
}

interface Job {
  label: string;
  workload: string;
  target: string;
  unit: Unit;
  params?: Record<string, number>;
  /** The row this one is compared with (`ratio`), as in the Node report. */
  baseline?: string;
  measure(say: (detail: string) => void): Promise<Stats>;
}

/**
 * Runs every step in order; a failed step is reported (in `skipped` and on its step) and
 * the rest still run. `onStep` is called whenever a step's state or detail changes.
 */
export async function runBrowserBench(quick: boolean, onStep: (steps: readonly Step[]) => void): Promise<BenchReport> {
  const plan = quick ? PLANS.quick : PLANS.full;
  const engines = new Map<Language, Promise<ScriptEngine>>();
  // One warm engine per language with the bench script loaded, for the round-trip workloads.
  const engine = (l: Language) => {
    if (!engines.has(l)) {
      engines.set(l, (async () => {
        const e = await createEngine(l, options());
        await e.load(BENCH_SCRIPT[l], 'bench');
        return e;
      })());
    }
    return engines.get(l)!;
  };
  // Says which sample runs; the first `warm` calls are tinybench's warm-up.
  const counted = (say: (d: string) => void, n: number, fn: () => Promise<number>, warm = 0) => {
    let i = 0;
    return () => {
      i++;
      say(i <= warm ? 'warming up' : `sample ${i - warm} of ${n}`);
      return fn();
    };
  };
  const rtt = { iterations: plan.rttIterations, time: plan.rttMs, warmupIterations: 50, warmupTime: 100, warmup: true };

  const jobs: Job[] = [
    {
      label: 'Python cold start, no snapshot (boot from scratch)',
      workload: 'cold-start', target: target('python'), unit: 'ms', params: { snapshot: 0 },
      measure: (say) => sample('cold-start python scratch', counted(say, plan.scratch, () => bootOnce('python', { snapshot: false })), cold(plan.scratch)),
    },
    {
      label: 'Python cold start, snapshot from Cache Storage (new realm)',
      workload: 'cold-start', target: target('python'), unit: 'ms', params: { snapshotFromCache: 1 },
      async measure(say) {
        // Untimed: leaves a snapshot in Cache Storage (booting from scratch if there is none yet).
        say('making sure Cache Storage holds a snapshot');
        await freshRealmColdStart(false);
        return sample('cold-start python cache', counted(say, plan.store, () => freshRealmColdStart(true)), cold(plan.store));
      },
    },
    {
      label: 'Python cold start, snapshot in page memory',
      workload: 'cold-start', target: target('python'), unit: 'ms', params: { spareWorker: 0 },
      async measure(say) {
        // Untimed: the page's first snapshot boot reads Cache Storage into memory.
        say('loading the snapshot into this page');
        await bootOnce('python');
        return sample('cold-start python memory', counted(say, plan.memory, () => bootOnce('python')), cold(plan.memory));
      },
    },
    {
      label: 'Lua cold start',
      workload: 'cold-start', target: target('lua'), unit: 'ms',
      measure: (say) => sample('cold-start lua', counted(say, plan.lua, () => bootOnce('lua')), cold(plan.lua)),
    },
    ...(['python', 'lua'] as const).map((l): Job => ({
      label: `${l === 'python' ? 'Python' : 'Lua'} call('noop') round trip`,
      workload: 'call-rtt', target: target(l), unit: 'us', baseline: 'baseline/postMessage',
      async measure(say) {
        say('starting the engine');
        const e = await engine(l);
        say(`sampling for ${plan.rttMs} ms / ${plan.rttIterations} calls at least`);
        return us(await sample(`call-rtt ${l}`, () => e.call('noop').then(() => {}), rtt));
      },
    })),
    {
      label: 'postMessage round trip to a worker (baseline)',
      workload: 'call-rtt', target: 'baseline/postMessage', unit: 'us',
      async measure(say) {
        // The same message a call carries, echoed by a bare worker: what any worker round trip costs here.
        const w = echoWorker();
        try {
          say(`sampling for ${plan.rttMs} ms / ${plan.rttIterations} round trips at least`);
          return us(await sample('baseline/postMessage', () => w.call(CALL_MSG).then(() => {}), rtt));
        } finally {
          w.close();
        }
      },
    },
    ...(['python', 'lua'] as const).map((l): Job => ({
      label: `${l === 'python' ? 'Python' : 'Lua'} host call round trip`,
      workload: 'host-call-rtt', target: target(l), unit: 'us',
      async measure(say) {
        if (!crossOriginIsolated) throw new Error('blocking host calls need SharedArrayBuffer, which needs a cross-origin isolated page (COOP/COEP)');
        const e = await engine(l);
        say(`${plan.hostLoops} samples of ${HOST_LOOP} host calls in one call`);
        const once = async () => {
          const t0 = performance.now();
          await e.call('hc', [HOST_LOOP]);
          return (performance.now() - t0) / HOST_LOOP;
        };
        return us(await sample(`host-call-rtt ${l}`, once, { iterations: plan.hostLoops, time: 0, warmupIterations: 3, warmupTime: 0, warmup: true }));
      },
    })),
    ...(['python', 'lua'] as const).map((l): Job => ({
      label: `${l === 'python' ? 'Python' : 'Lua'} fib(27)`,
      workload: 'fib', target: target(l), unit: 'ms',
      async measure(say) {
        const e = await engine(l);
        return sample(`fib ${l}`, counted(say, plan.fib, async () => {
          const t0 = performance.now();
          await e.call('fib', [27]);
          return performance.now() - t0;
        }, 1), { iterations: plan.fib, time: 0, warmupIterations: 1, warmupTime: 0, warmup: true });
      },
    })),
  ];

  const steps: Step[] = jobs.map((j) => ({ label: j.label, state: 'pending' }));
  const results: BenchResult[] = [];
  const skipped: Skipped[] = [];
  onStep(steps);
  try {
    for (const [i, job] of jobs.entries()) {
      const step = steps[i]!;
      const say = (detail: string) => {
        step.detail = detail;
        onStep(steps);
      };
      step.state = 'running';
      say('');
      try {
        const s = await job.measure(say);
        const r: BenchResult = { workload: job.workload, target: job.target, median: s.median, p95: s.p95, unit: job.unit, samples: s.samples };
        if (job.baseline) r.baseline = job.baseline;
        if (job.params) r.params = job.params;
        results.push(r);
        step.state = 'done';
        say('');
      } catch (e) {
        const reason = (e as Error)?.message ?? String(e);
        skipped.push({ workload: job.workload, target: job.target, reason: `failed: ${reason}` });
        step.state = 'failed';
        say(reason);
      }
    }
  } finally {
    for (const p of engines.values()) await p.then((e) => e.dispose()).catch(() => {});
  }
  for (const r of results) {
    const base = r.baseline && results.find((b) => b.workload === r.workload && b.target === r.baseline);
    if (base && base.median > 0) r.ratio = r.median / base.median;
  }
  return { machine: browserMachine(), quick, results, skipped };
}

/** tinybench reports ms; round trips read better in microseconds (as the Node harness reports them). */
const us = (s: Stats): Stats => ({ ...s, median: s.median * 1000, p95: s.p95 * 1000 });
