/**
 * Issue 17, classes 4 and 5 and the lower-severity findings, attacked through real engines:
 * store quotas, receives that outlive their script, host.log floods and terminal escapes,
 * kv keys that differ only in lone surrogates, and host.fetch left open after dispose.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, MemoryStore, type LogEntry, type ScriptEngine, type StateStore } from '../../src/index.js';
import { builtinFunctions } from '../../src/capabilities/builtins.js';
import { MAX_LOG_CHARS, safeLogText } from '../../src/capabilities/log-text.js';
import { engineStoreLimits } from '../../src/state/engine-limits.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Receives until the channel is empty. */
async function drain(store: MemoryStore, channel: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let r = await store.receive(channel, 0); r !== null; r = await store.receive(channel, 0)) out.push(r.message);
  return out;
}

describe('class 5: a receive whose caller is gone takes nothing', () => {
  it('Lua: a script waiting in host.channel.receive times out, its engine is disposed; every later message reaches a live receiver', async () => {
    const state = new MemoryStore();
    const lua = await createEngine('lua', { state, capabilities: ['channel.*'] });
    const r = await lua.exec("return host.channel.receive('jobs', 60)", { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    // The engine lives on, its call is over: the stopped receive must not take this.
    await state.send('jobs', 'after the timeout');
    expect(await state.receive('jobs', 0)).toEqual({ message: 'after the timeout' });
    await lua.dispose();
    for (let i = 0; i < 5; i++) await state.send('jobs', i);
    expect(await drain(state, 'jobs')).toEqual([0, 1, 2, 3, 4]);
    await state.close();
  }, 60_000);

  it('Python host.aio: 20 waiting receives time out, the engine is disposed; every later message reaches a live receiver', async () => {
    const state = new MemoryStore();
    const py = await createEngine('python', { state, capabilities: ['channel.*'] });
    const code = 'import asyncio, host\nawait asyncio.gather(*[host.aio.channel.receive("jobs", 60) for _ in range(20)])';
    const r = await py.exec(code, { timeoutMs: 1000 });
    expect(r.success).toBe(false);
    expect(r.timedOut).toBe(true);
    for (let i = 0; i < 20; i++) await state.send('early', i);
    await state.send('jobs', 'after the timeout');
    expect(await state.receive('jobs', 0)).toEqual({ message: 'after the timeout' });
    await py.dispose();
    for (let i = 0; i < 20; i++) await state.send('jobs', i);
    expect(await drain(state, 'jobs')).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // A live receiver (another engine) gets them too.
    await using lua = await createEngine('lua', { state, capabilities: ['channel.*'] });
    await state.send('jobs', 'live');
    expect((await lua.exec("return host.channel.receive('jobs', 5)")).value).toBe('live');
    await state.close();
  }, 120_000);

  it('dispose while a receive waits withdraws it', async () => {
    const state = new MemoryStore();
    const lua = await createEngine('lua', { state, capabilities: ['channel.*'] });
    const running = lua.exec("return host.channel.receive('jobs', 60)").catch((e: Error) => e);
    await sleep(300);
    await lua.dispose();
    await running;
    await state.send('jobs', 'kept');
    expect(await state.receive('jobs', 0)).toEqual({ message: 'kept' });
    await state.close();
  }, 60_000);

  // A host.aio receive left running when its exec ends would keep waiting in the store
  // and takes the next message for a task nobody awaits: the request's end withdraws it.
  it('Python host.aio: a receive left running when its exec ends takes nothing', async () => {
    const state = new MemoryStore();
    await using py = await createEngine('python', { state, capabilities: ['channel.*'] });
    const r = await py.exec(
      "import asyncio, host\nt = asyncio.ensure_future(host.aio.channel.receive('jobs', 60))\nawait asyncio.sleep(0.2)",
    );
    expect(r.success).toBe(true);
    await state.send('jobs', 'kept');
    expect(await state.receive('jobs', 0)).toEqual({ message: 'kept' });
    await state.close();
  }, 60_000);

  it('a receive aborted through RunOptions.signal is withdrawn too', async () => {
    const state = new MemoryStore();
    await using lua = await createEngine('lua', { state, capabilities: ['channel.*'] });
    const ac = new AbortController();
    const running = lua.exec("return host.channel.receive('jobs', 60)", { signal: ac.signal });
    await sleep(200);
    ac.abort();
    await expect(running).rejects.toMatchObject({ code: 'ABORTED' });
    await state.send('jobs', 'kept');
    expect(await state.receive('jobs', 0)).toEqual({ message: 'kept' });
    await state.close();
  }, 60_000);
});

describe('class 4: store quotas', () => {
  it("an engine's own store is scaled to its memoryBytes", () => {
    expect(engineStoreLimits(32 * 1024 * 1024)).toEqual({
      maxKeys: 32_768,
      maxKvBytes: 32 * 1024 * 1024,
      maxQueuedMessages: 32_768,
      maxQueuedBytes: 32 * 1024 * 1024,
    });
    expect(engineStoreLimits(1024 * 1024).maxKeys).toBe(1024);
    expect(engineStoreLimits(8 * 1024 ** 3).maxKeys).toBe(100_000);
  });

  it('a script filling kv and a channel in a loop stops at the quota with PermissionError; the store holds no more', async () => {
    const state = new MemoryStore({ maxKvBytes: 2 * 1024 * 1024, maxQueuedBytes: 2 * 1024 * 1024 });
    await using lua = await createEngine('lua', { state, capabilities: ['kv.*', 'channel.*'] });
    const kv = await lua.exec(`
      local blob = string.rep('x', 64 * 1024)
      for i = 1, 10000 do host.kv.set('k' .. i, blob) end`);
    expect(kv.success).toBe(false);
    expect(kv.error?.type).toBe('PermissionError');
    expect(kv.error?.message).toMatch(/over its maxKvBytes \(2097152\); delete keys or raise maxKvBytes/);
    const keys = await state.keys();
    expect(keys.length).toBeGreaterThan(25);
    expect(keys.length * 64 * 1024).toBeLessThanOrEqual(2 * 1024 * 1024);
    const ch = await lua.exec(`
      local blob = string.rep('y', 64 * 1024)
      for i = 1, 10000 do host.channel.send('flood', blob) end`);
    expect(ch.error?.type).toBe('PermissionError');
    expect(ch.error?.message).toMatch(/over its maxQueuedBytes \(2097152\)/);
    expect((await drain(state, 'flood')).length).toBeLessThanOrEqual(32);
    await state.close();
  }, 60_000);
});

describe('lower severity: host.log, surrogate keys, fetch after dispose', () => {
  let lua: ScriptEngine;
  let py: ScriptEngine;
  const logs: LogEntry[] = [];
  beforeAll(async () => {
    [lua, py] = await Promise.all([
      createEngine('lua', { capabilities: ['log', 'kv.*', 'channel.*'], onLog: (e) => logs.push(e) }),
      createEngine('python', { capabilities: ['log', 'kv.*', 'channel.*'], onLog: (e) => logs.push(e) }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([lua?.dispose(), py?.dispose()]);
  });

  it('host.log of 6 MB with terminal escapes reaches the host capped and escaped; 10 MB is refused in the engine', async () => {
    logs.length = 0;
    // 10 MB is over limits.maxValueBytes (8 MiB): the engine refuses it before the host sees it.
    const huge = await lua.exec(`host.log(string.rep('A', 10 * 1024 * 1024))`);
    expect(huge.success).toBe(false);
    expect(huge.error?.message).toMatch(/maxValueBytes/);
    expect(logs).toHaveLength(0);
    const r = await lua.exec(`host.log('\\27]0;pwned\\7\\27[2J\\rfake line\\nnext\\t' .. string.rep('A', 6 * 1024 * 1024))`);
    expect(r.success).toBe(true);
    const msg = logs[0]!.message;
    expect(msg.length).toBeLessThan(MAX_LOG_CHARS + 64);
    expect(msg).toMatch(/…\[cut \d+ characters\]$/);
    expect(msg).not.toMatch(/[\x1b\x07\r]/);
    expect(msg.startsWith('\\x1b]0;pwned\\x07\\x1b[2J\\x0dfake line\nnext\t')).toBe(true);
    expect(safeLogText('a\u202eb\ud800c\u{1f600}')).toBe('a\\u202eb\\ud800c\u{1f600}');
    expect(safeLogText('short')).toBe('short');
  }, 60_000);

  it('the built-ins refuse kv keys and channel names with lone surrogates, whatever the store', async () => {
    // A custom store that checks nothing: the built-in must refuse before it is reached.
    const seen: string[] = [];
    const lax = new MemoryStore();
    const store: StateStore = {
      get: (k) => (seen.push(k), lax.get('x')),
      set: async (k) => void seen.push(k),
      delete: async (k) => (seen.push(k), false),
      keys: () => lax.keys(),
      send: async (c) => void seen.push(c),
      receive: async (c) => (seen.push(c), null),
      dispose: () => lax.dispose(),
      [Symbol.asyncDispose]: () => lax.dispose(),
    };
    const fns = builtinFunctions({ engineId: 'e', store, config: () => ({}), log: () => {}, allowedHosts: [] });
    for (const [fn, args] of [
      ['kv.set', ['a\ud800', 1]],
      ['kv.get', ['a\udfff']],
      ['kv.delete', ['\udc00b']],
      ['channel.send', ['c\ud800', 1]],
      ['channel.receive', ['c\ud800', 0]],
    ] as const) {
      await expect(
        Promise.resolve().then(() => fns[fn]!.fn(...args)),
        fn,
      ).rejects.toThrow(/lone UTF-16 surrogate/);
    }
    expect(seen).toEqual([]);
    await fns['kv.set']!.fn('a\u{1f600}', 1); // a well-formed pair is fine
    expect(seen).toEqual(['a\u{1f600}']);
  });

  // The Python wire would turn a lone surrogate into U+FFFD before the host sees it, so
  // 'a\ud800' and 'a\udfff' would land on one key: the engine refuses them instead.
  it('Python: kv keys that differ only in lone surrogates do not collide', async () => {
    const r = await py.exec('import host\nhost.kv.set("a\\ud800", 1)');
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/lone surrogate/);
    const ok = await py.exec('import host\nhost.kv.set("a\\u00e9", 2)\nhost.kv.keys("a")');
    expect(ok.value).toContain('a\u00e9');
    expect((ok.value as string[]).some((k) => k.includes('\ufffd'))).toBe(false);
  }, 60_000);
});

describe('host.fetch is aborted when its call stops', () => {
  let server: Server;
  let port = 0;
  const sockets: Socket[] = [];
  /** Sockets that carried a request, and those of them closed. */
  const requests: Socket[] = [];
  const closed: Socket[] = [];
  beforeAll(async () => {
    // A server that reads requests and never answers.
    server = createServer((s) => {
      sockets.push(s);
      s.once('data', () => requests.push(s));
      s.on('close', () => requests.includes(s) && closed.push(s));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('a timed-out call closes its socket to a server that never answers', async () => {
    await using lua = await createEngine('lua', { capabilities: ['net.fetch'], allowedHosts: [`127.0.0.1:${port}`] });
    const r = await lua.exec(`return host.fetch('http://127.0.0.1:${port}/hang')`, { timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    // Without the abort the request's socket stays open until the fetch's own timeout (minutes).
    for (let i = 0; i < 100 && closed.length < 1; i++) await sleep(20);
    expect(requests.length).toBe(1);
    expect(closed).toEqual(requests);
  }, 60_000);
});
