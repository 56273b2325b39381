/**
 * `scriptbox mcp` over stdio, driven by the official SDK's Client: the tools and their
 * schemas, sessions, limits, cancellation, progress, concurrency, bad input, and the escape
 * corpus run through the tools with the server's default settings.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BreachWatch, attemptOutput, loadCorpus } from '../security/breach.js';
import { call, openSession, stdioClient, structured, text } from './helpers.js';

let client: Client;

beforeAll(async () => {
  client = await stdioClient();
}, 60_000);
afterAll(async () => {
  await client?.close();
});

describe('scriptbox mcp over stdio', () => {
  it('lists the tools with their input and output schemas', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['close_session', 'list_sessions', 'open_session', 'run_lua', 'run_python']);
    const py = tools.find((t) => t.name === 'run_python')!;
    expect(py.inputSchema.required).toEqual(['code']);
    expect(Object.keys(py.inputSchema.properties ?? {}).sort()).toEqual(['code', 'session', 'timeout_ms']);
    expect(Object.keys(py.outputSchema?.properties ?? {})).toEqual(
      expect.arrayContaining(['success', 'value', 'stdout', 'stderr', 'error', 'timedOut', 'durationMs', 'truncated']),
    );
    expect(py.description).toContain('granted: nothing');
    const open = tools.find((t) => t.name === 'open_session')!;
    expect(open.inputSchema.required).toEqual(['language']);
  });

  it('runs code in a fresh engine: value, stdout and a text rendering; nothing survives to the next call', async () => {
    const r = await call(client, 'run_python', { code: 'print("hi")\nx = 6 * 7\nx' });
    expect(r.isError).toBeFalsy();
    expect(structured(r)).toMatchObject({ success: true, value: 42, stdout: 'hi\n', timedOut: false, truncated: false });
    expect(text(r)).toContain('=> 42');
    const again = await call(client, 'run_python', { code: 'x' });
    expect(again.isError).toBe(true);
    expect(structured(again).error?.type).toBe('NameError');
    const lua = await call(client, 'run_lua', { code: 'return 6 * 7' });
    expect(structured(lua)).toMatchObject({ success: true, value: 42 });
  });

  it('rich outputs (host.display) become MCP image content (base64) and text content', async () => {
    const r = await call(client, 'run_python', {
      code: 'import host\nhost.display(b"\\x89PNG\\r\\n", "image/png")\nhost.display("<b>hi</b>", "text/html")\n1',
    });
    expect(r.isError).toBeFalsy();
    expect(r.content.slice(1)).toEqual([
      { type: 'image', data: Buffer.from('\x89PNG\r\n', 'latin1').toString('base64'), mimeType: 'image/png' },
      { type: 'text', text: '[text/html]\n<b>hi</b>' },
    ]);
  });

  it('a script error is a tool result with isError and the error structured, not a protocol error', async () => {
    const r = await call(client, 'run_python', { code: 'def f():\n    raise ValueError("bad value")\nf()' });
    expect(r.isError).toBe(true);
    const s = structured(r);
    expect(s.success).toBe(false);
    expect(s.error).toMatchObject({ type: 'ValueError', message: 'bad value', line: 2 });
    expect(s.error?.traceback).toContain('ValueError');
    expect(text(r)).toContain('ValueError: bad value');
  });

  it('a session keeps its variables across calls, in Python and Lua, and is listed and closed', async () => {
    const py = await openSession(client, 'python');
    const lua = await openSession(client, 'lua');
    await call(client, 'run_python', { code: 'counter = 41', session: py });
    await call(client, 'run_lua', { code: 'counter = 1', session: lua });
    expect(structured(await call(client, 'run_python', { code: 'counter += 1\ncounter', session: py }))).toMatchObject({
      value: 42,
      session: py,
    });
    expect(structured(await call(client, 'run_lua', { code: 'counter = counter + 1 return counter', session: lua })).value).toBe(2);
    const listed = (await call(client, 'list_sessions', {})).structuredContent as { sessions: { session: string; language: string }[] };
    expect(listed.sessions).toEqual(expect.arrayContaining([expect.objectContaining({ session: py, language: 'python' })]));
    const wrong = await call(client, 'run_lua', { code: 'return 1', session: py });
    expect(wrong.isError).toBe(true);
    expect(text(wrong)).toContain(`session '${py}' runs python, not lua`);
    expect((await call(client, 'close_session', { session: py })).isError).toBeFalsy();
    await call(client, 'close_session', { session: lua });
    const gone = await call(client, 'run_python', { code: 'counter', session: py });
    expect(gone.isError).toBe(true);
    expect(text(gone)).toContain(`unknown session '${py}'`);
  });

  it('a timeout ends an endless loop, and the session answers afterwards', async () => {
    const s = await openSession(client, 'python');
    await call(client, 'run_python', { code: 'kept = "yes"', session: s });
    const r = await call(client, 'run_python', { code: 'while True:\n    pass', session: s, timeout_ms: 500 });
    expect(r.isError).toBe(true);
    expect(structured(r).timedOut).toBe(true);
    expect(structured(await call(client, 'run_python', { code: 'kept', session: s })).value).toBe('yes');
    await call(client, 'close_session', { session: s });
  });

  it("the client's cancel interrupts running code; progress streamed its stdout; the session keeps its state", async () => {
    const s = await openSession(client, 'python');
    await call(client, 'run_python', { code: 'kept = 7', session: s });
    const ac = new AbortController();
    const messages: string[] = [];
    const started = performance.now();
    const running = call(
      client,
      'run_python',
      { code: 'import time\ni = 0\nwhile True:\n    print("tick", i, flush=True)\n    i += 1\n    time.sleep(0.05)', session: s },
      {
        signal: ac.signal,
        onprogress: (p) => {
          messages.push(String(p.message));
          if (messages.some((m) => m.includes('tick 2'))) ac.abort();
        },
      },
    );
    await expect(running).rejects.toThrow(/abort/i);
    // The loop runs until the timeout (30 s) unless the cancel reached the engine.
    const after = await call(client, 'run_python', { code: 'kept + i', session: s });
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(messages[0]).toBe('started');
    // Output arrives in chunks as the engine flushes it: several prints may share one notification.
    expect(messages.slice(1).join('')).toMatch(/^tick 0\ntick 1\ntick 2\n/);
    expect(structured(after).value).toBeGreaterThanOrEqual(7 + 2);
    await call(client, 'close_session', { session: s });
  });

  it('8 concurrent calls on 8 sessions all answer correctly', async () => {
    const langs = ['python', 'lua', 'python', 'lua', 'python', 'lua', 'python', 'lua'] as const;
    const sessions = await Promise.all(langs.map((l) => openSession(client, l)));
    await Promise.all(sessions.map((s, i) => call(client, `run_${langs[i]}`, { code: `n = ${i}`, session: s })));
    const results = await Promise.all(
      sessions.map((s, i) =>
        call(client, `run_${langs[i]}`, {
          code: langs[i] === 'python' ? 'sum(range(100000)) + n' : 'local t = 0 for k = 0, 99999 do t = t + k end return t + n',
          session: s,
        }),
      ),
    );
    expect(results.map((r) => structured(r).value)).toEqual(langs.map((_, i) => 4999950000 + i));
    await Promise.all(sessions.map((s) => call(client, 'close_session', { session: s })));
  }, 60_000);

  it('bad input is a tool error naming the problem', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['run_python', {}, /expected string, received undefined at code/],
      ['run_python', { code: 42 }, /expected string, received number at code/],
      ['run_lua', { code: '' }, /code is empty/],
      ['run_python', { code: '1', session: 'py-000000000000' }, /unknown session 'py-000000000000'/],
      ['run_python', { code: '1', session: 5 }, /received number at session/],
      ['run_python', { code: '1', timeout_ms: 'soon' }, /timeout_ms/],
      ['run_python', { code: '1', timeout_ms: 10_000_000 }, /timeout_ms 10000000 is over the server's limit of 300000 ms/],
      ['run_python', { code: `x = "${'a'.repeat(300 * 1024)}"` }, /code is \d+ bytes, over the server's limit of 262144 \(maxCodeBytes\)/],
      ['open_session', { language: 'ruby' }, /language/],
      ['close_session', { session: 'nope' }, /unknown session 'nope'/],
    ];
    for (const [tool, args, message] of cases) {
      const r = await call(client, tool, args);
      expect(r.isError, `${tool} ${JSON.stringify(args).slice(0, 60)}`).toBe(true);
      expect(text(r)).toMatch(message);
    }
  });
});

describe('the escape corpus through the MCP tools, default server settings', () => {
  const watch = new BreachWatch();
  const attacks = loadCorpus();
  const sessions: Record<string, string> = {};

  beforeAll(async () => {
    await watch.start();
    sessions.python = await openSession(client, 'python');
    sessions.lua = await openSession(client, 'lua');
  }, 60_000);
  afterAll(async () => {
    await watch.stop();
  });

  async function attempt(a: (typeof attacks)[number], session?: string): Promise<void> {
    watch.arm();
    const r = await call(
      client,
      `run_${a.language}`,
      { code: a.code, timeout_ms: 4000, ...(session ? { session } : {}) },
      { timeout: 60_000 },
    );
    const s = structured(r);
    expect(watch.breaches(attemptOutput(s)), `${a.id}: ${attemptOutput(s)}`).toEqual([]);
    if (a.expect === 'error') expect(s.success, `${a.id} should end with an error`).toBe(false);
  }

  // Every entry, in one session per language (an attack that leaves something behind meets the next one).
  it('contains every entry, run in a session per language', async () => {
    expect(attacks.length).toBeGreaterThanOrEqual(60);
    for (const a of attacks) await attempt(a, sessions[a.language]);
    for (const [language, session] of Object.entries(sessions)) {
      const probe = await call(client, `run_${language}`, { code: language === 'python' ? '1 + 1' : 'return 1 + 1', session });
      expect(structured(probe).value).toBe(2);
    }
  }, 120_000);

  // Fresh engines cost a process boot each: a subset covering files, processes, the JS realm and memory
  // (loops and the rest run in the session test above).
  it('contains a representative subset in fresh engines (no session)', async () => {
    const ids = ['py-open-canary', 'py-posix-system', 'py-js-globalthis', 'py-list-bomb', 'lua-os-execute', 'lua-io-open-passwd'];
    const subset = attacks.filter((a) => ids.includes(a.id));
    expect(subset.length).toBe(ids.length);
    for (const a of subset) await attempt(a);
  }, 120_000);
});
