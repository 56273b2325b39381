/** Node: compiles Pyodide's pyodide.asm.wasm (the placement shares the result with its workers). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

export async function compilePyodideWasm(): Promise<WebAssembly.Module> {
  const path = createRequire(import.meta.url).resolve('pyodide/pyodide.asm.wasm');
  return WebAssembly.compile(await readFile(path));
}
