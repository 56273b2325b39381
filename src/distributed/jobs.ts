/**
 * What crosses the queue between a distributed pool (src/distributed/pool.ts) and its
 * workers (src/distributed/worker.ts): job data, answers and errors. BullMQ stores both as
 * JSON, so script values travel as MessagePack (DESIGN §4) in base64; errors travel as
 * their code and words and are rebuilt as the same classes on the caller's side.
 *
 * A worker reads job data as untrusted input: anyone who can write to the Redis could have
 * put it there. {@link parseJob} checks every field.
 */
import type { ExecResult, RichOutput } from '../engine/types.js';
import {
  AbortError,
  DisposedError,
  EngineCrashedError,
  InterruptedError,
  InvalidInputError,
  MemoryLimitError,
  PermissionDeniedError,
  QueueFullError,
  ScriptBoxError,
  ScriptError,
  TimeoutError,
  UnavailableError,
  type ErrorCode,
} from '../errors.js';
import { checkGrantPattern } from '../capabilities/registry.js';
import { checkValue, decode, encode, type ScriptValue } from '../values.js';

/** Version of the job format: a worker refuses jobs of another one, naming both. */
export const JOB_FORMAT = 1;

/** What a job asks a worker to do. */
export type JobOp = 'exec' | 'call' | 'open' | 'close';

export interface JobData {
  v: typeof JOB_FORMAT;
  op: JobOp;
  /** exec: the code. */
  code?: string;
  /** call: the function's name (dotted names look into tables / modules). */
  fn?: string;
  /** call: the arguments, MessagePack in base64. */
  args?: string;
  /** Per-call time limit; at most the worker's `limits.timeoutMs`. */
  timeoutMs?: number;
  /** The capabilities the job asks for: a subset of what the worker grants (default: all of it). */
  capabilities?: string[];
  /** exec / call / close in a session this worker holds. */
  session?: string;
  /** Stream stdout / stderr to a Redis stream while the job runs. */
  stream?: boolean;
}

/** A worker's answer (the job's return value). */
export type JobAnswer =
  { ok: true; worker: string; exec?: WireExecResult; value?: string; session?: string } | { ok: false; worker: string; error: WireError };

/** An ExecResult with its value in MessagePack (base64) and binary outputs in base64. */
export interface WireExecResult extends Omit<ExecResult, 'value' | 'outputs'> {
  value?: string;
  outputs?: { mime: string; data: string; binary: boolean }[];
}

export interface WireError {
  code: ErrorCode;
  message: string;
  /** ScriptError: the script's error type, traceback and line. */
  type?: string;
  traceback?: string;
  line?: number;
  escalation?: 'interrupted' | 'restarted';
}

/** A script value for the queue: checked (DESIGN §4), MessagePack, base64. */
export function packValue(v: unknown, root: string, maxDepth = 64): string {
  return Buffer.from(encode(checkValue(v, { maxDepth, root }))).toString('base64');
}

export function unpackValue(b64: string): ScriptValue {
  return decode(new Uint8Array(Buffer.from(b64, 'base64'))) as ScriptValue;
}

export function execToWire(r: ExecResult): WireExecResult {
  const { value, outputs, ...rest } = r as ExecResult & { outputs?: RichOutput[] };
  const wire: WireExecResult = { ...rest };
  if (value !== undefined) wire.value = packValue(value, 'value');
  if (outputs && outputs.length > 0) {
    wire.outputs = outputs.map((o) =>
      typeof o.data === 'string'
        ? { mime: o.mime, data: o.data, binary: false }
        : { mime: o.mime, data: Buffer.from(o.data).toString('base64'), binary: true },
    );
  }
  return wire;
}

export function execFromWire(w: WireExecResult): ExecResult {
  const { value, outputs, ...rest } = w;
  const r = { ...rest, outputs: [] } as ExecResult & { outputs: RichOutput[] };
  if (value !== undefined) r.value = unpackValue(value);
  if (outputs) r.outputs = outputs.map((o) => ({ mime: o.mime, data: o.binary ? new Uint8Array(Buffer.from(o.data, 'base64')) : o.data }));
  return r;
}

export function errorToWire(e: unknown): WireError {
  if (e instanceof ScriptBoxError) {
    const w: WireError = { code: e.code, message: e.message };
    if (e instanceof ScriptError) {
      w.type = e.type;
      if (e.traceback !== undefined) w.traceback = e.traceback;
      if (e.line !== undefined) w.line = e.line;
      // ScriptError's message is `${type}: ${message}`: keep the script's own words.
      w.message = e.message.startsWith(`${e.type}: `) ? e.message.slice(e.type.length + 2) : e.message;
    }
    if (e instanceof TimeoutError || e instanceof InterruptedError) w.escalation = e.escalation;
    return w;
  }
  return { code: 'UNAVAILABLE', message: `the worker failed: ${(e as Error)?.message ?? String(e)}` };
}

/** The same error class as on the worker, with its words. */
export function errorFromWire(w: WireError): ScriptBoxError {
  switch (w.code) {
    case 'SCRIPT_ERROR':
      return new ScriptError({
        type: w.type ?? 'Error',
        message: w.message,
        ...(w.traceback !== undefined ? { traceback: w.traceback } : {}),
        ...(w.line !== undefined ? { line: w.line } : {}),
      });
    case 'TIMEOUT':
      return new TimeoutError(w.message, w.escalation);
    case 'INTERRUPTED':
      return new InterruptedError(w.message, w.escalation);
    case 'PERMISSION_DENIED':
      return new PermissionDeniedError(w.message);
    case 'MEMORY_LIMIT':
      return new MemoryLimitError(w.message);
    case 'ENGINE_CRASHED':
      return new EngineCrashedError(w.message);
    case 'INVALID_INPUT':
      return new InvalidInputError(w.message);
    case 'DISPOSED':
      return new DisposedError(w.message);
    case 'ABORTED':
      return new AbortError(w.message, undefined);
    case 'QUEUE_FULL':
      return new QueueFullError(w.message);
    default:
      return new UnavailableError(w.message);
  }
}

const OPS: readonly JobOp[] = ['exec', 'call', 'open', 'close'];
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const FN_NAME = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;

/** Checks job data read from Redis; InvalidInputError naming the field and what it must be. */
export function parseJob(data: unknown, maxCodeBytes: number): JobData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InvalidInputError('job data must be an object');
  const d = data as Record<string, unknown>;
  if (d.v !== JOB_FORMAT) {
    throw new InvalidInputError(
      `job format ${String(d.v)} is not this worker's (${JOB_FORMAT}); run the same scriptbox version on callers and workers`,
    );
  }
  if (typeof d.op !== 'string' || !OPS.includes(d.op as JobOp)) throw new InvalidInputError(`job op must be one of ${OPS.join(', ')}`);
  const job: JobData = { v: JOB_FORMAT, op: d.op as JobOp };
  if (d.code !== undefined) {
    if (typeof d.code !== 'string') throw new InvalidInputError('job code must be a string');
    if (Buffer.byteLength(d.code) > maxCodeBytes) {
      throw new InvalidInputError(
        `job code is ${Buffer.byteLength(d.code)} bytes, over the worker's limits.maxCodeBytes (${maxCodeBytes})`,
      );
    }
    job.code = d.code;
  }
  if (job.op === 'exec' && job.code === undefined) throw new InvalidInputError('an exec job needs code');
  if (d.fn !== undefined) {
    if (typeof d.fn !== 'string' || !FN_NAME.test(d.fn))
      throw new InvalidInputError('job fn must be a function name like "add" or "geom.area"');
    job.fn = d.fn;
  }
  if (job.op === 'call' && job.fn === undefined) throw new InvalidInputError('a call job needs fn');
  if (d.args !== undefined) {
    if (typeof d.args !== 'string') throw new InvalidInputError('job args must be base64 MessagePack');
    job.args = d.args;
  }
  if (d.timeoutMs !== undefined) {
    if (typeof d.timeoutMs !== 'number' || !Number.isFinite(d.timeoutMs) || d.timeoutMs <= 0) {
      throw new InvalidInputError('job timeoutMs must be a positive number of milliseconds');
    }
    job.timeoutMs = d.timeoutMs;
  }
  if (d.capabilities !== undefined) {
    if (!Array.isArray(d.capabilities)) throw new InvalidInputError('job capabilities must be an array of capability patterns');
    job.capabilities = d.capabilities.map((p, i) => checkGrantPattern(p, `job capabilities[${i}]`));
  }
  if (d.session !== undefined) {
    if (typeof d.session !== 'string' || !SESSION_ID.test(d.session)) throw new InvalidInputError('job session must be a session id');
    job.session = d.session;
  }
  if ((job.op === 'close' || (job.op !== 'open' && d.session !== undefined)) && job.session === undefined) {
    throw new InvalidInputError(`a ${job.op} job needs its session id`);
  }
  if (d.stream !== undefined) {
    if (typeof d.stream !== 'boolean') throw new InvalidInputError('job stream must be true or false');
    job.stream = d.stream;
  }
  return job;
}

/** Checks an answer read from Redis (the caller trusts its workers, but not what a stray writer left). */
export function parseAnswer(v: unknown): JobAnswer {
  const a = (typeof v === 'string' ? JSON.parse(v) : v) as JobAnswer | null;
  if (typeof a !== 'object' || a === null || typeof a.ok !== 'boolean' || typeof a.worker !== 'string') {
    throw new UnavailableError(
      'the queue returned an answer that is not a scriptbox worker answer; check that only scriptbox workers consume this queue',
    );
  }
  return a;
}
