/**
 * Fast start from Pyodide memory snapshots, on real Pyodide: the disk cache (atomic
 * writes, checks before use), what a restored engine can and cannot do, and how damaged,
 * stale, refused and unwritable snapshots fall back to a boot from scratch.
 */
import { mkdtemp, readFile, readdir, rename, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseToHost } from '../../src/channel/protocol.js';
import { EngineCrashedError, InvalidInputError, createEngine, type ScriptEngine } from '../../src/index.js';
import { DiskSnapshotStore, clearSnapshots, listSnapshots, snapshotFile } from '../../src/node/snapshot-cache.js';
import { flushSnapshots, forgetSnapshots, snapshotCounts } from '../../src/snapshot/fast-start.js';
import { snapshots } from '../../src/snapshot/controls.js';
import { PYODIDE_SNAPSHOT_MAGIC as SNAPSHOT_MAGIC, looksLikePyodideSnapshot } from '../../src/snapshot/pyodide-snapshot.js';
import { snapshotKey } from '../../wasm/python/snapshot-key.js';

/** How many cores booted which way while `fn` ran. */
async function counted<T>(fn: () => Promise<T>): Promise<{ value: T; restored: number; built: number; rejected: number }> {
  const before = snapshotCounts();
  const value = await fn();
  const after = snapshotCounts();
  return {
    value,
    restored: after.restored - before.restored,
    built: after.built - before.built,
    rejected: after.rejected - before.rejected,
  };
}

/** Every JsProxy Python can reach by walking the garbage collector's objects (there must be none). */
const JS_SCAN = `
import gc, types
def js(v): return any(c.__name__ == 'JsProxy' for c in type(v).__mro__)
hits = []
for o in gc.get_objects():
    if js(o):
        hits.append(type(o).__name__)
        continue
    t = type(o)
    try:
        if t is dict: vals = list(o.values())
        elif t in (list, tuple, set, frozenset): vals = list(o)
        elif t is types.CellType: vals = [o.cell_contents]
        elif type(getattr(o, '__dict__', None)) is dict: vals = list(vars(o).values())
        else: vals = []
    except Exception:
        vals = []
    hits.extend(t.__name__ for v in vals if js(v))
hits`;

const warnings: string[] = [];
let dir: string;
let key: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sb-snap-'));
  key = await snapshotKey();
  vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void warnings.push(a.map(String).join(' ')));
});
afterAll(() => vi.restoreAllMocks());
afterEach(() => {
  warnings.length = 0;
});

describe('the snapshot option', () => {
  const bad: [unknown, RegExp][] = [
    ['yes', /snapshot must be true, false or \{ dir: '\/path\/to\/cache', spare: false \} \(got "yes"\)/],
    [42, /snapshot must be true, false or \{ dir/],
    [null, /snapshot must be true, false or \{ dir.*\(got null\)/],
    [{ path: '/tmp' }, /unknown snapshot option 'path'; snapshot must be/],
    [{ dir: '' }, /snapshot.dir must be the path of a directory .*or leave it out for the default directory/],
    [{ spare: 'no' }, /snapshot.spare must be true or false \(got "no"\)/],
    [{ dir: 7 }, /snapshot.dir must be the path of a directory for snapshot files \(got 7\)/],
  ];
  for (const [value, message] of bad) {
    it(`refuses snapshot: ${JSON.stringify(value)} for both languages`, async () => {
      for (const lang of ['python', 'lua'] as const) {
        const p = createEngine(lang, { snapshot: value as never });
        await expect(p).rejects.toBeInstanceOf(InvalidInputError);
        await expect(p).rejects.toThrow(message);
      }
    });
  }

  it('Lua takes it and ignores it', async () => {
    const { value: e, built, restored } = await counted(() => createEngine('lua', { snapshot: { dir } }));
    try {
      expect((await e.exec('return 1 + 1')).value).toBe(2);
      expect({ built, restored }).toEqual({ built: 0, restored: 0 });
      expect(await listSnapshots(dir)).toEqual([]);
    } finally {
      await e.dispose();
    }
  });
});

describe('snapshot controls and format, without an engine', () => {
  it('a Pyodide snapshot is recognised by its magic and a whole header', () => {
    const b = new Uint8Array(64);
    expect(looksLikePyodideSnapshot(b)).toBe(false);
    new DataView(b.buffer).setUint32(0, SNAPSHOT_MAGIC, true);
    expect(looksLikePyodideSnapshot(b)).toBe(true);
    expect(looksLikePyodideSnapshot(b.subarray(0, 47))).toBe(false);
    // A view at an offset is read from its own start.
    const shifted = new Uint8Array(80);
    shifted.set(b, 8);
    expect(looksLikePyodideSnapshot(shifted.subarray(8))).toBe(true);
  });

  it('snapshots.clearBrowser() is a no-op in Node (no Cache Storage); releaseSpareWorker() with no spare resolves', async () => {
    expect(Object.isFrozen(snapshots)).toBe(true);
    expect(await snapshots.clearBrowser()).toBe(false);
    await expect(snapshots.releaseSpareWorker()).resolves.toBeUndefined();
  });
});

describe('the disk cache', () => {
  const bytes = (n: number, seed: number) => {
    const b = new Uint8Array(n).map((_, i) => (i * seed) & 0xff);
    new DataView(b.buffer).setUint32(0, SNAPSHOT_MAGIC, true);
    return b;
  };

  it('writes atomically: a reader sees no file or the whole file, never part of one', async () => {
    const store = new DiskSnapshotStore(await mkdtemp(join(tmpdir(), 'sb-snap-atomic-')));
    const k = 'a'.repeat(64);
    const big = bytes(24 * 1024 * 1024, 7);
    const seen = new Set<string>();
    let done = false;
    const writing = store.write(k, big).finally(() => (done = true));
    while (!done) {
      const r = await store.read(k);
      seen.add('bytes' in r ? `whole:${r.bytes.byteLength === big.byteLength}` : r.problem);
    }
    await writing;
    const after = await store.read(k);
    expect('bytes' in after && Buffer.compare(Buffer.from(after.bytes), Buffer.from(big))).toBe(0);
    expect([...seen].filter((s) => s !== 'missing' && s !== 'whole:true')).toEqual([]);
    expect((await readdir(store.where)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('reads back into shared memory, and refuses damaged, truncated and foreign files', async () => {
    const store = new DiskSnapshotStore(await mkdtemp(join(tmpdir(), 'sb-snap-check-')));
    const k = 'b'.repeat(64);
    const data = bytes(100_000, 3);
    await store.write(k, data);
    const good = await store.read(k);
    expect('bytes' in good && good.bytes.buffer instanceof SharedArrayBuffer).toBe(true);
    const file = snapshotFile(store.where, k);
    const raw = await readFile(file);

    raw[112 + 5000]! ^= 0xff;
    await writeFile(file, raw);
    expect(await store.read(k)).toEqual({ problem: expect.stringMatching(/is damaged \(its checksum does not match\)/) });
    raw[112 + 5000]! ^= 0xff;

    await writeFile(file, raw.subarray(0, 50_000));
    expect(await store.read(k)).toEqual({ problem: expect.stringMatching(/is truncated or padded/) });
    await writeFile(file, raw.subarray(0, 60));
    expect(await store.read(k)).toEqual({ problem: expect.stringMatching(/is truncated \(60 bytes\)/) });

    await store.write('c'.repeat(64), data);
    await rename(snapshotFile(store.where, 'c'.repeat(64)), file);
    expect(await store.read(k)).toEqual({ problem: expect.stringMatching(/holds the snapshot of another key/) });

    await writeFile(file, Buffer.alloc(200, 1));
    expect(await store.read(k)).toEqual({ problem: expect.stringMatching(/is not a scriptbox snapshot file/) });
    expect(await store.read('d'.repeat(64))).toEqual({ problem: 'missing' });
    await expect(store.read('../../etc/passwd')).rejects.toThrow(/64 hex characters/);

    await writeFile(join(store.where, 'notes.txt'), 'mine');
    expect(await clearSnapshots(store.where)).toBe(1);
    expect(await readdir(store.where)).toEqual(['notes.txt']);
  });

  it('keys change with the Pyodide version and with what else is baked in', async () => {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(await snapshotKey()).toBe(key);
    expect(await snapshotKey([], '0.0.0')).not.toBe(key);
    expect(await snapshotKey(['init script'])).not.toBe(key);
    expect(await snapshotKey(['a', 'b'])).not.toBe(await snapshotKey(['ab']));
  });

  it('a core may send a snapshot only with ready, only when it may take one, and within the size limit', () => {
    const ready = (boot: unknown) => ({ t: 'ready', boot });
    const snapshot = new Uint8Array(64);
    expect(parseToHost(ready({ restored: false, snapshot }), undefined, 64)).toEqual({ t: 'ready', boot: { restored: false, snapshot } });
    expect(() => parseToHost(ready({ restored: false, snapshot }), undefined, 63)).toThrow(
      /ready.boot.snapshot is 64 bytes, over the 63-byte limit/,
    );
    expect(() => parseToHost(ready({ restored: false, snapshot }))).toThrow(EngineCrashedError);
    expect(() => parseToHost(ready({ restored: false, snapshot: [1, 2] }), undefined, 64)).toThrow(/ready.boot.snapshot is not bytes/);
    expect(() => parseToHost(ready({ snapshot }), undefined, 64)).toThrow(/ready.boot.restored is not a boolean/);
    expect(parseToHost(ready({ restored: true, rejected: 'x'.repeat(1000) })).t).toBe('ready');
  });
});

describe('Python engines with snapshots', () => {
  const options = (more: object = {}) => ({
    snapshot: { dir },
    capabilities: ['echo'],
    hostFunctions: { echo: (x: unknown) => x },
    onLog: () => {},
    ...more,
  });
  let first: ScriptEngine;
  let restored: ScriptEngine;

  beforeAll(async () => {
    forgetSnapshots();
    await clearSnapshots(dir);
  });
  afterAll(async () => {
    await first?.dispose();
    await restored?.dispose();
  });

  it('a miss boots from scratch, takes the snapshot and writes it to the cache', async () => {
    const run = await counted(() => createEngine('python', options()));
    first = run.value;
    expect({ built: run.built, restored: run.restored }).toEqual({ built: 1, restored: 0 });
    expect((await first.exec('1 + 1')).value).toBe(2);
    await flushSnapshots();
    expect(await readdir(dir)).toEqual([`${key}.snap`]);
    const read = await new DiskSnapshotStore(dir).read(key);
    expect('bytes' in read && new DataView(read.bytes.buffer, read.bytes.byteOffset).getUint32(0, true)).toBe(SNAPSHOT_MAGIC);
    expect(warnings).toEqual([]);
  });

  it('a hit restores an engine that runs code, imports the standard library and calls the host', async () => {
    forgetSnapshots(); // read the file back, as a new process would
    const run = await counted(() =>
      createEngine('python', options({ limits: { memoryBytes: 96 * 1024 * 1024, timeoutMs: 2000, graceMs: 200 } })),
    );
    restored = run.value;
    expect({ built: run.built, restored: run.restored }).toEqual({ built: 0, restored: 1 });
    const r = await restored.exec(
      'import json, statistics, host\nprint("hi")\n(statistics.mean([1, 2, 3]), json.dumps({"a": 1}), host.echo([1, "x"]))',
    );
    expect(r).toMatchObject({ success: true, value: [2, '{"a": 1}', [1, 'x']], stdout: 'hi\n' });
    const t = await restored.exec('import time, asyncio\ntime.sleep(0.01)\nasyncio.run(asyncio.sleep(0.01))\n"slept"');
    expect(t.value).toBe('slept');
  });

  it('keeps the sandbox closed: no js, no pyodide, no JsProxy anywhere, its own random numbers', async () => {
    for (const mod of ['js', 'pyodide', 'pyodide_js', '_pyodide_core', 'ctypes']) {
      const r = await restored.exec(`import ${mod}`);
      expect(r.error?.message, mod).toMatch(/not available in the ScriptBox sandbox/);
    }
    expect((await restored.exec(JS_SCAN)).value).toEqual([]);
    expect((await first.exec(JS_SCAN)).value).toEqual([]);
    const draw = 'import random\nrandom.getrandbits(64)';
    expect((await restored.exec(draw)).value).not.toEqual((await first.exec(draw)).value);
  });

  it('stops on interrupt(), and restarts from the snapshot after a kill and after the memory limit', async () => {
    const running = restored.exec('while True:\n    pass');
    setTimeout(() => restored.interrupt(), 200);
    expect((await running).error?.type).toBe('Interrupted');

    await restored.load('def kept():\n    return "kept"\n', 'kept.py');
    const stuck = await counted(async () => {
      const r = await restored.exec('sum(range(10**15))');
      expect((await restored.exec('1 + 1')).value).toBe(2);
      return r;
    });
    expect(stuck.value.timedOut).toBe(true);
    expect(await restored.call('kept')).toBe('kept');
    const big = await counted(async () => {
      const r = await restored.exec('b = bytearray(200 * 1024 * 1024)\nlen(b)');
      await restored.exec('1');
      return r;
    });
    expect(big.value.error?.type).toBe('MemoryLimitError');
    expect({ built: stuck.built + big.built, restored: stuck.restored + big.restored }).toEqual({ built: 0, restored: 2 });
    expect((await restored.stats()).restarts).toBe(2);
  });

  it('the process and inline placements restore too', async () => {
    for (const placement of ['process', 'inline'] as const) {
      const run = await counted(() => createEngine('python', options({ placement, trusted: placement === 'inline' })));
      try {
        expect(run.restored, placement).toBe(1);
        expect((await run.value.exec('import host\nhost.echo(41) + 1')).value).toBe(42);
        expect((await run.value.exec('import js')).success).toBe(false);
      } finally {
        await run.value.dispose();
      }
    }
  });
});

describe('snapshots that cannot be used', () => {
  const boot = async (d: string) => {
    const run = await counted(() => createEngine('python', { snapshot: { dir: d } }));
    try {
      expect((await run.value.exec('1 + 1')).value).toBe(2);
    } finally {
      await run.value.dispose();
    }
    await flushSnapshots();
    return run;
  };
  const file = () => snapshotFile(dir, key);
  const valid = async () => 'bytes' in (await new DiskSnapshotStore(dir).read(key));

  beforeAll(async () => {
    forgetSnapshots();
    if (!(await valid())) await boot(dir);
  });

  it('a damaged file is found out and rebuilt', async () => {
    const raw = await readFile(file());
    raw[raw.length >> 1]! ^= 0x40;
    await writeFile(file(), raw);
    forgetSnapshots();
    expect(await boot(dir)).toMatchObject({ built: 1, restored: 0 });
    expect(warnings.join('\n')).toMatch(/is damaged .*booting Python from scratch and replacing the snapshot/);
    expect(await valid()).toBe(true);
  });

  it('a truncated file is found out and rebuilt', async () => {
    await truncate(file(), 1_000_000);
    forgetSnapshots();
    expect(await boot(dir)).toMatchObject({ built: 1, restored: 0 });
    expect(warnings.join('\n')).toMatch(/is truncated/);
    expect(await valid()).toBe(true);
  });

  it('a stale file (another key) is not used', async () => {
    const stale = await snapshotKey([], '0.0.0');
    const store = new DiskSnapshotStore(dir);
    const good = await store.read(key);
    if (!('bytes' in good)) throw new Error('no snapshot to start from');
    await store.write(stale, good.bytes);
    await rename(snapshotFile(dir, stale), file());
    forgetSnapshots();
    expect(await boot(dir)).toMatchObject({ built: 1, restored: 0 });
    expect(warnings.join('\n')).toMatch(/holds the snapshot of another key/);
    expect(await valid()).toBe(true);
  });

  it('a snapshot Pyodide refuses (another build) boots from scratch and is replaced', async () => {
    const junk = new Uint8Array(4096).fill(7);
    new DataView(junk.buffer).setUint32(0, SNAPSHOT_MAGIC, true);
    new DataView(junk.buffer).setUint32(4, 64, true);
    await new DiskSnapshotStore(dir).write(key, junk);
    forgetSnapshots();
    expect(await boot(dir)).toMatchObject({ rejected: 1, restored: 0 });
    expect(warnings.join('\n')).toMatch(/the Python snapshot could not be restored \(Snapshot build id mismatch\); it was rebuilt/);
    const now = await new DiskSnapshotStore(dir).read(key);
    expect('bytes' in now && now.bytes.byteLength).toBeGreaterThan(1024 * 1024);
  });

  it('the process placement takes the snapshot too (it crosses the pipe in the ready message)', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'sb-snap-proc-'));
    const run = await counted(() => createEngine('python', { placement: 'process', snapshot: { dir: fresh } }));
    try {
      expect(run.built).toBe(1);
      expect((await run.value.exec('1 + 1')).value).toBe(2);
    } finally {
      await run.value.dispose();
    }
    await flushSnapshots();
    expect('bytes' in (await new DiskSnapshotStore(fresh).read(key))).toBe(true);
  });

  it('an unwritable directory: the engine still starts, with a warning, and later engines of the process restore', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'sb-snap-ro-'));
    await writeFile(join(parent, 'file'), 'not a directory');
    const bad = join(parent, 'file', 'snapshots');
    expect(await boot(bad)).toMatchObject({ built: 1, restored: 0 });
    expect(warnings.join('\n')).toMatch(
      /cannot write Python snapshots to .*file\/snapshots \(ENOTDIR\); engines of this process \(or page\) still start fast/,
    );
    expect(await boot(bad)).toMatchObject({ built: 0, restored: 1 });
  });
});
