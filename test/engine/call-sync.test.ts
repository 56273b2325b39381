/**
 * engine.callSync: the synchronous call of trusted inline engines. It answers what call()
 * answers (values, handles, the same error classes and messages), keeps the core's own
 * deadline, lets the script call synchronous host functions, and refuses with a typed
 * error wherever it cannot answer now (another placement, a call in flight, a restart,
 * a disposed engine).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEngine,
  DisposedError,
  InvalidInputError,
  MemoryLimitError,
  ScriptError,
  TimeoutError,
  UnavailableError,
  type RemoteObject,
  type ScriptEngine,
} from '../../src/index.js';
import { nativeAvailable } from '../../src/node/native-libs.js';

const LUA = `
function add(a, b) return a + b end
function echo(v) return v end
function boom() error("kaboom") end
function twice(x) return host.twice(x) end
function reenter() return host.reenter() end
function spin() while true do local f = function() end end end
Rect = {}
Rect.__index = Rect
function make(w, h) return setmetatable({ w = w, h = h }, Rect) end
function area(r) return r.w * r.h end
`;

const PY = `
def add(a, b):
    return a + b

def echo(v):
    return v

def boom():
    raise ValueError("kaboom")

def twice(x):
    import host
    return host.twice(x)

def reenter():
    import host
    return host.reenter()

def spin():
    while True:
        pass

class Rect:
    def __init__(self, w, h):
        self.w, self.h = w, h

def make(w, h):
    return Rect(w, h)

def area(r):
    return r.w * r.h
`;

const TARGETS = [
  { name: 'Lua, wasm', language: 'lua', backend: 'wasm', available: true },
  { name: 'Python, wasm', language: 'python', backend: 'wasm', available: true },
  { name: 'Lua, native LuaJIT', language: 'lua', backend: 'native', available: nativeAvailable('lua') },
  { name: 'Python, native CPython', language: 'python', backend: 'native', available: nativeAvailable('python') },
] as const;

/** What a throwing call gives: the error itself. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe.each(TARGETS)('callSync on an inline engine: $name', (target) => {
  let engine: ScriptEngine;

  beforeAll(async () => {
    if (!target.available) return;
    engine = await createEngine(target.language, {
      backend: target.backend,
      placement: 'inline',
      trusted: true,
      capabilities: ['twice', 'reenter'],
      hostFunctions: {
        twice: (x: unknown) => (x as number) * 2,
        reenter: () => engine.callSync('add', [1, 2]),
      },
      limits: { timeoutMs: 10_000 },
    });
    await engine.load(target.language === 'lua' ? LUA : PY);
  }, 60_000);
  afterAll(async () => {
    await engine?.dispose();
  });

  it.skipIf(!target.available)('returns the value synchronously, as call() does', async () => {
    expect(engine.callSync('add', [1, 2])).toBe(3);
    expect(engine.callSync('add', [0.5, 0.25])).toBe(0.75);
    const value = { name: 'ann', tags: ['a', 'b'], n: 3, ok: true };
    expect(engine.callSync('echo', [value])).toEqual(await engine.call('echo', [value]));
    expect(engine.callSync('echo', ['text'])).toBe('text');
    expect(engine.callSync('echo', [[1, 'two', false]])).toEqual([1, 'two', false]);
  });

  it.skipIf(!target.available)('wraps objects as RemoteObjects, which go back as arguments', async () => {
    const rect = engine.callSync('make', [2, 3]) as unknown as RemoteObject;
    expect(typeof rect.call).toBe('function');
    expect(engine.callSync('area', [rect as never])).toBe(6);
    await rect.dispose();
  });

  it.skipIf(!target.available)('throws ScriptError with the message call() rejects with', async () => {
    const asyncErr = await engine.call('boom').then(
      () => undefined,
      (e: unknown) => e,
    );
    const syncErr = thrown(() => engine.callSync('boom'));
    expect(asyncErr).toBeInstanceOf(ScriptError);
    expect(syncErr).toBeInstanceOf(ScriptError);
    expect((syncErr as ScriptError).message).toBe((asyncErr as ScriptError).message);
    expect((syncErr as ScriptError).message).toMatch(/kaboom/);
    expect(engine.lastError).toBe(syncErr);
    // A missing function: the same error as call()'s too.
    const missingAsync = await engine.call('nope').then(
      () => undefined,
      (e: unknown) => e,
    );
    const missingSync = thrown(() => engine.callSync('nope'));
    expect(missingSync).toBeInstanceOf((missingAsync as Error).constructor);
    expect((missingSync as Error).message).toBe((missingAsync as Error).message);
    expect(engine.callSync('add', [2, 2])).toBe(4);
  });

  it.skipIf(!target.available)('checks its input like call()', () => {
    expect(thrown(() => engine.callSync('not a name'))).toBeInstanceOf(InvalidInputError);
    expect((thrown(() => engine.callSync('not a name')) as Error).message).toBe(
      "callSync: \"not a name\" is not a function name; use a name like 'area' or 'geom.area'",
    );
    expect(thrown(() => engine.callSync('echo', 'x' as never))).toBeInstanceOf(InvalidInputError);
    expect(thrown(() => engine.callSync('echo', [() => 1] as never))).toBeInstanceOf(InvalidInputError);
    const cycle: unknown[] = [];
    cycle.push(cycle);
    expect(thrown(() => engine.callSync('echo', [cycle] as never))).toBeInstanceOf(InvalidInputError);
  });

  it.skipIf(!target.available)('lets the script call a synchronous host function', () => {
    expect(engine.callSync('twice', [21])).toBe(42);
  });

  it.skipIf(!target.available)('refuses a callSync from inside a running call (a host function calling back)', () => {
    const err = thrown(() => engine.callSync('reenter'));
    expect(err).toBeInstanceOf(ScriptError);
    expect((err as Error).message).toContain(
      `callSync('add'): another call on engine ${engine.id} is queued or running, and callSync never waits; await that call first, or use await engine.call(...)`,
    );
    expect(engine.callSync('add', [1, 1])).toBe(2);
  });

  it.skipIf(!target.available)('refuses while an async call is queued or running, and runs once it is done', async () => {
    const inFlight = engine.call('add', [1, 2]);
    const err = thrown(() => engine.callSync('add', [3, 4]));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      `callSync('add'): another call on engine ${engine.id} is queued or running, and callSync never waits; await that call first, or use await engine.call(...)`,
    );
    expect(await inFlight).toBe(3);
    expect(engine.callSync('add', [3, 4])).toBe(7);
  });

  it.skipIf(!target.available)(
    'keeps the core deadline: an endless loop throws TimeoutError and the engine answers after',
    async () => {
      const err = thrown(() => engine.callSync('spin', [], { timeoutMs: 200 }));
      expect(err).toBeInstanceOf(TimeoutError);
      const asyncErr = await engine.call('spin', [], { timeoutMs: 200 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as Error).message).toBe((asyncErr as Error).message);
      expect(engine.callSync('add', [5, 6])).toBe(11);
      expect((await engine.stats()).restarts).toBe(0);
    },
    30_000,
  );

  it.skipIf(!target.available)('throws DisposedError once the engine is disposed', async () => {
    await engine.dispose();
    const err = thrown(() => engine.callSync('add', [1, 2]));
    expect(err).toBeInstanceOf(DisposedError);
    expect((err as Error).message).toBe(`callSync('add'): engine ${engine.id} was disposed; create a new engine`);
  });
});

describe('callSync refusals', () => {
  it('refuses on a worker engine, naming the placement and the fix', async () => {
    await using engine = await createEngine('lua');
    await engine.load('function add(a, b) return a + b end');
    const err = thrown(() => engine.callSync('add', [1, 2]));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      "callSync runs only on placement 'inline' engines (this engine is 'worker'); use await engine.call(...)",
    );
    expect(await engine.call('add', [1, 2])).toBe(3);
  });

  it('refuses while a lost core is being replaced; call() waits for the new one', async () => {
    await using engine = await createEngine('lua', { placement: 'inline', trusted: true, limits: { memoryBytes: 16 * 1024 * 1024 } });
    await engine.load('function add(a, b) return a + b end\nfunction hog() local t = {} for i = 1, 1e8 do t[i] = "v" .. i end end');
    const over = thrown(() => engine.callSync('hog'));
    expect(over).toBeInstanceOf(MemoryLimitError);
    const err = thrown(() => engine.callSync('add', [1, 2]));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      `callSync('add'): engine ${engine.id} is restarting (its core is being replaced), and callSync never waits; use await engine.call(...), which waits for the new core`,
    );
    expect(await engine.call('add', [1, 2])).toBe(3);
    expect(engine.callSync('add', [2, 3])).toBe(5);
  });

  it('takes no AbortSignal', async () => {
    await using engine = await createEngine('lua', { placement: 'inline', trusted: true });
    const err = thrown(() => engine.callSync('add', [], { signal: new AbortController().signal } as never));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toBe(
      "callSync('add') takes no signal: it blocks until the call ends; use await engine.call(fn, args, { signal })",
    );
  });
});
