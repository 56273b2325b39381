/**
 * RemoteObjects (src/remote-object.ts) on real engines: create, methods, attributes,
 * handles as results and as arguments, dispose, restarts, and the garbage-collection
 * backstop, in both languages and in the worker and process placements.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEngine,
  DisposedError,
  InvalidInputError,
  ScriptError,
  type Language,
  type RemoteObject,
  type ScriptEngine,
} from '../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SCRIPTS: Record<Language, string> = {
  python: `
import asyncio
class Rect:
    def __init__(self, w, h):
        self.w = w
        self.h = h
    def area(self):
        return self.w * self.h
    def scale(self, k):
        return Rect(self.w * k, self.h * k)
    async def slow_area(self):
        await asyncio.sleep(0.01)
        return self.area()
    def same(self, other):
        return other is self
class geom:
    Rect = Rect
def pair():
    return [Rect(1, 2), Rect(3, 4)]
def adder(n):
    return lambda x: x + n
def total(rects):
    return sum(r.area() for r in rects)
def keep(r):
    global kept
    kept = r
def kept_area():
    return kept.area()
`,
  lua: `
Rect = { __name = 'Rect' }
Rect.__index = Rect
function Rect.new(w, h) return setmetatable({ w = w, h = h }, Rect) end
function Rect:area() return self.w * self.h end
function Rect:scale(k) return Rect.new(self.w * k, self.h * k) end
function Rect:same(other) return rawequal(self, other) end
geom = { Rect = Rect }
function pair() return { Rect.new(1, 2), Rect.new(3, 4) } end
function adder(n) return function(x) return x + n end end
function total(rects) local s = 0 for _, r in ipairs(rects) do s = s + r:area() end return s end
function keep(r) kept = r end
function kept_area() return kept:area() end
`,
};

/** Code that makes the engine restart (over the default 256 MiB memory limit). */
const BLOW_MEMORY: Record<Language, string> = {
  python: 'b = bytearray(400 * 2**20)',
  lua: "s = string.rep('x', 400 * 1024 * 1024)",
};

async function settleHandles(engine: ScriptEngine): Promise<number> {
  let left = -1;
  for (let i = 0; i < 100; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    left = (await engine.stats()).handles;
    if (left === 0) break;
  }
  return left;
}

describe.each([
  ['python', 'worker'],
  ['python', 'process'],
  ['lua', 'worker'],
  ['lua', 'process'],
] as const)('RemoteObject, %s in %s', (language, placement) => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine(language, { placement, limits: { timeoutMs: 10_000 } });
    await engine.load(SCRIPTS[language], 'geom');
  }, 120_000);
  afterAll(async () => {
    await engine?.dispose();
  });

  it('creates an object, calls its methods and reads its attributes', async () => {
    await using r = await engine.create('geom.Rect', [2, 3]);
    expect(r.kind).toBe('Rect');
    expect(await r.call('area')).toBe(6);
    expect(await r.get('w')).toBe(2);
    const big = (await r.call('scale', [4])) as RemoteObject;
    expect(await big.call('area')).toBe(96);
    await big.dispose();
    if (language === 'python') expect(await r.call('slow_area')).toBe(6);
  });

  it('returns results with no value form as RemoteObjects and takes them back as the objects themselves', async () => {
    const rects = (await engine.call('pair')) as RemoteObject[];
    expect(rects).toHaveLength(2);
    expect(await engine.call('total', [rects])).toBe(2 + 12);
    expect(await rects[0]!.call('same', [rects[0]!])).toBe(true);
    expect(await rects[0]!.call('same', [rects[1]!])).toBe(false);
    await engine.call('keep', [rects[1]!]);
    expect(await engine.call('kept_area')).toBe(12);
    const add = (await engine.call('adder', [10])) as RemoteObject;
    expect(add.kind).toBe('function');
    expect(await add.call('__call__', [5])).toBe(15);
    await Promise.all([...rects, add].map((h) => h.dispose()));
  });

  it('counts live handles, frees them on dispose and refuses a disposed one by name', async () => {
    const before = (await engine.stats()).handles;
    const a = await engine.create('geom.Rect', [1, 1]);
    const b = await engine.create('geom.Rect', [1, 1]);
    expect((await engine.stats()).handles).toBe(before + 2);
    await a.dispose();
    await a.dispose(); // twice is fine
    expect((await engine.stats()).handles).toBe(before + 1);
    const err = await a.call('area').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DisposedError);
    expect((err as Error).message).toMatch(/RemoteObject Rect #\d+ in (python|lua)-\d+ was disposed/);
    await expect(engine.call('total', [[a]])).rejects.toBeInstanceOf(DisposedError);
    await b.dispose();
    expect((await engine.stats()).handles).toBe(before);
  });

  it('reports bad names and missing methods as typed errors', async () => {
    await using r = await engine.create('geom.Rect', [2, 3]);
    await expect(r.call('no such')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(r.get('')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(r.call('missing')).rejects.toBeInstanceOf(ScriptError);
    await expect(engine.create('geom.Nothing')).rejects.toThrow(/Nothing/);
    await expect(engine.create('1bad')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(engine.create('geom.Rect', 'x' as never)).rejects.toBeInstanceOf(InvalidInputError);
    expect(await r.call('area')).toBe(6); // the engine is fine afterwards
  });

  it('frees 10,000 created-and-dropped handles through the garbage-collection backstop', async () => {
    for (let i = 0; i < 10_000; i += 500) {
      // `.then` drops the batch at once: only the engine's bookkeeping could keep a handle alive.
      await Promise.all(Array.from({ length: 500 }, () => engine.create('geom.Rect', [1, 2]))).then(() => {});
    }
    expect(await settleHandles(engine)).toBe(0);
  }, 120_000);

  it('makes handles from before a reload or a restart raise DisposedError', async () => {
    const r = await engine.create('geom.Rect', [2, 3]);
    await engine.reload();
    const lost = await r.call('area').catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(DisposedError);
    expect((lost as Error).message).toMatch(/lost when the engine restarted or was reloaded/);
    const s = await engine.create('geom.Rect', [2, 3]);
    const before = (await engine.stats()).restarts;
    const blown = await engine.exec(BLOW_MEMORY[language]);
    expect(blown.error?.type).toBe('MemoryLimitError');
    expect(await engine.call('total', [[]])).toBe(0); // answers again, on a fresh core
    expect((await engine.stats()).restarts).toBe(before + 1);
    await expect(s.get('w')).rejects.toBeInstanceOf(DisposedError);
    await s.dispose(); // disposing a lost handle is quiet
    expect((await engine.stats()).handles).toBe(0);
  }, 60_000);
});

describe('RemoteObjects between engines', () => {
  it('refuses a handle from another engine, naming both', async () => {
    await using a = await createEngine('lua');
    await using b = await createEngine('lua');
    await a.load(SCRIPTS.lua);
    await b.load(SCRIPTS.lua);
    const r = await a.create('Rect', [1, 2]);
    const err = await b.call('total', [[r]]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).path).toBe('args[0][0]');
    expect((err as Error).message).toMatch(/belongs to another engine/);
  });

  it('lets a host function hand a RemoteObject back to the script', async () => {
    let saved: RemoteObject | undefined;
    await using e = await createEngine('lua', {
      capabilities: ['objects.*'],
      hostFunctions: { 'objects.saved': () => saved },
    });
    await e.load(SCRIPTS.lua);
    saved = await e.create('Rect', [5, 6]);
    expect((await e.exec('return host.objects.saved():area()')).value).toBe(30);
  });

  it('raises DisposedError for every use after the engine is disposed', async () => {
    const e = await createEngine('lua');
    await e.load(SCRIPTS.lua);
    const r = await e.create('Rect', [1, 2]);
    await e.dispose();
    await expect(r.call('area')).rejects.toBeInstanceOf(DisposedError);
    await r.dispose();
  });
});
