/** The report as a table for people (the JSON is the report object itself). */
import type { BenchReport, BenchResult } from './types.js';

/** A number as the tables print it: three significant figures or so. */
export function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

/** The rows of the session workloads (src/bench/session.ts), by their param. */
const SESSION_PHASES = [
  ['take', 'take'],
  ['restoreNew', 'restore into a new engine'],
  ['restoreInPlace', 'restore in place'],
  ['size', 'size'],
  ['coldInit', 'cold start + 1 s init'],
  ['templatePool', 'template pool acquire'],
] as const;

function label(r: BenchResult): string {
  const p = r.params ?? {};
  const engines = p.engines;
  if (engines !== undefined && !Array.isArray(engines)) return `${r.workload} (${engines} engine${engines === 1 ? '' : 's'})`;
  const workers = p.workers;
  if (workers !== undefined && !Array.isArray(workers)) {
    const callers = p.callers !== undefined && !Array.isArray(p.callers) ? `, ${p.callers} callers` : '';
    return `${r.workload} (${workers} worker${workers === 1 ? '' : 's'}${callers})`;
  }
  if (p.snapshot === 0) return `${r.workload} (boot from scratch)`;
  if (p.snapshotFromDisk === 1) return `${r.workload} (snapshot from disk)`;
  if (p.snapshotFromCache === 1) return `${r.workload} (snapshot from Cache Storage)`;
  if (p.resetFresh === 1) return `${r.workload} (reset fresh)`;
  if (p.spareWorker === 0) return `${r.workload} (no pre-started worker)`;
  const phase = SESSION_PHASES.find(([k]) => p[k] === 1);
  if (phase) return `${r.workload} (${phase[1]})`;
  return r.workload;
}

/** What a ratio is against: `comlink`, `lua/wasm/worker`, `cold-start` (same target), `cold-start lua/wasm/worker`. */
function versus(r: BenchResult): string {
  const target = r.baseline!.replace('baseline/', '');
  if (!r.baselineWorkload) return target;
  return r.baseline === r.target ? r.baselineWorkload : `${r.baselineWorkload} ${target}`;
}

/** Statistics the table can add after DESIGN §7's columns. */
export const EXTRA_COLUMNS = ['mean', 'p99'] as const;
export type ExtraColumn = (typeof EXTRA_COLUMNS)[number];

export interface TableOptions {
  /** Extra columns, after `vs baseline` (so the first seven keep their place); default: those any row has. */
  columns?: readonly ExtraColumn[];
}

/**
 * A Markdown table: workload, target, median, p95, unit, samples, ratio to the baseline,
 * then mean and p99 where the report has them (empty for single-sample rows, where they
 * are the median).
 */
export function formatTable(report: BenchReport, options: TableOptions = {}): string {
  const extra = options.columns ?? EXTRA_COLUMNS.filter((c) => report.results.some((r) => r[c] !== undefined));
  const rows = report.results.map((r) => [
    label(r),
    r.target,
    num(r.median),
    num(r.p95),
    r.unit,
    String(r.samples),
    r.ratio !== undefined ? `${num(r.ratio)}x ${versus(r)}` : '',
    ...extra.map((c) => {
      const v = r[c];
      return v !== undefined && r.samples > 1 ? num(v) : '';
    }),
  ]);
  const head = ['workload', 'target', 'median', 'p95', 'unit', 'samples', 'vs baseline', ...extra];
  const lines = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  const m = report.machine;
  // One line per target and reason, naming the workloads it covers.
  const groups = new Map<string, string[]>();
  for (const s of report.skipped) {
    const key = `${s.target}\u0000${s.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), s.workload]);
  }
  const workloads = new Set([...report.results.map((r) => r.workload), ...report.skipped.map((s) => s.workload)]);
  const skipped = groups.size
    ? `\n\nSkipped:\n${[...groups]
        .map(([key, ws]) => {
          const [target, reason] = key.split('\u0000');
          return `- ${target} ${ws.length === workloads.size ? '(all workloads)' : ws.join(', ')}: ${reason}`;
        })
        .join('\n')}`
    : '';
  return `${m.cpus} cpus, Node ${m.node}, ${m.platform}, ${m.when}${report.quick ? ' (quick)' : ''}\n\n${lines.join('\n')}${skipped}`;
}
