/**
 * A MemoryStore that tells the page when its kv changes, so the kv inspector updates while a
 * script runs (each host.kv.set lands here before the script continues).
 */
import { MemoryStore, type ScriptValue, type StateStore } from '../../src/index.js';

export class ObservedStore implements StateStore {
  private readonly inner = new MemoryStore();
  private readonly listeners = new Set<() => void>();

  /** Calls `fn` after every kv change; returns the function that stops it. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  get(key: string): Promise<ScriptValue | undefined> {
    return this.inner.get(key);
  }
  async set(key: string, value: ScriptValue): Promise<void> {
    await this.inner.set(key, value);
    this.changed();
  }
  async delete(key: string): Promise<boolean> {
    const gone = await this.inner.delete(key);
    if (gone) this.changed();
    return gone;
  }
  keys(prefix?: string): Promise<string[]> {
    return this.inner.keys(prefix);
  }
  send(channel: string, message: ScriptValue): Promise<void> {
    return this.inner.send(channel, message);
  }
  receive(channel: string, timeoutMs: number): Promise<{ message: ScriptValue } | null> {
    return this.inner.receive(channel, timeoutMs);
  }
  /** Every kv entry, sorted by key. */
  async entries(): Promise<[string, ScriptValue | undefined][]> {
    const keys = (await this.inner.keys('')).sort();
    return Promise.all(keys.map(async (k) => [k, await this.inner.get(k)] as [string, ScriptValue | undefined]));
  }
  /** Deletes every kv entry. */
  async clear(): Promise<void> {
    for (const k of await this.inner.keys('')) await this.inner.delete(k);
    this.changed();
  }
  dispose(): Promise<void> {
    return this.inner.dispose();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
