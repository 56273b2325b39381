/**
 * pyodide.asm.wasm compiled once per process, for fast Python starts (docs/snapshots.md):
 * V8 shares a compiled module's code with every worker it is posted to, so later engines
 * skip the compile and reuse code earlier ones already ran.
 */
import type { CoreInit } from '../core.js';
import { isNode } from './platform.js';

let compiled: Promise<WebAssembly.Module | undefined> | undefined;

/** pyodide.asm.wasm compiled once per process; undefined if that fails (each core then compiles its own). */
export function pyodideModule(assets?: CoreInit['assetUrls']): Promise<WebAssembly.Module | undefined> {
  compiled ??= (async () => {
    if (isNode) {
      const { compilePyodideWasm } = (await import('../node/pyodide-wasm.js')) as typeof import('../node/pyodide-wasm.js');
      return compilePyodideWasm();
    }
    if (!assets?.pyodideIndex) return undefined;
    return WebAssembly.compileStreaming(fetch(`${assets.pyodideIndex}pyodide.asm.wasm`));
  })().catch(
    // Only an optimisation fails here: each core then fetches and compiles Pyodide's wasm
    // itself, and reports its own error if that fails too.
    () => undefined,
  );
  return compiled;
}
