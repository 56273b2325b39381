/**
 * The MCP server's policy: limits, placement, capabilities and upstream servers, read from
 * `--config scriptbox.json` and command-line flags (flags win), checked with messages that
 * name the key, the problem and the fix. Defaults are safe: no capability is granted.
 */
import { describeValue } from '../describe-value.js';
import type { Placement } from '../engine/types.js';
import { InvalidInputError } from '../errors.js';
import { checkGrantPattern } from '../capabilities/registry.js';

/** One host directory scripts may use through `host.fs` (and, with issue 21, ordinary file APIs). */
export interface MountConfig {
  hostPath: string;
  path: string;
  readOnly?: boolean;
}

/** Everything the server runs engines with. */
export interface McpConfig {
  /** `process` (default: each engine in its own child process) or `worker`. `inline` is refused: it does not isolate. */
  placement: Exclude<Placement, 'inline'>;
  /** Per call unless the call's `timeout_ms` says otherwise. */
  timeoutMs: number;
  /** The most a call's `timeout_ms` may ask for. */
  maxTimeoutMs: number;
  memoryMb: number;
  /** Output kept per call; the rest is cut and `truncated` set. */
  maxOutputBytes: number;
  /** Largest `code` a tool call may send. */
  maxCodeBytes: number;
  /** Sessions open at once; `open_session` past it is refused. */
  maxSessions: number;
  /** A session unused this long is closed. */
  sessionIdleMs: number;
  /** Engines kept warm per language for calls without a session. */
  warmEngines: number;
  /** Granted capability patterns (`kv.*`, `net.fetch`, `fs.read`, `tools.github`...). Default none. */
  capabilities: string[];
  /** host[:port] patterns `host.fetch` may reach (needs capability `net.fetch`). */
  allowedHosts: string[];
  mounts: MountConfig[];
  /** Commands starting upstream MCP servers (`[name=]command args...`), for Code Mode. */
  upstream: string[];
}

export const DEFAULT_CONFIG: Readonly<McpConfig> = Object.freeze({
  placement: 'process',
  timeoutMs: 30_000,
  maxTimeoutMs: 300_000,
  memoryMb: 256,
  maxOutputBytes: 64 * 1024,
  maxCodeBytes: 256 * 1024,
  maxSessions: 16,
  sessionIdleMs: 15 * 60_000,
  warmEngines: 1,
  capabilities: [],
  allowedHosts: [],
  mounts: [],
  upstream: [],
});

const KEYS = Object.keys(DEFAULT_CONFIG) as (keyof McpConfig)[];

/** The most engines one setting may ask for (sessions, warm engines): each is a process of ~50 MB. */
const MAX_ENGINES = 1024;

function integer(where: string, v: unknown, least: number, most = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < least || v > most) {
    throw new InvalidInputError(`${where} must be an integer from ${least} to ${most} (got ${describeValue(v)})`);
  }
  return v;
}

function stringList(where: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new InvalidInputError(`${where} must be a list of strings (got ${describeValue(v)})`);
  }
  return v as string[];
}

function mount(where: string, v: unknown): MountConfig {
  if (typeof v === 'string') return parseMount(where, v);
  const m = v as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || typeof m.hostPath !== 'string' || typeof m.path !== 'string') {
    throw new InvalidInputError(`${where} must be { "hostPath": "...", "path": "/data", "readOnly": true } (got ${describeValue(v)})`);
  }
  for (const k of Object.keys(m)) {
    if (k !== 'hostPath' && k !== 'path' && k !== 'readOnly')
      throw new InvalidInputError(`${where}.${k} is unknown; use hostPath, path, readOnly`);
  }
  if (m.readOnly !== undefined && typeof m.readOnly !== 'boolean') throw new InvalidInputError(`${where}.readOnly must be true or false`);
  return { hostPath: m.hostPath, path: m.path, ...(m.readOnly !== undefined ? { readOnly: m.readOnly as boolean } : {}) };
}

/** `HOSTDIR:/path[:ro]`, the `--mount` flag's form. */
export function parseMount(where: string, s: string): MountConfig {
  const ro = s.endsWith(':ro');
  const body = ro ? s.slice(0, -3) : s;
  const at = body.lastIndexOf(':/');
  if (at <= 0) throw new InvalidInputError(`${where} takes HOSTDIR:/path or HOSTDIR:/path:ro (got ${describeValue(s)})`);
  return { hostPath: body.slice(0, at), path: body.slice(at + 1), ...(ro ? { readOnly: true } : {}) };
}

/**
 * Checks one layer of settings (the config file's object, or the flags) and returns the
 * keys it sets. `source` names where they came from in messages (`scriptbox.json`, `flags`).
 */
export function checkConfig(raw: unknown, source: string): Partial<McpConfig> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidInputError(`${source} must hold a JSON object of settings (got ${describeValue(raw)})`);
  }
  const o = raw as Record<string, unknown>;
  const out: Partial<McpConfig> = {};
  for (const [k, v] of Object.entries(o)) {
    const where = `${source}: ${k}`;
    switch (k as keyof McpConfig) {
      case 'placement':
        if (v === 'inline') {
          throw new InvalidInputError(
            `${where} 'inline' runs scripts on the server's own thread, which does not isolate them; use 'process' or 'worker'`,
          );
        }
        if (v !== 'process' && v !== 'worker')
          throw new InvalidInputError(`${where} must be 'process' or 'worker' (got ${describeValue(v)})`);
        out.placement = v;
        break;
      case 'timeoutMs':
      case 'maxTimeoutMs':
      case 'sessionIdleMs':
        out[k as 'timeoutMs'] = integer(where, v, 1, 2 ** 31 - 1);
        break;
      case 'memoryMb':
        out.memoryMb = integer(where, v, 16, 16 * 1024);
        break;
      case 'maxOutputBytes':
      case 'maxCodeBytes':
        out[k as 'maxOutputBytes'] = integer(where, v, 1, 64 * 1024 * 1024);
        break;
      case 'maxSessions':
        out.maxSessions = integer(where, v, 0, MAX_ENGINES);
        break;
      case 'warmEngines':
        out.warmEngines = integer(where, v, 0, 64);
        break;
      case 'capabilities':
        out.capabilities = stringList(where, v).map((p) => checkGrantPattern(p, where));
        break;
      case 'allowedHosts':
      case 'upstream':
        out[k as 'upstream'] = stringList(where, v);
        break;
      case 'mounts':
        if (!Array.isArray(v)) throw new InvalidInputError(`${where} must be a list of mounts (got ${describeValue(v)})`);
        out.mounts = v.map((m, i) => mount(`${where}[${i}]`, m));
        break;
      default:
        throw new InvalidInputError(`${source}: unknown setting '${k}'; the settings are ${KEYS.join(', ')}`);
    }
  }
  return out;
}

/** Layers settings over the defaults (later layers win) and checks what only the whole can tell. */
export function resolveConfig(...layers: Partial<McpConfig>[]): McpConfig {
  const c: McpConfig = { ...DEFAULT_CONFIG, capabilities: [], allowedHosts: [], mounts: [], upstream: [] };
  for (const layer of layers) Object.assign(c, layer);
  if (c.timeoutMs > c.maxTimeoutMs) {
    throw new InvalidInputError(
      `timeoutMs (${c.timeoutMs}) is over maxTimeoutMs (${c.maxTimeoutMs}); lower timeoutMs or raise maxTimeoutMs`,
    );
  }
  return c;
}
