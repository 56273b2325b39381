/**
 * MemoryStore: the default StateStore, kept in this JS realm's memory. Works in Node and in
 * browsers; its data goes when it is closed or the process ends.
 */
import { decode, type ScriptValue } from '../values.js';
import {
  checkName,
  checkPrefix,
  checkTimeout,
  closedError,
  encodeValue,
  resolveLimits,
  type ResolvedLimits,
} from './checks.js';
import type { StateStore, StoreLimits } from './store.js';
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
  private closed = false;

  /** @param limits value size and key length limits (defaults: 1 MiB, 1024 characters). */
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
    this.kv.set(key, encodeValue(value, { kind: 'kv value', name: key }, this.limits));
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    return this.kv.delete(checkName(key, 'kv key', this.limits));
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
    const queue = this.queues.get(channel);
    if (queue) queue.push(bytes);
    else this.queues.set(channel, [bytes]);
  }

  async receive(channel: string, timeoutMs: number): Promise<Received> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    checkTimeout(timeoutMs);
    const queue = this.queues.get(channel);
    if (queue) {
      const bytes = queue.shift()!;
      if (queue.length === 0) this.queues.delete(channel);
      return { message: decode(bytes) as ScriptValue };
    }
    if (timeoutMs === 0) return null;
    return this.waiters.wait(channel, timeoutMs, this);
  }

  /** Drops every value and message; pending receives resolve `null`. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.cancel(this);
    this.kv.clear();
    this.queues.clear();
  }

  private check(): void {
    if (this.closed) throw closedError('MemoryStore', 'its data went with it; create a new MemoryStore (new MemoryStore())');
  }
}
