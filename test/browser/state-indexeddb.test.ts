/**
 * IndexedDbStore in real Chromium: the shared StateStore contract, plus what only a
 * persistent, shared store has (reopening, two stores on one database, exactly once).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { INDEXEDDB_POLL_MS, IndexedDbStore } from '../../src/state/indexeddb.js';
import { SqliteStore } from '../../src/state/sqlite.js';
import type { StoreLimits } from '../../src/state/store.js';
import { storeContract } from '../state/contract.js';

const run = `sb-test-${Date.now()}-${Math.random().toString(36).slice(2)}`;
const names: string[] = [];
let n = 0;
const fresh = () => {
  const name = `${run}-${n++}`;
  names.push(name);
  return name;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  for (const name of names) {
    await new Promise((resolve) => {
      const req = indexedDB.deleteDatabase(name);
      req.onsuccess = req.onerror = req.onblocked = resolve;
    });
  }
});

describe('IndexedDbStore: the StateStore contract', () => {
  storeContract((limits?: StoreLimits) => IndexedDbStore.open(fresh(), limits), /^IndexedDbStore 'sb-test-.*' is closed/);
});

describe('IndexedDbStore', () => {
  it('keeps kv and unreceived messages when reopened', async () => {
    const name = fresh();
    const a = await IndexedDbStore.open(name);
    await a.set('k', { big: 2n ** 64n, bytes: new Uint8Array([1, 2]), map: new Map([[1, 'one']]) });
    await a.send('jobs', 'job 1');
    await a.send('jobs', 'job 2');
    expect(await a.receive('jobs', 0)).toEqual({ message: 'job 1' });
    await a.close();
    const b = await IndexedDbStore.open(name);
    expect(await b.get('k')).toEqual({ big: 2n ** 64n, bytes: new Uint8Array([1, 2]), map: new Map([[1, 'one']]) });
    expect(await b.receive('jobs', 0)).toEqual({ message: 'job 2' });
    expect(await b.receive('jobs', 0)).toBeNull();
    await b.close();
  });

  it('two stores on one database see one store; a send on one wakes a receive on the other', async () => {
    const name = fresh();
    const a = await IndexedDbStore.open(name);
    const b = await IndexedDbStore.open(name);
    await a.set('k', 'from a');
    expect(await b.get('k')).toBe('from a');
    expect(await b.delete('k')).toBe(true);
    expect(await a.keys()).toEqual([]);

    const t = performance.now();
    const waiting = a.receive('c', 10_000);
    await sleep(100);
    const sent = performance.now();
    await b.send('c', 'from b');
    expect(await waiting).toEqual({ message: 'from b' });
    expect(performance.now() - t).toBeLessThan(5000);
    expect(performance.now() - sent).toBeLessThan(1000);

    // Receivers on both stores share the channel: every message once, none lost.
    const receivers = [...Array(6)].map((_, i) => (i % 2 ? a : b).receive('many', 10_000));
    for (let i = 0; i < 6; i++) await (i % 2 ? b : a).send('many', i);
    const got = (await Promise.all(receivers)).map((r) => r?.message as number).sort();
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);

    await b.close();
    await a.set('after', 1);
    expect(await a.get('after')).toBe(1);
    await a.close();
  });

  it('nothing is lost when deadlines pass while messages are being taken', async () => {
    const name = fresh();
    const a = await IndexedDbStore.open(name);
    const b = await IndexedDbStore.open(name);
    const received: number[] = [];
    const pending: Promise<void>[] = [];
    const N = 150;
    const receiving = (async () => {
      for (let i = 0; i < N; i++) {
        pending.push(a.receive('r', (i % 6) + 1).then((r) => void (r && received.push(r.message as number))));
        if (i % 3 === 0) await sleep(1);
      }
    })();
    for (let i = 0; i < N; i++) {
      await b.send('r', i);
      if (i % 2) await sleep(1);
    }
    await receiving;
    await Promise.all(pending);
    for (let r = await b.receive('r', 0); r !== null; r = await b.receive('r', 0)) received.push(r.message as number);
    expect(received.sort((x, y) => x - y)).toEqual([...Array(N).keys()]);
    await a.close();
    await b.close();
  });

  it('a message sent while a store is closing still reaches one receiver or stays stored', async () => {
    const name = fresh();
    const a = await IndexedDbStore.open(name);
    const b = await IndexedDbStore.open(name);
    const pending = a.receive('c', 10_000);
    const send = b.send('c', 'm');
    await a.close();
    await send;
    const r = await pending;
    const left = await b.receive('c', 0);
    expect([r, left].filter((x) => x !== null)).toEqual([{ message: 'm' }]);
    await b.close();
  });

  it('open rejects a database that belongs to something else', async () => {
    const name = fresh();
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('other');
      req.onsuccess = () => {
        req.result.close();
        resolve();
      };
      req.onerror = () => reject(req.error);
    });
    const e = await IndexedDbStore.open(name).catch((x: Error) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toMatch(/belongs to something else; pick another dbName/);
  });

  it('SqliteStore bundles into a browser page and says it is unavailable there', async () => {
    const e = await SqliteStore.open('x.db').catch((x: Error) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toMatch(/needs the better-sqlite3 package.*IndexedDbStore in browsers/);
  });
});
