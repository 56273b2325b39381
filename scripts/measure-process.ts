/**
 * The process placement against the worker placement, side by side in one run: Lua
 * create -> first result, `call('noop')` round trip, and a host-call round trip from the
 * script. Run: `npm run build && node dist/scripts/measure-process.js`.
 */
import { createEngine, type ScriptEngine } from '../src/index.js';

type Placement = 'worker' | 'process';
const PLACEMENTS: Placement[] = ['worker', 'process'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * 0.95)]!;
}

async function open(placement: Placement): Promise<ScriptEngine> {
  const e = await createEngine('lua', { placement, capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
  await e.load('function noop() end\nfunction hc(n) for i = 1, n do host.echo(i) end end');
  return e;
}

async function main(): Promise<void> {
  const CREATES = 9;
  const CALLS = 2000;
  const creates: Record<Placement, number[]> = { worker: [], process: [] };
  for (let i = 0; i < CREATES; i++) {
    for (const placement of PLACEMENTS) {
      const t = performance.now();
      const e = await createEngine('lua', { placement });
      await e.exec('return 1');
      creates[placement].push(performance.now() - t);
      await e.dispose();
    }
  }

  const engines = { worker: await open('worker'), process: await open('process') };
  for (const p of PLACEMENTS) for (let i = 0; i < 500; i++) await engines[p].call('noop');
  const calls: Record<Placement, number[]> = { worker: [], process: [] };
  // Interleaved blocks, so both placements see the same machine load.
  for (let block = 0; block < 10; block++) {
    for (const p of PLACEMENTS) {
      for (let i = 0; i < CALLS / 10; i++) {
        const t = performance.now();
        await engines[p].call('noop');
        calls[p].push((performance.now() - t) * 1000);
      }
    }
  }
  const hostCalls: Record<Placement, number[]> = { worker: [], process: [] };
  const N = 1000;
  for (let block = 0; block < 7; block++) {
    for (const p of PLACEMENTS) {
      const t = performance.now();
      await engines[p].call('hc', [N]);
      hostCalls[p].push(((performance.now() - t) * 1000) / N);
    }
  }
  for (const p of PLACEMENTS) await engines[p].dispose();

  const rows: [string, string, string][] = [];
  for (const p of PLACEMENTS) {
    rows.push([`lua/wasm/${p} create -> first result`, `${median(creates[p]).toFixed(1)} ms`, `p95 ${p95(creates[p]).toFixed(1)} ms (n=${CREATES})`]);
  }
  for (const p of PLACEMENTS) {
    rows.push([`lua/wasm/${p} call('noop') round trip`, `${median(calls[p]).toFixed(1)} us`, `p95 ${p95(calls[p]).toFixed(1)} us (n=${CALLS})`]);
  }
  for (const p of PLACEMENTS) {
    rows.push([`lua/wasm/${p} script -> host call round trip`, `${median(hostCalls[p]).toFixed(1)} us`, `median of 7 x ${N} calls`]);
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v, extra] of rows) console.log(`${k.padEnd(w)}  ${v.padStart(10)}  ${extra}`);
}

void main();
