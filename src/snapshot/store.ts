/**
 * Where Python memory snapshots persist between processes: the contract every snapshot
 * store meets (Node: src/node/snapshot-cache.ts, a checked disk cache; browsers:
 * ./browser-store.ts, Cache Storage), and what the fast start is set up with.
 */

/** A snapshot read from a store, or why there is none (`missing`, or what is wrong with the stored one). */
export type SnapshotRead = { bytes: Uint8Array } | { problem: string };

/** Where snapshots persist between processes. */
export interface BootSnapshotStore {
  /** Where snapshots live (a directory...), for messages and to tell stores apart. */
  readonly where: string;
  read(key: string): Promise<SnapshotRead>;
  write(key: string, bytes: Uint8Array): Promise<void>;
}

/** What the fast start (./fast-start.ts) needs: the key of the snapshot, the store it persists in, where warnings go. */
export interface SnapshotSetup {
  key: string;
  /** Absent: snapshots live in this process's memory only (a browser without Cache Storage). */
  store?: BootSnapshotStore | undefined;
  /** Where warnings go (a damaged file, an unwritable directory). Default: console.warn. */
  warn?: (message: string) => void;
}
