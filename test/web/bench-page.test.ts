/**
 * The Benchmarks page in real Chromium: a quick run in the page gives every row with
 * positive medians, the charts hold the Browser and Node series, a bad file is refused
 * with a message naming what is wrong, and the page fits a phone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../src/bench/types.js';
import { launchChromium, pageErrors, serveSite, SHOTS, type Site } from './harness.js';

interface ChartSummary {
  unit: string;
  labels: string[];
  datasets: { label: string; data: (number | null)[] }[];
}

let site: Site;
let browser: Browser;
let page: Page;
let errors: string[];

beforeAll(async () => {
  site = await serveSite();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  errors = pageErrors(page);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** Whether the canvas has any pixel drawn (not all transparent). */
const drawn = (unit: string) =>
  page.evaluate((u) => {
    const c = document.querySelector<HTMLCanvasElement>(`canvas[data-unit="${u}"]`);
    if (!c || !c.width || !c.height) return false;
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) return true;
    return false;
  }, unit);

describe('bench page', () => {
  it('runs the browser bench and charts it beside bench/node.json', async () => {
    await page.goto(`${site.url}bench.html?quick=1`);
    await page.waitForSelector('#compare-source[data-state="loaded"]', { timeout: 60_000 });
    await page.click('#run');
    await page.waitForSelector('#status[data-state="done"]', { timeout: 220_000 });

    const report = (await page.evaluate(() => window.__benchResult)) as BenchReport;
    expect(report.skipped).toEqual([]);
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.machine.platform).toMatch(/Chrome \d+/);
    expect(Number.isNaN(Date.parse(report.machine.when))).toBe(false);
    const row = (workload: string, target: string, param?: string) =>
      report.results.find((r) => r.workload === workload && r.target === target && (param ? r.params?.[param] !== undefined : !r.params));
    const wanted: [string, string, string?][] = [
      ['cold-start', 'python/wasm/worker', 'snapshot'],
      ['cold-start', 'python/wasm/worker', 'snapshotFromCache'],
      ['cold-start', 'python/wasm/worker', 'spareWorker'],
      ['cold-start', 'lua/wasm/worker'],
      ['call-rtt', 'python/wasm/worker'],
      ['call-rtt', 'lua/wasm/worker'],
      ['call-rtt', 'baseline/postMessage'],
      ['host-call-rtt', 'python/wasm/worker'],
      ['host-call-rtt', 'lua/wasm/worker'],
      ['fib', 'python/wasm/worker'],
      ['fib', 'lua/wasm/worker'],
    ];
    for (const [w, t, p] of wanted) {
      const r = row(w, t, p);
      expect(r, `${w} ${t} ${p ?? ''}`).toBeDefined();
      expect(Number.isFinite(r!.median) && r!.median > 0, `${w} ${t} median ${r!.median}`).toBe(true);
      expect(Number.isFinite(r!.p95) && r!.p95 >= r!.median).toBe(true);
      expect(r!.samples).toBeGreaterThan(0);
      expect(r!.unit).toBe(w === 'call-rtt' || w === 'host-call-rtt' ? 'us' : 'ms');
    }
    expect(row('call-rtt', 'lua/wasm/worker')!.ratio).toBeGreaterThan(0);
    // Booting from scratch costs more than restoring the snapshot the page holds.
    expect(row('cold-start', 'python/wasm/worker', 'snapshot')!.median).toBeGreaterThan(
      row('cold-start', 'python/wasm/worker', 'spareWorker')!.median,
    );

    // One chart per unit, each with both series, and Node values matched to browser rows.
    const charts = (await page.evaluate(() => window.__benchCharts)) as ChartSummary[];
    expect(charts.map((c) => c.unit).sort()).toEqual(['ms', 'us']);
    for (const c of charts) {
      expect(c.datasets.map((d) => d.label)).toEqual(['Browser', 'Node']);
      for (const d of c.datasets)
        expect(
          d.data.some((v) => typeof v === 'number' && v > 0),
          `${c.unit} ${d.label}`,
        ).toBe(true);
      const both = c.labels.filter((_, i) => c.datasets.every((d) => d.data[i] != null));
      expect(both.length, `${c.unit}: rows with both series`).toBeGreaterThan(1);
      expect(await drawn(c.unit), `${c.unit} canvas drawn`).toBe(true);
    }
    expect(await page.locator('#results-body tr').count()).toBeGreaterThanOrEqual(wanted.length);
    // Download JSON gives the same report.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toMatch(/^scriptbox-browser-bench-.*\.json$/);
    const file = await download.path();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(report);
    await page.screenshot({ path: join(SHOTS, 'bench-1280.png'), fullPage: true });
  }, 240_000);

  it('refuses a file that is not a bench report, naming what is wrong', async () => {
    const before = await page.locator('#compare-source').textContent();
    await page.setInputFiles('#compare-file', {
      name: 'bad.json',
      mimeType: 'application/json',
      buffer: Buffer.from(
        JSON.stringify({
          machine: { cpus: 2, node: 'v20', platform: 'x', when: 'now' },
          results: [{ workload: 'fib', target: 'lua/wasm/worker', median: 'fast', p95: 1, unit: 'ms', samples: 3 }],
        }),
      ),
    });
    const error = page.locator('#compare-error');
    await expect.poll(() => error.isVisible()).toBe(true);
    expect(await error.textContent()).toContain('bad.json is not a bench report: results[0].median must be a finite number');
    // The comparison shown before stays.
    expect(await page.locator('#compare-source').textContent()).toBe(before);

    await page.setInputFiles('#compare-file', { name: 'junk.json', mimeType: 'application/json', buffer: Buffer.from('{"results": ') });
    await expect.poll(() => error.textContent()).toContain('junk.json is not a bench report: it is not JSON');
  });

  it('fits a phone: nothing overflows at 390 px, the charts resize', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      canvases: [...document.querySelectorAll('canvas')].map((c) => c.getBoundingClientRect().width),
      table: document.querySelector('.table-wrap')!.getBoundingClientRect().width,
    }));
    expect(widths.page).toBeLessThanOrEqual(390);
    expect(widths.table).toBeLessThanOrEqual(390);
    for (const w of widths.canvases) {
      expect(w).toBeGreaterThan(200);
      expect(w).toBeLessThanOrEqual(390);
    }
    await page.screenshot({ path: join(SHOTS, 'bench-390.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
