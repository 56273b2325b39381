/**
 * The input checks every StateStore makes before it touches its storage: limits, keys and
 * channel names, values (checked and encoded), receive timeouts. One place, so that the
 * memory, SQLite and IndexedDB stores reject the same inputs with the same messages.
 */
import { DisposedError, InvalidInputError, PermissionDeniedError } from '../errors.js';
import { checkValue, encode } from '../values.js';
import type { StoreLimits } from './store.js';

/** Default largest encoded value: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
/** Default longest key or channel name, in characters. */
export const DEFAULT_MAX_KEY_LENGTH = 1024;
/** Default most kv keys in one store. */
export const DEFAULT_MAX_KEYS = 100_000;
/** Default most kv bytes (keys + encoded values) in one store: 64 MiB. */
export const DEFAULT_MAX_KV_BYTES = 64 * 1024 * 1024;
/** Default most messages waiting in one store's channels. */
export const DEFAULT_MAX_QUEUED_MESSAGES = 100_000;
/** Default most bytes of messages waiting in one store's channels: 64 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** How deep a stored value may nest (the engines' default `maxValueDepth`). */
export const MAX_VALUE_DEPTH = 64;

/** {@link StoreLimits} with every default filled in. */
export type ResolvedLimits = Required<StoreLimits>;

/** Fills in defaults and rejects limits that are not positive integers. */
export function resolveLimits(limits: StoreLimits | undefined, store: string): ResolvedLimits {
  if (limits !== undefined && (limits === null || typeof limits !== 'object')) {
    throw new InvalidInputError(`${store} limits must be an object like { maxValueBytes, maxKeyLength, maxKvBytes }`);
  }
  const known = ['maxValueBytes', 'maxKeyLength', 'maxKeys', 'maxKvBytes', 'maxQueuedMessages', 'maxQueuedBytes'];
  for (const name of Object.keys(limits ?? {})) {
    if (!known.includes(name)) {
      throw new InvalidInputError(`${store} has no limit '${name}'; known limits: ${known.join(', ')}`);
    }
  }
  const pick = (name: keyof StoreLimits, fallback: number): number => {
    const v = limits?.[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new InvalidInputError(`${store} limit ${name} must be a positive integer, got ${String(v)}`);
    }
    return v;
  };
  return {
    maxValueBytes: pick('maxValueBytes', DEFAULT_MAX_VALUE_BYTES),
    maxKeyLength: pick('maxKeyLength', DEFAULT_MAX_KEY_LENGTH),
    maxKeys: pick('maxKeys', DEFAULT_MAX_KEYS),
    maxKvBytes: pick('maxKvBytes', DEFAULT_MAX_KV_BYTES),
    maxQueuedMessages: pick('maxQueuedMessages', DEFAULT_MAX_QUEUED_MESSAGES),
    maxQueuedBytes: pick('maxQueuedBytes', DEFAULT_MAX_QUEUED_BYTES),
  };
}

/** UTF-8 length of a well-formed string (checkName refused lone surrogates), without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4; // a pair: 4 bytes for both halves
      i++;
    } else n += 3;
  }
  return n;
}

/** What one kv entry counts against maxKvBytes: the key's UTF-8 bytes plus the encoded value. */
export function kvEntryBytes(key: string, value: Uint8Array): number {
  return utf8Length(key) + value.byteLength;
}

/** A store's totals: how many entries, how many bytes. */
export interface Totals {
  count: number;
  bytes: number;
}

/**
 * Checks that setting `key` keeps kv within maxKeys and maxKvBytes. `before`: the totals now;
 * `old`: bytes of the entry it replaces (undefined for a new key); `bytes`: the new entry's.
 */
export function checkKvQuota(
  limits: ResolvedLimits,
  store: string,
  key: string,
  before: Totals,
  old: number | undefined,
  bytes: number,
): void {
  if (old === undefined && before.count + 1 > limits.maxKeys) {
    throw new PermissionDeniedError(
      `${store} is full: it holds ${before.count} kv keys, its maxKeys (${limits.maxKeys}); delete keys before storing ${quote(key)}, or raise maxKeys`,
    );
  }
  const after = before.bytes - (old ?? 0) + bytes;
  if (after > limits.maxKvBytes) {
    throw new PermissionDeniedError(
      `${store} is full: storing ${quote(key)} (${bytes} bytes) would make kv ${after} bytes, over its maxKvBytes (${limits.maxKvBytes}); delete keys or raise maxKvBytes`,
    );
  }
}

/** Checks that queueing one more message of `bytes` keeps channels within maxQueuedMessages and maxQueuedBytes. */
export function checkQueueQuota(limits: ResolvedLimits, store: string, channel: string, before: Totals, bytes: number): void {
  if (before.count + 1 > limits.maxQueuedMessages) {
    throw new PermissionDeniedError(
      `${store} is full: ${before.count} messages wait in its channels, its maxQueuedMessages (${limits.maxQueuedMessages}); receive some before sending to ${quote(channel)}, or raise maxQueuedMessages`,
    );
  }
  if (before.bytes + bytes > limits.maxQueuedBytes) {
    throw new PermissionDeniedError(
      `${store} is full: sending ${bytes} bytes to channel ${quote(channel)} would make ${before.bytes + bytes} bytes of waiting messages, over its maxQueuedBytes (${limits.maxQueuedBytes}); receive some first or raise maxQueuedBytes`,
    );
  }
}

/** What a name is, for messages: a kv key or a channel name. */
export type NameKind = 'kv key' | 'channel name';

/** A name shortened for error messages. */
export function quote(name: string): string {
  return `'${name.length > 60 ? `${name.slice(0, 57)}...` : name}'`;
}

// A lone surrogate has no UTF-8 form: SQLite would store it as U+FFFD and two keys would collide.
const LONE_SURROGATE = /\p{Cs}/u;

/** Checks a kv key or channel name: a non-empty, well-formed string of at most maxKeyLength characters. */
export function checkName(name: unknown, kind: NameKind, limits: ResolvedLimits): string {
  if (typeof name !== 'string') {
    throw new InvalidInputError(`${kind} must be a string, got ${name === null ? 'null' : typeof name}`);
  }
  if (name.length === 0) throw new InvalidInputError(`${kind} must not be empty`);
  if (name.length > limits.maxKeyLength) {
    throw new InvalidInputError(
      `${kind} ${quote(name)} is ${name.length} characters, over the store's maxKeyLength (${limits.maxKeyLength}); use a shorter ${kind} or raise maxKeyLength`,
    );
  }
  if (LONE_SURROGATE.test(name)) {
    throw new InvalidInputError(`${kind} ${quote(name)} contains a lone UTF-16 surrogate; use well-formed Unicode`);
  }
  return name;
}

/** Checks the prefix of `keys(prefix)`: any string, empty by default. */
export function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string') {
    throw new InvalidInputError(`keys(prefix): prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}`);
  }
  return prefix;
}

/**
 * Checks a kv value or channel message (DESIGN §4, depth 64) and encodes it, rejecting
 * encodings over maxValueBytes. A top-level `undefined` is stored as `null` (one value in
 * §4), so that `get` resolving `undefined` always means "no value". The bytes returned own
 * their buffer.
 */
export function encodeValue(value: unknown, what: { kind: 'kv value' | 'message'; name: string }, limits: ResolvedLimits): Uint8Array {
  const root = what.kind === 'kv value' ? 'value' : 'message';
  const checked = checkValue(value === undefined ? null : value, { maxDepth: MAX_VALUE_DEPTH, root });
  const bytes = encode(checked);
  if (bytes.byteLength > limits.maxValueBytes) {
    const [label, verb] =
      what.kind === 'kv value' ? [`kv value for ${quote(what.name)}`, 'store'] : [`message for channel ${quote(what.name)}`, 'send'];
    throw new InvalidInputError(
      `${label} is ${bytes.byteLength} bytes, over the store's maxValueBytes (${limits.maxValueBytes}); ${verb} less or raise maxValueBytes`,
    );
  }
  // The codec packs into a shared buffer: keep a copy that owns its memory (a stored view would
  // pin that buffer, and IndexedDB would clone all of it).
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

/** Checks a receive timeout: a finite number of milliseconds, 0 or more. */
export function checkTimeout(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new InvalidInputError(
      `receive timeoutMs must be a finite number of milliseconds >= 0, got ${String(timeoutMs)}; pass 0 to take a waiting message without waiting`,
    );
  }
  return timeoutMs;
}

/** Checks receive options: `{ signal?: AbortSignal }`; returns the signal. */
export function checkSignal(opts: unknown): AbortSignal | undefined {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== 'object') throw new InvalidInputError(`receive options must be an object like { signal }, got ${typeof opts}`);
  const signal = (opts as { signal?: unknown }).signal;
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidInputError('receive options.signal must be an AbortSignal (for example from new AbortController().signal)');
  }
  return signal;
}

/** The error of every call on a closed store. */
export function closedError(store: string, fix: string): DisposedError {
  return new DisposedError(`${store} is closed; ${fix}`);
}
