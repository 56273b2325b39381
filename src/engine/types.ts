/**
 * The public engine contract (DESIGN §2): ScriptEngine, its options and results.
 */
import type { HostCallEvent, HostCallInfo, HostFunction } from '../capabilities/registry.js';
import type { LogEntry } from '../capabilities/builtins.js';
import type { ScriptBoxError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import type { ScriptValue } from '../values.js';
import type { RichOutput } from '../channel/protocol.js';

export type { RichOutput };

import type { SessionSnapshot } from '../session/snapshot.js';

export type Language = 'python' | 'lua';
export type Backend = 'wasm' | 'native';
export type Placement = 'worker' | 'inline' | 'process';

/** Resource limits. Defaults: see docs/api.md "Options and limits". */
export interface Limits {
  /** Per call (exec, call, load...). Default 30 000 ms. */
  timeoutMs?: number;
  /** Memory the script may use. Default 256 MiB. */
  memoryBytes?: number;
  /** Largest code string accepted by exec / load. Default 1 MiB. */
  maxCodeBytes?: number;
  /** Output kept per call; the rest is cut and `truncated` set. Default 1 MiB. */
  maxOutputBytes?: number;
  /** Deepest nesting of a value crossing the boundary. Default 64. */
  maxValueDepth?: number;
  /**
   * Largest value (result, argument of a host call, error text, channel message) that the
   * engine side may build for the host, counted as it is built. Default 8 MiB (8x maxOutputBytes).
   */
  maxValueBytes?: number;
  /** Time an interrupted script gets to stop before its worker is killed and restarted. Default 500 ms. */
  graceMs?: number;
  /**
   * Call quotas per capability pattern for the engine's lifetime, e.g. `{ 'net.fetch': 10 }`.
   * A call past its quota raises PermissionError in the script.
   */
  hostCalls?: Record<string, number>;
}

export interface EngineOptions {
  /** `wasm` (default): the WebAssembly sandbox. `native` / `auto`: see docs/native.md. */
  backend?: 'wasm' | 'native' | 'auto';
  /** Where the engine runs. Default `worker`. */
  placement?: Placement;
  /** Must be true for placements that do not isolate the script (`inline`). */
  trusted?: boolean;
  /**
   * Start from a session snapshot (`engine.snapshot()`, or its bytes) instead of a fresh
   * state: the script's globals, functions, imports and files as they were. The engine
   * keeps its own options (capabilities, host functions, limits): a snapshot grants
   * nothing. It must be of the same language, runtime version and package set; restarts
   * boot from it too. wasm only. See docs/session-snapshots.md.
   */
  restore?: SessionSnapshot | Uint8Array;
  /**
   * A secret (at least 32 bytes or characters) that signs the snapshots this engine takes
   * (HMAC-SHA256) and without whose signature it restores none: set it wherever snapshots
   * travel or rest outside your control. See docs/session-snapshots.md.
   */
  snapshotKey?: string | Uint8Array;
  /** Granted capability patterns: `log`, `kv.read`, `kv.*`, `*`. Default none. */
  capabilities?: string[];
  /** Host functions the script may call as `host.<name>`, each guarded by a capability (default: its name). */
  hostFunctions?: Record<string, HostFunction | { fn: HostFunction; capability?: string }>;
  /** Contextual check run after the capability check; false denies the call. */
  authorize?: (call: HostCallInfo) => boolean | Promise<boolean>;
  /** Audit hook: one event per host call, allowed or not. */
  onHostCall?: (event: HostCallEvent) => void;
  limits?: Limits;
  /** Readable by scripts through `host.config` (with the capabilities issue); kept across restarts. */
  config?: Record<string, ScriptValue>;
  /** Streams output while a call runs. */
  onOutput?: (chunk: { stream: 'stdout' | 'stderr'; text: string }) => void;
  /**
   * What the script reads as its terminal: Python's `input()` / `sys.stdin`, Lua's
   * `io.read()` wait for it (the prompt is printed to stdout and passed here). Answer a line
   * (no newline needed) or `null` for end of input. Without it, reads see end of input
   * (Python: EOFError naming this option). Async answers need the `worker` or `process`
   * placement; see docs/script-api.md "input".
   */
  onInput?: (prompt: string) => string | null | Promise<string | null>;
  /** Where `host.log` goes (capability `log`). Default: the console, prefixed with the engine id. */
  onLog?: (entry: LogEntry) => void;
  /** host[:port] patterns `host.fetch` may reach (`api.example.com`, `127.0.0.1:8080`, `*.example.com`). Default: none. */
  allowedHosts?: string[];
  /** Host directories scripts may use through `host.fs` (Node): `[{ hostPath, path: '/data', readOnly }]`. */
  mounts?: { hostPath: string; path: string; readOnly?: boolean }[];
  /** Shared kv and channels (`host.kv`, `host.channel`). Default: a private MemoryStore. */
  state?: StateStore;
  /**
   * Fast start (Python): boot from a Pyodide memory snapshot taken after the interpreter,
   * the runtime and the sandbox's lockdown were set up, instead of booting from scratch;
   * restarts use it too. `true` (default): snapshots are cached in
   * `node_modules/.cache/scriptbox/snapshots` of the current package (else the OS temp
   * directory) in Node, and in Cache Storage in browsers. `{ dir }`: cache them in that
   * directory (Node). `{ spare: false }`: do not keep a worker with the snapshot restored
   * ahead of the next engine (Node; it costs one engine's memory, ~50 MB). `false`: always
   * boot from scratch. Lua ignores it. See docs/snapshots.md.
   */
  snapshot?: boolean | { dir?: string; spare?: boolean };
  /** Disposes the engine when aborted. */
  signal?: AbortSignal;
  /**
   * Python (wasm): packages installed, with their dependencies, before any user code runs,
   * and on every restart; in the snapshot key, so a snapshot starts with them imported.
   * Resolved with the source's `pyodide-lock.json`; each wheel's sha256 is checked. See docs/packages.md.
   */
  packages?: string[];
  /**
   * Where `packages` come from (only from here: a script cannot name another source): a
   * URL laid out like Pyodide's index (`<url>/pyodide-lock.json`, wheels beside it), or a
   * directory of wheels with its lock file (Node, offline). Default: the Pyodide package
   * index of the installed `pyodide` version on its CDN.
   */
  packageSource?: string | URL;
}

export interface RunOptions {
  /** Overrides limits.timeoutMs for this call. */
  timeoutMs?: number;
  /**
   * Aborting stops the call: a queued call is dropped without running, a running one is
   * interrupted (then killed after graceMs). The promise rejects with AbortError.
   */
  signal?: AbortSignal;
}

/** What `exec` returns. Script errors and timeouts are data here, never throws. */
export interface ExecResult {
  success: boolean;
  /** Value of a trailing expression (or `return`), REPL-style. */
  value?: ScriptValue;
  stdout: string;
  stderr: string;
  /** Rich outputs (`display`, `host.display`) in call order; `[]` when none. They count against `limits.maxOutputBytes`. */
  outputs: RichOutput[];
  truncated: boolean;
  error?: { type: string; message: string; traceback?: string; line?: number };
  durationMs: number;
  timedOut: boolean;
}

/** How the engine last lost its core (see EngineStats.lastCrash). */
export interface EngineCrash {
  kind: 'killed' | 'died' | 'malformed' | 'crashed' | 'memory' | 'replay';
  during: string;
  message: string;
  atMs: number;
}

export interface EngineStats {
  /** Memory the script's heap uses now. */
  memoryBytes: number;
  /** Objects the engine holds for live RemoteObjects. */
  handles: number;
  execs: number;
  calls: number;
  hostCalls: number;
  /** Times the engine was restarted (after a kill, crash or memory limit). */
  restarts: number;
  uptimeMs: number;
  /**
   * The highest step of the escalation ladder that fired last: `interrupted` in place;
   * `restarted`: the worker or process was killed (or died) and a new core restored the
   * memory snapshot; `cold-booted`: the new core booted from scratch (Lua, `snapshot:
   * false`, or a snapshot that could not be used). Set to `restarted` at the kill and
   * made exact once the new core is up (see `lastRecovery`).
   */
  lastEscalation: 'interrupted' | 'restarted' | 'cold-booted' | null;
  /** The last replacement of a killed or dead core: how it started, and ms from the loss to a core with every loaded script replayed. */
  lastRecovery: { boot: 'snapshot' | 'scratch'; ms: number } | null;
  /**
   * The last time the engine lost its core, and why (null: never). `kind`: `killed` (the
   * code ignored the interrupt for graceMs and its worker or process was killed), `died`
   * (the worker or process ended on its own), `malformed` (it sent something that is not
   * the protocol), `crashed` (the core reported itself broken: a wasm abort, an error
   * escaping the interpreter), `memory` (over limits.memoryBytes), `replay` (a loaded
   * script or wheel failed to replay on a new core). `during`: the request that ran
   * (`exec`, `call('f')`, `stats`, `RemoteObject.dispose`, `replay load('main')`...);
   * `atMs`: ms after the engine was created.
   */
  lastCrash: EngineCrash | null;
  /**
   * Native backend, placement `process`: the OS limits its child process runs under
   * (`applied`) and those the OS refused (`refused`), in words. Absent elsewhere.
   */
  isolation?: { applied: string[]; refused: string[] };
}

/**
 * A handle to an object living inside an engine: what `create` returns, and what a result
 * with no value form (an instance, a function) becomes. Passed back as an argument, it is
 * the object itself. Valid until disposed or until its engine restarts (then DisposedError).
 */
export interface RemoteObject extends AsyncDisposable {
  /** The id inside the engine. */
  readonly id: number;
  /** What the object is (`Rect`, `function`, `table`), for messages. */
  readonly kind: string;
  /** Calls a method (Python `obj.m(*args)`, Lua `obj:m(...)`); `'__call__'` calls the object itself. */
  call(method: string, args?: ScriptValue[], opts?: RunOptions): Promise<ScriptValue>;
  /** Reads an attribute (Python) or a field (Lua). */
  get(attr: string, opts?: RunOptions): Promise<ScriptValue>;
  /** Frees the object inside the engine; forgotten handles are freed when garbage-collected. */
  dispose(): Promise<void>;
}

/** One sandboxed interpreter. Calls run one at a time, in arrival order. */
export interface ScriptEngine extends AsyncDisposable {
  readonly language: Language;
  readonly backend: Backend;
  readonly placement: Placement;
  readonly id: string;
  /** Runs code REPL-style. Never throws for script errors, timeouts or interrupts: see `success`. */
  exec(code: string, opts?: RunOptions): Promise<ExecResult>;
  /** Runs code for its definitions. Throws ScriptError (with `line`) if it fails. */
  load(code: string, name?: string): Promise<void>;
  loadFile(path: string | URL): Promise<void>;
  /**
   * Python: installs a pure-Python wheel (a file path, an http(s)/file URL, or its bytes)
   * into site-packages; kept across restarts. No package index is reached: a wheel whose
   * dependencies are not installed yet raises UnavailableError naming them.
   */
  install(wheel: string | URL | Uint8Array): Promise<void>;
  /**
   * The engine's state now, as a {@link SessionSnapshot}: globals, functions, imported
   * modules, installed wheels and (Python) the files of its own file system. Runs after
   * the calls queued before it. Handles, host capabilities and mounted files are not in
   * it. wasm engines only (native ones throw UnavailableError). See docs/session-snapshots.md.
   */
  snapshot(): Promise<SessionSnapshot>;
  /**
   * Replaces the engine's state with a snapshot's (checked first: InvalidInputError if it
   * is damaged, foreign or of another runtime; the state is then unchanged). RemoteObjects
   * made before it raise DisposedError; loaded scripts are no longer replayed on restart,
   * the snapshot is the state restarts come back to.
   */
  restore(snapshot: SessionSnapshot | Uint8Array): Promise<void>;
  /** load(), then calls `init()` if the script defines it. */
  loadInit(code: string, name?: string): Promise<void>;
  /** Calls a script function; dotted names (`geom.area`) look into tables / modules. */
  call(fn: string, args?: ScriptValue[], opts?: RunOptions): Promise<ScriptValue>;
  /**
   * Calls a script function synchronously and returns its value: for latency-critical paths
   * on trusted `inline` engines (the core runs on the caller's thread, so no thread hop and
   * no promise). It blocks the caller's thread (the event loop included) until the function
   * returns or its time limit (`opts.timeoutMs`, else `limits.timeoutMs`) stops it: the core
   * checks its own deadline, as for any inline call.
   *
   * Inline only. It refuses, without running anything:
   * - on placement `worker` or `process`: UnavailableError (use `await call(...)`);
   * - while another call on this engine is queued or running (it never waits; the same
   *   while a host function of a running call calls it): UnavailableError;
   * - while the engine replaces a lost core: UnavailableError (`call` waits for the new one);
   * - after `dispose()`: DisposedError.
   *
   * Otherwise it throws what `call` rejects with, with the same message: ScriptError,
   * TimeoutError (the engine stays usable), InvalidInputError, MemoryLimitError...
   * Host functions the script calls meanwhile must be synchronous (as inline requires).
   * It takes no AbortSignal: nothing else runs on the thread to abort it.
   */
  callSync(fn: string, args?: ScriptValue[], opts?: Pick<RunOptions, 'timeoutMs'>): ScriptValue;
  /** Makes an object in the engine (Python `geom.Rect(2, 3)`, Lua `Rect.new(2, 3)`) and returns a handle. */
  create(cls: string, args?: ScriptValue[], opts?: RunOptions): Promise<RemoteObject>;
  registerHostFunction(name: string, fn: HostFunction, opts?: { capability?: string }): void;
  /** Sets the config and calls the script's `configure(config)` if it defines one. */
  configure(config: ScriptValue): Promise<void>;
  /** Calls a function once so later calls are warm. */
  warmup(fn: string, args?: ScriptValue[]): Promise<void>;
  /** Calls the script's `cleanup()` (or `fn`) if defined. */
  cleanup(fn?: string): Promise<void>;
  /** Re-runs one loaded script, or (no name) all of them on a fresh state. */
  reload(name?: string): Promise<void>;
  /**
   * Stops the running call, if any: in place where the code notices; code that does not
   * stop within `limits.graceMs` is killed and the engine restarted (as for a timeout). The
   * call rejects with InterruptedError (`exec` reports `error.type` `'Interrupted'`).
   */
  interrupt(): void;
  /** The last failure of any call on this engine. */
  readonly lastError: ScriptBoxError | null;
  stats(): Promise<EngineStats>;
  dispose(): Promise<void>;
}
