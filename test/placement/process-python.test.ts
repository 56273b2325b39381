/**
 * The process placement with Python, and what keeps its calls cheap: the core on the
 * child's main thread (stops through the child's interrupt thread, and never a stale stop
 * for the next request), restarts after a kill, and the pre-started child (it takes the
 * next engine of its snapshot, and is not left alive once released).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { Engine } from '../../src/engine/engine.js';
import { resolveOptions } from '../../src/options.js';
import { InterruptGate } from '../../src/node/interrupt-relay.js';
import { liveProcessCount } from '../../src/node/process-host.js';
import { primedProcessSpawner, releaseSpareChild, spareChildren } from '../../src/node/spare-child.js';
import { releaseSpareWorker } from '../../src/node/worker-host.js';
import { connectProcess } from '../../src/placement/process.js';
import { engineChildPids } from './children.js';
import { snapshotCounts, withSnapshots } from '../../src/snapshot/fast-start.js';

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the stop gate of the process child', () => {
  it('applies a stop for the running request, keeps one for the next, and drops a late one', () => {
    const gate = new InterruptGate();
    gate.clear(); // request 1 starts
    expect(gate.epoch).toBe(1);
    gate.interrupt(2, 1);
    expect(gate.word[0]).toBe(2);
    // A stop for request 1 that arrives after request 2's clear never reaches request 2.
    gate.clear();
    expect(gate.word[0]).toBe(0);
    gate.interrupt(2, 1);
    expect(gate.word[0]).toBe(0);
    // A stop sent with request 3's clear still in the pipe waits for that clear.
    gate.interrupt(3, 3);
    expect(gate.word[0]).toBe(0);
    gate.clear();
    expect(gate.word[0]).toBe(3);
    gate.clear();
    expect(gate.word[0]).toBe(0);
  });
});

describe('Python engine, process placement', () => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('python', { placement: 'process', limits: { timeoutMs: 10_000, graceMs: 300 } });
  }, 120_000);
  afterAll(async () => {
    await engine?.dispose();
  });

  it('calls across the process, with host functions', async () => {
    await using e = await createEngine('python', {
      placement: 'process',
      capabilities: ['twice'],
      hostFunctions: { twice: (x) => (x as number) * 2 },
    });
    await e.load('def add(a, b):\n    return a + b', 'm');
    expect(await e.call('add', [2, 3])).toBe(5);
    expect((await e.exec('import host\nhost.twice(21)')).value).toBe(42);
  }, 120_000);

  it('stops an endless loop and a sleep on timeout in place (no restart), and answers after', async () => {
    const before = (await engine.stats()).restarts;
    const t = performance.now();
    const r = await engine.exec('while True:\n    pass', { timeoutMs: 200 });
    expect(r).toMatchObject({ success: false, timedOut: true });
    const s = await engine.exec('import time\ntime.sleep(100)', { timeoutMs: 200 });
    expect(s.timedOut).toBe(true);
    expect(performance.now() - t).toBeLessThan(5000);
    expect((await engine.exec('1 + 1')).value).toBe(2);
    const stats = await engine.stats();
    expect(stats.restarts).toBe(before);
    expect(stats.lastEscalation).toBe('interrupted');
  }, 60_000);

  it('interrupt() stops a loop, and a stop never carries over to the next call', async () => {
    const loop = engine.exec('while True:\n    pass');
    await new Promise((r) => setTimeout(r, 300));
    engine.interrupt();
    expect((await loop).error?.type).toBe('Interrupted');
    for (let i = 0; i < 50; i++) expect((await engine.exec(`${i} + 1`)).value).toBe(i + 1);
  }, 60_000);

  it('restarts after the child is killed from outside, and leaves no child behind', async () => {
    if (!existsSync('/proc/self/stat')) return;
    // No spare child here: the engine's child is the only new one.
    await releaseSpareChild();
    const others = engineChildPids();
    const before = liveProcessCount();
    const e = await createEngine('python', { placement: 'process', snapshot: { spare: false } });
    await e.load('def sq(x):\n    return x * x', 'sq');
    const mine = engineChildPids().filter((pid) => !others.includes(pid));
    expect(mine.length).toBe(1);
    const running = e.exec('while True:\n    pass', { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(mine[0]!, 'SIGKILL');
    const r = await running;
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/the engine's process (exited|died)/);
    expect(await e.call('sq', [7])).toBe(49);
    expect((await e.stats()).restarts).toBe(1);
    await e.dispose();
    expect(liveProcessCount()).toBe(before);
    await until('the engine children to exit', () => engineChildPids().every((pid) => others.includes(pid)));
  }, 120_000);
});

describe('the pre-started engine child', () => {
  it('takes the next engine of its snapshot (restored ahead), restarts fast after a kill, and is gone once released', async () => {
    // Spares other tests' engines left (createEngine keeps one for the process placement).
    await releaseSpareChild();
    const others = engineChildPids();
    const before = liveProcessCount();
    const spawner = primedProcessSpawner();
    const connect = withSnapshots((init) => connectProcess(init, spawner), { key: `spare-child-test-${process.pid}` });
    const resolved = resolveOptions('python', { placement: 'process', limits: { graceMs: 50 } });
    const make = async () => {
      const e = new Engine(resolved, connect);
      await e.start();
      return e;
    };
    // The first engine boots from scratch and takes the snapshot; the second restores it in
    // a child of its own, and once it has booted the spare starts, restoring the same one.
    const first = await make();
    expect(spareChildren().idle).toBe(0);
    const taken = spareChildren().taken;
    const other = await make();
    await other.dispose();
    try {
      await until('the spare', () => spareChildren().idle === 1);
      // Not counted as an engine's process while idle.
      expect(liveProcessCount()).toBe(before + 1);
      await new Promise((r) => setTimeout(r, 1500)); // let it restore
      const ahead = snapshotCounts().ahead;
      const second = await make();
      try {
        expect(spareChildren().taken).toBe(taken + 1);
        expect(snapshotCounts().ahead).toBe(ahead + 1);
        expect((await second.exec('1 + 1')).value).toBe(2);
        await second.load('def sq(x):\n    return x * x', 'sq');
        // Code stuck in C ignores the stop: the child is killed, and the next spare takes over.
        await until('the next spare', () => spareChildren().idle === 1);
        await new Promise((r) => setTimeout(r, 1500));
        const r = await second.exec('sum(range(10**15))', { timeoutMs: 50 });
        expect(r.timedOut).toBe(true);
        expect(await second.call('sq', [9])).toBe(81);
        const s = await second.stats();
        expect(s.restarts).toBe(1);
        expect(spareChildren().taken).toBe(taken + 2);
      } finally {
        await second.dispose();
      }
    } finally {
      await first.dispose();
    }
    expect(liveProcessCount()).toBe(before);
    await until('a new spare', () => spareChildren().idle === 1);
    // releaseSpareWorker() (snapshots.releaseSpareWorker()) releases the spare child too.
    await releaseSpareWorker();
    expect(spareChildren().idle).toBe(0);
    await releaseSpareChild();
    await until('every engine child to exit', () => engineChildPids().every((pid) => others.includes(pid)));
  }, 180_000);
});
