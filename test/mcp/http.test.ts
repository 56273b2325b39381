/**
 * `scriptbox mcp --http` on loopback, driven by the SDK's Client over Streamable HTTP: the
 * bearer token (401 without it), sessions over HTTP, and Code Mode: tools of a real
 * upstream MCP server (test/mcp/fixtures/upstream-server.mjs) called from Python and Lua,
 * gated by their capability.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, UPSTREAM, call, openSession, structured, text } from './helpers.js';

const TOKEN = 'test-token-5b1e';
let server: ChildProcess;
let url: string;
let client: Client;

/** Starts the CLI and resolves with what it printed on stderr once `until` matches (or it exits). */
function startCli(args: string[], until: RegExp): Promise<{ child: ChildProcess; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'mcp', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (until.test(stderr)) resolve({ child, stderr, code: null });
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ child, stderr, code }));
  });
}

beforeAll(async () => {
  const started = await startCli(
    [
      '--http',
      '127.0.0.1:0',
      '--token',
      TOKEN,
      '--allow',
      'tools.calc',
      '--upstream',
      `calc=node ${UPSTREAM}`,
      '--upstream',
      `other=node ${UPSTREAM}`,
    ],
    /listening on (\S+)/,
  );
  server = started.child;
  url = /listening on (\S+)/.exec(started.stderr)![1]!;
  client = new Client({ name: 'scriptbox-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
}, 60_000);

afterAll(async () => {
  await client?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
});

describe('scriptbox mcp --http', () => {
  it('binds loopback and refuses requests without the bearer token (401)', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const none = await fetch(url, { method: 'POST', headers, body: JSON.stringify(init) });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await fetch(url, { method: 'POST', headers: { ...headers, authorization: 'Bearer not-it' }, body: JSON.stringify(init) });
    expect(wrong.status).toBe(401);
    const bare = new Client({ name: 'no-token', version: '1' });
    await expect(bare.connect(new StreamableHTTPClientTransport(new URL(url)))).rejects.toThrow();
  });

  it('serves the tools and keeps a session across calls over HTTP', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['close_session', 'list_sessions', 'open_session', 'run_lua', 'run_python']);
    const s = await openSession(client, 'python');
    await call(client, 'run_python', { code: 'total = 40', session: s });
    expect(structured(await call(client, 'run_python', { code: 'total + 2', session: s })).value).toBe(42);
    await call(client, 'close_session', { session: s });
  });

  it("Code Mode: the run tools' descriptions list the upstream tools", async () => {
    const { tools } = await client.listTools();
    const d = tools.find((t) => t.name === 'run_python')!.description!;
    expect(d).toContain('host.tools.calc.add(args): Adds two numbers');
    expect(d).toContain('host.tools.calc.shout_text(args)');
  });

  it('Code Mode: Python calls upstream tools blocking and with host.aio, in one script', async () => {
    const r = await call(client, 'run_python', {
      code: [
        'import asyncio, host',
        'a = host.tools.calc.add({"a": 40, "b": 2})["sum"]',
        'b, c = await asyncio.gather(host.aio.tools.calc.shout_text({"text": "hi"}), host.aio.tools.calc.add({"a": 1, "b": 1}))',
        '[a, b, c["sum"]]',
      ].join('\n'),
    });
    expect(structured(r)).toMatchObject({ success: true, value: [42, 'HI', 2] });
  });

  it('Code Mode: Lua calls upstream tools; an upstream tool error is a script error', async () => {
    expect(structured(await call(client, 'run_lua', { code: 'return host.tools.calc.add({a = 2, b = 5}).sum' })).value).toBe(7);
    const failed = await call(client, 'run_lua', { code: 'return host.tools.calc.refuse()' });
    expect(failed.isError).toBe(true);
    expect(text(failed)).toContain('host.tools.calc.refuse failed upstream: no, never');
  });

  it("Code Mode: a server's tools need its capability (tools.other was not granted)", async () => {
    const r = await call(client, 'run_python', { code: 'import host\nhost.tools.other.add({"a": 1, "b": 2})' });
    expect(r.isError).toBe(true);
    expect(structured(r).error).toMatchObject({ type: 'PermissionError' });
    expect(structured(r).error?.message).toContain("needs capability 'tools.other'");
  });
});

describe('scriptbox mcp --http refuses unsafe or wrong settings', () => {
  it('refuses to listen beyond loopback without a token', async () => {
    const r = await startCli(['--http', '0.0.0.0:0'], /$^/);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--http 0.0.0.0:0 listens beyond this machine, so it needs a bearer token');
  });

  it('refuses inline placement and a bad listen address with exact messages', async () => {
    const inline = await startCli(['--placement', 'inline'], /$^/);
    expect(inline.code).toBe(2);
    expect(inline.stderr).toContain("--placement: placement 'inline' runs scripts on the server's own thread, which does not isolate them");
    const bad = await startCli(['--http', 'localhost:99999'], /$^/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--http takes [HOST:]PORT');
  });
});
