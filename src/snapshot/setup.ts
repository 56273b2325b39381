/**
 * The fast start's setup on this platform (docs/snapshots.md): the snapshot store and key
 * the `snapshot` option uses. Node: a disk cache (src/node/snapshot-cache.ts). Browsers:
 * Cache Storage (./browser-store.ts), or this page's memory only where Cache Storage cannot
 * be used (never an error). Platform code is imported only on its platform.
 */
import { UnavailableError } from '../errors.js';
import { isNode } from './platform.js';
import type { SnapshotSetup } from './store.js';

/**
 * The snapshot store and key for `snapshot`; `extra` is baked into the key (a pool's init
 * script, wheels). Undefined where snapshots cannot be keyed (a browser page without WebCrypto).
 */
export async function snapshotSetup(opts: { dir?: string }, extra: string[] = []): Promise<SnapshotSetup | undefined> {
  const { snapshotKey } = await import('../../wasm/python/snapshot-key.js');
  if (!isNode) {
    if (opts.dir !== undefined) {
      throw new UnavailableError(
        'snapshot: { dir } keeps snapshots in a directory, which needs Node; in a browser pass snapshot: true (snapshots then live in Cache Storage)',
      );
    }
    // The key is a SHA-256 from WebCrypto, which insecure pages (plain http off localhost)
    // lack: there engines boot from scratch, as with snapshot: false.
    if (!globalThis.crypto?.subtle) return undefined;
    const { openBrowserSnapshotStore } = await import('./browser-store.js');
    const [key, store] = await Promise.all([snapshotKey(extra), openBrowserSnapshotStore()]);
    return { key, store };
  }
  const { DiskSnapshotStore, defaultSnapshotDir } =
    (await import('../node/snapshot-cache.js')) as typeof import('../node/snapshot-cache.js');
  return { key: await snapshotKey(extra), store: new DiskSnapshotStore(opts.dir ?? defaultSnapshotDir()) };
}
