/**
 * Session snapshots of Lua engines (issue 23): the Lua state (globals, functions,
 * closures, tables with cycles, a suspended coroutine, the standard libraries in use) taken
 * as bytes and brought back in a new engine, in place and in a new Node process; damaged
 * and foreign snapshots refused with typed errors; nothing granted by a snapshot. Lua has
 * no file system of its own (its `io` reaches only mounts, the host's files): a file
 * written to a /tmp mount is read back by the restored engine through its own mount.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, InvalidInputError, SessionSnapshot, createEngine, type ScriptEngine } from '../../src/index.js';
import { packSession } from '../../src/session/format.js';
import { packPayload, unpackPayload } from '../../src/session/payload.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-lua-session-'));
const hostTmp = mkdtempSync(join(dir, 'tmp-'));
const mounts = [{ hostPath: hostTmp, path: '/tmp' }];
const STATE = `
counter = 0
function bump(n) counter = counter + (n or 1) return counter end
local function make_adder(k) return function(n) return n + k end end
add5 = make_adder(5)
ring = { name = "a" }
ring.next = { name = "b", next = ring }
words = {}
for w in string.gmatch("one two three", "%a+") do words[#words + 1] = string.upper(w) end
snowman = utf8.char(9731)
gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i * 10) end end)
first = gen()
local f = io.open("/tmp/note.txt", "w") f:write("kept in /tmp") f:close()
`;
const CHECK =
  'local f = io.open("/tmp/note.txt") local note = f:read("a") f:close()\nreturn { bump(2), add5(1), ring.next.next.name, table.concat(words, ","), snowman, first, gen(), note }';
const EXPECTED = [2, 6, 'a', 'ONE,TWO,THREE', '\u2603', 10, 20, 'kept in /tmp'];

describe('Lua session snapshots', () => {
  let source: ScriptEngine;
  let snap: SessionSnapshot;
  const engines: ScriptEngine[] = [];
  const made = async (options: Parameters<typeof createEngine>[1] = {}) => {
    const e = await createEngine('lua', { mounts, capabilities: ['fs.read', 'fs.write'], ...options });
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    source = await made({ hostFunctions: { secret: () => 's3cret' }, capabilities: ['fs.read', 'fs.write', 'secret'] });
    await source.exec(STATE);
    snap = await source.snapshot();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(engines.map((e) => e.dispose()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('describes itself', () => {
    expect(snap.info).toMatchObject({ language: 'lua', backend: 'wasm', packages: null, signed: false });
    expect(snap.info.runtime).toMatch(/^wasmoon\/\d+\.\d+\.\d+\+[0-9a-f]{16}$/);
    expect(readFileSync(join(hostTmp, 'note.txt'), 'utf8')).toBe('kept in /tmp');
  });

  it('restores into a new engine with the whole state, the source independent of it', async () => {
    const e = await made({ restore: snap });
    expect((await e.exec(CHECK)).value).toEqual(EXPECTED);
    expect((await e.exec('return gen()')).value).toBe(30);
    expect((await source.exec('return { counter, gen() }')).value).toEqual([0, 20]);
  });

  it('restores from bytes in a new Node process', async () => {
    const file = join(dir, 'lua.snap');
    writeFileSync(file, snap.toBytes());
    const index = new URL('../../dist/src/index.js', import.meta.url).href;
    const script = `
      import { readFileSync } from 'node:fs';
      import { createEngine, SessionSnapshot } from ${JSON.stringify(index)};
      const snap = await SessionSnapshot.from(readFileSync(${JSON.stringify(file)}));
      const e = await createEngine('lua', { restore: snap, mounts: ${JSON.stringify(mounts)}, capabilities: ['fs.read'] });
      const r = await e.exec(${JSON.stringify(CHECK)});
      console.log(JSON.stringify(r.value ?? r.error));
      await e.dispose();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual(EXPECTED);
  }, 90_000);

  it('restore() puts the state back in place: later globals gone, changed ones back, older RemoteObjects disposed', async () => {
    const e = await made({ restore: snap });
    const ring = await e.create('setmetatable', [{}, {}]);
    await e.exec('counter = 100\nlater = true\nwords = nil');
    await e.restore(snap);
    expect((await e.exec(CHECK)).value).toEqual(EXPECTED);
    expect((await e.exec('return later == nil')).value).toBe(true);
    await expect(ring.get('x')).rejects.toBeInstanceOf(DisposedError);
    // Limits and the deadline still hold after an in-place restore.
    const loop = await e.exec('while true do end', { timeoutMs: 300 });
    expect(loop.timedOut).toBe(true);
    const mem = await e.exec('local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end');
    expect(mem.error?.type).toBe('MemoryLimitError');
    expect((await e.exec('return bump(0)')).value).toBe(0);
  }, 60_000);

  it("grants nothing: host functions and capabilities are the restoring engine's own", async () => {
    expect((await source.exec('return host.secret()')).value).toBe('s3cret');
    const e = await made({
      restore: snap,
      hostFunctions: { greet: (n: unknown) => `hi ${String(n)}` },
      capabilities: ['greet', 'fs.read'],
    });
    expect((await e.exec('return host.secret == nil')).value).toBe(true);
    expect((await e.exec('return host.greet("x")')).value).toBe('hi x');
    const denied = await (
      await made({ restore: snap, hostFunctions: { secret: () => 'other' }, capabilities: [] })
    ).exec('return host.secret()');
    expect(denied.error?.message).toMatch(/PermissionError/);
  });

  it('refuses a forged payload (good checksum) whose numbers do not fit: a pointer outside the heap, other C functions, too much memory, a bad reference', async () => {
    const h = new DataView(snap.toBytes().buffer).getUint32(12, true);
    const { meta, blobs } = unpackPayload(snap.toBytes().slice(16 + h));
    const forge = async (edit: (m: { beside: Record<string, unknown>; core: Record<string, unknown>; heapSize: number }) => void) => {
      const m = structuredClone(meta) as {
        beside: Record<string, unknown>;
        core: Record<string, unknown>;
        heapSize: number;
        blobs?: unknown;
      };
      delete m.blobs;
      edit(m);
      const payload = packPayload(m as unknown as Record<string, unknown>, blobs);
      return (await packSession({ language: 'lua', backend: 'wasm', runtime: snap.info.runtime, packages: null }, payload)).bytes;
    };
    const cases: [(m: { beside: Record<string, unknown>; core: Record<string, unknown>; heapSize: number }) => void, RegExp][] = [
      [(m) => (m.beside.L = m.heapSize + 4096), /a pointer of its Lua state lies outside its heap/],
      [(m) => (m.beside.scratch = m.heapSize - 16), /a pointer of its Lua state lies outside its heap/],
      [(m) => (m.beside.functions = [...(m.beside.functions as number[])].reverse()), /whose C functions sit elsewhere/],
      [(m) => (m.beside.memUsed = 2 ** 40), /over this engine's limits\.memoryBytes/],
      [(m) => (m.core.msghRef = -1), /its Lua state's reference msghRef is malformed/],
      [(m) => (m.heapSize = m.heapSize * 2), /bitmap does not match its heap size/],
    ];
    const e = await made();
    await e.exec('mine = "still here"');
    for (const [edit, pattern] of cases) {
      const bytes = await forge(edit);
      const err = await createEngine('lua', { restore: bytes }).catch((x: unknown) => x);
      expect(err, String(pattern)).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(pattern);
      // In place too: refused before anything was written, the engine as it was.
      const inPlace = await e.restore(bytes).catch((x: unknown) => x);
      expect(inPlace).toBeInstanceOf(InvalidInputError);
      expect((await e.exec('return mine')).value).toBe('still here');
    }
    expect((await e.stats()).restarts).toBe(0);
  }, 60_000);

  it('refuses damaged and foreign snapshots with InvalidInputError, and a refused restore() changes nothing', async () => {
    const b = snap.toBytes();
    b[b.byteLength - 100] = b[b.byteLength - 100]! ^ 1;
    await expect(createEngine('lua', { restore: b })).rejects.toThrow(/damaged \(its checksum does not match/);
    const py = await createEngine('python');
    engines.push(py);
    const pySnap = await py.snapshot();
    const e = await made();
    await e.exec('mine = "still here"');
    const err = await e.restore(pySnap).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/is of a python engine; restore it into a python engine, not a lua one/);
    expect((await e.exec('return mine')).value).toBe('still here');
  }, 60_000);
});
