/**
 * The Benchmarks page: runs the bench harness (src/bench/) in this page on demand, through
 * the browser's environment (bench-env.ts), and shows its rows beside a Node bench report
 * (bench/node.json, or a file the user picks) in a table and charts. `?quick=1` runs the
 * harness's quick pass (the page test uses it).
 */
import { runBench } from '../../src/bench/runner.js';
import type { BenchReport } from '../../src/bench/types.js';
import { snapshots } from '../../src/index.js';
import { browserBenchEnv } from './bench-env.js';
import { Charts, type ChartSummary } from './chart.js';
import { browserMachine, MAX_FILE_BYTES, pair, parseReport } from './report.js';
import { StepList } from './steps.js';
import { renderSteps, renderTable } from './table.js';

declare global {
  interface Window {
    /** The last browser run's report (DESIGN §7 JSON), for tests and the console. */
    __benchResult?: BenchReport;
    /** What the charts show, for tests. */
    __benchCharts?: ChartSummary[];
  }
}

/** The workloads the page runs, on `TARGETS`: the charts show these, the table shows every row. */
const CHARTED = new Set(['cold-start', 'call-rtt', 'host-call-rtt', 'fib']);
const TARGETS = '*/wasm/worker';

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  run: el<HTMLButtonElement>('run'),
  download: el<HTMLButtonElement>('download'),
  clear: el<HTMLButtonElement>('clear-cache'),
  status: el<HTMLElement>('status'),
  steps: el<HTMLOListElement>('steps'),
  isolation: el<HTMLElement>('isolation'),
  file: el<HTMLInputElement>('compare-file'),
  source: el<HTMLElement>('compare-source'),
  error: el<HTMLElement>('compare-error'),
  machines: el<HTMLElement>('machines'),
  tbody: el<HTMLTableSectionElement>('results-body'),
};
const charts = new Charts(el('charts'));
const quick = new URLSearchParams(location.search).get('quick') === '1';

let browser: BenchReport | undefined;
let compare: { report: BenchReport; name: string } | undefined;

function setStatus(state: 'idle' | 'running' | 'done' | 'error', text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function describe(r: BenchReport, who: string): string {
  const m = r.machine;
  const runtime = m.node && !m.node.startsWith('none') ? `Node ${m.node}, ` : '';
  return `${who}: ${runtime}${m.platform}, ${m.cpus} cpus, ${m.when}${r.quick ? ' (quick run)' : ''}`;
}

function render(): void {
  const rows = pair(browser?.results ?? [], compare?.report.results ?? []);
  renderTable(ui.tbody, rows);
  const lines = [
    browser ? describe(browser, 'Browser') : 'Browser: not run yet',
    compare ? describe(compare.report, `Node (${compare.name})`) : 'Node: no report loaded',
  ];
  ui.machines.replaceChildren(...lines.map((t) => Object.assign(document.createElement('div'), { textContent: t })));
  // Baselines only where the browser measured them too: Node-only baselines would crowd the bars.
  window.__benchCharts = charts.draw(rows.filter((r) => CHARTED.has(r.workload) && (r.browser || !r.target.startsWith('baseline/'))));
}

function showCompareError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

function useCompare(report: BenchReport, name: string): void {
  compare = { report, name };
  ui.source.dataset.state = 'loaded';
  ui.source.textContent = `Comparing with ${name}: ${report.results.length} rows.`;
  showCompareError('');
  render();
}

async function loadDefault(): Promise<void> {
  const name = 'bench/node.json';
  try {
    const res = await fetch('./bench/node.json');
    if (!res.ok) throw new Error(`the server answered ${res.status} ${res.statusText}`);
    useCompare(parseReport(await res.text()), `${name} (this machine)`);
  } catch (e) {
    ui.source.dataset.state = 'missing';
    ui.source.textContent = 'No Node report loaded.';
    showCompareError(`${name}: ${(e as Error).message}`);
    render();
  }
}

ui.file.addEventListener('change', async () => {
  const file = ui.file.files?.[0];
  if (!file) return;
  try {
    if (file.size > MAX_FILE_BYTES)
      throw new Error(`the file is ${(file.size / 2 ** 20).toFixed(1)} MB; a bench report is far smaller (at most 5 MB)`);
    useCompare(parseReport(await file.text()), file.name);
  } catch (e) {
    // The comparison shown before stays; the message says what is wrong with this file.
    showCompareError(`${file.name} is not a bench report: ${(e as Error).message}. Make one with npm run bench -- --json FILE.`);
  } finally {
    ui.file.value = '';
  }
});

ui.run.addEventListener('click', async () => {
  ui.run.disabled = ui.clear.disabled = true;
  ui.download.disabled = true;
  const started = performance.now();
  setStatus('running', 'Starting…');
  try {
    const steps = new StepList((list) => {
      renderSteps(ui.steps, list);
      const now = steps.running();
      if (now) setStatus('running', `Step ${now.index + 1}: ${now.step.label}${now.step.detail ? ` (${now.step.detail})` : ''}`);
    });
    const report = await runBench(
      { quick, only: [...CHARTED], targets: TARGETS, progress: (text) => steps.progress(text) },
      browserBenchEnv(),
    );
    steps.finish(report.skipped);
    // The browser's own description (user agent, isolation) in Node's fields, plus two of its own.
    browser = { ...report, machine: { ...browserMachine(), when: report.machine.when } };
    window.__benchResult = browser;
    render();
    const failed = browser.skipped.length;
    ui.download.disabled = false;
    setStatus(
      'done',
      `Done in ${((performance.now() - started) / 1000).toFixed(0)} s: ${browser.results.length} rows${failed ? `, ${failed} step${failed === 1 ? '' : 's'} failed (see the list)` : ''}.`,
    );
  } catch (e) {
    setStatus('error', `The run stopped: ${(e as Error).message}`);
  } finally {
    ui.run.disabled = ui.clear.disabled = false;
  }
});

ui.download.addEventListener('click', () => {
  if (!browser) return;
  const blob = new Blob([`${JSON.stringify(browser, null, 2)}\n`], { type: 'application/json' });
  const a = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(blob),
    download: `scriptbox-browser-bench-${browser.machine.when.replace(/[:.]/g, '-')}.json`,
  });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

ui.clear.addEventListener('click', async () => {
  const had = await snapshots.clearBrowser();
  setStatus(
    'idle',
    had
      ? 'Cached Python snapshots removed: the next run makes a new one (its first boot is from scratch).'
      : 'There were no cached Python snapshots.',
  );
});

if (!crossOriginIsolated) {
  ui.isolation.hidden = false;
  ui.isolation.textContent =
    'This page is not cross-origin isolated (no COOP/COEP headers), so engines talk over postMessage and blocking host calls are unavailable: host-call-rtt will fail, and timers are coarser.';
}
if (quick) ui.run.textContent += ' (quick)';
setStatus('idle', `Not run yet. A${quick ? ' quick' : ''} run takes 15–60 s, mostly Python boots; the page stays usable.`);
void loadDefault();
