/**
 * The worker message protocol: every message between the host and an engine core, as
 * one typed union per direction. The same messages travel over the SharedArrayBuffer
 * channel, over postMessage when SharedArrayBuffer is missing, over a child process's
 * pipe, or as plain calls for the inline placement.
 */
import { WireHandle, decode, isRealUint8Array, type ScriptValue } from '../values.js';
import type { CoreBoot, CoreInit } from '../core.js';
import { EngineCrashedError, FAILURE_KINDS, type FailureKind } from '../errors.js';
import type { InterruptReason } from './sab-channel.js';

/** Host -> engine. */
export type ToEngine =
  | { t: 'boot'; init: CoreInit }
  | { t: 'exec'; code: string; timeoutMs: number; stream: boolean }
  | { t: 'load'; code: string; name: string; timeoutMs: number; stream: boolean }
  | { t: 'call'; fn: string; args: ScriptValue[]; timeoutMs: number; stream: boolean; optional: boolean }
  | { t: 'install'; wheel: Uint8Array; name: string; timeoutMs: number }
  /** Makes an object and answers a handle to it (see EngineCore.create). */
  | { t: 'create'; cls: string; args: ScriptValue[]; timeoutMs: number; stream: boolean }
  | { t: 'callMethod'; handle: number; method: string; args: ScriptValue[]; timeoutMs: number; stream: boolean }
  | { t: 'getAttr'; handle: number; attr: string; timeoutMs: number; stream: boolean }
  /** Frees handles the host let go of (disposed or garbage-collected RemoteObjects). */
  | { t: 'release'; ids: number[] }
  | { t: 'setHostFunctions'; names: string[] }
  | { t: 'reset' }
  /** The core's state as a session payload (docs/session-snapshots.md): answered `done` with the bytes. */
  | { t: 'saveSession' }
  /**
   * Replaces the core's state in place with a session payload the host checked (absent:
   * the one the core booted from, which it keeps): answered `done`.
   */
  | { t: 'restoreSession'; payload?: Uint8Array }
  | { t: 'stats' }
  | { t: 'hostReturn'; ok: true; value: ScriptValue; id?: number }
  | { t: 'hostReturn'; ok: false; error: HostCallFailure; id?: number }
  /**
   * Answers `hostWait`: the non-blocking host calls that finished (maybe none). Over
   * postMessage, where there is no shared interrupt word, `stop` says the host stopped the
   * request while the engine waited.
   */
  | { t: 'hostResults'; results: AsyncHostResult[]; stop?: InterruptReason };

/** One finished non-blocking host call (Python's `host.aio`). */
export type AsyncHostResult = { id: number; ok: true; value: ScriptValue } | { id: number; ok: false; error: HostCallFailure };

/** Engine -> host. */
export type ToHost =
  /** The core booted; `boot` says how (Python), with the memory snapshot it took if asked to. */
  | { t: 'ready'; boot?: CoreBoot }
  | { t: 'done'; value: ScriptValue; defined: boolean; out: CapturedOutput }
  | { t: 'failed'; failure: CoreFailure; out: CapturedOutput }
  | { t: 'stats'; memoryBytes: number; handles: number }
  /** With an `id` (the process placement's relay), calls run concurrently and answers carry the id. */
  | { t: 'hostCall'; name: string; args: ScriptValue[]; id?: number }
  /** Starts a non-blocking host call; its answer comes with a later `hostWait`. */
  | { t: 'hostStart'; id: number; name: string; args: ScriptValue[] }
  /** Blocks the engine until a started call finishes or `timeoutMs` passes. */
  | { t: 'hostWait'; timeoutMs: number }
  | { t: 'output'; stream: 'stdout' | 'stderr'; text: string };

/** Output a request produced, cut at `maxOutputBytes`. */
export interface CapturedOutput {
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** Rich outputs (`display`), in call order; absent when there are none. */
  outputs?: RichOutput[];
}

/** One rich output: a media type and its data (text types as a string, binary types as bytes). */
export interface RichOutput {
  mime: string;
  data: string | Uint8Array;
}

/** Why a request failed inside the engine. */
export interface CoreFailure {
  /** Which row of the error table (src/errors.ts FAILURES) this failure is. */
  kind: FailureKind;
  type: string;
  message: string;
  traceback?: string;
  line?: number;
  path?: string;
}

/** A host function's failure, as the script sees it (plain data only). */
export interface HostCallFailure {
  /** `PermissionError`, `Error`, `UnavailableError`... */
  type: string;
  message: string;
}

// ---- the process placement's pipe ---------------------------------------------------
//
// The process placement runs the core on the main thread of a child process
// (src/node/process-child.ts). The message pipe between host and child carries framed
// messages (4-byte little-endian length, then the msgpackr payload): the ToEngine messages
// above and ToHost messages back, and clears of the interrupt word in order with them.
// Stops go as 8-byte records on a second pipe (frames.ts `stopRecord`) that a small thread
// in the child reads while the core runs; `{ t: 'interrupt' }` on the message pipe is used
// only where there is no stop pipe. A spare child's first message, `{ t: 'prime' }` with a
// raw snapshot frame, is the child's own (src/node/spare-child.ts).

/** Host -> child process: stops and clears of the interrupt word (see above for where each travels). */
export type ProcessControl = { t: 'interrupt'; reason: InterruptReason } | { t: 'clearInterrupt' };

/** Host -> child process: first `boot`, then requests, host returns and control frames. */
export type ToProcess = ToEngine | ProcessControl;

/** Child process -> host: what the core says, or the child's last word before it exits. */
export type FromProcess = ToHost | { t: 'fatal'; message: string };

// ---- validating what an engine sends ----------------------------------------------

/** Deepest value parseToHost accepts by default (engines enforce limits.maxValueDepth well below). */
export const MAX_WIRE_DEPTH = 1000;

/**
 * The largest memory snapshot a host accepts from a core it booted with `init`: none
 * unless the core may take one (asked to, or given one it may reject); then the heap at
 * boot, which must fit limits.memoryBytes, plus Pyodide's header (a little JSON).
 */
export function maxSnapshotBytes(init: CoreInit): number {
  return init.makeSnapshot || init.snapshot ? init.limits.memoryBytes + 1024 * 1024 : 0;
}

function malformed(problem: string): never {
  // The problem may quote the engine's own keys: keep it short.
  const p = problem.length > 300 ? `${problem.slice(0, 300)}...` : problem;
  throw new EngineCrashedError(`the engine sent a malformed message: ${p}`);
}

/**
 * Decodes one message from an engine. Anything that is not bytes holding MessagePack
 * (a worker can post any value) throws EngineCrashedError: the channel is broken.
 */
export function decodeMessage(bytes: unknown): unknown {
  if (!(bytes instanceof Uint8Array) || !isRealUint8Array(bytes)) {
    malformed(`a message arrived as ${bytes === null ? 'null' : Array.isArray(bytes) ? 'an array' : `a ${typeof bytes}`}, not as bytes`);
  }
  try {
    return decode(bytes);
  } catch {
    // The decoder's own text names its internals (and can quote JavaScript errors): not for the caller.
    return malformed(`a frame of ${bytes.byteLength} bytes that is not valid MessagePack`);
  }
}

function fields(x: unknown, where: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) malformed(`${where} is not an object`);
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) malformed(`${where} is not a plain object`);
  return x as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') malformed(`${where}.${key} is not a string`);
  return v;
}

function bool(o: Record<string, unknown>, key: string, where: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') malformed(`${where}.${key} is not a boolean`);
  return v;
}

function scriptValue(v: unknown, where: string, maxDepth: number): ScriptValue {
  const path = new Set<object>();
  const walk = (x: unknown, at: string, depth: number): void => {
    switch (typeof x) {
      case 'undefined':
      case 'boolean':
      case 'number':
      case 'bigint':
      case 'string':
        return;
      case 'object':
        break;
      default:
        malformed(`${at} is a ${typeof x}`);
    }
    if (x === null) return;
    if (depth > maxDepth) malformed(`${at} is nested deeper than ${maxDepth}`);
    const proto = Object.getPrototypeOf(x);
    if (proto === Uint8Array.prototype) {
      if (!isRealUint8Array(x)) malformed(`${at} claims to be bytes but is not a Uint8Array`);
      return;
    }
    if (proto === WireHandle.prototype) {
      const h = x as WireHandle;
      if (typeof h.engineId !== 'string' || typeof h.id !== 'number' || typeof h.kind !== 'string') malformed(`${at} is a broken handle`);
      return;
    }
    if (path.has(x)) malformed(`${at} refers back to one of its parents`);
    path.add(x);
    if (Array.isArray(x)) {
      if (proto !== Array.prototype) malformed(`${at} is not a plain array`);
      for (let i = 0; i < x.length; i++) walk(x[i], `${at}[${i}]`, depth + 1);
    } else if (proto === Map.prototype) {
      let i = 0;
      for (const [k, item] of x as Map<unknown, unknown>) {
        walk(k, `${at}.<entry ${i}>.key`, depth + 1);
        walk(item, `${at}.<entry ${i++}>`, depth + 1);
      }
    } else if (proto === Object.prototype || proto === null) {
      for (const key of Object.keys(x)) walk((x as Record<string, unknown>)[key], `${at}.${key}`, depth + 1);
    } else {
      malformed(
        `${at} is an instance of ${String((proto as { constructor?: { name?: unknown } })?.constructor?.name ?? 'an unknown class')}, not a script value`,
      );
    }
    path.delete(x);
  };
  walk(v, where, 0);
  return v as ScriptValue;
}

function failure(x: unknown, where: string): CoreFailure {
  const o = fields(x, where);
  const kind = str(o, 'kind', where);
  if (!(FAILURE_KINDS as readonly string[]).includes(kind)) malformed(`${where}.kind is not a known failure kind`);
  const f: CoreFailure = { kind: kind as CoreFailure['kind'], type: str(o, 'type', where), message: str(o, 'message', where) };
  if (o.traceback !== undefined) f.traceback = str(o, 'traceback', where);
  if (o.line !== undefined) {
    if (typeof o.line !== 'number' || !Number.isInteger(o.line)) malformed(`${where}.line is not an integer`);
    f.line = o.line;
  }
  if (o.path !== undefined) f.path = str(o, 'path', where);
  return f;
}

/** A `ready` message's boot report; a snapshot over `maxSnapshot` bytes (0: none expected) is malformed. */
function coreBoot(x: unknown, maxSnapshot: number): CoreBoot {
  const o = fields(x, 'ready.boot');
  const boot: CoreBoot = { restored: bool(o, 'restored', 'ready.boot') };
  if (o.rejected !== undefined) boot.rejected = str(o, 'rejected', 'ready.boot').slice(0, 300);
  if (o.ahead !== undefined) boot.ahead = bool(o, 'ahead', 'ready.boot');
  if (o.isolation !== undefined) {
    const iso = fields(o.isolation, 'ready.boot.isolation');
    const words = (k: string) => {
      const v = iso[k];
      if (!Array.isArray(v) || v.length > 32 || v.some((w) => typeof w !== 'string'))
        malformed(`ready.boot.isolation.${k} is not a list of words`);
      return (v as string[]).map((w) => w.slice(0, 300));
    };
    boot.isolation = { applied: words('applied'), refused: words('refused') };
  }
  if (o.snapshot !== undefined) {
    const s = o.snapshot;
    if (!(s instanceof Uint8Array) || Object.getPrototypeOf(s) !== Uint8Array.prototype || !isRealUint8Array(s))
      malformed('ready.boot.snapshot is not bytes');
    if (s.byteLength > maxSnapshot) malformed(`ready.boot.snapshot is ${s.byteLength} bytes, over the ${maxSnapshot}-byte limit`);
    boot.snapshot = s;
  }
  return boot;
}

function captured(x: unknown): CapturedOutput {
  const o = fields(x, 'out');
  const out: CapturedOutput = { stdout: str(o, 'stdout', 'out'), stderr: str(o, 'stderr', 'out'), truncated: bool(o, 'truncated', 'out') };
  if (o.outputs !== undefined) out.outputs = richOutputs(o.outputs);
  return out;
}

function richOutputs(x: unknown): RichOutput[] {
  if (!Array.isArray(x)) malformed('out.outputs is not an array');
  return x.map((item, i) => {
    const o = fields(item, `out.outputs[${i}]`);
    const data = o.data;
    const bytes = data instanceof Uint8Array && Object.getPrototypeOf(data) === Uint8Array.prototype && isRealUint8Array(data);
    if (typeof data !== 'string' && !bytes) malformed(`out.outputs[${i}].data is neither a string nor bytes`);
    return { mime: str(o, 'mime', `out.outputs[${i}]`), data };
  });
}

/**
 * Checks a decoded engine -> host message and returns a clean copy holding only the
 * known fields. Code on the far side of a channel is untrusted: anything that is not a
 * ToHost message throws EngineCrashedError naming the problem, and the caller must treat
 * the engine as crashed.
 */
export function parseToHost(x: unknown, maxDepth = MAX_WIRE_DEPTH, maxSnapshot = 0): ToHost {
  const o = fields(x, 'message');
  const t = o.t;
  switch (t) {
    case 'ready':
      return o.boot === undefined ? { t } : { t, boot: coreBoot(o.boot, maxSnapshot) };
    case 'done':
      return { t, value: scriptValue(o.value, 'result', maxDepth), defined: bool(o, 'defined', 'done'), out: captured(o.out) };
    case 'failed':
      return { t, failure: failure(o.failure, 'failure'), out: captured(o.out) };
    case 'stats': {
      const n = o.memoryBytes;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) malformed('stats.memoryBytes is not a byte count');
      const h = o.handles;
      if (typeof h !== 'number' || !Number.isSafeInteger(h) || h < 0) malformed('stats.handles is not a count');
      return { t, memoryBytes: n, handles: h };
    }
    case 'hostCall': {
      const args = o.args;
      if (!Array.isArray(args)) malformed('hostCall.args is not an array');
      const call: ToHost = { t, name: str(o, 'name', 'hostCall'), args: scriptValue(args, 'hostCall.args', maxDepth) as ScriptValue[] };
      if (o.id !== undefined) {
        if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id)) malformed('hostCall.id is not an integer');
        call.id = o.id as number;
      }
      return call;
    }
    case 'hostStart': {
      const args = o.args;
      if (!Array.isArray(args)) malformed('hostStart.args is not an array');
      const id = o.id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) malformed('hostStart.id is not an integer');
      return {
        t,
        id: id as number,
        name: str(o, 'name', 'hostStart'),
        args: scriptValue(args, 'hostStart.args', maxDepth) as ScriptValue[],
      };
    }
    case 'hostWait': {
      const ms = o.timeoutMs;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) malformed('hostWait.timeoutMs is not a duration');
      return { t, timeoutMs: ms as number };
    }
    case 'output': {
      const stream = o.stream;
      if (stream !== 'stdout' && stream !== 'stderr') malformed('output.stream is not stdout or stderr');
      return { t, stream, text: str(o, 'text', 'output') };
    }
    default:
      return malformed(typeof t === 'string' ? `unknown message type ${JSON.stringify(t.slice(0, 40))}` : 'no message type');
  }
}

/** parseToHost, plus the child process's own `fatal` message. */
export function parseFromProcess(x: unknown, maxDepth = MAX_WIRE_DEPTH, maxSnapshot = 0): FromProcess {
  const o = fields(x, 'message');
  if (o.t === 'fatal') return { t: 'fatal', message: str(o, 'message', 'fatal') };
  return parseToHost(o, maxDepth, maxSnapshot);
}
