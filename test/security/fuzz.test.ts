/**
 * Issue 17, "fuzz": random and mutated input into every door of the public API and into the
 * host's inbound message path, with a fixed seed and a bounded count (SCRIPTBOX_FUZZ=N runs
 * N iterations per section instead; SCRIPTBOX_FUZZ_SEED=S another seed).
 *
 * - options: createEngine / createPool options of wrong types, unknown keys, NaN, huge
 *   numbers, proxies, throwing getters, coercion traps;
 * - names and values: call / create / load / registerHostFunction / RemoteObject names and
 *   arguments, run options, on one real Python and one real Lua engine (worker placement);
 * - handles: forged RemoteObjects, disposed ones, another engine's, ones from before a restart;
 * - frames: random and mutated MessagePack through the protocol's decoders, and through the
 *   real engine where a core's reply arrives (a fake worker over postMessage, a fake child
 *   process over the framed pipe), so the host's whole inbound path sees them.
 *
 * What must hold: the host never crashes (no uncaught exception or unhandled rejection,
 * handlers installed here), every promise settles, and every failure is a ScriptBoxError
 * with a stable `code`. The only other error let through is the caller's own: a Trap thrown
 * by a getter or proxy the test itself passed in may surface unchanged (it is not ScriptBox's
 * to type), but no TypeError / RangeError from inside ScriptBox may.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Endpoint } from '../../src/channel/endpoint.js';
import { FrameReader, frame } from '../../src/channel/frames.js';
import { decodeMessage, parseFromProcess, parseToHost, type ToProcess } from '../../src/channel/protocol.js';
import { createEngine, createPool, ScriptBoxError, type RemoteObject, type ScriptEngine } from '../../src/index.js';
import { resolveOptions } from '../../src/options.js';
import { connectProcess, type ProcessPipe } from '../../src/placement/process.js';
import { connectWorker } from '../../src/placement/worker.js';
import { Engine } from '../../src/engine/engine.js';
import { decode, encode } from '../../src/values.js';
import {
  countFrom,
  deepValue,
  EDGE_NUMBERS,
  hostileObject,
  mutateBytes,
  randomAny,
  randomString,
  Rng,
  seedFrom,
  Trap,
} from './fuzz-values.js';
import { CODES } from './codes.js';
import { settles } from './settle.js';

const N = countFrom(process.env.SCRIPTBOX_FUZZ, 0);
const SEED = seedFrom(process.env.SCRIPTBOX_FUZZ_SEED, 0xf0220);
/** Iterations per section: the suite's bounded default, or SCRIPTBOX_FUZZ. */
const count = (fallback: number) => N || fallback;
/** Messages that mean an internal error leaked out as text (issue 17, class 7). */
/** A crash report quoting the MessagePack decoder's own reason: typed, and the reason is the diagnosis. */
const DECODER = /^the engine sent a frame that is not valid MessagePack/;
const LEAK =
  /Do not know how to serialize|is not a function(?! name)|Cannot read propert|is not iterable|Cannot convert|Maximum call stack|text\.includes|undefined \(reading/;

const unhandled: string[] = [];
const onRejection = (e: unknown) => unhandled.push(`unhandledRejection: ${String((e as Error)?.stack ?? e).slice(0, 500)}`);
const onException = (e: unknown) => unhandled.push(`uncaughtException: ${String((e as Error)?.stack ?? e).slice(0, 500)}`);
beforeAll(() => {
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
});
afterAll(() => {
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
});

/** Failures found, with what caused them (kept short), checked at the end of each section. */
type Found = string[];

function describeInput(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x) =>
      typeof x === 'bigint' ? `${x}n` : typeof x === 'function' ? 'fn' : typeof x === 'symbol' ? 'symbol' : x,
    );
    return (s ?? String(v)).slice(0, 160);
  } catch {
    // Not JSON (a symbol key, a throwing getter, a cycle): name the keys and their kinds.
    try {
      const keys = Reflect.ownKeys(v as object).map((k) => {
        const d = Reflect.getOwnPropertyDescriptor(v as object, k);
        return `${String(k)}:${d && 'value' in d ? typeof d.value : 'getter'}`;
      });
      return `${Object.prototype.toString.call(v)}{${keys.join(',')}}`.slice(0, 160);
    } catch {
      return 'an object that throws when inspected';
    }
  }
}

/** Judges one failure: a typed ScriptBoxError (or the caller's own Trap) is fine; anything else is recorded. */
function judge(found: Found, what: string, e: unknown): void {
  if (e instanceof Trap) return;
  if (e instanceof ScriptBoxError) {
    if (!CODES.has(e.code)) found.push(`${what}: ScriptBoxError with unknown code ${String(e.code)}`);
    else if (LEAK.test(e.message) && !DECODER.test(e.message))
      found.push(`${what}: ${e.code} whose message leaks an internal error: ${e.message.slice(0, 200)}`);
    return;
  }
  found.push(`${what}: untyped ${(e as Error)?.name ?? typeof e}: ${String((e as Error)?.message ?? e).slice(0, 200)}`);
}

/** Runs `f` (sync or async); a throw or rejection is judged; a promise still pending after the bound is a hang. */
async function attempt(found: Found, what: string, f: () => unknown, ms = 60_000): Promise<unknown> {
  let p: unknown;
  try {
    p = f();
  } catch (e) {
    judge(found, what, e);
    return undefined;
  }
  if (!(p instanceof Promise)) return p;
  try {
    const r = await settles(p, what, ms);
    if (r.ok) return r.value;
    judge(found, what, r.error);
  } catch (hang) {
    found.push(String((hang as Error).message));
  }
  return undefined;
}

// ---- options ---------------------------------------------------------------------------

const OPTION_KEYS = [
  'backend',
  'placement',
  'trusted',
  'capabilities',
  'hostFunctions',
  'authorize',
  'onHostCall',
  'limits',
  'config',
  'onOutput',
  'onLog',
  'state',
  'allowedHosts',
  'mounts',
  'snapshot',
  'signal',
  'packages',
  'restore',
  'onInput',
];
const LIMIT_KEYS = [
  'timeoutMs',
  'memoryBytes',
  'maxCodeBytes',
  'maxOutputBytes',
  'maxValueDepth',
  'maxValueBytes',
  'graceMs',
  'hostCalls',
  'bogus',
];
const POOL_KEYS = ['min', 'max', 'maxQueue', 'idleTimeoutMs', 'recycleAfter', 'reset', 'init', 'healthCheckMs', 'template'];

/** A value that is plausible for `key` about half the time, hostile otherwise. */
function optionValue(rng: Rng, key: string): unknown {
  if (rng.chance(0.45)) return randomAny(rng);
  switch (key) {
    case 'backend':
      return rng.pick(['wasm', 'native', 'auto', 'WASM', 10n, '']);
    case 'placement':
      return rng.pick(['worker', 'process', 'inline', 'thread', 10n]);
    case 'trusted':
      return rng.pick([true, false, 'true', 1]);
    case 'capabilities':
      return Array.from({ length: rng.int(4) }, () => (rng.chance(0.7) ? randomString(rng, 12) : randomAny(rng)));
    case 'hostFunctions': {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(3); i > 0; i--)
        o[randomString(rng, 12)] = rng.chance(0.5)
          ? () => 1
          : rng.chance(0.5)
            ? { fn: () => 1, capability: randomAny(rng) }
            : randomAny(rng);
      return o;
    }
    case 'limits': {
      const o: Record<string, unknown> = {};
      for (let i = 1 + rng.int(3); i > 0; i--) {
        const k = rng.pick(LIMIT_KEYS);
        o[k] =
          k === 'hostCalls'
            ? { [randomString(rng, 8)]: rng.pick(EDGE_NUMBERS) }
            : rng.chance(0.7)
              ? rng.pick(EDGE_NUMBERS)
              : randomAny(rng);
      }
      if (!rng.chance(0.2)) return o;
      // A hostile object may trap the copy itself (its own getters and traps throw): then it goes in as it is.
      const hostile = hostileObject(rng) as object;
      try {
        return Object.assign(hostile, o);
      } catch {
        return hostile;
      }
    }
    case 'allowedHosts':
      return Array.from({ length: rng.int(3) }, () => randomString(rng, 20));
    case 'mounts':
      // Paths under the temp dir only: a mount that validates could be created for real.
      return [
        {
          hostPath: rng.chance(0.5) ? join(tmpdir(), 'scriptbox-fuzz-none', randomString(rng, 6).replace(/[/\\\0]/g, '_')) : randomAny(rng),
          path: randomString(rng, 10),
          readOnly: randomAny(rng),
        },
      ];
    case 'snapshot':
      // No random directory names: a valid one would receive snapshot files.
      return rng.pick([true, false, { spare: randomAny(rng) }, { dir: 42 }, { dir: '' }, { bogus: 1 }, 'yes']);
    case 'signal':
      return rng.pick([new AbortController().signal, {}, AbortSignal.abort(), 'signal']);
    default:
      return randomAny(rng);
  }
}

function randomOptions(rng: Rng, pool: boolean): unknown {
  if (rng.chance(0.1)) return rng.chance(0.5) ? randomAny(rng) : hostileObject(rng);
  const o: Record<string, unknown> = {};
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const key = rng.chance(0.1) ? randomString(rng, 10) : rng.pick(pool && rng.chance(0.5) ? POOL_KEYS : OPTION_KEYS);
    o[key] = optionValue(rng, key);
  }
  if (pool) {
    // A valid huge `min` really boots that many engines: keep whole numbers small, every other kind of junk stays.
    for (const k of ['min', 'max']) if (typeof o[k] === 'number' && Number.isInteger(o[k]) && (o[k] as number) > 2) o[k] = 2;
    if (typeof o.init === 'string') o.init = 'x = 1';
  }
  if (rng.chance(0.15)) {
    // Getters that throw, on an otherwise ordinary key.
    Object.defineProperty(o, rng.pick([...OPTION_KEYS, ...(pool ? POOL_KEYS : [])]), {
      enumerable: true,
      get() {
        throw new Trap('option getter');
      },
    });
  }
  return o;
}

describe('fuzz: options', () => {
  it(
    `createEngine and createPool reject bad options with typed errors only (seed ${SEED})`,
    async () => {
      const rng = new Rng(SEED);
      const found: Found = [];
      let booted = 0;
      for (let i = 0; i < count(500); i++) {
        const pool = rng.chance(0.3);
        // Lua boots in milliseconds: options that happen to be valid cost little. Python only sees the checks.
        const language = rng.weighted<unknown>([
          [8, 'lua'],
          [1, 'python'],
          [1, randomAny(rng)],
        ]);
        const opts = randomOptions(rng, pool);
        if (language === 'python' && opts && typeof opts === 'object') {
          try {
            (opts as Record<string, unknown>).bogusKeyForPython = 1;
          } catch {
            // a hostile object of the test's own making refused the key: it goes in as it is
          }
        }
        const what = `#${i} ${pool ? 'createPool' : 'createEngine'}(${describeInput(language)}, ${describeInput(opts)})`;
        const made = await attempt(
          found,
          what,
          () => (pool ? createPool(language as 'lua', opts as never) : createEngine(language as 'lua', opts as never)),
          120_000,
        );
        if (made && typeof (made as { dispose?: unknown }).dispose === 'function') {
          booted++;
          await attempt(found, `${what}.dispose()`, () => (made as { dispose(): Promise<void> }).dispose());
        }
      }
      console.log(`options fuzz: ${count(500)} tries, ${booted} valid enough to boot`);
      expect(found).toEqual([]);
      expect(unhandled).toEqual([]);
    },
    20 * 60_000,
  );
});

// ---- names, values and handles on real engines ----------------------------------------

const PY_CODE = `
class Counter:
    def __init__(self, start=0):
        self.n = start
    def add(self, k=1):
        self.n += k
        return self.n

def double(x):
    return x * 2

def echo(*a):
    return list(a)
`;
const LUA_CODE = `
Counter = {}
Counter.__index = Counter
function Counter.new(start) return setmetatable({ n = start or 0 }, Counter) end
function Counter:add(k) self.n = self.n + (k or 1); return self.n end
function double(x) return x * 2 end
function echo(...) return { ... } end
`;

describe('fuzz: names, values and handles on real engines (worker placement)', () => {
  const engines: Record<'python' | 'lua', ScriptEngine> = {} as never;
  beforeAll(async () => {
    const common = {
      limits: { timeoutMs: 3000, graceMs: 200 },
      capabilities: ['log', 'kv.*', 'channel.*', 'config.read'],
      onLog: () => {},
    };
    engines.lua = await createEngine('lua', common);
    engines.python = await createEngine('python', common);
    await engines.lua.load(LUA_CODE, 'fuzz');
    await engines.python.load(PY_CODE, 'fuzz');
  }, 120_000);
  afterAll(async () => {
    await Promise.all(Object.values(engines).map((e) => e?.dispose()));
  });

  const probe = async (found: Found, lang: 'python' | 'lua', when: string) => {
    const e = engines[lang];
    const r = (await attempt(found, `${lang} probe ${when}`, () => e.exec(lang === 'python' ? '6 * 7' : 'return 6 * 7'))) as
      { value?: unknown } | undefined;
    if (r?.value !== 42) found.push(`${lang} probe ${when}: the engine no longer answers 42 (${describeInput(r)})`);
  };

  for (const lang of ['lua', 'python'] as const) {
    it(
      `${lang}: random names, arguments and run options give values or typed errors (seed ${SEED})`,
      async () => {
        const rng = new Rng(SEED ^ (lang === 'lua' ? 1 : 2));
        const e = engines[lang];
        const found: Found = [];
        const handles: RemoteObject[] = [];
        const name = () => (rng.chance(0.85) ? randomString(rng, 30) : randomAny(rng));
        const args = () => (rng.chance(0.3) ? randomAny(rng) : Array.from({ length: rng.int(4) }, () => randomAny(rng)));
        const runOpts = () =>
          rng.chance(0.6) ? undefined : rng.chance(0.5) ? { timeoutMs: rng.pick([...EDGE_NUMBERS, 50, 1000]) } : randomAny(rng);
        const n = count(lang === 'lua' ? 800 : 400);
        for (let i = 0; i < n; i++) {
          const op = rng.int(12);
          const h = handles.length ? rng.pick(handles) : undefined;
          const a = [name(), args(), runOpts()] as const;
          const what = `${lang} #${i} op${op}(${describeInput(a[0])}, ${describeInput(a[1])}, ${describeInput(a[2])})`;
          const r = await attempt(found, what, () => {
            switch (op) {
              case 0:
                return e.call(a[0] as string, a[1] as never, a[2] as never);
              case 1:
                return e.create(a[0] as string, a[1] as never, a[2] as never);
              case 2:
                return e.call(rng.pick(['double', 'echo']), a[1] as never, a[2] as never);
              case 3:
                return e.exec(rng.chance(0.5) ? (a[0] as string) : (randomAny(rng) as string), a[2] as never);
              case 4:
                return e.load(lang === 'python' ? 'fz = 1' : 'fz = 1', a[0] as string);
              case 5:
                return e.registerHostFunction(
                  a[0] as string,
                  (rng.chance(0.7) ? () => 1 : randomAny(rng)) as never,
                  rng.chance(0.5) ? undefined : ({ capability: randomAny(rng) } as never),
                );
              case 6:
                return e.create('Counter', [rng.int(10)]);
              case 7:
                return h ? h.call(a[0] as string, a[1] as never, a[2] as never) : undefined;
              case 8:
                return h ? h.get(a[0] as string, a[2] as never) : undefined;
              case 9:
                return rng.pick([
                  () => e.configure(randomAny(rng) as never),
                  () => e.cleanup(a[0] as string),
                  () => e.warmup(a[0] as string, a[1] as never),
                  () => e.loadInit('fz = 2', a[0] as string),
                ])();
              case 10:
                // A value past maxValueDepth, or a cyclic / class-instance argument.
                return e.call('echo', [rng.pick([deepValue(70 + rng.int(500)), hostileObject(rng), new Map([[{}, 1]])]) as never]);
              default:
                return lang === 'python'
                  ? e.install(rng.chance(0.5) ? rng.bytes(rng.int(64)) : (randomAny(rng) as never))
                  : e.call('echo', [rng.bytes(rng.int(64))]);
            }
          });
          if (r && typeof r === 'object' && 'dispose' in r && 'call' in r) handles.push(r as RemoteObject);
          if (i % 50 === 49) await probe(found, lang, `after #${i}`);
        }
        for (const h of handles.splice(0)) await attempt(found, `${lang} dispose handle`, () => h.dispose());
        await probe(found, lang, 'at the end');
        expect(found).toEqual([]);
        expect(unhandled).toEqual([]);
      },
      20 * 60_000,
    );
  }

  it('scripts calling the built-ins with hostile arguments get plain script errors, never internal ones', async () => {
    const found: Found = [];
    const py = [
      'import host\nhost.log("x", 2**70)',
      'import host\nhost.log("x", level=[1, 2])',
      'import host\nhost.log(2**80)',
      'import host\nhost.channel.receive("c", 2**70)',
      'import host\nhost.channel.receive("c", float("nan"))',
      'import host\nhost.channel.receive(2**70, 0)',
      'import host\nhost.channel.send("\\ud800", 1)',
      'import host\nhost.kv.set(2**70, 1)',
      'import host\nhost.kv.set(b"\\xff", 1)',
      'import host\nhost.kv.get({"a": 1})',
      'import host\nhost.kv.keys(2**70)',
      'import host\nhost.config.get(2**70)',
      'import host\nhost.config.get("a" * 100000)',
      'import host\nhost.nope.deeper.still(1)',
      'import host\nawait host.aio.channel.receive("c", 2**70)',
      'import host\nawait host.aio.log("x", 2**70)',
    ];
    const lua = [
      'host.log("x", {})',
      'host.log("x", 2^70)',
      'host.log(setmetatable({}, { __tostring = function() error("boom") end }))',
      'return host.channel.receive("c", 0/0)',
      'return host.channel.receive("c", math.huge)',
      'return host.channel.receive({}, 0)',
      'host.kv.set({}, 1)',
      'host.kv.set("k", function() end)',
      'host.kv.set("k", coroutine.create(function() end))',
      'return host.kv.keys(2^70)',
      'return host.config.get(0/0)',
      'return host.nope.deeper(1)',
    ];
    for (const [lang, codes] of [
      ['python', py],
      ['lua', lua],
    ] as const) {
      for (const code of codes) {
        const r = (await attempt(found, `${lang}: ${code}`, () => engines[lang].exec(code, { timeoutMs: 500 }))) as
          { success?: boolean; error?: { type: string; message: string } } | undefined;
        if (r && typeof r.success !== 'boolean') found.push(`${lang}: ${code}: not an ExecResult`);
        if (r?.error && LEAK.test(r.error.message))
          found.push(`${lang}: ${code}: internal error leaked as ${r.error.type}: ${r.error.message.slice(0, 200)}`);
      }
      await probe(found, lang, 'after the hostile built-in calls');
    }
    expect(found).toEqual([]);
    expect(unhandled).toEqual([]);
  }, 120_000);

  it('forged, disposed, foreign and stale handles are refused with typed errors', async () => {
    const found: Found = [];
    const py = await engines.python.create('Counter', [1]);
    const lua = await engines.lua.create('Counter', [1]);
    const Ctor = (py as unknown as { constructor: new (...a: unknown[]) => unknown }).constructor;
    const forged = Object.assign(Object.create(Object.getPrototypeOf(py)) as object, {
      id: py.id,
      kind: 'Counter',
      generation: 0,
      disposed: false,
    }) as unknown as RemoteObject;
    const ownerless = Object.assign(Object.create(Object.getPrototypeOf(py)) as object, {
      id: py.id,
      kind: 'Counter',
      owner: {},
      generation: 0,
      disposed: false,
    });
    const lookalike = { id: py.id, kind: 'Counter', call: async () => 1, get: async () => 1, dispose: async () => {} };
    const attempts: [string, () => unknown][] = [
      ['new RemoteObject()', () => new Ctor({}, engines.python, 1, 'Counter', 0)],
      ['new RemoteObject() with no token', () => new Ctor()],
      ['a forged handle as an argument', () => engines.python.call('echo', [forged as never])],
      ['a forged handle with a fake owner as an argument', () => engines.python.call('echo', [ownerless as never])],
      ['a look-alike object as an argument', () => engines.python.call('echo', [lookalike as never])],
      ["another engine's handle as an argument", () => engines.python.call('echo', [lua as never])],
      ["python's handle into lua", () => engines.lua.call('echo', [py as never])],
      ['a forged handle used directly', () => forged.call('add', [1])],
      ['a forged handle read', () => forged.get('n')],
      ['a forged handle disposed', () => forged.dispose()],
    ];
    for (const [what, f] of attempts) await attempt(found, what, f);
    // Ids rewritten on a real handle: unknown to the engine, or not an id at all.
    for (const id of [999_999, -1, 2 ** 53, NaN, 1.5, '1', null]) {
      const h = await engines.lua.create('Counter', [1]);
      (h as unknown as { id: unknown }).id = id;
      await attempt(found, `a handle whose id became ${String(id)}: call`, () => h.call('add', [1]));
      await attempt(found, `a handle whose id became ${String(id)}: as an argument`, () => engines.lua.call('echo', [h as never]));
      await attempt(found, `a handle whose id became ${String(id)}: dispose`, () => h.dispose());
    }
    // Disposed: every use is DisposedError.
    await py.dispose();
    for (const [what, f] of [
      ['call', () => py.call('add', [1])],
      ['get', () => py.get('n')],
      ['as an argument', () => engines.python.call('echo', [py as never])],
    ] as const) {
      const r = await settles(f(), `a disposed handle: ${what}`);
      if (r.ok || (r.error as ScriptBoxError)?.code !== 'DISPOSED')
        found.push(
          `a disposed handle (${what}): ${r.ok ? 'answered' : describeInput((r.error as Error)?.message)}, expected DisposedError`,
        );
    }
    // Stale: the engine restarted (code stuck in a C pattern match is killed), so older handles are dead.
    const stale = await engines.lua.create('Counter', [1]);
    await engines.lua.exec('local s = string.rep("a", 40000) return s:find(".-.-.-.-.-.-b")', { timeoutMs: 200 });
    const r = await settles(stale.call('add', [1]), 'a handle from before the restart');
    if (r.ok || (r.error as ScriptBoxError)?.code !== 'DISPOSED')
      found.push(
        `a handle from before a restart: ${r.ok ? 'answered' : describeInput((r.error as Error)?.message)}, expected DisposedError`,
      );
    await lua.dispose();
    await probe(found, 'lua', 'after the handle attacks');
    await probe(found, 'python', 'after the handle attacks');
    expect(found).toEqual([]);
    expect(unhandled).toEqual([]);
  }, 120_000);
});

// ---- frames ----------------------------------------------------------------------------

const OUT = { stdout: '', stderr: '', truncated: false };
const FAILURE_KINDS = ['script', 'timeout', 'interrupted', 'aborted', 'memory', 'invalid', 'crashed', 'other'];

/** An engine -> host message: a well-formed one, one with fields swapped for junk, or junk. */
function randomToHost(rng: Rng): unknown {
  const v = () => (rng.chance(0.7) ? rng.pick([1, 'x', null, [1, 2], { a: 1 }, true, 2n ** 70n, new Uint8Array(3)]) : randomAny(rng));
  const templates: Record<string, unknown>[] = [
    { t: 'done', value: v(), defined: true, out: OUT },
    {
      t: 'failed',
      failure: {
        kind: rng.pick(FAILURE_KINDS),
        type: randomString(rng, 10),
        message: randomString(rng),
        line: rng.pick([1, -1, 1.5, NaN]),
      },
      out: OUT,
    },
    { t: 'output', stream: rng.pick(['stdout', 'stderr', 'stdin']), text: randomString(rng, 200) },
    { t: 'hostCall', name: rng.pick(['log', 'kv.get', 'kv.set', 'nope', randomString(rng, 10)]), args: [v(), v()] },
    { t: 'hostStart', id: rng.pick([1, -1, 2 ** 60, 1.5]), name: rng.pick(['log', 'kv.get', randomString(rng, 10)]), args: [v()] },
    { t: 'hostWait', timeoutMs: rng.pick([0, 1, 50, -1, NaN, Infinity, 1e308]) },
    { t: 'stats', memoryBytes: rng.pick(EDGE_NUMBERS), handles: rng.pick(EDGE_NUMBERS) },
    { t: 'ready', boot: rng.chance(0.5) ? undefined : { restored: v(), snapshot: rng.bytes(rng.int(16)) } },
    { t: 'fatal', message: randomString(rng) },
    { t: randomString(rng, 12) },
  ];
  const m = rng.pick(templates);
  if (rng.chance(0.5)) {
    const keys = Object.keys(m);
    const k = rng.chance(0.8) && keys.length ? rng.pick(keys) : randomString(rng, 8);
    m[k] = randomAny(rng);
  }
  return rng.chance(0.05) ? randomAny(rng) : m;
}

/** Bytes for one inbound frame: an encoded message, maybe mutated, or random bytes. */
function randomFrameBytes(rng: Rng): Uint8Array {
  if (rng.chance(0.1)) return rng.bytes(rng.int(40));
  let bytes: Uint8Array;
  try {
    bytes = encode(randomToHost(rng));
  } catch {
    // The codec refuses what cannot be a message (a function, a symbol): send junk instead.
    bytes = rng.bytes(1 + rng.int(20));
  }
  return rng.chance(0.4) ? mutateBytes(rng, bytes) : bytes;
}

describe('fuzz: frames into the host', () => {
  it(`the protocol's decoders accept a message or throw EngineCrashedError, nothing else (seed ${SEED})`, async () => {
    const rng = new Rng(SEED ^ 3);
    const found: Found = [];
    for (let i = 0; i < count(5000); i++) {
      const input: unknown = rng.chance(0.15) ? randomAny(rng) : randomFrameBytes(rng);
      for (const [name, parse] of [
        ['parseToHost', (x: unknown) => parseToHost(decodeMessage(x), rng.pick([4, 64, 1000]), rng.pick([0, 16]))],
        ['parseFromProcess', (x: unknown) => parseFromProcess(x instanceof Uint8Array ? decodeMessage(x) : x, 64)],
      ] as const) {
        try {
          parse(input);
        } catch (e) {
          // A Trap is a proxy of this test's own making; real inbound values come from the decoder or structured clone, which make none.
          if (e instanceof Trap) continue;
          if (!(e instanceof ScriptBoxError) || e.code !== 'ENGINE_CRASHED')
            found.push(`#${i} ${name}(${describeInput(input)}): ${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 200)}`);
        }
      }
      // The frame reader takes any chunking of any bytes without throwing.
      const reader = new FrameReader(
        rng.pick([0, 16, 1 << 20]),
        () => {},
        () => {},
      );
      try {
        const bytes = rng.chance(0.5) ? frame(randomFrameBytes(rng)) : rng.bytes(rng.int(64));
        for (let at = 0; at < bytes.length;) {
          const n = 1 + rng.int(8);
          reader.push(bytes.subarray(at, at + n));
          at += n;
        }
      } catch (e) {
        found.push(`#${i} FrameReader: ${(e as Error)?.name}: ${(e as Error)?.message}`);
      }
    }
    expect(found).toEqual([]);
  }, 120_000);

  /**
   * A worker whose core boots properly, answers stats() properly, and answers every other
   * message with 1-3 random replies; after `honestAfter` replies in one request it answers
   * `done`, so a request that the host keeps serving (host calls) still ends.
   */
  function fuzzingWorker(rng: Rng): () => Endpoint {
    return () => {
      let listener: ((m: unknown) => void) | undefined;
      let replies = 0;
      const send = (m: unknown) => setImmediate(() => listener?.(m));
      return {
        post(message: unknown) {
          if (!(message instanceof Uint8Array)) return send(encode({ t: 'ready' }));
          const msg = decode(message) as { t: string };
          if (msg.t === 'stats') return send(encode({ t: 'stats', memoryBytes: 1024, handles: 0 }));
          if (msg.t === 'exec' || msg.t === 'call') replies = 0;
          if (++replies > 4) return send(encode({ t: 'done', value: 'honest', defined: true, out: OUT }));
          for (let k = 1 + rng.int(3); k > 0; k--) send(rng.chance(0.1) ? randomAny(rng) : randomFrameBytes(rng));
        },
        onMessage(cb) {
          listener = cb;
        },
        onExit() {},
        async terminate() {
          listener = undefined;
        },
      };
    };
  }

  /** The same as a child process: replies are framed, sometimes split, sometimes raw bytes or an oversized header. */
  function fuzzingChild(rng: Rng): () => ProcessPipe {
    return () => {
      let deliver: ((c: Uint8Array) => void) | undefined;
      let alive = true;
      let replies = 0;
      const push = (b: Uint8Array) => setImmediate(() => alive && deliver?.(b));
      const reader = new FrameReader(
        1 << 30,
        (f) => {
          const msg = decode(f) as ToProcess;
          if (msg.t === 'boot') return push(frame(encode({ t: 'ready' })));
          if (msg.t === 'interrupt' || msg.t === 'clearInterrupt') return;
          if (msg.t === 'stats') return push(frame(encode({ t: 'stats', memoryBytes: 1024, handles: 0 })));
          if (msg.t === 'exec' || msg.t === 'call') replies = 0;
          if (++replies > 4) return push(frame(encode({ t: 'done', value: 'honest', defined: true, out: OUT })));
          for (let k = 1 + rng.int(3); k > 0; k--) {
            const kind = rng.int(10);
            if (kind === 0) push(rng.bytes(1 + rng.int(12)));
            else if (kind === 1) push(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
            else {
              const bytes = frame(randomFrameBytes(rng));
              const cut = rng.chance(0.3) ? 1 + rng.int(bytes.length) : bytes.length;
              push(bytes.subarray(0, cut));
              if (cut < bytes.length) push(bytes.subarray(cut));
            }
          }
        },
        () => {},
      );
      return {
        write: (b) => reader.push(b),
        onData: (cb) => {
          deliver = cb;
        },
        onExit: () => {},
        booted: () => {},
        kill: async () => {
          alive = false;
        },
      };
    };
  }

  for (const via of ['worker (postMessage)', 'process (framed pipe)'] as const) {
    it(
      `a core that answers with random and mutated frames (${via}): typed results, the engine recovers (seed ${SEED})`,
      async () => {
        const rng = new Rng(SEED ^ (via.startsWith('worker') ? 4 : 5));
        const found: Found = [];
        const resolved = resolveOptions('lua', { limits: { timeoutMs: 300, graceMs: 50 }, capabilities: ['log', 'kv.*'], onLog: () => {} });
        const engine = via.startsWith('worker')
          ? new Engine(resolved, (init) => connectWorker(init, fuzzingWorker(rng), { sharedMemory: false }))
          : new Engine(resolved, (init) => connectProcess(init, fuzzingChild(rng)));
        await engine.start();
        try {
          for (let i = 0; i < count(300); i++) {
            if (rng.chance(0.6)) {
              const r = (await attempt(found, `#${i} exec`, () => engine.exec('return 1'))) as
                { success?: unknown; error?: { type: string; message: string } } | undefined;
              if (r && typeof r.success !== 'boolean') found.push(`#${i} exec: not an ExecResult (${describeInput(r)})`);
              if (r?.error && LEAK.test(r.error.message) && !DECODER.test(r.error.message))
                found.push(`#${i} exec: internal error leaked as ${r.error.type}: ${r.error.message.slice(0, 200)}`);
            } else {
              await attempt(found, `#${i} call`, () => engine.call('f', [1]));
            }
          }
          await attempt(found, 'stats', () => engine.stats());
        } finally {
          await attempt(found, 'dispose', () => engine.dispose());
        }
        expect(found).toEqual([]);
        expect(unhandled).toEqual([]);
      },
      10 * 60_000,
    );
  }
});
