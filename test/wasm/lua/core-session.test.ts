/**
 * Session payloads of the wasm Lua core (wasm/lua/session.ts), driven on LuaCore directly:
 * saveSession, a new core booted from the payload (CoreInit.session), restoreSession in
 * place, and the refusals of payloads the core cannot take, made from real payloads cut,
 * flipped or re-packed with forged numbers. The public API's side is test/session/lua-session.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreEnv, CoreInit, CoreOutcome } from '../../../src/core.js';
import { packPayload, unpackPayload } from '../../../src/session/payload.js';
import { SessionRefused } from '../../../src/session/refused.js';
import { encodeHeap } from '../../../src/session/pages.js';
import { WireHandle, type ScriptValue } from '../../../src/values.js';
import { LuaCore } from '../../../wasm/lua/core.js';

const RUN = { timeoutMs: 5000, stream: false };
const MB = 1024 * 1024;

const fail = () => {
  throw new Error('not used');
};
const env = (calls: string[] = []): CoreEnv => ({
  interruptWord: new Int32Array(new SharedArrayBuffer(4)),
  hostCall: (name) => {
    calls.push(name);
    return `answer of ${name}`;
  },
  hostStart: fail,
  hostWait: fail,
  output() {},
});
const init = (over: Partial<CoreInit> = {}, memoryBytes = 32 * MB): CoreInit => ({
  language: 'lua',
  engineId: 'lua-session',
  limits: { memoryBytes, maxOutputBytes: 10_000, maxValueDepth: 20, maxValueBytes: 8 << 20 },
  hostFunctions: ['mine'],
  config: null,
  ...over,
});

function ok(o: CoreOutcome): ScriptValue {
  if (!o.ok) throw new Error(`expected success, got ${o.failure.type}: ${o.failure.message}`);
  return o.value;
}

function failure(o: CoreOutcome) {
  if (o.ok) throw new Error(`expected a failure, got ${JSON.stringify(o.value)}`);
  return o.failure;
}

const STATE = `
counter = 0
function bump(n) counter = counter + (n or 1) return counter end
local function make_adder(k) local calls = 0 return function(n) calls = calls + 1 return n + k, calls end end
add5 = make_adder(5)
ring = { name = "a" }
ring.next = { name = "b", next = ring }
words = {}
for w in string.gmatch("one two three", "%a+") do words[#words + 1] = string.upper(w) end
table.sort(words)
snowman = utf8.char(9731)
co = coroutine.create(function(a) local b = coroutine.yield(a * 10) local c = coroutine.yield(a + b) return a + b + c end)
first = select(2, coroutine.resume(co, 2))
Box = { __name = 'Box', __index = { size = function(self) return self.n end } }
function Box.new(n) return setmetatable({ n = n }, Box) end
`;
const CHECK = `
local n, calls = add5(1)
local _, second = coroutine.resume(co, 3)
return { bump(2), n, calls, ring.next.next.name, table.concat(words, ","), snowman, utf8.len(snowman), first, second, coroutine.status(co) }
`;
const EXPECTED = [2, 6, 1, 'a', 'ONE,THREE,TWO', '\u2603', 1, 20, 5, 'suspended'];

/** A real payload's parts, and a way to re-pack them with a forged description. */
function forge(
  payload: Uint8Array,
  edit: (meta: { beside: Record<string, unknown>; core: Record<string, unknown>; heapSize: number }) => void,
) {
  const { meta, blobs } = unpackPayload(payload);
  const m = structuredClone(meta) as { beside: Record<string, unknown>; core: Record<string, unknown>; heapSize: number; blobs?: unknown };
  delete m.blobs;
  edit(m);
  return packPayload(m as unknown as Record<string, unknown>, blobs);
}

describe('wasm Lua core session payloads', () => {
  let source: LuaCore;
  let payload: Uint8Array;
  const cores: LuaCore[] = [];
  const boot = async (over: Partial<CoreInit> = {}, memoryBytes?: number, calls?: string[]) => {
    const c = await LuaCore.create(init(over, memoryBytes), env(calls));
    cores.push(c);
    return c;
  };

  beforeAll(async () => {
    source = await boot({ hostFunctions: ['secret'] });
    ok(source.load(STATE, 'state', RUN));
    expect(ok(source.create('Box', [3], RUN))).toBeInstanceOf(WireHandle);
    expect(source.handleCount()).toBe(1);
    payload = source.saveSession();
  });

  afterAll(() => {
    for (const c of cores) c.dispose();
  });

  it('a new core booted from the payload has the whole state; the source goes on independently', async () => {
    const c = await boot({ session: payload });
    expect(ok(c.exec(CHECK, RUN))).toEqual(EXPECTED);
    expect(ok(c.exec('return { coroutine.resume(co, 4) }', RUN))).toEqual([true, 9]);
    expect(ok(c.exec('return coroutine.status(co)', RUN))).toBe('dead');
    // The source never saw the restored core's calls.
    expect(ok(source.exec('return { counter, select(2, add5(0)), coroutine.status(co) }', RUN))).toEqual([0, 1, 'suspended']);
    // The payload's source had a handle; the restored core has none (the host invalidates its side).
    expect(c.handleCount()).toBe(0);
    expect(ok(c.create('Box', [7], RUN))).toBeInstanceOf(WireHandle);
    expect(c.handleCount()).toBe(1);
  });

  it("host functions are the restoring core's own, not the snapshot's", async () => {
    const calls: string[] = [];
    const c = await boot({ session: payload, hostFunctions: ['mine'] }, undefined, calls);
    expect(ok(c.exec('return { host.secret == nil, host.mine() }', RUN))).toEqual([true, 'answer of mine']);
    expect(calls).toEqual(['mine']);
  });

  it('restores in place: later globals gone, changed ones back, handles dropped; limits and timeouts still bind', async () => {
    const c = await boot();
    ok(c.load(STATE, 'state', RUN));
    ok(c.exec('counter = 100\nlater = true\nwords = nil\nlocal t = {} for i = 1, 1e5 do t[i] = i end kept = t', RUN));
    expect(ok(c.create('Box', [1], RUN))).toBeInstanceOf(WireHandle);
    c.restoreSession(payload);
    expect(c.handleCount()).toBe(0);
    expect(ok(c.exec('return later == nil and kept == nil', RUN))).toBe(true);
    expect(ok(c.exec(CHECK, RUN))).toEqual(EXPECTED);
    // The allocator's count is the snapshot's: well under the limit, and the limit still binds.
    expect(c.memoryBytes()).toBeGreaterThan(0);
    expect(c.memoryBytes()).toBeLessThan(4 * MB);
    expect(failure(c.exec('local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end', RUN)).kind).toBe('memory');
    expect(failure(c.exec('while true do end', { timeoutMs: 200, stream: false })).kind).toBe('timeout');
    // Restoring twice over a used state gives the same state again.
    c.restoreSession(payload);
    expect(ok(c.exec(CHECK, RUN))).toEqual(EXPECTED);
  });

  it('restores into a smaller memory than the source grew to, and a larger one zeroes the tail', async () => {
    // A source whose memory grew (~10 MB of tables) and a target that never grew.
    const big = await boot();
    ok(big.exec('big = {} for i = 1, 2e5 do big[i] = { i, tostring(i) } end', RUN));
    const bigPayload = big.saveSession();
    const fresh = await boot();
    fresh.restoreSession(bigPayload);
    expect(ok(fresh.exec('return { #big, big[123456][2] }', RUN))).toEqual([200_000, '123456']);
    // Back to the small state: the memory cannot shrink, the tail past the small heap is zeroed.
    fresh.restoreSession(payload);
    expect(ok(fresh.exec(CHECK, RUN))).toEqual(EXPECTED);
    expect(ok(fresh.exec('return big == nil', RUN))).toBe(true);
  });

  describe('refusals', () => {
    let victim: LuaCore;
    beforeAll(async () => {
      victim = await boot();
      ok(victim.exec('mine = "still here"', RUN));
    });

    const json = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint32(0, true);
    const flipped = () => {
      const p = payload.slice();
      const at = 4 + Math.floor(json(p) / 2);
      p[at] = p[at]! ^ 0x80;
      return p;
    };
    const CASES: [string, () => Uint8Array, RegExp][] = [
      ['empty', () => new Uint8Array(0), /too short/],
      ['truncated in its description', () => payload.slice(0, 40), /description runs past its end/],
      ['truncated in its heap', () => payload.slice(0, payload.byteLength - 4096), /blob runs past its end/],
      ['a flipped byte in its JSON', flipped, /description is not JSON/],
      ['another format', () => forge(payload, (m) => ((m as { format?: number }).format = 99)), /format/],
      [
        'L past its heap',
        () => forge(payload, (m) => (m.beside.L = m.heapSize + 4096)),
        /a pointer of its Lua state lies outside its heap/,
      ],
      ['L negative', () => forge(payload, (m) => (m.beside.L = -8)), /a pointer of its Lua state lies outside its heap/],
      ['L not a number', () => forge(payload, (m) => (m.beside.L = '8')), /a pointer of its Lua state lies outside its heap/],
      [
        'a scratch buffer running past its heap',
        () => forge(payload, (m) => (m.beside.scratch = m.heapSize - 16)),
        /a pointer of its Lua state lies outside its heap/,
      ],
      [
        'a different addFunction index',
        () => forge(payload, (m) => (m.beside.functions = (m.beside.functions as number[]).map((f, i) => (i === 1 ? f + 1 : f)))),
        /whose C functions sit elsewhere/,
      ],
      [
        'one C function fewer',
        () => forge(payload, (m) => (m.beside.functions = (m.beside.functions as number[]).slice(1))),
        /C functions/,
      ],
      [
        'an allocator count over the limit',
        () => forge(payload, (m) => (m.beside.memUsed = 33 * MB)),
        /over this engine's limits\.memoryBytes/,
      ],
      ['a malformed registry reference', () => forge(payload, (m) => (m.core.hostKeyRef = 1.5)), /reference hostKeyRef is malformed/],
      ['a heap size its bitmap does not match', () => forge(payload, (m) => (m.heapSize *= 2)), /bitmap does not match its heap size/],
      ['a heap size that is not a wasm heap', () => forge(payload, (m) => (m.heapSize = 4097)), /is not a wasm heap/],
    ];

    it.each(CASES)('%s: refused with a message naming it, at boot and in place, the core unchanged', async (_, make, pattern) => {
      const bad = make();
      const err = await LuaCore.create(init({ session: bad }), env()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionRefused);
      expect((err as Error).message).toMatch(pattern);
      expect(() => victim.restoreSession(bad)).toThrow(SessionRefused);
      expect(() => victim.restoreSession(bad)).toThrow(pattern);
      expect(ok(victim.exec('return mine', RUN))).toBe('still here');
    });

    it('a heap bigger than limits.memoryBytes allows', async () => {
      // A real heap of 80 MiB (its pages all zero but the source's), over a 1 MiB limit plus the module's own room.
      const { meta, blobs } = unpackPayload(payload);
      const small = new Uint8Array(80 * MB);
      const heapBytes = (meta as { heapSize: number }).heapSize;
      // Rebuild the source heap inside the larger one, so the pages are real.
      const pageBits = blobs[0]!;
      let at = 0;
      for (let p = 0; p < Math.ceil(heapBytes / 4096); p++) {
        if (pageBits[p >>> 3]! & (1 << (p & 7))) {
          small.set(blobs[1]!.subarray(at, at + 4096), p * 4096);
          at += 4096;
        }
      }
      const heap = encodeHeap(small);
      const m = structuredClone(meta) as Record<string, unknown>;
      delete m.blobs;
      m.heapSize = heap.size;
      (m.beside as Record<string, unknown>).memUsed = 0;
      const bad = packPayload(m, [heap.bitmap, heap.pages]);
      const err = await LuaCore.create(init({ session: bad }, 1 * MB), env()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionRefused);
      expect((err as Error).message).toMatch(/its heap is 83886080 bytes, over the \d+ bytes this engine may use \(limits\.memoryBytes\)/);
      // The real payload, into an engine whose limit is just under what its Lua state uses
      // (a fresh state still fits: the snapshot's holds more).
      const used = (meta as { beside: { memUsed: number } }).beside.memUsed;
      const tight = await LuaCore.create(init({ session: payload }, used - 1024), env()).catch((e: unknown) => e);
      expect(tight).toBeInstanceOf(SessionRefused);
      expect((tight as Error).message).toBe(`its Lua state uses ${used} bytes, over this engine's limits.memoryBytes (${used - 1024})`);
    });
  });
});
