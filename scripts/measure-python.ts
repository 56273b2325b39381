/**
 * Issue 3's measurements, side by side in one run (the full harness is `src/bench/`, later):
 * stock `loadPyodide()` vs our Python engine's create -> first result (worker, process),
 * RSS per engine, `call('noop')` round trip per placement, interrupt latency, and the time
 * an engine takes to answer again after a hard kill. Run: `npm run measure:python`.
 */
import { cpus } from 'node:os';
import { rssBytes, stockPyodideColdStart } from '../src/node/bench-env.js';
import { createEngine, type ScriptEngine } from '../src/index.js';
import type { Placement } from '../src/engine.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number): string => (ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(1)} µs`);

/** Stock Pyodide, the way its docs show it, in a fresh worker thread: spawn -> first result. */
const stockOnce = stockPyodideColdStart;

async function createOnce(placement: Placement): Promise<number> {
  const t = performance.now();
  const e = await createEngine('python', { placement });
  await e.exec('1 + 1');
  const ms = performance.now() - t;
  await e.dispose();
  return ms;
}

async function rssPerEngine(placement: Placement, n: number): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 300));
  const before = rssBytes();
  const engines: ScriptEngine[] = [];
  for (let i = 0; i < n; i++) {
    const e = await createEngine('python', { placement, trusted: true });
    await e.exec('1 + 1');
    engines.push(e);
  }
  await new Promise((r) => setTimeout(r, 300));
  const per = (rssBytes() - before) / n;
  for (const e of engines) await e.dispose();
  return per;
}

async function callRtt(placement: Placement): Promise<number> {
  const e = await createEngine('python', { placement, trusted: true });
  await e.load('def noop():\n    pass\n');
  for (let i = 0; i < 3000; i++) await e.call('noop');
  const samples: number[] = [];
  for (let i = 0; i < 3000; i++) {
    const t = performance.now();
    await e.call('noop');
    samples.push(performance.now() - t);
  }
  await e.dispose();
  return median(samples);
}

async function interruptAndRestart(placement: Placement): Promise<{ interrupt: number; restart: number }> {
  const e = await createEngine('python', { placement, limits: { graceMs: 200 } });
  const ints: number[] = [];
  for (let i = 0; i < 7; i++) {
    const running = e.exec('while True:\n    pass');
    await new Promise((r) => setTimeout(r, 100));
    const t = performance.now();
    e.interrupt();
    await running;
    ints.push(performance.now() - t);
  }
  const restarts: number[] = [];
  for (let i = 0; i < 3; i++) {
    // sum() over a range never polls for interrupts: the engine is killed after graceMs.
    await e.exec('sum(range(10**15))', { timeoutMs: 100 });
    const t = performance.now();
    await e.exec('1 + 1');
    restarts.push(performance.now() - t);
  }
  await e.dispose();
  return { interrupt: median(ints), restart: median(restarts) };
}

async function main(): Promise<void> {
  const rows: [string, string][] = [];
  const push = rows.push.bind(rows);
  // Progress on stderr, so a long run shows where it is.
  rows.push = (...r: [string, string][]) => {
    for (const [k, v] of r) process.stderr.write(`${k}: ${v}\n`);
    return push(...r);
  };
  const runs = 5;
  const stock: number[] = [];
  const worker: number[] = [];
  const proc: number[] = [];
  // Interleaved, so machine noise hits every column alike.
  for (let i = 0; i < runs; i++) {
    stock.push(await stockOnce());
    worker.push(await createOnce('worker'));
    proc.push(await createOnce('process'));
  }
  rows.push(['stock loadPyodide() in a worker: spawn -> first result', fmt(median(stock))]);
  rows.push(['python/wasm/worker create -> first result', `${fmt(median(worker))} (${(median(worker) / median(stock)).toFixed(2)}x stock)`]);
  rows.push(['python/wasm/process create -> first result', `${fmt(median(proc))} (${(median(proc) / median(stock)).toFixed(2)}x stock)`]);
  for (const p of ['inline', 'worker', 'process'] as const) rows.push([`python/wasm/${p} call('noop') round trip`, fmt(await callRtt(p))]);
  for (const p of ['worker', 'process'] as const) {
    const { interrupt, restart } = await interruptAndRestart(p);
    rows.push([`python/wasm/${p} interrupt() -> result`, fmt(interrupt)]);
    rows.push([`python/wasm/${p} answer again after a hard kill`, fmt(restart)]);
  }
  for (const p of ['worker', 'process'] as const) rows.push([`python/wasm/${p} RSS per engine (3 engines)`, `${((await rssPerEngine(p, 3)) / 2 ** 20).toFixed(1)} MB`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`node ${process.version}, ${cpus().length} cpus, ${new Date().toISOString()}`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

await main();
