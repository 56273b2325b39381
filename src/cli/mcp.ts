/**
 * `scriptbox mcp`: the MCP server (src/mcp/) over stdio (default) or Streamable HTTP. Its
 * policy comes from `--config scriptbox.json` and flags (flags win); see docs/mcp.md.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { ScriptBoxError } from '../errors.js';
import { checkConfig, parseMount, resolveConfig, type McpConfig } from '../mcp/config.js';
import { LOOPBACK, serveHttp } from '../mcp/http.js';
import { ScriptBoxMcp } from '../mcp/server.js';

export const MCP_USAGE = `usage: scriptbox mcp [--http [HOST:]PORT] [--config FILE] [options]

Serves run_python, run_lua, open_session, list_sessions and close_session to an MCP client,
over stdio (default) or Streamable HTTP at http://HOST:PORT/mcp.

  --http [HOST:]PORT   serve HTTP instead of stdio; HOST defaults to 127.0.0.1
  --token TOKEN        bearer token HTTP clients must send (default: env SCRIPTBOX_MCP_TOKEN);
                       required when HOST is not a loopback address
  --config FILE        settings from a JSON file (docs/mcp.md lists them); flags override it
  --placement P        process (default) or worker
  --timeout MS         default time limit per call (30000)
  --max-timeout MS     the most a call's timeout_ms may ask for (300000)
  --memory MB          memory per engine (256)
  --max-output BYTES   output kept per call (65536)
  --max-code BYTES     largest code a call may send (262144)
  --max-sessions N     sessions open at once (16)
  --idle-ms MS         close a session unused this long (900000)
  --warm N             engines kept warm per language for calls without a session (1)
  --allow CAPS         grant capabilities, comma-separated (kv.*, net.fetch, fs.read, tools.NAME); none by default
  --allow-host H       a host[:port] host.fetch may reach (repeatable; needs --allow net.fetch)
  --mount DIR:/path[:ro]  a host directory scripts may use (repeatable; needs --allow fs.*)
  --upstream CMD       [NAME=]command of an MCP server whose tools scripts call as
                       host.tools.NAME.TOOL(args) (repeatable; needs --allow tools.NAME)`;

function usageError(message: string): number {
  process.stderr.write(`scriptbox mcp: ${message}\n\n${MCP_USAGE}\n`);
  return 2;
}

/** A numeric flag as a number (or the text itself, so checkConfig's message shows what was given). */
function number(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : v;
}

/** Parses `[host:]port`. */
export function parseListen(s: string): { host: string; port: number } | undefined {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}

export async function mcpMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        http: { type: 'string' },
        token: { type: 'string' },
        config: { type: 'string' },
        placement: { type: 'string' },
        timeout: { type: 'string' },
        'max-timeout': { type: 'string' },
        memory: { type: 'string' },
        'max-output': { type: 'string' },
        'max-code': { type: 'string' },
        'max-sessions': { type: 'string' },
        'idle-ms': { type: 'string' },
        warm: { type: 'string' },
        allow: { type: 'string' },
        'allow-host': { type: 'string', multiple: true },
        mount: { type: 'string', multiple: true },
        upstream: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${MCP_USAGE}\n`);
    return 0;
  }

  let config: McpConfig;
  try {
    const layers = [];
    if (v.config !== undefined) {
      let text: string;
      try {
        text = await readFile(v.config, 'utf8');
      } catch (e) {
        return usageError(`cannot read --config ${v.config}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        return usageError(`${v.config} is not JSON: ${(e as Error).message}`);
      }
      layers.push(checkConfig(raw, v.config));
    }
    // Each flag is checked on its own, so a message names the flag that was given.
    const flags: [string, string, unknown][] = [
      ['--placement', 'placement', v.placement],
      ['--timeout', 'timeoutMs', number(v.timeout)],
      ['--max-timeout', 'maxTimeoutMs', number(v['max-timeout'])],
      ['--memory', 'memoryMb', number(v.memory)],
      ['--max-output', 'maxOutputBytes', number(v['max-output'])],
      ['--max-code', 'maxCodeBytes', number(v['max-code'])],
      ['--max-sessions', 'maxSessions', number(v['max-sessions'])],
      ['--idle-ms', 'sessionIdleMs', number(v['idle-ms'])],
      ['--warm', 'warmEngines', number(v.warm)],
      [
        '--allow',
        'capabilities',
        v.allow
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ],
      ['--allow-host', 'allowedHosts', v['allow-host']],
      ['--mount', 'mounts', v.mount?.map((m) => parseMount('--mount', m))],
      ['--upstream', 'upstream', v.upstream],
    ];
    for (const [flag, key, value] of flags) if (value !== undefined) layers.push(checkConfig({ [key]: value }, flag));
    config = resolveConfig(...layers);
  } catch (e) {
    if (e instanceof ScriptBoxError) return usageError(e.message);
    throw e;
  }

  let listen: { host: string; port: number } | undefined;
  const token = v.token ?? process.env.SCRIPTBOX_MCP_TOKEN;
  if (v.http !== undefined) {
    listen = parseListen(v.http);
    if (!listen) return usageError(`--http takes [HOST:]PORT, e.g. 8765 or 0.0.0.0:8765 (got ${v.http})`);
    if (!LOOPBACK.has(listen.host) && !token) {
      return usageError(
        `--http ${v.http} listens beyond this machine, so it needs a bearer token: pass --token TOKEN or set SCRIPTBOX_MCP_TOKEN (or bind 127.0.0.1)`,
      );
    }
  } else if (v.token !== undefined) {
    return usageError('--token is for --http; over stdio the client that starts the server is the only one who can reach it');
  }

  let mcp: ScriptBoxMcp;
  try {
    mcp = await ScriptBoxMcp.start(config, { version: await version() });
  } catch (e) {
    process.stderr.write(`scriptbox mcp: ${(e as ScriptBoxError).code ?? 'ERROR'}: ${(e as Error).message}\n`);
    return 2;
  }

  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (!listen) process.stdin.once('end', resolve);
  });
  if (listen) {
    const endpoint = await serveHttp(mcp, { ...listen, ...(token ? { token } : {}) });
    process.stderr.write(`scriptbox mcp: listening on ${endpoint.url}${token ? ' (bearer token required)' : ''}\n`);
    await stopped;
    await endpoint.close();
  } else {
    const transport = new StdioServerTransport();
    const server = mcp.server();
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    await server.connect(transport);
    await Promise.race([stopped, closed]);
    await server.close();
  }
  await mcp.dispose();
  return 0;
}

async function version(): Promise<string> {
  const manifest = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(manifest.version);
}
