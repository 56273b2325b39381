/**
 * EngineCore: what every backend implements once, wherever a placement runs it
 * (caller's thread, worker, child process). A core is synchronous at heart: a script
 * that calls the host blocks in `env.hostCall` until the answer is there.
 */
import type { AsyncHostResult, CapturedOutput, CoreFailure, HostCallFailure } from './channel/protocol.js';
import type { ScriptValue } from './values.js';

export type Language = 'python' | 'lua';

/** Limits as the core enforces them (all resolved, no undefined). */
export interface CoreLimits {
  memoryBytes: number;
  maxOutputBytes: number;
  maxValueDepth: number;
  /** Largest value the core builds for the host (results, host-call arguments, error text). */
  maxValueBytes: number;
}

/** Everything a core needs to boot. Plain data: it crosses to workers and processes. */
export interface CoreInit {
  language: Language;
  /** Which backend boots: absent means wasm; 'native' is real LuaJIT / CPython (native-bridge/). */
  backend?: 'native';
  /** Native: the library the host found (src/node/native-libs.ts), so workers and child processes load the same one. */
  nativeLibrary?: { path: string; via: string; home?: string; version?: string };
  engineId: string;
  limits: CoreLimits;
  hostFunctions: string[];
  /** wasm: the mount points (`mounts`) the engine's file APIs see, as script paths; files are reached by host calls. */
  mounts?: { path: string; readOnly: boolean }[];
  /** The host gave `onInput`: Lua's `io.read` exists (without it the script has no `io`, as before). */
  input?: boolean;
  config: ScriptValue;
  /** Where the backend's wasm lives when the default lookup does not apply (browsers). */
  assetUrls?: { luaWasm?: string; pyodideIndex?: string };
  /**
   * Python: boot from this Pyodide memory snapshot (docs/snapshots.md). A core
   * that cannot use it boots from scratch and takes a new one (see CoreBoot.rejected).
   */
  snapshot?: Uint8Array;
  /** Python: take a memory snapshot while booting, before anything engine-specific, for the host to keep. */
  makeSnapshot?: boolean;
  /**
   * Boot from this session snapshot instead of a fresh state: the core's part of a
   * `SessionSnapshot` (docs/session-snapshots.md), which the host checked. A core that
   * cannot restore it fails to boot with a failure of type `SessionRefused` (src/session/refused.ts).
   */
  session?: Uint8Array;
  /** Python: a package set to install before any user code runs (src/packages/; in the snapshot when one is taken). */
  packages?: CorePackages;
}

/** A package set as a core installs it: wheels in install order, then the modules to import. */
export interface CorePackages {
  wheels: { name: string; fileName: string; bytes: Uint8Array }[];
  imports: string[];
}

/** How a core booted (Python; other cores always boot from scratch). */
export interface CoreBoot {
  /** Booted from CoreInit.snapshot. */
  restored: boolean;
  /** The snapshot taken while booting (CoreInit.makeSnapshot, or a rejected snapshot). */
  snapshot?: Uint8Array;
  /** Why CoreInit.snapshot was not used. */
  rejected?: string;
  /** Restored before the engine asked, by a spare worker (docs/snapshots.md). */
  ahead?: boolean;
  /** The native backend's child process: which OS limits it applied and which the OS refused. */
  isolation?: { applied: string[]; refused: string[] };
}

/** What a core gets from its placement. */
export interface CoreEnv {
  /** Non-zero when the host asks the running code to stop (see InterruptReason). */
  interruptWord: Int32Array;
  /** Calls a host function and blocks until it answers. Throws {@link HostCallError}. */
  hostCall(name: string, args: ScriptValue[]): ScriptValue;
  /** Starts a host call without waiting (Python's `host.aio`); returns its id. */
  hostStart(name: string, args: ScriptValue[]): number;
  /** Blocks up to `timeoutMs` until started calls finish; returns those that did (maybe none). */
  hostWait(timeoutMs: number): AsyncHostResult[];
  /**
   * Present where the core's thread must not block (the worker's postMessage fallback): the
   * same wait, without blocking. A core that has it answers a request that waits for
   * `host.aio` results asynchronously and never calls hostWait.
   */
  hostWaitAsync?(timeoutMs: number): Promise<AsyncHostResult[]>;
  /** Streams output while a request runs (only when the host asked for streaming). */
  output(stream: 'stdout' | 'stderr', text: string): void;
  /** pyodide.asm.wasm, compiled once per process by the placement (not plain data: never in CoreInit). */
  pyodideModule?: WebAssembly.Module;
  /** Python: an interpreter a spare worker restored from the snapshot before this engine asked for it. */
  restoredAhead?: Promise<unknown>;
}

/** A host function's failure, raised inside the core so the script sees a plain error. */
export class HostCallError extends Error {
  constructor(readonly failure: HostCallFailure) {
    super(failure.message);
  }
}

/** How one request ran. */
export interface RunContext {
  timeoutMs: number;
  stream: boolean;
}

export type CoreOutcome =
  { ok: true; value: ScriptValue; defined: boolean; out: CapturedOutput } | { ok: false; failure: CoreFailure; out: CapturedOutput };

export type MaybePromise<T> = T | Promise<T>;

/** The backend contract. Every method reports script failures as data. */
export interface EngineCore {
  readonly language: Language;
  /** Runs code REPL-style: the value of a trailing expression (or `return`) is the result. */
  exec(code: string, run: RunContext): MaybePromise<CoreOutcome>;
  /** Runs code for its definitions; the result value is unused. */
  load(code: string, name: string, run: RunContext): MaybePromise<CoreOutcome>;
  /** Calls a (dotted) global function. With `optional`, a missing function is `defined: false`, not a failure. */
  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): MaybePromise<CoreOutcome>;
  /**
   * Makes an object and keeps it in the core's handle table: Python calls the (dotted)
   * class or factory; Lua calls `T.new(...)` when `T` is a table with `new`, else `T(...)`.
   * The value is always a WireHandle, whatever the object is.
   */
  create(cls: string, args: ScriptValue[], run: RunContext): MaybePromise<CoreOutcome>;
  /** Calls a method of a handle's object (Lua: `obj:method(...)`); `__call__` calls the object itself. */
  callMethod(handle: number, method: string, args: ScriptValue[], run: RunContext): MaybePromise<CoreOutcome>;
  /** Reads an attribute of a handle's object (Lua: `obj[attr]`, through `__index`). */
  getAttr(handle: number, attr: string, run: RunContext): MaybePromise<CoreOutcome>;
  /** Forgets handles; unknown ids are ignored. */
  release(ids: number[]): void;
  /** How many handles the core holds. */
  handleCount(): number;
  /** Installs a pure-Python wheel (Python only; other cores leave it out). */
  install?(wheel: Uint8Array, name: string, run: RunContext): MaybePromise<CoreOutcome>;
  setHostFunctions(names: string[]): void;
  /** Back to a fresh state: no user globals and no handles left. */
  reset(): MaybePromise<void>;
  memoryBytes(): number;
  /**
   * Work that readies the core for its next request, run where it costs the caller nothing:
   * a worker runs it right after it posts an answer. Never required: a request that finds
   * it undone does it itself.
   */
  idle?(): void;
  /**
   * The core's state as bytes (a session snapshot's payload: docs/session-snapshots.md),
   * taken between requests. Cores that cannot snapshot leave it out.
   */
  saveSession?(): MaybePromise<Uint8Array>;
  /**
   * Replaces the state in place with a session payload this backend took (the host checked
   * it), faster than booting a new core from it; `undefined` means CoreInit.session, the
   * one the core booted from (Python keeps it: pool templates). Throws if it cannot; the
   * host then boots a new core from the payload instead.
   */
  restoreSession?(payload: Uint8Array | undefined): void;
  /** How the core booted; hands over the snapshot it took, once. */
  bootInfo?(): CoreBoot;
  dispose(): void;
}

/** Boots a core for a language. Implemented by the backends' entry (`wasm/cores.ts`). */
export type CoreFactory = (init: CoreInit, env: CoreEnv) => Promise<EngineCore>;
