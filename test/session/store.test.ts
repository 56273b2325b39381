/**
 * SnapshotStore in Node (issue 23): session snapshots saved by name in a directory and
 * read back checked; damaged entries are typed errors naming the entry.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidInputError,
  SessionSnapshot,
  UnavailableError,
  createEngine,
  openSnapshotStore,
  type SnapshotStore,
} from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-store-'));

describe('SnapshotStore (disk)', () => {
  let store: SnapshotStore;
  let lua: SessionSnapshot;
  let py: SessionSnapshot;

  beforeAll(async () => {
    store = await openSnapshotStore({ dir: join(dir, 'sessions') });
    const l = await createEngine('lua');
    await l.exec('saved = "lua state"');
    lua = await l.snapshot();
    await l.dispose();
    const p = await createEngine('python');
    await p.exec('saved = "python state"\nopen("/tmp/f.txt", "w").write("file")');
    py = await p.snapshot();
    await p.dispose();
  }, 120_000);

  afterAll(async () => {
    await store.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('saves, lists (newest first, from headers), loads and restores, deletes', async () => {
    await store.save('lua-1', lua);
    await store.save('py-1', py);
    const listed = await store.list();
    expect(listed.map((e) => e.name).sort()).toEqual(['lua-1', 'py-1']);
    expect(listed.find((e) => e.name === 'py-1')!.info).toEqual(py.info);
    expect(listed[0]!.info.createdAt >= listed[1]!.info.createdAt).toBe(true);
    const back = await store.load('py-1');
    expect(back!.hash).toBe(py.hash);
    const e = await createEngine('python', { restore: back! });
    expect((await e.exec('saved, open("/tmp/f.txt").read()')).value).toEqual(['python state', 'file']);
    await e.dispose();
    const l = await createEngine('lua', { restore: (await store.load('lua-1'))! });
    expect((await l.exec('return saved')).value).toBe('lua state');
    await l.dispose();
    expect(await store.load('nothing-here')).toBeUndefined();
    expect(await store.delete('lua-1')).toBe(true);
    expect(await store.delete('lua-1')).toBe(false);
    expect((await store.list()).map((e) => e.name)).toEqual(['py-1']);
  }, 60_000);

  it('replaces an entry whole, leaving no temporary file', async () => {
    await store.save('same', lua);
    await store.save('same', py);
    expect((await store.load('same'))!.language).toBe('python');
    expect(readdirSync(join(dir, 'sessions')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a damaged or truncated entry is an InvalidInputError naming it, and is left out of the list', async () => {
    await store.save('bad', lua);
    const file = join(dir, 'sessions', 'bad.session');
    const bytes = readFileSync(file);
    bytes[bytes.length - 50] = bytes[bytes.length - 50]! ^ 1;
    writeFileSync(file, bytes);
    await expect(store.load('bad')).rejects.toThrow(
      /^the snapshot 'bad' in the directory .*sessions: not a usable session snapshot: it is damaged/,
    );
    writeFileSync(file, bytes.subarray(0, 10));
    await expect(store.load('bad')).rejects.toBeInstanceOf(InvalidInputError);
    expect((await store.list()).some((e) => e.name === 'bad')).toBe(false);
  });

  it('refuses bad names, a directory that is a file, and browser options', async () => {
    for (const name of ['', '../x', 'a/b', '.hidden', 'x.tmp', 'a'.repeat(129), 42]) {
      await expect(store.save(name as string, lua)).rejects.toThrow(/a snapshot name is 1 to 128 letters/);
    }
    await expect(store.save('ok', lua.toBytes() as never)).rejects.toThrow(/save takes a SessionSnapshot/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(openSnapshotStore({ dir: file })).rejects.toThrow(/cannot hold snapshots .*pass a writable directory as dir/);
    await expect(openSnapshotStore({ database: 'x' })).rejects.toBeInstanceOf(UnavailableError);
    await expect(openSnapshotStore({ folder: 'x' } as never)).rejects.toThrow(/unknown openSnapshotStore option 'folder'/);
  });
});
