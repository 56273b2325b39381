/**
 * The runtime's request entries (runtime.py `exec_`, `load`, `call`...) with their
 * arguments, as both Python cores call them: strings, numbers and booleans only, so each
 * backend passes them to Python its own way (Pyodide's proxies, the C API).
 */
import type { ScriptValue } from '../../values.js';
import { toWire } from './wire.js';

/** A request entry of the runtime. */
export type RequestEntry = 'exec_' | 'load' | 'call' | 'create' | 'call_method' | 'get_attr';

/** One call of a request entry: its name and arguments (the last is always limits.maxValueDepth). */
export type EntryCall = [entry: RequestEntry, args: (string | number | boolean)[]];

/** The entry call for each EngineCore request method. */
export const entryCall = {
  exec: (code: string, depth: number): EntryCall => ['exec_', [code, depth]],
  load: (code: string, name: string, depth: number): EntryCall => ['load', [code, name, depth]],
  call: (fn: string, args: ScriptValue[], optional: boolean, depth: number): EntryCall => ['call', [fn, toWire(args), optional, depth]],
  create: (cls: string, args: ScriptValue[], depth: number): EntryCall => ['create', [cls, toWire(args), depth]],
  callMethod: (handle: number, method: string, args: ScriptValue[], depth: number): EntryCall => [
    'call_method',
    [handle, method, toWire(args), depth],
  ],
  getAttr: (handle: number, attr: string, depth: number): EntryCall => ['get_attr', [handle, attr, depth]],
} as const;
