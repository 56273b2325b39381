/**
 * The fast start's controls, grouped as one public object (`import { snapshots } from
 * 'scriptbox'`): what a host can do about the resources fast Python starts keep
 * (docs/snapshots.md). Each is a no-op on the platform it does not concern.
 */
import { clearBrowserSnapshots } from './browser-store.js';
import { isNode } from './platform.js';

/** Controls for fast Python starts (memory snapshots and the spare worker). */
export const snapshots = Object.freeze({
  /**
   * Stops the worker thread Node keeps started ahead of need for fast Python starts, if
   * there is one; the next fast-starting engine starts another. It never keeps the process
   * alive, so calling this is only about its memory. Browsers: nothing to do.
   */
  async releaseSpareWorker(): Promise<void> {
    if (!isNode) return;
    const host = (await import('../node/worker-host.js')) as typeof import('../node/worker-host.js');
    await host.releaseSpareWorker();
  },

  /**
   * Deletes the Python snapshots this origin keeps in Cache Storage; resolves to whether
   * there were any. Engines already running are unaffected, and the page keeps its
   * in-memory copy: the next page load boots Python from scratch and stores a new one.
   * Node (no Cache Storage): resolves false; `scriptbox snapshot clear` empties the disk cache.
   */
  clearBrowser(): Promise<boolean> {
    return clearBrowserSnapshots();
  },
});
