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

/** A pool's queue is at `maxQueue`: the call was refused, not queued. */
export class QueueFullError extends ScriptBoxError {
  constructor(message: string) {
    super('QUEUE_FULL', message);
  }
}

const byCode: Record<ErrorCode, (message: string) => ScriptBoxError> = {
  SCRIPT_ERROR: (m) => new ScriptError({ type: 'Error', message: m }),
  TIMEOUT: (m) => new TimeoutError(m),
  PERMISSION_DENIED: (m) => new PermissionDeniedError(m),
  MEMORY_LIMIT: (m) => new MemoryLimitError(m),
  ENGINE_CRASHED: (m) => new EngineCrashedError(m),
  INVALID_INPUT: (m) => new InvalidInputError(m),
  UNAVAILABLE: (m) => new UnavailableError(m),
  DISPOSED: (m) => new DisposedError(m),
  ABORTED: (m) => new AbortError(m, undefined),
  QUEUE_FULL: (m) => new QueueFullError(m),
};

/** Rebuilds an error class from its code after it crossed a channel as plain data. */
export function errorFromCode(code: string, message: string, path?: string): ScriptBoxError {
  if (code === 'INVALID_INPUT') return new InvalidInputError(message, path);
  const make = byCode[code as ErrorCode];
  return make ? make(message) : new EngineCrashedError(`unexpected error from the engine: ${message}`);
}
