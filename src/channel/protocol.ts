/**
 * The worker message protocol: every message between the host and an engine core, as
 * one typed union per direction. The same messages travel over the SharedArrayBuffer
 * channel, over postMessage when SharedArrayBuffer is missing, over a child process's
 * pipe, or as plain calls for the inline placement.
 */
import type { ScriptValue } from '../values.js';
import type { CoreInit } from '../core.js';

/** Host -> engine. */
export type ToEngine =
  | { t: 'boot'; init: CoreInit }
  | { t: 'exec'; code: string; timeoutMs: number; stream: boolean }
  | { t: 'load'; code: string; name: string; timeoutMs: number; stream: boolean }
  | { t: 'call'; fn: string; args: ScriptValue[]; timeoutMs: number; stream: boolean; optional: boolean }
  | { t: 'setConfig'; config: ScriptValue }
  | { t: 'setHostFunctions'; names: string[] }
  | { t: 'reset' }
  | { t: 'stats' }
  | { t: 'hostReturn'; ok: true; value: ScriptValue }
  | { t: 'hostReturn'; ok: false; error: HostCallFailure };

/** Engine -> host. */
export type ToHost =
  | { t: 'ready' }
  | { t: 'done'; value: ScriptValue; defined: boolean; out: CapturedOutput }
  | { t: 'failed'; failure: CoreFailure; out: CapturedOutput }
  | { t: 'stats'; memoryBytes: number }
  | { t: 'hostCall'; name: string; args: ScriptValue[] }
  | { t: 'output'; stream: 'stdout' | 'stderr'; text: string };

/** Output a request produced, cut at `maxOutputBytes`. */
export interface CapturedOutput {
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/** Why a request failed inside the engine. */
export interface CoreFailure {
  /**
   * script: the script raised; timeout / interrupted / aborted: stopped by the interrupt word;
   * memory: over limits.memoryBytes (the engine must restart); invalid: a value could not
   * cross or a name was unknown; crashed: the core is broken and must restart.
   */
  kind: 'script' | 'timeout' | 'interrupted' | 'aborted' | 'memory' | 'invalid' | 'crashed';
  type: string;
  message: string;
  traceback?: string;
  line?: number;
  path?: string;
  /** For timeouts: the script ignored the interrupt and its worker was killed and restarted. */
  restarted?: boolean;
}

/** A host function's failure, as the script sees it (plain data only). */
export interface HostCallFailure {
  /** `PermissionError`, `Error`, `UnavailableError`... */
  type: string;
  message: string;
}
