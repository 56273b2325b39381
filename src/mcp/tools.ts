/**
 * The MCP tools: `run_python` and `run_lua` (code, optional session, optional timeout_ms),
 * `open_session`, `list_sessions`, `close_session`. One tool per language rather than one
 * `run` with a `language` argument: an agent picks a tool by its name and description, each
 * description can say how its language returns a value, and there is no enum to get wrong.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ExecResult, Language, ScriptEngine } from '../engine/types.js';
import { InvalidInputError } from '../errors.js';
import type { McpConfig } from './config.js';
import type { Engines } from './engines.js';
import { RUN_OUTPUT, toolResult } from './result.js';
import type { Session, Sessions } from './sessions.js';
import type { Upstreams } from './upstream.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolDeps {
  config: McpConfig;
  engines: Engines;
  sessions: Sessions;
  upstreams: Upstreams | undefined;
}

const HOW: Record<Language, string> = {
  python:
    'Runs Python 3 (Pyodide, standard library only) in a WebAssembly sandbox. The value of the last expression is returned as `value` (like a notebook cell); print() goes to stdout.',
  lua: 'Runs Lua 5.4 in a WebAssembly sandbox. `return x` (or a trailing expression) becomes `value`; print() goes to stdout.',
};

function description(language: Language, d: ToolDeps): string {
  const lines = [
    HOW[language],
    'Without `session` the code runs in a fresh engine that is thrown away after; with a `session` id from open_session, globals persist between calls.',
    `No network or file access unless the server grants it (granted: ${d.config.capabilities.length ? d.config.capabilities.join(', ') : 'nothing'}). Default time limit ${d.config.timeoutMs} ms.`,
  ];
  if (d.upstreams?.tools.length) {
    lines.push(
      `Tools of other MCP servers are callable from the code (one script can call many and return only the result)${language === 'python' ? '; `import host` first, `await host.aio.tools...` is the concurrent form' : ''}:`,
      d.upstreams.describe(),
    );
  }
  return lines.join('\n');
}

/** Runs calls on one session in arrival order, so each call's output sink is its own. */
const queues = new WeakMap<Session, Promise<unknown>>();

function serialized<T>(s: Session, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(s) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  // The queue only orders calls; each caller sees its own call's outcome.
  queues.set(
    s,
    next.catch(() => undefined),
  );
  return next;
}

async function runCode(
  d: ToolDeps,
  language: Language,
  args: { code: string; session?: string | undefined; timeout_ms?: number | undefined },
  extra: Extra,
) {
  const bytes = Buffer.byteLength(args.code, 'utf8');
  if (bytes > d.config.maxCodeBytes) {
    throw new InvalidInputError(
      `code is ${bytes} bytes, over the server's limit of ${d.config.maxCodeBytes} (maxCodeBytes); send less code, or load data through a capability`,
    );
  }
  if (args.timeout_ms !== undefined && args.timeout_ms > d.config.maxTimeoutMs) {
    throw new InvalidInputError(
      `timeout_ms ${args.timeout_ms} is over the server's limit of ${d.config.maxTimeoutMs} ms (maxTimeoutMs); ask for less`,
    );
  }
  const progressToken = extra._meta?.progressToken;
  let step = 0;
  const progress = (message: string): void => {
    if (progressToken === undefined) return;
    extra
      .sendNotification({ method: 'notifications/progress', params: { progressToken, progress: ++step, message } })
      // A client that has gone cannot hear progress; the call itself still settles.
      .catch(() => undefined);
  };
  const exec = async (engine: ScriptEngine): Promise<ExecResult> => {
    const sink = d.engines.sink(engine);
    progress('started');
    // Output streams as progress while the code runs (the engine's onOutput hook).
    sink.write = ({ stream, text }) => progress(stream === 'stdout' ? text : `[stderr] ${text}`);
    try {
      return await engine.exec(args.code, { timeoutMs: args.timeout_ms ?? d.config.timeoutMs, signal: extra.signal });
    } finally {
      sink.write = undefined;
    }
  };
  if (args.session !== undefined) {
    const s = d.sessions.get(args.session, language);
    s.busy++;
    try {
      const r = await serialized(s, () => exec(s.engine));
      s.calls++;
      return toolResult(r, s.id);
    } finally {
      s.busy--;
      s.lastUsed = performance.now();
    }
  }
  const pool = await d.engines.pool(language);
  return toolResult(await pool.run(exec, { signal: extra.signal }));
}

export function registerTools(server: McpServer, d: ToolDeps): void {
  for (const language of ['python', 'lua'] as const) {
    server.registerTool(
      `run_${language}`,
      {
        title: `Run ${language === 'python' ? 'Python' : 'Lua'}`,
        description: description(language, d),
        inputSchema: {
          code: z
            .string()
            .min(1, 'code is empty; send the code to run')
            .describe(`the ${language === 'python' ? 'Python' : 'Lua'} code to run`),
          session: z.string().optional().describe('a session id from open_session, to keep globals between calls; omit for a fresh engine'),
          timeout_ms: z
            .number()
            .int()
            .positive()
            .optional()
            .describe(`time limit for this call in ms (default ${d.config.timeoutMs}, at most ${d.config.maxTimeoutMs})`),
        },
        outputSchema: RUN_OUTPUT,
        annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: d.config.capabilities.length > 0 },
      },
      (args, extra) => runCode(d, language, args, extra),
    );
  }

  server.registerTool(
    'open_session',
    {
      title: 'Open a session',
      description: `Starts an interpreter whose globals persist between run_python / run_lua calls that pass its id. At most ${d.config.maxSessions} open at once; closed after ${Math.round(d.config.sessionIdleMs / 1000)} s unused.`,
      inputSchema: { language: z.enum(['python', 'lua']).describe('the language the session runs') },
      outputSchema: { session: z.string(), language: z.enum(['python', 'lua']) },
    },
    async ({ language }) => {
      const s = await d.sessions.openSession(language);
      return { content: [{ type: 'text', text: `session ${s.id} (${language}) is open` }], structuredContent: { session: s.id, language } };
    },
  );

  server.registerTool(
    'list_sessions',
    {
      title: 'List sessions',
      description: 'Lists the open sessions: id, language, calls run, ms since last used.',
      inputSchema: {},
      outputSchema: {
        sessions: z.array(
          z.object({ session: z.string(), language: z.enum(['python', 'lua']), calls: z.number(), idleMs: z.number(), ageMs: z.number() }),
        ),
        maxSessions: z.number(),
      },
    },
    () => {
      const sessions = d.sessions.list();
      const text = sessions.length
        ? sessions.map((s) => `${s.session} ${s.language} calls=${s.calls} idle=${s.idleMs}ms`).join('\n')
        : 'no open sessions';
      return { content: [{ type: 'text', text }], structuredContent: { sessions, maxSessions: d.config.maxSessions } };
    },
  );

  server.registerTool(
    'close_session',
    {
      title: 'Close a session',
      description: 'Closes a session and frees its interpreter; its globals are gone.',
      inputSchema: { session: z.string().describe('the id open_session returned') },
      outputSchema: { closed: z.string() },
    },
    async ({ session }) => {
      await d.sessions.close(session);
      return { content: [{ type: 'text', text: `session ${session} is closed` }], structuredContent: { closed: session } };
    },
  );
}
