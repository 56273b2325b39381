/**
 * The Lua cores' handle table and object requests (create / callMethod / getAttr /
 * release), driven directly on each Lua core (wasm LuaCore, native LuaJIT) with a minimal
 * environment: real Lua, no host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreEnv, CoreInit, CoreOutcome } from '../../../src/core.js';
import { WireHandle, type ScriptValue } from '../../../src/values.js';
import { LuaCore } from '../../../wasm/lua/core.js';
import { createLuaJitCore } from '../../../native-bridge/luajit/core.js';
import { nativeAvailable } from '../../../src/node/native-libs.js';

/** A core whose methods answer synchronously (both Lua cores do). */
type SyncCore = LuaCore;
const CORES: { backend: string; boot: (init: CoreInit, env: CoreEnv) => Promise<SyncCore> }[] = [
  { backend: 'wasm', boot: (init, env) => LuaCore.create(init, env) },
  ...(nativeAvailable('lua')
    ? [{ backend: 'native', boot: async (init: CoreInit, env: CoreEnv) => (await createLuaJitCore(init, env)) as unknown as SyncCore }]
    : []),
];

const RUN = { timeoutMs: 5000, stream: false };

// LuaJIT never runs hooks in a JIT-compiled loop: its Spin has a closure in the body, which
// LuaJIT does not compile, so the timeout assertion below holds unchanged for both cores.
const classes = (backend: string) => `
Rect = {}
Rect.__index = Rect
Rect.__name = 'Rect'
function Rect.new(w, h) return setmetatable({ w = w, h = h }, Rect) end
function Rect:area() return self.w * self.h end
function Rect:scaled(k) return Rect.new(self.w * k, self.h * k) end
function Rect:dims() return self.w, self.h end
function Rect.same(a, b) return rawequal(a, b) end
function Rect.area_of(r) return r:area() end
function Rect:boom() error('ValueError: no boom here') end
function Point(x, y) return { x = x, y = y } end
function adder(n) return function(x) return x + n end end
function plain() return { a = 1, list = { 1, 2 } } end
function many() return { Rect.new(1, 1), Rect.new(2, 2) }, 'tail' end
function nothing() end
Nil = { new = function() return nil end }
Counter = setmetatable({}, { __call = function(_, start) return { n = start } end })
Spin = { new = function() while true do ${backend === 'native' ? 'local f = function() end ' : ''}end end }
function use_given() return host.give():area() end
function first_area(t) return t.list[1]:area() end
`;

function ok(o: CoreOutcome): ScriptValue {
  if (!o.ok) throw new Error(`expected success, got ${o.failure.type}: ${o.failure.message}`);
  return o.value;
}

function failed(o: CoreOutcome) {
  if (o.ok) throw new Error(`expected a failure, got ${JSON.stringify(o.value)}`);
  return o.failure;
}

function handle(v: ScriptValue): WireHandle {
  expect(v).toBeInstanceOf(WireHandle);
  return v as WireHandle;
}

describe.each(CORES)('Lua core handles ($backend)', ({ backend, boot }) => {
  const CLASSES = classes(backend);
  let core: SyncCore;
  let given: ScriptValue = null;
  const interruptWord = new Int32Array(new SharedArrayBuffer(4));

  beforeAll(async () => {
    const env: CoreEnv = {
      interruptWord,
      hostCall: (name) => {
        if (name === 'give') return given;
        throw new Error(`no host function ${name}`);
      },
      hostStart: () => {
        throw new Error('hostStart is not used by Lua');
      },
      hostWait: () => {
        throw new Error('hostWait is not used by Lua');
      },
      output() {},
    };
    core = await boot(
      {
        language: 'lua',
        engineId: 'lua-test',
        limits: { memoryBytes: 32 * 1024 * 1024, maxOutputBytes: 10_000, maxValueDepth: 20, maxValueBytes: 8 << 20 },
        hostFunctions: ['give'],
        config: null,
      },
      env,
    );
    ok(core.load(CLASSES, 'classes', RUN));
  });
  afterAll(() => core.dispose());

  it('create calls T.new and answers a handle named by __name; methods and attributes work on it', () => {
    const r = handle(ok(core.create('Rect', [2, 3], RUN)));
    expect(r).toMatchObject({ engineId: 'lua-test', kind: 'Rect' });
    expect(r.id).toBeGreaterThan(0);
    expect(ok(core.callMethod(r.id, 'area', [], RUN))).toBe(6);
    expect(ok(core.getAttr(r.id, 'w', RUN))).toBe(2);
    expect(ok(core.getAttr(r.id, 'missing', RUN))).toBe(null);
    expect(ok(core.callMethod(r.id, 'dims', [], RUN))).toEqual([2, 3]);
    // A method returning another instance answers a new handle.
    const big = handle(ok(core.callMethod(r.id, 'scaled', [10], RUN)));
    expect(big.id).not.toBe(r.id);
    expect(ok(core.callMethod(big.id, 'area', [], RUN))).toBe(600);
    // Through __index: the class table itself is an attribute of no instance, but its functions are.
    expect(handle(ok(core.getAttr(r.id, 'area', RUN))).kind).toBe('function');
  });

  it('handles passed back as arguments are the objects themselves', () => {
    const a = handle(ok(core.create('Rect', [1, 2], RUN)));
    const b = handle(ok(core.create('Rect', [1, 2], RUN)));
    expect(ok(core.call('Rect.same', [a, a], RUN, false))).toBe(true);
    expect(ok(core.call('Rect.same', [a, b], RUN, false))).toBe(false);
    expect(ok(core.call('Rect.area_of', [b], RUN, false))).toBe(2);
    expect(ok(core.call('first_area', [{ list: [b, a] }], RUN, false))).toBe(2); // handles inside values too
    expect(ok(core.callMethod(a.id, 'same', [a], RUN))).toBe(true); // colon call: self is a
  });

  it('a host function result may carry a handle', () => {
    given = handle(ok(core.create('Rect', [4, 5], RUN)));
    expect(ok(core.call('use_given', [], RUN, false))).toBe(20);
    core.release([(given as WireHandle).id]);
    const f = failed(core.call('use_given', [], RUN, false));
    expect(f.kind).toBe('script');
    expect(f.message).toMatch(/DisposedError: result of host.give is a handle to Rect #\d+, which is no longer alive/);
    given = null;
  });

  it('released handles are dead; release ignores unknown ids', () => {
    const before = core.handleCount();
    const r = handle(ok(core.create('Rect', [1, 1], RUN)));
    expect(core.handleCount()).toBe(before + 1);
    core.release([r.id, 999_999, -1, 1.5]);
    expect(core.handleCount()).toBe(before);
    expect(failed(core.callMethod(r.id, 'area', [], RUN))).toMatchObject({
      kind: 'invalid',
      type: 'DisposedError',
      path: 'handle',
      message: `handle #${r.id} is no longer alive in this engine; it was disposed or the engine restarted`,
    });
    expect(failed(core.getAttr(r.id, 'w', RUN))).toMatchObject({ type: 'DisposedError' });
    expect(failed(core.call('Rect.area_of', [r], RUN, false))).toMatchObject({
      kind: 'invalid',
      type: 'DisposedError',
      path: 'args[0]',
      message: `args[0] is a handle to Rect #${r.id}, which is no longer alive in this engine; it was disposed or the engine restarted`,
    });
  });

  it('functions come back as handles and __call__ calls them', () => {
    const f = handle(ok(core.call('adder', [10], RUN, false)));
    expect(f.kind).toBe('function');
    expect(ok(core.callMethod(f.id, '__call__', [5], RUN))).toBe(15);
    expect(ok(core.callMethod(f.id, '__call', [1], RUN))).toBe(11);
    expect(failed(core.callMethod(f.id, 'anything', [], RUN))).toMatchObject({
      kind: 'script',
      type: 'AttributeError',
      message: "function object has no method 'anything'",
    });
    expect(failed(core.getAttr(f.id, 'x', RUN))).toMatchObject({ type: 'AttributeError' });
  });

  it('plain tables stay values; instances inside them become handles at any depth', () => {
    expect(ok(core.call('plain', [], RUN, false))).toEqual({ a: 1, list: [1, 2] });
    const [list, tail] = ok(core.call('many', [], RUN, false)) as [ScriptValue[], string];
    expect(tail).toBe('tail');
    expect(list.map((h) => handle(h).kind)).toEqual(['Rect', 'Rect']);
    expect(ok(core.callMethod((list[1] as WireHandle).id, 'area', [], RUN))).toBe(4);
  });

  it('exec (the REPL) is unchanged: functions show as text, instances as their fields', () => {
    expect(ok(core.exec('adder', RUN))).toMatch(/^function: /);
    expect(ok(core.exec('Rect.new(1, 2)', RUN))).toEqual({ w: 1, h: 2 });
  });

  it('create calls plain functions and __call tables; a nil result is a TypeError', () => {
    const p = handle(ok(core.create('Point', [1, 2], RUN)));
    expect(p.kind).toBe('table');
    expect(ok(core.getAttr(p.id, 'y', RUN))).toBe(2);
    const c = handle(ok(core.create('Counter', [7], RUN)));
    expect(ok(core.getAttr(c.id, 'n', RUN))).toBe(7);
    expect(failed(core.create('Nil', [], RUN))).toMatchObject({
      kind: 'script',
      type: 'TypeError',
      message: "'Nil.new' returned nil, not an object",
    });
  });

  it('create of something undefined or unusable is a NameError', () => {
    const undef = failed(core.create('Nope.Deeper', [], RUN));
    expect(undef).toMatchObject({ kind: 'invalid', type: 'NameError' });
    expect(undef.message).toBe(
      "Lua class 'Nope.Deeper' is not defined; define it with load() first (create calls Nope.Deeper.new(...) when Nope.Deeper is a table, else Nope.Deeper(...))",
    );
    ok(core.exec('NotAClass = 42\nNoNew = {}', RUN));
    expect(failed(core.create('NotAClass', [], RUN)).message).toMatch(/'NotAClass' is a number, not a table with new\(\)/);
    expect(failed(core.create('NoNew', [], RUN)).message).toMatch(/'NoNew' is a table with neither new\(\) nor __call; define it/);
  });

  it('method errors, missing methods and non-callable fields are script failures', () => {
    const r = handle(ok(core.create('Rect', [1, 1], RUN)));
    const boom = failed(core.callMethod(r.id, 'boom', [], RUN));
    expect(boom).toMatchObject({ kind: 'script', type: 'ValueError' });
    expect(boom).toMatchObject({ line: 11 });
    expect(boom.traceback).toContain('classes:11');
    // An __index that raises fails the request, not the core.
    ok(core.exec("Grumpy = setmetatable({}, { __index = function() error('KeyError: grumpy') end })", RUN));
    ok(core.exec('function grumpy() return Grumpy end', RUN));
    const g = handle(ok(core.call('grumpy', [], RUN, false)));
    expect(g.kind).toBe('table');
    expect(failed(core.getAttr(g.id, 'x', RUN))).toMatchObject({ kind: 'script', type: 'KeyError' });
    expect(failed(core.callMethod(g.id, 'x', [], RUN))).toMatchObject({ kind: 'script', type: 'KeyError' });
    expect(failed(core.create('Grumpy', [], RUN))).toMatchObject({ kind: 'script', type: 'KeyError' });
    const nope = failed(core.callMethod(r.id, 'nope', [], RUN));
    expect(nope).toMatchObject({ type: 'AttributeError', message: "Rect object has no method 'nope'" });
    const field = failed(core.callMethod(r.id, 'w', [], RUN));
    expect(field.message).toBe("Rect object has no method 'w' (its 'w' is a number; read it with get())");
    const uncallable = failed(core.callMethod(r.id, '__call__', [], RUN));
    expect(uncallable).toMatchObject({ type: 'TypeError', message: 'Rect object is not callable' });
  });

  it('a result that cannot cross drops the handles it made', () => {
    ok(core.exec('function bad() local t = { Rect.new(1, 1) } t.self = t return t end', RUN));
    const before = core.handleCount();
    expect(failed(core.call('bad', [], RUN, false))).toMatchObject({ type: 'InvalidInputError' });
    expect(core.handleCount()).toBe(before);
  });

  it('object requests time out like calls', () => {
    const f = failed(core.create('Spin', [], { timeoutMs: 100, stream: false }));
    expect(f.kind).toBe('timeout');
    expect(ok(core.create('Rect', [1, 1], RUN))).toBeInstanceOf(WireHandle);
  });

  it('reset drops every handle, and ids are never reused', () => {
    const last = handle(ok(core.create('Rect', [1, 1], RUN)));
    expect(core.handleCount()).toBeGreaterThan(0);
    core.reset();
    expect(core.handleCount()).toBe(0);
    expect(failed(core.callMethod(last.id, 'area', [], RUN))).toMatchObject({ type: 'DisposedError' });
    ok(core.load(CLASSES, 'classes', RUN));
    const next = handle(ok(core.create('Rect', [1, 1], RUN)));
    expect(next.id).toBeGreaterThan(last.id);
    expect(core.handleCount()).toBe(1);
  });
});

describe.each(CORES)('Lua core handles at the memory limit ($backend)', ({ boot }) => {
  it('keeping handles never aborts the module: the table may pass the limit, the next script allocation fails', async () => {
    const limit = 4 * 1024 * 1024;
    const fail = () => {
      throw new Error('not used');
    };
    const core = await boot(
      {
        language: 'lua',
        engineId: 'lua-mem',
        limits: { memoryBytes: limit, maxOutputBytes: 10_000, maxValueDepth: 20, maxValueBytes: 8 << 20 },
        hostFunctions: [],
        config: null,
      },
      { interruptWord: new Int32Array(new SharedArrayBuffer(4)), hostCall: fail, hostStart: fail, hostWait: fail, output() {} },
    );
    try {
      // Fill memory to just under the limit (a linked list grows in small, even steps), then
      // return 3000 instances: growing the handle table cannot fit under the limit.
      ok(
        core.load(
          `M = { __name = 'M' }
          function fill()
            local objs = {}
            for i = 1, 3000 do objs[i] = setmetatable({}, M) end
            local pad = nil
            while collectgarbage('count') * 1024 < ${limit} - 300 do pad = { pad } end
            kept = pad
            return objs
          end`,
          'fill',
          RUN,
        ),
      );
      const objs = ok(core.call('fill', [], RUN, false)) as ScriptValue[];
      expect(objs).toHaveLength(3000);
      expect(core.handleCount()).toBe(3000);
      expect(core.memoryBytes()).toBeGreaterThan(limit);
      expect(failed(core.exec('local t = {} for i = 1, 1e5 do t[i] = i end', RUN)).kind).toBe('memory');
    } finally {
      core.dispose();
    }
  });
});
