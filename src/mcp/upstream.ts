/**
 * Code Mode: other MCP servers, started as child processes and driven as an MCP client,
 * whose tools scripts call as host functions: `host.tools.<server>.<tool>(args)` (blocking;
 * `await host.aio.tools.<server>.<tool>(args)` in Python), each server's tools gated by the
 * capability `tools.<server>`. An agent writes one script that calls many tools and gets
 * back only what the script returns.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { stoppable, type HostFunction } from '../capabilities/registry.js';
import { InvalidInputError, UnavailableError } from '../errors.js';

export interface UpstreamTool {
  server: string;
  /** The tool's name upstream. */
  tool: string;
  /** Its host function name: `tools.<server>.<tool>` with both made identifiers. */
  name: string;
  capability: string;
  description: string;
}

/** A name scripts can write after a dot: letters, digits and `_`, not starting with a digit. */
export function identifier(s: string): string {
  const id = s.replace(/\W/g, '_');
  return /^\d/.test(id) ? `_${id}` : id;
}

/**
 * Splits `[name=]command args...` into words; single or double quotes group words, a
 * backslash escapes the next character. No shell is involved.
 */
export function splitCommand(spec: string): { name?: string; argv: string[] } {
  const named = /^([A-Za-z_]\w*)=(.*)$/s.exec(spec.trim());
  const text = named ? named[2]! : spec;
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new InvalidInputError(`--upstream ${JSON.stringify(spec)}: a ${quote} quote is not closed`);
  if (inWord) argv.push(word);
  if (argv.length === 0)
    throw new InvalidInputError(`--upstream ${JSON.stringify(spec)} has no command; give e.g. --upstream "files=npx my-mcp-server"`);
  return { ...(named ? { name: named[1] } : {}), argv };
}

/** What an upstream tool's result becomes for the script: its structured content, else its text, else the content list. */
function scriptValue(r: CallToolResult, name: string): unknown {
  const text = r.content
    .filter((c) => c.type === 'text')
    .map((c) => (c as { text: string }).text)
    .join('\n');
  if (r.isError) throw new Error(`host.${name} failed upstream: ${text || 'no message'}`);
  if (r.structuredContent !== undefined) return r.structuredContent;
  if (r.content.every((c) => c.type === 'text')) return text;
  return r.content.map((c) => (c.type === 'text' ? { type: 'text', text: (c as { text: string }).text } : { type: c.type }));
}

/** Arguments from a script (a dict / table, or nothing) as a JSON object. */
function toolArgs(args: unknown, name: string): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  if (args instanceof Map) return Object.fromEntries([...args].map(([k, v]) => [String(k), v]));
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new InvalidInputError(`host.${name} takes one argument, a dict (Python) or table (Lua) of the tool's arguments`);
  }
  return args as Record<string, unknown>;
}

/** Connected upstream servers and the host functions their tools become. */
export class Upstreams {
  readonly tools: UpstreamTool[] = [];
  private readonly clients: Client[] = [];

  /** Starts each upstream server, lists its tools; fails naming the server that did not answer. */
  static async connect(specs: string[], opts: { stderr?: 'inherit' | 'ignore' } = {}): Promise<Upstreams> {
    const u = new Upstreams();
    try {
      const taken = new Set<string>();
      for (const spec of specs) {
        const { name, argv } = splitCommand(spec);
        const client = new Client({ name: 'scriptbox', version: '1' });
        const transport = new StdioClientTransport({
          command: argv[0]!,
          args: argv.slice(1),
          env: getDefaultEnvironment(),
          stderr: opts.stderr ?? 'inherit',
        });
        try {
          await client.connect(transport);
        } catch (e) {
          throw new UnavailableError(`upstream MCP server ${JSON.stringify(spec)} did not start: ${(e as Error).message}`, { cause: e });
        }
        u.clients.push(client);
        const server = identifier(name ?? client.getServerVersion()?.name ?? argv[0]!);
        if (taken.has(server)) throw new InvalidInputError(`two upstream servers are named '${server}'; name them apart with NAME=command`);
        taken.add(server);
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor ? { cursor } : {});
          for (const t of page.tools) {
            u.tools.push({
              server,
              tool: t.name,
              name: `tools.${server}.${identifier(t.name)}`,
              capability: `tools.${server}`,
              description: t.description ?? '',
            });
            u.byName.set(`tools.${server}.${identifier(t.name)}`, { client, tool: t.name });
          }
          cursor = page.nextCursor;
        } while (cursor);
      }
    } catch (e) {
      await u.close();
      throw e;
    }
    return u;
  }

  private readonly byName = new Map<string, { client: Client; tool: string }>();

  /** The host functions for `EngineOptions.hostFunctions`; a stopped script call cancels the upstream call. */
  hostFunctions(): Record<string, { fn: HostFunction; capability: string }> {
    const out: Record<string, { fn: HostFunction; capability: string }> = {};
    for (const t of this.tools) {
      const { client, tool } = this.byName.get(t.name)!;
      const fn = stoppable(async (signal, args) => {
        const r = (await client.callTool(
          { name: tool, arguments: toolArgs(args, t.name) },
          undefined,
          signal ? { signal } : {},
        )) as CallToolResult;
        return scriptValue(r, t.name);
      });
      out[t.name] = { fn, capability: t.capability };
    }
    return out;
  }

  /** One line per tool, for the run tools' descriptions. */
  describe(): string {
    return this.tools
      .map((t) => `host.tools.${t.server}.${identifier(t.tool)}(args)${t.description ? `: ${t.description.split('\n')[0]}` : ''}`)
      .join('\n');
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    this.clients.length = 0;
  }
}
