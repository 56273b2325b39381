/**
 * src/bench/guards.ts: guards are evaluated over a report as a pure function. A guard passes
 * or fails only on rows measured in the run; a row filtered out or skipped leaves it not
 * evaluated, never passed.
 */
import { describe, expect, it } from 'vitest';
import { describeOutcome, evaluateGuards, formatGuards, GUARDS, guardsFor, type Guard } from '../../src/bench/guards.js';
import type { BenchReport, BenchResult } from '../../src/bench/types.js';

const row = (workload: string, target: string, median: number, more: Partial<BenchResult> = {}): BenchResult => ({
  workload,
  target,
  median,
  p95: median * 2,
  mean: median * 1.5,
  p99: median * 4,
  unit: 'us',
  samples: 300,
  ...more,
});

const report = (results: BenchResult[], skipped: BenchReport['skipped'] = []): BenchReport => ({
  machine: { cpus: 2, node: 'v20', platform: 'linux-x64', when: '2026-12-04T00:00:00.000Z' },
  quick: true,
  results,
  skipped,
});

const guard = (more: Partial<Guard>): Guard => ({
  id: 'g',
  workload: 'call-rtt',
  targets: 'lua/wasm/worker',
  versus: 'baseline',
  statistic: 'median',
  limit: 1,
  why: 'test',
  ci: true,
  ...more,
});

const COMLINK = row('call-rtt', 'baseline/comlink', 50);

describe('evaluateGuards', () => {
  it('passes a ratio at or under the limit and fails one over it, with both medians', () => {
    const r = report([row('call-rtt', 'lua/wasm/worker', 50, { baseline: 'baseline/comlink' }), COMLINK]);
    const [pass] = evaluateGuards(r, [guard({ limit: 1 })]);
    expect(pass).toMatchObject({ guard: 'g', target: 'lua/wasm/worker', status: 'pass', ratio: 1, medians: [50, 50] });
    const [fail] = evaluateGuards(r, [guard({ limit: 0.5 })]);
    expect(fail).toMatchObject({ status: 'fail', ratio: 1, limit: 0.5, versus: 'call-rtt baseline/comlink', medians: [50, 50] });
    expect(describeOutcome(fail!)).toBe(
      'FAIL g lua/wasm/worker: median 1.00x vs call-rtt baseline/comlink > limit 0.5x (medians 50.0 / 50.0 us)',
    );
  });

  it('compares the statistic it names: mean, p99, or a row p99 over its own median', () => {
    const r = report([
      row('call-rtt', 'lua/wasm/worker', 10, { baseline: 'baseline/comlink', mean: 60, p99: 500 }),
      row('call-rtt', 'baseline/comlink', 50, { mean: 40, p99: 100 }),
    ]);
    const [mean, p99, tail] = evaluateGuards(r, [
      guard({ statistic: 'mean', limit: 1 }),
      guard({ statistic: 'p99', limit: 10 }),
      guard({ versus: 'self', statistic: 'p99/median', limit: 25 }),
    ]);
    expect(mean).toMatchObject({ status: 'fail', ratio: 1.5, compared: [60, 40], medians: [10, 50] });
    expect(p99).toMatchObject({ status: 'pass', ratio: 5, compared: [500, 100] });
    expect(tail).toMatchObject({ status: 'fail', ratio: 50, compared: [500, 10] });
    expect(tail!.versus).toBeUndefined();
    expect(describeOutcome(tail!)).toContain('p99/median 50.0x > limit 25x (p99 500 / median 10.0 us)');
  });

  it('compares with another row, named by a template of the row target', () => {
    const r = report([row('call-rtt', 'lua/wasm/process', 90), row('call-rtt', 'lua/wasm/worker', 30)]);
    const [o] = evaluateGuards(r, [guard({ targets: 'lua/wasm/process', versus: { target: '{language}/{backend}/worker' }, limit: 2 })]);
    expect(o).toMatchObject({ status: 'fail', ratio: 3, versus: 'call-rtt lua/wasm/worker', medians: [90, 30] });
    // Another workload's row (pool-acquire against cold-start) works the same way.
    const cross = report([
      row('pool-acquire', 'lua/wasm/worker', 1, { unit: 'ms' }),
      row('cold-start', 'lua/wasm/worker', 100, { unit: 'ms' }),
    ]);
    const [c] = evaluateGuards(cross, [
      guard({ workload: 'pool-acquire', versus: { workload: 'cold-start', target: '{language}/{backend}/{placement}' }, limit: 0.1 }),
    ]);
    expect(c).toMatchObject({ status: 'pass', ratio: 0.01, versus: 'cold-start lua/wasm/worker' });
  });

  it('uses the baseline a row names, in the workload it names (baselineWorkload)', () => {
    const r = report([
      row('call-sync', 'lua/native/inline', 1, { baseline: 'lua/native/inline', baselineWorkload: 'call-rtt' }),
      row('call-rtt', 'lua/native/inline', 8),
    ]);
    const [o] = evaluateGuards(r, [guard({ workload: 'call-sync', targets: 'lua/native/inline' })]);
    expect(o).toMatchObject({ status: 'pass', ratio: 0.125, versus: 'call-rtt lua/native/inline' });
  });

  it('is not evaluated when the row was filtered out, skipped, or its comparison is missing', () => {
    const r = report(
      [row('call-rtt', 'lua/wasm/worker', 50, { baseline: 'baseline/comlink' }), row('call-rtt', 'lua/wasm/process', 80)],
      [{ workload: 'call-rtt', target: 'python/wasm/worker', reason: 'failed: boom' }],
    );
    const out = evaluateGuards(r, [
      guard({ targets: '*/wasm/worker' }),
      guard({ id: 'p', targets: 'lua/wasm/process', versus: 'baseline' }),
    ]);
    const by = (t: string, id = 'g') => out.find((o) => o.target === t && o.guard === id)!;
    // The baseline row is absent (e.g. its measurement failed): no ratio, no verdict.
    expect(by('lua/wasm/worker')).toMatchObject({ status: 'not-evaluated', versus: 'call-rtt baseline/comlink' });
    expect(by('lua/wasm/worker').reason).toMatch(/baseline\/comlink was not measured/);
    expect(by('python/wasm/worker')).toMatchObject({
      status: 'not-evaluated',
      reason: 'call-rtt on python/wasm/worker skipped: failed: boom',
    });
    expect(by('lua/wasm/process', 'p')).toMatchObject({
      status: 'not-evaluated',
      reason: 'call-rtt on lua/wasm/process names no baseline',
    });
    for (const o of out) expect(o.ratio).toBeUndefined();
    // A pattern expands over every known target, so nothing silently drops out.
    expect(out.filter((o) => o.guard === 'g').map((o) => o.target)).toEqual(['python/wasm/worker', 'lua/wasm/worker']);
  });

  it('is not evaluated on a report from before mean and p99 were kept', () => {
    const old = { ...row('call-rtt', 'lua/wasm/worker', 50, { baseline: 'baseline/comlink' }) };
    delete old.mean;
    delete old.p99;
    const r = report([old, { ...COMLINK, mean: undefined }]);
    const [mean, tail, median] = evaluateGuards(r, [
      guard({ statistic: 'mean' }),
      guard({ versus: 'self', statistic: 'p99/median' }),
      guard({ statistic: 'median' }),
    ]);
    expect(mean).toMatchObject({ status: 'not-evaluated' });
    expect(tail).toMatchObject({ status: 'not-evaluated' });
    expect(median).toMatchObject({ status: 'pass' });
  });

  it('a row with params is not the one compared (the plain row of a workload is)', () => {
    const r = report([row('memory', 'lua/wasm/worker', 15, { unit: 'MB', params: { engines: 1 } })]);
    expect(evaluateGuards(r, [guard({ workload: 'memory', versus: 'self', statistic: 'p99/median' })])[0]!.status).toBe('not-evaluated');
  });
});

describe('the guard table', () => {
  it('lists failures first, then passes, then what was not evaluated, with a count', () => {
    const r = report([row('call-rtt', 'lua/wasm/worker', 50, { baseline: 'baseline/comlink' }), COMLINK]);
    const out = evaluateGuards(r, [
      guard({ id: 'ok', limit: 2 }),
      guard({ id: 'bad', limit: 0.5 }),
      guard({ id: 'none', workload: 'transfer-1m' }),
    ]);
    const text = formatGuards(out);
    expect(text).toMatch(/^Guards: 1 failed, 1 passed, 1 not evaluated\n/);
    const lines = text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| status') && !l.startsWith('| ---'));
    expect(lines.map((l) => l.split(' | ')[1])).toEqual(['bad', 'ok', 'none']);
    expect(lines[0]).toContain('| FAIL | bad | lua/wasm/worker | median | 1.00x | 0.5x | call-rtt baseline/comlink |');
  });
});

describe('GUARDS', () => {
  it('are well formed: unique ids, positive limits, a reason each, self only with p99/median', () => {
    expect(new Set(GUARDS.map((g) => g.id)).size).toBe(GUARDS.length);
    for (const g of GUARDS) {
      expect(g.limit, g.id).toBeGreaterThan(0);
      expect(g.why.length, g.id).toBeGreaterThan(20);
      expect(g.versus === 'self', g.id).toBe(g.statistic === 'p99/median');
      // Every guard names at least one known target.
      expect(evaluateGuards(report([]), [g]).length, g.id).toBeGreaterThan(0);
    }
    expect(guardsFor('all')).toBe(GUARDS);
    expect(guardsFor('ci').every((g) => g.ci)).toBe(true);
    expect(guardsFor('ci').length).toBeGreaterThan(0);
  });

  it('include the guards issue 20 asks for', () => {
    const ids = GUARDS.map((g) => `${g.workload}:${g.targets}:${JSON.stringify(g.versus)}:${g.statistic}`);
    expect(ids).toContain('call-rtt:python/wasm/worker,lua/wasm/worker:"baseline":median');
    expect(ids).toContain('transfer-1m:*/*/worker:"baseline":median');
    expect(ids).toContain('call-rtt:python/wasm/worker,lua/wasm/worker:"self":p99/median');
    expect(ids).toContain('host-call-rtt:python/wasm/worker:"baseline":median');
  });
});
