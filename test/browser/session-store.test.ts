/**
 * SnapshotStore in real Chromium (issue 23): session snapshots kept in IndexedDB by name,
 * read back checked, kept across a reopen; damaged records are typed errors naming the entry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, UnavailableError, createEngine, openSnapshotStore, type SessionSnapshot } from '../../src/index.js';

const database = `sb-sessions-test-${Date.now()}-${Math.random().toString(36).slice(2)}`;
let snap: SessionSnapshot;
let later: SessionSnapshot;

beforeAll(async () => {
  const engine = await createEngine('lua');
  try {
    await engine.exec('kept = { name = "from the browser", n = 41 }');
    snap = await engine.snapshot();
    await engine.exec('kept.n = 99');
    later = await engine.snapshot();
  } finally {
    await engine.dispose();
  }
});

afterAll(async () => {
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(database);
    req.onsuccess = req.onerror = req.onblocked = resolve;
  });
});

/** Writes `value` as the raw stored bytes of `name`, as a damaged or foreign record would be. */
async function putRaw(name: string, value: unknown): Promise<void> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(database);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction('bytes', 'readwrite');
    tx.objectStore('bytes').put(value, name);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}

describe('SnapshotStore (IndexedDB)', () => {
  it('saves, lists newest first, loads into a new engine, keeps entries across a reopen, deletes', async () => {
    const store = await openSnapshotStore({ database });
    expect(store.where).toBe(`the IndexedDB database '${database}'`);
    await store.save('first', snap);
    await store.save('second', later);
    const listed = await store.list();
    expect(listed.map((e) => e.name)).toEqual(later.info.createdAt > snap.info.createdAt ? ['second', 'first'] : ['first', 'second']);
    expect(listed.find((e) => e.name === 'first')!.info).toEqual(snap.info);
    await store.dispose();
    await expect(store.load('first')).rejects.toThrow(/was disposed; open the store again/);

    const again = await openSnapshotStore({ database });
    const back = await again.load('first');
    expect(back!.hash).toBe(snap.hash);
    const engine = await createEngine('lua', { restore: back! });
    try {
      expect((await engine.exec('return kept.name .. " " .. kept.n')).value).toBe('from the browser 41');
    } finally {
      await engine.dispose();
    }
    // Replacing an entry replaces it whole.
    await again.save('first', later);
    expect((await again.load('first'))!.hash).toBe(later.hash);
    expect(await again.load('missing')).toBeUndefined();
    expect(await again.delete('second')).toBe(true);
    expect(await again.delete('second')).toBe(false);
    expect((await again.list()).map((e) => e.name)).toEqual(['first']);
    await again.dispose();
  });

  it('a damaged or foreign record is an InvalidInputError naming the entry and the database', async () => {
    const store = await openSnapshotStore({ database });
    try {
      await store.save('broken', snap);
      const bytes = snap.toBytes();
      bytes[bytes.length - 40]! ^= 1;
      await putRaw('broken', bytes);
      const err: unknown = await store.load('broken').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(new RegExp(`^the snapshot 'broken' in the IndexedDB database '${database}': .*damaged`));
      await putRaw('broken', bytes.subarray(0, 12));
      await expect(store.load('broken')).rejects.toBeInstanceOf(InvalidInputError);
      await putRaw('broken', 'not bytes at all');
      await expect(store.load('broken')).rejects.toBeInstanceOf(InvalidInputError);
    } finally {
      await store.dispose();
    }
  });

  it('refuses bad names and a directory in a browser', async () => {
    const store = await openSnapshotStore({ database });
    try {
      await expect(store.save('../up', snap)).rejects.toThrow(/a snapshot name is 1 to 128 letters/);
      await expect(store.load('a b')).rejects.toBeInstanceOf(InvalidInputError);
    } finally {
      await store.dispose();
    }
    await expect(openSnapshotStore({ dir: '/tmp/x' })).rejects.toBeInstanceOf(UnavailableError);
  });
});
