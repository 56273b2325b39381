/**
 * Issue 2's measurements, side by side in one run (the full harness is `src/bench/`, later):
 * Lua engine create time in a worker, empty call round trip (our SAB channel vs plain
 * postMessage vs comlink, same payload), host-function call round trip, interrupt
 * latency, RSS per engine. Run: `npm run measure`.
 */
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { createEngine, type ScriptEngine } from '../src/index.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples.push((performance.now() - t) * 1000);
  }
  return median(samples);
}

const WORKER_SRC = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => { if (m && m.t === 'call') parentPort.postMessage({ t: 'done', v: m.v }); });
`;
const ADAPTER = 'comlink/dist/esm/node-adapter.mjs';
const COMLINK_SRC = (comlink: string, adapter: string) => `
const { parentPort } = require('node:worker_threads');
Promise.all([import(${JSON.stringify(comlink)}), import(${JSON.stringify(adapter)})]).then(([Comlink, adapter]) => {
  Comlink.expose({ noop: (v) => v }, adapter.default(parentPort));
});
`;

async function main(): Promise<void> {
  const rows: [string, string][] = [];
  const N = 3000;
  // create -> first result
  const creates: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    const e = await createEngine('lua');
    await e.exec('return 1');
    creates.push(performance.now() - t);
    await e.dispose();
  }
  rows.push(['lua/wasm/worker create -> first result', `${median(creates).toFixed(1)} ms`]);

  const engine: ScriptEngine = await createEngine('lua', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
  await engine.load('function noop() end\nfunction hc(n) for i = 1, n do host.echo(i) end end');
  for (let i = 0; i < 2000; i++) await engine.call('noop');
  const ours = await timeEach(N, () => engine.call('noop'));

  const pm = new Worker(WORKER_SRC, { eval: true });
  const pmCall = () => new Promise((r) => { pm.once('message', r); pm.postMessage({ t: 'call', v: null }); });
  for (let i = 0; i < 2000; i++) await pmCall();
  const postMessageUs = await timeEach(N, pmCall);
  await pm.terminate();

  const comlinkUrl = import.meta.resolve('comlink/dist/esm/comlink.mjs');
  const adapterUrl = import.meta.resolve(ADAPTER);
  const nodeEndpoint = ((await import(adapterUrl)) as { default: (w: Worker) => Comlink.Endpoint }).default;
  const cw = new Worker(COMLINK_SRC(comlinkUrl, adapterUrl), { eval: true });
  const remote = Comlink.wrap<{ noop(v: unknown): unknown }>(nodeEndpoint(cw));
  for (let i = 0; i < 2000; i++) await remote.noop(null);
  const comlinkUs = await timeEach(N, () => remote.noop(null));
  remote[Comlink.releaseProxy]();
  await cw.terminate();

  rows.push(['call round trip: scriptbox SAB channel', `${ours.toFixed(1)} us`]);
  rows.push(['call round trip: plain postMessage', `${postMessageUs.toFixed(1)} us`]);
  rows.push(['call round trip: comlink', `${comlinkUs.toFixed(1)} us`]);
  rows.push(['  ratio comlink / scriptbox', `${(comlinkUs / ours).toFixed(2)}x`]);

  const hostCalls: number[] = [];
  for (let k = 0; k < 7; k++) {
    const t = performance.now();
    await engine.call('hc', [20000]);
    hostCalls.push(((performance.now() - t) * 1000) / 20000);
  }
  rows.push(['host-function call round trip (script -> host -> script)', `${median(hostCalls).toFixed(2)} us`]);

  const interrupts: number[] = [];
  for (let k = 0; k < 15; k++) {
    const p = engine.exec('while true do end');
    await new Promise((r) => setTimeout(r, 30));
    const t = performance.now();
    engine.interrupt();
    await p;
    interrupts.push(performance.now() - t);
  }
  rows.push(['interrupt -> result (endless loop)', `${median(interrupts).toFixed(2)} ms`]);
  await engine.dispose();

  const g = globalThis as { gc?: () => void };
  g.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const rss0 = process.memoryUsage().rss;
  const many: ScriptEngine[] = [];
  for (let i = 0; i < 8; i++) {
    const e = await createEngine('lua');
    await e.exec('return 1');
    many.push(e);
  }
  g.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const rss1 = process.memoryUsage().rss;
  rows.push(['RSS per Lua worker engine (8 engines)', `${((rss1 - rss0) / 8 / 1024 / 1024).toFixed(1)} MB`]);
  await Promise.all(many.map((e) => e.dispose()));

  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cpus`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

await main();
