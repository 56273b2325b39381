/**
 * A ScriptBox worker (`scriptbox worker`, `startWorker`): warm engine pools, one per
 * language, consuming BullMQ queues on Redis. What a job may do is decided here, by the
 * worker's options: a job may only narrow the capabilities (src/distributed/grants.ts).
 *
 * - The language's queue (`python`, `lua`) carries exec and call jobs and session opens.
 *   Each runs on a pooled engine; script errors, timeouts and memory stops are answers
 *   (the job completes), so BullMQ never retries them. Only an infrastructure failure
 *   retries: a worker that died or stalled loses its lock, and another worker takes the job.
 * - A worker's own queue (`worker-<id>`) carries the jobs of the sessions it holds.
 * - Cancellation: callers publish job ids; the worker running one aborts it (BullMQ's
 *   processor signal reaches the engine call, which interrupts the script).
 * - A heartbeat key says the worker lives; callers of its sessions watch it.
 */
import type { Job, Worker as BullWorker } from 'bullmq';
import type { Redis } from 'ioredis';
import { granted } from '../capabilities/registry.js';
import type { EngineOptions, Language, ScriptEngine } from '../engine/types.js';
import { AbortError, DisposedError, InvalidInputError, QueueFullError } from '../errors.js';
import { EnginePool } from '../pool/engine-pool.js';
import { RedisStore } from '../state/redis.js';
import { jobGrants } from './grants.js';
import { errorToWire, execToWire, packValue, parseJob, unpackValue, type JobAnswer, type JobData } from './jobs.js';
import { checkPrefix, checkRedisUrl, close, connect, Names, quiet } from './redis-link.js';

/** Engine options a worker's configuration may set (plain data: a config file holds them). */
export type WorkerEngineOptions = Pick<
  EngineOptions,
  'backend' | 'placement' | 'trusted' | 'capabilities' | 'limits' | 'allowedHosts' | 'mounts' | 'config' | 'snapshot'
>;

export interface WorkerOptions {
  /** Redis URL (`redis://host:port`); BullMQ's queues, cancellation and, by default, kv and channels live there. */
  redis: string | URL;
  /** Languages served, each with its own pool and queue. Default both. */
  languages?: Language[];
  /** Engines per language (jobs run at once per language). Default 1. */
  concurrency?: number;
  /** What every key of this deployment starts with; callers use the same. Default `scriptbox`. */
  prefix?: string;
  /** This worker's id (letters, digits, `-`, `_`). Default: host name and a random suffix. */
  id?: string;
  /** What the engines may do and their limits. Default: no capability, default limits, placement `worker`. */
  engine?: WorkerEngineOptions;
  /** Code loaded into every engine (functions `call` jobs may name), per language. */
  scripts?: Partial<Record<Language, string>>;
  /** Where kv and channels live: `redis` (default; shared by every worker, src/state/redis.ts) or `memory` (per engine). */
  state?: 'redis' | 'memory';
  /** Most sessions this worker holds at once; more are refused with QueueFullError. Default 16. */
  maxSessions?: number;
  /** A session unused this long is closed. Default 600 000 ms. */
  sessionIdleMs?: number;
  /** How long a job's lock lasts without renewal: a dead worker's job is retried after about this long. Default 10 000 ms. */
  lockMs?: number;
  /** How often this worker looks for stalled jobs (of dead workers). Default 5 000 ms. */
  stalledCheckMs?: number;
  /** How often the heartbeat is renewed; it expires after 5 of these. Default 1 000 ms. */
  heartbeatMs?: number;
  /** How long the first connection to Redis may take. Default 10 000 ms. */
  connectTimeoutMs?: number;
}

/** A running worker. */
export interface DistributedWorker extends AsyncDisposable {
  readonly id: string;
  /** Jobs answered so far, and sessions held now. */
  stats(): { jobs: number; sessions: number };
  /** Stops taking jobs, lets running ones finish, closes sessions, pools and connections. */
  dispose(): Promise<void>;
}

const LANGUAGES: readonly Language[] = ['python', 'lua'];
const KNOWN = [
  'redis',
  'languages',
  'concurrency',
  'prefix',
  'id',
  'engine',
  'scripts',
  'state',
  'maxSessions',
  'sessionIdleMs',
  'lockMs',
  'stalledCheckMs',
  'heartbeatMs',
  'connectTimeoutMs',
] as const;
const ENGINE_KEYS = ['backend', 'placement', 'trusted', 'capabilities', 'limits', 'allowedHosts', 'mounts', 'config', 'snapshot'];

function positive(v: unknown, name: string, fallback: number, max = 2 ** 31 - 1): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new InvalidInputError(`startWorker: ${name} must be an integer from 1 to ${max}, got ${String(v)}`);
  }
  return v;
}

interface Resolved {
  url: string;
  languages: Language[];
  concurrency: number;
  names: Names;
  id: string;
  engine: WorkerEngineOptions;
  scripts: Partial<Record<Language, string>>;
  state: 'redis' | 'memory';
  maxSessions: number;
  sessionIdleMs: number;
  lockMs: number;
  stalledCheckMs: number;
  heartbeatMs: number;
  connectTimeoutMs: number;
}

/** Checks the options at the public entry, with messages naming the fix. */
export function checkWorkerOptions(options: unknown, hostname = 'worker'): Resolved {
  if (typeof options !== 'object' || options === null)
    throw new InvalidInputError('startWorker(options): options must be an object like { redis }');
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KNOWN as readonly string[]).includes(k))
      throw new InvalidInputError(`startWorker has no option '${k}'; known options: ${KNOWN.join(', ')}`);
  }
  const url = checkRedisUrl(o.redis, 'startWorker');
  const languages = (o.languages ?? LANGUAGES) as unknown;
  if (!Array.isArray(languages) || languages.length === 0 || languages.some((l) => !LANGUAGES.includes(l as Language))) {
    throw new InvalidInputError(`startWorker: languages must be a non-empty list of ${LANGUAGES.join(', ')}`);
  }
  const id = o.id ?? `${hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${crypto.randomUUID().slice(0, 8)}`;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id))
    throw new InvalidInputError("startWorker: id must be 1-64 letters, digits, '-' or '_'");
  const engine = (o.engine ?? {}) as unknown;
  if (typeof engine !== 'object' || engine === null || Array.isArray(engine))
    throw new InvalidInputError('startWorker: engine must be an object of engine options');
  for (const k of Object.keys(engine)) {
    if (!ENGINE_KEYS.includes(k)) {
      throw new InvalidInputError(
        `startWorker: engine option '${k}' cannot come from a worker's configuration; allowed: ${ENGINE_KEYS.join(', ')}`,
      );
    }
  }
  const scripts = (o.scripts ?? {}) as unknown;
  if (typeof scripts !== 'object' || scripts === null)
    throw new InvalidInputError('startWorker: scripts must be { python?: code, lua?: code }');
  for (const [k, v] of Object.entries(scripts)) {
    if (!LANGUAGES.includes(k as Language) || typeof v !== 'string') {
      throw new InvalidInputError(`startWorker: scripts.${k} must be code (a string) for python or lua`);
    }
  }
  const state = o.state ?? 'redis';
  if (state !== 'redis' && state !== 'memory') throw new InvalidInputError("startWorker: state must be 'redis' or 'memory'");
  return {
    url,
    languages: [...new Set(languages as Language[])],
    concurrency: positive(o.concurrency, 'concurrency', 1, 256),
    names: new Names(checkPrefix(o.prefix, 'startWorker')),
    id,
    engine: engine as WorkerEngineOptions,
    scripts: scripts as Partial<Record<Language, string>>,
    state,
    maxSessions: positive(o.maxSessions, 'maxSessions', 16, 4096),
    sessionIdleMs: positive(o.sessionIdleMs, 'sessionIdleMs', 600_000),
    lockMs: positive(o.lockMs, 'lockMs', 10_000),
    stalledCheckMs: positive(o.stalledCheckMs, 'stalledCheckMs', 5_000),
    heartbeatMs: positive(o.heartbeatMs, 'heartbeatMs', 1_000),
    connectTimeoutMs: positive(o.connectTimeoutMs, 'connectTimeoutMs', 10_000),
  };
}

interface Session {
  engine: ScriptEngine;
  grants: string[];
  lastUsed: number;
}

/** Where an engine's output goes while a job that asked for it runs. */
type OutputSink = (chunk: { stream: 'stdout' | 'stderr'; text: string }) => void;

/**
 * Starts a worker: connects to Redis, boots the pools (the first engine of each proves
 * the engine options), then takes jobs. Rejects with InvalidInputError for bad options and
 * UnavailableError when Redis cannot be reached.
 */
export async function startWorkerWith(
  options: WorkerOptions,
  createEngine: (language: Language, options: EngineOptions) => Promise<ScriptEngine>,
): Promise<DistributedWorker> {
  const { hostname } = await import('node:os');
  const o = checkWorkerOptions(options, hostname());
  const { Worker } = await import('bullmq');
  const redis = await connect(o.url, o.connectTimeoutMs);
  const sub = quiet(redis.duplicate());
  const cleanup: (() => Promise<void>)[] = [() => close(sub), () => close(redis)];
  const undo = async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined); // best effort: the start already failed
  };
  try {
    const grantsOfWorker = o.engine.capabilities ?? [];
    /** The grants of the job each engine runs now (by engine id), and where its output goes. */
    const current = new Map<string, string[]>();
    const sinks = new Map<string, OutputSink>();
    const store =
      o.state === 'redis' && grantsOfWorker.length > 0 ? await RedisStore.open(o.url, { prefix: `${o.names.prefix}-state` }) : undefined;
    if (store) cleanup.push(() => store.dispose());
    /** Engine options of this worker: its grants, narrowed per job by `authorize`. */
    const engineOptions = (onOutput: OutputSink): EngineOptions => ({
      ...o.engine,
      ...(store ? { state: store } : {}),
      authorize: (call) => {
        const g = current.get(call.engineId);
        return g === undefined || granted(g, call.capability);
      },
      onOutput,
    });
    /** Makes an engine whose output reaches the sink of the job it runs. */
    const make = async (language: Language, opts: EngineOptions): Promise<ScriptEngine> => {
      let id = '';
      const engine = await createEngine(language, { ...opts, ...engineOptions((c) => sinks.get(id)?.(c)) });
      id = engine.id;
      return engine;
    };
    const pools = new Map<Language, EnginePool>();
    for (const language of o.languages) {
      const init = o.scripts[language];
      const pool = await EnginePool.start(
        language,
        { min: o.concurrency, max: o.concurrency, ...(init !== undefined ? { init } : {}) },
        (l, opts) => make(l, opts),
      );
      pools.set(language, pool);
      cleanup.push(() => pool.dispose());
    }

    const sessions = new Map<string, Session & { language: Language }>();
    let jobs = 0;

    /** Runs one engine request for a job, its output streamed when the job asked. */
    const runOn = async (
      engine: ScriptEngine,
      job: Job,
      data: JobData,
      grants: string[],
      signal: AbortSignal | undefined,
    ): Promise<JobAnswer> => {
      current.set(engine.id, grants);
      const outKey = o.names.output(String(job.id));
      if (data.stream) {
        sinks.set(
          engine.id,
          (c) => void redis.xadd(outKey, 'MAXLEN', '~', '10000', '*', 's', c.stream, 't', c.text).catch(() => undefined),
        ); // lost output is cut output, never a failed job
      }
      try {
        const opts = { ...(data.timeoutMs !== undefined ? { timeoutMs: data.timeoutMs } : {}), ...(signal ? { signal } : {}) };
        if (data.op === 'exec') return { ok: true, worker: o.id, exec: execToWire(await engine.exec(data.code!, opts)) };
        const args = data.args === undefined ? [] : unpackValue(data.args);
        if (!Array.isArray(args)) throw new InvalidInputError('call args must be a list');
        return { ok: true, worker: o.id, value: packValue(await engine.call(data.fn!, args, opts), 'result') };
      } finally {
        current.delete(engine.id);
        sinks.delete(engine.id);
        if (data.stream) {
          await redis
            .multi()
            .xadd(outKey, '*', 'end', '1')
            .expire(outKey, 600)
            .exec()
            .catch(() => undefined); // the caller stops reading when the answer arrives anyway
        }
      }
    };

    const answerError = (e: unknown): JobAnswer => ({ ok: false, worker: o.id, error: errorToWire(e) });

    /** Jobs of a language's queue: exec, call, session open. */
    const general =
      (language: Language) =>
      async (job: Job, _token?: string, signal?: AbortSignal): Promise<JobAnswer> => {
        jobs++;
        try {
          const data = parseJob(job.data, o.engine.limits?.maxCodeBytes ?? 1024 * 1024);
          if (await redis.exists(o.names.cancelled(String(job.id))))
            throw new AbortError('the call was aborted before a worker took it', undefined);
          const grants = jobGrants(grantsOfWorker, data.capabilities, o.id);
          if (data.op === 'open') return await openSession(language, grants);
          if (data.op === 'close' || data.session !== undefined)
            throw new InvalidInputError(`a ${data.op} job for a session goes to the queue of the worker that holds it`);
          const pool = pools.get(language)!;
          return await pool.run((engine) => runOn(engine, job, data, grants, signal), signal ? { signal } : {});
        } catch (e) {
          return answerError(e);
        }
      };

    const openSession = async (language: Language, grants: string[]): Promise<JobAnswer> => {
      if (sessions.size >= o.maxSessions) {
        throw new QueueFullError(
          `worker ${o.id} holds ${sessions.size} sessions, its maxSessions (${o.maxSessions}); close some, or start more workers`,
        );
      }
      const init = o.scripts[language];
      const engine = await make(language, {});
      if (init !== undefined) await engine.loadInit(init, 'init');
      const id = crypto.randomUUID();
      sessions.set(id, { engine, grants, lastUsed: Date.now(), language });
      return { ok: true, worker: o.id, session: id };
    };

    /** Jobs of this worker's own queue: the sessions it holds. */
    const sessionJobs = async (job: Job, _token?: string, signal?: AbortSignal): Promise<JobAnswer> => {
      jobs++;
      try {
        const data = parseJob(job.data, o.engine.limits?.maxCodeBytes ?? 1024 * 1024);
        const s = data.session === undefined ? undefined : sessions.get(data.session);
        if (!s)
          throw new DisposedError(
            `session ${data.session ?? '(none)'} is not held by worker ${o.id} (closed, or idle too long); open a new session`,
          );
        if (data.op === 'close') {
          sessions.delete(data.session!);
          await s.engine.dispose();
          return { ok: true, worker: o.id };
        }
        if (data.op === 'open') throw new InvalidInputError('a session is opened through its language queue');
        const grants = jobGrants(s.grants, data.capabilities, o.id);
        s.lastUsed = Date.now();
        try {
          return await runOn(s.engine, job, data, grants, signal);
        } finally {
          s.lastUsed = Date.now();
        }
      } catch (e) {
        return answerError(e);
      }
    };

    const bullOptions = {
      connection: redis,
      prefix: o.names.prefix,
      lockDuration: o.lockMs,
      stalledInterval: o.stalledCheckMs,
      // A stalled job (its worker died) is taken again once; a second stall fails it.
      maxStalledCount: 1,
      name: o.id,
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600 },
    };
    const workers: BullWorker[] = [];
    for (const language of o.languages) {
      workers.push(new Worker(language, general(language), { ...bullOptions, concurrency: o.concurrency }));
    }
    workers.push(new Worker(o.names.sessionQueue(o.id), sessionJobs, { ...bullOptions, concurrency: Math.max(4, o.concurrency) }));
    for (const w of workers) {
      // A worker reports Redis outages as 'error' events and carries on; the jobs say the rest.
      w.on('error', () => undefined);
      cleanup.push(() => w.close());
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));

    // Cancellation: the worker running the job aborts it; the others do not have it.
    await sub.subscribe(o.names.cancel);
    sub.on('message', (_channel: string, jobId: string) => {
      for (const w of workers) w.cancelJob(jobId, 'cancelled by its caller');
    });

    const beat = () =>
      redis.set(o.names.worker(o.id), JSON.stringify({ pid: process.pid, languages: o.languages }), 'PX', o.heartbeatMs * 5);
    await beat();
    const heartbeat = setInterval(() => {
      void beat().catch(() => undefined); // Redis away: callers of this worker's sessions see the heartbeat expire, which is right
      const now = Date.now();
      for (const [id, s] of sessions) {
        if (now - s.lastUsed > o.sessionIdleMs) {
          sessions.delete(id);
          void s.engine.dispose().catch(() => undefined); // an idle engine's dispose has no caller to tell
        }
      }
    }, o.heartbeatMs);
    heartbeat.unref();
    cleanup.push(async () => {
      clearInterval(heartbeat);
      await redis.del(o.names.worker(o.id)).catch(() => undefined); // callers see the key expire instead
      for (const s of sessions.values()) await s.engine.dispose();
      sessions.clear();
    });

    let disposed: Promise<void> | undefined;
    const dispose = () => (disposed ??= undo());
    return {
      id: o.id,
      stats: () => ({ jobs, sessions: sessions.size }),
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await undo();
    throw e;
  }
}

/** The ioredis connection type, for callers that pass one. */
export type { Redis };
