/**
 * scripts/perf-tables.ts: the tables between perf-table markers are regenerated from the
 * bench report each marker names (filtered as it asks), and the docs hold what their
 * reports give.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatTable } from '../../src/bench/report.js';
import type { BenchReport } from '../../src/bench/types.js';
import { parseSpec, rewrite, run } from '../../scripts/perf-tables.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'small-report.json');
const report = JSON.parse(readFileSync(FIXTURE, 'utf8')) as BenchReport;
const load = () => report;

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('perf-tables', () => {
  it('regenerates the table between the markers, and leaves the rest of the file alone', () => {
    const md = 'Intro.\n\n<!-- perf-table run.json -->\n| old | table |\n<!-- /perf-table -->\n\nOutro.\n';
    const out = rewrite(md, load);
    expect(out).toBe(`Intro.\n\n<!-- perf-table run.json -->\n${formatTable(report)}\n<!-- /perf-table -->\n\nOutro.\n`);
    expect(out).toContain('| cold-start (boot from scratch) | python/wasm/worker | 2970 | 4048 | ms | 7 | 1.30x stock-loadPyodide |');
    expect(out).toContain('- lua/wasm/inline interrupt: inline runs on the caller');
    // Running it again changes nothing.
    expect(rewrite(out, load)).toBe(out);
  });

  it('keeps only the workloads and targets a marker asks for, with the baselines those rows name', () => {
    const out = rewrite('<!-- perf-table run.json workloads=cold-start targets=python/* -->\n<!-- /perf-table -->', load);
    const rows = out.split('\n').filter((l) => /^\| (cold-start|call-rtt)/.test(l));
    expect(rows.map((r) => r.split(' | ')[1])).toEqual(['python/wasm/worker', 'python/wasm/worker', 'baseline/stock-loadPyodide']);
    expect(out).not.toContain('Skipped');
    expect(() => parseSpec('run.json colour=red')).toThrow(/unknown option "colour=red"/);
    expect(() => parseSpec('')).toThrow(/names its bench report/);
  });

  it('adds mean and p99 columns when the report has them; columns= keeps some or none', () => {
    const withTails: BenchReport = {
      ...report,
      results: report.results.map((r) => ({ ...r, mean: r.median * 2, p99: r.p95 * 2 })),
    };
    const table = (spec: string) =>
      rewrite(`<!-- perf-table run.json workloads=call-rtt ${spec}-->\n<!-- /perf-table -->`, () => withTails);
    expect(table('')).toContain('| workload | target | median | p95 | unit | samples | vs baseline | mean | p99 |');
    expect(table('')).toContain('| call-rtt | lua/wasm/worker | 16.5 | 23.9 | us | 79270 | 0.16x comlink | 33.0 | 47.8 |');
    expect(table('columns=p99 ')).toContain('| call-rtt | lua/wasm/worker | 16.5 | 23.9 | us | 79270 | 0.16x comlink | 47.8 |');
    expect(table('columns=none ')).toContain('| call-rtt | lua/wasm/worker | 16.5 | 23.9 | us | 79270 | 0.16x comlink |\n');
    // A report from before mean and p99 has neither column.
    expect(rewrite('<!-- perf-table run.json workloads=call-rtt -->\n<!-- /perf-table -->', load)).not.toContain('| mean |');
    expect(() => parseSpec('run.json columns=p50')).toThrow(/unknown column p50/);
  });

  it('rewrites files in place, and --check reports stale tables without writing', () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-perf-tables-'));
    mkdirIn(dir);
    const doc = join(dir, 'performance.md');
    writeFileSync(doc, '# Performance\n\n<!-- perf-table bench/run.json workloads=call-rtt -->\nstale\n<!-- /perf-table -->\n');
    expect(run([doc], true)).toEqual([doc]);
    expect(readFileSync(doc, 'utf8')).toContain('stale');
    expect(run([doc], false)).toEqual([doc]);
    expect(readFileSync(doc, 'utf8')).toContain('| call-rtt | lua/wasm/worker | 16.5 | 23.9 | us | 79270 | 0.16x comlink |');
    expect(run([doc], true)).toEqual([]);
  });

  it('every table in docs/ is what its report gives (npx tsx scripts/perf-tables.ts to refresh)', () => {
    const docs = readdirSync('docs')
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f));
    expect(docs.filter((f) => readFileSync(f, 'utf8').includes('<!-- perf-table ')).length).toBeGreaterThan(0);
    expect(run(docs, true)).toEqual([]);
  });
});

/** A docs-like folder: the Markdown file beside bench/run.json. */
function mkdirIn(root: string): void {
  mkdirSync(join(root, 'bench'));
  copyFileSync(FIXTURE, join(root, 'bench', 'run.json'));
}
