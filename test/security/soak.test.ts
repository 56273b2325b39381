/**
 * Issue 17, "soak": reuse pools of wasm engines (Python and Lua in workers, Lua in a child
 * process) run a seeded mix of ordinary work and attacks from every class of the issue, at
 * least 1,000 runs (SCRIPTBOX_SOAK=N for more; SCRIPTBOX_SOAK_SEED=S for another mix).
 *
 * What must hold, whatever the mix:
 * - every call is answered exactly once: each one's promise settles once (counted per call
 *   id), and one that is still pending after a generous bound fails the test as a hang;
 * - every answer is a value or a typed ScriptBoxError with a stable `code`;
 * - ordinary work gives exactly the right value, even on an engine the previous tenant
 *   attacked (so tampering with `host`, filled stores and dead receivers do not survive);
 * - after the pools close, the live worker / process counts are back to where they were,
 *   RSS is back near its baseline, no host function call is left running, and nothing
 *   threw or rejected unhandled.
 *
 * A reuse pool keeps the script's own state between tenants by design (globals, loaded
 * functions, garbage with finalizers): an attack that leaves a time bomb there cleans it
 * up in its own lease. What must never survive a tenant is `host` and the runtime behind
 * it; the tamper attack checks that in its lease and every later `ping` again.
 *
 * Problems are collected, not thrown at the first one, so a failing run lists every
 * attack that still gets through (by class) with its seed and run id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, releaseSpareWorker, ScriptBoxError, type EnginePool, type ScriptEngine, type ScriptValue } from '../../src/index.js';
import { liveWorkerCount } from '../../src/node/worker-host.js';
import { liveProcessCount } from '../../src/node/process-host.js';
import { koffi } from '../../src/node/native-libs.js';
import { countFrom, Rng, seedFrom } from './fuzz-values.js';
import { collectGarbage, HANG_MS, settles } from './settle.js';
import { CODES } from './codes.js';

const RUNS = countFrom(process.env.SCRIPTBOX_SOAK, 1000);
const SEED = seedFrom(process.env.SCRIPTBOX_SOAK_SEED, 0x5c21b0);
/** Share of runs that are attacks (the rest is ordinary work). */
const ATTACK_SHARE = 0.12;
/**
 * RSS may stay above its baseline by this much after everything is disposed (measured after
 * a GC and malloc_trim, see trimMalloc): this process keeps the compiled Pyodide module and
 * its memory snapshot for the next engine, and V8 keeps some of the heap it grew. A leak of
 * the issue's kind (a full store or a reassembled result per attack) is hundreds of MiB per
 * attack, far over this. Measured here: 64 -> ~250 MiB after 1,000 runs.
 */
const RSS_SLACK = 300 * 1024 * 1024;
/** Short per-call deadline for attacks that must be stopped: the ladder, not the default 30 s. */
const ATTACK_MS = 400;
const LIMITS = { timeoutMs: 4000, graceMs: 250 };

type Target = 'python' | 'lua' | 'lua-process';
type Lang = 'python' | 'lua';

const PY_INIT = `
import host

class Counter:
    def __init__(self, start):
        self.n = start
    def add(self, k):
        self.n += k
        return self.n

class Sticky:
    def __del__(self):
        while True:
            pass

class Stubborn:
    def __del__(self):
        sum(range(10**15))

def double(x):
    return x * 2
`;

const LUA_INIT = `
Counter = {}
Counter.__index = Counter
function Counter.new(start) return setmetatable({ n = start }, Counter) end
function Counter:add(k) self.n = self.n + k; return self.n end
function double(x) return x * 2 end
`;

// ---- bookkeeping ----------------------------------------------------------------------

/** Per call id: how many times its promise settled. */
const settlements = new Map<string, number>();
const problems: string[] = [];
/** Answers by op kind: 'value' or an error code (for the report, and to show attacks did get stopped). */
const tally = new Map<string, Map<string, number>>();
let hostCallsRunning = 0;
let hostCallsDone = 0;
const unhandled: string[] = [];
/** Per engine, the last runs it served. */
const history = new WeakMap<ScriptEngine, string[]>();
/** Per run id: its engine and what that engine ran before it. */
const where = new Map<string, string>();

function note(kind: string, outcome: string): void {
  const m = tally.get(kind) ?? new Map<string, number>();
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
  tally.set(kind, m);
}

/**
 * One API call: counted when it settles; a promise still pending after HANG_MS fails the
 * run (never a speed check: every answer here needs well under a second or two).
 * Resolves with the value, or the error when it is a typed ScriptBoxError; anything else
 * (a plain TypeError from inside, an untyped error) is a problem.
 */
async function call<T>(
  id: string,
  kind: string,
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: ScriptBoxError | undefined }> {
  settlements.set(id, 0);
  const counted = p.then(
    (v) => {
      settlements.set(id, (settlements.get(id) ?? 0) + 1);
      return v;
    },
    (e: unknown) => {
      settlements.set(id, (settlements.get(id) ?? 0) + 1);
      throw e;
    },
  );
  const r = await settles(counted, `${id} (${kind})`);
  if (r.ok) {
    note(kind, 'value');
    return r;
  }
  const e = r.error;
  if (e instanceof ScriptBoxError && CODES.has(e.code)) {
    note(kind, e.code);
    return { ok: false, error: e };
  }
  note(kind, `untyped:${(e as Error)?.name}`);
  problems.push(`${id} ${kind}: untyped rejection ${String((e as Error)?.stack ?? e).slice(0, 400)}`);
  return { ok: false, error: undefined };
}

function expectEq(id: string, kind: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    problems.push(`${id} ${kind}: got ${JSON.stringify(got)?.slice(0, 300)}, want ${JSON.stringify(want)}`);
  }
}

/** An exec that must give `want` (ordinary work). */
async function execIs(e: ScriptEngine, id: string, kind: string, code: string, want: ScriptValue): Promise<void> {
  const r = await call(id, kind, e.exec(code));
  if (!r.ok) {
    problems.push(`${id} ${kind}: exec threw ${r.error?.code}: ${r.error?.message.slice(0, 300)}`);
    return;
  }
  if (!r.value.success) {
    problems.push(`${id} ${kind}: ${r.value.error?.type}: ${r.value.error?.message.slice(0, 300)}`);
    return;
  }
  expectEq(id, kind, r.value.value, want);
}

/** An exec that may end in any way, as long as it ends and is typed (attacks). */
async function execAny(e: ScriptEngine, id: string, kind: string, code: string, timeoutMs = ATTACK_MS): Promise<void> {
  const r = await call(id, kind, e.exec(code, { timeoutMs }));
  if (r.ok) {
    const x = r.value;
    if (typeof x.success !== 'boolean' || typeof x.stdout !== 'string') problems.push(`${id} ${kind}: exec gave no ExecResult`);
    // A failed exec names its error; an internal TypeError leaking out as the "script" error is a bug.
    if (!x.success && /is not a function|Cannot read properties|text\.includes/.test(x.error?.message ?? '')) {
      problems.push(`${id} ${kind}: internal error leaked as ${x.error?.type}: ${x.error?.message.slice(0, 200)}`);
    }
  }
}

// ---- ordinary work ----------------------------------------------------------------------

type Job = (e: ScriptEngine, id: string, lang: Lang, rng: Rng) => Promise<void>;

const ordinary: Record<string, Job> = {
  async arith(e, id, lang, rng) {
    const a = rng.int(1000);
    const b = rng.int(1000);
    await execIs(e, id, 'arith', lang === 'python' ? `${a} + ${b}` : `return ${a} + ${b}`, a + b);
  },
  async callDouble(e, id, _lang, rng) {
    const x = rng.int(10_000);
    const r = await call(id, 'call', e.call('double', [x]));
    if (!r.ok) problems.push(`${id} call: ${r.error?.code} ${r.error?.message.slice(0, 300)}`);
    else expectEq(id, 'call', r.value, 2 * x);
  },
  async ping(e, id, lang, rng) {
    // `host` must be the host's, whatever an earlier tenant did to it.
    const x = rng.int(10_000);
    await execIs(e, id, 'ping', lang === 'python' ? `import host\nhost.ping(${x})` : `return host.ping(${x})`, x);
  },
  async asyncHost(e, id, lang) {
    await execIs(
      e,
      id,
      'asyncHost',
      lang === 'python'
        ? 'import host, asyncio\n(await asyncio.gather(host.aio.later(1), host.aio.later(2)))'
        : 'return { host.later(1), host.later(2) }',
      [1, 2],
    );
  },
  async kv(e, id, lang, rng) {
    const x = rng.int(10_000);
    const key = `k-${id}`;
    await execIs(
      e,
      id,
      'kv',
      lang === 'python'
        ? `import host\nhost.kv.set(${JSON.stringify(key)}, {"x": ${x}})\nv = host.kv.get(${JSON.stringify(key)})\nhost.kv.delete(${JSON.stringify(key)})\nv`
        : `host.kv.set(${JSON.stringify(key)}, { x = ${x} })\nlocal v = host.kv.get(${JSON.stringify(key)})\nhost.kv.delete(${JSON.stringify(key)})\nreturn v`,
      { x },
    );
  },
  async channel(e, id, lang, rng) {
    const x = rng.int(10_000);
    const ch = JSON.stringify(`c-${id}`);
    await execIs(
      e,
      id,
      'channel',
      lang === 'python'
        ? `import host\nhost.channel.send(${ch}, ${x})\nhost.channel.receive(${ch}, 1)`
        : `host.channel.send(${ch}, ${x})\nreturn host.channel.receive(${ch}, 1)`,
      x,
    );
  },
  async emptyReceive(e, id, lang) {
    // A receive that times out in the script: null, and the engine goes on.
    const ch = JSON.stringify(`empty-${id}`);
    await execIs(
      e,
      id,
      'emptyReceive',
      lang === 'python' ? `import host\nhost.channel.receive(${ch}, 0.02)` : `return host.channel.receive(${ch}, 0.02)`,
      null,
    );
  },
  async remote(e, id, _lang, rng) {
    const x = rng.int(1000);
    const c = await call(`${id}.create`, 'remote.create', e.create('Counter', [x]));
    if (!c.ok) {
      problems.push(`${id} remote.create: ${c.error?.code} ${c.error?.message.slice(0, 300)}`);
      return;
    }
    const added = await call(`${id}.add`, 'remote.call', c.value.call('add', [3]));
    if (added.ok) expectEq(id, 'remote.call', added.value, x + 3);
    else problems.push(`${id} remote.call: ${added.error?.code} ${added.error?.message.slice(0, 300)}`);
    const n = await call(`${id}.get`, 'remote.get', c.value.get('n'));
    if (n.ok) expectEq(id, 'remote.get', n.value, x + 3);
    else problems.push(`${id} remote.get: ${n.error?.code} ${n.error?.message.slice(0, 300)}`);
    const d = await call(`${id}.dispose`, 'remote.dispose', c.value.dispose());
    if (!d.ok) problems.push(`${id} remote.dispose: ${d.error?.code} ${d.error?.message.slice(0, 300)}`);
  },
};

// ---- attacks, by class of issue 17 -------------------------------------------------------

const PY_TAMPER = `
import host, sys, types
evil = lambda *a, **k: 'EVIL'
for attempt in (
    lambda: types.ModuleType.__setattr__(host, 'ping', evil),
    lambda: object.__setattr__(host, 'ping', evil),
    lambda: host.__dict__.__setitem__('ping', evil),
    lambda: sys.modules.__setitem__('host', types.SimpleNamespace(ping=evil, kv=None, channel=None, aio=None)),
):
    try:
        attempt()
    except Exception:
        pass
# Anything else in sys.modules that looks like the runtime: swap every callable it holds.
for name, mod in list(sys.modules.items()):
    if mod is None or name in ('sys', 'builtins', 'types') or not any(w in name for w in ('scriptbox', 'sandbox', 'runtime', '_host')):
        continue
    for attr in list(getattr(mod, '__dict__', {})):
        try:
            if callable(getattr(mod, attr)) and not attr.startswith('__'):
                types.ModuleType.__setattr__(mod, attr, evil)
        except Exception:
            pass
`;

const LUA_TAMPER = `
local evil = function() return 'EVIL' end
pcall(rawset, host, 'ping', evil)
pcall(function() host.ping = evil end)
pcall(function() local mt = getmetatable(host); if type(mt) == 'table' then mt.__index = function() return evil end end end)
pcall(function() debug.setmetatable(host, { __index = function() return evil end }) end)
pcall(function() for k, v in pairs(debug.getregistry and debug.getregistry() or {}) do if type(v) == 'table' then pcall(rawset, v, 'ping', evil) end end end)
host = setmetatable({}, { __index = function() return evil end })
`;

const attacks: Record<string, Job> = {
  /** Class 1: runaway code that needs the interrupt or the kill. */
  async runaway(e, id, lang, rng) {
    const code =
      lang === 'python'
        ? rng.pick([
            'while True:\n    pass',
            'while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass',
            'sum(range(10**15))',
            'import time\ntime.sleep(60)',
          ])
        : rng.pick([
            'while true do end',
            'while true do pcall(function() while true do end end) end',
            'local s = string.rep("a", 40000) return s:find(".-.-.-.-.-.-b")',
            'return host.channel.receive("never", 60)',
          ]);
    await execAny(e, id, 'attack.runaway', code);
  },
  /** Class 1: finalizers that loop while the runtime does its own work (release, GC, host table rebuild). */
  async finalizer(e, id, lang, rng) {
    if (lang === 'python') {
      const h = await call(`${id}.create`, 'attack.finalizer.create', e.create(rng.pick(['Sticky', 'Stubborn'])));
      if (h.ok) await call(`${id}.dispose`, 'attack.finalizer.dispose', h.value.dispose());
      return;
    }
    await execAny(e, id, 'attack.finalizer', 'setmetatable({}, { __gc = function() while true do end end })\ncollectgarbage()\nreturn 1');
    // Garbage with a looping __gc left for the host table rebuild to collect.
    await execAny(
      e,
      id,
      'attack.finalizer.garbage',
      'for i = 1, 50 do setmetatable({}, { __gc = function() while true do end end }) end\nreturn 1',
    );
    e.registerHostFunction('later', (x: unknown) => later(x));
    await call(`${id}.stats`, 'attack.finalizer.stats', e.stats());
    // Whatever garbage is left is script state, which a reuse pool keeps by design: collect
    // it in this lease (stopped by the ladder), so the bomb does not go off in a later tenant's call.
    await execAny(e, id, 'attack.finalizer.collect', 'collectgarbage()\ncollectgarbage()\nreturn 1');
  },
  /** Class 1: script code running inside stats() (Python's runtime bookkeeping hooked by a profiler). */
  async statsHook(e, id, lang) {
    if (lang === 'lua') {
      await execAny(e, id, 'attack.statsHook', 'debug.sethook(function() while true do end end, "c")\nreturn 1');
      await call(`${id}.stats`, 'attack.statsHook.stats', e.stats());
      await execAny(e, id, 'attack.statsHook.unhook', 'debug.sethook()\nreturn 1');
      return;
    }
    await execAny(
      e,
      id,
      'attack.statsHook',
      'import sys\ndef _p(frame, event, arg):\n    if event == "call" and frame.f_code.co_name in ("handle_count", "stats", "memory"):\n        while True: pass\nsys.setprofile(_p)\n1',
    );
    await call(`${id}.stats`, 'attack.statsHook.stats', e.stats());
    await execAny(e, id, 'attack.statsHook.unhook', 'import sys\nsys.setprofile(None)\n1');
  },
  /** Class 2: replace `host` and the runtime's helpers; the next call must see the host's own. */
  async tamper(e, id, lang, rng) {
    await execAny(e, id, 'attack.tamper', lang === 'python' ? PY_TAMPER : LUA_TAMPER, 2000);
    await ordinary.ping!(e, `${id}.after`, lang, rng);
  },
  /** Class 4: fill kv and a channel up to the quota; typed errors, then the attacker cleans up. */
  async fill(e, id, lang) {
    const p = JSON.stringify(`fill-${id}-`);
    const code =
      lang === 'python'
        ? `import host\nn = 0\nerr = None\ntry:\n    while n < 100000:\n        host.kv.set(${p} + str(n), "x" * 65536)\n        host.channel.send(${p}, "y" * 65536)\n        n += 1\nexcept Exception as e:\n    err = type(e).__name__\n[n, err]`
        : `local n, err = 0, nil\nlocal ok, e = pcall(function()\n  while n < 100000 do\n    host.kv.set(${p} .. n, string.rep("x", 65536))\n    host.channel.send(${p}, string.rep("y", 65536))\n    n = n + 1\n  end\nend)\nreturn { n, tostring(e) }`;
    await execAny(e, id, 'attack.fill', code, 3000);
    const clean =
      lang === 'python'
        ? `import host\nfor k in host.kv.keys(${p}):\n    host.kv.delete(k)\nwhile host.channel.receive(${p}, 0.001) is not None:\n    pass\nlen(host.kv.keys(${p}))`
        : `for _, k in ipairs(host.kv.keys(${p})) do host.kv.delete(k) end\nwhile host.channel.receive(${p}, 0.001) ~= nil do end\nreturn #host.kv.keys(${p})`;
    await execIs(e, `${id}.clean`, 'attack.fill.clean', clean, 0);
  },
  /** Class 5: a receive whose script timed out must take nothing; the next message goes to a live receiver. */
  async deadReceiver(e, id, lang) {
    const ch = JSON.stringify(`dead-${id}`);
    const wait =
      lang === 'python'
        ? `import host, asyncio\nawait asyncio.gather(*[host.aio.channel.receive(${ch}, 60) for _ in range(5)])`
        : `return host.channel.receive(${ch}, 60)`;
    await execAny(e, id, 'attack.deadReceiver', wait);
    await execIs(
      e,
      `${id}.live`,
      'attack.deadReceiver.live',
      lang === 'python'
        ? `import host\nhost.channel.send(${ch}, "live")\nhost.channel.receive(${ch}, 2)`
        : `host.channel.send(${ch}, "live")\nreturn host.channel.receive(${ch}, 2)`,
      'live',
    );
  },
  /** Class 6: results, messages and kv values that are small in the script and huge reassembled. */
  async huge(e, id, lang, rng) {
    const py = [
      's = "x" * 2**20\n[s] * 250',
      's = b"x" * 2**20\n{"a": [s] * 100, "b": [s] * 100}',
      'import host\ns = "x" * 2**20\nhost.channel.send("big", [s] * 200)',
      'import host\ns = "x" * 2**20\nhost.kv.set("big", [s] * 200)',
      'import host\ns = "x" * 2**20\nhost.ping([s] * 200)',
    ];
    const lua = [
      'local s = string.rep("x", 2^20) local t = {} for i = 1, 250 do t[i] = s end return t',
      'local s = string.rep("x", 2^20) local t = {} for i = 1, 100 do t["k" .. i] = { s, s } end return t',
      'local s = string.rep("x", 2^20) local t = {} for i = 1, 200 do t[i] = s end host.channel.send("big", t)',
      'local s = string.rep("x", 2^20) local t = {} for i = 1, 200 do t[i] = s end host.kv.set("big", t)',
      'local s = string.rep("x", 2^20) local t = {} for i = 1, 200 do t[i] = s end return host.ping(t)',
    ];
    await execAny(e, id, 'attack.huge', rng.pick(lang === 'python' ? py : lua), 3000);
  },
  /** Class 6: error objects whose text is huge, or built by script code while the host converts them. */
  async hugeError(e, id, lang, rng) {
    const py = [
      'class E(Exception):\n    def __str__(self):\n        return "x" * (40 * 2**20)\nraise E()',
      'class E(Exception):\n    def __str__(self):\n        while True: pass\nraise E()',
      'raise ValueError("y" * (30 * 2**20))',
    ];
    const lua = [
      'error(setmetatable({}, { __tostring = function() return string.rep("x", 2^20):rep(600) end }))',
      'error(setmetatable({}, { __tostring = function() while true do end end }))',
      'error(string.rep("y", 20 * 2^20))',
      'local s = string.rep("z", 2^20) local t = {} for i = 1, 200 do t[i] = s end error(t)',
    ];
    await execAny(e, id, 'attack.hugeError', rng.pick(lang === 'python' ? py : lua), 3000);
    // The same through call(), whose failure is a thrown ScriptError rather than data.
    await call(`${id}.call`, 'attack.hugeError.call', e.call(rng.pick(['nope.missing', 'double']), [{ deep: 'x'.repeat(1000) }]));
  },
  /** Class 7: an engine that dies (wasm abort, memory bomb, device junk). */
  async dying(e, id, lang, rng) {
    const py = [
      'import os\nos.abort()',
      'x = bytearray(2**30)',
      'b = []\nwhile True:\n    b.append(bytearray(2**24))',
      "import os\nfd = os.open('/dev/scriptbox', os.O_RDWR)\nos.write(fd, b'\\xff{junk')",
    ];
    const lua = [
      'local t = {} for i = 1, 1e9 do t[i] = { i } end',
      'local s = "x" while true do s = s .. s end',
      'collectgarbage("stop") local t = {} for i = 1, 1e8 do t[i] = string.rep("a", 1000) .. i end',
    ];
    await execAny(e, id, 'attack.dying', rng.pick(lang === 'python' ? py : lua), 3000);
  },
  /** The caller gives up: an abort mid-run must settle the call with AbortError, once. */
  async abort(e, id, lang) {
    const ac = new AbortController();
    const p = e.exec(lang === 'python' ? 'while True:\n    pass' : 'while true do end', { signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(new Error('soak gave up')), 20);
    await call(id, 'attack.abort', p);
  },
};

// ---- host functions the engines are granted ------------------------------------------------

/** An async host function, counted so the end can check none is left running. */
function later(x: unknown): Promise<unknown> {
  hostCallsRunning++;
  return new Promise((resolve) =>
    setTimeout(() => {
      hostCallsRunning--;
      hostCallsDone++;
      resolve(x);
    }, 1),
  );
}

const ENGINE_OPTIONS = {
  limits: LIMITS,
  capabilities: ['ping', 'later', 'kv.*', 'channel.*'],
  hostFunctions: { ping: (x: unknown) => x, later },
  onLog: () => {},
};

/**
 * glibc keeps the pages a terminated worker thread's malloc arena freed (one arena per
 * thread, up to 8 per core), so RSS after many worker restarts says more about the
 * allocator than about what is still held. malloc_trim(0) hands them back; where it is not
 * available (no koffi, not glibc) RSS is measured as it is.
 */
let trim: (() => void) | null | undefined;
function trimMalloc(): void {
  if (trim === undefined) {
    try {
      const fn = koffi().load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
      trim = () => void fn(0);
    } catch {
      trim = null; // not glibc or no koffi: RSS stays the allocator's view, within the same slack
    }
  }
  trim?.();
}

// ---- the run ------------------------------------------------------------------------------

interface Planned {
  id: string;
  target: Target;
  kind: string;
  attack: boolean;
  seed: number;
}

function plan(): Planned[] {
  const rng = new Rng(SEED);
  const out: Planned[] = [];
  const ordinaryKinds = Object.keys(ordinary);
  const attackKinds = Object.keys(attacks);
  for (let i = 0; i < RUNS; i++) {
    const target = rng.weighted<Target>([
      [4, 'python'],
      [4, 'lua'],
      [2, 'lua-process'],
    ]);
    const attack = rng.chance(ATTACK_SHARE);
    out.push({ id: `r${i}`, target, attack, kind: rng.pick(attack ? attackKinds : ordinaryKinds), seed: rng.int(2 ** 31) });
  }
  return out;
}

describe('soak: a reuse pool under ordinary work mixed with every class of attack', () => {
  const pools = new Map<Target, EnginePool>();
  const baseline = { workers: 0, processes: 0, rss: 0 };
  const onRejection = (e: unknown) => unhandled.push(`unhandledRejection: ${String((e as Error)?.stack ?? e).slice(0, 400)}`);
  const onException = (e: unknown) => unhandled.push(`uncaughtException: ${String((e as Error)?.stack ?? e).slice(0, 400)}`);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    collectGarbage();
    baseline.workers = liveWorkerCount();
    baseline.processes = liveProcessCount();
    baseline.rss = process.memoryUsage().rss;
    pools.set(
      'python',
      await createPool('python', {
        ...ENGINE_OPTIONS,
        limits: { ...LIMITS, memoryBytes: 128 * 1024 * 1024 },
        min: 2,
        max: 2,
        init: PY_INIT,
      }),
    );
    pools.set(
      'lua',
      await createPool('lua', { ...ENGINE_OPTIONS, limits: { ...LIMITS, memoryBytes: 32 * 1024 * 1024 }, min: 2, max: 2, init: LUA_INIT }),
    );
    pools.set(
      'lua-process',
      await createPool('lua', {
        ...ENGINE_OPTIONS,
        limits: { ...LIMITS, memoryBytes: 32 * 1024 * 1024 },
        placement: 'process',
        min: 1,
        max: 1,
        init: LUA_INIT,
      }),
    );
  }, 180_000);

  afterAll(async () => {
    for (const p of pools.values()) await p.close().catch(() => {}); // a second close after the test's own; the test already checked it settles
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });

  it(
    `${RUNS} runs (seed ${SEED}): every call answered once, typed, and resources back at baseline`,
    async () => {
      const runs = plan();
      const byTarget = (t: Target) => runs.filter((r) => r.target === t);
      const drive = async (t: Target, lanes: number) => {
        const queue = byTarget(t);
        const pool = pools.get(t)!;
        const lang: Lang = t === 'python' ? 'python' : 'lua';
        await Promise.all(
          Array.from({ length: lanes }, async () => {
            for (let r = queue.shift(); r; r = queue.shift()) {
              const job = (r.attack ? attacks : ordinary)[r.kind]!;
              const run = r;
              await call(
                `${run.id}.run`,
                'pool.run',
                pool.run(async (engine) => {
                  // What ran on this engine before: the first thing to look at when a run fails.
                  const before = history.get(engine) ?? [];
                  where.set(run.id, `${t} ${engine.id}, after ${before.join(', ') || 'nothing'}`);
                  history.set(engine, [...before.slice(-12), `${run.id}:${run.kind}`]);
                  await job(engine, run.id, lang, new Rng(run.seed));
                }),
              ).then((x) => {
                if (!x.ok) problems.push(`${run.id} pool.run (${run.kind}) rejected: ${x.error?.code} ${x.error?.message.slice(0, 300)}`);
              });
            }
          }),
        );
      };
      await Promise.all([drive('python', 2), drive('lua', 2), drive('lua-process', 1)]);

      // Every engine is still healthy after the mix.
      for (const [t, pool] of pools) {
        const lang: Lang = t === 'python' ? 'python' : 'lua';
        await call(
          `final.${t}`,
          'final',
          pool.run((e) => execIs(e, `final.${t}.exec`, 'final', lang === 'python' ? '6 * 7' : 'return 6 * 7', 42)),
        );
      }

      for (const [t, pool] of pools) await call(`close.${t}`, 'pool.close', pool.close());
      await call('releaseSpareWorker', 'releaseSpareWorker', releaseSpareWorker());

      // Workers and processes end asynchronously after terminate(): wait for the counts (bounded).
      const until = Date.now() + HANG_MS;
      while ((liveWorkerCount() > baseline.workers || liveProcessCount() > baseline.processes) && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100));
      let rss = Infinity;
      while (Date.now() < until) {
        collectGarbage();
        trimMalloc();
        rss = process.memoryUsage().rss;
        if (rss < baseline.rss + RSS_SLACK) break;
        await new Promise((r) => setTimeout(r, 250));
      }

      const report = [...tally].map(([k, m]) => `${k}: ${[...m].map(([o, n]) => `${o}=${n}`).join(' ')}`).join('\n');
      const mem = process.memoryUsage();
      const mib = (n: number) => Math.round(n / 2 ** 20);
      console.log(
        `soak seed ${SEED}, ${RUNS} runs, rss ${mib(baseline.rss)} -> ${mib(rss)} MiB (heap ${mib(mem.heapUsed)}, external ${mib(mem.external)}, arrayBuffers ${mib(mem.arrayBuffers)} MiB)\n${report}`,
      );

      // Soft: a failing run reports every broken promise at once (problems, leaks, counts).
      expect.soft(runs.length).toBeGreaterThanOrEqual(Math.min(RUNS, 1000));
      const notOnce = [...settlements].filter(([, n]) => n !== 1).map(([id, n]) => `${id} settled ${n} times`);
      expect.soft(notOnce, 'every call settles exactly once').toEqual([]);
      expect
        .soft(
          problems.map((p) => `${p} [${where.get(p.split(/[. ]/)[0]!) ?? '?'}]`),
          'problems',
        )
        .toEqual([]);
      expect.soft(unhandled, 'unhandled errors in the host').toEqual([]);
      expect.soft(hostCallsRunning, 'host function calls still running').toBe(0);
      expect.soft(hostCallsDone).toBeGreaterThan(0);
      expect.soft(liveWorkerCount(), 'live workers after close').toBe(baseline.workers);
      expect.soft(liveProcessCount(), 'live processes after close').toBe(baseline.processes);
      expect.soft(rss, `RSS after close (baseline ${baseline.rss})`).toBeLessThan(baseline.rss + RSS_SLACK);
    },
    30 * 60_000,
  );
});
