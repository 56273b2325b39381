/**
 * SqliteStore beyond the shared contract: persistence across processes, one store per file
 * in a process, other processes' sends waking receivers, exactly-once delivery across
 * processes. The child process runs the built store: `npm run build` first.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermissionDeniedError, UnavailableError } from '../../src/errors.js';
import { SQLITE_POLL_MS, SqliteStore } from '../../src/state/sqlite.js';

const run = promisify(execFile);
const CHILD = 'test/state/fixtures/sqlite-child.mjs';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir = '';
beforeAll(async () => {
  if (!existsSync('dist/src/state/sqlite.js')) throw new Error('run `npm run build` first: the child process imports dist/');
  dir = await mkdtemp(join(tmpdir(), 'sb-sqlite-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function child(mode: string, file: string): Promise<any> {
  const { stdout } = await run(process.execPath, [CHILD, mode, file]);
  return JSON.parse(stdout);
}

/** Starts a child and resolves its JSON line when it exits. */
function startChild(mode: string, file: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, mode, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child ${mode} exited ${code}: ${err}`))));
  });
}

describe('SqliteStore', () => {
  it('keeps kv and channels across a restart: a new node process reads them and answers', async () => {
    const file = join(dir, 'persist.db');
    const a = await SqliteStore.open(file);
    await a.set('from-parent', { big: 2n ** 64n, bytes: new Uint8Array([1, 2]), map: new Map([[1, 'one']]) });
    await a.send('jobs', 'job 1');
    await a.send('jobs', 'job 2');
    await a.dispose();

    const seen = await child('read-and-reply', file);
    expect(seen.value).toEqual({ big: '18446744073709551616n', bytes: [1, 2], map: { map: [[1, 'one']] } });
    expect(seen.job).toEqual({ message: 'job 1' });
    expect(seen.keys).toEqual(['from-child', 'from-parent']);

    const b = await SqliteStore.open(file);
    const fromChild = (await b.get('from-child')) as { pid: number; bytes: Uint8Array };
    expect(fromChild.bytes).toEqual(new Uint8Array([7, 8]));
    expect(fromChild.pid).not.toBe(process.pid);
    expect(await b.receive('replies', 0)).toEqual({ message: { done: 'job 1' } });
    expect(await b.receive('jobs', 0)).toEqual({ message: 'job 2' }); // job 1 was received once, by the child
    expect(await b.receive('jobs', 0)).toBeNull();
    await b.dispose();
  });

  it('uses WAL mode', async () => {
    const file = join(dir, 'wal.db');
    const s = await SqliteStore.open(file);
    await s.set('k', 1);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    await s.dispose();
  });

  it('stores opened on one file in one process see one store, and a send wakes the other at once', async () => {
    const file = join(dir, 'shared.db');
    const a = await SqliteStore.open(file);
    const b = await SqliteStore.open(join(dir, '.', 'shared.db'));
    await a.set('k', 'from a');
    expect(await b.get('k')).toBe('from a');
    expect(await b.keys()).toEqual(['k']);
    expect(await b.delete('k')).toBe(true);
    expect(await a.get('k')).toBeUndefined();

    const waiting = a.receive('c', 10_000);
    await sleep(SQLITE_POLL_MS * 2);
    await b.send('c', 'from b');
    // Delivered inside the send, not by the poll: already settled before a timer can run.
    const first = await Promise.race([waiting, sleep(0).then(() => 'still waiting')]);
    expect(first).toEqual({ message: 'from b' });

    // Two receivers on different stores share the channel: each message goes to one of them.
    const ra = a.receive('d', 10_000);
    const rb = b.receive('d', 10_000);
    await a.send('d', 1);
    await a.send('d', 2);
    expect([await ra, await rb]).toEqual([{ message: 1 }, { message: 2 }]);

    // Closing one leaves the other working; a pending receive of the closed one resolves null.
    const pendingB = b.receive('e', 10_000);
    const pendingA = a.receive('e', 10_000);
    await b.dispose();
    expect(await pendingB).toBeNull();
    await a.send('e', 'for a');
    expect(await pendingA).toEqual({ message: 'for a' });
    await a.set('after', true);
    await a.dispose();

    const c = await SqliteStore.open(file);
    expect(await c.get('after')).toBe(true);
    await c.dispose();
  });

  it('a receive is woken by a send from another process within the poll interval', async () => {
    const file = join(dir, 'wake.db');
    const s = await SqliteStore.open(file);
    const sender = startChild('send-later', file);
    const waiting = s.receive('wake', 20_000);
    await s.set('waiting', true);
    const got = (await waiting) as { message: { sentAt: number } };
    const latency = Date.now() - got.message.sentAt;
    expect(await sender).toEqual({ sent: true });
    expect(latency).toBeLessThan(SQLITE_POLL_MS + 500);
    await s.dispose();
  });

  it('each message is received exactly once by receivers in two other processes', async () => {
    const file = join(dir, 'work.db');
    const s = await SqliteStore.open(file);
    const children = [startChild('drain', file), startChild('drain', file)];
    while ((await s.keys('ready:')).length < 2) await sleep(10);
    const N = 300;
    for (let i = 0; i < N; i++) {
      await s.send('work', i);
      if (i % 50 === 0) await sleep(5);
    }
    const [x, y] = (await Promise.all(children)) as { got: number[] }[];
    const all = [...x!.got, ...y!.got].sort((p, q) => p - q);
    expect(all).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(x!.got.length).toBeGreaterThan(0);
    expect(y!.got.length).toBeGreaterThan(0);
    // Each child took its messages in order.
    for (const c of [x!, y!]) expect(c.got).toEqual([...c.got].sort((p, q) => p - q));
    await s.dispose();
  });

  it("':memory:' stores are private", async () => {
    const a = await SqliteStore.open(':memory:');
    const b = await SqliteStore.open(':memory:');
    await a.set('k', 1);
    expect(await b.get('k')).toBeUndefined();
    expect(await a.receive('c', 20)).toBeNull();
    await a.dispose();
    await b.dispose();
  });

  it('open rejects a bad path with UnavailableError naming it and the fix', async () => {
    const e = await SqliteStore.open(join(dir, 'no-such-dir', 'x.db')).catch((x: Error) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toMatch(/could not open '.*x\.db'.*check that its directory exists/);
    await expect(SqliteStore.open('')).rejects.toThrow(/path must be a non-empty string/);
  });

  it('quotas: a file from before the quotas is counted once; stores on one file share its totals', async () => {
    const file = join(dir, 'old-format.db');
    // A file as an older version left it: no totals table, data already in it.
    const raw = new Database(file);
    raw.exec(`CREATE TABLE scriptbox_kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
      CREATE TABLE scriptbox_messages (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, body BLOB NOT NULL);`);
    const insert = raw.prepare('INSERT INTO scriptbox_kv VALUES (?, ?)');
    for (let i = 0; i < 3; i++) insert.run(`old${i}`, Buffer.from([0xc0])); // msgpack nil
    raw.prepare('INSERT INTO scriptbox_messages (channel, body) VALUES (?, ?)').run('c', Buffer.from([0x01]));
    raw.close();

    const a = await SqliteStore.open(file, { maxKeys: 4, maxQueuedMessages: 2 });
    const b = await SqliteStore.open(file, { maxKeys: 4, maxQueuedMessages: 2 });
    expect(await a.get('old1')).toBeNull();
    await a.set('new', 1); // 4 keys: the 3 old ones were counted
    await expect(b.set('other', 1)).rejects.toBeInstanceOf(PermissionDeniedError);
    await b.send('c', 2); // 2 messages with the old one
    await expect(a.send('c', 3)).rejects.toThrow(/maxQueuedMessages \(2\)/);
    expect(await b.receive('c', 0)).toEqual({ message: 1 });
    await a.send('c', 3);
    expect(await b.delete('old0')).toBe(true);
    await b.set('other', 1);
    // The totals match the rows, whoever wrote them.
    await Promise.all([a.dispose(), b.dispose()]);
    const check = new Database(file, { readonly: true });
    const totals = check.prepare('SELECT name, count, bytes FROM scriptbox_totals ORDER BY name').all();
    const kv = check.prepare('SELECT count(*) AS count, sum(length(CAST(key AS BLOB)) + length(value)) AS bytes FROM scriptbox_kv').get();
    const msgs = check.prepare('SELECT count(*) AS count, sum(length(body)) AS bytes FROM scriptbox_messages').get();
    check.close();
    expect(totals).toEqual([
      { name: 'kv', ...(kv as object) },
      { name: 'messages', ...(msgs as object) },
    ]);
  });
});
