/**
 * Snapshots that cost fewer resident pages: the sparse copy (only non-zero pages written),
 * the unused heap zeroed before a snapshot is taken, and a restore from such a snapshot
 * giving back the same interpreter (its heap byte for byte, the values computed in it).
 */
import { describe, expect, it } from 'vitest';
import { OS_PAGE, copySparsely } from '../../src/snapshot/sparse-copy.js';
import { loadPython, type Pyodide } from '../../wasm/python/boot.js';
import { installDevice } from '../../wasm/python/device.js';
import { zeroUnusedHeap } from '../../wasm/python/snapshot-heap.js';
import { SNAPSHOT_FORMAT, snapshotKeyParts } from '../../wasm/python/snapshot-key.js';
import type { CoreInit } from '../../src/core.js';

/** Non-zero OS pages of `b`. */
function nonZeroPages(b: Uint8Array): number {
  let n = 0;
  const zero = Buffer.alloc(OS_PAGE);
  for (let at = 0; at < b.byteLength; at += OS_PAGE) {
    const end = Math.min(at + OS_PAGE, b.byteLength);
    if (Buffer.compare(Buffer.from(b.buffer, b.byteOffset + at, end - at), zero.subarray(0, end - at)) !== 0) n++;
  }
  return n;
}

describe('copySparsely', () => {
  it('makes the target equal to the source, writing only pages that are not zero on both sides', () => {
    const from = new Uint8Array(10 * OS_PAGE + 100);
    from[5] = 1;
    from[3 * OS_PAGE + 17] = 2;
    from[10 * OS_PAGE + 99] = 3; // the short last page
    const into = new Uint8Array(new SharedArrayBuffer(from.byteLength + OS_PAGE));
    into[7 * OS_PAGE] = 9; // dirty in the target, zero in the source: must be cleared
    into[from.byteLength + 1] = 8; // past the source: left alone
    expect(copySparsely(from, into)).toBe(3 * OS_PAGE + 100);
    expect(Buffer.compare(into.subarray(0, from.byteLength), from)).toBe(0);
    expect(into[from.byteLength + 1]).toBe(8);
  });

  it('copies at any offset of either buffer, and refuses a target that is too small', () => {
    const backing = new Uint8Array(4 * OS_PAGE);
    backing.fill(7, OS_PAGE + 3, OS_PAGE + 40);
    const from = backing.subarray(OS_PAGE + 3, 3 * OS_PAGE + 3);
    const target = new Uint8Array(5 * OS_PAGE);
    const into = target.subarray(OS_PAGE + 1);
    copySparsely(from, into);
    expect(Buffer.compare(into.subarray(0, from.byteLength), from)).toBe(0);
    expect(nonZeroPages(target)).toBe(1);
    expect(() => copySparsely(from, new Uint8Array(10))).toThrow(RangeError);
  });
});

/** A Python boot from scratch that may take a snapshot, with the runtime's device in place (bootstrap opens it). */
async function bootMaking(): Promise<Pyodide> {
  const { py } = await loadPython({ makeSnapshot: true } as CoreInit);
  installDevice(py.FS, () => null);
  return py;
}

/** A value that depends on much of the heap: imported modules, interned strings, a computation in fresh objects. */
const PROBE = `
import sys, json, hashlib
_probe = {'mods': sorted(m for m in sys.modules), 'n': sum(i * i for i in range(10000)), 'j': json.dumps({'a': [1, 2.5, 'x' * 50]})}
hashlib.sha256(repr(_probe).encode()).hexdigest()
`;

describe('a snapshot taken with its unused heap zeroed', () => {
  it('is the same interpreter: a restore gives back its heap byte for byte, and the same values', { timeout: 120_000 }, async () => {
    const maker = await bootMaking();
    // Garbage in the heap, freed again: what zeroUnusedHeap is for.
    maker.runPython('_junk = [bytes(range(256)) * 64 for _ in range(400)]\ndel _junk');
    const before = maker.runPython(PROBE) as string;
    const heap = maker._module.HEAPU8;
    const dirty = nonZeroPages(heap);
    const snapshot = maker.makeMemorySnapshot();
    const heapAt = new DataView(snapshot.buffer, snapshot.byteOffset).getUint32(4, true);
    const taken = snapshot.subarray(heapAt);
    // The free chunks and the stack below its pointer are zero now: fewer pages to restore.
    expect(nonZeroPages(taken)).toBeLessThan(dirty - 100);
    // Still the same interpreter after zeroing.
    expect(maker.runPython(PROBE)).toBe(before);

    const { py, restored } = await loadPython({ snapshot } as CoreInit);
    expect(restored).toBe(true);
    // Pyodide's own set-up has run in the restored heap since (its import of `pyodide`...),
    // so the heap is compared through what it computes; copySparsely's exactness is tested above.
    expect(py._module.HEAPU8.byteLength).toBeGreaterThanOrEqual(taken.byteLength);
    expect(py.runPython(PROBE)).toBe(before);
  });

  it('zeroes nothing where the module lacks the allocator exports', () => {
    expect(zeroUnusedHeap({ HEAPU8: new Uint8Array(8) })).toBe(0);
    expect(zeroUnusedHeap(undefined)).toBe(0);
  });

  it('has its own snapshot format in the key, so caches of unzeroed snapshots are rebuilt', () => {
    expect(SNAPSHOT_FORMAT).toBeGreaterThanOrEqual(2);
    expect(snapshotKeyParts()[0]).toBe(`scriptbox-snapshot/${SNAPSHOT_FORMAT}`);
  });
});
