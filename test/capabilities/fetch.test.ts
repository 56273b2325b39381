/**
 * host.fetch: only hosts in allowedHosts, checked again on every redirect; answers as
 * plain data. A real HTTP server on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostAllowed } from '../../src/capabilities/fetch.js';
import { createEngine, InvalidInputError, type ScriptEngine } from '../../src/index.js';

describe('allowedHosts patterns', () => {
  it('match host, port, any port and subdomains', () => {
    const ok = (p: string[], u: string) => hostAllowed(p, new URL(u));
    expect(ok(['api.example.com'], 'https://api.example.com/x')).toBe(true);
    expect(ok(['api.example.com'], 'https://api.example.com:8443/x')).toBe(false);
    expect(ok(['api.example.com:8443'], 'https://api.example.com:8443/x')).toBe(true);
    expect(ok(['127.0.0.1:*'], 'http://127.0.0.1:9/x')).toBe(true);
    expect(ok(['*.example.com'], 'https://a.b.example.com/')).toBe(true);
    expect(ok(['*.example.com'], 'https://example.com.evil.org/')).toBe(false);
    expect(ok(['*.example.com'], 'https://evilexample.com/')).toBe(false);
    expect(ok([], 'https://example.com/')).toBe(false);
  });
});

describe('host.fetch from Python and Lua', () => {
  let server: Server;
  let hits: string[] = [];
  let port = 0;
  let py: ScriptEngine;
  let lua: ScriptEngine;

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url === '/json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1}');
      if (req.url === '/bin') return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0, 1, 255]));
      if (req.url === '/hop') return res.writeHead(302, { location: '/json' }).end();
      if (req.url === '/away') return res.writeHead(302, { location: 'http://localhost:9/steal' }).end();
      if (req.url === '/echo') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => res.writeHead(201, { 'content-type': 'text/plain' }).end(`got ${body} ${req.headers['x-k']}`));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    const opts = { capabilities: ['net.fetch'], allowedHosts: [`127.0.0.1:${port}`] };
    [py, lua] = await Promise.all([createEngine('python', opts), createEngine('lua', opts)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([py?.dispose(), lua?.dispose()]);
    await new Promise((r) => server.close(r));
  });

  it('fetches from an allowed host, text and bytes, with method, headers and body', async () => {
    const base = `http://127.0.0.1:${port}`;
    const r = await py.exec(`import host, json\nr = host.fetch("${base}/json")\n[r["status"], r["ok"], json.loads(r["body"])]`);
    expect(r.value).toEqual([200, true, { a: 1 }]);
    expect((await py.exec(`host.fetch("${base}/bin")["body"]`)).value).toEqual(new Uint8Array([0, 1, 255]));
    const post = await lua.exec(
      `local r = host.fetch("${base}/echo", { method = "POST", body = "hi", headers = { ["x-k"] = "v" } }) return r.status, r.body`,
    );
    expect(post.value).toEqual([201, 'got hi v']);
    expect((await py.exec(`host.fetch("${base}/hop")["url"]`)).value).toBe(`${base}/json`);
  });

  it('refuses hosts outside allowedHosts, also after a redirect, without connecting', async () => {
    hits = [];
    const r = await py.exec('host.fetch("http://127.0.0.1:18081/x")');
    expect(r.error?.type).toBe('PermissionError');
    expect(r.error?.message).toMatch(/127.0.0.1:18081 is not in this engine's allowedHosts/);
    const away = await lua.exec(`return host.fetch("http://127.0.0.1:${port}/away")`);
    expect(away.error?.message).toMatch(/^PermissionError: .*localhost:9 is not in this engine's allowedHosts/);
    expect(hits).toEqual(['GET /away']);
    expect((await py.exec('host.fetch("file:///etc/passwd")')).error?.type).toBe('PermissionError');
    expect((await py.exec('host.fetch("not a url")')).error?.message).toMatch(/not an absolute URL/);
  });

  it('needs the net.fetch capability, and an engine without allowedHosts reaches nothing', async () => {
    await using none = await createEngine('lua', { capabilities: ['net.fetch'] });
    expect((await none.exec(`return host.fetch("http://127.0.0.1:${port}/json")`)).error?.message).toMatch(/allowedHosts \(none\)/);
    await using ungranted = await createEngine('lua', { allowedHosts: [`127.0.0.1:${port}`] });
    expect((await ungranted.exec(`return host.fetch("http://127.0.0.1:${port}/json")`)).error?.message).toMatch(
      /needs capability 'net.fetch'/,
    );
    await expect(createEngine('lua', { allowedHosts: ['http://x.com/'] })).rejects.toBeInstanceOf(InvalidInputError);
  });
});
