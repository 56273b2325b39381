/**
 * Fast start for Python engines (docs/snapshots.md): wraps how an engine connects to its
 * core so the core boots from a Pyodide memory snapshot instead of from scratch, first
 * start and every restart alike.
 *
 * The bytes for a snapshot key are looked up once per process and store: in memory, then
 * in the store (Node: a checked disk cache, src/node/snapshot-cache.ts; browsers: Cache
 * Storage, ./browser-store.ts). On a miss one engine boots from scratch and takes the
 * snapshot while it boots (before anything engine-specific); engines that start meanwhile
 * wait for it rather than boot from scratch too. The store then keeps the bytes, in the background: a store that cannot write only
 * costs later processes their fast start, and says so once.
 *
 * No `node:` imports here (DESIGN §1): the store is injected.
 */
import type { CoreInit } from '../core.js';
import type { Connection, ConnectionFactory } from '../placement/connection.js';
import { looksLikePyodideSnapshot as looksLikeSnapshot } from './pyodide-snapshot.js';
import { copySparsely } from './sparse-copy.js';
import type { SnapshotSetup, BootSnapshotStore } from './store.js';

/**
 * One copy per process, in shared memory where there is some: worker engines then restore
 * without a copy each. Its zero pages are left unwritten, so they cost no resident memory.
 */
function share(b: Uint8Array): Uint8Array {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (typeof SharedArrayBuffer === 'undefined' || g.crossOriginIsolated === false || !(b.buffer instanceof ArrayBuffer)) return b;
  const shared = new Uint8Array(new SharedArrayBuffer(b.byteLength));
  copySparsely(b, shared);
  return shared;
}

/** The snapshot of one key in one store, shared by every engine of the process. */
class Slot {
  private bytes: Uint8Array | undefined;
  private loading: Promise<void> | undefined;
  /** Set while one engine boots from scratch to take the snapshot; others wait for it. */
  private building: Promise<void> | undefined;
  private built: (() => void) | undefined;
  private warnedWrite = false;

  constructor(
    private readonly key: string,
    private readonly store: BootSnapshotStore | undefined,
    private readonly warn: (message: string) => void,
  ) {}

  /** The bytes, or undefined when the caller must boot from scratch and take them (see done()). */
  async get(): Promise<Uint8Array | undefined> {
    if (!this.bytes && this.store) {
      this.loading ??= this.load();
      await this.loading;
    }
    while (!this.bytes && this.building) await this.building;
    if (this.bytes) return this.bytes;
    this.building = new Promise<void>((r) => (this.built = r));
    return undefined;
  }

  private async load(): Promise<void> {
    const got = await this.store!.read(this.key).catch((e: unknown) => ({ problem: String((e as Error)?.message ?? e) }));
    if ('bytes' in got) {
      if (looksLikeSnapshot(got.bytes)) this.bytes = share(got.bytes);
      else
        this.warn(
          `scriptbox: the Python snapshot in ${this.store!.where} is not a Pyodide snapshot; booting from scratch and replacing it`,
        );
    } else if (got.problem !== 'missing') {
      this.warn(`scriptbox: ${got.problem}; booting Python from scratch and replacing the snapshot`);
    }
  }

  /** After a boot from scratch: keep the snapshot it took (or let a waiting engine build one). */
  done(snapshot: Uint8Array | undefined): void {
    if (snapshot && looksLikeSnapshot(snapshot)) {
      this.bytes = share(snapshot);
      this.save(snapshot);
    }
    this.building = undefined;
    this.built?.();
  }

  /** A core refused the bytes (another Pyodide build...) and took new ones while booting from scratch. */
  replace(snapshot: Uint8Array, why: string): void {
    this.warn(`scriptbox: the Python snapshot could not be restored (${why}); it was rebuilt`);
    this.done(snapshot);
  }

  private save(snapshot: Uint8Array): void {
    const store = this.store;
    if (!store) return;
    const write = store.write(this.key, snapshot).catch((e: unknown) => {
      if (this.warnedWrite) return;
      this.warnedWrite = true;
      const err = e as { code?: string; message?: string } | undefined;
      this.warn(
        `scriptbox: cannot write Python snapshots to ${store.where} (${err?.code ?? err?.message ?? e}); engines of this process (or page) still start fast, later ones boot from scratch. In Node pass snapshot: { dir } with a writable directory; in a browser free some site storage; or pass snapshot: false`,
      );
    });
    writes.add(write);
    void write.finally(() => writes.delete(write));
  }
}

/** Snapshot writes still under way. */
const writes = new Set<Promise<void>>();

/** Resolves once every snapshot taken so far is written to its store (or failed to be). */
export async function flushSnapshots(): Promise<void> {
  while (writes.size) await Promise.all([...writes]);
}

const slots = new Map<string, Slot>();

/** How the Python cores of this process booted (for tests, the CLI and stats). */
const counts = { restored: 0, built: 0, rejected: 0, ahead: 0 };

/**
 * Boots so far in this process: `restored` from a snapshot (`ahead` of them by a spare
 * worker before the engine asked), `built` from scratch taking one, `rejected` snapshots.
 */
export function snapshotCounts(): Readonly<typeof counts> {
  return { ...counts };
}

/** Forgets the snapshots this process holds in memory (tests; `scriptbox snapshot clear`). */
export function forgetSnapshots(): void {
  slots.clear();
}

/** Wraps `connect` so each core restores the snapshot of `setup.key` (or boots from scratch and takes it). */
export function withSnapshots(connect: ConnectionFactory, setup: SnapshotSetup): ConnectionFactory {
  const id = `${setup.store?.where ?? '(memory)'}\n${setup.key}`;
  const warn = setup.warn ?? ((m: string) => console.warn(m));
  return async (init: CoreInit): Promise<Connection> => {
    // A session snapshot is a heap of its own: the start-up snapshot has no part in its boot.
    if (init.session) return connect(init);
    let slot = slots.get(id);
    if (!slot) slots.set(id, (slot = new Slot(setup.key, setup.store, warn)));
    const bytes = await slot.get();
    if (bytes) {
      const conn = await connect({ ...init, snapshot: bytes });
      const fresh = takeSnapshot(conn);
      if (fresh) {
        counts.rejected++;
        slot.replace(fresh, conn.boot?.rejected ?? 'unknown reason');
      } else if (conn.boot?.restored) {
        counts.restored++;
        if (conn.boot.ahead) counts.ahead++;
      }
      return conn;
    }
    let conn: Connection;
    try {
      conn = await connect({ ...init, makeSnapshot: true });
    } catch (e) {
      slot.done(undefined);
      throw e;
    }
    const made = takeSnapshot(conn);
    if (made) counts.built++;
    slot.done(made);
    return conn;
  };
}

/** The snapshot a core took, taken off its connection (which lives as long as the engine). */
function takeSnapshot(conn: Connection): Uint8Array | undefined {
  const s = conn.boot?.snapshot;
  if (conn.boot) delete conn.boot.snapshot;
  return s;
}
