/**
 * StateStore throughput: kv set+get and channel send+receive pairs per second, MemoryStore
 * vs SqliteStore (a file in the temp dir, WAL), plus the latency of a waiting receive woken
 * by a send from another store on the same file. Run: `npm run build && node dist/scripts/measure-state.js`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/state/memory.js';
import { SqliteStore } from '../src/state/sqlite.js';
import type { StateStore } from '../src/state/store.js';

const VALUE = { id: 42, name: 'Ann', tags: ['a', 'b', 'c'], score: 0.5 };

async function opsPerSecond(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(1000, n); i++) await op(i); // warm up
  const t = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  return n / ((performance.now() - t) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(name: string, store: StateStore, other: StateStore): Promise<string[]> {
  const N = 20_000;
  const kv = await opsPerSecond(N, async (i) => {
    await store.set(`key:${i % 1000}`, VALUE);
    await store.get(`key:${(i * 7) % 1000}`);
  });
  const ch = await opsPerSecond(N, async (i) => {
    await store.send('bench', i);
    await store.receive('bench', 0);
  });
  const wakes: number[] = [];
  for (let i = 0; i < 200; i++) {
    const waiting = store.receive('wake', 1000);
    const t = performance.now();
    await other.send('wake', i);
    await waiting;
    wakes.push((performance.now() - t) * 1000);
  }
  return [
    name,
    `${Math.round(kv).toLocaleString('en')} set+get/s`,
    `${Math.round(ch).toLocaleString('en')} send+receive/s`,
    `${median(wakes).toFixed(0)} µs`,
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-measure-state-'));
  try {
    const rows: string[][] = [['store', 'kv (1000 keys, small object)', 'channel', 'wake-up (send on another store)']];
    const mem = new MemoryStore();
    rows.push(await measure('MemoryStore', mem, mem));
    await mem.close();
    const a = await SqliteStore.open(join(dir, 'state.db'));
    const b = await SqliteStore.open(join(dir, 'state.db'));
    rows.push(await measure('SqliteStore (file, WAL)', a, b));
    await a.close();
    await b.close();
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
