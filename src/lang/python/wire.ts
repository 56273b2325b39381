/**
 * The JavaScript half of the Python value wire (runtime.py holds the other): JSON, with
 * one-key objects `{"\u0000": [kind, data]}` for what JSON lacks (bytes, big ints,
 * non-finite floats, maps with non-string keys, handles). Strings are the only thing that
 * crosses into Python, so no JavaScript object ever does.
 */
import { WireHandle, type ScriptValue } from '../../values.js';

const TAG = '\u0000';

type Tagged = { [TAG]: [string, unknown] };

const tag = (kind: string, data: unknown): Tagged => ({ [TAG]: [kind, data] });

const NodeBuffer = (
  globalThis as {
    Buffer?: { from(a: ArrayBufferLike, o: number, n: number): { toString(e: string): string }; from(s: string, e: string): Uint8Array };
  }
).Buffer;

export function toBase64(b: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  if (NodeBuffer) {
    const b = NodeBuffer.from(s, 'base64');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function prepare(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : tag('f', Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
    case 'bigint':
      return tag('i', v.toString());
  }
  if (v instanceof Uint8Array) return tag('b', toBase64(v));
  // The engine id rides along so Python can refuse another engine's handle by path.
  if (v instanceof WireHandle) return tag('h', [v.id, v.kind, v.engineId]);
  if (Array.isArray(v)) return v.map(prepare);
  if (v instanceof Map)
    return tag(
      'm',
      [...v].map(([k, x]) => [prepare(k), prepare(x)]),
    );
  const o = v as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(o, TAG))
    return tag(
      'm',
      Object.entries(o).map(([k, x]) => [k, prepare(x)]),
    );
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = prepare(o[k]);
  return out;
}

/** A checked ScriptValue as wire text. */
export function toWire(v: ScriptValue | ScriptValue[]): string {
  return JSON.stringify(prepare(v));
}

function untag(kind: string, data: unknown, engineId: string | undefined): unknown {
  switch (kind) {
    case 'h': {
      // Only replies to host requests carry handles; Python's own requests never do.
      if (engineId === undefined) break;
      const [id, k] = data as [unknown, unknown];
      if (!Number.isSafeInteger(id) || typeof k !== 'string') throw new Error('malformed wire handle');
      return new WireHandle(engineId, id as number, k);
    }
    case 'b':
      return fromBase64(data as string);
    case 'i': {
      const n = BigInt(data as string);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'f':
      return data === 'nan' ? NaN : data === 'inf' ? Infinity : -Infinity;
    case 'm': {
      const entries = data as [unknown, unknown][];
      if (entries.every(([k]) => typeof k === 'string')) return Object.fromEntries(entries);
      return new Map(entries);
    }
  }
  throw new Error(`unknown wire tag ${kind}`);
}

const reviver = (engineId: string | undefined) =>
  function (this: unknown, _key: string, v: unknown): unknown {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === TAG) {
        const [kind, data] = (v as Tagged)[TAG];
        return untag(kind, data, engineId);
      }
    }
    return v;
  };

/**
 * Wire text from Python as a value. Handle tags become WireHandles of `engineId`; without
 * one (requests Python wrote to the device) a handle tag is refused.
 */
export function fromWire(text: string, engineId?: string): unknown {
  return text.includes('\\u0000') ? JSON.parse(text, reviver(engineId)) : JSON.parse(text);
}
