/**
 * How a Lua request ends when it does not succeed, for both Lua backends (wasm/lua and
 * native-bridge/luajit): the stop reasons (interrupt word, deadline, memory cap) and
 * script errors as CoreFailure data, in one wording.
 */
import type { CoreFailure } from '../../src/channel/protocol.js';

/** Why the host stopped a running script; null while nothing asked. */
export type Stop = null | 'interrupted' | 'timeout' | 'aborted' | 'memory';

const STOP_TYPES = { timeout: 'TimeoutError', interrupted: 'Interrupted', aborted: 'AbortError', memory: 'MemoryError' } as const;
const STOPPED = {
  timeout: 'the script ran past its time limit and was stopped',
  interrupted: 'the script was interrupted',
  aborted: 'the call was aborted',
} as const;

/** The interrupt word's value (InterruptReason: 1 interrupt, 2 timeout, 3 abort) as the stop it asks for. */
export function stopOf(word: number): 'timeout' | 'aborted' | 'interrupted' {
  return word === 2 ? 'timeout' : word === 3 ? 'aborted' : 'interrupted';
}

/** The failure for a stop. */
export function stopFailure(kind: Exclude<Stop, null>, memoryBytes: number): CoreFailure {
  const message = kind === 'memory' ? `the script used more than limits.memoryBytes (${memoryBytes} bytes)` : STOPPED[kind];
  return { kind, type: STOP_TYPES[kind], message };
}

/** `input:3: ValueError: bad` -> ValueError; a plain Lua error -> RuntimeError. */
export function errorType(message: string): string {
  const m = /^(?:[^:\n]*:\d+: )?([A-Z]\w*(?:Error|Exception)): /.exec(message);
  return m ? m[1]! : 'RuntimeError';
}

/** A script error (or a syntax error, or LuaJIT running out of memory) as a failure. */
export function scriptFailure(message: string, opts: { syntax: boolean; outOfMemory: boolean; traceback?: string }): CoreFailure {
  const type = opts.syntax ? 'SyntaxError' : opts.outOfMemory ? 'MemoryError' : errorType(message);
  const f: CoreFailure = { kind: 'script', type, message };
  const line = /:(\d+):/.exec(message);
  if (line) f.line = Number(line[1]);
  if (opts.traceback) f.traceback = opts.traceback;
  return f;
}

/** WebAssembly.Exception (an exception thrown in wasm that nothing caught); not in TypeScript's lib yet. */
const WasmException = (WebAssembly as unknown as { Exception?: new (...a: never[]) => object }).Exception;

/**
 * True for a wasm trap or abort escaping the Lua module (`RuntimeError: Aborted(native code
 * called abort())`, `unreachable`, an out-of-bounds access), the wasm stack running out, or
 * a wasm exception nothing caught. A core must never turn one into a Lua error a script
 * could catch: the module's state is undefined after it.
 */
export function isTrap(e: unknown): boolean {
  return (
    e instanceof WebAssembly.RuntimeError ||
    (WasmException !== undefined && e instanceof WasmException) ||
    (e instanceof RangeError && /call stack/i.test(e.message))
  );
}

/**
 * A trap (see isTrap) as a failure: 'crashed', which the host answers with
 * EngineCrashedError and a restart, or 'memory' when the memory cap had already refused
 * the allocation that led to it. Null for anything else (a JS bug in the core: the caller
 * rethrows it, and serve() reports it as a crash).
 */
export function trapFailure(e: unknown, stop: Stop, memoryBytes: number): CoreFailure | null {
  if (!isTrap(e)) return null;
  if (stop === 'memory') return stopFailure('memory', memoryBytes);
  const err = e as { name?: unknown; message?: unknown };
  const what = typeof err.message === 'string' ? `${String(err.name)}: ${err.message}` : 'an exception nothing caught';
  return {
    kind: 'crashed',
    type: 'EngineCrashedError',
    message: `the Lua engine crashed (${what.slice(0, 500)}); it restarts with a fresh state, so globals and handles from before are gone`,
  };
}

/** Error texts and tracebacks are for people: the host reads at most this much of one (or limits.maxValueBytes, when smaller). */
export const ERROR_TEXT_MAX = 64 * 1024;

/** How many bytes of an error text the host reads, given limits.maxValueBytes. */
export function errorTextLimit(maxValueBytes: number): number {
  return Math.min(ERROR_TEXT_MAX, maxValueBytes);
}

/** The note that ends a cut text: how much was left out, and why. */
export function cutNote(fullBytes: number, keptBytes: number): string {
  return ` ... [${fullBytes - keptBytes} more bytes cut: the host reads at most ${keptBytes} bytes of an error text]`;
}
