/**
 * What fast Python starts need on this platform (README "Pools and fast start"): the
 * snapshot store and key for the `snapshot` option, and pyodide.asm.wasm compiled once per
 * process (V8 shares a compiled module's code with every worker it is posted to, so later
 * engines skip the compile and reuse code earlier ones already ran).
 */
import type { CoreInit } from './core.js';
import { UnavailableError } from './errors.js';
import type { SnapshotSetup } from './placement/snapshot.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/**
 * The snapshot store and key for `snapshot`. Node: a disk cache. Browsers: Cache Storage,
 * or this page's memory only where Cache Storage cannot be used (never an error).
 * Undefined where snapshots cannot be keyed (a browser page without WebCrypto).
 */
export async function snapshotSetup(opts: { dir?: string }, extra: string[] = []): Promise<SnapshotSetup | undefined> {
  const { snapshotKey } = await import('../wasm/python/snapshot-key.js');
  if (!isNode) {
    if (opts.dir !== undefined) {
      throw new UnavailableError('snapshot: { dir } keeps snapshots in a directory, which needs Node; in a browser pass snapshot: true (snapshots then live in Cache Storage)');
    }
    // The key is a SHA-256 from WebCrypto, which insecure pages (plain http off localhost)
    // lack: there engines boot from scratch, as with snapshot: false.
    if (!globalThis.crypto?.subtle) return undefined;
    const { openBrowserSnapshotStore } = await import('./placement/browser-snapshot-store.js');
    const [key, store] = await Promise.all([snapshotKey(extra), openBrowserSnapshotStore()]);
    return { key, store };
  }
  const { DiskSnapshotStore, defaultSnapshotDir } = (await import('./node/snapshot-cache.js')) as typeof import('./node/snapshot-cache.js');
  return { key: await snapshotKey(extra), store: new DiskSnapshotStore(opts.dir ?? defaultSnapshotDir()) };
}

let compiled: Promise<WebAssembly.Module | undefined> | undefined;

/** pyodide.asm.wasm compiled once per process; undefined if that fails (each core then compiles its own). */
export function pyodideModule(assets?: CoreInit['assetUrls']): Promise<WebAssembly.Module | undefined> {
  compiled ??= (async () => {
    if (isNode) {
      const { compilePyodideWasm } = (await import('./node/pyodide-wasm.js')) as typeof import('./node/pyodide-wasm.js');
      return compilePyodideWasm();
    }
    if (!assets?.pyodideIndex) return undefined;
    return WebAssembly.compileStreaming(fetch(`${assets.pyodideIndex}pyodide.asm.wasm`));
  })().catch(() => undefined);
  return compiled;
}
