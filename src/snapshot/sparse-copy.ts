/**
 * A copy that leaves zero pages alone: a fresh buffer (a wasm memory, a SharedArrayBuffer)
 * is zero-filled and costs no resident memory until a page is written, so copying only
 * the pages that hold something keeps the rest free. Used to restore a Pyodide snapshot
 * into a fresh heap (wasm/python/boot.ts) and to keep the host's one copy of a snapshot
 * (src/snapshot/fast-start.ts, src/node/snapshot-cache.ts): about half of a booted
 * interpreter's heap is zero. No imports: the sandbox worker and the host both load this.
 */

/** The memory page of the operating system (what RSS counts in), not the 64 KiB wasm page. */
export const OS_PAGE = 4096;

/** What a sparse copy needs from Node's Buffer: a native compare over views of any buffer. */
type BufferLike = {
  from(b: ArrayBufferLike, offset: number, length: number): Uint8Array;
  compare(a: Uint8Array, b: Uint8Array): number;
};

let zeroPage: Uint8Array | undefined;

/** Node's Buffer where there is one (the compare is native memcmp; a JS loop would cost the restore 30 ms). */
function nativeBuffer(): BufferLike | undefined {
  return (globalThis as { Buffer?: BufferLike }).Buffer;
}

/**
 * A test for zero pages, native where Node's Buffer is (memcmp against a zero page, some
 * 50x faster than a JS loop over the words), else a loop. Returns (bytes, at, n) => true
 * when bytes[at, at + n) is all zero (n at most OS_PAGE).
 */
export function zeroPageTest(): (bytes: Uint8Array, at: number, n: number) => boolean {
  const buffer = nativeBuffer();
  zeroPage ??= new Uint8Array(OS_PAGE);
  const zero = zeroPage;
  if (buffer) return (b, at, n) => buffer.compare(buffer.from(b.buffer, b.byteOffset + at, n), zero.subarray(0, n)) === 0;
  return (b, at, n) => {
    for (let i = at; i < at + n; i++) if (b[i] !== 0) return false;
    return true;
  };
}

/**
 * Copies `from` into `into` at offset 0, one OS page at a time, skipping every page that
 * is zero in `from` and already zero in `into` (so `into` ends equal to `from` over its
 * length, and pages that stay zero are never written, so never resident). Returns the
 * bytes written. Needs Node's Buffer; without it (a browser), copies everything.
 */
export function copySparsely(from: Uint8Array, into: Uint8Array): number {
  if (into.byteLength < from.byteLength) throw new RangeError('copySparsely: the target is smaller than the source');
  const buffer = nativeBuffer();
  if (!buffer) {
    into.set(from);
    return from.byteLength;
  }
  zeroPage ??= new Uint8Array(OS_PAGE);
  let written = 0;
  for (let at = 0; at < from.byteLength; at += OS_PAGE) {
    const n = Math.min(OS_PAGE, from.byteLength - at);
    const page = buffer.from(from.buffer, from.byteOffset + at, n);
    const zero = zeroPage.subarray(0, n);
    if (buffer.compare(page, zero) !== 0 || buffer.compare(buffer.from(into.buffer, into.byteOffset + at, n), zero) !== 0) {
      into.set(page, at);
      written += n;
    }
  }
  return written;
}
