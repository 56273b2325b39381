/**
 * IndexedDbStore: a StateStore in an IndexedDB database (browsers, Web Workers), shared by
 * every store opened on that database name in this origin and kept across page loads.
 */
import { InvalidInputError, UnavailableError } from '../errors.js';
import { FACTORY, requireFactory, type FactoryToken } from '../factory-token.js';
import { decode, type ScriptValue } from '../values.js';
import {
  checkKvQuota,
  checkName,
  checkPrefix,
  checkQueueQuota,
  checkSignal,
  checkTimeout,
  closedError,
  encodeValue,
  kvEntryBytes,
  quote,
  resolveLimits,
  type ResolvedLimits,
  type Totals,
} from './checks.js';
import type { ReceiveOptions, StateStore, StoreLimits } from './store.js';
import { WaitingReceivers, type Received, type Waiter } from './waiters.js';

/** How often a store with waiting receivers looks for messages it was not told about. */
export const INDEXEDDB_POLL_MS = 50;

// Version 2 added the totals the quotas check (StoreLimits); an upgrade counts them once.
const VERSION = 2;
const KV = 'kv';
const MESSAGES = 'messages';
const TOTALS = 'totals';
const BY_CHANNEL = 'channel';
const EMPTY: Totals = { count: 0, bytes: 0 };

interface MessageRecord {
  id?: number;
  channel: string;
  body: Uint8Array;
}

/** A message taken from the database, with its record (to put it back if its receiver went). */
interface Taken {
  message: ScriptValue;
  record: MessageRecord;
}

/** An IndexedDB request as a promise. */
export function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Resolves when the transaction commits; rejects when it aborts. */
export function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
  });
}

/** Sums `each(key, value)` over every record of `store` (upgrade transaction), then calls `done(totals)`. */
function count(tx: IDBTransaction, store: string, each: (key: IDBValidKey, value: unknown) => number, done: (t: Totals) => void): void {
  const into = { ...EMPTY };
  const req = tx.objectStore(store).openCursor();
  req.onsuccess = () => {
    const cursor = req.result;
    if (!cursor) return done(into);
    into.count++;
    into.bytes += each(cursor.key, cursor.value);
    cursor.continue();
  };
}

/** openDatabase's rejection for a database that holds other stores than ours. */
const FOREIGN = new Error('foreign database');

function openDatabase(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, VERSION);
    let foreign = false;
    req.onupgradeneeded = (ev) => {
      const db = req.result;
      const tx = req.transaction!;
      // An existing database without our stores is someone else's: never add ours to it.
      if (ev.oldVersion > 0 && (!db.objectStoreNames.contains(KV) || !db.objectStoreNames.contains(MESSAGES))) {
        foreign = true;
        tx.abort();
        return;
      }
      if (!db.objectStoreNames.contains(KV)) db.createObjectStore(KV);
      if (!db.objectStoreNames.contains(MESSAGES)) {
        db.createObjectStore(MESSAGES, { keyPath: 'id', autoIncrement: true }).createIndex(BY_CHANNEL, 'channel');
      }
      if (!db.objectStoreNames.contains(TOTALS)) {
        const totals = db.createObjectStore(TOTALS);
        // Data from version 1 is counted once, in the upgrade transaction (nobody writes meanwhile).
        count(
          tx,
          KV,
          (k, v) => (typeof k === 'string' && v instanceof Uint8Array ? kvEntryBytes(k, v) : 0),
          (t) => void totals.put(t, KV),
        );
        count(
          tx,
          MESSAGES,
          (_k, v) => (v as MessageRecord)?.body?.byteLength ?? 0,
          (t) => void totals.put(t, MESSAGES),
        );
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(foreign ? FOREIGN : req.error);
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
    token: FactoryToken,
    private readonly db: IDBDatabase,
    readonly dbName: string,
    private readonly limits: ResolvedLimits,
  ) {
    // JavaScript can call a private constructor: refuse at once, not at the first method.
    requireFactory(token, 'IndexedDbStore', 'await IndexedDbStore.open(dbName)');
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
      void this.dispose();
    };
    db.onclose = () => {
      this.closedWhy = 'the browser closed its database (storage cleared?); open it again with IndexedDbStore.open(dbName)';
      void this.dispose();
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
      throw new UnavailableError('IndexedDbStore needs IndexedDB, which this environment lacks; in Node use SqliteStore or MemoryStore');
    }
    let db: IDBDatabase;
    try {
      db = await openDatabase(dbName);
    } catch (e) {
      if (e === FOREIGN) throw new UnavailableError(`IndexedDB database ${quote(dbName)} belongs to something else; pick another dbName`);
      throw new UnavailableError(
        `IndexedDbStore could not open the database ${quote(dbName)}: ${(e as Error)?.message ?? String(e)}; ` +
          'check that this origin may use IndexedDB, or pick another dbName',
        { cause: e },
      );
    }
    if (!db.objectStoreNames.contains(KV) || !db.objectStoreNames.contains(MESSAGES) || !db.objectStoreNames.contains(TOTALS)) {
      db.close();
      throw new UnavailableError(`IndexedDB database ${quote(dbName)} belongs to something else; pick another dbName`);
    }
    return new IndexedDbStore(FACTORY, db, dbName, resolved);
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
    const size = kvEntryBytes(key, bytes);
    // Quota check and write in one transaction: writers elsewhere cannot both pass the check.
    await this.run([KV, TOTALS], 'readwrite', (tx) => {
      const kv = tx.objectStore(KV);
      const totals = tx.objectStore(TOTALS);
      const before = request<Totals | undefined>(totals.get(KV));
      const old = request<Uint8Array | undefined>(kv.get(key));
      return Promise.all([before, old]).then(([t = EMPTY, o]) => {
        const oldSize = o === undefined ? undefined : kvEntryBytes(key, o);
        try {
          checkKvQuota(this.limits, this.label, key, t, oldSize, size);
        } catch (e) {
          tx.abort();
          throw e;
        }
        kv.put(bytes, key);
        totals.put({ count: t.count + (oldSize === undefined ? 1 : 0), bytes: t.bytes - (oldSize ?? 0) + size }, KV);
      });
    });
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    checkName(key, 'kv key', this.limits);
    return this.run([KV, TOTALS], 'readwrite', (tx) => {
      const kv = tx.objectStore(KV);
      const totals = tx.objectStore(TOTALS);
      const before = request<Totals | undefined>(totals.get(KV));
      const old = request<Uint8Array | undefined>(kv.get(key));
      return Promise.all([before, old]).then(([t = EMPTY, o]) => {
        if (o === undefined) return false;
        kv.delete(key);
        totals.put({ count: Math.max(0, t.count - 1), bytes: Math.max(0, t.bytes - kvEntryBytes(key, o)) }, KV);
        return true;
      });
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
    await this.run([MESSAGES, TOTALS], 'readwrite', (tx) => {
      const totals = tx.objectStore(TOTALS);
      return request<Totals | undefined>(totals.get(MESSAGES)).then((t = EMPTY) => {
        try {
          checkQueueQuota(this.limits, this.label, channel, t, body.byteLength);
        } catch (e) {
          tx.abort();
          throw e;
        }
        tx.objectStore(MESSAGES).add(record);
        totals.put({ count: t.count + 1, bytes: t.bytes + body.byteLength }, MESSAGES);
      });
    });
    if (this.waiters.has(channel)) void this.drain(channel);
    this.wake?.postMessage(channel);
  }

  async receive(channel: string, timeoutMs: number, opts?: ReceiveOptions): Promise<Received> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    checkTimeout(timeoutMs);
    const signal = checkSignal(opts);
    // A caller already gone takes nothing, not even a message that is waiting.
    if (signal?.aborted) return null;
    let wait = timeoutMs;
    if (!this.waiters.has(channel)) {
      const started = Date.now();
      // Taken only if the caller is still there when the message is found.
      const got = await this.take(channel, () => !signal?.aborted);
      if (got !== null) {
        // The caller went while the take committed: the message goes back where it was.
        if (signal?.aborted) {
          await this.putBack(got.record);
          return null;
        }
        return { message: got.message };
      }
      if (timeoutMs === 0 || this.closed || signal?.aborted) return null;
      wait = Math.max(0, timeoutMs - (Date.now() - started));
    }
    // Others wait already (queue behind them), or there was nothing: wait. Look once more at
    // once, for a send whose wake-up came before this receive was waiting.
    if (wait === 0) return null;
    const received = this.waiters.wait(channel, wait, this, signal);
    this.startPolling();
    void this.drain(channel);
    return received;
  }

  /**
   * Closes this store's connection; pending receives resolve `null` (a message already on
   * its way to one is still delivered). The data stays in the database. Disposing twice is harmless.
   */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    this.poll = undefined;
    this.waiters.cancel(this);
    this.wake?.close();
    this.db.close(); // transactions under way still finish
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated Use `dispose()` (or `await using`); kept for one release. */
  close(): Promise<void> {
    return this.dispose();
  }

  private check(): void {
    if (this.closed) throw closedError(this.label, this.closedWhy);
  }

  /** Runs `body` in a transaction and resolves its result once the transaction commits. */
  private async run<T>(store: string | string[], mode: IDBTransactionMode, body: (tx: IDBTransaction) => T | Promise<T>): Promise<T> {
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
      // The abort below rejects `done`; the body's own error (rethrown) is the one to report.
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
  private take(channel: string, pick: () => boolean): Promise<Taken | null> {
    return this.run([MESSAGES, TOTALS], 'readwrite', (tx) => {
      const totals = tx.objectStore(TOTALS);
      const before = request<Totals | undefined>(totals.get(MESSAGES));
      const req = tx.objectStore(MESSAGES).index(BY_CHANNEL).openCursor(IDBKeyRange.only(channel));
      return new Promise<Taken | null>((resolve, reject) => {
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const cursor = req.result;
          if (!cursor || !pick()) return resolve(null);
          const record = cursor.value as MessageRecord;
          let got: Taken;
          try {
            got = { message: decode(record.body) as ScriptValue, record };
          } catch (e) {
            tx.abort(); // the message stays where it was
            return reject(e);
          }
          cursor.delete();
          // The totals were read first (requests run in order), so they are here by now.
          void before.then((t = EMPTY) =>
            totals.put({ count: Math.max(0, t.count - 1), bytes: Math.max(0, t.bytes - record.body.byteLength) }, MESSAGES),
          );
          resolve(got);
        };
      });
    });
  }

  /** Puts a taken message back under its own id (so still oldest first), counted again; no quota check: it was counted before. */
  private async putBack(record: MessageRecord): Promise<void> {
    await this.run([MESSAGES, TOTALS], 'readwrite', (tx) => {
      const totals = tx.objectStore(TOTALS);
      return request<Totals | undefined>(totals.get(MESSAGES)).then((t = EMPTY) => {
        tx.objectStore(MESSAGES).add(record);
        totals.put({ count: t.count + 1, bytes: t.bytes + record.body.byteLength }, MESSAGES);
      });
    });
    if (this.waiters.has(record.channel)) void this.drain(record.channel);
    this.wake?.postMessage(record.channel);
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
        let got: Taken | null;
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
        if (claimed && got && !this.waiters.live(claimed)) {
          // Its caller went while the take committed: the message goes back, the waiter gets null.
          this.waiters.unclaim(claimed);
          try {
            await this.putBack(got.record);
          } catch {
            // Only a connection closed under us fails here; then the message is lost, as are
            // this store's receivers, and no caller is left to tell (documented in dispose()).
          }
          continue;
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
