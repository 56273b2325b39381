/**
 * The runtime's request entries (runtime.py `exec_`, `load`, `call`...) with their
 * arguments, as both Python cores call them: strings, numbers and booleans only, so each
 * backend passes them to Python its own way (Pyodide's proxies, the C API). The script
 * arguments of a call go separately, in marshal's format, on the backend's value channel
 * (`staged`): the entry gets their byte count and whether they hold handles.
 */
import type { ScriptValue } from '../../values.js';
import { toMarshal } from './marshal.js';

/** A request entry of the runtime. */
export type RequestEntry = 'exec_' | 'load' | 'call' | 'create' | 'call_method' | 'get_attr';

/**
 * One call of a request entry: its name, its arguments (the last is always
 * limits.maxValueDepth), and the bytes to put on the value channel first, if any.
 */
export type EntryCall = [entry: RequestEntry, args: (string | number | boolean)[], staged?: Uint8Array];

/** The script arguments as the entries take them: [byte count, holds handles], and the bytes. */
function argsOf(args: ScriptValue[]): [[number, boolean], Uint8Array | undefined] {
  if (args.length === 0) return [[0, false], undefined];
  const { bytes, handles } = toMarshal(args);
  return [[bytes.length, handles], bytes];
}

/** The entry call for each EngineCore request method. */
export const entryCall = {
  exec: (code: string, depth: number): EntryCall => ['exec_', [code, depth]],
  load: (code: string, name: string, depth: number): EntryCall => ['load', [code, name, depth]],
  call: (fn: string, args: ScriptValue[], optional: boolean, depth: number): EntryCall => {
    const [counts, staged] = argsOf(args);
    return ['call', [fn, ...counts, optional, depth], staged];
  },
  create: (cls: string, args: ScriptValue[], depth: number): EntryCall => {
    const [counts, staged] = argsOf(args);
    return ['create', [cls, ...counts, depth], staged];
  },
  callMethod: (handle: number, method: string, args: ScriptValue[], depth: number): EntryCall => {
    const [counts, staged] = argsOf(args);
    return ['call_method', [handle, method, ...counts, depth], staged];
  },
  getAttr: (handle: number, attr: string, depth: number): EntryCall => ['get_attr', [handle, attr, depth]],
} as const;
