/**
 * MemoryStore: the default StateStore, kept in this JS realm's memory. Works in Node and in
 * browsers; its data goes when it is disposed or the process ends.
 */
import { decode, type ScriptValue } from '../values.js';
import {
  checkKvQuota,
  checkName,
  checkQueueQuota,
  checkPrefix,
  checkSignal,
  checkTimeout,
  closedError,
  encodeValue,
  kvEntryBytes,
  resolveLimits,
  type ResolvedLimits,
} from './checks.js';
import type { ReceiveOptions, StateStore, StoreLimits } from './store.js';
import { WaitingReceivers, type Received } from './waiters.js';

/**
 * A {@link StateStore} in memory: the kv and channels that engines given this store share,
 * for as long as the store is open. Every engine gets a private one unless
 * `EngineOptions.state` names another store.
 *
 * Values are stored encoded (MessagePack, DESIGN §4), so a value read back is a copy:
 * changing it, or the object that was stored, changes nothing in the store.
 *
 * @example
 * ```ts
 * const state = new MemoryStore();
 * await using a = await createEngine('lua', { state, capabilities: ['kv.*', 'channel.*'] });
 * await using b = await createEngine('python', { state, capabilities: ['kv.*', 'channel.*'] });
 * await state.set('greeting', 'hi');     // both engines read it with host.kv.get('greeting')
 * ```
 */
export class MemoryStore implements StateStore {
  private readonly limits: ResolvedLimits;
  private readonly kv = new Map<string, Uint8Array>();
  private readonly queues = new Map<string, Uint8Array[]>();
  private readonly waiters = new WaitingReceivers();
  /** Totals of kv (keys, bytes) and of queued messages, for the quotas. */
  private readonly kvTotals = { count: 0, bytes: 0 };
  private readonly queueTotals = { count: 0, bytes: 0 };
  private closed = false;

  /**
   * @param limits size limits and quotas (defaults: values 1 MiB, keys 1024 characters,
   * 100 000 keys and 64 MiB of kv, 100 000 messages and 64 MiB waiting in channels).
   */
  constructor(limits?: StoreLimits) {
    this.limits = resolveLimits(limits, 'MemoryStore');
  }

  async get(key: string): Promise<ScriptValue | undefined> {
    this.check();
    const bytes = this.kv.get(checkName(key, 'kv key', this.limits));
    // decode() returns byte strings as views into its input: decode a copy, or a caller
    // changing a Uint8Array it read would change the stored value.
    return bytes === undefined ? undefined : (decode(new Uint8Array(bytes)) as ScriptValue);
  }

  async set(key: string, value: ScriptValue): Promise<void> {
    this.check();
    checkName(key, 'kv key', this.limits);
    const bytes = encodeValue(value, { kind: 'kv value', name: key }, this.limits);
    const old = this.kv.get(key);
    const oldSize = old === undefined ? undefined : kvEntryBytes(key, old);
    const size = kvEntryBytes(key, bytes);
    checkKvQuota(this.limits, 'MemoryStore', key, this.kvTotals, oldSize, size);
    this.kv.set(key, bytes);
    this.kvTotals.bytes += size - (oldSize ?? 0);
    if (oldSize === undefined) this.kvTotals.count++;
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    checkName(key, 'kv key', this.limits);
    const old = this.kv.get(key);
    if (old === undefined) return false;
    this.kv.delete(key);
    this.kvTotals.count--;
    this.kvTotals.bytes -= kvEntryBytes(key, old);
    return true;
  }

  async keys(prefix?: string): Promise<string[]> {
    this.check();
    const p = checkPrefix(prefix);
    return [...this.kv.keys()].filter((k) => k.startsWith(p)).sort();
  }

  async send(channel: string, message: ScriptValue): Promise<void> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    const bytes = encodeValue(message, { kind: 'message', name: channel }, this.limits);
    // A waiting receiver means the queue is empty: hand the message straight over.
    const waiter = this.waiters.next(channel);
    if (waiter) {
      this.waiters.deliver(waiter, decode(bytes) as ScriptValue);
      return;
    }
    checkQueueQuota(this.limits, 'MemoryStore', channel, this.queueTotals, bytes.byteLength);
    const queue = this.queues.get(channel);
    if (queue) queue.push(bytes);
    else this.queues.set(channel, [bytes]);
    this.queueTotals.count++;
    this.queueTotals.bytes += bytes.byteLength;
  }

  async receive(channel: string, timeoutMs: number, opts?: ReceiveOptions): Promise<Received> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    checkTimeout(timeoutMs);
    const signal = checkSignal(opts);
    // A caller already gone takes nothing, not even a message that is waiting.
    if (signal?.aborted) return null;
    const queue = this.queues.get(channel);
    if (queue) {
      const bytes = queue.shift()!;
      if (queue.length === 0) this.queues.delete(channel);
      this.queueTotals.count--;
      this.queueTotals.bytes -= bytes.byteLength;
      return { message: decode(bytes) as ScriptValue };
    }
    if (timeoutMs === 0) return null;
    return this.waiters.wait(channel, timeoutMs, this, signal);
  }

  /** Drops every value and message; pending receives resolve `null`; later calls throw DisposedError. Disposing twice is harmless. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.cancel(this);
    this.kv.clear();
    this.queues.clear();
    this.kvTotals.count = this.kvTotals.bytes = 0;
    this.queueTotals.count = this.queueTotals.bytes = 0;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated Use `dispose()` (or `await using`); kept for one release. */
  close(): Promise<void> {
    return this.dispose();
  }

  private check(): void {
    if (this.closed) throw closedError('MemoryStore', 'its data went with it; create a new MemoryStore (new MemoryStore())');
  }
}
