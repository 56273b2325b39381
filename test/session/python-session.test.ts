/**
 * Session snapshots of Python engines (issue 23): a live engine's state (globals,
 * functions, imported modules, an installed wheel, its files and open files) taken as
 * bytes and brought back in a new engine, in place, in a new Node process; damaged,
 * foreign and forged snapshots refused with typed errors; nothing granted by a snapshot.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, InvalidInputError, SessionSnapshot, UnavailableError, createEngine, type ScriptEngine } from '../../src/index.js';
import { packSession } from '../../src/session/format.js';
import { packPayload, unpackPayload } from '../../src/session/payload.js';
import { buildWheels, RUN } from '../packages/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-session-'));
const wheelModule = `sbsession_${RUN}`;
const STATE = [
  'import json, fractions, collections',
  `import ${wheelModule}`,
  'counter = collections.Counter("hello")',
  'def double(n):\n    return n * 2',
  'def make_adder(k):\n    def add(n):\n        return n + k\n    return add',
  'add5 = make_adder(5)',
  'class Box:\n    def __init__(self, v):\n        self.v = v\n    def get(self):\n        return self.v',
  'box = Box(fractions.Fraction(1, 3))',
  'open("/tmp/session-note.txt", "w").write("kept in /tmp")',
  'log = open("/tmp/session-log.txt", "w+")',
  'log.write("line 1\\n")',
  'log.flush()',
].join('\n');
const CHECK = `(counter["l"], double(21), add5(1), str(box.get()), open("/tmp/session-note.txt").read(), json.dumps({"a": 1}), ${wheelModule}.hello(), log.tell())`;
const EXPECTED = [2, 42, 6, '1/3', 'kept in /tmp', '{"a": 1}', 'from the wheel', 7];

/** The bytes with the container's header JSON replaced by `edit(header)` (the payload and its checksum unchanged). */
function withHeader(bytes: Uint8Array, edit: (h: Record<string, unknown>) => void): Uint8Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = v.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + h))) as Record<string, unknown>;
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(16 + json.byteLength + (bytes.byteLength - 16 - h));
  out.set(bytes.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, json.byteLength, true);
  out.set(json, 16);
  out.set(bytes.subarray(16 + h), 16 + json.byteLength);
  return out;
}

/** The snapshot's core payload (the part after the header). */
function payloadOf(bytes: Uint8Array): Uint8Array {
  const h = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(12, true);
  return bytes.slice(16 + h);
}

describe('Python session snapshots', () => {
  let source: ScriptEngine;
  let snap: SessionSnapshot;
  const engines: ScriptEngine[] = [];
  const made = async (options: Parameters<typeof createEngine>[1] = {}) => {
    const e = await createEngine('python', options);
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    const [wheel] = buildWheels(dir, [
      { name: wheelModule, version: '1.0', module: wheelModule, source: 'def hello():\n    return "from the wheel"\n' },
    ]);
    source = await made({ hostFunctions: { secret: () => 's3cret' }, capabilities: ['secret'] });
    await source.install(wheel!);
    await source.exec(STATE);
    snap = await source.snapshot();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(engines.map((e) => e.dispose()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('describes itself: language, backend, runtime, package set, hash and size', () => {
    expect(snap).toBeInstanceOf(SessionSnapshot);
    expect(snap.info).toMatchObject({
      language: 'python',
      backend: 'wasm',
      packages: null,
      signed: false,
      size: snap.toBytes().byteLength,
    });
    expect(snap.info.runtime).toMatch(/^pyodide\/\d+\.\d+\.\d+\+[0-9a-f]{16}$/);
    expect(snap.hash).toMatch(/^[0-9a-f]{64}$/);
    // Its bytes are a copy each time: changing one changes nothing else.
    const a = snap.toBytes();
    a[100] = a[100]! ^ 0xff;
    expect(snap.toBytes()[100]).not.toBe(a[100]);
  });

  it('restores into a new engine with the whole state: globals, functions, a closure, an instance, stdlib and wheel modules, /tmp files, an open file', async () => {
    const e = await made({ restore: snap });
    expect((await e.exec(CHECK)).value).toEqual(EXPECTED);
    // The open file keeps working where it was.
    expect((await e.exec('log.write("line 2\\n"); log.seek(0); log.read()')).value).toBe('line 1\nline 2\n');
    // The wheel's files came along (its module's source is on the engine's disk).
    expect((await e.exec(`import os\nos.path.exists(${wheelModule}.__file__)`)).value).toBe(true);
    // The source is untouched and independent.
    expect((await source.exec('log.tell()')).value).toBe(7);
  });

  it('restores from bytes in a new Node process', async () => {
    const file = join(dir, 'session.snap');
    writeFileSync(file, snap.toBytes());
    const index = new URL('../../dist/src/index.js', import.meta.url).href;
    const script = `
      import { readFileSync } from 'node:fs';
      import { createEngine, SessionSnapshot } from ${JSON.stringify(index)};
      const snap = await SessionSnapshot.from(readFileSync(${JSON.stringify(file)}));
      const e = await createEngine('python', { restore: snap });
      const r = await e.exec(${JSON.stringify(CHECK)});
      console.log(JSON.stringify(r.value ?? r.error));
      await e.dispose();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual(EXPECTED);
  }, 150_000);

  it('restore() puts the state back in place: later globals gone, files as they were, older RemoteObjects disposed', async () => {
    const e = await made({ restore: snap });
    const box = await e.create('Box', [7]);
    await e.exec(
      'counter = None\nnew_global = 1\nopen("/tmp/later.txt", "w").write("later")\nimport os\nos.remove("/tmp/session-note.txt")',
    );
    await e.restore(snap);
    expect((await e.exec(CHECK)).value).toEqual(EXPECTED);
    expect((await e.exec('import os\n("new_global" in globals(), os.path.exists("/tmp/later.txt"))')).value).toEqual([false, false]);
    await expect(box.call('get')).rejects.toBeInstanceOf(DisposedError);
    // A snapshot of another engine restores too (a new interpreter, the same result).
    const other = await made();
    await other.exec('only_here = 3');
    const otherSnap = await other.snapshot();
    await e.restore(otherSnap);
    expect((await e.exec('only_here, "counter" in globals()')).value).toEqual([3, false]);
  }, 60_000);

  it('restarts come back to the snapshot, with scripts loaded since replayed on top', async () => {
    const e = await made({ restore: snap, limits: { memoryBytes: 128 * 1024 * 1024 } });
    await e.load('after = double(10)', 'after');
    const bomb = await e.exec('x = bytearray(1 << 30)');
    expect(bomb.error?.type).toBe('MemoryLimitError');
    expect((await e.exec('after, add5(0)')).value).toEqual([20, 5]);
    expect((await e.stats()).restarts).toBe(1);
  }, 60_000);

  it("leaves mounted host files out: they are the host's, read again through the restoring engine's own mount", async () => {
    const hostDir = mkdtempSync(join(dir, 'mount-'));
    writeFileSync(join(hostDir, 'secret.txt'), 'HOST-SECRET-7c1e');
    const mounts = [{ hostPath: hostDir, path: '/data' }];
    const e = await made({ mounts, capabilities: ['fs.read', 'fs.write'] });
    await e.exec('held = open("/data/secret.txt").read()\nopen("/tmp/own.txt", "w").write("own")');
    const s = await e.snapshot();
    // The script's own copy of the text is in its heap; the mounted file is not among the snapshot's files.
    const files = unpackPayload(payloadOf(s.toBytes())).meta.files as { path: string }[];
    expect(files.map((f) => f.path)).toContain('/tmp/own.txt');
    expect(files.some((f) => f.path.startsWith('/data'))).toBe(false);
    // Without the mount (or its capability), the restored engine cannot read the host file.
    const bare = await made({ restore: s });
    expect((await bare.exec('held')).value).toBe('HOST-SECRET-7c1e');
    expect((await bare.exec('open("/data/secret.txt").read()')).success).toBe(false);
    const withMount = await made({ restore: s, mounts, capabilities: ['fs.read'] });
    expect((await withMount.exec('open("/data/secret.txt").read()')).value).toBe('HOST-SECRET-7c1e');
  });

  it('grants nothing: the restoring engine has its own host functions and capabilities', async () => {
    expect((await source.exec('import host\nhost.secret()')).value).toBe('s3cret');
    const e = await made({ restore: snap, hostFunctions: { greet: (n: unknown) => `hi ${String(n)}` }, capabilities: ['greet'] });
    const r = await e.exec('import host\nhost.secret()');
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/secret/);
    expect((await e.exec('import host\nhost.greet("x")')).value).toBe('hi x');
    // Granted the name but not the capability: refused by the host, whatever the snapshot held.
    const f = await made({ restore: snap, hostFunctions: { secret: () => 'other' } });
    const denied = await f.exec('import host\nhost.secret()');
    expect(denied.error?.type).toBe('PermissionError');
  });

  it('keeps a taint: a frame stashed before the snapshot cannot reach the host after the restore', async () => {
    const answered: unknown[] = [];
    const opts = { hostFunctions: { probe: (n: unknown) => (answered.push(n), ['real', n]) }, capabilities: ['probe'] };
    const a = await made(opts);
    const stash = await a.exec(
      'import sys\nf = sys._getframe()\nwhile f is not None and "_host_call" not in f.f_globals:\n    f = f.f_back\nRT = f.f_globals\nFOUND = True\nFOUND',
    );
    expect(stash.value).toBe(true);
    const tainted = await a.snapshot();
    const b = await made({ ...opts, restore: tainted });
    for (let i = 0; i < 2; i++) {
      await b.exec('RT["_host_call"] = lambda n, a: "evil"\nRT["_enc"] = lambda *a, **k: "evil"');
      expect((await b.exec(`import host\nhost.probe(${i})`)).value).toEqual(['real', i]);
    }
  }, 60_000);

  describe('refusals (InvalidInputError, nothing booted)', () => {
    const refused = async (bytes: unknown, pattern: RegExp, options: Parameters<typeof createEngine>[1] = {}) => {
      const err = await createEngine('python', { ...options, restore: bytes as Uint8Array }).then(
        async (e) => (await e.dispose(), undefined),
        (x: unknown) => x,
      );
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(pattern);
    };

    it('a flipped byte in the payload (its checksum)', async () => {
      const b = snap.toBytes();
      b[b.byteLength - 5000] = b[b.byteLength - 5000]! ^ 1;
      await refused(b, /damaged \(its checksum does not match/);
    });

    it('truncated, padded, not a snapshot, another format', async () => {
      const b = snap.toBytes();
      await refused(b.subarray(0, b.byteLength - 1), /truncated or padded/);
      await refused(new Uint8Array([...b, 0]), /truncated or padded/);
      await refused(new TextEncoder().encode('#!/bin/sh\necho hello\n'.repeat(4)), /does not start like one/);
      const v2 = b.slice();
      new DataView(v2.buffer).setUint32(8, 2, true);
      await refused(v2, /it has format 2, and this version of ScriptBox reads format 1/);
      await expect(SessionSnapshot.from('not bytes')).rejects.toThrow(/takes the bytes of a snapshot, a Uint8Array/);
    });

    it('of another runtime, another package set, another language', async () => {
      await refused(
        withHeader(snap.toBytes(), (h) => (h.runtime = 'pyodide/0.26.0+0000000000000000')),
        /taken with runtime pyodide\/0\.26\.0\+0000000000000000, and this engine runs pyodide\//,
      );
      await refused(
        withHeader(snap.toBytes(), (h) => (h.packages = 'ab'.repeat(32))),
        /taken with package set abababababab, and this engine has no package set/,
      );
      const lua = await createEngine('lua', { restore: snap }).catch((e: unknown) => e);
      expect(lua).toBeInstanceOf(InvalidInputError);
      expect((lua as Error).message).toMatch(/is of a python engine; restore it into a python engine, not a lua one/);
    });

    it('a forged payload with a good checksum that names JavaScript objects (Pyodide would hand them to Python)', async () => {
      const { meta, blobs } = unpackPayload(payloadOf(snap.toBytes()));
      const header = blobs[0]!.slice();
      const v = new DataView(header.buffer);
      const n = v.getUint32(8, true);
      const json = new TextEncoder().encode(JSON.stringify({ hiwireKeys: [{ API: true }], immortalKeys: [] }));
      expect(json.byteLength).toBeLessThanOrEqual(header.byteLength - 48);
      header.fill(0x20, 48, 48 + Math.max(n, json.byteLength));
      header.set(json, 48);
      v.setUint32(8, json.byteLength, true);
      const { blobs: _lengths, ...described } = meta;
      const forged = packPayload(described, [header, ...blobs.slice(1)]);
      const { bytes } = await packSession({ language: 'python', backend: 'wasm', runtime: snap.info.runtime, packages: null }, forged);
      await refused(bytes, /the session snapshot was refused: its heap names JavaScript objects, which no ScriptBox snapshot does/);
    });

    it('a heap larger than the engine may use, and restore() on a live engine leaves it as it was', async () => {
      const big = await made();
      await big.exec('hog = bytearray(96 * 1024 * 1024)\nkeep = 1');
      const bigSnap = await big.snapshot();
      await refused(bigSnap, /over the \d+ bytes this engine may use \(limits\.memoryBytes\)/, {
        limits: { memoryBytes: 80 * 1024 * 1024 },
      });
      const small = await made({ limits: { memoryBytes: 80 * 1024 * 1024 } });
      await small.exec('mine = "still here"');
      const err = await small.restore(bigSnap).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((await small.exec('mine')).value).toBe('still here');
      expect(small.lastError).toBe(err);
    }, 90_000);

    it('the options: restore and snapshotKey of the wrong kind, native engines', async () => {
      await expect(createEngine('python', { restore: 'snap' as never })).rejects.toThrow(
        /^restore takes a SessionSnapshot \(from engine\.snapshot\(\)\) or its bytes \(got "snap"\)$/,
      );
      await expect(createEngine('python', { snapshotKey: 'short' })).rejects.toThrow(
        /^snapshotKey is 5 bytes; use at least 32 random bytes/,
      );
      await expect(createEngine('python', { snapshotKey: 42 as never })).rejects.toThrow(
        /^snapshotKey must be a string or a Uint8Array \(got 42\)$/,
      );
      const native = await createEngine('python', { backend: 'native', restore: snap }).catch((e: unknown) => e);
      expect(native).toBeInstanceOf(UnavailableError);
      expect((native as Error).message).toMatch(/native engines take no session snapshots/);
    });
  });

  describe('snapshotKey: signed snapshots', () => {
    const key = 'k'.repeat(16) + 'secret-for-tests-only-0123456789';
    let signed: SessionSnapshot;

    beforeAll(async () => {
      const e = await made({ snapshotKey: key });
      await e.exec('signed_state = 41 + 1');
      signed = await e.snapshot();
    }, 60_000);

    it('restores with the same key, and refuses another key, no key on the snapshot, or bytes changed after signing', async () => {
      expect(signed.info.signed).toBe(true);
      const ok = await made({ snapshotKey: new TextEncoder().encode(key), restore: signed });
      expect((await ok.exec('signed_state')).value).toBe(42);
      await expect(createEngine('python', { snapshotKey: 'x'.repeat(48), restore: signed })).rejects.toThrow(
        /signature does not match this engine's snapshotKey/,
      );
      await expect(createEngine('python', { snapshotKey: key, restore: snap })).rejects.toThrow(
        /is not signed, and this engine has a snapshotKey/,
      );
      // A payload byte changed and the checksum recomputed: only the signature can tell.
      const b = signed.toBytes();
      const h = new DataView(b.buffer).getUint32(12, true);
      b[16 + h + 3000] = b[16 + h + 3000]! ^ 1;
      const resummed = withHeader(b, (hd) => {
        hd.sha256 = createHash('sha256')
          .update(b.subarray(16 + h, b.byteLength - 32))
          .digest('hex');
      });
      await expect(createEngine('python', { snapshotKey: key, restore: resummed })).rejects.toThrow(
        /signed with another key, or its bytes were changed after it was signed/,
      );
    }, 90_000);
  });
});
