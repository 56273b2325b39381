/**
 * SnapshotStore: where session snapshots persist by name (docs/session-snapshots.md):
 * files in a directory in Node (src/node/session-store.ts), IndexedDB in browsers
 * (./indexeddb-sessions.ts), opened by ./open-store.ts. Reads are untrusted input: a stored snapshot comes back
 * through SessionSnapshot.from, checked, and a damaged entry is an InvalidInputError
 * naming the store and the entry.
 */
import { InvalidInputError } from '../errors.js';
import { describeValue } from '../describe-value.js';
import { SessionSnapshot, type SessionInfo } from './snapshot.js';

/** Session snapshots kept by name. */
export interface SnapshotStore extends AsyncDisposable {
  /** Where they live (a directory, an IndexedDB database), for messages. */
  readonly where: string;
  /** Keeps `snap` under `name`, replacing what was there as a whole (a reader sees the old or the new, never half). */
  save(name: string, snap: SessionSnapshot): Promise<void>;
  /** The snapshot saved under `name`, checked; undefined when there is none. */
  load(name: string): Promise<SessionSnapshot | undefined>;
  /** What is saved, newest first, read from the entries' headers (no payload is read). */
  list(): Promise<{ name: string; info: SessionInfo }[]>;
  /** Removes an entry; resolves to whether there was one. */
  delete(name: string): Promise<boolean>;
  /** Lets go of what the store holds open (nothing is deleted). */
  dispose(): Promise<void>;
}

/** A name a store keeps a snapshot under: it becomes a file name, so it is plain. */
export const SNAPSHOT_NAME = /^[A-Za-z0-9][\w.-]{0,127}$/;

export function checkSnapshotName(name: unknown): string {
  if (typeof name !== 'string' || !SNAPSHOT_NAME.test(name) || name.endsWith('.tmp')) {
    throw new InvalidInputError(
      `a snapshot name is 1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit (got ${describeValue(name)})`,
    );
  }
  return name;
}

/** A stored snapshot's bytes read back (untrusted: checked), a damaged one named by its entry and store. */
export async function storedSnapshot(bytes: unknown, name: string, where: string): Promise<SessionSnapshot> {
  try {
    return await SessionSnapshot.from(bytes);
  } catch (e) {
    if (e instanceof InvalidInputError) throw new InvalidInputError(`the snapshot '${name}' in ${where}: ${e.message}`);
    throw e;
  }
}

/** Saves require a SessionSnapshot (its bytes were checked when it was made or read). */
export function checkSaved(snap: unknown): SessionSnapshot {
  if (!(snap instanceof SessionSnapshot)) throw new InvalidInputError('save takes a SessionSnapshot (from engine.snapshot())');
  return snap;
}
