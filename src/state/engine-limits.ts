/**
 * Quotas for an engine's own store (the MemoryStore it gets when `state` is not given),
 * scaled to its `limits.memoryBytes`, so that what a script leaves in the host through kv
 * and channels stays within a small multiple of the memory it may use itself.
 */
import type { StoreLimits } from './store.js';

const MIN_COUNT = 1_000;
const MAX_COUNT = 100_000;

/**
 * kv and queued messages each get at most `memoryBytes` bytes and one entry per KiB of it
 * (1 000 to 100 000), so the store's host footprint stays under about 2.5x memoryBytes
 * (bytes plus per-entry overhead). Values keep the store default (1 MiB).
 */
export function engineStoreLimits(memoryBytes: number): StoreLimits {
  const count = Math.min(MAX_COUNT, Math.max(MIN_COUNT, Math.floor(memoryBytes / 1024)));
  return { maxKeys: count, maxKvBytes: memoryBytes, maxQueuedMessages: count, maxQueuedBytes: memoryBytes };
}
