/**
 * openSnapshotStore: the SnapshotStore of this platform (./store.ts). Platform code is
 * imported only on its platform.
 */
import { InvalidInputError, UnavailableError } from '../errors.js';
import { isNode } from '../snapshot/platform.js';
import type { SnapshotStore } from './store.js';

/**
 * Opens the snapshot store of this platform. Node: a directory (`dir`, default
 * `node_modules/.cache/scriptbox/sessions` of the current package); browsers: an IndexedDB
 * database (`database`, default `scriptbox-sessions`).
 */
export async function openSnapshotStore(options: { dir?: string; database?: string } = {}): Promise<SnapshotStore> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidInputError('openSnapshotStore takes { dir } (Node) or { database } (browsers)');
  for (const k of Object.keys(options)) {
    if (k !== 'dir' && k !== 'database')
      throw new InvalidInputError(`unknown openSnapshotStore option '${k}'; use dir (Node) or database (browsers)`);
  }
  if (isNode) {
    if (options.database !== undefined)
      throw new UnavailableError('openSnapshotStore: { database } names an IndexedDB database, which browsers have; in Node pass { dir }');
    const { DiskSessionStore } = (await import('../node/session-store.js')) as typeof import('../node/session-store.js');
    return DiskSessionStore.open(options.dir);
  }
  if (options.dir !== undefined) {
    throw new UnavailableError(
      'openSnapshotStore: { dir } keeps snapshots in a directory, which needs Node; in a browser they go to IndexedDB ({ database })',
    );
  }
  const { IndexedDbSessionStore } = await import('./indexeddb-sessions.js');
  return IndexedDbSessionStore.open(options.database);
}
