/**
 * RedisStore: a StateStore in Redis (Node, ioredis), shared by every store opened with the
 * same prefix on one Redis, on any machine. kv is one hash, each channel a list; quotas are
 * totals in a third hash, kept by Lua scripts (src/state/redis/*.lua) that check and write
 * in one atomic step. A send publishes the channel's name, so a receive waiting on any
 * machine is woken within a round trip.
 *
 * ioredis is loaded on `RedisStore.open` only, by a specifier bundlers leave alone, so a
 * browser bundle of scriptbox never pulls it in.
 */
import type { Redis, RedisOptions } from 'ioredis';
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
  quote,
  resolveLimits,
  utf8Length,
  type ResolvedLimits,
} from './checks.js';
import { CHANNEL_PUT_BACK_LUA } from './redis/channel-put-back.lua.generated.js';
import { CHANNEL_SEND_LUA } from './redis/channel-send.lua.generated.js';
import { CHANNEL_TAKE_LUA } from './redis/channel-take.lua.generated.js';
import { KV_DELETE_LUA } from './redis/kv-delete.lua.generated.js';
import { KV_SET_LUA } from './redis/kv-set.lua.generated.js';
import type { ReceiveOptions, StateStore, StoreLimits } from './store.js';
import { WaitingReceivers, type Received, type Waiter } from './waiters.js';

/** Options of {@link RedisStore.open}. */
export interface RedisStoreOptions {
  /**
   * What the store's Redis keys start with: stores opened with the same prefix on one Redis
   * are one store. Default `'scriptbox'`. Keys are `{prefix}:kv`, `{prefix}:totals` and
   * `{prefix}:c:<channel>` (the braces keep them in one Redis Cluster slot).
   */
  prefix?: string;
  /** Size limits and quotas, as for every store; the totals are shared, each store checks its own limits. */
  limits?: StoreLimits;
  /** How long `open` waits for Redis to answer before it rejects with UnavailableError. Default 5000 ms. */
  connectTimeoutMs?: number;
}

/** The store's scripts, as ioredis defines them on a connection. */
interface Scripts {
  sbSet(kv: string, totals: string, key: string, value: Buffer, keyBytes: number, maxKeys: number, maxKvBytes: number): Promise<number[]>;
  sbDelete(kv: string, totals: string, key: string, keyBytes: number): Promise<number>;
  sbSend(
    list: string,
    totals: string,
    body: Buffer,
    maxCount: number,
    maxBytes: number,
    notify: string,
    channel: string,
  ): Promise<number[]>;
  sbTakeBuffer(list: string, totals: string): Promise<Buffer | null>;
  sbPutBack(list: string, totals: string, body: Buffer, notify: string, channel: string): Promise<number>;
}

type Connection = Redis & Scripts;
export type RedisClass = new (url: string, options: RedisOptions) => Redis;

const DEFAULT_PREFIX = 'scriptbox';
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

let driver: Promise<RedisClass> | undefined;

/** ioredis's Redis class, loaded once (Node only); UnavailableError naming the fix when it is missing. Also used by src/distributed/. */
export function loadRedis(): Promise<RedisClass> {
  driver ??= (async () => {
    const specifier = 'ioredis';
    try {
      const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as { Redis?: RedisClass; default?: RedisClass };
      return mod.Redis ?? mod.default!;
    } catch (e) {
      driver = undefined;
      throw new UnavailableError(
        `ScriptBox needs the ioredis package for Redis, and it could not be loaded (${(e as Error).message}); install it (npm install ioredis) in Node, or use SqliteStore`,
        { cause: e },
      );
    }
  })();
  return driver;
}

function defineScripts(redis: Redis): Connection {
  const define = (name: string, numberOfKeys: number, lua: string) => {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
  };
  define('sbSet', 2, KV_SET_LUA);
  define('sbDelete', 2, KV_DELETE_LUA);
  define('sbSend', 2, CHANNEL_SEND_LUA);
  define('sbTake', 2, CHANNEL_TAKE_LUA);
  define('sbPutBack', 2, CHANNEL_PUT_BACK_LUA);
  return redis as Connection;
}

/** Resolves once `redis` is ready, or rejects after `ms` (or at its first error, for a URL that cannot work). */
async function ready(redis: Redis, ms: number, where: string): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') void redis.connect().catch(() => undefined); // the 'error' event below reports it
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastError = '';
  const onError = (e: Error) => void (lastError = e.message);
  redis.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UnavailableError(
              `RedisStore could not reach Redis at ${where} within ${ms} ms${lastError ? ` (${lastError})` : ''}; check that redis-server runs there and the URL is right, or raise connectTimeoutMs`,
            ),
          ),
        ms,
      );
      redis.once('ready', resolve);
    });
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
  }
}

/** Where a connection goes, for messages (never its password). */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return quote(url);
  }
}

/**
 * A {@link StateStore} in Redis (Node only; uses the ioredis package).
 *
 * - **Shared across machines**: every store opened with the same `prefix` on one Redis is
 *   one store; a send wakes a receive waiting on any machine within a round trip (pub/sub).
 * - **Exactly once**: a message leaves its list in one atomic step, and only for a receive
 *   still waiting; a message taken for a receive that went away meanwhile goes back to the
 *   head of its channel.
 * - **Quotas**: kept as totals in Redis by the same atomic steps, so stores on several
 *   machines cannot go over together.
 *
 * Redis must not evict keys (`maxmemory-policy noeviction`, as BullMQ requires too).
 *
 * @example
 * ```ts
 * const state = await RedisStore.open('redis://127.0.0.1:6379', { prefix: 'app1' });
 * await using engine = await createEngine('python', { state, capabilities: ['kv.*', 'channel.*'] });
 * ```
 */
export class RedisStore implements StateStore {
  private closed = false;
  private readonly waiters = new WaitingReceivers();
  /** Channels a pump is running for, and those told of a send while it ran. */
  private readonly pumping = new Set<string>();
  private readonly again = new Set<string>();
  /** `{prefix}:`: what every key of the store starts with. */
  private readonly base: string;
  private readonly kv: string;
  private readonly totals: string;
  private readonly notify: string;

  private constructor(
    token: FactoryToken,
    private readonly redis: Connection,
    private readonly sub: Redis,
    /** Whether `redis` was made here (and is closed with the store) or passed in by the caller. */
    private readonly ownsRedis: boolean,
    prefix: string,
    private readonly limits: ResolvedLimits,
    private readonly label: string,
  ) {
    // JavaScript can call a private constructor: refuse at once, not at the first method.
    requireFactory(token, 'RedisStore', 'await RedisStore.open(url)');
    this.base = `{${prefix}}:`;
    this.kv = `${this.base}kv`;
    this.totals = `${this.base}totals`;
    this.notify = `${this.base}sent`;
    sub.on('message', (_from: string, channel: string) => {
      if (this.waiters.has(channel)) this.pump(channel);
    });
    // After a reconnect, sends made while the link was down were never heard: look again.
    sub.on('ready', () => {
      for (const channel of this.waiters.channels()) this.pump(channel);
    });
  }

  /**
   * Opens a store on Redis: a URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS)
   * or an ioredis connection the caller owns (the store makes its own subscriber from it and
   * leaves the connection open on dispose). Rejects with UnavailableError when ioredis is
   * missing or Redis does not answer within `connectTimeoutMs`.
   */
  static async open(redis: string | URL | Redis, options: RedisStoreOptions = {}): Promise<RedisStore> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidInputError('RedisStore.open(redis, options): options must be an object like { prefix, limits }');
    }
    const known = ['prefix', 'limits', 'connectTimeoutMs'];
    for (const k of Object.keys(options)) {
      if (!known.includes(k)) throw new InvalidInputError(`RedisStore.open has no option '${k}'; known options: ${known.join(', ')}`);
    }
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== 'string' || prefix === '' || /[{}]/.test(prefix)) {
      throw new InvalidInputError(`RedisStore prefix must be a non-empty string without braces, like 'app1', got ${String(prefix)}`);
    }
    const wait = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (typeof wait !== 'number' || !Number.isFinite(wait) || wait <= 0) {
      throw new InvalidInputError(`RedisStore connectTimeoutMs must be a positive number of milliseconds, got ${String(wait)}`);
    }
    const limits = resolveLimits(options.limits, 'RedisStore');
    let conn: Redis;
    let where: string;
    let owns: boolean;
    if (typeof redis === 'string' || redis instanceof URL) {
      const url = String(redis);
      if (!/^rediss?:\/\//.test(url)) {
        throw new InvalidInputError(`RedisStore.open(url): ${quote(url)} is not a Redis URL; use redis://host:port (rediss:// for TLS)`);
      }
      const Redis = await loadRedis();
      where = describe(url);
      conn = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
      owns = true;
    } else if (redis && typeof redis === 'object' && typeof (redis as Redis).duplicate === 'function') {
      conn = redis;
      where = `${conn.options.host ?? 'localhost'}:${conn.options.port ?? 6379}`;
      owns = false;
    } else {
      throw new InvalidInputError('RedisStore.open(redis): redis must be a Redis URL (redis://host:port) or an ioredis connection');
    }
    const sub = conn.duplicate({ lazyConnect: true });
    // ioredis reports each failed reconnect as an 'error' event, which Node prints when no one
    // listens; the commands that fail meanwhile reject with UnavailableError instead.
    sub.on('error', () => undefined);
    if (owns) conn.on('error', () => undefined);
    try {
      await ready(conn, wait, where);
      await ready(sub, wait, where);
    } catch (e) {
      sub.disconnect();
      if (owns) conn.disconnect();
      throw e;
    }
    const store = new RedisStore(FACTORY, defineScripts(conn), sub, owns, prefix, limits, `RedisStore '${prefix}'`);
    await store.guard(sub.subscribe(store.notify));
    return store;
  }

  async get(key: string): Promise<ScriptValue | undefined> {
    this.check();
    checkName(key, 'kv key', this.limits);
    const bytes = await this.guard(this.redis.hgetBuffer(this.kv, key));
    return bytes === null ? undefined : (decode(new Uint8Array(bytes)) as ScriptValue);
  }

  async set(key: string, value: ScriptValue): Promise<void> {
    this.check();
    checkName(key, 'kv key', this.limits);
    const bytes = encodeValue(value, { kind: 'kv value', name: key }, this.limits);
    const keyBytes = utf8Length(key);
    const r = await this.guard(
      this.redis.sbSet(this.kv, this.totals, key, Buffer.from(bytes), keyBytes, this.limits.maxKeys, this.limits.maxKvBytes),
    );
    if (r[0] === 1) return;
    // Refused inside Redis: the same check, here, gives the same words as every other store.
    const [, count, total, old] = r as [number, number, number, number];
    checkKvQuota(this.limits, this.label, key, { count, bytes: total }, old < 0 ? undefined : old, keyBytes + bytes.byteLength);
    throw new UnavailableError(`${this.label}: Redis refused storing ${quote(key)} for a reason this store does not know`);
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    checkName(key, 'kv key', this.limits);
    return (await this.guard(this.redis.sbDelete(this.kv, this.totals, key, utf8Length(key)))) === 1;
  }

  async keys(prefix?: string): Promise<string[]> {
    this.check();
    const p = checkPrefix(prefix);
    const all = await this.guard(this.redis.hkeys(this.kv));
    return all.filter((k) => k.startsWith(p)).sort();
  }

  async send(channel: string, message: ScriptValue): Promise<void> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    const bytes = encodeValue(message, { kind: 'message', name: channel }, this.limits);
    const r = await this.guard(
      this.redis.sbSend(
        this.list(channel),
        this.totals,
        Buffer.from(bytes),
        this.limits.maxQueuedMessages,
        this.limits.maxQueuedBytes,
        this.notify,
        channel,
      ),
    );
    if (r[0] !== 1) {
      const [, count, total] = r as [number, number, number];
      checkQueueQuota(this.limits, this.label, channel, { count, bytes: total }, bytes.byteLength);
      throw new UnavailableError(
        `${this.label}: Redis refused a message for channel ${quote(channel)} for a reason this store does not know`,
      );
    }
    // A receiver of this store hears it at once; others through the publish.
    if (this.waiters.has(channel)) this.pump(channel);
  }

  async receive(channel: string, timeoutMs: number, opts?: ReceiveOptions): Promise<Received> {
    this.check();
    checkName(channel, 'channel name', this.limits);
    checkTimeout(timeoutMs);
    const signal = checkSignal(opts);
    // A caller already gone takes nothing, not even a message that is waiting.
    if (signal?.aborted) return null;
    if (this.waiters.has(channel)) {
      // Others wait already: queue behind them, oldest first.
      if (timeoutMs === 0) return null;
      const received = this.waiters.wait(channel, timeoutMs, this, signal);
      this.pump(channel);
      return received;
    }
    const body = await this.guard(this.redis.sbTakeBuffer(this.list(channel), this.totals));
    if (body !== null) {
      if (!signal?.aborted && !this.closed) return { message: decode(new Uint8Array(body)) as ScriptValue };
      // Its caller went away (or the store closed) during the round trip: the message stays queued.
      await this.guard(this.redis.sbPutBack(this.list(channel), this.totals, body, this.notify, channel));
      return null;
    }
    if (timeoutMs === 0 || this.closed) return null;
    const received = this.waiters.wait(channel, timeoutMs, this, signal);
    // A send that came between the take and the wait published to nobody waiting: look once more.
    this.pump(channel);
    return received;
  }

  /**
   * Closes this store's connections (a connection passed to `open` stays open); pending
   * receives resolve `null`. The data stays in Redis. Disposing twice is harmless.
   */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.cancel(this);
    // Pumps in flight finish their round trip (a taken message goes back) before the link closes.
    while (this.pumping.size > 0) await new Promise((r) => setTimeout(r, 1));
    await quit(this.sub);
    if (this.ownsRedis) await quit(this.redis);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated Use `dispose()` (or `await using`); kept for one release. */
  close(): Promise<void> {
    return this.dispose();
  }

  private list(channel: string): string {
    return `${this.base}c:${channel}`;
  }

  /**
   * Hands messages to waiting receivers of `channel`, oldest first, while both last. One pump
   * per channel at a time; a wake-up during it makes it look again.
   */
  private pump(channel: string): void {
    if (this.pumping.has(channel)) {
      this.again.add(channel);
      return;
    }
    this.pumping.add(channel);
    const run = async () => {
      do {
        this.again.delete(channel);
        for (let w: Waiter | undefined; (w = this.waiters.next(channel));) {
          w.claimed = true;
          let body: Buffer | null;
          try {
            body = await this.guard(this.redis.sbTakeBuffer(this.list(channel), this.totals));
          } catch (e) {
            this.waiters.fail(w, e);
            continue;
          }
          if (body === null) {
            this.waiters.unclaim(w);
            break;
          }
          if (this.waiters.live(w)) {
            this.waiters.deliver(w, decode(new Uint8Array(body)) as ScriptValue);
            continue;
          }
          // Its caller went away while the message was on its way: back to the head of the channel.
          try {
            await this.guard(this.redis.sbPutBack(this.list(channel), this.totals, body, this.notify, channel));
          } finally {
            this.waiters.unclaim(w);
          }
        }
      } while (this.again.has(channel) && !this.closed);
    };
    run()
      .catch((e: unknown) => {
        // Only a put-back can fail here (a take's failure went to its waiter): the message
        // could not be returned, and the receiver it was for is gone. Say so loudly.
        process.emitWarning(`${this.label}: a message of channel ${quote(channel)} could not be put back: ${(e as Error).message}`);
      })
      .finally(() => this.pumping.delete(channel));
  }

  /** A Redis command's result, its failure as UnavailableError naming the store and the fix. */
  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof UnavailableError) throw e;
      throw new UnavailableError(
        `${this.label}: Redis did not answer (${(e as Error).message}); check that redis-server runs and is reachable`,
        {
          cause: e,
        },
      );
    }
  }

  private check(): void {
    if (this.closed) throw closedError(this.label, 'its data stays in Redis; open it again with RedisStore.open(url)');
  }
}

/** Closes a connection politely, or at once if it is not connected. Also used by src/distributed/. */
export async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    // The server went away first: the connection is closed either way.
    redis.disconnect();
  }
}
