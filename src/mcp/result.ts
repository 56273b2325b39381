/**
 * An `ExecResult` as an MCP tool result: structured content (checked by the SDK against
 * {@link RUN_OUTPUT}) plus a short text for clients that show only text, and rich outputs
 * as image or text content. A script error is a result with `isError: true`, never a
 * protocol error.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ExecResult } from '../engine/types.js';

/** The structured content of run_python / run_lua. */
export const RUN_OUTPUT = {
  success: z.boolean().describe('true when the code ran to its end without an error'),
  value: z.unknown().optional().describe('the value of the trailing expression (Python) or of `return` (Lua), as JSON'),
  stdout: z.string(),
  stderr: z.string(),
  error: z
    .object({
      type: z.string().describe("the language's error type: ValueError, SyntaxError, Timeout, Interrupted..."),
      message: z.string(),
      traceback: z.string().optional(),
      line: z.number().optional(),
    })
    .optional(),
  timedOut: z.boolean(),
  durationMs: z.number(),
  truncated: z.boolean().describe('output past the server limit was cut'),
  session: z.string().optional().describe('the session the code ran in (absent: a fresh engine)'),
};

/** Script values JSON has no form for: bigints as numbers when exact (else strings), bytes as base64, maps as objects. */
export function jsonSafe(v: unknown, depth = 0): unknown {
  if (depth > 100) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x, depth + 1)]));
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v !== null && typeof v === 'object') {
    // A RemoteObject (a value with no JSON form) is described, not sent.
    if ('kind' in v && 'id' in v && typeof (v as { call?: unknown }).call === 'function')
      return `<${String((v as { kind: unknown }).kind)}>`;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x, depth + 1)]));
  }
  return v;
}

const TEXT_CUT = 4000;

function cut(s: string): string {
  return s.length > TEXT_CUT ? `${s.slice(0, TEXT_CUT)}… (${s.length - TEXT_CUT} more characters in structuredContent)` : s;
}

/** A short rendering for clients that read only `content`. */
function render(r: ExecResult, value: unknown): string {
  const parts: string[] = [];
  if (r.stdout) parts.push(cut(r.stdout.replace(/\n$/, '')));
  if (r.stderr) parts.push(`[stderr]\n${cut(r.stderr.replace(/\n$/, ''))}`);
  if (r.success) {
    if (value !== undefined && value !== null) parts.push(`=> ${cut(JSON.stringify(value))}`);
  } else if (r.error) {
    parts.push(`${r.error.type}: ${r.error.message}${r.error.traceback ? `\n${cut(r.error.traceback)}` : ''}`);
  }
  if (r.truncated) parts.push('(output truncated at the server limit)');
  return parts.join('\n') || (r.success ? '(no output)' : 'failed');
}

type Content = CallToolResult['content'][number];

/**
 * Rich outputs (`ExecResult.outputs`, issue 21), read structurally so this works before and
 * after that field exists: images become image content, the rest text.
 */
function richContent(r: ExecResult): Content[] {
  const outputs = (r as { outputs?: unknown }).outputs;
  if (!Array.isArray(outputs)) return [];
  const out: Content[] = [];
  for (const o of outputs as { mime?: unknown; data?: unknown }[]) {
    if (typeof o?.mime !== 'string') continue;
    const bytes = o.data instanceof Uint8Array ? o.data : undefined;
    if (o.mime.startsWith('image/') && o.mime !== 'image/svg+xml') {
      const data = bytes ? Buffer.from(bytes).toString('base64') : typeof o.data === 'string' ? o.data : '';
      out.push({ type: 'image', data, mimeType: o.mime });
    } else {
      const text = typeof o.data === 'string' ? o.data : bytes ? Buffer.from(bytes).toString('utf8') : '';
      out.push({ type: 'text', text: `[${o.mime}]\n${text}` });
    }
  }
  return out;
}

export function toolResult(r: ExecResult, session?: string): CallToolResult {
  const value = r.value === undefined ? undefined : jsonSafe(r.value);
  const structured = {
    success: r.success,
    ...(value !== undefined ? { value } : {}),
    stdout: r.stdout,
    stderr: r.stderr,
    ...(r.error ? { error: r.error } : {}),
    timedOut: r.timedOut,
    durationMs: Math.round(r.durationMs * 100) / 100,
    truncated: r.truncated,
    ...(session ? { session } : {}),
  };
  return {
    content: [{ type: 'text', text: render(r, value) }, ...richContent(r)],
    structuredContent: structured,
    ...(r.success ? {} : { isError: true }),
  };
}
