/**
 * The browser store for Python memory snapshots (docs/snapshots.md): Cache
 * Storage, so a page's later loads restore Python instead of booting it from scratch.
 * One entry per snapshot key; the bytes are the body and response headers describe them:
 *
 *   X-Scriptbox-Snapshot  1         entry format
 *   X-Scriptbox-Key       key       64 hex characters: the entry must be for the key asked for
 *   X-Scriptbox-SHA256    hex       of the body
 *   X-Scriptbox-Length    n         of the body, in bytes
 *   X-Scriptbox-Written   ms        when it was written (the oldest entries go first)
 *
 * Like the Node disk cache (src/node/snapshot-cache.ts), a missing, truncated, damaged or
 * foreign entry reads as a miss with the reason; the engine then boots from scratch and a
 * new entry replaces it. The checksum catches damage, not tampering: anything that can
 * write this origin's Cache Storage can already run script in the page.
 *
 * No `node:` imports (DESIGN §1): this module only runs where `caches` exists.
 */
import type { SnapshotRead, BootSnapshotStore } from './store.js';

/** The Cache Storage cache snapshots live in; bump the suffix if the entry format changes incompatibly. */
export const SNAPSHOT_CACHE = 'scriptbox-snapshots-v1';
/** Entries kept per cache: each is a whole Python heap (~30 MB), and keys change with every upgrade. */
export const MAX_SNAPSHOT_ENTRIES = 4;

const FORMAT = '1';
const KEY = /^[0-9a-f]{64}$/;
// A fixed, reserved origin: entries are only looked up by this URL, never fetched, and
// cannot collide with the app's own cached requests whatever origin the page has.
const BASE = 'https://scriptbox.invalid/snapshots/';

function checkKey(key: string): void {
  // Keys become URLs: only ever a hex digest.
  if (!KEY.test(key)) throw new TypeError(`a snapshot key is 64 hex characters (got ${JSON.stringify(key).slice(0, 80)})`);
}

/** The URL the entry for `key` is stored under in the snapshot cache. */
export function snapshotEntryUrl(key: string): string {
  checkKey(key);
  return BASE + key;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The bytes in a plain ArrayBuffer: WebCrypto and Response refuse views of shared memory. */
function plain(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}

/** Python snapshots in Cache Storage, checked before use. */
export class BrowserSnapshotStore implements BootSnapshotStore {
  readonly where: string;

  /** `cacheName`: another cache than the default (tests). */
  constructor(readonly cacheName: string = SNAPSHOT_CACHE) {
    this.where = `Cache Storage '${cacheName}'`;
  }

  async read(key: string): Promise<SnapshotRead> {
    const url = snapshotEntryUrl(key);
    // Not caches.open(): a read must not create the cache again after snapshots.clearBrowser().
    const res = await caches.match(url, { cacheName: this.cacheName });
    if (!res) return { problem: 'missing' };
    const entry = `the snapshot in ${this.where}`;
    const h = res.headers;
    if (h.get('X-Scriptbox-Snapshot') !== FORMAT)
      return { problem: `${entry} is not a scriptbox snapshot entry (or another format of one)` };
    if (h.get('X-Scriptbox-Key') !== key) return { problem: `${entry} holds the snapshot of another key` };
    const length = Number(h.get('X-Scriptbox-Length'));
    const digest = h.get('X-Scriptbox-SHA256');
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      return { problem: `${entry} cannot be read (${(e as Error)?.message ?? e})` };
    }
    if (bytes.byteLength !== length)
      return { problem: `${entry} is truncated or padded (${bytes.byteLength} of ${h.get('X-Scriptbox-Length')} bytes)` };
    if ((await sha256(bytes)) !== digest) return { problem: `${entry} is damaged (its checksum does not match)` };
    return { bytes };
  }

  /** One put replaces the entry as a whole: readers see the old entry or the new, never half. */
  async write(key: string, bytes: Uint8Array): Promise<void> {
    const url = snapshotEntryUrl(key);
    const body = plain(bytes);
    const headers = {
      'Content-Type': 'application/octet-stream',
      'X-Scriptbox-Snapshot': FORMAT,
      'X-Scriptbox-Key': key,
      'X-Scriptbox-SHA256': await sha256(body),
      'X-Scriptbox-Length': String(body.byteLength),
      'X-Scriptbox-Written': String(Date.now()),
    };
    // Opened per write: a Cache object outlives caches.delete() but then writes nowhere.
    const cache = await caches.open(this.cacheName);
    await cache.put(url, new Response(body, { headers }));
    await prune(cache, url);
  }
}

/** Drops the oldest entries beyond MAX_SNAPSHOT_ENTRIES (never `keep`, the one just written). */
async function prune(cache: Cache, keep: string): Promise<void> {
  const requests = await cache.keys();
  if (requests.length <= MAX_SNAPSHOT_ENTRIES) return;
  const aged = await Promise.all(
    requests.map(async (r) => ({ url: r.url, at: Number((await cache.match(r))?.headers.get('X-Scriptbox-Written')) || 0 })),
  );
  aged.sort((a, b) => a.at - b.at);
  const drop = aged.filter((e) => e.url !== keep).slice(0, requests.length - MAX_SNAPSHOT_ENTRIES);
  await Promise.all(drop.map((e) => cache.delete(e.url)));
}

/**
 * The snapshot store of this page or worker, or undefined where Cache Storage cannot be
 * used (an insecure context has no `caches`; private modes and full disks may refuse to
 * open it): Python snapshots then live in memory for the page only.
 */
export async function openBrowserSnapshotStore(cacheName: string = SNAPSHOT_CACHE): Promise<BrowserSnapshotStore | undefined> {
  if (typeof caches === 'undefined' || typeof crypto === 'undefined' || !crypto.subtle) return undefined;
  try {
    await caches.open(cacheName);
  } catch {
    // Refused (private mode, storage full...): the documented fallback, in-memory snapshots, is the answer.
    return undefined;
  }
  return new BrowserSnapshotStore(cacheName);
}

/**
 * Deletes the Python snapshots this origin keeps in Cache Storage; resolves to whether
 * there were any. Engines already running are unaffected, and the page keeps its
 * in-memory copy: the next page load boots Python from scratch and stores a new snapshot.
 */
export async function clearBrowserSnapshots(cacheName: string = SNAPSHOT_CACHE): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  return caches.delete(cacheName);
}
