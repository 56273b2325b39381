/**
 * createDistributedPool: the engine pool of many machines. Jobs go through BullMQ queues on
 * Redis to workers (src/distributed/worker.ts); each answer comes back exactly once: from
 * the queue's completion events, or from the job itself when an event was missed (a Redis
 * restart), and a job that nothing will ever answer ends in a typed error, never a wait
 * without end.
 */
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ExecResult, Language } from '../engine/types.js';
import { AbortError, DisposedError, EngineCrashedError, InvalidInputError, UnavailableError } from '../errors.js';
import type { ScriptValue } from '../values.js';
import { errorFromWire, execFromWire, JOB_FORMAT, packValue, parseAnswer, unpackValue, type JobAnswer, type JobData } from './jobs.js';
import { checkPrefix, checkRedisUrl, close, connect, Names, quiet, where } from './redis-link.js';

export interface DistributedPoolOptions {
  /** Redis URL of the deployment (the workers' `--redis`). */
  redis: string | URL;
  /** The workers' prefix. Default `scriptbox`. */
  prefix?: string;
  /**
   * How long a call may wait for its answer beyond its own time limit (queueing, a worker
   * taking over a dead worker's job) before it fails with UnavailableError. Default 60 000 ms.
   */
  answerSlackMs?: number;
  /** How long the first connection to Redis may take. Default 10 000 ms. */
  connectTimeoutMs?: number;
}

/** Options of one distributed call. */
export interface DistributedRunOptions {
  /** The call's time limit, enforced by the engine on the worker (at most the worker's limit). */
  timeoutMs?: number;
  /** Aborting cancels the job: a queued one never runs, a running one is interrupted on its worker. */
  signal?: AbortSignal;
  /** Capabilities the call needs: a subset of what the worker grants (more: PermissionDeniedError). Default: all it grants. */
  capabilities?: string[];
  /** Receives stdout / stderr while the job runs (streamed through Redis). */
  onOutput?: (chunk: { stream: 'stdout' | 'stderr'; text: string }) => void;
}

/** A session: one engine on one worker, its globals kept between calls. */
export interface DistributedSession extends AsyncDisposable {
  readonly id: string;
  /** The worker holding the engine. */
  readonly worker: string;
  exec(code: string, opts?: DistributedRunOptions): Promise<ExecResult>;
  call(fn: string, args?: ScriptValue[], opts?: DistributedRunOptions): Promise<ScriptValue>;
  /** Closes the engine on its worker. */
  dispose(): Promise<void>;
}

export interface DistributedPool extends AsyncDisposable {
  readonly language: Language;
  /** Runs code on some worker's pooled engine; script errors and timeouts are data, as `engine.exec`. */
  exec(code: string, opts?: DistributedRunOptions): Promise<ExecResult & { worker: string }>;
  /** Calls a function the workers loaded (their `scripts`); failures throw, as `engine.call`. */
  call(fn: string, args?: ScriptValue[], opts?: DistributedRunOptions): Promise<ScriptValue>;
  /** Opens a session pinned to one worker. If that worker is lost, the session's calls fail with EngineCrashedError. */
  session(opts?: { capabilities?: string[] }): Promise<DistributedSession>;
  /** Closes the pool's connections; calls waiting for answers reject with DisposedError. */
  dispose(): Promise<void>;
}

/** How often a waiting call looks at its job directly (an event missed across a reconnect) and at its session's worker. */
const LOOK_MS = 1000;
const LANGUAGES: readonly Language[] = ['python', 'lua'];

interface Pending {
  settle(answer: JobAnswer | Error): void;
}

/** One BullMQ queue and its completion events. */
class Lane {
  private readonly pending = new Map<string, Pending>();
  constructor(
    readonly queue: Queue,
    private readonly events: QueueEvents,
  ) {
    events.on('completed', ({ jobId, returnvalue }) => this.settle(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) =>
      this.pending
        .get(jobId)
        ?.settle(new UnavailableError(`the job failed on its worker: ${failedReason}; the worker or its connection broke`)),
    );
    // Reported through the calls that wait (they look at their jobs directly): no unhandled 'error'.
    events.on('error', () => undefined);
  }

  private settle(jobId: string, returnvalue: unknown): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    try {
      p.settle(parseAnswer(returnvalue));
    } catch (e) {
      p.settle(e as Error);
    }
  }

  /** Waits for job `id`'s answer; `look` runs every LOOK_MS and may settle it. */
  wait(id: string, deadlineMs: number, look: (settle: (a: JobAnswer | Error) => void) => Promise<void>): Promise<JobAnswer> {
    return new Promise<JobAnswer>((resolve, reject) => {
      let timer: ReturnType<typeof setInterval> | undefined;
      const settle = (a: JobAnswer | Error) => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        clearInterval(timer);
        if (a instanceof Error) reject(a);
        else resolve(a);
      };
      this.pending.set(id, { settle });
      const end = Date.now() + deadlineMs;
      timer = setInterval(() => {
        if (Date.now() > end) {
          settle(
            new UnavailableError(
              `no answer for job ${id} within ${deadlineMs} ms; its workers or Redis are unreachable, or all workers are busy`,
            ),
          );
          return;
        }
        void look(settle).catch(() => undefined); // Redis away: the next look (or the deadline) decides
      }, LOOK_MS);
    });
  }

  /** Ends every wait with `e`. */
  failAll(e: Error): void {
    for (const p of [...this.pending.values()]) p.settle(e);
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
  }
}

/**
 * A pool of engines on workers reached through BullMQ on Redis. Rejects with
 * InvalidInputError for bad options and UnavailableError when Redis cannot be reached.
 */
export async function createDistributedPool(language: Language, options: DistributedPoolOptions): Promise<DistributedPool> {
  if (!LANGUAGES.includes(language))
    throw new InvalidInputError(`createDistributedPool: language must be 'python' or 'lua', got ${String(language)}`);
  if (typeof options !== 'object' || options === null)
    throw new InvalidInputError('createDistributedPool(language, options): options must be an object like { redis }');
  const known = ['redis', 'prefix', 'answerSlackMs', 'connectTimeoutMs'];
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new InvalidInputError(`createDistributedPool has no option '${k}'; known options: ${known.join(', ')}`);
  }
  const url = checkRedisUrl(options.redis, 'createDistributedPool');
  const names = new Names(checkPrefix(options.prefix, 'createDistributedPool'));
  const slack = options.answerSlackMs ?? 60_000;
  const connectMs = options.connectTimeoutMs ?? 10_000;
  for (const [name, v] of [
    ['answerSlackMs', slack],
    ['connectTimeoutMs', connectMs],
  ] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new InvalidInputError(`createDistributedPool: ${name} must be a positive number of milliseconds`);
  }
  const { Queue, QueueEvents } = await import('bullmq');
  const redis = await connect(url, connectMs);
  const lanes = new Map<string, Promise<Lane>>();
  let disposed = false;

  const lane = (queueName: string): Promise<Lane> => {
    let l = lanes.get(queueName);
    if (!l) {
      l = (async () => {
        const events = new QueueEvents(queueName, { connection: quiet(redis.duplicate()), prefix: names.prefix });
        await events.waitUntilReady();
        return new Lane(new Queue(queueName, { connection: redis, prefix: names.prefix }), events);
      })();
      lanes.set(queueName, l);
    }
    return l;
  };
  await lane(language);

  const checkRun = (opts: DistributedRunOptions | undefined): DistributedRunOptions => {
    if (disposed) throw new DisposedError('the distributed pool is disposed; create a new one with createDistributedPool()');
    if (opts === undefined) return {};
    if (typeof opts !== 'object' || opts === null) throw new InvalidInputError('options must be an object like { timeoutMs, signal }');
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw new InvalidInputError('signal must be an AbortSignal');
    if (opts.onOutput !== undefined && typeof opts.onOutput !== 'function') throw new InvalidInputError('onOutput must be a function');
    if (opts.timeoutMs !== undefined && (typeof opts.timeoutMs !== 'number' || !(opts.timeoutMs > 0))) {
      throw new InvalidInputError('timeoutMs must be a positive number of milliseconds');
    }
    return opts;
  };

  /** Sends one job and waits for its one answer. `worker`: the session's worker, watched while waiting. */
  const send = async (queueName: string, data: Omit<JobData, 'v'>, opts: DistributedRunOptions, worker?: string): Promise<JobAnswer> => {
    const { signal, onOutput } = opts;
    if (signal?.aborted) throw new AbortError('the call was aborted before it was sent', signal.reason);
    if (worker !== undefined && !(await redis.exists(names.worker(worker)))) throw lost(worker);
    const l = await lane(queueName);
    const id = crypto.randomUUID();
    const job: JobData = { v: JOB_FORMAT, ...data, ...(onOutput ? { stream: true } : {}) };
    const deadline = (opts.timeoutMs ?? 30_000) + slack;
    const answered = l.wait(id, deadline, async (settle) => {
      if (worker !== undefined && !(await redis.exists(names.worker(worker)))) {
        settle(lost(worker));
        return;
      }
      const j = await l.queue.getJob(id);
      if (j === undefined)
        settle(new UnavailableError(`job ${id} is no longer in Redis (was Redis restarted without persistence?); send the call again`));
      else if (j.finishedOn && j.returnvalue !== undefined && j.returnvalue !== null) settle(parseAnswer(j.returnvalue));
      else if (j.failedReason && j.finishedOn) settle(new UnavailableError(`the job failed on its worker: ${j.failedReason}`));
    });
    const reading = onOutput ? readOutput(id, onOutput, answered) : undefined;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => {
        // The worker running it interrupts it; a worker taking it later answers without running it.
        void redis
          .multi()
          .set(names.cancelled(id), '1', 'EX', 3600)
          .publish(names.cancel, id)
          .exec()
          .catch(() => undefined); // Redis away: the job runs to its own time limit, its answer is ignored
        reject(new AbortError('the call was aborted', signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await l.queue.add(data.op, job, { jobId: id, attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 } });
      const answer = await Promise.race([answered, aborted]);
      await reading;
      return answer;
    } catch (e) {
      // No wait is left behind: the answer of an aborted or failed call is ignored.
      answered.catch(() => undefined);
      if (e instanceof AbortError || e instanceof UnavailableError || e instanceof EngineCrashedError || e instanceof DisposedError)
        throw e;
      throw new UnavailableError(`could not send the job to Redis at ${where(url)}: ${(e as Error).message}`, { cause: e });
    } finally {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
  };

  /** Reads a job's output stream until its end marker (or shortly after the answer came). */
  const readOutput = async (
    id: string,
    onOutput: NonNullable<DistributedRunOptions['onOutput']>,
    answered: Promise<unknown>,
  ): Promise<void> => {
    const reader: Redis = quiet(redis.duplicate());
    let done = false;
    let last = '0';
    let answeredAt = 0;
    answered.then(
      () => void (answeredAt = Date.now()),
      () => void (done = true),
    );
    try {
      while (!done) {
        const r = (await reader.xread('COUNT', 100, 'BLOCK', 200, 'STREAMS', names.output(id), last)) as
          [string, [string, string[]][]][] | null;
        for (const [, entries] of r ?? []) {
          for (const [entryId, fields] of entries) {
            last = entryId;
            const f = new Map<string, string>();
            for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
            if (f.get('end') === '1') done = true;
            else onOutput({ stream: f.get('s') === 'stderr' ? 'stderr' : 'stdout', text: f.get('t') ?? '' });
          }
        }
        // Answered, yet no end marker after a while: the worker could not write it.
        if (answeredAt && Date.now() - answeredAt > 2000) done = true;
      }
    } finally {
      await close(reader);
    }
  };

  const lost = (worker: string) =>
    new EngineCrashedError(
      `worker ${worker}, which holds this session, is gone (its heartbeat expired); the session's state is lost: open a new session`,
    );

  const unwrap = (a: JobAnswer): Extract<JobAnswer, { ok: true }> => {
    if (!a.ok) throw errorFromWire(a.error);
    return a;
  };

  const execVia = async (queueName: string, code: string, opts: DistributedRunOptions | undefined, session?: string, worker?: string) => {
    const o = checkRun(opts);
    if (typeof code !== 'string') throw new InvalidInputError('exec(code): code must be a string');
    const a = unwrap(await send(queueName, { op: 'exec', code, ...common(o), ...(session ? { session } : {}) }, o, worker));
    if (!a.exec) throw new UnavailableError('the worker answered an exec without its result');
    return { ...execFromWire(a.exec), worker: a.worker };
  };

  const callVia = async (
    queueName: string,
    fn: string,
    args: ScriptValue[] | undefined,
    opts: DistributedRunOptions | undefined,
    session?: string,
    worker?: string,
  ) => {
    const o = checkRun(opts);
    if (typeof fn !== 'string' || fn === '') throw new InvalidInputError('call(fn): fn must be a function name');
    if (args !== undefined && !Array.isArray(args)) throw new InvalidInputError('call(fn, args): args must be an array');
    const a = unwrap(
      await send(
        queueName,
        { op: 'call', fn, args: packValue(args ?? [], 'args'), ...common(o), ...(session ? { session } : {}) },
        o,
        worker,
      ),
    );
    return a.value === undefined ? null : unpackValue(a.value);
  };

  const pool: DistributedPool = {
    language,
    exec: (code, opts) => execVia(language, code, opts),
    call: (fn, args, opts) => callVia(language, fn, args, opts),
    async session(opts) {
      const o = checkRun(opts as DistributedRunOptions);
      const a = unwrap(await send(language, { op: 'open', ...common(o) }, o));
      if (!a.session) throw new UnavailableError('the worker answered a session open without a session id');
      const id = a.session;
      const worker = a.worker;
      const queueName = names.sessionQueue(worker);
      let closed = false;
      const live = () => {
        if (closed) throw new DisposedError(`session ${id} is closed; open a new one with pool.session()`);
      };
      const dispose = async () => {
        if (closed || disposed) return;
        closed = true;
        try {
          await send(queueName, { op: 'close', session: id }, {}, worker);
        } catch (e) {
          // A lost worker took the session with it: nothing is left to close.
          if (!(e instanceof EngineCrashedError)) throw e;
        }
      };
      return {
        id,
        worker,
        exec: async (code, runOpts) => {
          live();
          return execVia(queueName, code, runOpts, id, worker);
        },
        call: async (fn, args, runOpts) => {
          live();
          return callVia(queueName, fn, args, runOpts, id, worker);
        },
        dispose,
        [Symbol.asyncDispose]: dispose,
      };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      const all = await Promise.all([...lanes.values()].map((l) => l.catch(() => undefined))); // a lane that never opened has nothing to close
      for (const l of all) {
        if (!l) continue;
        l.failAll(new DisposedError('the distributed pool was disposed while the call waited for its answer'));
        await l.close();
      }
      await close(redis);
    },
    [Symbol.asyncDispose]: () => pool.dispose(),
  };
  return pool;
}

function common(o: DistributedRunOptions): Pick<JobData, 'timeoutMs' | 'capabilities'> {
  if (o.capabilities !== undefined && !Array.isArray(o.capabilities))
    throw new InvalidInputError('capabilities must be an array of capability patterns');
  return {
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.capabilities !== undefined ? { capabilities: o.capabilities } : {}),
  };
}
