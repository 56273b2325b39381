/**
 * scriptbox: run untrusted Python and Lua in WebAssembly sandboxes behind one interface.
 * @packageDocumentation
 */
import type { CoreInit } from './core.js';
import type { EngineOptions, Language, ScriptEngine } from './engine.js';
import { resolveOptions } from './options.js';
import type { Connection } from './placement/connection.js';
import { connectWorker, sharedMemoryAvailable, type WorkerSpawner } from './placement/worker.js';
import { SandboxEngine } from './sandbox-engine.js';

export * from './errors.js';
export type * from './engine.js';
export type { HostFunction, HostCallInfo, HostCallEvent } from './capabilities/registry.js';
export type { ScriptValue } from './values.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

async function spawner(): Promise<{ spawn: WorkerSpawner; assets?: CoreInit['assetUrls'] }> {
  if (isNode) {
    const { spawnNodeWorker } = (await import('./node/worker-host.js')) as typeof import('./node/worker-host.js');
    return { spawn: spawnNodeWorker };
  }
  const { spawnWebWorker, ASSET_BASE } = await import('./placement/web-worker.js');
  return { spawn: spawnWebWorker, assets: { luaWasm: new URL(`${ASSET_BASE}wasmoon/glue.wasm`, location.href).href } };
}

/**
 * Creates an engine and boots its interpreter. Resolves once the engine answers.
 *
 * @example
 * ```ts
 * const engine = await createEngine('lua');
 * const r = await engine.exec('return 1 + 1'); // r.value === 2
 * await engine.dispose();
 * ```
 */
export async function createEngine(language: Language, options?: EngineOptions): Promise<ScriptEngine> {
  const resolved = resolveOptions(language, options);
  let connect: (init: CoreInit) => Promise<Connection>;
  if (resolved.placement === 'inline') {
    const [{ connectInline }, { createCore }] = await Promise.all([
      import('./placement/inline.js'),
      import('../wasm/cores.js'),
    ]);
    connect = (init) => connectInline(init, createCore);
  } else {
    const { spawn, assets } = await spawner();
    const sharedMemory = sharedMemoryAvailable();
    connect = (init) => connectWorker(assets ? { ...init, assetUrls: assets } : init, spawn, { sharedMemory });
  }
  const engine = new SandboxEngine(resolved, connect);
  await engine.start();
  return engine;
}
