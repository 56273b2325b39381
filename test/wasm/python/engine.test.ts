/**
 * The Python backend on real Pyodide, in a worker (one boot for most tests) and inline;
 * the shared suite also runs against native CPython (native-bridge/cpython) in every
 * placement, where libpython is available. Where native behaves differently by design
 * (trusted: full standard library, no wasm sandbox; C code that never returns cannot be
 * stopped in place), the test branches on `native` and says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEngine,
  DisposedError,
  InvalidInputError,
  MemoryLimitError,
  ScriptError,
  UnavailableError,
  type RemoteObject,
  type ScriptEngine,
} from '../../../src/index.js';
import { nativeAvailable } from '../../../src/node/native-libs.js';

const TARGETS = [
  { name: 'wasm, worker placement', backend: 'wasm', placement: 'worker', trusted: false },
  { name: 'native, inline placement', backend: 'native', placement: 'inline', trusted: true },
  { name: 'native, worker placement', backend: 'native', placement: 'worker', trusted: true },
  { name: 'native, process placement', backend: 'native', placement: 'process', trusted: false },
] as const;
const targets = TARGETS.filter((t) => t.backend === 'wasm' || nativeAvailable('python'));

/** A pure-Python wheel, built by Pyodide's own zipfile (no tool outside the test). */
const WHEEL_SRC = `
import io, zipfile
def wheel(name, version, module, requires=()):
    buf = io.BytesIO()
    dist = f'{name}-{version}.dist-info'
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr(f'{name}/__init__.py', module)
        meta = f'Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n' + ''.join(f'Requires-Dist: {r}\\n' for r in requires)
        z.writestr(f'{dist}/METADATA', meta)
        z.writestr(f'{dist}/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
        z.writestr(f'{dist}/RECORD', '')
    return buf.getvalue()
`;

describe.each(targets)('Python engine, $name', (target) => {
  let engine: ScriptEngine;
  const streamed: string[] = [];
  const audit: { name: string; allowed: boolean }[] = [];
  const native = target.backend === 'native';
  // Native CPython in the caller's process (inline, worker) cannot stop C code that never
  // returns to the interpreter: only killing the process does (DESIGN §5).
  const stoppableInC = !native || target.placement === 'process';

  beforeAll(async () => {
    engine = await createEngine('python', {
      backend: target.backend,
      placement: target.placement,
      trusted: target.trusted,
      capabilities: ['echo', 'users.*', 'slow', 'boom'],
      hostFunctions: {
        echo: (x: unknown) => x,
        'users.get': async (id: unknown) => ({ id, name: 'ann' }),
        slow: () => new Promise((r) => setTimeout(() => r('late'), 50)),
        secret: () => 'no',
        boom: () => {
          throw new Error('host failure');
        },
      },
      onHostCall: (e) => audit.push({ name: e.name, allowed: e.allowed }),
      onOutput: (c) => streamed.push(c.text),
      limits: { timeoutMs: 5000, maxOutputBytes: 4096, graceMs: 300 },
    });
  }, 60_000);
  afterAll(async () => {
    await engine?.dispose();
  });

  it('runs on the backend and placement it was asked for', () => {
    expect(engine.backend).toBe(target.backend);
    expect(engine.placement).toBe(target.placement);
  });

  it('execs like a REPL: trailing value, persistent globals, top-level await', async () => {
    expect((await engine.exec('1 + 1')).value).toBe(2);
    expect((await engine.exec('x = 20\nx + 1')).value).toBe(21);
    expect((await engine.exec('x * 2')).value).toBe(40);
    expect((await engine.exec('y = 3')).value).toBe(null);
    const r = await engine.exec(
      'import asyncio\nasync def f(v):\n    await asyncio.sleep(0.01)\n    return v\nawait asyncio.gather(f(1), f(2))',
    );
    expect(r.value).toEqual([1, 2]);
    expect((await engine.exec('asyncio.run(f(5))')).value).toBe(5);
  });

  it('captures print and stderr, streams them, and cuts at maxOutputBytes', async () => {
    streamed.length = 0;
    const r = await engine.exec('import sys\nprint("hello", 42)\nprint("oops", file=sys.stderr)');
    expect(r.stdout).toBe('hello 42\n');
    expect(r.stderr).toBe('oops\n');
    expect(streamed.join('')).toContain('hello 42');
    const big = await engine.exec('for i in range(2000):\n    print("line", i)');
    expect(big.truncated).toBe(true);
    expect(big.stdout.length).toBeLessThanOrEqual(4096);
  });

  it('returns script errors as data, with the traceback trimmed to the script', async () => {
    const r = await engine.exec('def f():\n    raise ValueError("bad value")\nf()');
    expect(r.success).toBe(false);
    expect(r.error).toMatchObject({ type: 'ValueError', message: 'bad value', line: 2 });
    expect(r.error!.traceback).toContain('File "<input>", line 2, in f');
    expect(r.error!.traceback).not.toContain('<scriptbox>');
    const s = await engine.exec('1 +');
    expect(s.error).toMatchObject({ type: 'SyntaxError', line: 1 });
    expect(s.error!.traceback).not.toContain('ast.py');
    expect(engine.lastError).toBeInstanceOf(ScriptError);
  });

  it('load, call (plain, async, dotted), warmup, cleanup, reload', async () => {
    await engine.load(
      'import asyncio\ncount = 0\ndef add(a, b):\n    return a + b\nasync def aadd(a, b):\n    await asyncio.sleep(0)\n    return a + b\nclass geom:\n    @staticmethod\n    def area(w, h):\n        return w * h\ndef bump():\n    global count\n    count += 1\n    return count\ndef cleanup():\n    global count\n    count = -1\n',
      'lib.py',
    );
    expect(await engine.call('add', [2, 3])).toBe(5);
    expect(await engine.call('aadd', [2, 3])).toBe(5);
    expect(await engine.call('geom.area', [3, 4])).toBe(12);
    await engine.warmup('bump');
    expect(await engine.call('bump')).toBe(2);
    await engine.cleanup();
    expect((await engine.exec('count')).value).toBe(-1);
    await engine.reload('lib.py');
    expect((await engine.exec('count')).value).toBe(0);
    await expect(engine.call('nope')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(engine.call('count')).rejects.toThrow(/has type int, not a function/);
  });

  it('a syntax error in load is a ScriptError with the line', async () => {
    const e = await engine.load('def f(:\n    pass', 'broken.py').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ScriptError);
    expect((e as ScriptError).line).toBe(1);
    expect((e as ScriptError).type).toBe('SyntaxError');
  });

  it('loadInit calls init()', async () => {
    await engine.loadInit('ready = False\ndef init():\n    global ready\n    ready = True\n', 'init.py');
    expect((await engine.exec('ready')).value).toBe(true);
  });

  it('converts values both ways (DESIGN §4)', async () => {
    await engine.load('def same(v):\n    return v\ndef kinds(v):\n    return [type(x).__name__ for x in v]\n', 'vals.py');
    const v = [null, true, 7, 1.5, 'txt', new Uint8Array([1, 2, 255]), [1, [2]], { a: 1 }, 2n ** 70n];
    expect(await engine.call('kinds', [v])).toEqual(['NoneType', 'bool', 'int', 'float', 'str', 'bytes', 'list', 'dict', 'int']);
    expect(await engine.call('same', [v])).toEqual(v);
    // KNOWN BUG outside this suite (reported): the inline placement hands the core the
    // host's MapEntries wrapper instead of a Map, so a Map argument arrives as a dict
    // {'entries': ...}. Worker and process placements decode it through msgpack.
    if (target.placement !== 'inline') expect(await engine.call('same', [new Map([[1, 'one']])])).toEqual(new Map([[1, 'one']]));
    expect((await engine.exec('(1, 2)')).value).toEqual([1, 2]);
    expect((await engine.exec('{1: "a", 2: "b"}')).value).toEqual(
      new Map([
        [1, 'a'],
        [2, 'b'],
      ]),
    );
    expect((await engine.exec('float("nan")')).value).toBeNaN();
    // A trailing value with no value form shows as its repr, like the Python prompt.
    expect((await engine.exec('len')).value).toBe('<built-in function len>');
    await engine.load('def fn():\n    return len\ndef cyc():\n    a = []\n    a.append(a)\n    return a\n', 'bad.py');
    // From call, it comes back as a RemoteObject (test/remote-object.test.ts has the rest).
    const len = (await engine.call('fn')) as RemoteObject;
    expect(len.kind).toBe('builtin_function_or_method');
    expect(await len.call('__call__', [[1, 2, 3]])).toBe(3);
    await len.dispose();
    await expect(engine.call('cyc')).rejects.toThrow(/cycle/);
  });

  it('import host: calls granted functions with plain data, denies the rest', async () => {
    audit.length = 0;
    expect((await engine.exec('import host\nhost.echo({"a": [1, b"x"]})')).value).toEqual({ a: [1, new Uint8Array([120])] });
    // Inline, host functions must be synchronous (src/placement/inline.ts): these two are async.
    if (target.placement !== 'inline') {
      expect((await engine.exec('host.users.get(7)')).value).toEqual({ id: 7, name: 'ann' });
      expect((await engine.exec('host.slow()')).value).toBe('late');
    }
    const denied = await engine.exec('host.secret()');
    expect(denied.error).toMatchObject({ type: 'PermissionError' });
    expect(denied.error!.message).toContain('secret');
    expect(audit).toContainEqual({ name: 'secret', allowed: false });
    const failed = await engine.exec(
      'try:\n    host.boom()\nexcept Exception as e:\n    r = (type(e).__name__, str(e), hasattr(e, "js_error"))\nr',
    );
    expect(failed.value).toEqual(['HostError', expect.stringContaining('host failure'), false]);
    const ro = await engine.exec('host.echo = 1');
    expect(ro.error?.type).toBe('AttributeError');
    expect((await engine.exec('host.nothing()')).error?.type).toBe('AttributeError');
    expect((await engine.exec('host.echo(lambda: 1)')).error?.type).toBe('TypeError');
  });

  // Native CPython is trusted and unsandboxed: the full standard library, ctypes included.
  it.runIf(native)('imports what the sandbox blocks: native has the full standard library', async () => {
    expect((await engine.exec('import ctypes, sys\n[ctypes.sizeof(ctypes.c_void_p), "pyodide" in sys.modules]')).value).toEqual([8, false]);
  });

  it.skipIf(native)('no JavaScript object is reachable from Python', async () => {
    const r = await engine.exec(
      'import gc\nfound = []\nfor o in gc.get_objects():\n    vals = o.values() if type(o) is dict else ()\n    for v in list(vals):\n        if type(v).__name__ == "JsProxy":\n            found.append(repr(v)[:40])\nfound',
    );
    expect(r.value).toEqual([]);
    for (const mod of ['js', 'pyodide_js', 'pyodide', '_pyodide_core', 'ctypes']) {
      const imp = await engine.exec(`import ${mod}`);
      expect(imp.error?.type, mod).toBe('ModuleNotFoundError');
    }
    // Even a JS object made through the C module leads nowhere near Function.
    const viaCore = await engine.exec(
      'import _imp, importlib.machinery as im\nc = _imp.create_builtin(im.ModuleSpec("_pyodide_core", im.BuiltinImporter, origin="built-in"))\na = c.to_js({"x": 1})\nrepr(a.constructor.constructor)',
    );
    expect(viaCore.value).toBe('None');
  });

  // Inline, the script blocks the caller's thread: interrupt() cannot run until it ends.
  it.skipIf(target.placement === 'inline')('stops an endless loop on interrupt() and answers afterwards', async () => {
    const running = engine.exec('while True:\n    pass');
    setTimeout(() => engine.interrupt(), 200);
    const r = await running;
    expect(r.success).toBe(false);
    expect(r.error?.type).toBe('Interrupted');
    expect((await engine.stats()).lastEscalation).toBe('interrupted');
    expect((await engine.exec('1 + 2')).value).toBe(3);
  });

  it('time.sleep and asyncio.sleep are interruptible; input() does not block', async () => {
    const t0 = performance.now();
    const r = await engine.exec('import time\ntime.sleep(60)', { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(performance.now() - t0).toBeLessThan(10_000);
    const a = await engine.exec('import asyncio\nawait asyncio.sleep(60)', { timeoutMs: 300 });
    expect(a.timedOut).toBe(true);
    expect((await engine.exec('input("name? ")')).error?.type).toBe('EOFError');
    expect((await engine.stats()).restarts).toBe(0);
  });

  it('a loop stopped inside a top-level await leaves the event loop usable', async () => {
    // The stop keeps interrupting until the request ends, so it may cut the loop's own
    // cleanup short: the next request must still get a loop that is not "running".
    for (let i = 0; i < 3; i++) {
      const r = await engine.exec('import asyncio\nawait asyncio.sleep(0)\nwhile True:\n    pass', { timeoutMs: 300 });
      expect(r.timedOut).toBe(true);
      expect((await engine.exec('await asyncio.sleep(0)\n5')).value).toBe(5);
    }
  });

  it('ends code that swallows KeyboardInterrupt', async () => {
    const r = await engine.exec('while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass', {
      timeoutMs: 300,
    });
    expect(r.timedOut).toBe(true);
    expect((await engine.exec('2 + 2')).value).toBe(4);
  });

  it.runIf(stoppableInC)(
    'kills and restarts code stuck in C that never checks for interrupts, replaying loads',
    async () => {
      const before = (await engine.stats()).restarts;
      const r = await engine.exec('sum(range(10**15))', { timeoutMs: 300 });
      expect(r.timedOut).toBe(true);
      const stats = await engine.stats();
      expect(stats.restarts).toBe(before + 1);
      // The new core restored the memory snapshot (native CPython has none: it boots from
      // scratch, which the engine reports as a cold boot).
      expect(stats.lastEscalation).toBe(native ? 'cold-booted' : 'restarted');
      expect(stats.lastRecovery?.boot).toBe(native ? 'scratch' : 'snapshot');
      expect(await engine.call('add', [1, 1])).toBe(2);
    },
    60_000,
  );

  it('the standard library works offline', async () => {
    const r = await engine.exec(
      'import json, re, decimal, sqlite3, dataclasses, datetime, hashlib, zlib, collections\n@dataclasses.dataclass\nclass P:\n    x: int\ndb = sqlite3.connect(":memory:")\ndb.execute("create table t(v)")\ndb.execute("insert into t values (41)")\n[json.loads("[1]")[0], bool(re.match("a+", "aa")), str(decimal.Decimal("1.1") + decimal.Decimal("2.2")), db.execute("select v + 1 from t").fetchone()[0], P(3).x, hashlib.sha256(b"").hexdigest()[:8]]',
    );
    expect(r.value).toEqual([1, true, '3.3', 42, 3, 'e3b0c442']);
  });

  it('installs a pure-Python wheel, keeps it across restarts, and refuses bad ones', async () => {
    await engine.load(WHEEL_SRC, 'wheelmaker.py');
    const good = (await engine.call('wheel', ['tinypkg', '1.0', 'def hello(n):\n    return f"hi {n}"\n'])) as Uint8Array;
    await engine.install(good);
    expect((await engine.exec('import tinypkg\ntinypkg.hello("bo")')).value).toBe('hi bo');
    // Native sees the interpreter's own site-packages, where requests may well be installed.
    const absent = native ? 'scriptbox-absent-dependency' : 'requests';
    const needy = (await engine.call('wheel', ['needy', '1.0', 'x = 1', [`${absent}>=2`]])) as Uint8Array;
    const e = await engine.install(needy).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toContain(absent);
    await expect(engine.install(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(InvalidInputError);
    await expect(engine.install('numpy')).rejects.toBeInstanceOf(UnavailableError);
    await expect(engine.install('/nonexistent/x.whl')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(engine.install(42 as never)).rejects.toBeInstanceOf(InvalidInputError);
    // after a hard restart the wheel is still installed (where C code can be stopped at all)
    if (stoppableInC) await engine.exec('sum(range(10**15))', { timeoutMs: 200 });
    expect((await engine.exec('import tinypkg\ntinypkg.hello(1)')).value).toBe('hi 1');
  }, 60_000);

  // A wasm heap limit: native memory is capped only by the process placement's RLIMIT_AS,
  // not by the core; and this test boots its own default (wasm) engine anyway.
  it.skipIf(native)(
    'over limits.memoryBytes: MemoryLimitError, then a fresh engine',
    async () => {
      const small = await createEngine('python', { limits: { memoryBytes: 96 * 1024 * 1024 } });
      try {
        await small.load('def f():\n    return "kept"\n', 'keep.py');
        const r = await small.exec('b = bytearray(200 * 1024 * 1024)\nlen(b)');
        expect(r.success).toBe(false);
        expect(r.error?.type).toBe('MemoryLimitError');
        await expect(small.call('grow')).rejects.toBeInstanceOf(InvalidInputError);
        expect(await small.call('f')).toBe('kept');
        const s = await small.exec('s = "x"\nwhile True:\n    s += s');
        expect(s.error?.type).toBe('MemoryLimitError');
        expect((await small.stats()).restarts).toBeGreaterThanOrEqual(2);
        await small.load('def grow():\n    a = []\n    while True:\n        a.append(bytearray(10**6))\n', 'grow.py');
        await expect(small.call('grow')).rejects.toBeInstanceOf(MemoryLimitError);
      } finally {
        await small.dispose();
      }
      await expect(small.install(new Uint8Array(1))).rejects.toBeInstanceOf(DisposedError);
    },
    120_000,
  );
});

describe('Python engine, inline placement (trusted)', () => {
  it('runs, and its own deadline stops a loop', async () => {
    await using engine = await createEngine('python', { placement: 'inline', trusted: true, limits: { timeoutMs: 300 } });
    expect((await engine.exec('sum(range(10))')).value).toBe(45);
    const r = await engine.exec('while True:\n    pass');
    expect(r.timedOut).toBe(true);
    expect((await engine.exec('"ok"')).value).toBe('ok');
  }, 60_000);

  it('takes top-level await, awaits async defs and serves host.aio with synchronous host functions', async () => {
    await using engine = await createEngine('python', {
      placement: 'inline',
      trusted: true,
      capabilities: ['twice'],
      hostFunctions: { twice: (x: number) => x * 2 },
    });
    const r = await engine.exec(
      'import asyncio, host\nasync def f(v):\n    await asyncio.sleep(0.01)\n    return v\nawait asyncio.gather(f(1), host.aio.twice(4))',
    );
    expect(r.value).toEqual([1, 8]);
    await engine.load('import asyncio\nasync def later(v):\n    await asyncio.sleep(0)\n    return v + 1\n');
    expect(await engine.call('later', [41])).toBe(42);
  }, 60_000);
});

describe('install on a Lua engine', () => {
  it('is UnavailableError', async () => {
    await using engine = await createEngine('lua');
    await expect(engine.install(new Uint8Array(1))).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('Python boot limits', () => {
  it('a memoryBytes below what Python needs to start is refused with the fix', async () => {
    const e = await createEngine('python', { limits: { memoryBytes: 8 * 1024 * 1024 } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toMatch(/limits.memoryBytes .* raise it/);
  }, 60_000);
});

describe.each(['worker', 'process'] as const)('host.aio, %s placement', (placement) => {
  it('runs host calls concurrently under asyncio.gather, and raises host failures', async () => {
    // A barrier: each call waits for the other to arrive. Calls made one after the other
    // would never meet, and each would answer 'alone' after its fallback.
    let arrived = 0;
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    const meet = async (x: unknown) => {
      if (++arrived === 2) release();
      const met = await Promise.race([both.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
      return met ? `together ${String(x)}` : `alone ${String(x)}`;
    };
    await using e = await createEngine('python', {
      placement,
      capabilities: ['meet', 'fail'],
      hostFunctions: { meet, fail: async () => Promise.reject(new Error('nope')), secret: () => 1 },
    });
    const r = await e.exec('import host, asyncio\nawait asyncio.gather(host.aio.meet(1), host.aio.meet(2))');
    expect(r.value).toEqual(['together 1', 'together 2']);
    const f = await e.exec('try:\n    await host.aio.fail()\nexcept host.HostError as ex:\n    r = str(ex)\nr');
    expect(f.value).toBe('Error: nope');
    expect((await e.exec('await host.aio.secret()')).error?.type).toBe('PermissionError');
    expect((await e.exec('await host.aio.missing()')).error?.type).toBe('AttributeError');
  }, 60_000);
});
