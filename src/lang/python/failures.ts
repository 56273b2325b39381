/**
 * How a Python request ends, for both Python backends (wasm/python and native-bridge/cpython)
 * in one wording: the stops (interrupt word, deadline, memory cap) with their names from the
 * error table (src/errors.ts), a broken interpreter, and the runtime's own reply checked and
 * turned into an outcome.
 */
import { stopNames } from '../../errors.js';
import type { CapturedOutput, CoreFailure } from '../../channel/protocol.js';
import type { CoreOutcome } from '../../core.js';
import type { ScriptValue } from '../../values.js';
import { fromMarshal } from './marshal.js';

/** Why the host stopped a running request in place. */
export type Stop = 'interrupted' | 'timeout' | 'aborted' | 'memory';

const STOPS = stopNames();

/** The stops as runtime.py `init` takes them: a host call stopped that way raises what the script expects. */
export const STOPS_JSON = JSON.stringify(STOPS);

/** The interrupt word's value (InterruptReason: 1 interrupt, 2 timeout, 3 abort; the native watchdog's too) as its stop. */
export function stopOf(word: number): 'timeout' | 'aborted' | 'interrupted' {
  return word === 2 ? 'timeout' : word === 3 ? 'aborted' : 'interrupted';
}

/** The failure for a stop. Python's own MemoryError names the memory stop, as the script saw it. */
export function stopFailure(stop: Stop, memoryBytes: number): CoreFailure {
  if (stop === 'memory') {
    return { kind: 'memory', type: 'MemoryError', message: `the script used more than limits.memoryBytes (${memoryBytes} bytes)` };
  }
  return { kind: stop, type: STOPS[stop].type, message: STOPS[stop].text };
}

/**
 * An interpreter that threw out of a runtime entry (a wasm abort, a fatal error, a C API
 * failure): its own error name (RuntimeError, SyntaxError...) must not pass for the script's.
 */
export function interpreterFailure(thrown: unknown): CoreFailure {
  const err = thrown as { name?: unknown; message?: unknown };
  const why = `${typeof err?.name === 'string' ? err.name : 'Error'}: ${typeof err?.message === 'string' ? err.message : String(thrown)}`;
  return { kind: 'crashed', type: 'EngineCrashedError', message: `the Python interpreter failed: ${why.slice(0, 2000)}` };
}

/** What a runtime entry answers (runtime.py `_fail`, `_answer`...): JSON text, the value itself on the value channel. */
export type Reply = { ok: true; value?: ScriptValue; bin?: true; defined?: boolean } | { ok: false; failure: CoreFailure };

/** The result an entry wrote to the value channel, and how to read it. */
export interface WrittenValue {
  /** What the runtime wrote to the value channel during the entry (undefined: nothing). */
  bytes: Uint8Array | undefined;
  engineId: string;
  maxDepth: number;
}

/**
 * The runtime's reply, or undefined when it is not one (the runtime lives in the same
 * interpreter as the script, so its answer is checked like input; the host checks the fields).
 */
export function parseReply(text: unknown, written: WrittenValue): Reply | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const r = JSON.parse(text) as { ok?: unknown; bin?: unknown } | null;
    if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') return undefined;
    if (r.ok && r.bin === true) {
      if (!written.bytes) return undefined;
      return { ok: true, value: fromMarshal(written.bytes, written.engineId, written.maxDepth) as ScriptValue };
    }
    return r as Reply;
  } catch {
    // Not JSON, or a value that is not marshal's format: the caller reports a broken runtime.
    return undefined;
  }
}

/** A runtime's reply as the outcome of its request; an answer that is no reply means the engine restarts. */
export function replyOutcome(text: unknown, written: WrittenValue, out: CapturedOutput): CoreOutcome {
  const r = parseReply(text, written);
  if (!r) {
    const what = typeof text === 'string' ? 'text that is not a reply' : `a ${typeof text}`;
    return {
      ok: false,
      failure: { kind: 'crashed', type: 'EngineCrashedError', message: `the Python runtime answered with ${what}; the engine restarts` },
      out,
    };
  }
  if (!r.ok) return { ok: false, failure: r.failure, out };
  return { ok: true, value: r.value ?? null, defined: r.defined ?? true, out };
}
