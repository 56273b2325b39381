/**
 * Streamable HTTP for the MCP server: one SDK transport (and one McpServer) per MCP
 * session, found by the `mcp-session-id` header. A bearer token, when set, is checked
 * before anything else (401 without it); the Host header is checked against the bound
 * address so a web page cannot reach a loopback server through DNS rebinding.
 */
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { ScriptBoxMcp } from './server.js';

export interface HttpOptions {
  host: string;
  port: number;
  /** Required unless `host` is a loopback address. */
  token?: string;
}

export interface HttpEndpoint {
  /** `http://host:port/mcp` */
  url: string;
  close(): Promise<void>;
}

export const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Compares digests so the time taken says nothing about the token. */
function sameToken(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function reply(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

export async function serveHttp(mcp: ScriptBoxMcp, opts: HttpOptions): Promise<HttpEndpoint> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  let hosts: string[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (opts.token !== undefined) {
      const auth = req.headers.authorization ?? '';
      const given = /^Bearer (.+)$/i.exec(auth)?.[1];
      if (given === undefined || !sameToken(given, opts.token)) {
        reply(res, 401, 'a bearer token is required: send Authorization: Bearer <token>', { 'www-authenticate': 'Bearer' });
        return;
      }
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/mcp') {
      reply(res, 404, 'the MCP endpoint is /mcp');
      return;
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const t = transports.get(sid);
      if (!t) {
        reply(res, 404, `unknown MCP session ${sid}; initialize again`);
        return;
      }
      await t.handleRequest(req, res);
      return;
    }
    if (req.method !== 'POST') {
      reply(res, 400, 'no mcp-session-id header: send an initialize request first');
      return;
    }
    const body = await readJson(req);
    if (!isInitializeRequest(body)) {
      reply(res, 400, 'no mcp-session-id header: the first request must be initialize');
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void transports.set(id, transport),
      enableDnsRebindingProtection: LOOPBACK.has(opts.host),
      allowedHosts: hosts,
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await mcp.server().connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) reply(res, 500, e.message);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, resolve);
  });
  const { port } = http.address() as AddressInfo;
  const shown = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  hosts = [`${shown}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`];
  return {
    url: `http://${shown}:${port}/mcp`,
    close: async () => {
      await Promise.all([...transports.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

const MAX_BODY = 16 * 1024 * 1024;

/** The request body as JSON (bounded: a body past 16 MiB is refused). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body over 16 MiB');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    // Not JSON: not an initialize request either, and the caller says so.
    return undefined;
  }
}
