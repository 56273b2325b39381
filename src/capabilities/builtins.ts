/**
 * The built-in host functions of DESIGN §3, each off until its capability is granted:
 * `log`, `kv.*` on the engine's StateStore, `config.get` into the engine's config, and
 * `channel.send` / `channel.receive` on the store's channels. They are ordinary host
 * functions: the same registry, grants, authorize hook, quotas and audit apply.
 */
import { describeValue } from '../describe-value.js';
import { InvalidInputError, PermissionDeniedError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import type { ScriptValue } from '../values.js';
import { makeFetch } from './fetch.js';
import { safeLogText } from './log-text.js';
import { stoppable, type HostFunction } from './registry.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEntry {
  engineId: string;
  level: LogLevel;
  message: string;
}

export interface BuiltinContext {
  engineId: string;
  store: StateStore;
  config(): ScriptValue;
  log(entry: LogEntry): void;
  /** host[:port] patterns `host.fetch` may reach. */
  allowedHosts: readonly string[];
  /** The mounted host directories (Node), when `mounts` were given. */
  files?: MountedFiles;
  /**
   * Aborts when the engine is disposed: its channel receives are withdrawn (they take no
   * message) and its fetches are aborted. Calls stopped earlier (timeout, abort) are
   * withdrawn through their own signal (HostCalls).
   */
  signal?: AbortSignal;
}

/** What the fs built-ins need (src/node/mounts.ts implements it). */
export interface MountedFiles {
  read(path: unknown, encoding?: unknown): Promise<string | Uint8Array>;
  list(path: unknown): Promise<string[]>;
  write(path: unknown, data: unknown): Promise<null>;
  /** The engine's own file system (mounts as files): positioned, bounded ops; see src/node/mounts.ts. */
  points(): { path: string; readOnly: boolean }[];
  stat(path: unknown): Promise<unknown>;
  readdir(path: unknown): Promise<unknown>;
  pread(path: unknown, offset: unknown, length: unknown): Promise<unknown>;
  pwrite(path: unknown, offset: unknown, data: unknown): Promise<unknown>;
  create(path: unknown): Promise<unknown>;
  truncate(path: unknown, size: unknown): Promise<unknown>;
  mkdir(path: unknown): Promise<unknown>;
  remove(path: unknown, dir?: unknown): Promise<unknown>;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Capability names the built-ins declare, for grant checks and warnings. */
export const BUILTIN_CAPABILITIES = [
  'log',
  'kv.read',
  'kv.write',
  'config.read',
  'channel.send',
  'channel.receive',
  'net.fetch',
  'fs.read',
  'fs.write',
] as const;

function text(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0)
    throw new InvalidInputError(`${what} must be a non-empty string (got ${v === null ? 'None/nil' : typeof v})`);
  return v;
}

// A lone surrogate has no UTF-8 form: two names differing only there would collide in a store.
const LONE_SURROGATE = /\p{Cs}/u;

/** A kv key or channel name: checked here too, so a custom StateStore cannot be handed one that collides. */
function name(v: unknown, what: string): string {
  const s = text(v, what);
  if (LONE_SURROGATE.test(s))
    throw new InvalidInputError(`${what} contains a lone UTF-16 surrogate (half of a pair); use well-formed Unicode text`);
  return s;
}

/**
 * The engine's signal and the call's, as one (either aborting aborts it). `release()` unhooks
 * it from the engine's long-lived signal once the call is over.
 */
function both(a: AbortSignal | undefined, b: AbortSignal | undefined): { signal: AbortSignal | undefined; release(): void } {
  if (!a || !b) return { signal: a ?? b, release: () => {} };
  if (a.aborted || b.aborted) return { signal: a.aborted ? a : b, release: () => {} };
  const ac = new AbortController();
  const onA = () => ac.abort(a.reason);
  const onB = () => ac.abort(b.reason);
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: ac.signal,
    release: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}

/** `a.b.c` into nested objects (and Maps); `undefined` when a part is missing. */
export function dotted(root: ScriptValue, path: string): ScriptValue | undefined {
  let cur: unknown = root;
  for (const part of path.split('.')) {
    if (cur instanceof Map) cur = cur.get(part);
    else if (
      cur !== null &&
      typeof cur === 'object' &&
      !Array.isArray(cur) &&
      !(cur instanceof Uint8Array) &&
      Object.prototype.hasOwnProperty.call(cur, part)
    ) {
      cur = (cur as Record<string, unknown>)[part];
    } else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur as ScriptValue;
}

export function builtinFunctions(ctx: BuiltinContext): Record<string, { fn: HostFunction; capability: string }> {
  const files = (): MountedFiles => {
    if (!ctx.files)
      throw new PermissionDeniedError('host.fs: this engine has no mounts; pass mounts: [{ hostPath, path, readOnly }] to createEngine');
    return ctx.files;
  };
  const fetchFn = makeFetch(ctx.allowedHosts);
  return {
    fetch: {
      capability: 'net.fetch',
      fn: stoppable(async (signal, url: unknown, options: unknown) => {
        const stop = both(ctx.signal, signal);
        try {
          return await fetchFn(url, options, stop.signal);
        } finally {
          stop.release();
        }
      }),
    },
    'fs.read': { capability: 'fs.read', fn: (path: unknown, encoding?: unknown) => files().read(path, encoding) },
    'fs.list': { capability: 'fs.read', fn: (path: unknown) => files().list(path) },
    'fs.write': { capability: 'fs.write', fn: (path: unknown, data: unknown) => files().write(path, data) },
    // What the engine's own file system runs on (mounts as files: open(), io.open): an ordinary
    // condition (a missing path) answers { errno }, refusals fail like the calls above.
    'fs.stat': { capability: 'fs.read', fn: (path: unknown) => files().stat(path) },
    'fs.readdir': { capability: 'fs.read', fn: (path: unknown) => files().readdir(path) },
    'fs.pread': { capability: 'fs.read', fn: (path: unknown, at: unknown, n: unknown) => files().pread(path, at, n) },
    'fs.pwrite': { capability: 'fs.write', fn: (path: unknown, at: unknown, data: unknown) => files().pwrite(path, at, data) },
    'fs.create': { capability: 'fs.write', fn: (path: unknown) => files().create(path) },
    'fs.truncate': { capability: 'fs.write', fn: (path: unknown, size: unknown) => files().truncate(path, size) },
    'fs.mkdir': { capability: 'fs.write', fn: (path: unknown) => files().mkdir(path) },
    'fs.remove': { capability: 'fs.write', fn: (path: unknown, dir: unknown) => files().remove(path, dir) },
    log: {
      capability: 'log',
      fn: (message: unknown, level: unknown = 'info') => {
        const lv = (level ?? 'info') as LogLevel;
        if (!LEVELS.includes(lv))
          throw new InvalidInputError(`host.log level must be one of ${LEVELS.join(', ')} (got ${describeValue(level)})`);
        const raw =
          typeof message === 'string'
            ? message
            : (JSON.stringify(message, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Map ? Object.fromEntries(v) : v)) ??
              String(message));
        ctx.log({ engineId: ctx.engineId, level: lv, message: safeLogText(raw) });
        return null;
      },
    },
    'kv.get': {
      capability: 'kv.read',
      fn: async (key: unknown, fallback: ScriptValue = null) => {
        const v = await ctx.store.get(name(key, 'host.kv.get key'));
        return v === undefined ? (fallback ?? null) : v;
      },
    },
    'kv.set': {
      capability: 'kv.write',
      fn: async (key: unknown, value: ScriptValue) => {
        await ctx.store.set(name(key, 'host.kv.set key'), value ?? null);
        return null;
      },
    },
    'kv.delete': { capability: 'kv.write', fn: (key: unknown) => ctx.store.delete(name(key, 'host.kv.delete key')) },
    'kv.keys': {
      capability: 'kv.read',
      fn: (prefix: unknown = '') => {
        if (prefix !== null && typeof prefix !== 'string') throw new InvalidInputError('host.kv.keys prefix must be a string');
        return ctx.store.keys((prefix as string | null) ?? '');
      },
    },
    'config.get': {
      capability: 'config.read',
      fn: (path: unknown, fallback: ScriptValue = null) => {
        const v = dotted(ctx.config(), text(path, 'host.config.get key'));
        return v === undefined ? (fallback ?? null) : v;
      },
    },
    'channel.send': {
      capability: 'channel.send',
      fn: async (channel: unknown, message: ScriptValue) => {
        await ctx.store.send(name(channel, 'host.channel.send channel'), message ?? null);
        return null;
      },
    },
    'channel.receive': {
      capability: 'channel.receive',
      // The receive is withdrawn when its call is stopped or the engine disposed: a caller
      // that is gone takes no message (it stays queued for a live receiver).
      fn: stoppable(async (signal, channel: unknown, timeoutS: unknown = 0) => {
        // An endless wait (inf) is bounded by the script's own timeout anyway.
        const t = timeoutS === Infinity ? 86_400 : (timeoutS ?? 0);
        if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
          throw new InvalidInputError(
            `host.channel.receive timeout is in seconds and must be a number >= 0 (got ${describeValue(timeoutS)})`,
          );
        }
        const key = name(channel, 'host.channel.receive channel');
        const stop = both(ctx.signal, signal);
        try {
          const got = await ctx.store.receive(key, t * 1000, stop.signal ? { signal: stop.signal } : undefined);
          return got ? got.message : null;
        } finally {
          stop.release();
        }
      }),
    },
  };
}
