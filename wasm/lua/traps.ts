/**
 * How a wasm Lua module breaks: a trap or abort escaping it, which no Lua code may catch.
 * The shared Lua core (src/lang/lua/core.ts) asks the wasm backend about every exception
 * through these.
 */
import type { CoreFailure } from '../../src/channel/protocol.js';
import { stopFailure, type Stop } from '../../src/lang/lua/failures.js';

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
