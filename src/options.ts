/**
 * Checks EngineOptions at the public entry, with messages that name the option and the fix.
 */
import { describeValue } from './describe-value.js';
import { checkAllowedHosts } from './capabilities/fetch.js';
import { checkGrantPattern } from './capabilities/registry.js';
import type { CoreLimits } from './core.js';
import type { EngineOptions, Language, Limits } from './engine/types.js';
import { InvalidInputError, UnavailableError } from './errors.js';
import { checkPackages, type PackageRequest } from './packages/check.js';
import { markMade } from './factory-token.js';
import { checkValue } from './values.js';

export const DEFAULT_LIMITS: Required<Omit<Limits, 'hostCalls'>> = {
  timeoutMs: 30_000,
  memoryBytes: 256 * 1024 * 1024,
  maxCodeBytes: 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
  maxValueDepth: 64,
  maxValueBytes: 8 * 1024 * 1024,
  graceMs: 500,
};

const KNOWN_OPTIONS = [
  'backend',
  'placement',
  'trusted',
  'capabilities',
  'hostFunctions',
  'authorize',
  'onHostCall',
  'limits',
  'config',
  'onOutput',
  'onInput',
  'onLog',
  'state',
  'allowedHosts',
  'mounts',
  'snapshot',
  'signal',
  'packages',
  'packageSource',
  'restore',
  'snapshotKey',
];
const STORE_METHODS = ['get', 'set', 'delete', 'keys', 'send', 'receive', 'dispose'];

export interface ResolvedOptions {
  language: Language;
  /** 'auto' until createEngine has looked for the native library (settleBackend). */
  backend: 'wasm' | 'native' | 'auto';
  placement: 'worker' | 'inline' | 'process';
  limits: Required<Omit<Limits, 'hostCalls'>>;
  /** Call quotas per capability pattern, for the engine's lifetime. */
  quotas: [string, number][];
  capabilities: string[];
  allowedHosts: string[];
  /**
   * Fast start from a memory snapshot (Python; Lua ignores the option): false, or where to
   * keep snapshots (`dir` absent: the default cache directory). Default: on.
   */
  snapshot: false | { dir?: string; spare?: boolean };
  /** The package set to install at start (Python, wasm), checked; fetched by createEngine. */
  packages?: PackageRequest;
  /** Set by createEngine once `mounts` were checked against the host's file system (Node). */
  files?: import('./capabilities/builtins.js').MountedFiles;
  options: EngineOptions;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkLanguage(language: unknown): Language {
  if (language !== 'python' && language !== 'lua') {
    throw new InvalidInputError(`language must be 'python' or 'lua' (got ${describeValue(language)})`);
  }
  return language;
}

/**
 * The longest wait a timer can hold: Node and browsers keep a signed 32-bit count of
 * milliseconds and fire a longer timer after 1 ms, so a timeout of 2**31 ms would end a
 * run at once. Timeouts above it are refused at the entry.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** `${where} (v) is over the longest timer...`: the message for a timeout above MAX_TIMER_MS. */
export function timerTooLong(where: string, v: number): InvalidInputError {
  return new InvalidInputError(
    `${where} (${v}) is over ${MAX_TIMER_MS} ms (about 24.8 days), the longest a timer can wait; pass a shorter time`,
  );
}

export function checkTimeout(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidInputError(`${where} must be a positive number of milliseconds (got ${describeValue(v)})`);
  }
  if (v > MAX_TIMER_MS) throw timerTooLong(where, v);
  return v;
}

export function resolveOptions(language: unknown, options: unknown): ResolvedOptions {
  const lang = checkLanguage(language);
  if (options === undefined) options = {};
  if (!isPlainObject(options)) throw new InvalidInputError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) {
      throw new InvalidInputError(`unknown option '${key}'; known options: ${KNOWN_OPTIONS.join(', ')}`);
    }
  }
  const o = options as EngineOptions;
  if (o.backend !== undefined && !['wasm', 'native', 'auto'].includes(o.backend)) {
    throw new InvalidInputError(`backend must be 'wasm', 'native' or 'auto' (got ${describeValue(o.backend)})`);
  }
  if (o.trusted !== undefined && typeof o.trusted !== 'boolean') {
    throw new InvalidInputError('trusted must be true or false');
  }
  // 'auto' may use native code only for code the caller trusts: an untrusted script stays in the sandbox.
  const requested = o.backend ?? 'wasm';
  // Mounts exist only in the sandbox, so asking for them settles 'auto' too.
  const backend =
    requested === 'auto' && (o.trusted !== true || o.mounts !== undefined || o.packages !== undefined || o.restore !== undefined)
      ? 'wasm'
      : requested;
  checkSessionOptions(o, backend);
  const placement = o.placement ?? (backend === 'native' ? 'process' : 'worker');
  if (!['worker', 'inline', 'process'].includes(placement)) {
    throw new InvalidInputError(`placement must be 'worker', 'inline' or 'process' (got ${describeValue(placement)})`);
  }
  if (placement === 'inline' && o.trusted !== true) {
    throw new InvalidInputError(
      "placement 'inline' runs the script on your own thread with no isolation; pass trusted: true if you trust the code, or use placement 'worker'",
    );
  }
  if (backend === 'native' && placement === 'worker' && o.trusted !== true) {
    throw new InvalidInputError(
      "backend 'native' with placement 'worker' runs real CPython / LuaJIT inside your process with no isolation (native code can read your files, open sockets and write your memory); pass trusted: true if you trust the code, or use placement 'process' (a child process under OS limits) or backend 'wasm' (the sandbox)",
    );
  }
  if (backend !== 'wasm' && o.mounts !== undefined) {
    throw new InvalidInputError(
      `mounts give the wasm sandbox host directories; a native engine sees the real file system (placement 'process': from a scratch working directory), so leave mounts out or use backend 'wasm'`,
    );
  }
  if (o.capabilities !== undefined && !Array.isArray(o.capabilities)) {
    throw new InvalidInputError("capabilities must be an array of patterns such as ['log', 'kv.*']");
  }
  const capabilities = (o.capabilities ?? []).map((p, i) => checkGrantPattern(p, `capabilities[${i}]`));
  if (o.hostFunctions !== undefined && !isPlainObject(o.hostFunctions)) {
    throw new InvalidInputError('hostFunctions must be an object mapping names to functions');
  }
  for (const k of ['authorize', 'onHostCall', 'onOutput', 'onInput', 'onLog'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'function') throw new InvalidInputError(`${k} must be a function`);
  }
  if (o.config !== undefined && !isPlainObject(o.config)) throw new InvalidInputError('config must be a plain object');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new InvalidInputError('signal must be an AbortSignal');
  if (o.state !== undefined) {
    const st = o.state as unknown as Record<string, unknown>;
    const missing = STORE_METHODS.filter((m) => typeof st?.[m] !== 'function');
    if (missing.length) {
      throw new InvalidInputError(
        `state must be a StateStore (MemoryStore, SqliteStore, IndexedDbStore...); it lacks ${missing.join(', ')}`,
      );
    }
  }
  const limits = { ...DEFAULT_LIMITS };
  const quotas: [string, number][] = [];
  if (o.limits !== undefined) {
    if (!isPlainObject(o.limits)) throw new InvalidInputError('limits must be an object');
    for (const [k, v] of Object.entries(o.limits)) {
      if (k === 'hostCalls') {
        if (v === undefined) continue;
        if (!isPlainObject(v))
          throw new InvalidInputError("limits.hostCalls maps capability patterns to call counts, e.g. { 'net.fetch': 10 }");
        for (const [pattern, n] of Object.entries(v)) {
          checkGrantPattern(pattern, 'limits.hostCalls');
          if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
            throw new InvalidInputError(`limits.hostCalls['${pattern}'] must be a whole number of calls >= 0 (got ${describeValue(n)})`);
          }
          quotas.push([pattern, n]);
        }
        continue;
      }
      if (!(k in DEFAULT_LIMITS)) {
        throw new InvalidInputError(`unknown limit '${k}'; known limits: ${[...Object.keys(DEFAULT_LIMITS), 'hostCalls'].join(', ')}`);
      }
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (k !== 'timeoutMs' && !Number.isInteger(v))) {
        throw new InvalidInputError(`limits.${k} must be a positive ${k === 'timeoutMs' ? 'number' : 'integer'} (got ${describeValue(v)})`);
      }
      // Both become timers (the deadline, the kill after it).
      if ((k === 'timeoutMs' || k === 'graceMs') && v > MAX_TIMER_MS) throw timerTooLong(`limits.${k}`, v);
      (limits as Record<string, number>)[k] = v;
    }
    if (limits.memoryBytes < 1024 * 1024) {
      throw new InvalidInputError(`limits.memoryBytes must be at least 1 MiB (got ${limits.memoryBytes})`);
    }
  }
  // Config crosses to the engine's worker: checked here, so a value that cannot cross is a typed error now.
  if (o.config !== undefined) checkValue(o.config, { maxDepth: limits.maxValueDepth, root: 'config' });
  const allowedHosts = checkAllowedHosts(o.allowedHosts);
  // Checked for both languages, so a typo shows; Lua boots in milliseconds and needs none.
  const checkedSnapshot = checkSnapshot(o.snapshot);
  const snapshot = lang === 'python' && backend !== 'native' ? checkedSnapshot : false;
  const packages = checkPackages(o.packages, o.packageSource, lang, backend);
  // Marked: the Engine takes only options resolved here (requireMade).
  return markMade({
    language: lang,
    backend,
    placement: placement as ResolvedOptions['placement'],
    limits,
    quotas,
    capabilities,
    allowedHosts,
    snapshot,
    ...(packages ? { packages } : {}),
    options: o,
  });
}

/**
 * Settles backend 'auto' (already narrowed to trusted callers): native when its library
 * loads here, else wasm. A native engine does not use Python snapshots.
 */
export function settleBackend(r: ResolvedOptions, nativeAvailable: boolean): asserts r is ResolvedOptions & { backend: 'wasm' | 'native' } {
  if (r.backend !== 'auto') return;
  r.backend = nativeAvailable ? 'native' : 'wasm';
  if (r.backend !== 'native') return;
  r.snapshot = false;
  if (r.options.placement === undefined) r.placement = 'process';
}

/** `restore` and `snapshotKey`: their types (a snapshot's bytes are read by createEngine). */
function checkSessionOptions(o: EngineOptions, backend: string): void {
  if (o.restore !== undefined) {
    if (backend === 'native') {
      throw new UnavailableError(
        "restore: native engines take no session snapshots (their interpreter's memory is the process's own, not a heap ScriptBox can copy); use backend 'wasm'",
      );
    }
    const r = o.restore as unknown;
    if (!(r instanceof Uint8Array) && !(r instanceof ArrayBuffer) && (typeof r !== 'object' || r === null || !('info' in r))) {
      throw new InvalidInputError(`restore takes a SessionSnapshot (from engine.snapshot()) or its bytes (got ${describeValue(r)})`);
    }
  }
  const k = o.snapshotKey as unknown;
  if (k !== undefined) {
    const size = typeof k === 'string' ? new TextEncoder().encode(k).byteLength : k instanceof Uint8Array ? k.byteLength : -1;
    if (size < 0) throw new InvalidInputError(`snapshotKey must be a string or a Uint8Array (got ${describeValue(k)})`);
    if (size < 32) {
      throw new InvalidInputError(
        `snapshotKey is ${size} bytes; use at least 32 random bytes (e.g. crypto.getRandomValues(new Uint8Array(32))), kept secret like a password`,
      );
    }
  }
}

/** `snapshot: true | false | { dir?, spare? }`; absent means on. */
export function checkSnapshot(v: unknown): ResolvedOptions['snapshot'] {
  if (v === undefined || v === true) return {};
  if (v === false) return false;
  const fix = "snapshot must be true, false or { dir: '/path/to/cache', spare: false }";
  if (!isPlainObject(v)) throw new InvalidInputError(`${fix} (got ${describe(v)})`);
  for (const k of Object.keys(v)) {
    if (k !== 'dir' && k !== 'spare') throw new InvalidInputError(`unknown snapshot option '${k}'; ${fix}`);
  }
  const out: { dir?: string; spare?: boolean } = {};
  if (v.dir !== undefined) {
    if (typeof v.dir !== 'string' || v.dir.trim() === '') {
      throw new InvalidInputError(
        `snapshot.dir must be the path of a directory for snapshot files (got ${describe(v.dir)}); or leave it out for the default directory`,
      );
    }
    out.dir = v.dir;
  }
  if (v.spare !== undefined) {
    if (typeof v.spare !== 'boolean') throw new InvalidInputError(`snapshot.spare must be true or false (got ${describe(v.spare)})`);
    out.spare = v.spare;
  }
  return out;
}

function describe(v: unknown): string {
  return describeValue(v);
}

export function coreLimits(l: ResolvedOptions['limits']): CoreLimits {
  return { memoryBytes: l.memoryBytes, maxOutputBytes: l.maxOutputBytes, maxValueDepth: l.maxValueDepth, maxValueBytes: l.maxValueBytes };
}
