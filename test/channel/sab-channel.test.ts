/**
 * The SharedArrayBuffer channel (src/channel/sab-channel.ts) on its own: real shared
 * memory, and a real worker thread on the engine end wherever the two ends must run at
 * once (a message over several chunks, a sleeping waiter). The worker loads the built
 * channel from dist/ (test/channel/fixtures/engine-side.mjs), as engine workers do.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EngineChannel,
  HostChannel,
  INTERRUPT_INDEX,
  InterruptReason,
  createChannelLayout,
  type ChannelLayout,
} from '../../src/channel/sab-channel.js';
import { builtRoot } from '../../src/node/worker-host.js';
import { Ending } from '../../src/ending.js';

/** A far end that never goes away. */
const never = () => new Ending<Error>();

/** Bytes whose every position differs from its neighbours', so a chunk out of place shows. */
function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

interface EngineSide {
  host: HostChannel;
  worker: Worker;
  /** Rejects once the worker has exited (the `dead` the host end races). */
  dead: Promise<never>;
}

const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

/** A real worker thread holding the engine end of a new channel. */
function engineSide(mode: 'echo' | 'idle' | 'interrupt', layout: ChannelLayout = createChannelLayout()): EngineSide {
  const module = pathToFileURL(join(builtRoot(), 'src', 'channel', 'sab-channel.js')).href;
  const worker = new Worker(new URL('./fixtures/engine-side.mjs', import.meta.url), { workerData: { module, layout, mode } });
  workers.push(worker);
  const gone = new Ending<Error>();
  const dead = new Promise<never>((_, reject) =>
    worker.once('exit', (code) => {
      const e = new Error(`the engine side exited (code ${code})`);
      gone.end(e);
      reject(e);
    }),
  );
  dead.catch(() => undefined); // each test that expects the end awaits `dead` or a wait that races it
  return { host: new HostChannel(layout, gone), worker, dead };
}

describe('SharedArrayBuffer channel, both ends on one thread', () => {
  it('carries messages each way byte for byte, including an empty one and one of exactly a slot', async () => {
    const layout = createChannelLayout(64);
    const host = new HostChannel(layout, never());
    const engine = new EngineChannel(layout);
    for (const n of [0, 1, 63, 64]) {
      const down = pattern(n, n + 1);
      await host.send(down);
      expect(engine.receive()).toEqual(down);
      const up = pattern(n, n + 100);
      engine.send(up);
      expect(await host.receive()).toEqual(up);
    }
  });

  it('a second send waits until the engine took the first, and order is kept', async () => {
    const layout = createChannelLayout(64);
    const host = new HostChannel(layout, never());
    const engine = new EngineChannel(layout);
    await host.send(Uint8Array.of(1));
    let second = false;
    // The mailbox is full, so this send cannot finish at once: it is a promise.
    const pending = host.send(Uint8Array.of(2));
    expect(pending).toBeInstanceOf(Promise);
    const sending = (pending as Promise<void>).then(() => (second = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(second).toBe(false);
    expect(engine.receive()).toEqual(Uint8Array.of(1));
    await sending;
    expect(engine.receive()).toEqual(Uint8Array.of(2));
  });

  it('answers at once, with no promise, when the other side has kept up', () => {
    const layout = createChannelLayout(64);
    const host = new HostChannel(layout, never());
    const engine = new EngineChannel(layout);
    expect(host.send(Uint8Array.of(7))).toBeUndefined();
    expect(engine.receive()).toEqual(Uint8Array.of(7));
    engine.send(Uint8Array.of(8));
    expect(host.receive()).toEqual(Uint8Array.of(8));
  });

  it('the received bytes are a copy: the next message does not overwrite them', async () => {
    const layout = createChannelLayout(64);
    const host = new HostChannel(layout, never());
    const engine = new EngineChannel(layout);
    await host.send(pattern(10, 1));
    const first = engine.receive();
    await host.send(pattern(10, 2));
    engine.receive();
    expect(first).toEqual(pattern(10, 1));
  });

  it('the interrupt word: set with a reason, read by the engine end, cleared before the next request', () => {
    const layout = createChannelLayout();
    const host = new HostChannel(layout, never());
    const engine = new EngineChannel(layout);
    expect(engine.interruptWord[0]).toBe(InterruptReason.None);
    for (const reason of [InterruptReason.User, InterruptReason.Timeout, InterruptReason.Abort]) {
      host.interrupt(reason);
      expect(Atomics.load(engine.interruptWord, 0)).toBe(reason);
      expect(new Int32Array(layout.sab)[INTERRUPT_INDEX]).toBe(reason);
      host.clearInterrupt();
      expect(Atomics.load(engine.interruptWord, 0)).toBe(InterruptReason.None);
    }
  });

  it('a host waiting on a channel whose far end is gone rejects with the reason', async () => {
    const layout = createChannelLayout(64);
    const gone = new Ending<Error>();
    const host = new HostChannel(layout, gone);
    const waiting = host.receive();
    gone.end(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
  });
});

describe('SharedArrayBuffer channel, engine end in a worker thread', () => {
  it('carries messages across chunk boundaries both ways (a 16-byte slot)', async () => {
    const { host } = engineSide('echo', createChannelLayout(16));
    for (const n of [15, 16, 17, 31, 32, 33, 16 * 50 + 7, 4096]) {
      const msg = pattern(n, n);
      await host.send(msg);
      expect(await host.receive(), `${n} bytes`).toEqual(msg);
    }
  });

  it('carries a payload many times the default slot, intact', async () => {
    const layout = createChannelLayout();
    const { host } = engineSide('echo', layout);
    const msg = pattern(layout.slotBytes * 24 + 12345, 7);
    await host.send(msg);
    const back = await host.receive();
    expect(back.length).toBe(msg.length);
    expect(Buffer.from(back).equals(Buffer.from(msg))).toBe(true);
  });

  it('keeps many messages of mixed sizes in order', async () => {
    const { host } = engineSide('echo', createChannelLayout(32));
    for (let i = 0; i < 200; i++) {
      const msg = pattern((i * 37) % 300, i);
      await host.send(msg);
      expect(await host.receive()).toEqual(msg);
    }
  });

  it('an interrupt wakes an engine end sleeping on the interrupt word, with its reason', async () => {
    const { host } = engineSide('interrupt');
    await new Promise((r) => setTimeout(r, 50));
    host.interrupt(InterruptReason.Timeout);
    expect(await host.receive()).toEqual(Uint8Array.of(InterruptReason.Timeout));
  });

  it('an engine end waiting for a request times out every second and keeps waiting', async () => {
    const { host } = engineSide('idle');
    await new Promise((r) => setTimeout(r, 1300));
    await host.send(Uint8Array.of(0));
    const [idles] = await host.receive();
    expect(idles).toBeGreaterThanOrEqual(1);
    // Still serving after its timed waits.
    await host.send(Uint8Array.of(9));
    expect(await host.receive()).toEqual(Uint8Array.of(9));
  });

  it('once the engine end is gone, a waiting receive and a blocked send reject with the reason', async () => {
    const layout = createChannelLayout(16);
    const { host, worker, dead } = engineSide('echo', layout);
    await host.send(Uint8Array.of(1));
    expect(await host.receive()).toEqual(Uint8Array.of(1));
    const receiving = host.receive();
    await worker.terminate();
    await expect(dead).rejects.toThrow(/exited/);
    await expect(receiving).rejects.toThrow(/the engine side exited/);
    // No one drains the mailbox now: a message over one slot can never be sent.
    await expect(host.send(pattern(40))).rejects.toThrow(/the engine side exited/);
  });
});
