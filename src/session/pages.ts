/**
 * A wasm heap as its non-zero pages: a session snapshot (docs/session-snapshots.md) holds
 * a whole linear memory, about half of which is zero (free memory is zeroed before a
 * Python snapshot is taken; a Lua heap is mostly untouched). Only the pages holding
 * something are stored, with a bitmap of which they are. Loaded by the sandbox's cores
 * and the host: no platform imports.
 */
import { zeroPageTest } from '../snapshot/sparse-copy.js';

/** The page the encoding skips: the OS page, as in src/snapshot/sparse-copy.ts. */
export const HEAP_PAGE = 4096;

/** A heap as its non-zero pages. */
export interface SparseHeap {
  /** The heap's length in bytes. */
  size: number;
  /** Bit i (byte i >> 3, bit i & 7) set: page i is stored, in order, in `pages`. */
  bitmap: Uint8Array;
  pages: Uint8Array;
}

/** The non-zero pages of `heap`. */
export function encodeHeap(heap: Uint8Array): SparseHeap {
  const size = heap.byteLength;
  const count = Math.ceil(size / HEAP_PAGE);
  const bitmap = new Uint8Array(Math.ceil(count / 8));
  const kept: number[] = [];
  const isZero = zeroPageTest();
  for (let p = 0; p < count; p++) {
    const at = p * HEAP_PAGE;
    if (!isZero(heap, at, Math.min(HEAP_PAGE, size - at))) {
      bitmap[p >>> 3]! |= 1 << (p & 7);
      kept.push(p);
    }
  }
  const pages = new Uint8Array(kept.length * HEAP_PAGE);
  // Runs of consecutive pages are copied at once (most of a heap is one run or a few).
  for (let i = 0; i < kept.length;) {
    let j = i + 1;
    while (j < kept.length && kept[j] === kept[j - 1]! + 1) j++;
    pages.set(heap.subarray(kept[i]! * HEAP_PAGE, Math.min((kept[j - 1]! + 1) * HEAP_PAGE, size)), i * HEAP_PAGE);
    i = j;
  }
  return { size, bitmap, pages };
}

/** Why `s` cannot be decoded into a heap of `max` bytes at most, or undefined when it can. */
export function heapProblem(s: SparseHeap, max: number): string | undefined {
  if (!Number.isSafeInteger(s.size) || s.size <= 0 || s.size % 4 !== 0) return `a heap of ${s.size} bytes is not a wasm heap`;
  if (s.size > max) return `its heap is ${s.size} bytes, over the ${max} bytes this engine may use (limits.memoryBytes)`;
  const count = Math.ceil(s.size / HEAP_PAGE);
  if (s.bitmap.byteLength !== Math.ceil(count / 8)) return 'its page bitmap does not match its heap size';
  let stored = 0;
  for (let p = 0; p < count; p++) if (s.bitmap[p >>> 3]! & (1 << (p & 7))) stored++;
  for (let p = count; p < s.bitmap.byteLength * 8; p++)
    if (s.bitmap[p >>> 3]! & (1 << (p & 7))) return 'its page bitmap marks pages past the heap';
  if (s.pages.byteLength !== stored * HEAP_PAGE)
    return `it stores ${s.pages.byteLength} bytes of pages where its bitmap says ${stored * HEAP_PAGE}`;
  return undefined;
}

/**
 * Writes the heap into `into` (at least `s.size` bytes): stored pages are copied, the
 * others zeroed where `into` is not zero already (a fresh memory is, and stays unwritten).
 * `fresh`: `into` is known to be all zero, so no page is even looked at.
 */
export function decodeHeap(s: SparseHeap, into: Uint8Array, fresh = false): void {
  const count = Math.ceil(s.size / HEAP_PAGE);
  let at = 0;
  for (let p = 0; p < count; p++) {
    const start = p * HEAP_PAGE;
    const end = Math.min(start + HEAP_PAGE, s.size);
    if (s.bitmap[p >>> 3]! & (1 << (p & 7))) {
      into.set(s.pages.subarray(at, at + (end - start)), start);
      at += HEAP_PAGE;
    } else if (!fresh) {
      into.fill(0, start, end);
    }
  }
}
