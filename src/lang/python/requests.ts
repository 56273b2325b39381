/**
 * What the Python runtime (runtime.py `_request`) asks the host for, and how a core answers
 * it. Both backends carry the same requests, in marshal's format (./marshal.ts): Pyodide
 * through its `/dev/scriptbox` device (wasm/python/device.ts), native CPython through a
 * ctypes callback (native-bridge/cpython/transport.ts). Only the channel differs; the
 * requests, the answers and their framing are these.
 */
import { HostCallError, type CoreEnv } from '../../core.js';
import type { AsyncHostResult } from '../../channel/protocol.js';
import type { ScriptValue } from '../../values.js';
import type { OutputCapture } from '../output.js';
import { fromMarshal, toMarshal } from './marshal.js';
import { INPUT_CALL } from '../../capabilities/input.js';

/** A request from the runtime, after the wire is decoded. */
export type PythonRequest =
  | ['call', string, unknown[]]
  | ['sleep', number]
  | ['astart', string, unknown[]]
  | ['await', number]
  | ['taint']
  | ['display', string, unknown]
  | ['input', string];

/** How deep a request's values may nest before the host's own checks (limits.maxValueDepth) see them. */
const MAX_REQUEST_DEPTH = 1000;

/**
 * The request the runtime wrote, checked: the script can write anything to the channel,
 * and junk must fail the script's own write (an OSError it can catch), never the core.
 * Bytes in the request are views of `bytes`.
 */
export function parseRequest(bytes: Uint8Array): PythonRequest | undefined {
  let req: unknown;
  try {
    req = fromMarshal(bytes, undefined, MAX_REQUEST_DEPTH);
  } catch {
    // Not marshal, a tag requests may not hold (a forged handle), too deep: junk, answered as such.
    return undefined;
  }
  return requestOf(req);
}

/** A decoded value as a request, if it is one. */
export function requestOf(req: unknown): PythonRequest | undefined {
  if (!Array.isArray(req) || typeof req[0] !== 'string') return undefined;
  const [op, a, b] = req as [string, unknown, unknown];
  switch (op) {
    case 'call':
    case 'astart':
      return req.length === 3 && typeof a === 'string' && Array.isArray(b) ? [op, a, b] : undefined;
    case 'sleep':
    case 'await':
      return req.length === 2 && typeof a === 'number' && !Number.isNaN(a) ? [op, a] : undefined;
    case 'taint':
      return req.length === 1 ? [op] : undefined;
    case 'display':
      return req.length === 3 && typeof a === 'string' ? [op, a, b] : undefined;
    case 'input':
      return req.length === 2 && typeof a === 'string' ? [op, a] : undefined;
    default:
      return undefined;
  }
}

/** What answering a request needs from the core whose request runs. */
export interface RequestContext {
  readonly env: CoreEnv;
  readonly out: OutputCapture;
  /** The running request's deadline (performance.now() milliseconds). */
  deadline(): number;
  /** Non-zero once the running request must stop, and from then on. */
  poll(): number;
  /**
   * Where the core's thread must not block (the trampoline, env.hostWaitAsync): the host.aio
   * results it collected meanwhile, which 'await' hands over instead of waiting.
   */
  collected?(): AsyncHostResult[];
  /**
   * The runtime's audit hook saw a way into its globals (a frame, a gc walk): from now on
   * the core restores the runtime at the start of every entry (runtime.py `restore`).
   */
  taint?(): void;
}

/**
 * A reply as the runtime reads it (runtime.py `_request`): its length (4 bytes, little
 * endian), a byte that is 1 when its values hold handles, then the value.
 */
export function replyBytes(value: unknown): Uint8Array {
  const { bytes, handles } = toMarshal(value, 5);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, bytes.length - 4, true);
  bytes[4] = handles ? 1 : 0;
  return bytes;
}

/** Answers one request from the runtime; the value goes back as a reply (replyBytes). */
export function serveRequest(req: PythonRequest, c: RequestContext): unknown {
  switch (req[0]) {
    case 'sleep':
      return sleep(req[1], c);
    case 'astart':
      // Starting a call fails only as a HostCallError (refused); anything else is the host's own fault.
      return hostAnswer(c, () => c.env.hostStart(req[1], req[2] as ScriptValue[]), false);
    case 'await':
      if (c.collected) return c.collected();
      return c.env.hostWait(waitMs(req[1], c));
    case 'call':
      return hostAnswer(c, () => c.env.hostCall(req[1], req[2] as ScriptValue[]), true);
    case 'taint':
      // A script may write this itself: it only makes its own engine restore more often.
      c.taint?.();
      return null;
    case 'display':
      // Kept with the output (src/lang/output.ts), in order with what was printed: `[true, null]` or `[false, message]`.
      try {
        c.out.display(req[1], req[2]);
        return [true, null];
      } catch (e) {
        return [false, (e as Error).message];
      }
    case 'input':
      // A terminal read is a host call the host answers with onInput (src/capabilities/input.ts).
      return hostAnswer(c, () => c.env.hostCall(INPUT_CALL, [req[1]]), true);
  }
  // Only a channel that does not check its requests (parseRequest) gets here.
  throw new Error(`unknown request ${String((req as unknown[])[0])}`);
}

/**
 * A host call's answer as the runtime reads it: `[true, value]` or `[false, failure]`.
 * What the script printed so far goes out first, in order with what the host function logs.
 * `anyError`: other errors the host function threw fail the call as a HostError too.
 */
function hostAnswer(c: RequestContext, call: () => unknown, anyError: boolean): [boolean, unknown] {
  c.out.flush();
  try {
    return [true, call()];
  } catch (e) {
    if (e instanceof HostCallError) return [false, e.failure];
    if (!anyError) throw e;
    return [false, { type: 'HostError', message: (e as Error)?.message ?? String(e) }];
  }
}

/** How long a wait of `seconds` may last: never past the request's deadline. */
function waitMs(seconds: number, c: RequestContext): number {
  return Math.max(0, Math.min(seconds * 1000, c.deadline() - performance.now()));
}

/**
 * `time.sleep` (runtime.py `sleep`, in slices of at most a second): waits on the interrupt
 * word, so a stop ends it at once. 'interrupted' makes the runtime raise KeyboardInterrupt.
 */
function sleep(seconds: number, c: RequestContext): 'ok' | 'interrupted' {
  const ms = waitMs(seconds, c);
  const word = c.env.interruptWord;
  if (ms > 0 && Atomics.load(word, 0) === 0) {
    try {
      Atomics.wait(word, 0, 0, ms);
    } catch {
      // A thread that may not block (a browser page) or a word that is not shared (inline): spin.
      const end = performance.now() + ms;
      while (performance.now() < end && Atomics.load(word, 0) === 0);
    }
  }
  return c.poll() !== 0 ? 'interrupted' : 'ok';
}
