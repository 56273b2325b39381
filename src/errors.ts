/**
 * Every error ScriptBox throws. Each has a stable `code`; callers switch on `code`
 * (or `instanceof`), never on the message.
 */
export type ErrorCode =
  | 'SCRIPT_ERROR'
  | 'TIMEOUT'
  | 'PERMISSION_DENIED'
  | 'MEMORY_LIMIT'
  | 'ENGINE_CRASHED'
  | 'INVALID_INPUT'
  | 'UNAVAILABLE'
  | 'DISPOSED'
  | 'ABORTED'
  | 'INTERRUPTED'
  | 'QUEUE_FULL';

/** Base class of every ScriptBox error. */
export class ScriptBoxError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Details of a script failure, as reported by the engine. */
export interface ScriptErrorInfo {
  /** The script language's error type: `ValueError`, `RuntimeError`, `SyntaxError`... */
  type: string;
  message: string;
  traceback?: string;
  line?: number;
}

/** The script raised an error (from `load`, `call`, `configure`...). `exec` reports it as data instead. */
export class ScriptError extends ScriptBoxError {
  readonly type: string;
  readonly traceback?: string;
  readonly line?: number;
  constructor(info: ScriptErrorInfo) {
    super('SCRIPT_ERROR', `${info.type}: ${info.message}`);
    this.type = info.type;
    if (info.traceback !== undefined) this.traceback = info.traceback;
    if (info.line !== undefined) this.line = info.line;
  }
}

/** The call ran past its time limit and was stopped. */
export class TimeoutError extends ScriptBoxError {
  /** How the engine was stopped: `interrupted` in place, or `restarted` after a hard kill. */
  readonly escalation: 'interrupted' | 'restarted';
  constructor(message: string, escalation: 'interrupted' | 'restarted' = 'interrupted') {
    super('TIMEOUT', message);
    this.escalation = escalation;
  }
}

/** The script called a host function its engine was not granted. */
export class PermissionDeniedError extends ScriptBoxError {
  constructor(message: string) {
    super('PERMISSION_DENIED', message);
  }
}

/** The engine used more memory than `limits.memoryBytes`; it was restarted. */
export class MemoryLimitError extends ScriptBoxError {
  constructor(message: string) {
    super('MEMORY_LIMIT', message);
  }
}

/** The worker or process behind the engine died; the engine restarts on the next call. */
export class EngineCrashedError extends ScriptBoxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ENGINE_CRASHED', message, options);
  }
}

/** Bad input from the caller: code too large, a value that cannot cross, a bad option. */
export class InvalidInputError extends ScriptBoxError {
  /** Where in the value the bad part is, e.g. `args[0].user.tags[2]`, when known. */
  readonly path?: string;
  constructor(message: string, path?: string) {
    super('INVALID_INPUT', message);
    if (path !== undefined) this.path = path;
  }
}

/** Something the environment lacks: a native library, SharedArrayBuffer, a wasm asset. */
export class UnavailableError extends ScriptBoxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

/** The engine (or handle) was disposed. */
export class DisposedError extends ScriptBoxError {
  constructor(message: string) {
    super('DISPOSED', message);
  }
}

/**
 * The caller aborted the call through its AbortSignal. Named `AbortError` like the
 * platform's, so code that checks `err.name === 'AbortError'` works; `reason` is the
 * signal's reason.
 */
export class AbortError extends ScriptBoxError {
  readonly reason: unknown;
  constructor(message: string, reason: unknown) {
    super('ABORTED', message, { cause: reason });
    this.reason = reason;
  }
}

/**
 * The host stopped the call: `engine.interrupt()`, or a pool interrupting its engine (an
 * aborted `pool.run` signal). Not a script bug, so not a {@link ScriptError}. `exec` reports
 * it as data with `error.type` `'Interrupted'`. (Disposing the engine ends a running call
 * with {@link DisposedError} instead: the engine is gone, not just the call.)
 */
export class InterruptedError extends ScriptBoxError {
  /** How the engine was stopped: `interrupted` in place, or `restarted` after a hard kill. */
  readonly escalation: 'interrupted' | 'restarted';
  constructor(message: string, escalation: 'interrupted' | 'restarted' = 'interrupted') {
    super('INTERRUPTED', message);
    this.escalation = escalation;
  }
}

/** A pool's queue is at `maxQueue`: the call was refused, not queued. */
export class QueueFullError extends ScriptBoxError {
  constructor(message: string) {
    super('QUEUE_FULL', message);
  }
}

/**
 * Why a request failed inside an engine, as its core reports it.
 * script: the script raised; timeout / interrupted / aborted: stopped through the interrupt
 * word; memory: over limits.memoryBytes (the engine restarts); invalid: a value could not
 * cross or a name was unknown; crashed: the core is broken and restarts.
 */
export type FailureKind = 'script' | 'timeout' | 'interrupted' | 'aborted' | 'memory' | 'invalid' | 'crashed';

/** One row of {@link FAILURES}. */
export interface FailureRow {
  /** The class a throwing method (`call`, `load`...) raises. */
  readonly code: ErrorCode;
  /**
   * `error.type` in an `exec` result, and the name the script runtimes give this stop
   * (Python and Lua get these from here at boot). `undefined` for `script`: the language's
   * own type (`ValueError`, `RuntimeError`...).
   */
  readonly scriptType: string | undefined;
  /** What the script is told, and the message's start, when the host stopped it in place. */
  readonly stopText?: string;
}

/**
 * The one error table: each failure kind, the error code (and so the class) a throwing
 * method raises for it, and the type name scripts and `exec` results use. The engine maps
 * failures through it; the Python and Lua runtimes take their stop names from it.
 */
export const FAILURES: { readonly [K in FailureKind]: FailureRow } = {
  script: { code: 'SCRIPT_ERROR', scriptType: undefined },
  timeout: { code: 'TIMEOUT', scriptType: 'TimeoutError', stopText: 'the script ran past its time limit and was stopped' },
  interrupted: { code: 'INTERRUPTED', scriptType: 'Interrupted', stopText: 'the script was interrupted' },
  aborted: { code: 'ABORTED', scriptType: 'AbortError', stopText: 'the call was aborted' },
  memory: { code: 'MEMORY_LIMIT', scriptType: 'MemoryLimitError' },
  invalid: { code: 'INVALID_INPUT', scriptType: 'InvalidInputError' },
  crashed: { code: 'ENGINE_CRASHED', scriptType: 'EngineCrashedError' },
};

/** Every failure kind, for validating what crosses a channel. */
export const FAILURE_KINDS = Object.keys(FAILURES) as readonly FailureKind[];

/** The stops a script can be told about (the interrupt word's reasons), by kind. Plain data: it crosses to the runtimes. */
export function stopNames(): Record<'timeout' | 'interrupted' | 'aborted', { type: string; text: string }> {
  const row = (k: 'timeout' | 'interrupted' | 'aborted') => ({ type: FAILURES[k].scriptType!, text: FAILURES[k].stopText! });
  return { timeout: row('timeout'), interrupted: row('interrupted'), aborted: row('aborted') };
}
