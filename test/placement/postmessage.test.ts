/**
 * The worker placement over postMessage: what a browser page that is not cross-origin
 * isolated gets (no SharedArrayBuffer). Node always has shared memory, so the engines here
 * are built the way createEngine builds a worker engine, with `sharedMemory: false` (an
 * internal seam: Engine + connectWorker, no public option). Blocking host calls
 * raise UnavailableError there; Python's host.aio works through the trampoline
 * in the Python runtime.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptions, Language, ScriptEngine } from '../../src/engine/types.js';
import { spawnNodeWorker } from '../../src/node/worker-host.js';
import { resolveOptions } from '../../src/options.js';
import { connectWorker } from '../../src/placement/worker.js';

async function postMessageEngine(language: Language, options: EngineOptions): Promise<ScriptEngine> {
  const engine = new Engine(resolveOptions(language, options), (init) => connectWorker(init, spawnNodeWorker, { sharedMemory: false }));
  await engine.start();
  return engine;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Python over postMessage (no SharedArrayBuffer)', () => {
  let engine: ScriptEngine;
  const calls: { name: string; allowed: boolean }[] = [];
  let started = 0;
  beforeAll(async () => {
    engine = await postMessageEngine('python', {
      capabilities: ['echo', 'slow', 'never', 'fail', 'kv.read'],
      hostFunctions: {
        echo: (x) => x,
        slow: async (x) => {
          started++;
          await sleep(300);
          return x;
        },
        never: () => new Promise(() => {}),
        fail: async () => Promise.reject(new Error('nope')),
        secret: () => 'no',
      },
      onHostCall: (e) => calls.push({ name: e.name, allowed: e.allowed }),
      limits: { timeoutMs: 10_000, graceMs: 1000 },
    });
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it('execs and calls', async () => {
    expect((await engine.exec('1 + 1')).value).toBe(2);
    await engine.load('def add(a, b):\n    return a + b\n');
    expect(await engine.call('add', [2, 3])).toBe(5);
    const r = await engine.exec('print("hi")\nimport sys\nprint("err", file=sys.stderr)');
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toBe('err\n');
  });

  it('blocking host calls are UnavailableError, as data, naming COOP/COEP', async () => {
    const r = await engine.exec('import host\nhost.kv.get("a")');
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/UnavailableError/);
    expect(r.error?.message).toMatch(/Cross-Origin-Opener-Policy.*Cross-Origin-Embedder-Policy/);
    const caught = await engine.exec('try:\n    host.echo(1)\nexcept host.HostError as e:\n    r = e.type\nr');
    expect(caught.value).toBe('UnavailableError');
  });

  it('a top-level await of host.aio works, with output before and after it', async () => {
    const r = await engine.exec('import host\nprint("before")\nv = await host.aio.echo(1)\nprint("after", v)\nv + 1');
    expect(r.success).toBe(true);
    expect(r.value).toBe(2);
    expect(r.stdout).toBe('before\nafter 1\n');
    expect((await engine.exec('await host.aio.echo({"a": [1, b"x"]})')).value).toEqual({ a: [1, new Uint8Array([120])] });
    const f = await engine.exec('try:\n    await host.aio.fail()\nexcept host.HostError as ex:\n    r = str(ex)\nr');
    expect(f.value).toBe('Error: nope');
  });

  it('asyncio.gather runs host.aio calls concurrently', async () => {
    started = 0;
    const t0 = performance.now();
    const r = await engine.exec(
      'import asyncio, host\nawait asyncio.gather(host.aio.slow(1), host.aio.slow(2), host.aio.slow(3), host.aio.echo(4))',
    );
    const ms = performance.now() - t0;
    expect(r.value).toEqual([1, 2, 3, 4]);
    expect(started).toBe(3);
    // One after another would take 900 ms.
    expect(ms).toBeLessThan(800);
  });

  it('asyncio timers and tasks run between host results', async () => {
    const code = [
      'import asyncio, host',
      'order = []',
      'async def tick():',
      '    for i in range(3):',
      '        await asyncio.sleep(0.05)',
      '        order.append(i)',
      'async def main():',
      '    t = asyncio.create_task(tick())',
      '    v = await host.aio.slow("x")',
      '    await t',
      '    return [v, order]',
      'await main()',
    ].join('\n');
    expect((await engine.exec(code)).value).toEqual(['x', [0, 1, 2]]);
    // A task that never lets the loop wait still lets host results in.
    const busy = [
      'got = []',
      'async def spin():',
      '    n = 0',
      '    while not got:',
      '        await asyncio.sleep(0)',
      '        n += 1',
      '    return n > 0',
      'async def get():',
      '    got.append(await host.aio.slow(1))',
      '(await asyncio.gather(spin(), get()))[0]',
    ].join('\n');
    expect((await engine.exec(busy, { timeoutMs: 5000 })).value).toBe(true);
  });

  it('call(), create() and methods that return coroutines are awaited', async () => {
    await engine.load(
      [
        'import host',
        'async def fetch(x):',
        '    return [await host.aio.echo(x), await host.aio.slow(x)]',
        'async def make(n):',
        '    await host.aio.echo(n)',
        '    return Box(n)',
        'class Box:',
        '    def __init__(self, n):',
        '        self.n = n',
        '    async def grow(self, k):',
        '        self.n += await host.aio.echo(k)',
        '        return self.n',
      ].join('\n'),
      'aio',
    );
    expect(await engine.call('fetch', [7])).toEqual([7, 7]);
    const box = await engine.create('make', [1]);
    expect(await box.call('grow', [2])).toBe(3);
    expect(await box.get('n')).toBe(3);
    await box.dispose();
  });

  it('an aio call to a denied capability raises PermissionError', async () => {
    calls.length = 0;
    const r = await engine.exec('import host\nawait host.aio.secret()');
    expect(r.error?.type).toBe('PermissionError');
    expect(calls).toContainEqual({ name: 'secret', allowed: false });
    const caught = await engine.exec('try:\n    await host.aio.secret()\nexcept PermissionError as e:\n    r = "denied"\nr');
    expect(caught.value).toBe('denied');
  });

  it('a timeout while waiting for the host stops the script in place, and the engine answers', async () => {
    const before = (await engine.stats()).restarts;
    const r = await engine.exec('import host\nprint("waiting")\nawait host.aio.never()', { timeoutMs: 400 });
    expect(r.success).toBe(false);
    expect(r.timedOut).toBe(true);
    expect(r.error?.type).toBe('TimeoutError');
    expect(r.stdout).toBe('waiting\n');
    const s = await engine.exec('import asyncio\nawait asyncio.sleep(60)', { timeoutMs: 300 });
    expect(s.error?.type).toBe('TimeoutError');
    expect((await engine.exec('await host.aio.echo("still here")')).value).toBe('still here');
    // Stopped while waiting: no kill, no restart.
    expect((await engine.stats()).restarts).toBe(before);
  });

  it('interrupt() while waiting for the host stops the script in place', async () => {
    const before = (await engine.stats()).restarts;
    const run = engine.exec('import host\nawait host.aio.never()');
    await sleep(200);
    engine.interrupt();
    const r = await run;
    expect(r.error?.type).toBe('Interrupted');
    expect((await engine.exec('2 + 2')).value).toBe(4);
    expect((await engine.stats()).restarts).toBe(before);
  });

  it('a coroutine run from synchronous code that needs the host gets a clear error', async () => {
    const code = [
      'import asyncio, host',
      'async def main():',
      '    return await host.aio.echo(1)',
      'def f():',
      '    return asyncio.run(main())',
      'f()',
    ].join('\n');
    const r = await engine.exec(code);
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/UnavailableError/);
    expect(r.error?.message).toMatch(/asyncio\.run\(\)/);
    expect(r.error?.message).toMatch(/top level/);
    expect(r.error?.message).toMatch(/Cross-Origin-Opener-Policy/);
    // Needing no host result, it still runs; and the engine is fine afterwards.
    expect((await engine.exec('async def g():\n    await asyncio.sleep(0.01)\n    return 3\nasyncio.run(g())')).value).toBe(3);
    expect((await engine.exec('await main()')).value).toBe(1);
  });

  it('code that runs past its time limit is killed, unless it waited for the host and stops within graceMs', async () => {
    await engine.load('def add(a, b):\n    return a + b\n');
    let before = (await engine.stats()).restarts;
    // Running code that never waited cannot hear a stop: its worker is killed at once. (Code
    // stuck in C: a Python loop would also meet the core's own deadline, which races the
    // kill, so whether it restarts would depend on which timer fires first.)
    const cpu = await engine.exec('sum(range(10**15))', { timeoutMs: 500 });
    expect(cpu.error?.type).toBe('TimeoutError');
    expect((await engine.stats()).restarts).toBe(before + 1);
    expect(await engine.call('add', [1, 1])).toBe(2);
    // After a wait, the request gets graceMs: its own deadline stops the loop in place.
    before = (await engine.stats()).restarts;
    const r = await engine.exec('import host\nawait host.aio.echo(1)\nwhile True:\n    pass', { timeoutMs: 500 });
    expect(r.error?.type).toBe('TimeoutError');
    expect((await engine.exec('import host\nawait host.aio.echo(5)')).value).toBe(5);
    expect((await engine.stats()).restarts).toBe(before);
    // Stuck in C code that never checks: killed once graceMs is over.
    const stuck = await engine.exec('await host.aio.echo(1)\nsum(range(10**15))', { timeoutMs: 500 });
    expect(stuck.error?.type).toBe('TimeoutError');
    expect((await engine.stats()).restarts).toBe(before + 1);
    expect((await engine.exec('import host\nawait host.aio.echo(6)')).value).toBe(6);
    expect(await engine.call('add', [2, 2])).toBe(4);
  });
});

describe('Lua over postMessage (no SharedArrayBuffer)', () => {
  it('execs, and blocking host calls are UnavailableError', async () => {
    const engine = await postMessageEngine('lua', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
    try {
      expect((await engine.exec('return 1 + 1')).value).toBe(2);
      await engine.load('function add(a, b) return a + b end');
      expect(await engine.call('add', [2, 3])).toBe(5);
      const r = await engine.exec('return host.echo(1)');
      expect(r.success).toBe(false);
      expect(r.error?.message).toMatch(/UnavailableError/);
      expect(r.error?.message).toMatch(/Cross-Origin-Opener-Policy/);
      expect((await engine.exec('return "fine"')).value).toBe('fine');
    } finally {
      await engine.dispose();
    }
  });
});
