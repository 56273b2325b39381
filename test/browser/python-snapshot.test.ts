/**
 * Fast start in a browser: the first Python engine of a page boots from scratch and takes
 * a memory snapshot; later engines of the page restore it from memory, and later page loads
 * (here: after forgetSnapshots()) from Cache Storage, checked before use.
 *
 * Boots Python from scratch twice in all (a few seconds each): the tests run in order.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { snapshotSetup } from '../../src/snapshot/setup.js';
import { createEngine, InvalidInputError, UnavailableError } from '../../src/index.js';
import {
  BrowserSnapshotStore,
  clearBrowserSnapshots,
  MAX_SNAPSHOT_ENTRIES,
  openBrowserSnapshotStore,
  SNAPSHOT_CACHE,
  snapshotEntryUrl,
} from '../../src/snapshot/browser-store.js';
import { flushSnapshots, forgetSnapshots, snapshotCounts } from '../../src/snapshot/fast-start.js';

const hexKey = (n: number) => n.toString(16).padStart(64, '0');
const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
const problem = (r: { bytes: Uint8Array } | { problem: string }) => ('problem' in r ? r.problem : 'bytes');

/** The stored entry for `key` with its body replaced by `body` (headers kept: only the bytes are wrong). */
async function tamper(
  cacheName: string,
  key: string,
  change: (bytes: Uint8Array) => Uint8Array,
  headers: Record<string, string> = {},
): Promise<void> {
  const cache = await caches.open(cacheName);
  const res = (await cache.match(snapshotEntryUrl(key)))!;
  const h = new Headers(res.headers);
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  const body = change(new Uint8Array(await res.arrayBuffer())) as Uint8Array<ArrayBuffer>;
  await cache.put(snapshotEntryUrl(key), new Response(body, { headers: h }));
}

describe('BrowserSnapshotStore', () => {
  const name = `scriptbox-test-${Date.now()}`;
  const store = new BrowserSnapshotStore(name);
  afterAll(() => clearBrowserSnapshots(name));

  it('reads back what it wrote; a missing key reads as missing; keys are hex digests', async () => {
    expect(await store.read(hexKey(1))).toEqual({ problem: 'missing' });
    const bytes = new Uint8Array(1000).map((_, i) => i);
    await store.write(hexKey(1), bytes);
    expect(await store.read(hexKey(1))).toEqual({ bytes });
    // Shared memory (what engines hold) is stored too.
    const shared = new Uint8Array(new SharedArrayBuffer(3));
    shared.set([7, 8, 9]);
    await store.write(hexKey(2), shared);
    expect(await store.read(hexKey(2))).toEqual({ bytes: new Uint8Array([7, 8, 9]) });
    await expect(store.read('../x')).rejects.toBeInstanceOf(TypeError);
    await expect(store.write('A'.repeat(64), bytes)).rejects.toBeInstanceOf(TypeError);
  });

  it('refuses damaged, truncated, foreign and other-key entries, naming what is wrong', async () => {
    const bytes = new Uint8Array(500).fill(3);
    for (const k of [10, 11, 12, 13]) await store.write(hexKey(k), bytes);
    await tamper(name, hexKey(10), (b) => ((b[100]! ^= 1), b));
    expect(problem(await store.read(hexKey(10)))).toMatch(/is damaged \(its checksum does not match\)/);
    await tamper(name, hexKey(11), (b) => b.subarray(0, 499));
    expect(problem(await store.read(hexKey(11)))).toMatch(/truncated or padded \(499 of 500 bytes\)/);
    await tamper(name, hexKey(12), (b) => b, { 'X-Scriptbox-Key': hexKey(99) });
    expect(problem(await store.read(hexKey(12)))).toMatch(/holds the snapshot of another key/);
    await (await caches.open(name)).put(snapshotEntryUrl(hexKey(13)), new Response(bytes));
    expect(problem(await store.read(hexKey(13)))).toMatch(/is not a scriptbox snapshot entry/);
    // A good write replaces a bad entry.
    await store.write(hexKey(10), bytes);
    expect(await store.read(hexKey(10))).toEqual({ bytes });
  });

  it(`keeps the ${MAX_SNAPSHOT_ENTRIES} newest entries; clearing deletes them all`, async () => {
    await clearBrowserSnapshots(name);
    for (let k = 20; k < 20 + MAX_SNAPSHOT_ENTRIES + 2; k++) await store.write(hexKey(k), new Uint8Array([k]));
    const kept = (await (await caches.open(name)).keys()).map((r) => r.url.slice(-2)).sort();
    expect(kept).toEqual(Array.from({ length: MAX_SNAPSHOT_ENTRIES }, (_, i) => (22 + i).toString(16)));
    expect(await clearBrowserSnapshots(name)).toBe(true);
    expect(await store.read(hexKey(25))).toEqual({ problem: 'missing' });
    expect(await clearBrowserSnapshots(name)).toBe(false);
  });

  it('is what snapshot: true uses in a browser', async () => {
    expect(await openBrowserSnapshotStore()).toBeInstanceOf(BrowserSnapshotStore);
    const setup = (await snapshotSetup({}))!;
    expect(setup.store?.where).toBe(`Cache Storage '${SNAPSHOT_CACHE}'`);
    expect(setup.key).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('Python snapshots in a browser', () => {
  beforeAll(async () => {
    await clearBrowserSnapshots();
    forgetSnapshots();
  });
  afterAll(() => clearBrowserSnapshots());

  it('a second engine of the page restores the snapshot the first one took', async () => {
    const before = snapshotCounts();
    const first = await createEngine('python');
    const second = await createEngine('python', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
    try {
      const after = snapshotCounts();
      expect(after.built - before.built).toBe(1);
      expect(after.restored - before.restored).toBe(1);
      expect((await second.exec('import host\nhost.echo([1, "x"])')).value).toEqual([1, 'x']);
      expect((await second.exec('import js')).error?.type).toBe('ModuleNotFoundError');
      const draw = 'import random\nrandom.getrandbits(64)';
      expect((await second.exec(draw)).value).not.toEqual((await first.exec(draw)).value);
    } finally {
      await first.dispose();
      await second.dispose();
    }
  }, 120_000);

  it('the snapshot persists in Cache Storage: a new page (memory forgotten) restores it', async () => {
    await flushSnapshots();
    const { key, store } = (await snapshotSetup({}))!;
    const a = await store!.read(key);
    const b = await store!.read(key);
    if (!('bytes' in a) || !('bytes' in b)) throw new Error(`no stored snapshot: ${problem(a)}`);
    expect(a.bytes.byteLength).toBeGreaterThan(1_000_000);
    // (Not toEqual: deep equality over ~30 MB, element by element, takes the page down.)
    expect(same(a.bytes, b.bytes)).toBe(true);
    // Another key's lookup does not get it.
    expect(await store!.read(hexKey(1))).toEqual({ problem: 'missing' });

    forgetSnapshots();
    const before = snapshotCounts();
    const engine = await createEngine('python');
    try {
      expect(snapshotCounts().restored - before.restored).toBe(1);
      expect(snapshotCounts().built).toBe(before.built);
      expect((await engine.exec('6 * 7')).value).toBe(42);
    } finally {
      await engine.dispose();
    }
  }, 120_000);

  it('a damaged or wrong-key entry is refused: Python boots from scratch and replaces it', async () => {
    const { key, store } = (await snapshotSetup({}))!;
    await tamper(SNAPSHOT_CACHE, key, (b) => b, { 'X-Scriptbox-Key': hexKey(7) });
    expect(problem(await store!.read(key))).toMatch(/holds the snapshot of another key/);
    await tamper(SNAPSHOT_CACHE, key, (b) => ((b[b.byteLength >> 1]! ^= 0xff), b), { 'X-Scriptbox-Key': key });
    expect(problem(await store!.read(key))).toMatch(/is damaged/);

    forgetSnapshots();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const before = snapshotCounts();
    const engine = await createEngine('python');
    try {
      expect(snapshotCounts().built - before.built).toBe(1);
      expect(snapshotCounts().restored).toBe(before.restored);
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(
        /is damaged \(its checksum does not match\); booting Python from scratch/,
      );
      expect((await engine.exec('6 * 7')).value).toBe(42);
    } finally {
      warn.mockRestore();
      await engine.dispose();
    }
    await flushSnapshots();
    expect('bytes' in (await store!.read(key))).toBe(true);
  }, 120_000);

  it('snapshot: { dir } needs Node; bad values are refused', async () => {
    await expect(createEngine('python', { snapshot: { dir: '/tmp/x' } })).rejects.toBeInstanceOf(UnavailableError);
    await expect(createEngine('python', { snapshot: 'on' as never })).rejects.toBeInstanceOf(InvalidInputError);
  });
});
