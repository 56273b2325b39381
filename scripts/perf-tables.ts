/**
 * Regenerates the performance tables in the docs from bench reports (the JSON of
 * `npm run bench -- --json FILE`), so no number in a doc is pasted by hand.
 *
 * A table is the text between two markers; the first names the report, relative to the
 * Markdown file, and may keep only some workloads and targets (baseline rows that kept rows
 * are compared with stay):
 *
 *   <!-- perf-table bench/full-run.json workloads=cold-start,pool-acquire targets=python/* -->
 *   (generated: src/bench/report.ts's table)
 *   <!-- /perf-table -->
 *
 * The table adds mean and p99 columns when the report has them (reports from before they
 * were kept have neither); `columns=mean` keeps only some, `columns=none` drops both. A
 * sequential caller's numbers are the `call-rtt-sequential` rows (`workloads=call-rtt,call-rtt-sequential`).
 *
 * Run from the repository root: `npx tsx scripts/perf-tables.ts [--check] [FILE.md ...]`
 * (default: every docs/*.md).
 * `--check` changes nothing and exits 1 when a table is not what its report gives.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXTRA_COLUMNS, formatTable, type ExtraColumn } from '../src/bench/report.js';
import { targetMatcher } from '../src/bench/targets.js';
import type { BenchReport } from '../src/bench/types.js';

/** A marked table: markers start their lines (an indented example in a code block is left alone). */
const BLOCK = /^(<!-- perf-table ([^>\n]*?) -->\n)([\s\S]*?)^(<!-- \/perf-table -->)/gm;

/** What one marker asks for. */
export interface TableSpec {
  report: string;
  workloads?: string[];
  targets?: string;
  /** The extra statistic columns; absent: those the report has. */
  columns?: ExtraColumn[];
}

/** Reads `bench/x.json workloads=a,b targets=p/*` from a marker. */
export function parseSpec(text: string): TableSpec {
  const [report, ...options] = text.trim().split(/\s+/);
  if (!report) throw new Error('a perf-table marker names its bench report: <!-- perf-table bench/run.json -->');
  const spec: TableSpec = { report };
  for (const o of options) {
    const [key, value] = o.split('=', 2);
    if (key === 'workloads' && value) spec.workloads = value.split(',').filter(Boolean);
    else if (key === 'targets' && value) spec.targets = value;
    else if (key === 'columns' && value) spec.columns = parseColumns(value);
    else
      throw new Error(
        `perf-table marker: unknown option ${JSON.stringify(o)} (known: workloads=a,b targets=pattern columns=mean,p99|none)`,
      );
  }
  return spec;
}

function parseColumns(value: string): ExtraColumn[] {
  if (value === 'none') return [];
  const cols = value.split(',').filter(Boolean);
  const bad = cols.filter((c) => !(EXTRA_COLUMNS as readonly string[]).includes(c));
  if (bad.length) throw new Error(`perf-table marker: unknown column ${bad.join(', ')} (known: ${EXTRA_COLUMNS.join(', ')}, or none)`);
  return cols as ExtraColumn[];
}

/** The report with only the rows a spec keeps, plus the baseline rows those are compared with. */
export function select(report: BenchReport, spec: TableSpec): BenchReport {
  const matches = targetMatcher(spec.targets);
  const workload = (w: string) => !spec.workloads || spec.workloads.includes(w);
  const kept = report.results.filter((r) => workload(r.workload) && matches(r.target));
  const named = new Set(kept.flatMap((r) => (r.baseline ? [`${r.baselineWorkload ?? r.workload}\u0000${r.baseline}`] : [])));
  const results = report.results.filter(
    (r) => kept.includes(r) || (r.target.startsWith('baseline/') && named.has(`${r.workload}\u0000${r.target}`)),
  );
  const skipped = report.skipped.filter((s) => workload(s.workload) && matches(s.target));
  return { ...report, results, skipped };
}

/** `markdown` with every marked table regenerated; `load` reads a report by the marker's path. */
export function rewrite(markdown: string, load: (path: string) => BenchReport): string {
  return markdown.replace(BLOCK, (_all, open: string, spec: string, _old: string, close: string) => {
    const s = parseSpec(spec);
    return `${open}${formatTable(select(load(s.report), s), s.columns ? { columns: s.columns } : {})}\n${close}`;
  });
}

function readReport(path: string): BenchReport {
  const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<BenchReport>;
  if (!data.machine || !Array.isArray(data.results))
    throw new Error(`${path} is not a bench report (npm run bench -- --json FILE makes one)`);
  return { skipped: [], quick: false, ...data } as BenchReport;
}

/** Rewrites (or with `check`, compares) each file; returns the files whose tables were stale. */
export function run(files: string[], check: boolean): string[] {
  const stale: string[] = [];
  for (const file of files) {
    const before = readFileSync(file, 'utf8');
    const after = rewrite(before, (p) => readReport(resolve(dirname(file), p)));
    if (after === before) continue;
    stale.push(file);
    if (!check) writeFileSync(file, after);
  }
  return stale;
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  let files = argv.filter((a) => a !== '--check');
  if (files.length === 0) {
    const docs = join(process.cwd(), 'docs');
    files = readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(docs, f));
  }
  const stale = run(files, check);
  for (const f of stale) process.stdout.write(`${check ? 'stale' : 'rewrote'}: ${f}\n`);
  return check && stale.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) process.exitCode = main(process.argv.slice(2));
