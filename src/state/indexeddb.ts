/**
 * IndexedDbStore: a StateStore in an IndexedDB database (browsers, Web Workers), shared by
 * every store opened on that database name in this origin and kept across page loads.
 */
import { InvalidInputError, UnavailableError } from '../errors.js';
import { decode, type ScriptValue } from '../values.js';
import {
  checkName,
  checkPrefix,
  checkTimeout,
  closedError,
  encodeValue,
  quote,
  resolveLimits,
  type ResolvedLimits,
} from './checks.js';
import type { StateStore, StoreLimits } from './store.js';
import { WaitingReceivers, type Received, type Waiter } from './waiters.js';

/** How often a store with waiting receivers looks for messages it was not told about. */
export const INDEXEDDB_POLL_MS = 50;

const VERSION = 1;
const KV = 'kv';
const MESSAGES = 'messages';
const BY_CHANNEL = 'channel';

interface MessageRecord {
  id?: number;
  channel: string;
  body: Uint8Array;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
  });
}

function openDatabase(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(KV)) db.createObjectStore(KV);
      if (!db.objectStoreNames.contains(MESSAGES)) {
        db.createObjectStore(MESSAGES, { keyPath: 'id', autoIncrement: true }).createIndex(BY_CHANNEL, 'channel');
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => {
      /* another tab holds an older version open: the open goes on once it closes */
    };
  });
}

/**
 * A {@link StateStore} in an IndexedDB database, for browsers and Web Workers.
 *
 * - **Persistent**: kv values and unreceived messages stay in the browser's storage for
 *   the origin, across page loads.
 * - **Shared**: every store opened on one database name (this page, other tabs, workers of
 *   the same origin) sees one store. A receive is woken at once by a send through this
 *   store, and through any other store on the database in this origin (BroadcastChannel);
 *   it also looks every {@link INDEXEDDB_POLL_MS} ms while it waits.
 * - **Exactly once**: a message is deleted in the transaction that reads it, and only for a
 *   receive still waiting; a receive that timed out took nothing.
 *
 * @example
 * ```ts
 * const state = await IndexedDbStore.open('my-app-state');
 * await using engine = await createEngine('lua', { state, capabilities: ['kv.*'] });
 * ```
 */
export class IndexedDbStore implements StateStore {
  private readonly waiters = new WaitingReceivers();
  private readonly wake: BroadcastChannel | undefined;
  private readonly draining = new Set<string>();
  private readonly again = new Set<string>();
  private poll: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private closedWhy = 'its data is kept in the browser; open it again with IndexedDbStore.open(dbName)';
  private readonly label: string;

  private constructor(
    private readonly db: IDBDatabase,
    readonly dbName: string,
    private readonly limits: ResolvedLimits,
  ) {
    this.label = `IndexedDbStore ${quote(dbName)}`;
    if (typeof BroadcastChannel !== 'undefined') {
      this.wake = new BroadcastChannel(`scriptbox-state:${dbName}`);
      this.wake.onmessage = (e: MessageEvent) => {
        if (typeof e.data === 'string' && this.waiters.has(e.data)) void this.drain(e.data);
      };
    }
    // Another connection wants to upgrade or delete the database: let it, and close.
    db.onversionchange = () => {
      this.closedWhy = 'the database was deleted or upgraded elsewhere; open it again with IndexedDbStore.open(dbName)';
      void this.close();
    };
    db.onclose = () => {
      this.closedWhy = 'the browser closed its database (storage cleared?); open it again with IndexedDbStore.open(dbName)';
      void this.close();
    };
  }

  /**
   * Opens (creating if need be) the IndexedDB database `dbName`. Rejects with
   * UnavailableError where there is no IndexedDB (Node: use SqliteStore or MemoryStore) or
   * the database cannot be opened (private mode, or a database of another app by that name).
   */
  static async open(dbName: string, limits?: StoreLimits): Promise<IndexedDbStore> {
    if (typeof dbName !== 'string' || dbName === '') {
      throw new InvalidInputError('IndexedDbStore.open(dbName): dbName must be a non-empty string');
    }
    const resolved = resolveLimits(limits, 'IndexedDbStore');
    if (typeof indexedDB === 'undefined') {
      throw new UnavailableError(
        'IndexedDbStore needs IndexedDB, which this environment lacks; in Node use SqliteStore or MemoryStore',
      );
    }
    let db: IDBDatabase;
    try {
      db = await openDatabase(dbName);
    } catch (e) {
      throw new UnavailableError(
        `IndexedDbStore could not open the database ${quote(dbName)}: ${(e as Error)?.message ?? String(e)}; ` +
          'check that this origin may use IndexedDB, or pick another dbName',
        { cause: e },
      );
    }
    if (!db.objectStoreNames.contains(KV) || !db.objectStoreNames.contains(MESSAGES)) {
      db.close();
      throw new UnavailableError(`IndexedDB database ${quote(dbName)} belongs to something else; pick another dbName`);
    }
    return new IndexedDbStore(db, dbName, resolved);
  }

  async get(key: string): Promise<ScriptValue | undefined> {
    this.check();
    checkName(key, 'kv key', this.limits);
    const bytes = await this.run(KV, 'readonly', (tx) => request<Uint8Array | undefined>(tx.objectStore(KV).get(key)));
    return bytes === undefined ? undefined : (decode(bytes) as ScriptValue);
  }

  async set(key: string, value: ScriptValue): Promise<void> {
    this.check();
    checkName(key, 'kv key', this.limits);
    const bytes = encodeValue(value, { kind: 'kv value', name: key }, this.limits);
    await this.run(KV, 'readwrite', (tx) => void tx.objectStore(KV).put(bytes, key));
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    checkName(key, 'kv key', this.limits);
    return this.run(KV, 'readwrite', (tx) => {
      const store = tx.objectStore(KV);
      const had = request(store.count(key)); // requests run in order: counted before the delete
      store.delete(key);
      return had.then((n) => n > 0);
    });
  }

  async keys(prefix?: string): Promise<string[]> {
    this.check();
    const p = checkPrefix(prefix);
    return this.run(KV, 'readonly', (tx) => {
      // Keys sharing a prefix are one run in IndexedDB's order, starting at the prefix.
      const out: string[] = [];
      const req = tx.objectStore(KV).openKeyCursor(p === '' ? undefined : IDBKeyRange.lowerBound(p));
      return new Promise<string[]>((resolve, reject) => {
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const cursor = req.result;
          const key = cursor?.key;
          if (!cursor || typeof key !== 'string' || !key.startsWith(p)) return resolve(out.sort());
          out.push(key);
          cursor.continue();
        };
      });
    });
  }

  async send(channel: string, message: ScriptValue): Promise<void> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    const body = encodeValue(message, { kind: 'message', name: channel }, this.limits);
    const record: MessageRecord = { channel, body };
    await this.run(MESSAGES, 'readwrite', (tx) => void tx.objectStore(MESSAGES).add(record));
    if (this.waiters.has(channel)) void this.drain(channel);
    this.wake?.postMessage(channel);
  }

  async receive(channel: string, timeoutMs: number): Promise<Received> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    checkTimeout(timeoutMs);
    let wait = timeoutMs;
    if (!this.waiters.has(channel)) {
      const started = Date.now();
      const got = await this.take(channel, () => true);
      if (got !== null || timeoutMs === 0) return got;
      if (this.closed) return null;
      wait = Math.max(0, timeoutMs - (Date.now() - started));
    }
    // Others wait already (queue behind them), or there was nothing: wait. Look once more at
    // once, for a send whose wake-up came before this receive was waiting.
    if (wait === 0) return null;
    const received = this.waiters.wait(channel, wait, this);
    this.startPolling();
    void this.drain(channel);
    return received;
  }

  /**
   * Closes this store's connection; pending receives resolve `null` (a message already on
   * its way to one is still delivered). The data stays in the database. Closing twice is harmless.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    this.poll = undefined;
    this.waiters.cancel(this);
    this.wake?.close();
    this.db.close(); // transactions under way still finish
  }

  private check(): void {
    if (this.closed) throw closedError(this.label, this.closedWhy);
  }

  /** Runs `body` in a transaction and resolves its result once the transaction commits. */
  private async run<T>(store: string, mode: IDBTransactionMode, body: (tx: IDBTransaction) => T | Promise<T>): Promise<T> {
    let tx: IDBTransaction;
    try {
      tx = this.db.transaction(store, mode);
    } catch (e) {
      if (this.closed) throw closedError(this.label, this.closedWhy);
      throw e;
    }
    const done = committed(tx);
    let result: Promise<T>;
    try {
      result = Promise.resolve(body(tx)); // synchronously: the transaction is active in this task only
    } catch (e) {
      done.catch(() => {});
      tx.abort();
      throw e;
    }
    // A body that fails (and aborts) reports its own error, not the abort's.
    const [, value] = await Promise.all([done, result]);
    return value;
  }

  /**
   * Takes the oldest message of `channel` if `pick()`, called once one is found and before it
   * is deleted, says so. Deleted and read in one readwrite transaction: exactly once.
   */
  private take(channel: string, pick: () => boolean): Promise<Received> {
    return this.run(MESSAGES, 'readwrite', (tx) => {
      const req = tx.objectStore(MESSAGES).index(BY_CHANNEL).openCursor(IDBKeyRange.only(channel));
      return new Promise<Received>((resolve, reject) => {
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const cursor = req.result;
          if (!cursor || !pick()) return resolve(null);
          let got: Received;
          try {
            got = { message: decode((cursor.value as MessageRecord).body) as ScriptValue };
          } catch (e) {
            tx.abort(); // the message stays where it was
            return reject(e);
          }
          cursor.delete();
          resolve(got);
        };
      });
    });
  }

  /** Hands messages to this store's waiting receivers on `channel`, oldest first, while both last. */
  private async drain(channel: string): Promise<void> {
    if (this.draining.has(channel)) {
      this.again.add(channel);
      return;
    }
    this.draining.add(channel);
    try {
      for (;;) {
        this.again.delete(channel);
        if (this.closed || !this.waiters.next(channel)) return;
        let claimed: Waiter | undefined;
        let got: Received;
        try {
          got = await this.take(channel, () => {
            // Claimed while still waiting: its deadline no longer applies, the message is its.
            claimed = this.waiters.next(channel);
            if (claimed) claimed.claimed = true;
            return claimed !== undefined;
          });
        } catch (e) {
          if (claimed) this.waiters.fail(claimed, e);
          return;
        }
        if (claimed && got) this.waiters.deliver(claimed, got.message);
        else if (claimed) this.waiters.unclaim(claimed);
        else if (!this.again.has(channel)) return;
      }
    } finally {
      this.draining.delete(channel);
    }
  }

  private startPolling(): void {
    if (this.poll !== undefined) return;
    this.poll = setInterval(() => {
      if (this.waiters.size === 0) {
        clearInterval(this.poll);
        this.poll = undefined;
        return;
      }
      for (const channel of this.waiters.channels()) void this.drain(channel);
    }, INDEXEDDB_POLL_MS);
  }
}
