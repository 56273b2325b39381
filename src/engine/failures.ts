/**
 * Failures as the caller sees them, through the one error table (FAILURES in src/errors.ts):
 * a core's reported failure becomes the error class its row names, or (for `exec`) data
 * with the row's script-side type; an ending the host detected itself (the core was killed
 * or died) is made here as its class directly, and remembers how `exec` reports it.
 */
import type { CoreFailure } from '../channel/protocol.js';
import {
  AbortError,
  DisposedError,
  EngineCrashedError,
  FAILURES,
  InterruptedError,
  InvalidInputError,
  MemoryLimitError,
  ScriptError,
  TimeoutError,
  UnavailableError,
  type FailureKind,
  type ScriptBoxError,
  type ScriptErrorInfo,
} from '../errors.js';
import type { ExecResult } from './types.js';

/** An `exec` result's error. */
export type ExecError = NonNullable<ExecResult['error']>;

/**
 * The error a throwing method (`call`, `load`, a RemoteObject's `call`...) raises for a
 * failure its core reported. The core stopped in place, so a timeout or interrupt says
 * `escalation: 'interrupted'`; memory and crash failures replace the core, and say so.
 */
export function errorOf(f: CoreFailure): ScriptBoxError {
  switch (FAILURES[f.kind].code) {
    case 'TIMEOUT':
      return new TimeoutError(f.message, 'interrupted');
    case 'INTERRUPTED':
      return new InterruptedError(f.message, 'interrupted');
    case 'ABORTED':
      return new AbortError(f.message, undefined);
    case 'MEMORY_LIMIT':
      return new MemoryLimitError(`${f.message}; the engine was restarted`);
    case 'ENGINE_CRASHED':
      return new EngineCrashedError(`${f.message}; the engine restarts on the next call`);
    case 'INVALID_INPUT':
      // The core names the finer class where input was not the problem (a missing wheel dependency, a dead handle).
      if (f.type === 'UnavailableError') return new UnavailableError(f.message);
      if (f.type === 'DisposedError') return new DisposedError(f.message);
      return new InvalidInputError(f.message, f.path);
    default:
      return new ScriptError(scriptInfo(f));
  }
}

/**
 * How `exec` reports a failure its core reported: the language's own type, except where
 * the core itself broke (over memory, crashed): then the table's name, never the error's
 * own (a RuntimeError raised while the heap ran out is not the script's RuntimeError).
 */
export function execErrorOf(f: CoreFailure): ExecError {
  const replacesCore = f.kind === 'memory' || f.kind === 'crashed';
  return scriptInfo(f, replacesCore ? FAILURES[f.kind].scriptType : undefined);
}

function scriptInfo(f: CoreFailure, type = f.type): ScriptErrorInfo {
  const info: ScriptErrorInfo = { type, message: f.message };
  if (f.traceback !== undefined) info.traceback = f.traceback;
  if (f.line !== undefined) info.line = f.line;
  return info;
}

/** The endings only the host sees: the code ignored a stop and was killed, or the core died or broke the protocol. */
export type HostEnding = Extract<FailureKind, 'timeout' | 'interrupted' | 'crashed'>;

/** How `exec` reports each error endedError made (weak: the errors come and go with their callers). */
const asExec = new WeakMap<ScriptBoxError, { error: ExecError; timedOut: boolean }>();

/**
 * The error for an ending the host detected: TimeoutError / InterruptedError (escalation
 * `restarted`: the core was killed), or EngineCrashedError. `message` is what `exec`
 * reports; the thrown crash error adds that the engine restarts.
 */
export function endedError(kind: HostEnding, message: string): ScriptBoxError {
  const err =
    kind === 'timeout'
      ? new TimeoutError(message, 'restarted')
      : kind === 'interrupted'
        ? new InterruptedError(message, 'restarted')
        : new EngineCrashedError(`${message}; the engine restarts on the next call`);
  asExec.set(err, { error: { type: FAILURES[kind].scriptType!, message }, timedOut: kind === 'timeout' });
  return err;
}

/** How `exec` reports `e`, when it is a host-detected ending (endedError); undefined for anything else. */
export function execEndingOf(e: unknown): { error: ExecError; timedOut: boolean } | undefined {
  return e !== null && typeof e === 'object' ? asExec.get(e as ScriptBoxError) : undefined;
}
