/**
 * scriptbox: run untrusted Python and Lua in WebAssembly sandboxes behind one interface.
 *
 * Everything public is named below (no `export *`). Every disposable thing here (engines,
 * RemoteObjects, pools, stores) is released with `dispose()`, or `await using`.
 *
 * Platform-only exports: {@link SqliteStore} is Node only (it opens a file through
 * better-sqlite3) and {@link IndexedDbStore} is browser only (IndexedDB). Both import
 * anywhere, so one bundle serves both platforms; their `open()` rejects with
 * UnavailableError on the other one. {@link MemoryStore} works everywhere.
 * @packageDocumentation
 */
import type { DistributedWorker, WorkerOptions } from './distributed/worker.js';
import type { CoreInit } from './core.js';
import { Engine } from './engine/engine.js';
import type { EngineOptions, Language, ScriptEngine } from './engine/types.js';
export { SessionSnapshot, type SessionInfo } from './session/snapshot.js';
export { openSnapshotStore } from './session/open-store.js';
export type { SnapshotStore } from './session/store.js';
import { UnavailableError } from './errors.js';
import { pyodideModule } from './snapshot/pyodide-module.js';
import { snapshotSetup } from './snapshot/setup.js';
import { snapshots } from './snapshot/controls.js';
import { checkLanguage, resolveOptions, settleBackend, type ResolvedOptions } from './options.js';
import { EnginePool, type PoolOptions } from './pool/engine-pool.js';
import type { ConnectionFactory } from './placement/connection.js';
import { connectWorker, sharedMemoryAvailable, type WorkerSpawner } from './placement/worker.js';

// ---- errors (each has a stable `code`; see README "Errors") ----
export {
  AbortError,
  DisposedError,
  EngineCrashedError,
  InterruptedError,
  InvalidInputError,
  MemoryLimitError,
  PermissionDeniedError,
  QueueFullError,
  ScriptBoxError,
  ScriptError,
  TimeoutError,
  UnavailableError,
  type ErrorCode,
  type ScriptErrorInfo,
} from './errors.js';

// ---- engines ----
export type {
  Backend,
  EngineCrash,
  EngineOptions,
  EngineStats,
  ExecResult,
  Language,
  Limits,
  Placement,
  RemoteObject,
  RichOutput,
  RunOptions,
  ScriptEngine,
} from './engine/types.js';
export type { HostFunction, HostCallInfo, HostCallEvent } from './capabilities/registry.js';
export type { LogEntry, LogLevel } from './capabilities/builtins.js';
export type { ScriptValue } from './values.js';

// ---- state stores ----
export type { ReceiveOptions, StateStore, StoreLimits } from './state/store.js';
export { MemoryStore } from './state/memory.js';
/** Node only (better-sqlite3 and a file): `SqliteStore.open` rejects with UnavailableError elsewhere. */
export { SqliteStore } from './state/sqlite.js';
/** Node only (ioredis): a store shared by every machine on one Redis. */
export { RedisStore, type RedisStoreOptions } from './state/redis.js';
/** Node only (BullMQ on Redis): the pool of many machines, and its workers. See docs/distributed.md. */
export {
  createDistributedPool,
  type DistributedPool,
  type DistributedPoolOptions,
  type DistributedRunOptions,
  type DistributedSession,
} from './distributed/pool.js';
export type { DistributedWorker, WorkerEngineOptions, WorkerOptions } from './distributed/worker.js';
/** Browsers only (IndexedDB): `IndexedDbStore.open` rejects with UnavailableError elsewhere (Node: SqliteStore). */
export { IndexedDbStore } from './state/indexeddb.js';

// ---- pools ----
export { EnginePool, type PoolStats, type PoolOptions } from './pool/engine-pool.js';
export type { HistogramSnapshot } from './histogram.js';

// ---- fast start ----
export { snapshots };
/** @deprecated Use `snapshots.clearBrowser()`; kept for one release. */
export { clearBrowserSnapshots } from './snapshot/browser-store.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** How to start workers; `primed`: keep a worker started ahead of need for this language (fast starts). */
async function spawner(primed?: Language): Promise<{ spawn: WorkerSpawner; assets?: CoreInit['assetUrls'] }> {
  if (isNode) {
    const { spawnNodeWorker, primedNodeSpawner } = (await import('./node/worker-host.js')) as typeof import('./node/worker-host.js');
    return { spawn: primed ? primedNodeSpawner(primed) : spawnNodeWorker };
  }
  const { spawnWebWorker, ASSET_BASE } = await import('./placement/web-worker.js');
  const base = new URL(ASSET_BASE, location.href).href;
  return { spawn: spawnWebWorker, assets: { luaWasm: `${base}wasmoon/glue.wasm`, pyodideIndex: `${base}pyodide/` } };
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
  if (resolved.options.mounts !== undefined) {
    if (!isNode)
      throw new UnavailableError(
        'mounts give scripts host directories, which needs Node; in a browser, pass data through host functions or the state store',
      );
    const { checkMounts, MountedFiles } = await import('./node/mounts.js');
    resolved.files = new MountedFiles(await checkMounts(resolved.options.mounts));
  }
  if (resolved.backend !== 'wasm') {
    if (!isNode) {
      if (resolved.backend === 'native') {
        throw new UnavailableError(
          "backend 'native' runs CPython / LuaJIT through Node's koffi, which a browser does not have; use backend 'wasm' or 'auto'",
        );
      }
      settleBackend(resolved, false);
    } else {
      const libs = (await import('./node/native-libs.js')) as typeof import('./node/native-libs.js');
      // 'native' names the missing library and its package; 'auto' quietly falls back.
      if (resolved.backend === 'auto') settleBackend(resolved, libs.nativeAvailable(resolved.language));
      if (resolved.backend === 'native') {
        const lib = libs.findNative(resolved.language);
        const connect = await nativeConnector(resolved.placement);
        return started(new Engine(resolved, (init) => connect({ ...init, nativeLibrary: { ...lib } })));
      }
    }
  }
  const { connect, packagesKeyPart } = await wasmConnector(resolved);
  // Session snapshots: the engine's identity for them, and the one it starts from (checked before anything boots).
  const { EngineSessions } = await import('./session/engine-sessions.js');
  const sessions = await EngineSessions.create(resolved.language, packagesKeyPart, resolved.options.snapshotKey);
  const first = resolved.options.restore === undefined ? undefined : await sessions.check(resolved.options.restore, 'restore');
  return started(new Engine(resolved, connect, sessions), first);
}

async function started(engine: Engine, session?: Uint8Array): Promise<ScriptEngine> {
  await engine.start(session);
  return engine;
}

/** How a native engine reaches its core in each placement (Node only). */
async function nativeConnector(placement: ResolvedOptions['placement']): Promise<ConnectionFactory> {
  if (placement === 'inline') {
    const [{ connectInline }, { createNativeCore }] = await Promise.all([
      import('./placement/inline.js'),
      import('../native-bridge/cores.js'),
    ]);
    return (init) => connectInline(init, createNativeCore);
  }
  if (placement === 'process') {
    const [{ connectProcess }, { spawnNativeProcess }] = await Promise.all([
      import('./placement/process.js'),
      import('./node/process-host.js') as Promise<typeof import('./node/process-host.js')>,
    ]);
    return (init) => connectProcess(init, () => spawnNativeProcess(init));
  }
  const { spawnNodeWorker } = (await import('./node/worker-host.js')) as typeof import('./node/worker-host.js');
  return (init) => connectWorker(init, spawnNodeWorker, { sharedMemory: true });
}

/** How a wasm engine reaches its core: placement, then fast start from snapshots (Python). */
async function wasmConnector(resolved: ResolvedOptions): Promise<{ connect: ConnectionFactory; packagesKeyPart?: string }> {
  // A package set is fetched and checked before anything boots (src/packages/).
  const packages = resolved.packages && (await (await import('./packages/package-set.js')).loadPackageSet(resolved.packages));
  let connect: ConnectionFactory;
  if (resolved.placement === 'inline') {
    const [{ connectInline }, { createCore }] = await Promise.all([import('./placement/inline.js'), import('../wasm/cores.js')]);
    const wasm = resolved.language === 'python' ? pyodideModule() : undefined;
    connect = async (init) => connectInline(init, createCore, await wasm);
  } else if (resolved.placement === 'process') {
    if (!isNode) {
      throw new UnavailableError(
        "placement 'process' runs the engine in a child Node process, which a browser cannot start; use placement 'worker' (the default)",
      );
    }
    const [{ connectProcess }, { spawnEngineProcess }, { primedProcessSpawner }] = await Promise.all([
      import('./placement/process.js'),
      import('./node/process-host.js') as Promise<typeof import('./node/process-host.js')>,
      import('./node/spare-child.js') as Promise<typeof import('./node/spare-child.js')>,
    ]);
    // As the worker placement keeps a spare worker: a child started ahead, the snapshot restored.
    const spare = resolved.snapshot && resolved.snapshot.spare !== false;
    const spawn = spare ? primedProcessSpawner() : spawnEngineProcess;
    connect = (init) => connectProcess(init, spawn);
  } else {
    // A fast-starting engine is worth a pre-started worker; one booting for seconds is not.
    const spare = resolved.snapshot && resolved.snapshot.spare !== false;
    const { spawn, assets } = await spawner(spare ? resolved.language : undefined);
    const sharedMemory = sharedMemoryAvailable();
    const wasm = resolved.language === 'python' ? pyodideModule(assets) : undefined;
    connect = (init) => connectWorker(assets ? { ...init, assetUrls: assets } : init, spawn, { sharedMemory, pyodideModule: wasm });
  }
  if (packages) {
    // Every core this engine boots installs the set (in the snapshot, when one is taken).
    const placed = connect;
    // A session snapshot has them already, files and all.
    connect = (init) => placed(init.session ? init : { ...init, packages: packages.core });
  }
  if (resolved.snapshot) {
    // Python: every boot (first start and restarts) restores a memory snapshot.
    const { withSnapshots } = await import('./snapshot/fast-start.js');
    const setup = await snapshotSetup(resolved.snapshot, packages ? [packages.keyPart] : []);
    if (setup) connect = withSnapshots(connect, setup);
  }
  return packages ? { connect, packagesKeyPart: packages.keyPart } : { connect };
}

/** @deprecated Use `snapshots.releaseSpareWorker()`; kept for one release. */
export const releaseSpareWorker = (): Promise<void> => snapshots.releaseSpareWorker();

/**
 * Creates a pool of warm engines (see docs/pools.md). Resolves once `min`
 * engines answer; engine options are checked like createEngine's.
 *
 * @example
 * ```ts
 * await using pool = await createPool('python', { min: 2, max: 4, capabilities: ['log'] });
 * const v = await pool.run((engine) => engine.call('score', [42]));
 * ```
 */
/**
 * Starts a worker of a distributed pool (Node; BullMQ on Redis): warm engine pools that take
 * the jobs of `createDistributedPool` callers. What jobs may do is decided by `options`;
 * a job may only narrow the capabilities. See docs/distributed.md.
 */
export async function startWorker(options: WorkerOptions): Promise<DistributedWorker> {
  const { startWorkerWith } = await import('./distributed/worker.js');
  return startWorkerWith(options, createEngine);
}

export async function createPool(language: Language, options?: EngineOptions & PoolOptions): Promise<EnginePool> {
  checkLanguage(language);
  return EnginePool.start(language, options, createEngine);
}
