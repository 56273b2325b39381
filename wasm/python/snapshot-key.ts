/**
 * The key of a Python memory snapshot: a SHA-256 over everything that shapes the heap it
 * holds. Two engines may share a snapshot only when every part matches; anything else
 * (another Pyodide, another runtime, another init script) gets a snapshot of its own.
 * What is not in the heap (limits, host functions, the engine id, config, streams) is set
 * up after every restore and stays out of the key.
 */
import { version } from 'pyodide';
import { BOOTSTRAP, PYODIDE_ENV, RUNTIME_BOOT } from './boot.js';

/**
 * Bumped when what the snapshot holds changes in a way the sources above do not show.
 * 2: the unused heap is zeroed before the snapshot is taken (./snapshot-heap.ts), so
 * snapshots of format 1 are rebuilt rather than restored with their free memory dirty.
 */
export const SNAPSHOT_FORMAT = 2;

/**
 * What the key hashes, in order; `extra` is for callers that bake more in: a package set
 * (src/packages/package-set.ts `keyPart`: its names, versions and sha256s, installed and
 * imported before the snapshot), a pool's init script.
 */
export function snapshotKeyParts(extra: readonly string[] = [], pyodideVersion: string = version): string[] {
  return [
    `scriptbox-snapshot/${SNAPSHOT_FORMAT}`,
    `pyodide/${pyodideVersion}`,
    JSON.stringify(PYODIDE_ENV),
    BOOTSTRAP,
    RUNTIME_BOOT,
    ...extra,
  ];
}

/** The hex SHA-256 key of a snapshot (WebCrypto: the same in Node and browsers). */
export async function snapshotKey(extra: readonly string[] = [], pyodideVersion: string = version): Promise<string> {
  // Each part is length-prefixed, so no two lists of parts hash the same text.
  const text = snapshotKeyParts(extra, pyodideVersion)
    .map((p) => `${p.length}:${p}`)
    .join('');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
