/**
 * What a Pyodide memory snapshot looks like from outside: the one place its magic number
 * is written. The fast start checks bytes from a store with it before handing them to a
 * core, and the Pyodide backend (wasm/python/boot.ts) checks them again before restoring.
 * No imports: the sandbox worker and the host both load this.
 */

/** The first word (u32, little-endian) of every Pyodide memory snapshot: its `makeSnapshot` magic. */
export const PYODIDE_SNAPSHOT_MAGIC = 1886286592;

/** Bytes in a Pyodide snapshot's header: anything shorter is not one. */
export const PYODIDE_SNAPSHOT_HEADER_BYTES = 48;

/** True when `b` starts like a Pyodide memory snapshot (a whole header, the magic first). */
export function looksLikePyodideSnapshot(b: Uint8Array): boolean {
  return (
    b.byteLength >= PYODIDE_SNAPSHOT_HEADER_BYTES && new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) === PYODIDE_SNAPSHOT_MAGIC
  );
}
