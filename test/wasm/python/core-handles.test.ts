/**
 * The Python core's handle table, on real Pyodide with no placement in between: create,
 * callMethod, getAttr, release, reset, and handles going back in as arguments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AsyncHostResult } from '../../../src/channel/protocol.js';
import type { CoreEnv, CoreInit, CoreOutcome, EngineCore, RunContext } from '../../../src/core.js';
import { nativeAvailable } from '../../../src/node/native-libs.js';
import { WireHandle, type ScriptValue } from '../../../src/values.js';
import { PythonCore } from '../../../wasm/python/core.js';
import { createCPythonCore } from '../../../native-bridge/cpython/core.js';

/** Both Python cores share the runtime and must agree on handles (native: where libpython is). */
const CORES: [string, (init: CoreInit, env: CoreEnv) => Promise<EngineCore>][] = [['wasm', (i, e) => PythonCore.create(i, e)]];
if (nativeAvailable('python')) CORES.push(['native', createCPythonCore]);

/** Every method of both cores answers synchronously. */
type SyncCore = { [K in keyof EngineCore]: EngineCore[K] extends (...a: infer A) => infer R ? (...a: A) => Awaited<R> : EngineCore[K] };

const ENGINE = 'py-handles';
const run: RunContext = { timeoutMs: 5000, stream: false };

const SRC = `
import asyncio, types
import host

class Rect:
    def __init__(self, w, h):
        self.w, self.h = w, h
    def area(self):
        return self.w * self.h
    async def slow_area(self):
        await asyncio.sleep(0.01)
        return self.area()
    def scaled(self, k):
        return Rect(self.w * k, self.h * k)
    def many(self):
        return [Rect(1, 1), {'r': Rect(2, 2), 'n': 3}]
    def __repr__(self):
        return f'Rect({self.w}, {self.h})'

geom = types.SimpleNamespace(Rect=Rect, answer=42, nothing=lambda: None, number=lambda: 7)

def same(a, b):
    return a is b

def adder(k):
    return lambda x: x + k

def data():
    return {'a': [1, 2, {'b': None}], 'c': 'd'}

def loop_after_instances():
    x = [Rect(1, 2), Rect(3, 4)]
    x.append(x)
    return x

def from_host(name):
    return host.give(name)

async def from_host_aio(name):
    return await host.aio.give(name)
`;

/** The value of a successful outcome (fails the test with the failure otherwise). */
function value(o: CoreOutcome): ScriptValue {
  if (!o.ok) throw new Error(`${o.failure.type}: ${o.failure.message}`);
  return o.value;
}

function handle(o: CoreOutcome): WireHandle {
  const v = value(o);
  expect(v).toBeInstanceOf(WireHandle);
  return v as WireHandle;
}

describe.each(CORES)('Python core handles (%s)', (backend, createCore) => {
  let core: SyncCore;
  const given = new Map<string, ScriptValue>();
  const started: AsyncHostResult[] = [];
  const done: AsyncHostResult[] = [];

  beforeAll(async () => {
    const init: CoreInit = {
      language: 'python',
      engineId: ENGINE,
      limits: { memoryBytes: 512 * 1024 * 1024, maxOutputBytes: 65536, maxValueDepth: 64, maxValueBytes: 8 << 20 },
      hostFunctions: ['give'],
      config: {},
    };
    const env: CoreEnv = {
      interruptWord: new Int32Array(new SharedArrayBuffer(4)),
      hostCall: (name, args) => {
        if (name === 'give') return given.get(args[0] as string) ?? null;
        throw new Error(`no host function ${name}`);
      },
      // host.aio.give answers at the next wait.
      hostStart: (_name, args) => {
        const id = started.length + done.length + 1;
        started.push({ id, ok: true, value: given.get(args[0] as string) ?? null });
        return id;
      },
      hostWait: () => {
        const out = started.splice(0);
        done.push(...out);
        return out;
      },
      output() {},
    };
    core = (await createCore(init, env)) as unknown as SyncCore;
    value(core.load(SRC, '<geom>', run));
  }, 120_000);
  afterAll(() => core?.dispose());

  it('creates an object and calls its methods, sync and async', () => {
    const r = handle(core.create('geom.Rect', [2, 3], run));
    expect(r).toMatchObject({ engineId: ENGINE, kind: 'Rect' });
    expect(r.id).toBeGreaterThan(0);
    expect(value(core.callMethod(r.id, 'area', [], run))).toBe(6);
    expect(value(core.callMethod(r.id, 'slow_area', [], run))).toBe(6);
    expect(value(core.getAttr(r.id, 'w', run))).toBe(2);
  });

  it('turns results with no value form into handles at any depth, and keeps data as data', () => {
    const r = handle(core.create('geom.Rect', [2, 3], run));
    const big = handle(core.callMethod(r.id, 'scaled', [10], run));
    expect(big.id).not.toBe(r.id);
    expect(value(core.callMethod(big.id, 'area', [], run))).toBe(600);
    const [one, rest] = value(core.callMethod(r.id, 'many', [], run)) as [WireHandle, { r: WireHandle; n: number }];
    expect(one).toBeInstanceOf(WireHandle);
    expect(rest.r).toBeInstanceOf(WireHandle);
    expect(rest.n).toBe(3);
    expect(value(core.callMethod(rest.r.id, 'area', [], run))).toBe(4);
    const bound = handle(core.getAttr(r.id, 'area', run));
    expect(bound.kind).toBe('method');
    expect(value(core.callMethod(bound.id, '__call__', [], run))).toBe(6);
    expect(value(core.call('data', [], run, false))).toEqual({ a: [1, 2, { b: null }], c: 'd' });
    expect(value(core.getAttr(handle(core.create('geom.Rect', [1, 1], run)).id, '__dict__', run))).toEqual({ w: 1, h: 1 });
  });

  it('makes a handle of whatever create returns, except None', () => {
    expect(handle(core.create('geom.number', [], run)).kind).toBe('int');
    const none = core.create('geom.nothing', [], run);
    expect(none.ok).toBe(false);
    if (!none.ok)
      expect(none.failure).toMatchObject({ kind: 'script', type: 'TypeError', message: "'geom.nothing' returned None, not an object" });
  });

  it('resolves handles passed back as arguments and as host results', () => {
    const r = handle(core.create('geom.Rect', [2, 3], run));
    expect(value(core.call('same', [r, r], run, false))).toBe(true);
    const other = handle(core.create('geom.Rect', [2, 3], run));
    expect(value(core.call('same', [r, { x: other }], run, false))).toBe(false);
    given.set('mine', r);
    const back = handle(core.call('from_host', ['mine'], run, false));
    expect(back.id).not.toBe(r.id);
    expect(value(core.callMethod(back.id, 'area', [], run))).toBe(6);
    expect(value(core.call('same', [r, handle(core.call('from_host_aio', ['mine'], run, false))], run, false))).toBe(true);
  });

  it('calls a function result through __call__', () => {
    const f = handle(core.call('adder', [10], run, false));
    expect(f.kind).toBe('function');
    expect(value(core.callMethod(f.id, '__call__', [5], run))).toBe(15);
  });

  it('reports released handles as DisposedError failures, by path', () => {
    const r = handle(core.create('geom.Rect', [2, 3], run));
    const before = core.handleCount();
    core.release([r.id, 999_999]);
    expect(core.handleCount()).toBe(before - 1);
    const m = core.callMethod(r.id, 'area', [], run);
    expect(m.ok).toBe(false);
    if (!m.ok) {
      expect(m.failure).toMatchObject({ kind: 'invalid', type: 'DisposedError', path: 'handle' });
      expect(m.failure.message).toContain(`#${r.id}`);
    }
    const a = core.call('same', [1, [2, { x: r }]], run, false);
    expect(a.ok).toBe(false);
    if (!a.ok) {
      expect(a.failure).toMatchObject({ kind: 'invalid', type: 'DisposedError', path: 'args[1][1].x' });
      expect(a.failure.message).toBe(
        `args[1][1].x is a handle to Rect #${r.id}, which is no longer alive in this engine; it was disposed or the engine restarted`,
      );
    }
    const g = core.getAttr(r.id, 'w', run);
    expect(!g.ok && g.failure.type).toBe('DisposedError');
    given.set('dead', r);
    const h = core.call('from_host', ['dead'], run, false);
    expect(h.ok).toBe(false);
    if (!h.ok) {
      expect(h.failure).toMatchObject({ kind: 'script', type: 'HostError' });
      expect(h.failure.message).toContain('DisposedError: host.give result is a handle to Rect');
    }
    const ha = core.call('from_host_aio', ['dead'], run, false);
    expect(!ha.ok && ha.failure.message).toContain('DisposedError: the host.aio result is a handle to Rect');
  });

  it("refuses another engine's handle", () => {
    const r = handle(core.create('geom.Rect', [2, 3], run));
    const o = core.call('same', [new WireHandle('elsewhere', r.id, 'Rect'), 1], run, false);
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.failure).toMatchObject({ kind: 'invalid', type: 'InvalidInputError', path: 'args[0]' });
  });

  it('reports script errors in methods as script failures', () => {
    const r = handle(core.create('geom.Rect', [2, 3], run));
    const o = core.callMethod(r.id, 'nope', [], run);
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.failure).toMatchObject({ kind: 'script', type: 'AttributeError' });
    const c = core.callMethod(r.id, 'scaled', [], run);
    expect(!c.ok && c.failure.type).toBe('TypeError');
  });

  it('refuses create of a name that is not a class or factory', () => {
    const o = core.create('geom.Circle', [], run);
    expect(o.ok).toBe(false);
    if (!o.ok) {
      expect(o.failure).toMatchObject({ kind: 'invalid', type: 'NameError' });
      expect(o.failure.message).toContain("Python class 'geom.Circle' is not defined");
    }
    const n = core.create('geom.answer', [], run);
    expect(!n.ok && n.failure.message).toContain('has type int, not a class or factory');
  });

  it('keeps exec a REPL: instances show as repr text', () => {
    const before = core.handleCount();
    expect(value(core.exec('geom.Rect(4, 5)', run))).toBe('Rect(4, 5)');
    expect(core.handleCount()).toBe(before);
  });

  it('does not leak the handles of a result that fails to encode', () => {
    const before = core.handleCount();
    const o = core.call('loop_after_instances', [], run, false);
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.failure).toMatchObject({ kind: 'invalid', path: 'result[2]' });
    expect(core.handleCount()).toBe(before);
  });

  it('drops the handles made before a timeout cut the reply short', () => {
    const before = core.handleCount();
    // Busy until the deadline is near, so it usually falls while the handles are being
    // made (about 2 us each in Pyodide; native CPython makes them faster, so it makes more);
    // wherever it falls, none may stay behind.
    const count = backend === 'native' ? '1_000_000' : '200_000';
    const src = `import time\ndef late():\n    end = time.monotonic() + 0.1\n    while time.monotonic() < end:\n        pass\n    return [Rect(1, 1)] * ${count}\n`;
    value(core.load(src, '<late>', run));
    const o = core.call('late', [], { timeoutMs: 250, stream: false }, false);
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.failure.kind).toBe('timeout');
    expect(core.handleCount()).toBe(before);
  });

  it('never reuses ids, and reset drops every handle', () => {
    const a = handle(core.create('geom.Rect', [1, 1], run));
    core.release([a.id]);
    const b = handle(core.create('geom.Rect', [1, 1], run));
    expect(b.id).toBeGreaterThan(a.id);
    expect(core.handleCount()).toBeGreaterThan(0);
    core.reset();
    expect(core.handleCount()).toBe(0);
    const gone = core.callMethod(b.id, 'area', [], run);
    expect(!gone.ok && gone.failure.type).toBe('DisposedError');
  });
});
