/**
 * The process placement: the Lua core in a worker thread of a child Node process that
 * runs under the permission model. Covers the engine API across the process, interrupts
 * and kills, the child's real permissions, cleanup, and forged frames from the child.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, frame } from '../../src/channel/frames.js';
import type { ToProcess } from '../../src/channel/protocol.js';
import type { CoreInit } from '../../src/core.js';
import { EngineCrashedError, MemoryLimitError, TimeoutError, UnavailableError, createEngine, type ScriptEngine } from '../../src/index.js';
import { builtRoot } from '../../src/node/worker-host.js';
import { engineReadPaths, liveProcessCount, processEntry, processFlags } from '../../src/node/process-host.js';
import type { Connection, RequestHandlers } from '../../src/placement/connection.js';
import { connectProcess, type ProcessPipe } from '../../src/placement/process.js';
import { decode, encode } from '../../src/values.js';
import { engineChildren } from './children.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('Lua engine, process placement', () => {
  let engine: ScriptEngine;
  const streamed: string[] = [];
  beforeAll(async () => {
    engine = await createEngine('lua', {
      placement: 'process',
      capabilities: ['echo', 'later', 'fail'],
      hostFunctions: {
        echo: (x) => x,
        later: async (x) => {
          await new Promise((r) => setTimeout(r, 10));
          return x;
        },
        fail: () => {
          throw new TypeError('host said no');
        },
        secret: () => 'nope',
      },
      onOutput: (c) => streamed.push(c.text),
      limits: { timeoutMs: 5000, memoryBytes: 32 * 1024 * 1024, graceMs: 300 },
    });
  });
  afterAll(async () => {
    await engine.dispose();
  });

  it('exec, load and call work across the process', async () => {
    expect(engine.placement).toBe('process');
    expect((await engine.exec('return 1 + 1')).value).toBe(2);
    const r = await engine.exec('print("hello from the child")');
    expect(r.stdout).toBe('hello from the child\n');
    expect(streamed.join('')).toContain('hello from the child');
    await engine.load('geom = {}\nfunction geom.area(w, h) return w * h end', 'geom');
    expect(await engine.call('geom.area', [3, 4])).toBe(12);
    const v = {
      big: 2n ** 60n,
      bytes: new Uint8Array([0xff, 0]),
      map: new Map<unknown, unknown>([
        [1, 'a'],
        [true, 'b'],
      ]),
      list: [1, [2]],
    };
    await engine.load('function id(...) return ... end', 'id');
    expect(await engine.call('id', [v as never])).toEqual(v);
    const err = await engine.exec('error("boom")');
    expect(err.error).toMatchObject({ type: 'RuntimeError' });
  });

  it('host functions, sync and async, granted and denied, across the process', async () => {
    expect((await engine.exec('return host.echo({ k = "v" })')).value).toEqual({ k: 'v' });
    expect((await engine.exec('return host.later("done")')).value).toBe('done');
    expect((await engine.exec('local t = {} for i = 1, 50 do t[i] = host.echo(i) end return #t')).value).toBe(50);
    expect((await engine.exec('local ok, e = pcall(host.fail) return e')).value).toBe('TypeError: host said no');
    const denied = await engine.exec('return host.secret()');
    expect(denied.error?.message).toMatch(/^PermissionError: host\.secret needs capability 'secret'/);
  });

  it('interrupt() stops an endless loop in place: no restart', async () => {
    const before = (await engine.stats()).restarts;
    const loop = engine.exec('while true do end');
    await new Promise((r) => setTimeout(r, 100));
    engine.interrupt();
    const r = await loop;
    expect(r.error?.type).toBe('Interrupted');
    expect((await engine.exec('return 2 + 2')).value).toBe(4);
    expect((await engine.stats()).restarts).toBe(before);
  });

  it('times out an endless loop and a pcall loop by interrupting in place', async () => {
    const before = (await engine.stats()).restarts;
    const r = await engine.exec('while true do end', { timeoutMs: 200 });
    expect(r).toMatchObject({ success: false, timedOut: true });
    const p = await engine.exec('while true do pcall(function() while true do end end) end', { timeoutMs: 200 });
    expect(p.timedOut).toBe(true);
    const s = await engine.stats();
    expect(s.restarts).toBe(before);
    expect(s.lastEscalation).toBe('interrupted');
  });

  it('code that ignores the interrupt is killed after graceMs, and loaded scripts are replayed', async () => {
    const before = (await engine.stats()).restarts;
    // Scripts that try to outlast the stop: no debug library to remove the hook, handlers
    // that loop, and C code (a pathological pattern) where the hook never runs.
    const stubborn = [
      'local ok = pcall(function() debug.sethook() end) while true do end',
      'while true do xpcall(function() while true do end end, function() while true do end end) end',
      'local co = coroutine.wrap(function() while true do pcall(coroutine.yield) end end) while true do pcall(co) end',
      'local s = string.rep("a", 40000) return s:find(".-.-.-.-.-.-b")',
    ];
    for (const code of stubborn) {
      const t = performance.now();
      const r = await engine.exec(code, { timeoutMs: 200 });
      expect(r.timedOut, code).toBe(true);
      expect(performance.now() - t, code).toBeLessThan(200 + 300 + 2000);
      expect(await engine.call('geom.area', [2, 5])).toBe(10);
    }
    const s = await engine.stats();
    // At least the C loop needed a kill (the looping xpcall handler does too, in every placement).
    expect(s.restarts).toBeGreaterThanOrEqual(before + 1);
    expect(s.lastEscalation).toBe('cold-booted');
    const err = await engine
      .call('geom.area', [1, 1])
      .then(() => engine.load('function spin_c() local s = string.rep("a", 40000) return s:find(".-.-.-.-.-.-b") end', 'spin'))
      .then(() => engine.call('spin_c', [], { timeoutMs: 200 }))
      .catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).escalation).toBe('restarted');
    expect(await engine.call('geom.area', [6, 7])).toBe(42);
  });

  it('a child killed from outside mid-call is a crash, and the engine restarts', async () => {
    if (!existsSync('/proc/self/stat')) return;
    const others = engineChildren().map((k) => k.pid);
    await using e = await createEngine('lua', { placement: 'process' });
    await e.load('function sq(x) return x * x end');
    const mine = engineChildren().filter((k) => !others.includes(k.pid));
    expect(mine.length).toBe(1);
    const running = e.exec('while true do end', { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    for (const k of mine) process.kill(k.pid, 'SIGKILL');
    const r = await running;
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/the engine's process (exited|died)/);
    expect(await e.call('sq', [7])).toBe(49);
    expect((await e.stats()).restarts).toBe(1);
  });

  it('a host function that hangs still lets the script time out', async () => {
    await using e = await createEngine('lua', {
      placement: 'process',
      capabilities: ['hang'],
      hostFunctions: { hang: () => new Promise(() => {}) },
    });
    const r = await e.exec('return host.hang()', { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect((await e.exec('return 5')).value).toBe(5);
  });

  it('ends a call over memoryBytes with MemoryLimitError, restarts, and replays', async () => {
    const before = (await engine.stats()).restarts;
    await engine.load('function hog() local t = {} for i = 1, 1e9 do t[i] = { i } end end', 'hog');
    const err = await engine.call('hog').catch((e) => e);
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(await engine.call('geom.area', [5, 5])).toBe(25);
    expect((await engine.stats()).restarts).toBe(before + 1);
  });
});

describe('the engine child process', () => {
  it("runs with exactly the permission flags, and only read access to the engine's folders", () => {
    const flags = processFlags();
    const perm = flags[0];
    expect(['--experimental-permission', '--permission']).toContain(perm);
    expect(flags).toContain('--allow-worker');
    expect(flags).toContain('--disallow-code-generation-from-strings');
    for (const forbidden of ['--allow-fs-write', '--allow-child-process', '--allow-addons', '--allow-wasi']) {
      expect(
        flags.some((f) => f.startsWith(forbidden)),
        forbidden,
      ).toBe(false);
    }
    const reads = flags.filter((f) => f.startsWith('--allow-fs-read=')).map((f) => f.slice('--allow-fs-read='.length));
    expect(reads).toEqual(engineReadPaths());
    const dist = builtRoot();
    expect(reads).toContain(dist);
    for (const p of reads) {
      const ok =
        p === dist ||
        p === join(dirname(dist), 'package.json') ||
        /[\\/]node_modules[\\/](wasmoon|pyodide|msgpackr|msgpackr-extract|comlink)$/.test(p);
      expect(ok, p).toBe(true);
    }
    expect(reads.some((p) => p.endsWith(`${sep}wasmoon`))).toBe(true);
    expect(reads.some((p) => p.endsWith(`${sep}msgpackr`))).toBe(true);
    expect(processEntry().startsWith(dist)).toBe(true);
  });

  it("cannot write files, start processes, load addons, eval strings or read the host's files", async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'sb-perm-'));
    writeFileSync(join(scratch, 'canary.txt'), 'CANARY');
    const probe = join(here, 'fixtures', 'permission-probe.mjs');
    // A real native addon the probe may read (so a failure is the addon ban, not a read ban).
    const addonDir = join(dirname(builtRoot()), 'node_modules', '@msgpackr-extract');
    let addon = '';
    if (existsSync(addonDir)) {
      for (const pkg of readdirSync(addonDir)) {
        const f = readdirSync(join(addonDir, pkg)).find((n) => n.endsWith('.node'));
        if (f) addon = join(addonDir, pkg, f);
      }
    }
    const args = [...processFlags(), `--allow-fs-read=${probe}`, ...(addon ? [`--allow-fs-read=${addon}`] : []), probe, scratch, addon];
    const child = spawn(process.execPath, args, { env: { SECRET_FROM_HOST: 'x' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => child.once('close', r));
    const result = JSON.parse(stdout.trim() || `{"failed": ${JSON.stringify(stderr)}}`);
    for (const realm of ['main', 'worker'] as const) {
      const p = result[realm];
      expect(p, `${realm}: ${stderr}`).toBeDefined();
      for (const key of ['writeFile', 'mkdir', 'readPasswd', 'readCanary', 'execSync', 'spawnSync', 'processBinding']) {
        expect(p[key], `${realm}.${key}`).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      }
      expect(p.newFunction, realm).toEqual({ ok: false, code: 'EvalError' });
      expect(p.evalString, realm).toEqual({ ok: false, code: 'EvalError' });
      if (addon) expect(p.addon, realm).toEqual({ ok: false, code: 'ERR_DLOPEN_DISABLED' });
      expect(p.permissionFsWrite, realm).toBe(false);
      expect(p.permissionChildProcess, realm).toBe(false);
      expect(p.wasm, realm).toEqual({ ok: true, value: 'true' }); // the engine still compiles wasm
    }
    expect(readdirSync(scratch)).toEqual(['canary.txt']);
  });

  it('the real engine child runs with those flags, an empty environment, and leaves nothing behind', async () => {
    process.env.SCRIPTBOX_TEST_CANARY = 'host-env-canary';
    const before = liveProcessCount();
    const engines = await Promise.all([1, 2].map(() => createEngine('lua', { placement: 'process', limits: { graceMs: 100 } })));
    try {
      expect(liveProcessCount()).toBe(before + 2);
      const kids = engineChildren();
      if (existsSync('/proc/self/stat')) {
        expect(kids.length).toBe(2);
        for (const k of kids) {
          expect(k.argv.slice(1, -1)).toEqual(processFlags());
          expect(k.argv.at(-1)).toBe(processEntry());
          expect(k.environ).toBe('');
        }
      }
      // a kill-and-restart replaces the child, and does not leak the old one
      const r = await engines[0]!.exec('return string.rep("a", 40000):find(".-.-.-.-.-.-b")', { timeoutMs: 200 });
      expect(r.timedOut).toBe(true);
      expect((await engines[0]!.exec('return os.getenv and os.getenv("SCRIPTBOX_TEST_CANARY")')).value).toBe(null);
      expect(liveProcessCount()).toBe(before + 2);
    } finally {
      await Promise.all(engines.map((e) => e.dispose()));
      delete process.env.SCRIPTBOX_TEST_CANARY;
    }
    expect(liveProcessCount()).toBe(before);
    expect(engineChildren()).toEqual([]);
  });
});

// ---- a forged child: what the host does with frames the runtime did not produce ------

const INIT: CoreInit = {
  language: 'lua',
  engineId: 'lua-fake',
  hostFunctions: [],
  config: {},
  limits: { memoryBytes: 1024 * 1024, maxOutputBytes: 1024, maxValueDepth: 16, maxValueBytes: 8 << 20 },
};
const noHandlers: RequestHandlers = {
  hostCall: async () => null,
  hostCallSync: () => null,
  output: () => {},
};
const ok = { t: 'done', value: 1, defined: true, out: { stdout: '', stderr: '', truncated: false } };

/** A child that answers each frame the host sends with whatever `answer` returns (raw bytes). */
function fakeChild(answer: (msg: ToProcess) => Uint8Array[] | undefined) {
  let deliver: ((c: Uint8Array) => void) | undefined;
  const state = { killed: 0, received: [] as ToProcess[], send: (bytes: Uint8Array) => setImmediate(() => deliver?.(bytes)) };
  const reader = new FrameReader(
    1 << 30,
    (f) => {
      const msg = decode(f) as ToProcess;
      state.received.push(msg);
      for (const bytes of answer(msg) ?? []) state.send(bytes);
    },
    () => {},
  );
  const pipe: ProcessPipe = {
    write: (b) => reader.push(b),
    onData: (cb) => {
      deliver = cb;
    },
    onExit: () => {},
    booted: () => {},
    kill: async () => {
      state.killed++;
    },
  };
  return { pipe, state };
}

const wire = (m: unknown) => frame(encode(m));

describe('process placement, forged frames from the child', () => {
  async function connectFake(answer: (msg: ToProcess) => Uint8Array[] | undefined) {
    const fake = fakeChild((m) => (m.t === 'boot' ? [wire({ t: 'ready' })] : answer(m)));
    const conn: Connection = await connectProcess(INIT, () => fake.pipe);
    return { conn, state: fake.state };
  }
  const exec = { t: 'exec', code: 'return 1', timeoutMs: 1000, stream: false } as const;

  it('a well-behaved child works, and clearInterrupt rides ahead of the next request', async () => {
    const { conn, state } = await connectFake(() => [wire(ok)]);
    conn.clearInterrupt();
    expect(await conn.request(exec, noHandlers)).toEqual(ok);
    expect(state.received.map((m) => m.t)).toEqual(['boot', 'clearInterrupt', 'exec']);
    conn.interrupt(1 as never);
    expect(state.received.at(-1)).toEqual({ t: 'interrupt', reason: 1 });
  });

  const forgeries: [string, Uint8Array[], RegExp][] = [
    ['bytes that are not MessagePack', [frame(new Uint8Array([0xc1, 0xc1]))], /not valid MessagePack/],
    ['an empty frame', [frame(new Uint8Array(0))], /not valid MessagePack/],
    ['a message of the wrong shape', [wire({ t: 'done', value: 1 })], /malformed message: done\.defined/],
    ['a value that is not a script value', [wire({ ...ok, value: { when: new Date() } })], /result\.when is an instance of Date/],
    ['an unknown message', [wire({ t: 'spawn', cmd: 'sh' })], /unknown message type "spawn"/],
    ['a second ready', [wire({ t: 'ready' })], /restarted unexpectedly/],
    ['a header over the size limit', [new Uint8Array([0xff, 0xff, 0xff, 0x7f])], /over the \d+-byte limit/],
    ['its own fatal message', [wire({ t: 'fatal', message: 'worker died' })], /process stopped: worker died/],
  ];
  for (const [what, frames, message] of forgeries) {
    it(`treats ${what} as a crash: child killed, EngineCrashedError`, async () => {
      const { conn, state } = await connectFake(() => frames);
      const err = await conn.request(exec, noHandlers).catch((e) => e);
      expect(err).toBeInstanceOf(EngineCrashedError);
      expect(err.message).toMatch(message);
      expect(state.killed).toBeGreaterThan(0);
      expect(await conn.died).toBe(err);
      await expect(conn.request(exec, noHandlers)).rejects.toBe(err);
    });
  }

  it('a frame sent while no request runs is a crash too', async () => {
    const { conn, state } = await connectFake(() => [wire(ok), wire({ t: 'output', stream: 'stdout', text: 'unsolicited' })]);
    expect(await conn.request(exec, noHandlers)).toEqual(ok);
    const reason = await conn.died;
    expect(reason).toBeInstanceOf(EngineCrashedError);
    expect(reason.message).toMatch(/sent 'output' while no request was running/);
    expect(state.killed).toBeGreaterThan(0);
  });

  it('a frame split across many writes is still read', async () => {
    const { conn, state } = await connectFake(() => {
      const bytes = wire({ ...ok, value: 'x'.repeat(5000) });
      return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    });
    expect((await conn.request(exec, noHandlers)).t).toBe('done');
    expect(state.killed).toBe(0);
  });

  it('holds a child to maxOutputBytes, streamed and captured', async () => {
    const long = 'y'.repeat(3000);
    const { conn } = await connectFake(() => [
      wire({ t: 'output', stream: 'stdout', text: long }),
      wire({ t: 'output', stream: 'stderr', text: long }),
      wire({ ...ok, out: { stdout: long, stderr: long, truncated: false } }),
    ]);
    let streamed = '';
    const a = await conn.request(exec, { ...noHandlers, output: (_s, text) => (streamed += text) });
    expect(streamed.length).toBe(INIT.limits.maxOutputBytes);
    expect(a).toMatchObject({ t: 'done', out: { stdout: long.slice(0, 1024), stderr: '', truncated: true } });
  });

  it('a boot failure is UnavailableError, and a child dying at boot is EngineCrashedError', async () => {
    const failing = fakeChild(() => [wire({ t: 'failed', failure: { kind: 'crashed', type: 'Error', message: 'no wasm' }, out: ok.out })]);
    await expect(connectProcess(INIT, () => failing.pipe)).rejects.toThrow(UnavailableError);
    expect(failing.state.killed).toBe(1);
    let exit: ((e: Error) => void) | undefined;
    const dying: ProcessPipe = { ...fakeChild(() => undefined).pipe, onExit: (cb) => (exit = cb) };
    const p = connectProcess(INIT, () => dying);
    setImmediate(() => exit?.(new Error('code 1')));
    await expect(p).rejects.toThrow(/the engine's process died: code 1/);
  });
});
