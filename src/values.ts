/**
 * The value model (DESIGN §4) and its wire codec.
 *
 * Values cross threads and processes as MessagePack (msgpackr). Extension types carry
 * what MessagePack lacks: Maps with non-string keys and handles to objects inside an
 * engine. Bigints ride as int64 or, when larger, msgpackr's bigint extension.
 */
import { Packr, addExtension } from 'msgpackr';
import type { RemoteObject } from './engine/types.js';
import { InvalidInputError } from './errors.js';

/** A value that can cross between the host and a script. */
export type ScriptValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | ScriptValue[]
  | { [key: string]: ScriptValue }
  | Map<ScriptValue, ScriptValue>
  /** An object inside the engine: a result with no value form, or an argument passed back. */
  | RemoteObject
  | WireHandle;

/** A reference to an object that lives inside an engine (no value form). */
export class WireHandle {
  constructor(
    readonly engineId: string,
    readonly id: number,
    /** What the object is, for messages: `Rect`, `function`, `table`. */
    readonly kind: string,
  ) {}
}

const EXT_MAP = 0x51;
const EXT_HANDLE = 0x52;
// 0x53 carried errors once (WireError); it stays unassigned so old frames fail to decode.

addExtension({
  Class: WireHandle,
  type: EXT_HANDLE,
  write: (h: WireHandle) => [h.engineId, h.id, h.kind],
  read: (a: [string, number, string]) => new WireHandle(a[0], a[1], a[2]),
});

/** Maps travel as an entry list so that non-string keys survive (MessagePack decoders would stringify them). */
export class MapEntries {
  constructor(readonly entries: [unknown, unknown][]) {}
}
addExtension({
  Class: MapEntries,
  type: EXT_MAP,
  write: (m: MapEntries) => m.entries,
  read: (entries: [unknown, unknown][]) => new Map(entries),
});

const packr = new Packr({
  useRecords: false,
  int64AsType: 'auto' as 'number',
  useBigIntExtension: true,
  mapsAsObjects: true,
  moreTypes: false,
});

/** Options for {@link checkValue}. */
export interface CheckOptions {
  maxDepth: number;
  /** Name of the root in error paths, e.g. `args`. */
  root: string;
  /**
   * Turns a handle object (a RemoteObject) into the reference that crosses, or returns
   * undefined for anything else. Throws when the handle cannot be used here.
   */
  handle?: (v: object, path: string) => WireHandle | undefined;
}

function describe(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  let ctor: unknown;
  try {
    ctor = (v as object)?.constructor?.name;
  } catch {
    // a getter or Proxy trap that throws: the message must still be made
  }
  return typeof ctor === 'string' && ctor ? `an instance of ${ctor}` : 'an object with a null-less prototype';
}

const byteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteLength')!.get!;

/** True for a Uint8Array with bytes of its own (instanceof and prototypes can be faked). */
export function isRealUint8Array(v: object): boolean {
  try {
    byteLength.call(v);
    return true;
  } catch {
    return false;
  }
}

function keyPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * Checks that `value` follows §4 and returns it in the form the codec packs (Maps wrapped).
 * Throws InvalidInputError naming the path of the first bad part.
 */
export function checkValue(value: unknown, opts: CheckOptions): ScriptValue {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): unknown => {
    switch (typeof v) {
      case 'undefined':
      case 'boolean':
      case 'number':
      case 'bigint':
      case 'string':
        return v;
      case 'function':
      case 'symbol':
        throw new InvalidInputError(
          `${path} is ${describe(v)}, which cannot cross into a script; pass plain data, or register a host function and call it by name`,
          path,
        );
    }
    if (v === null) return v;
    if (depth >= opts.maxDepth) {
      throw new InvalidInputError(
        `${path} is nested deeper than limits.maxValueDepth (${opts.maxDepth}); flatten the value or raise the limit`,
        path,
      );
    }
    const obj = v as object;
    if (obj instanceof Uint8Array) {
      // instanceof trusts the prototype chain: a fake or proxied Uint8Array has no real bytes.
      if (!isRealUint8Array(obj)) throw new InvalidInputError(`${path} is not a real Uint8Array; pass a Uint8Array of its own bytes`, path);
      return obj;
    }
    if (obj instanceof WireHandle) return obj;
    const ref = opts.handle?.(obj, path);
    if (ref) return ref;
    if (seen.has(obj)) {
      throw new InvalidInputError(`${path} refers back to one of its parents (a cycle); values must be trees`, path);
    }
    seen.add(obj);
    let out: unknown;
    if (Array.isArray(obj)) {
      out = obj.map((item, i) => walk(item, keyPath(path, i), depth + 1));
    } else if (obj instanceof Map) {
      const entries: [unknown, unknown][] = [];
      let own: [unknown, unknown][];
      try {
        // The real Map iterator: a fake Map (Object.create(Map.prototype), a Proxy) has no entries of its own.
        own = [...(Map.prototype.entries.call(obj) as IterableIterator<[unknown, unknown]>)];
      } catch {
        throw new InvalidInputError(`${path} is not a real Map; pass a Map or a plain object`, path);
      }
      let i = 0;
      for (const [k, item] of own) {
        const p = `${path}.<entry ${i++}>`;
        const label =
          typeof k === 'string'
            ? k
            : typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean'
              ? String(k)
              : `<key ${i - 1}>`;
        entries.push([walk(k, `${p}.key`, depth + 1), walk(item, keyPath(path, label), depth + 1)]);
      }
      out = new MapEntries(entries);
    } else {
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) {
        throw new InvalidInputError(
          `${path} is ${describe(obj)}; only plain objects, arrays, Maps, Uint8Array and primitives can cross (convert it first)`,
          path,
        );
      }
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(obj)) {
        copy[key] = walk((obj as Record<string, unknown>)[key], keyPath(path, key), depth + 1);
      }
      out = copy;
    }
    seen.delete(obj);
    return out;
  };
  return walk(value, opts.root, 0) as ScriptValue;
}

/** Packs a value already passed through {@link checkValue} (or produced by an engine). */
export function encode(value: unknown): Uint8Array {
  return packr.pack(wrapMaps(value));
}

// Engines produce real Maps; msgpackr would write them as plain maps and lose non-string keys.
function wrapMaps(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (v instanceof Map) return new MapEntries([...v].map(([k, x]) => [wrapMaps(k), wrapMaps(x)]));
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = wrapMaps(v[i]);
    return v;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = wrapMaps(o[k]);
  return o;
}

/** Unpacks bytes from {@link encode}. Buffers come back as plain Uint8Array views. */
export function decode(bytes: Uint8Array): unknown {
  return fixBytes(packr.unpack(bytes));
}

// msgpackr returns Node Buffers under Node; the contract says Uint8Array everywhere.
function fixBytes(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) {
    return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = fixBytes(v[i]);
    return v;
  }
  if (v instanceof Map) {
    const m = new Map();
    for (const [k, x] of v) m.set(fixBytes(k), fixBytes(x));
    return m;
  }
  if (v instanceof WireHandle) return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = fixBytes(o[k]);
  return o;
}

/** Joins byte chunks into one array (a single chunk is returned as is). */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
