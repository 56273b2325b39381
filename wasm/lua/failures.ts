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
