/**
 * Issue 17 on the Lua cores, attacks written for each class:
 * - class 1: a `__gc` finalizer that loops (Lua 5.4 runs finalizers with hooks off, so
 *   the instruction-count hook could never stop one), released as a handle, collected,
 *   met by a host-table rebuild and a reset; and bookkeeping requests that run script code
 *   (the host-table builder through a replaced string method) stopped in place.
 * - class 6: values the host would reassemble far beyond what the script holds (one 1 MiB
 *   string referenced 250 times) as a result, a host-call argument and printed output;
 *   error objects whose `__tostring` raises, loops or makes a huge text.
 * - class 7: a real abort() inside the wasm module during a request (a Lua error raised on
 *   a state with no protected call: Lua's panic path), which must end as 'crashed'.
 * Engines run in the worker placement (wasm) and the process placement (native LuaJIT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import type { CoreEnv, CoreInit } from '../../src/core.js';
import { nativeAvailable } from '../../src/node/native-libs.js';
import { LuaCore } from '../../wasm/lua/core.js';
import { createLuaJitCore } from '../../native-bridge/luajit/core.js';
import { StoppedRequest } from '../../src/placement/stopped.js';
import type { LuaModule } from '../../wasm/lua/lua-api.js';
import { ERROR_TEXT_MAX } from '../../src/lang/lua/failures.js';
import { trapFailure } from '../../wasm/lua/traps.js';
import { answers } from './settle.js';

const MiB = 1024 * 1024;
const LOOP = 'function() while true do end end';
/** 250 references to one 1 MiB string: 1 MiB in Lua, 250 MiB once the host reassembles it. */
const FANOUT = `local s = string.rep("x", ${MiB}) local t = {} for i = 1, 250 do t[i] = s end`;

describe('class 1: a looping __gc cannot wedge the wasm Lua engine (worker placement)', () => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('lua', {
      placement: 'worker',
      capabilities: ['probe.one'],
      limits: { timeoutMs: 2000, graceMs: 500, memoryBytes: 32 * MiB },
    });
  }, 60_000);
  afterAll(async () => {
    if (engine) await answers(engine.dispose(), 'dispose');
  });

  it('setmetatable refuses a metatable with __gc, whether the error is caught or not', async () => {
    const r = await answers(engine.exec(`setmetatable({}, {__gc = ${LOOP}}) return 1`), 'exec');
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/__gc finalizers are not allowed/);
    const caught = await answers(engine.exec('return pcall(setmetatable, {}, {__gc = true})'), 'exec');
    expect(caught.value).toEqual([false, expect.stringMatching(/__gc finalizers are not allowed/)]);
    expect((await answers(engine.exec('return 1 + 1'), 'exec after')).value).toBe(2);
  }, 60_000);

  it('a __gc added after setmetatable, or inherited through __index, never runs: release, collect, rebuild, reset', async () => {
    const before = await engine.stats();
    await answers(
      engine.load(`
        function late() local mt = {} local o = setmetatable({}, mt); mt.__gc = ${LOOP}; return o end
        function inherited() return setmetatable({}, setmetatable({}, {__index = {__gc = ${LOOP}}})) end
        keep = { late(), inherited() }
      `),
      'load',
    );
    const late = await answers(engine.create('late'), 'create late');
    const inherited = await answers(engine.create('inherited'), 'create inherited');
    await answers(late.dispose(), 'release late');
    await answers(inherited.dispose(), 'release inherited');
    const collected = await answers(engine.exec('keep = nil collectgarbage() collectgarbage() return "collected"'), 'collect');
    expect(collected.value).toBe('collected');
    // A host-table rebuild (setHostFunctions) allocates, so it may run a collection too.
    engine.registerHostFunction('probe.one', () => 1);
    const viaHost = await answers(engine.exec('return host.probe.one()'), 'exec with the rebuilt host');
    expect(viaHost.error?.message ?? viaHost.value).toBe(1);
    await answers(engine.exec(`leftover = late() leftover2 = inherited() return 0`), 'exec');
    // reload() starts a fresh state: lua_close runs every pending finalizer.
    await answers(engine.reload(), 'reload');
    expect((await answers(engine.exec('return 2 + 2'), 'exec after reload')).value).toBe(4);
    const after = await engine.stats();
    expect(after.restarts).toBe(before.restarts);
  }, 60_000);

  it('a looping __close runs under the time limit and is stopped in place', async () => {
    const before = await engine.stats();
    const r = await answers(engine.exec(`do local x <close> = setmetatable({}, {__close = ${LOOP}}) end return 1`), 'exec');
    expect(r.success).toBe(false);
    expect(r.timedOut).toBe(true);
    expect((await answers(engine.exec('return 3'), 'exec after')).value).toBe(3);
    expect((await engine.stats()).restarts).toBe(before.restarts);
  }, 60_000);

  it('a host-table rebuild that runs script code (a replaced string.find) is interrupted in place, and the engine answers', async () => {
    const before = await engine.stats();
    // The prelude's builder splits dotted names with name:find; this makes it loop.
    await answers(engine.exec(`string.find = ${LOOP} return true`), 'exec');
    engine.registerHostFunction('deep.name', () => 'deep');
    const r = await answers(engine.exec('return 5'), 'exec after the rebuild');
    expect(r.value).toBe(5);
    // Stopped by the hook reading the interrupt word: the worker was not killed (the host
    // still replaces a core whose host table may be stale, which is not a crash).
    expect((await engine.stats()).lastCrash).toEqual(before.lastCrash);
  }, 60_000);
});

/** A core whose methods answer synchronously (both Lua cores do). */
type SyncCore = Pick<LuaCore, 'exec' | 'setHostFunctions' | 'release' | 'reset' | 'dispose'>;
const CORES: { backend: string; spin: string; boot: (init: CoreInit, env: CoreEnv) => Promise<SyncCore> }[] = [
  { backend: 'wasm', spin: LOOP, boot: (init, env) => LuaCore.create(init, env) },
  // LuaJIT runs no hooks inside compiled traces (native-bridge/luajit/core.ts): a closure in the body keeps it interpreted.
  ...(nativeAvailable('lua')
    ? [
        {
          backend: 'native',
          spin: 'function() while true do local f = function() end end end',
          boot: async (init: CoreInit, env: CoreEnv) => (await createLuaJitCore(init, env)) as unknown as SyncCore,
        },
      ]
    : []),
];

function coreEnv(): CoreEnv {
  return {
    interruptWord: new Int32Array(new SharedArrayBuffer(4)),
    hostCall: () => null,
    hostStart: () => 0,
    hostWait: () => [],
    output: () => {},
  };
}

const CORE_INIT = {
  engineId: 'e-core',
  language: 'lua',
  hostFunctions: ['a.b'],
  limits: { memoryBytes: 32 * MiB, maxOutputBytes: 64 * 1024, maxValueDepth: 100, maxValueBytes: 8 * MiB },
} as CoreInit;
const RUN = { timeoutMs: 5000, stream: false };

describe.each(CORES)('class 1: a bookkeeping request runs no script code ($backend core)', ({ spin, boot }) => {
  it('setHostFunctions ignores a replaced string.find (the prelude holds its own), and works after a timed-out request', async () => {
    const env = coreEnv();
    const core = await boot(CORE_INIT, env);
    try {
      // Before the preludes captured their helpers, this made the host-table rebuild spin.
      const set = core.exec(`string.find = ${spin} string.sub = ${spin} return 1`, RUN);
      expect(set.ok).toBe(true);
      core.setHostFunctions(['x.y', 'z']);
      const after = core.exec('return type(host.x.y) .. type(host.z)', RUN);
      expect(after.ok ? after.value : after.failure).toBe('functionfunction');
      // A timed-out request leaves its stop behind: a rebuild after it must still work.
      const spun = core.exec(`local s = ${spin} s()`, { timeoutMs: 200, stream: false });
      expect(spun.ok ? null : spun.failure.kind).toBe('timeout');
      core.exec('string.find = nil string.sub = nil', RUN);
      core.setHostFunctions(['p.q']);
      const last = core.exec('return type(host.p.q)', RUN);
      expect(last.ok ? last.value : last.failure).toBe('function');
    } finally {
      core.dispose();
    }
  }, 60_000);
});

/** `printInLua`: LuaJIT's print joins its arguments in Lua (under the memory cap) before the host reads one string. */
type Target = { name: string; options: Parameters<typeof createEngine>[1]; printInLua: boolean };
const TARGETS: Target[] = [
  { name: 'wasm, worker placement', options: { placement: 'worker' }, printInLua: false },
  ...(nativeAvailable('lua')
    ? [
        {
          name: 'native LuaJIT, process placement',
          options: { backend: 'native' as const, placement: 'process' as const },
          printInLua: true,
        },
      ]
    : []),
];

describe.each(TARGETS)('class 6: what the host reassembles is capped on the engine side ($name)', ({ options, printInLua }) => {
  let engine: ScriptEngine;
  let sinkCalls = 0;
  beforeAll(async () => {
    engine = await createEngine('lua', {
      ...options,
      capabilities: ['*'],
      hostFunctions: { sink: () => ++sinkCalls },
      limits: { timeoutMs: 3000, graceMs: 500, memoryBytes: 48 * MiB, maxOutputBytes: 64 * 1024 },
    });
  }, 60_000);
  afterAll(async () => {
    if (engine) await answers(engine.dispose(), 'dispose');
  });

  it('a result holding one 1 MiB string 250 times is refused while it is read, naming limits.maxValueBytes', async () => {
    const before = await engine.stats();
    const r = await answers(engine.exec(`${FANOUT} return t`), 'exec');
    expect(r.success).toBe(false);
    expect(r.error?.type).toBe('InvalidInputError');
    expect(r.error?.message).toMatch(/limits\.maxValueBytes \(8388608 bytes/);
    // The same through call(): the handle results path.
    await answers(engine.load(`function fan() ${FANOUT} return t, 'tail' end`), 'load');
    const err = await engine.call('fan').then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe('InvalidInputError');
    // Under the cap crosses: seven references are 7 MiB.
    const ok = await answers(engine.exec(`local s = string.rep("y", ${MiB}) return { s, s, s, s, s, s, s }`), 'exec');
    expect((ok.value as string[]).length).toBe(7);
    expect((await engine.stats()).restarts).toBe(before.restarts);
  }, 60_000);

  it('a host-call argument over the cap is refused before the host is called', async () => {
    const r = await answers(engine.exec(`${FANOUT} local ok, e = pcall(host.sink, t) return { ok, e }`), 'exec');
    expect(r.value).toEqual([false, expect.stringMatching(/InvalidInputError: .*limits\.maxValueBytes/)]);
    expect(sinkCalls).toBe(0);
    const split = await answers(
      engine.exec(`local s = string.rep("z", ${MiB}) local ok, e = pcall(host.sink, {s, s, s, s}, {s, s, s, s}, {s}) return { ok, e }`),
      'exec',
    );
    expect(split.value).toEqual([false, expect.stringMatching(/limits\.maxValueBytes/)]);
    expect(sinkCalls).toBe(0);
  }, 60_000);

  it('print of one string 250 times is cut at maxOutputBytes (or, joined in Lua, meets the memory cap)', async () => {
    const r = await answers(engine.exec(`${FANOUT} print(table.unpack(t)) return 1`), 'exec');
    if (printInLua) {
      expect(r.error?.type).toBe('MemoryLimitError');
    } else {
      expect(r.value).toBe(1);
      expect(r.truncated).toBe(true);
    }
    expect(r.stdout.length).toBeLessThanOrEqual(64 * 1024);
    expect((await answers(engine.exec('return 8'), 'exec after')).value).toBe(8);
  }, 60_000);

  it('an error object whose __tostring raises is a script error, not a crash', async () => {
    const before = await engine.stats();
    const r = await answers(engine.exec(`error(setmetatable({}, {__tostring = function() error("inner") end}))`), 'exec');
    expect(r.success).toBe(false);
    expect(r.error?.type).not.toBe('EngineCrashedError');
    expect(r.error?.message).toMatch(/error object is a table value/);
    const bad = await answers(engine.exec(`error(setmetatable({}, {__tostring = function() return {} end}))`), 'exec');
    expect(bad.error?.type).not.toBe('EngineCrashedError');
    expect((await engine.stats()).restarts).toBe(before.restarts);
  }, 60_000);

  it('an error object whose __tostring loops times out like any script code', async () => {
    const r = await answers(
      engine.exec(`error(setmetatable({}, {__tostring = function() local f = function() end while true do f() end end}))`),
      'exec',
    );
    expect(r.success).toBe(false);
    expect(r.timedOut).toBe(true);
    expect((await answers(engine.exec('return 6'), 'exec after')).value).toBe(6);
  }, 60_000);

  it('error texts are cut: a 4 MiB __tostring or error string reaches the host as at most 64 KiB', async () => {
    for (const code of [
      `error(setmetatable({}, {__tostring = function() return string.rep("e", ${4 * MiB}) end}))`,
      `error(string.rep("s", ${4 * MiB}))`,
    ]) {
      const r = await answers(engine.exec(code), 'exec');
      expect(r.success).toBe(false);
      expect(r.error?.message).toMatch(/more bytes cut/);
      expect(r.error!.message.length).toBeLessThan(ERROR_TEXT_MAX + 200);
    }
  }, 60_000);

  it('an error object whose __tostring allocates past memoryBytes is a memory failure', async () => {
    const r = await answers(
      engine.exec(`error(setmetatable({}, {__tostring = function() local t = {} for i = 1, 1e9 do t[i] = i .. "x" end end}))`),
      'exec',
    );
    expect(r.success).toBe(false);
    expect(r.error?.type).toBe('MemoryLimitError');
    expect((await answers(engine.exec('return 7'), 'exec after')).value).toBe(7);
  }, 60_000);
});

describe('class 7: a wasm abort inside the Lua module is a crash, never a Lua error', () => {
  const init: CoreInit = {
    engineId: 'e-abort',
    language: 'lua',
    hostFunctions: ['boom'],
    limits: { memoryBytes: 32 * MiB, maxOutputBytes: 64 * 1024, maxValueDepth: 100, maxValueBytes: 8 * MiB },
  } as CoreInit;

  it('abort() reached from a host call (Lua panic on an unprotected state) ends the request as crashed, even under pcall', async () => {
    let core: LuaCore | undefined;
    const env: CoreEnv = {
      interruptWord: new Int32Array(new SharedArrayBuffer(4)),
      // The smallest real injection: a Lua error raised on a state with no protected call
      // is Lua's panic path, which calls the C library's abort() inside the same module.
      hostCall: () => {
        const m = core!.backend.m as LuaModule & { _luaL_newstate(): number };
        const L2 = m._luaL_newstate();
        m._lua_pushnil(L2);
        m._lua_error(L2);
        return null;
      },
      hostStart: () => 0,
      hostWait: () => [],
      output: () => {},
    };
    core = await LuaCore.create(init, env);
    const o = core.exec('local ok, e = pcall(host.boom) return "swallowed: " .. tostring(e)', { timeoutMs: 5000, stream: false });
    expect(o.ok).toBe(false);
    if (o.ok) return;
    expect(o.failure.kind).toBe('crashed');
    expect(o.failure.type).toBe('EngineCrashedError');
    expect(o.failure.message).toMatch(/Aborted/);
    // The module's state is undefined now: every later request says so, none runs.
    const next = core.exec('return 1', { timeoutMs: 5000, stream: false });
    expect(next.ok ? null : next.failure.kind).toBe('crashed');
    expect(() => core!.setHostFunctions([])).toThrow();
  }, 60_000);

  it('maps traps to crashed, a trap after the memory cap refused an allocation to memory, and leaves other errors alone', () => {
    const abort = new WebAssembly.RuntimeError('Aborted(native code called abort())');
    expect(trapFailure(abort, null, 1)?.kind).toBe('crashed');
    expect(trapFailure(new WebAssembly.RuntimeError('unreachable'), 'timeout', 1)?.kind).toBe('crashed');
    expect(trapFailure(new RangeError('Maximum call stack size exceeded'), null, 1)?.type).toBe('EngineCrashedError');
    expect(trapFailure(abort, 'memory', 1)?.kind).toBe('memory');
    expect(trapFailure(new TypeError('x is not a function'), null, 1)).toBeNull();
  });
});
