/**
 * The benchmark harness: `scriptbox bench --quick --json --check ci` (what CI runs) must
 * report every workload for every available target, or say why not, and no CI guard may
 * fail. Guards compare ratios measured in the same run (src/bench/guards.ts), with limits
 * far from any goal; this file holds no timing threshold of its own.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatGuards, GUARDS } from '../../src/bench/guards.js';
import { formatTable } from '../../src/bench/report.js';
import { allTargets, targetMatcher } from '../../src/bench/targets.js';
import type { BenchReport } from '../../src/bench/types.js';
import { WORKLOADS } from '../../src/bench/workloads.js';
import { nativeMissing } from '../../src/node/bench-env.js';

const run = promisify(execFile);

/** The two pool-acquire rows of a target (reset reuse, reset fresh), compared with its cold-start. */
function expectPoolRows(report: BenchReport, target: string, withColdStart: boolean): void {
  const rows = report.results.filter((r) => r.workload === 'pool-acquire' && r.target === target);
  expect(
    rows.map((r) => r.params ?? null),
    target,
  ).toEqual([null, { resetFresh: 1 }]);
  for (const r of rows) {
    expect(r, target).toMatchObject({ unit: 'ms', baseline: target, baselineWorkload: 'cold-start' });
    expect(r.samples, target).toBeGreaterThan(0);
    expect(r.median > 0 && r.p95 >= r.median && Number.isFinite(r.p95), `${target} median ${r.median} p95 ${r.p95}`).toBe(true);
    if (withColdStart) expect(r.ratio, target).toBeGreaterThan(0);
    else expect(r.ratio, target).toBeUndefined();
  }
}

describe('bench targets', () => {
  it('lists every language x backend x placement, with reasons for what cannot run', () => {
    const all = allTargets({ node: true, nativeMissing: () => undefined });
    expect(all).toHaveLength(12);
    expect(all.filter((c) => !c.unavailable).map((c) => c.target.id)).toEqual([
      'python/wasm/worker',
      'python/wasm/process',
      'python/wasm/inline',
      'python/native/worker',
      'python/native/process',
      'python/native/inline',
      'lua/wasm/worker',
      'lua/wasm/process',
      'lua/wasm/inline',
      'lua/native/worker',
      'lua/native/process',
      'lua/native/inline',
    ]);
    const noLua = allTargets({ node: true, nativeMissing: (l) => (l === 'lua' ? 'libluajit-5.1.so.2 was not found' : undefined) });
    expect(noLua.find((c) => c.target.id === 'lua/native/inline')?.unavailable).toMatch(/libluajit/);
    expect(noLua.find((c) => c.target.id === 'python/native/inline')?.unavailable).toBeUndefined();
    expect(allTargets({ node: false }).find((c) => c.target.id === 'lua/wasm/process')?.unavailable).toMatch(/needs Node/);
    expect(allTargets({ node: false }).find((c) => c.target.id === 'lua/native/worker')?.unavailable).toMatch(/needs Node/);
  });

  it('--targets patterns match by part', () => {
    const m = targetMatcher('python/*,*/wasm/process');
    expect(['python/wasm/worker', 'lua/wasm/process', 'lua/wasm/worker'].map(m)).toEqual([true, true, false]);
    expect(targetMatcher('lua')('lua/wasm/inline')).toBe(true);
    expect(targetMatcher(undefined)('anything')).toBe(true);
  });
});

describe('scriptbox bench --quick --json', () => {
  it(
    'reports every workload for every available target, or why not',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sb-bench-'));
      const file = join(dir, 'bench.json');
      // Exit 1 when a CI guard fails: the report is written first, so the guard table below says which.
      const { stdout, stderr, code } = await run(
        process.execPath,
        ['--expose-gc', 'dist/src/cli/main.js', 'bench', '--quick', '--json', file, '--check', 'ci'],
        {
          maxBuffer: 16 * 1024 * 1024,
          timeout: 15 * 60_000,
        },
      ).then(
        (r) => ({ ...r, code: 0 }),
        (e: { stdout: string; stderr: string; code: number }) => e,
      );
      const text = await readFile(file, 'utf8').catch((e: Error) => {
        throw new Error(`bench wrote no report (exit ${code}): ${stderr.slice(-2000)}`, { cause: e });
      });
      const report = JSON.parse(text) as BenchReport;
      expect(report.machine).toMatchObject({
        cpus: expect.any(Number),
        node: process.version,
        platform: expect.any(String),
        when: expect.any(String),
      });
      expect(report.skipped.filter((s) => s.reason.startsWith('failed'))).toEqual([]);
      const guards = report.guards ?? [];
      expect(
        guards.filter((g) => g.status === 'fail'),
        `${formatGuards(guards)}\n${stderr.split('\n').slice(-20).join('\n')}`,
      ).toEqual([]);
      expect(code, stderr.split('\n').slice(-20).join('\n')).toBe(0);
      // Only CI's guards, each with an outcome per target it names.
      expect(new Set(guards.map((g) => g.guard))).toEqual(new Set(GUARDS.filter((g) => g.ci).map((g) => g.id)));
      expect(guards.every((g) => g.ci)).toBe(true);
      expect(stdout).toMatch(/Guards: 0 failed, \d+ passed, \d+ not evaluated/);
      const available = allTargets({ node: true, nativeMissing }).filter((c) => !c.unavailable);
      for (const w of WORKLOADS) {
        for (const { target } of available) {
          const measured = report.results.some((r) => r.workload === w.id && r.target === target.id);
          const skip = report.skipped.find((s) => s.workload === w.id && s.target === target.id);
          expect(measured || !!skip?.reason, `${w.id} on ${target.id}`).toBe(true);
        }
      }
      for (const r of report.results) {
        expect(r.samples, `${r.workload} ${r.target}`).toBeGreaterThan(0);
        expect(Number.isFinite(r.median) && Number.isFinite(r.p95)).toBe(true);
        // Every row carries mean and p99 beside median and p95 (the tail p95 and p99 share one rule).
        expect(Number.isFinite(r.mean) && Number.isFinite(r.p99), `${r.workload} ${r.target} mean ${r.mean} p99 ${r.p99}`).toBe(true);
        expect(r.p99!, `${r.workload} ${r.target}`).toBeGreaterThanOrEqual(r.p95);
        if (r.baseline) {
          const workload = r.baselineWorkload ?? r.workload;
          expect(
            report.results.some((b) => b.workload === workload && b.target === r.baseline),
            `${r.workload}: baseline ${workload} ${r.baseline}`,
          ).toBe(true);
          expect(r.ratio).toBeGreaterThan(0);
        }
      }
      for (const { target } of available) expectPoolRows(report, target.id, true);
      expect(stdout).toContain('| pool-acquire (reset fresh) |');
      // Restart after a hard kill: measured where a kill is possible; refused inline and for
      // native workers (a thread inside native code cannot be killed), with the reason.
      for (const { target } of available) {
        const row = report.results.find((r) => r.workload === 'restart' && r.target === target.id);
        if (target.placement === 'inline' || (target.backend === 'native' && target.placement === 'worker')) {
          expect(row, target.id).toBeUndefined();
          expect(report.skipped.find((s) => s.workload === 'restart' && s.target === target.id)?.reason, target.id).toMatch(
            /cannot|caller's thread/,
          );
        } else expect(row?.median, target.id).toBeGreaterThan(0);
      }
      expect(stdout).toContain('| cold-start (no pre-started worker) | python/wasm/worker |');
      for (const b of [
        'baseline/stock-loadPyodide',
        'baseline/stock-wasmoon',
        'baseline/comlink',
        'baseline/postMessage',
        'baseline/structuredClone',
      ]) {
        expect(
          report.results.some((r) => r.target === b),
          b,
        ).toBe(true);
      }
      expect(stdout).toContain('| workload | target | median | p95 | unit | samples | vs baseline |');
      expect(stdout).toContain('| vs baseline | mean | p99 |');
      // A plain await loop per target, and comlink's, so its ratio is like for like.
      for (const { target } of available) {
        const seq = report.results.find((r) => r.workload === 'call-rtt-sequential' && r.target === target.id);
        expect(seq, target.id).toMatchObject({ unit: 'us', baseline: 'baseline/comlink', ratio: expect.any(Number) });
      }
      expect(report.results.some((r) => r.workload === 'call-rtt-sequential' && r.target === 'baseline/comlink')).toBe(true);
      // callSync: inline only; elsewhere (or before it is built) skipped with the reason.
      for (const { target } of available) {
        const row = report.results.find((r) => r.workload === 'call-sync' && r.target === target.id);
        const skip = report.skipped.find((s) => s.workload === 'call-sync' && s.target === target.id);
        if (target.placement !== 'inline') expect(skip?.reason, target.id).toMatch(/inline-only/);
        else if (row)
          expect(row, target.id).toMatchObject({ baseline: target.id, baselineWorkload: 'call-rtt', ratio: expect.any(Number) });
        else expect(skip?.reason, target.id).toMatch(/callSync/);
      }
      expect(formatTable(report)).toContain('Skipped:');
    },
    20 * 60_000,
  );

  it(
    "pool-acquire: reuse and fresh rows per target, ratio to the same run's cold-start, pools closed",
    async () => {
      // The CLI ends on its own (execFile resolves) only if every pool and engine was let go.
      const bench = async (only: string) => {
        const { stdout } = await run(
          process.execPath,
          ['--expose-gc', 'dist/src/cli/main.js', 'bench', '--quick', '--only', only, '--targets', 'lua/wasm/worker', '--json'],
          {
            maxBuffer: 16 * 1024 * 1024,
            timeout: 5 * 60_000,
          },
        );
        return JSON.parse(stdout) as BenchReport;
      };
      const both = await bench('cold-start,pool-acquire');
      expect(both.skipped).toEqual([]);
      expectPoolRows(both, 'lua/wasm/worker', true);
      const cold = both.results.find((r) => r.workload === 'cold-start' && r.target === 'lua/wasm/worker')!;
      const reuse = both.results.find((r) => r.workload === 'pool-acquire' && !r.params)!;
      expect(reuse.ratio).toBeCloseTo(reuse.median / cold.median, 10);
      expect(formatTable(both)).toMatch(/\| pool-acquire \(reset fresh\) \| lua\/wasm\/worker \|.*x cold-start \|/);
      // Without cold-start in the run, the rows still say what they compare with, but have no ratio.
      expectPoolRows(await bench('pool-acquire'), 'lua/wasm/worker', false);
    },
    10 * 60_000,
  );

  it('rejects unknown workloads and targets with exit 2', async () => {
    const bad = await run(process.execPath, ['dist/src/cli/main.js', 'bench', '--only', 'nope']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown workload nope; known: cold-start/) });
    const none = await run(process.execPath, ['dist/src/cli/main.js', 'bench', '--targets', 'ruby/*']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(none).toMatchObject({ code: 2, stderr: expect.stringMatching(/matches no target/) });
  });
});
