/** Starting `scriptbox mcp` (the built CLI) for the tests, and reading its results. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
export const UPSTREAM = fileURLToPath(new URL('./fixtures/upstream-server.mjs', import.meta.url));

/** A client connected to `scriptbox mcp ARGS` over stdio; the server inherits this process's env (the corpus canary included). */
export async function stdioClient(...args: string[]): Promise<Client> {
  const client = new Client({ name: 'scriptbox-test', version: '1' });
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...args], env, stderr: 'ignore' }));
  return client;
}

export interface RunContent {
  success: boolean;
  value?: unknown;
  stdout: string;
  stderr: string;
  error?: { type: string; message: string; traceback?: string; line?: number };
  timedOut: boolean;
  durationMs: number;
  truncated: boolean;
  session?: string;
}

export async function call(client: Client, name: string, args: Record<string, unknown>, opts?: Parameters<Client['callTool']>[2]) {
  return (await client.callTool({ name, arguments: args }, undefined, opts)) as CallToolResult;
}

export function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

export function structured(r: CallToolResult): RunContent {
  return r.structuredContent as unknown as RunContent;
}

export async function openSession(client: Client, language: 'python' | 'lua'): Promise<string> {
  const r = await call(client, 'open_session', { language });
  return (r.structuredContent as { session: string }).session;
}
