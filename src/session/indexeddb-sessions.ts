/**
 * The browser SnapshotStore (src/session/store.ts): an IndexedDB database of two object
 * stores, the snapshots' bytes and their info (so a listing reads no payload), written in
 * one transaction. No `node:` imports (DESIGN §1).
 */
import { InvalidInputError, UnavailableError } from '../errors.js';
import { committed, request } from '../state/indexeddb.js';
import { SessionSnapshot, type SessionInfo } from './snapshot.js';
import { checkSaved, checkSnapshotName, storedSnapshot, type SnapshotStore } from './store.js';

const VERSION = 1;
const BYTES = 'bytes';
const INFO = 'info';

function openDatabase(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(BYTES)) db.createObjectStore(BYTES);
      if (!db.objectStoreNames.contains(INFO)) db.createObjectStore(INFO);
    };
    req.onsuccess = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(BYTES) || !db.objectStoreNames.contains(INFO)) {
        db.close();
        reject(new InvalidInputError(`the IndexedDB database '${name}' belongs to something else; pass another database name`));
      } else resolve(db);
    };
    req.onerror = () => reject(req.error);
  });
}

export class IndexedDbSessionStore implements SnapshotStore {
  readonly where: string;
  private closed = false;

  private constructor(private readonly db: IDBDatabase) {
    this.where = `the IndexedDB database '${db.name}'`;
  }

  static async open(database = 'scriptbox-sessions'): Promise<IndexedDbSessionStore> {
    if (typeof indexedDB === 'undefined') {
      throw new UnavailableError(
        'openSnapshotStore: this context has no IndexedDB (a private mode, an old browser); keep snapshot.toBytes() yourself',
      );
    }
    if (typeof database !== 'string' || database === '') throw new InvalidInputError('openSnapshotStore: database must be a name');
    return new IndexedDbSessionStore(await openDatabase(database));
  }

  private live(): IDBDatabase {
    if (this.closed) throw new InvalidInputError(`${this.where} was disposed; open the store again`);
    return this.db;
  }

  async save(name: string, snap: SessionSnapshot): Promise<void> {
    checkSnapshotName(name);
    checkSaved(snap);
    const tx = this.live().transaction([BYTES, INFO], 'readwrite');
    const done = committed(tx);
    tx.objectStore(BYTES).put(snap.toBytes(), name);
    tx.objectStore(INFO).put({ ...snap.info }, name);
    await done;
  }

  async load(name: string): Promise<SessionSnapshot | undefined> {
    checkSnapshotName(name);
    const bytes = (await request(this.live().transaction(BYTES).objectStore(BYTES).get(name))) as unknown;
    if (bytes === undefined) return undefined;
    return storedSnapshot(bytes, name, this.where);
  }

  async list(): Promise<{ name: string; info: SessionInfo }[]> {
    const store = this.live().transaction(INFO).objectStore(INFO);
    const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    const out = keys.map((k, i) => ({ name: String(k), info: values[i] as SessionInfo }));
    return out.sort((a, b) => (a.info.createdAt < b.info.createdAt ? 1 : a.info.createdAt > b.info.createdAt ? -1 : 0));
  }

  async delete(name: string): Promise<boolean> {
    checkSnapshotName(name);
    const tx = this.live().transaction([BYTES, INFO], 'readwrite');
    const done = committed(tx);
    const had = (await request(tx.objectStore(INFO).count(name))) > 0;
    tx.objectStore(BYTES).delete(name);
    tx.objectStore(INFO).delete(name);
    await done;
    return had;
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
