/**
 * The ScriptBox MCP service: engines, sessions and upstream servers, shared by every MCP
 * connection (one over stdio, or one per HTTP client), each connection an `McpServer` of
 * the official SDK with the tools of tools.ts.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { McpConfig } from './config.js';
import { Engines } from './engines.js';
import { Sessions } from './sessions.js';
import { registerTools } from './tools.js';
import { Upstreams } from './upstream.js';

export class ScriptBoxMcp implements AsyncDisposable {
  private constructor(
    readonly config: McpConfig,
    readonly engines: Engines,
    readonly sessions: Sessions,
    readonly upstreams: Upstreams | undefined,
    private readonly version: string,
  ) {}

  /** Connects the upstream servers, then starts warming the engine pools (not waited for). */
  static async start(config: McpConfig, opts: { version?: string; warm?: boolean } = {}): Promise<ScriptBoxMcp> {
    const upstreams = config.upstream.length ? await Upstreams.connect(config.upstream) : undefined;
    const engines = new Engines(config, upstreams?.hostFunctions() ?? {});
    const sessions = new Sessions(engines, config);
    const mcp = new ScriptBoxMcp(config, engines, sessions, upstreams, opts.version ?? '0');
    if (opts.warm !== false) engines.warm();
    return mcp;
  }

  /** A new MCP server (protocol endpoint) over this service; connect it to one transport. */
  server(): McpServer {
    const server = new McpServer(
      { name: 'scriptbox', version: this.version },
      {
        instructions:
          'Run Python or Lua in sandboxed interpreters. Use open_session for state that persists between calls; run_python / run_lua without a session run in a fresh engine.',
      },
    );
    registerTools(server, { config: this.config, engines: this.engines, sessions: this.sessions, upstreams: this.upstreams });
    return server;
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
    await this.engines.dispose();
    await this.upstreams?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
