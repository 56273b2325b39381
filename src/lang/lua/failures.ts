/**
 * How a Lua request ends when it does not succeed, for both Lua backends (wasm/lua and
 * native-bridge/luajit): the stop reasons (interrupt word, deadline, memory cap) with their
 * names from the error table (src/errors.ts), and script errors as CoreFailure data, in one
 * wording.
 */
import type { CoreFailure } from '../../channel/protocol.js';
import { stopNames } from '../../errors.js';

/** Why the host stopped a running script; null while nothing asked. */
export type Stop = null | 'interrupted' | 'timeout' | 'aborted' | 'memory';

const STOPS = stopNames();

/** The interrupt word's value (InterruptReason: 1 interrupt, 2 timeout, 3 abort) as the stop it asks for. */
export function stopOf(word: number): 'timeout' | 'aborted' | 'interrupted' {
  return word === 2 ? 'timeout' : word === 3 ? 'aborted' : 'interrupted';
}

/** The failure for a stop. Lua's own MemoryError names the memory stop, as the script saw it. */
export function stopFailure(kind: Exclude<Stop, null>, memoryBytes: number): CoreFailure {
  if (kind === 'memory') {
    return { kind, type: 'MemoryError', message: `the script used more than limits.memoryBytes (${memoryBytes} bytes)` };
  }
  return { kind, type: STOPS[kind].type, message: STOPS[kind].text };
}

/** `input:3: ValueError: bad` -> ValueError; a plain Lua error -> RuntimeError. */
export function errorType(message: string): string {
  const m = /^(?:[^:\n]*:\d+: )?([A-Z]\w*(?:Error|Exception)): /.exec(message);
  return m ? m[1]! : 'RuntimeError';
}

/** A script error (or a syntax error, or Lua running out of memory) as a failure. */
export function scriptFailure(
  message: string,
  opts: { syntax: boolean; outOfMemory: boolean; traceback?: string | undefined },
): CoreFailure {
  const type = opts.syntax ? 'SyntaxError' : opts.outOfMemory ? 'MemoryError' : errorType(message);
  const f: CoreFailure = { kind: 'script', type, message };
  const line = /:(\d+):/.exec(message);
  if (line) f.line = Number(line[1]);
  if (opts.traceback) f.traceback = opts.traceback;
  return f;
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
