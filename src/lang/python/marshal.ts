/**
 * The JavaScript half of the Python value path: values cross into Python and back in
 * Python's own `marshal` format, version 2 (no back-references), which the interpreter
 * reads and writes in C (`marshal.loads`, `marshal.dumps`). No text codec sits between:
 * strings are UTF-8 bytes, bytes are copied as they are, numbers are binary.
 *
 * Tuples never carry values (the runtime turns a script's tuples into lists); they are the
 * tags: `('h', id, kind[, engineId])` a handle, `('m', [[key, value], ...])` a dict whose
 * keys are not all strings (a JavaScript Map).
 *
 * What the writer makes goes to the runtime (trusted input for `marshal.loads`). What the
 * reader reads comes from the interpreter the script runs in: it is checked like any
 * input, and anything that is not the format above fails with MarshalError.
 */
import { MapEntries, WireHandle } from '../../values.js';

/** Bytes from the interpreter that are not a value. */
export class MarshalError extends Error {
  override name = 'MarshalError';
}

/** Handle tags start with this string (a script's data cannot make a tuple). */
const HANDLE = 'h';
const MAP = 'm';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** A growing buffer. */
class Out {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  /** Set once a handle is written: the runtime then resolves the tags it reads. */
  handles = false;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }
  u32(type: number, n: number): void {
    this.room(5);
    this.buf[this.pos] = type;
    this.view.setInt32(this.pos + 1, n, true);
    this.pos += 5;
  }
}

const T = {
  NONE: 0x4e, // N
  TRUE: 0x54, // T
  FALSE: 0x46, // F
  INT: 0x69, // i
  LONG: 0x6c, // l
  FLOAT: 0x67, // g
  UNICODE: 0x75, // u
  INTERNED: 0x74, // t
  BYTES: 0x73, // s
  LIST: 0x5b, // [
  TUPLE: 0x28, // (
  DICT: 0x7b, // {
  NULL: 0x30, // 0: the end of a dict
} as const;

/**
 * A string with lone surrogates as marshal writes them (UTF-8 with surrogates passed
 * through), so Python sees the same string; TextEncoder would make them U+FFFD.
 */
function encodeSurrogates(s: string, into: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) into[n++] = c;
    else if (c < 0x800) {
      into[n++] = 0xc0 | (c >> 6);
      into[n++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      into[n++] = 0xe0 | (c >> 12);
      into[n++] = 0x80 | ((c >> 6) & 63);
      into[n++] = 0x80 | (c & 63);
    } else {
      into[n++] = 0xf0 | (c >> 18);
      into[n++] = 0x80 | ((c >> 12) & 63);
      into[n++] = 0x80 | ((c >> 6) & 63);
      into[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

const wellFormed = (s: string): boolean => (s as { isWellFormed?(): boolean }).isWellFormed?.() ?? !/[\ud800-\udfff]/.test(s);

function writeString(o: Out, s: string): void {
  // UTF-8 is at most three bytes per UTF-16 unit.
  o.room(5 + s.length * 3);
  const start = o.pos + 5;
  const written = wellFormed(s) ? utf8.encodeInto(s, o.buf.subarray(start)).written : encodeSurrogates(s, o.buf.subarray(start));
  o.buf[o.pos] = T.UNICODE;
  o.view.setInt32(o.pos + 1, written, true);
  o.pos = start + written;
}

/** A big integer as marshal's base-2**15 digits, the sign in the count. */
function writeLong(o: Out, n: bigint): void {
  const negative = n < 0n;
  let m = negative ? -n : n;
  const digits: number[] = [];
  while (m > 0n) {
    digits.push(Number(m & 0x7fffn));
    m >>= 15n;
  }
  o.u32(T.LONG, negative ? -digits.length : digits.length);
  o.room(digits.length * 2);
  for (const d of digits) {
    o.view.setUint16(o.pos, d, true);
    o.pos += 2;
  }
}

function writeNumber(o: Out, n: number): void {
  // As the JSON wire did: an integer JSON would print without an exponent is a Python int.
  if (Number.isInteger(n) && Math.abs(n) < 1e21) {
    if (n >= INT32_MIN && n <= INT32_MAX) o.u32(T.INT, n === 0 ? 0 : n);
    else writeLong(o, BigInt(n));
    return;
  }
  o.room(9);
  o.buf[o.pos] = T.FLOAT;
  o.view.setFloat64(o.pos + 1, n, true);
  o.pos += 9;
}

function write(o: Out, v: unknown, key: boolean): void {
  if (v === null || v === undefined) return o.byte(T.NONE);
  switch (typeof v) {
    case 'boolean':
      return o.byte(v ? T.TRUE : T.FALSE);
    case 'number':
      return writeNumber(o, v);
    case 'string':
      return writeString(o, v);
    case 'bigint':
      return writeLong(o, v);
  }
  if (v instanceof Uint8Array) {
    o.u32(T.BYTES, v.length);
    o.room(v.length);
    o.buf.set(v, o.pos);
    o.pos += v.length;
    return;
  }
  if (v instanceof WireHandle) {
    // The engine id rides along so Python can refuse another engine's handle by path.
    o.handles = true;
    o.u32(T.TUPLE, 4);
    writeString(o, HANDLE);
    writeNumber(o, v.id);
    writeString(o, v.kind);
    writeString(o, v.engineId);
    return;
  }
  if (Array.isArray(v)) {
    // A list cannot be a dict key in Python: as a key it is a tuple.
    o.u32(key ? T.TUPLE : T.LIST, v.length);
    for (const x of v) write(o, x, key);
    return;
  }
  o.byte(T.DICT);
  // checkValue hands Maps over as MapEntries (what crosses a worker's channel becomes a Map again).
  if (v instanceof Map || v instanceof MapEntries) {
    for (const [k, x] of v instanceof Map ? v : v.entries) {
      write(o, k, true);
      write(o, x, false);
    }
  } else {
    const obj = v as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      writeString(o, k);
      write(o, obj[k], false);
    }
  }
  o.byte(T.NULL);
}

/** Marshal bytes for the runtime's `marshal.loads`, and whether they hold handle tags. */
export interface Marshalled {
  bytes: Uint8Array;
  handles: boolean;
}

/**
 * Checked values (src/values.ts checkValue) as marshal bytes. `prefix` bytes are left
 * free at the start for the channel's own header.
 */
export function toMarshal(v: unknown, prefix = 0): Marshalled {
  const o = new Out(64 + prefix);
  o.pos = prefix;
  write(o, v, false);
  return { bytes: o.buf.subarray(0, o.pos), handles: o.handles };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Reads what the runtime wrote; `engineId` owns the handles in it. */
class In {
  private pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly engineId: string | undefined,
    private readonly maxDepth: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private fail(what: string): never {
    throw new MarshalError(`the Python runtime wrote ${what} at byte ${this.pos} of its value`);
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) this.fail('a value cut short');
  }

  private count(): number {
    this.need(4);
    const n = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return n;
  }

  end(): void {
    if (this.pos !== this.buf.length) this.fail('more after its value');
  }

  value(depth: number): unknown {
    if (depth > this.maxDepth) this.fail('a value nested deeper than limits.maxValueDepth');
    this.need(1);
    const type = this.buf[this.pos++];
    switch (type) {
      case T.NONE:
        return null;
      case T.TRUE:
        return true;
      case T.FALSE:
        return false;
      case T.INT:
        return this.count();
      case T.LONG:
        return this.long();
      case T.FLOAT: {
        this.need(8);
        const f = this.view.getFloat64(this.pos, true);
        this.pos += 8;
        return f;
      }
      case T.UNICODE:
      case T.INTERNED: {
        const n = this.count();
        this.need(n);
        const s = fromUtf8.decode(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n;
        return s;
      }
      case T.BYTES: {
        const n = this.count();
        this.need(n);
        const b = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        return b;
      }
      case T.LIST: {
        const n = this.count();
        // Every item takes at least a byte: a count past the end is a lie, not an allocation.
        this.need(n);
        const out = new Array<unknown>(n);
        for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
        return out;
      }
      case T.DICT:
        return this.dict(depth);
      case T.TUPLE:
        return this.tag(depth);
    }
    return this.fail(`type byte ${type}`);
  }

  private long(): number | bigint {
    const n = this.count();
    const size = Math.abs(n);
    this.need(size * 2);
    let m = 0n;
    for (let i = size - 1; i >= 0; i--) m = (m << 15n) | BigInt(this.view.getUint16(this.pos + i * 2, true));
    this.pos += size * 2;
    if (n < 0) m = -m;
    return m >= -MAX_SAFE && m <= MAX_SAFE ? Number(m) : m;
  }

  private dict(depth: number): unknown {
    const obj: Record<string, unknown> = {};
    for (;;) {
      this.need(1);
      if (this.buf[this.pos] === T.NULL) {
        this.pos++;
        return obj;
      }
      const k = this.value(depth + 1);
      if (typeof k !== 'string') this.fail('a dict key that is not a string (those cross as a tagged map)');
      const v = this.value(depth + 1);
      // A key named __proto__ is data, never the object's prototype.
      if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
      else obj[k] = v;
    }
  }

  private tag(depth: number): unknown {
    const n = this.count();
    const kind = n >= 2 && n <= 3 ? this.value(depth + 1) : undefined;
    if (kind === HANDLE && n === 3 && this.engineId !== undefined) {
      const id = this.value(depth + 1);
      const what = this.value(depth + 1);
      if (!Number.isSafeInteger(id) || typeof what !== 'string') this.fail('a malformed handle');
      return new WireHandle(this.engineId, id as number, what);
    }
    if (kind === MAP && n === 2) {
      const pairs = this.value(depth + 1);
      if (!Array.isArray(pairs)) this.fail('a malformed map');
      const entries = pairs as unknown[];
      for (const p of entries) if (!Array.isArray(p) || p.length !== 2) this.fail('a malformed map entry');
      const kv = entries as [unknown, unknown][];
      if (kv.every(([k]) => typeof k === 'string')) {
        const obj: Record<string, unknown> = {};
        for (const [k, v] of kv) {
          if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
          else obj[k as string] = v;
        }
        return obj;
      }
      return new Map(kv);
    }
    return this.fail('a tuple that is no tag');
  }
}

/**
 * A value the runtime wrote (runtime.py `_dump`), with handle tags as WireHandles of
 * `engineId` (without one, as in the runtime's requests, a handle tag is refused). Throws
 * MarshalError for bytes that are not one value of the format. Bytes in the value are
 * views of `bytes`.
 */
export function fromMarshal(bytes: Uint8Array, engineId: string | undefined, maxDepth: number): unknown {
  const r = new In(bytes, engineId, maxDepth + 2);
  const v = r.value(0);
  r.end();
  return v;
}
