/**
 * SqliteStore: a StateStore in a SQLite file (Node, better-sqlite3), shared by every store
 * opened on that file, in this process and in others, and kept across restarts.
 *
 * better-sqlite3 is loaded on `SqliteStore.open` only, by a specifier bundlers leave
 * alone, so a browser bundle of scriptbox never pulls it in.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { InvalidInputError, UnavailableError } from '../errors.js';
import { FACTORY, requireFactory, type FactoryToken } from '../factory-token.js';
import { decode, type ScriptValue } from '../values.js';
import {
  checkKvQuota,
  checkName,
  checkQueueQuota,
  checkPrefix,
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

/** How often a file with waiting receivers is checked for messages other processes sent. */
export const SQLITE_POLL_MS = 25;
/** How long a statement waits for another process's write lock before failing. */
const BUSY_TIMEOUT_MS = 5000;

type Driver = typeof BetterSqlite3;
type Db = BetterSqlite3.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS scriptbox_kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scriptbox_messages (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS scriptbox_messages_channel ON scriptbox_messages (channel, id);
`;

// Totals for the quotas (StoreLimits), kept by triggers so that every writer of the file,
// in any process, keeps them right. A file made before the quotas gets them counted once.
const KV_BYTES = (row: 'NEW' | 'OLD') => `length(CAST(${row}.key AS BLOB)) + length(${row}.value)`;
const TOTALS = `
CREATE TABLE IF NOT EXISTS scriptbox_totals (name TEXT PRIMARY KEY NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO scriptbox_totals SELECT 'kv', count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) FROM scriptbox_kv;
INSERT OR IGNORE INTO scriptbox_totals SELECT 'messages', count(*), coalesce(sum(length(body)), 0) FROM scriptbox_messages;
CREATE TRIGGER IF NOT EXISTS scriptbox_kv_insert AFTER INSERT ON scriptbox_kv BEGIN
  UPDATE scriptbox_totals SET count = count + 1, bytes = bytes + ${KV_BYTES('NEW')} WHERE name = 'kv'; END;
CREATE TRIGGER IF NOT EXISTS scriptbox_kv_update AFTER UPDATE ON scriptbox_kv BEGIN
  UPDATE scriptbox_totals SET bytes = bytes - (${KV_BYTES('OLD')}) + ${KV_BYTES('NEW')} WHERE name = 'kv'; END;
CREATE TRIGGER IF NOT EXISTS scriptbox_kv_delete AFTER DELETE ON scriptbox_kv BEGIN
  UPDATE scriptbox_totals SET count = count - 1, bytes = bytes - (${KV_BYTES('OLD')}) WHERE name = 'kv'; END;
CREATE TRIGGER IF NOT EXISTS scriptbox_messages_insert AFTER INSERT ON scriptbox_messages BEGIN
  UPDATE scriptbox_totals SET count = count + 1, bytes = bytes + length(NEW.body) WHERE name = 'messages'; END;
CREATE TRIGGER IF NOT EXISTS scriptbox_messages_delete AFTER DELETE ON scriptbox_messages BEGIN
  UPDATE scriptbox_totals SET count = count - 1, bytes = bytes - length(OLD.body) WHERE name = 'messages'; END;
`;

let driver: Promise<Driver> | undefined;

function loadDriver(): Promise<Driver> {
  driver ??= (async () => {
    const specifier = 'better-sqlite3';
    try {
      const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as { default?: Driver };
      return mod.default ?? (mod as unknown as Driver);
    } catch (e) {
      driver = undefined;
      throw new UnavailableError(
        `SqliteStore needs the better-sqlite3 package, which could not be loaded (${(e as Error).message}); ` +
          'install it (npm install better-sqlite3) in Node, or use MemoryStore (IndexedDbStore in browsers)',
        { cause: e },
      );
    }
  })();
  return driver;
}

/**
 * One open SQLite file, shared by every SqliteStore of this process opened on it: one
 * connection (so they see one consistent store) and one set of waiting receivers (so a
 * send from any of them wakes a receive on any other at once).
 */
class SqliteFile {
  /** Open files by full path (SQLite's own, symlinks resolved). */
  private static readonly open = new Map<string, SqliteFile>();

  readonly waiters = new WaitingReceivers();
  private refs = 1;
  private poll: ReturnType<typeof setInterval> | undefined;
  private seenVersion = 0;
  private readonly stmt;
  private readonly takeTx: (channel: string) => Received;
  private readonly setTx: (key: string, value: Uint8Array, limits: ResolvedLimits, label: string) => void;
  private readonly sendTx: (channel: string, body: Uint8Array, limits: ResolvedLimits, label: string) => void;

  static acquire(Database: Driver, path: string): SqliteFile {
    let db: Db;
    try {
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    } catch (e) {
      throw new UnavailableError(
        `SqliteStore could not open ${quote(path)}: ${(e as Error).message}; check that its directory exists and is writable`,
        { cause: e },
      );
    }
    try {
      const main = (db.pragma('database_list') as { name: string; file: string }[]).find((d) => d.name === 'main');
      const full = main?.file ?? '';
      const existing = full === '' ? undefined : SqliteFile.open.get(full);
      if (existing) {
        db.close();
        existing.refs++;
        return existing;
      }
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      // One transaction: no other process writes between counting the totals and the triggers.
      db.transaction(() => db.exec(TOTALS)).immediate();
      const file = new SqliteFile(db, full);
      // ':memory:' and '' are private databases: nothing to share, no other writers.
      if (full !== '') SqliteFile.open.set(full, file);
      return file;
    } catch (e) {
      db.close();
      throw new UnavailableError(
        `SqliteStore could not use ${quote(path)} as its database: ${(e as Error).message}; pass the path of a SQLite file (or a new one)`,
        { cause: e },
      );
    }
  }

  private constructor(
    private readonly db: Db,
    /** Full path, or '' for a private (in-memory or temporary) database. */
    readonly path: string,
  ) {
    this.stmt = {
      get: db.prepare<[string], Uint8Array>('SELECT value FROM scriptbox_kv WHERE key = ?').pluck(),
      set: db.prepare<[string, Uint8Array]>(
        'INSERT INTO scriptbox_kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      delete: db.prepare<[string]>('DELETE FROM scriptbox_kv WHERE key = ?'),
      keysFrom: db.prepare<[string], string>('SELECT key FROM scriptbox_kv WHERE key >= ? ORDER BY key').pluck(),
      send: db.prepare<[string, Uint8Array]>('INSERT INTO scriptbox_messages (channel, body) VALUES (?, ?)'),
      take: db
        .prepare<[string], Uint8Array>(
          'DELETE FROM scriptbox_messages WHERE id = ' +
            '(SELECT id FROM scriptbox_messages WHERE channel = ? ORDER BY id LIMIT 1) RETURNING body',
        )
        .pluck(),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      totals: db.prepare<[string], Totals>('SELECT count, bytes FROM scriptbox_totals WHERE name = ?'),
      size: db.prepare<[string], number>('SELECT length(CAST(key AS BLOB)) + length(value) FROM scriptbox_kv WHERE key = ?').pluck(),
    };
    // Quota check and write under one write lock: stores in other processes cannot both pass
    // the check and go over together.
    const set = db.transaction((key: string, value: Uint8Array, limits: ResolvedLimits, label: string) => {
      const totals = this.stmt.totals.get('kv') ?? { count: 0, bytes: 0 };
      checkKvQuota(limits, label, key, totals, this.stmt.size.get(key), kvEntryBytes(key, value));
      this.stmt.set.run(key, value);
    });
    this.setTx = (...args) => set.immediate(...args);
    const send = db.transaction((channel: string, body: Uint8Array, limits: ResolvedLimits, label: string) => {
      checkQueueQuota(limits, label, channel, this.stmt.totals.get('messages') ?? { count: 0, bytes: 0 }, body.byteLength);
      this.stmt.send.run(channel, body);
    });
    this.sendTx = (...args) => send.immediate(...args);
    // Delete-returning under the write lock: each message leaves the file exactly once. It is
    // decoded inside the transaction, so a message that cannot be decoded stays where it was.
    const tx = db.transaction((channel: string): Received => {
      const body = this.stmt.take.get(channel);
      return body === undefined ? null : { message: decode(body) as ScriptValue };
    });
    this.takeTx = (channel) => tx.immediate(channel);
  }

  get(key: string): Uint8Array | undefined {
    return this.stmt.get.get(key);
  }

  set(key: string, value: Uint8Array, limits: ResolvedLimits, label: string): void {
    this.setTx(key, value, limits, label);
  }

  delete(key: string): boolean {
    return this.stmt.delete.run(key).changes > 0;
  }

  keys(prefix: string): string[] {
    // Keys sharing a prefix are one run in SQLite's (UTF-8 byte) order, starting at the prefix.
    const out: string[] = [];
    for (const key of this.stmt.keysFrom.iterate(prefix)) {
      if (!key.startsWith(prefix)) break;
      out.push(key);
    }
    return out.sort();
  }

  send(channel: string, body: Uint8Array, limits: ResolvedLimits, label: string): void {
    this.sendTx(channel, body, limits, label);
    if (this.waiters.has(channel)) this.pump(channel);
  }

  /** Takes the oldest message of `channel`, or null. */
  take(channel: string): Received {
    return this.takeTx(channel);
  }

  /**
   * Adds a waiting receive and watches for other processes' sends while it waits.
   * `baseline`: a data version read before the caller last looked at the channel.
   */
  wait(channel: string, timeoutMs: number, owner: object, signal: AbortSignal | undefined, baseline?: number): Promise<Received> {
    const received = this.waiters.wait(channel, timeoutMs, owner, signal);
    this.startPolling(baseline);
    return received;
  }

  /** Hands messages to waiting receivers, oldest first, while both last. */
  pump(channel: string): void {
    for (let w: Waiter | undefined; (w = this.waiters.next(channel));) {
      let got: Received;
      try {
        got = this.takeTx(channel);
      } catch (e) {
        this.waiters.fail(w, e);
        continue;
      }
      if (got === null) return;
      this.waiters.deliver(w, got.message);
    }
  }

  /** Version of the file as this connection last saw it; it changes when another connection commits. */
  dataVersion(): number {
    return this.stmt.dataVersion.get()!;
  }

  /**
   * Watches for other processes' commits while receivers wait. `baseline` is a data version
   * read before this receive's last look at the channel, so no commit after that look is missed.
   */
  private startPolling(baseline?: number): void {
    if (this.poll !== undefined || this.path === '') return;
    this.seenVersion = baseline ?? this.dataVersion();
    this.poll = setInterval(() => this.lookForOtherSends(), SQLITE_POLL_MS);
    (this.poll as { unref?: () => void }).unref?.();
  }

  get polling(): boolean {
    return this.poll !== undefined;
  }

  private lookForOtherSends(): void {
    if (this.waiters.size === 0) {
      clearInterval(this.poll);
      this.poll = undefined;
      return;
    }
    let version: number;
    try {
      version = this.dataVersion();
    } catch {
      return; // busy or closing: try again on the next tick
    }
    if (version === this.seenVersion) return;
    this.seenVersion = version;
    for (const channel of this.waiters.channels()) this.pump(channel);
  }

  /** One store let go of the file; the last one closes it. */
  release(owner: object): void {
    this.waiters.cancel(owner);
    if (--this.refs > 0) return;
    clearInterval(this.poll);
    this.poll = undefined;
    if (this.path !== '') SqliteFile.open.delete(this.path);
    this.db.close();
  }
}

/**
 * A {@link StateStore} in a SQLite file (Node only; uses the better-sqlite3 package).
 *
 * - **Persistent**: kv values and unreceived messages survive restarts of the process.
 * - **Shared**: stores opened on one file in one process share a connection and see one
 *   store; other processes may open the same file too (WAL mode). A receive is woken at once
 *   by a send from this process, and within {@link SQLITE_POLL_MS} ms by a send from another.
 * - **Exactly once**: a message is deleted and returned in one write transaction, and only
 *   for a receive still waiting; a receive that timed out took nothing.
 *
 * Calls run synchronously on the caller's thread (better-sqlite3), each in well under a
 * millisecond; one may wait up to 5 s for another process's write lock.
 *
 * @example
 * ```ts
 * const state = await SqliteStore.open('state.db');
 * await using engine = await createEngine('python', { state, capabilities: ['kv.*'] });
 * // ... later: await state.dispose();
 * ```
 */
export class SqliteStore implements StateStore {
  private closed = false;

  private constructor(
    token: FactoryToken,
    private readonly file: SqliteFile,
    private readonly limits: ResolvedLimits,
    private readonly label: string,
  ) {
    // JavaScript can call a private constructor: refuse at once, not at the first method.
    requireFactory(token, 'SqliteStore', 'await SqliteStore.open(path)');
  }

  /**
   * Opens (creating if need be) the SQLite file at `path`; `':memory:'` gives a private
   * in-memory database. Rejects with UnavailableError when better-sqlite3 is missing or the
   * file cannot be opened.
   */
  static async open(path: string, limits?: StoreLimits): Promise<SqliteStore> {
    if (typeof path !== 'string' || path === '') {
      throw new InvalidInputError(`SqliteStore.open(path): path must be a non-empty string (a file path, or ':memory:')`);
    }
    const resolved = resolveLimits(limits, 'SqliteStore');
    const Database = await loadDriver();
    return new SqliteStore(FACTORY, SqliteFile.acquire(Database, path), resolved, `SqliteStore ${quote(path)}`);
  }

  async get(key: string): Promise<ScriptValue | undefined> {
    this.check();
    const bytes = this.file.get(checkName(key, 'kv key', this.limits));
    return bytes === undefined ? undefined : (decode(bytes) as ScriptValue);
  }

  async set(key: string, value: ScriptValue): Promise<void> {
    this.check();
    checkName(key, 'kv key', this.limits);
    this.file.set(key, encodeValue(value, { kind: 'kv value', name: key }, this.limits), this.limits, this.label);
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    return this.file.delete(checkName(key, 'kv key', this.limits));
  }

  async keys(prefix?: string): Promise<string[]> {
    this.check();
    return this.file.keys(checkPrefix(prefix));
  }

  async send(channel: string, message: ScriptValue): Promise<void> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    this.file.send(channel, encodeValue(message, { kind: 'message', name: channel }, this.limits), this.limits, this.label);
  }

  async receive(channel: string, timeoutMs: number, opts?: ReceiveOptions): Promise<Received> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    checkTimeout(timeoutMs);
    const signal = checkSignal(opts);
    // A caller already gone takes nothing, not even a message that is waiting.
    if (signal?.aborted) return null;
    const file = this.file;
    if (file.waiters.has(channel)) {
      // Others wait already: queue behind them. A message another process sent since the
      // last poll goes to the oldest of them.
      if (timeoutMs === 0) return null;
      const received = file.wait(channel, timeoutMs, this, signal);
      file.pump(channel);
      return received;
    }
    const baseline = file.polling ? undefined : file.dataVersion();
    const got = file.take(channel);
    if (got !== null || timeoutMs === 0) return got;
    return file.wait(channel, timeoutMs, this, signal, baseline);
  }

  /**
   * Closes this store; pending receives resolve `null`. The file stays open while other
   * stores of this process use it. Disposing twice is harmless.
   */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.file.release(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated Use `dispose()` (or `await using`); kept for one release. */
  close(): Promise<void> {
    return this.dispose();
  }

  private check(): void {
    if (this.closed) throw closedError(this.label, 'its data is kept in the file; open it again with SqliteStore.open(path)');
  }
}
