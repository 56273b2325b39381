/**
 * Issue 17, classes 2 and 6 for Python (Lua: lua-internals.test.ts): the runtime's own
 * internals are out of the script's reach, and value sizes are capped while the engine
 * builds them. Every test tries the attack against a real engine (Pyodide in a worker,
 * and native CPython in a child process where libpython is present) and then checks that
 * the REAL host function ran: the host side records every call it answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, createPool, InvalidInputError, type ScriptEngine } from '../../src/index.js';
import type { HostCallEvent } from '../../src/capabilities/registry.js';
import { nativeAvailable } from '../../src/node/native-libs.js';

const TARGETS = [
  { name: 'wasm, worker placement', backend: 'wasm', placement: 'worker', native: false },
  { name: 'native, process placement', backend: 'native', placement: 'process', native: true },
] as const;
const targets = TARGETS.filter((t) => !t.native || nativeAvailable('python'));

/**
 * Ways to replace what `host.probe` does, each run in one request. The request after it
 * must still reach the host. `native: false`: needs the wasm lockdown (native CPython is
 * trusted and keeps its standard library whole, ctypes included: no in-process promise).
 */
const TAMPER: { name: string; code: string; wasmOnly?: boolean }[] = [
  { name: 'ModuleType.__setattr__ on host', code: 'import host, types\ntypes.ModuleType.__setattr__(host, "probe", lambda *a: "evil")' },
  { name: 'object.__setattr__ on host', code: 'import host\nobject.__setattr__(host, "probe", lambda *a: "evil")' },
  { name: "host.__dict__['probe']", code: 'import host\nhost.__dict__["probe"] = lambda *a: "evil"' },
  {
    name: "sys.modules['host'] replaced",
    code: 'import sys, types\nm = types.ModuleType("host")\nm.probe = lambda *a: "evil"\nsys.modules["host"] = m',
  },
  { name: 'the host class changed', code: 'import host\ntype(host).__getattr__ = lambda self, a: (lambda *x: "evil")' },
  {
    name: 'the host namespace class changed',
    code: 'import host\ntype(host.aio).__getattr__ = lambda self, a: (lambda *x: "evil")\ntype(host).__dict__["_namespace"].__getattr__ = lambda self, a: (lambda *x: "evil")',
  },
  {
    name: "host's __class__ swapped",
    code: 'import host, types\nclass Evil(types.ModuleType):\n    def __getattr__(self, a):\n        return lambda *x: "evil"\nobject.__setattr__(host, "__class__", Evil)',
  },
  {
    name: "the runtime's globals through a frame",
    code: 'import sys\ndef f():\n    g = sys._getframe(1)\n    while g is not None:\n        if "_host_call" in g.f_globals:\n            g.f_globals["_host_call"] = lambda n, a: "evil"\n            g.f_globals["_request"] = lambda m: [True, "evil"]\n        g = g.f_back\nf()',
  },
  {
    name: "the runtime's globals through a function's __globals__",
    code: 'import host\ng = type(host).__getattr__.__globals__\ng["_host_call"] = lambda n, a: "evil"\ng["_fresh_host"] = lambda: None\ng["_begin"] = lambda d: None',
  },
  {
    name: "the runtime's globals found by a garbage-collector walk",
    code: 'import gc\nfor o in gc.get_objects():\n    if type(o) is dict and o.get("__name__") == "_scriptbox":\n        o["_host_call"] = lambda n, a: "evil"\n        o["_enc"] = lambda *a, **k: "evil"\n        o["_restore"] = lambda *a: None',
  },
  {
    name: "a runtime function's code swapped",
    code: 'import gc\nfor o in gc.get_objects():\n    if type(o) is dict and o.get("__name__") == "_scriptbox":\n        try:\n            o["_host_call"].__code__ = (lambda name, args: "evil").__code__\n        except RuntimeError as e:\n            print(e)',
    wasmOnly: true,
  },
  {
    name: "a stub's function swapped",
    code: 'import host\ntry:\n    host.probe.__func__.__code__ = (lambda name, *a: "evil").__code__\nexcept (RuntimeError, AttributeError) as e:\n    print(e)',
    wasmOnly: true,
  },
  {
    name: 'the standard library the runtime uses',
    code: 'import json, os, base64, builtins\njson.dumps = json.loads = lambda *a, **k: "evil"\nos.write = lambda *a: 0\nbase64.b64decode = lambda *a: b"evil"',
  },
  {
    name: 'builtins the runtime uses',
    code: 'import builtins\nbuiltins.len = lambda x: 0\nbuiltins.type = lambda *a: str',
    wasmOnly: true,
  },
  { name: 'an audit hook of its own', code: 'import sys\nsys.addaudithook(lambda e, a: None)\nprint("added")', wasmOnly: true },
];

describe.each(targets)('Python runtime internals, $name', (target) => {
  let engine: ScriptEngine;
  const answered: unknown[] = [];

  beforeAll(async () => {
    engine = await createEngine('python', {
      backend: target.backend,
      placement: target.placement,
      capabilities: ['probe', 'echo'],
      hostFunctions: {
        probe: (n) => {
          answered.push(n);
          return ['real', n];
        },
        echo: (v) => v,
      },
      limits: { timeoutMs: 20_000 },
    });
  }, 120_000);

  afterAll(async () => {
    await engine?.dispose();
  });

  it('the runtime module cannot be imported, and sys.modules holds no module of its internals', async () => {
    const imp = await engine.exec('import _scriptbox');
    expect(imp.error?.type).toBe('ModuleNotFoundError');
    const scan = await engine.exec(
      'import sys\n[n for n, m in list(sys.modules.items()) if hasattr(m, "_host_call") or hasattr(m, "_request")]',
    );
    expect(scan.value).toEqual([]);
  });

  it.each(TAMPER)('after "$name", the next request reaches the real host function', async ({ code, wasmOnly }) => {
    if (wasmOnly && target.native) return;
    await engine.exec(code);
    const n = answered.length;
    const r = await engine.exec(`import host\nhost.probe(${n})`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual(['real', n]);
    expect(answered.at(-1)).toBe(n);
    // A name a loaded script bound to host before the attack gets the real one too.
    const viaCall = await engine.call('probe_again', [n + 1000]).catch(async () => {
      await engine.load('import host\ndef probe_again(n):\n    return host.probe(n)');
      return engine.call('probe_again', [n + 1000]);
    });
    expect(viaCall).toEqual(['real', n + 1000]);
    expect(answered.at(-1)).toBe(n + 1000);
  });

  it.runIf(!target.native)('refuses to change the code of the runtime functions, and to add audit hooks', async () => {
    // What a script holds of the runtime has no code to swap; the functions themselves are
    // found only by a gc walk (which taints the engine), and even then refuse.
    const swap = await engine.exec(
      'import gc\nrt = next(o for o in gc.get_objects() if type(o) is dict and o.get("__name__") == "_scriptbox")\nout = []\nfor f in (rt["_host_call"], rt["_host_call_star"], rt["restore"], rt["_begin"]):\n    for attr, v in (("__code__", (lambda name, args: 1).__code__), ("__defaults__", (1,))):\n        try:\n            setattr(f, attr, v)\n            out.append("changed")\n        except RuntimeError as e:\n            out.append(str(e))\nsorted(set(out))',
    );
    expect(swap.value).toEqual(["the ScriptBox runtime's functions cannot be changed"]);
    // Refused quietly (that is how audit hooks refuse): the hook never runs.
    const hook = await engine.exec(
      'import sys\nseen = []\nsys.addaudithook(lambda e, a: seen.append(e))\nopen("/tmp/x", "w").close()\nlen(seen)',
    );
    expect(hook.value).toBe(0);
  });

  it.runIf(!target.native)('nothing a script can reach without an audited step leads to the runtime', async () => {
    // A walk over every object reachable from what a script can name (modules, builtins,
    // host and its namespaces, the event loop, the import hooks), through attributes,
    // function globals, closures, defaults, bound methods and containers, but never through
    // a frame or the garbage collector (those taint the engine: see the next test). A new
    // engine: the tests above stashed what their audited steps found in this one's globals.
    const fresh = await createEngine('python', { capabilities: ['probe', 'kv.*'], hostFunctions: { probe: () => 1 } });
    const walk = await fresh.exec(
      [
        'import sys, builtins, asyncio, types, host',
        'roots = [sys.modules, builtins, host, host.aio, asyncio.get_event_loop(), sys.meta_path, sys.path_hooks, type(host), host.HostError]',
        'roots += [getattr(host, n) for n in dir(host)] + [getattr(host.aio, n) for n in dir(host.aio) if not n.startswith("__")] + [host.kv, host.aio.kv]',
        'seen, todo, found, n = set(), list(roots), [], 0',
        'ATTRS = ("__dict__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__", "__func__", "__self__", "__wrapped__", "cell_contents", "__class__", "__mro__", "__bases__", "fget", "fset", "fdel", "__objclass__")',
        'while todo and n < 400000:',
        '    o = todo.pop()',
        '    if id(o) in seen:',
        '        continue',
        '    seen.add(id(o))',
        '    n += 1',
        '    t = type(o)',
        '    if t is dict:',
        '        if "_request" in o and "_host_call" in o:',
        '            found.append("the runtime globals")',
        '            break',
        '        todo.extend(o.values())',
        '        todo.extend(k for k in o if type(k) is not str)',
        '        continue',
        '    if t in (list, tuple, set, frozenset):',
        '        todo.extend(o)',
        '        continue',
        '    if t in (str, int, float, bytes, bool, type(None)):',
        '        continue',
        '    for a in ATTRS:',
        '        try:',
        '            v = object.__getattribute__(o, a) if a != "__dict__" else vars(o)',
        '        except Exception:',
        '            continue',
        '        todo.append(dict(v) if type(v) is types.MappingProxyType else v)',
        '[found, n > 1000]',
      ].join('\n'),
    );
    await fresh.dispose();
    expect(walk.error).toBeUndefined();
    expect(walk.value).toEqual([[], true]);
  });

  it.runIf(!target.native)('a frame or a gc walk taints the engine: the runtime is restored before every later request', async () => {
    // Tamper through a frame in one request, then more in the next through the same stashed
    // dict, with no audited step: the request after each still reaches the real host.
    const stash = await engine.exec(
      'import sys\nf = sys._getframe()\nwhile f is not None and "_host_call" not in f.f_globals:\n    f = f.f_back\nRT = f.f_globals\nRT["_host_call"] = lambda n, a: "evil"\nFOUND = True\nFOUND',
    );
    expect(stash.value).toBe(true);
    for (let i = 0; i < 2; i++) {
      const n = answered.length;
      const r = await engine.exec(`import host\nhost.probe(${n})`);
      expect(r.value).toEqual(['real', n]);
      // The stashed dict needs no audited step to be changed again.
      await engine.exec('RT["_host_call"] = lambda n, a: "evil"\nRT["_enc"] = lambda *a, **k: "evil"');
    }
  });

  // ---- class 6: sizes counted while the value is built ------------------------------

  it('refuses a result of many references to one big string at limits.maxValueBytes, and still answers', async () => {
    await engine.load('def big():\n    s = "a" * (1 << 20)\n    return [s] * 250\n');
    const err = await engine.call('big').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/limits\.maxValueBytes \(8388608 bytes/);
    expect((err as Error).message).toMatch(/raise limits\.maxValueBytes/);
    const ex = await engine.exec('s = "a" * (1 << 20)\n{"k": [s] * 250}');
    expect(ex.success).toBe(false);
    expect(ex.error?.type).toBe('InvalidInputError');
    expect(ex.error?.message).toMatch(/^result\.k\[\d\] makes the value larger than limits\.maxValueBytes/);
    // Bytes count too, and keys.
    const b = await engine.exec('b = bytes(1 << 20)\n[b] * 20');
    expect(b.error?.type).toBe('InvalidInputError');
    expect((await engine.exec('1 + 1')).value).toBe(2);
  });

  it('refuses host-call arguments over limits.maxValueBytes in the script, before the host sees them', async () => {
    const before = answered.length;
    const r = await engine.exec(
      'import host\ns = "x" * (1 << 20)\ntry:\n    host.probe([s] * 250)\nexcept ValueError as e:\n    msg = str(e)\nmsg',
    );
    expect(r.value).toMatch(/^host\.probe argument 1\[\d\] makes the value larger than limits\.maxValueBytes/);
    expect(answered.length).toBe(before);
  });

  it('shows a value with no value form as a short repr, however many big strings it refers to', async () => {
    const r = await engine.exec('s = "a" * (1 << 20)\n[object()] + [s] * 250');
    expect(r.success).toBe(true);
    expect(typeof r.value).toBe('string');
    expect((r.value as string).length).toBeLessThan(128 * 1024);
  });

  it('caps a huge exception message and its traceback, and says so', async () => {
    const r = await engine.exec('def f():\n    raise ValueError("y" * (1 << 24))\nf()');
    expect(r.error?.type).toBe('ValueError');
    expect(r.error!.message.length).toBeLessThan(70 * 1024);
    expect(r.error!.message).toMatch(/more characters of the message cut: the host reads at most 65536/);
    expect(r.error!.traceback!.length).toBeLessThan(140 * 1024);
    expect(r.error!.traceback).toMatch(/line 2, in f/);
    // A __str__ that fails, or gives no str, is not the script's error.
    const odd = await engine.exec('class E(Exception):\n    def __str__(self):\n        raise RuntimeError("no")\nraise E()');
    expect(odd.error?.type).toBe('E');
    expect(odd.error?.message).toMatch(/its __str__ failed/);
    const err = await engine.call('nope_' + 'x'.repeat(10)).catch((e: unknown) => e);
    expect((err as Error).name).toBeDefined();
  });
});

describe("a reuse pool: the next tenant's host is the real one", () => {
  it('tenant 1 tampers in every way above; tenant 2 calls host.kv and host.log and reaches the host', async () => {
    const events: HostCallEvent[] = [];
    const pool = await createPool('python', {
      min: 1,
      max: 1,
      reset: 'reuse',
      capabilities: ['kv.*', 'log'],
      onHostCall: (e) => events.push(e),
      limits: { timeoutMs: 20_000 },
    });
    try {
      const first = await pool.run(async (engine) => {
        for (const t of TAMPER) await engine.exec(t.code.replaceAll('"probe"', '"kv"').replaceAll('host.probe', 'host.kv.get'));
        // And a direct replacement of what tenant 2 will call.
        await engine.exec(
          'import host, types\ntypes.ModuleType.__setattr__(host, "kv", types.SimpleNamespace(get=lambda *a: "evil", set=lambda *a: None))\ntypes.ModuleType.__setattr__(host, "log", lambda *a: None)',
        );
        return engine.id;
      });
      const mark = events.length;
      const second = await pool.run(async (engine) => {
        const r = await engine.exec('import host\nhost.kv.set("k", "tenant 2")\nhost.log("from tenant 2")\nhost.kv.get("k")');
        return { id: engine.id, r };
      });
      expect(second.id).toBe(first);
      expect(second.r.error).toBeUndefined();
      expect(second.r.value).toBe('tenant 2');
      expect(events.slice(mark).map((e) => [e.name, e.allowed])).toEqual([
        ['kv.set', true],
        ['log', true],
        ['kv.get', true],
      ]);
    } finally {
      await pool.close();
    }
  }, 180_000);
});
