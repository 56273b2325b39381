/**
 * StateStore: the kv and channels that engines share (DESIGN §3). Engines given one store
 * see one kv and one set of channels, across languages, backends and placements. Values
 * are ScriptValues (DESIGN §4), checked before they are stored.
 */
import type { ScriptValue } from '../values.js';

export interface StateStore {
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
   */
  receive(channel: string, timeoutMs: number): Promise<{ message: ScriptValue } | null>;
  /** Releases the store; later calls throw DisposedError, and pending receives resolve null. */
  close(): Promise<void>;
}

/** Limits every store enforces, with InvalidInputError naming the limit and the fix. */
export interface StoreLimits {
  /** Largest encoded value (kv value or channel message). Default 1 MiB. */
  maxValueBytes?: number;
  /** Longest key or channel name. Default 1024 characters. */
  maxKeyLength?: number;
}
