/**
 * StateStore: the kv and channels that engines share (DESIGN §3). Engines given one store
 * see one kv and one set of channels, across languages, backends and placements. Values
 * are ScriptValues (DESIGN §4), checked before they are stored.
 */
import type { ScriptValue } from '../values.js';

export interface StateStore extends AsyncDisposable {
  /** The value under `key`, or `undefined` when there is none. */
  get(key: string): Promise<ScriptValue | undefined>;
  set(key: string, value: ScriptValue): Promise<void>;
  /** True when a value was there. */
  delete(key: string): Promise<boolean>;
  /** Keys starting with `prefix`, sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** Appends a message to a channel (FIFO per channel name). */
  send(channel: string, message: ScriptValue): Promise<void>;
  /**
   * Takes the oldest message of a channel, waiting up to `timeoutMs` for one; resolves
   * `{ message }` or `null` on timeout. Each message is received once, by one receiver.
   * When `opts.signal` aborts (its caller is gone: the call was stopped, the engine
   * disposed) the receive resolves `null` and takes nothing, ever: a message goes to a live
   * receiver or stays queued. A custom store must honour the signal the same way.
   */
  receive(channel: string, timeoutMs: number, opts?: ReceiveOptions): Promise<{ message: ScriptValue } | null>;
  /** Releases the store; later calls throw DisposedError, and pending receives resolve null. Idempotent. */
  dispose(): Promise<void>;
  /** `await using`: the same as {@link StateStore.dispose}. */
  [Symbol.asyncDispose](): Promise<void>;
  /** @deprecated Use {@link StateStore.dispose}; the built-in stores keep it for one release, a custom store need not have it. */
  close?(): Promise<void>;
}

/** Options of {@link StateStore.receive}. */
export interface ReceiveOptions {
  /** Aborting it withdraws the receive: it resolves `null` and takes nothing. */
  signal?: AbortSignal;
}

/**
 * Limits every store enforces. Size limits fail with InvalidInputError; quotas (totals
 * over the whole store) fail with PermissionDeniedError. Each message names the limit,
 * its value and the fix. Totals count encoded bytes (MessagePack, DESIGN §4) plus, for kv,
 * the UTF-8 bytes of the key. Stores opened on one SQLite file or IndexedDB database share
 * one set of totals; each checks them against its own limits.
 */
export interface StoreLimits {
  /** Largest encoded value (kv value or channel message). Default 1 MiB. */
  maxValueBytes?: number;
  /** Longest key or channel name. Default 1024 characters. */
  maxKeyLength?: number;
  /** Most kv keys the store holds. Default 100 000. */
  maxKeys?: number;
  /** Most bytes of kv (keys + encoded values) the store holds. Default 64 MiB. */
  maxKvBytes?: number;
  /** Most messages waiting in all channels together. Default 100 000. */
  maxQueuedMessages?: number;
  /** Most bytes of messages waiting in all channels together. Default 64 MiB. */
  maxQueuedBytes?: number;
}
