/**
 * The Redis connections of the distributed pool and its workers (ioredis, the client
 * BullMQ uses), and the names of what they share in Redis. BullMQ's own keys live under
 * `<prefix>:<queue>:*`; ScriptBox's beside them under `<prefix>:sb:*`.
 */
import type { Redis } from 'ioredis';
import { InvalidInputError, UnavailableError } from '../errors.js';
import { loadRedis, quit } from '../state/redis.js';

export const DEFAULT_PREFIX = 'scriptbox';

/** Keys and pub/sub channels of one deployment (one prefix). */
export class Names {
  constructor(readonly prefix: string) {}
  /** Pub/sub: job ids to cancel; every worker listens. */
  get cancel(): string {
    return `${this.prefix}:sb:cancel`;
  }
  /** Set when a job is cancelled: a worker that takes it later answers AbortError without running it. */
  cancelled(jobId: string): string {
    return `${this.prefix}:sb:cancelled:${jobId}`;
  }
  /** A job's output, as a Redis stream, while it runs (for callers that ask). */
  output(jobId: string): string {
    return `${this.prefix}:sb:out:${jobId}`;
  }
  /** A worker's heartbeat: present while it lives. */
  worker(id: string): string {
    return `${this.prefix}:sb:worker:${id}`;
  }
  /** The queue of a worker's sessions: only that worker consumes it. */
  sessionQueue(workerId: string): string {
    return `worker-${workerId}`;
  }
}

/** Checks a prefix: letters, digits, `-` and `_` (BullMQ refuses `:` in names). */
export function checkPrefix(v: unknown, where: string): string {
  if (v === undefined) return DEFAULT_PREFIX;
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v)) {
    throw new InvalidInputError(`${where}: prefix must be 1-64 letters, digits, '-' or '_', like 'scriptbox'`);
  }
  return v;
}

/** Checks a Redis URL (`redis://` or `rediss://`). */
export function checkRedisUrl(v: unknown, where: string): string {
  const url = v instanceof URL ? v.href : v;
  if (typeof url !== 'string' || !/^rediss?:\/\/[^/]/.test(url)) {
    throw new InvalidInputError(`${where}: redis must be a Redis URL like redis://127.0.0.1:6379 (rediss:// for TLS)`);
  }
  return url;
}

/** Where a URL points, for messages (never its password). */
export function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the Redis URL';
  }
}

/**
 * A connection as BullMQ wants it (no per-request retry limit: its blocking commands wait
 * across reconnects), ready within `timeoutMs` or UnavailableError naming the server.
 */
export async function connect(url: string, timeoutMs: number): Promise<Redis> {
  const Redis = await loadRedis();
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, enableReadyCheck: true });
  let last = '';
  const onError = (e: Error) => void (last = e.message);
  // ioredis reports every failed reconnect as an 'error' event; with no listener Node would
  // print each one. The commands that fail meanwhile reject, and their callers report that.
  redis.on('error', onError);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UnavailableError(
                `could not reach Redis at ${where(url)} within ${timeoutMs} ms${last ? ` (${last})` : ''}; check that redis-server runs there`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (e) {
    redis.disconnect();
    throw e instanceof UnavailableError
      ? e
      : new UnavailableError(`could not reach Redis at ${where(url)}: ${(e as Error).message}; check that redis-server runs there`, {
          cause: e,
        });
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

/**
 * A connection whose failed reconnects are not printed: ioredis reports each as an 'error'
 * event, and with no listener Node prints every one. The commands that fail meanwhile
 * reject, and their callers report that.
 */
export function quiet(redis: Redis): Redis {
  redis.on('error', () => undefined);
  return redis;
}

/** Closes a connection: politely when it is up, at once otherwise. */
export const close = quit;
