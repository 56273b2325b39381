/**
 * Moves values between JS and a Lua stack (either backend, through its LuaStack),
 * following DESIGN §4. Only plain data crosses: tables become arrays / objects / Maps, never
 * proxies. Values with no plain form become handles when the read policy says so
 * (handles.ts).
 *
 * Everything here runs outside lua_pcall: it only uses LuaStack calls, which cannot raise
 * and never run a metamethod, and refuses what lua_rawset would raise on (nil and NaN keys).
 */
import { InvalidInputError } from '../../errors.js';
import { MapEntries, WireHandle, type ScriptValue } from '../../values.js';
import { cutNote } from './failures.js';
import { T, luaTypeName, type LuaStack } from './stack.js';

/** `path.key` or `path[key]`, for messages naming where a value is. */
export function keyPath(path: string, key: unknown): string {
  if (typeof key === 'string') return /^[A-Za-z_]\w*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
  return `${path}[${String(key)}]`;
}

/** What reading makes of values with no plain form. */
export interface ReadPolicy {
  /** A function, userdata or thread (or, in LuaJIT, cdata). */
  opaque(L: number, type: number, path: string, index: number): ScriptValue;
  /** A table with a metatable (an instance), other than host.bytes; unset: read as a plain table. */
  instance?(L: number, path: string, index: number): ScriptValue;
}

/** What load reads (and drops) its chunk's results with. */
export const PLAIN_ONLY: ReadPolicy = {
  opaque: (_L, t, path) => {
    throw new InvalidInputError(`${path} is a Lua ${luaTypeName(t)}, which has no value form; return data instead`, path);
  },
};

/** Host function arguments are plain data only. */
export const TO_HOST: ReadPolicy = {
  opaque: (_L, t, path) => {
    throw new InvalidInputError(`${path} is a ${luaTypeName(t)}, which cannot be sent to the host`);
  },
};

/**
 * What the host will reassemble from a value being read, counted as the converter walks
 * (DESIGN §4, issue 17 class 6): a string counts its bytes at every reference, so a table
 * holding one 1 MiB string 250 times counts 250 MiB and is refused after the 8th, long
 * before the host sees any of it. The count is close to the value's MessagePack size.
 * One budget spans one answer (every result of a call, every argument of a host call).
 */
export class ValueBudget {
  private used = 0;
  constructor(readonly max: number) {}

  /** Counts `bytes` more for the part at `path`; throws InvalidInputError once the total passes max. */
  add(bytes: number, path: string): void {
    this.used += bytes;
    if (this.used > this.max) {
      throw new InvalidInputError(
        `${path} makes the value larger than limits.maxValueBytes (${this.max} bytes; a string counts every time it is referenced); ` +
          'send or return less data (or a handle to it), or raise limits.maxValueBytes',
        path,
      );
    }
  }
}

/** What one value costs in a budget besides its string bytes: close to its MessagePack header. */
export const PART_BYTES = 9;

/** Strict, and keeps a leading U+FEFF: a string read back is the string that was pushed. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Up to this many bytes, a string is checked for UTF-8 in JS before it is decoded: a
 * refused decode throws, and the throw (5-10 us) costs more than checking a short string
 * (~1 us per KiB). Longer strings go straight to the decoder, which checks far faster
 * than JS and whose throw is then small beside the string's size.
 */
const CHECK_FIRST = 1024;

/** True when `b` is well-formed UTF-8: exactly what a fatal TextDecoder accepts (no overlongs, surrogates or code points past U+10FFFF). */
export function isUtf8(b: Uint8Array): boolean {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c < 0xc2 || c > 0xf4) return false;
    const need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    if (i + need >= n) return false;
    // The second byte's range depends on the first (Unicode Table 3-7); the others are plain continuations.
    const c1 = b[i + 1]!;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return false;
    for (let k = 2; k <= need; k++) if ((b[i + k]! & 0xc0) !== 0x80) return false;
    i += need + 1;
  }
  return true;
}

/** The text of `b` when it is valid UTF-8, else undefined. Never throws. */
export function utf8Text(b: Uint8Array): string | undefined {
  if (b.length <= CHECK_FIRST) return isUtf8(b) ? utf8.decode(b) : undefined;
  try {
    return utf8.decode(b);
  } catch {
    return undefined; // not UTF-8: the caller reads bytes
  }
}

/** Turns a WireHandle coming into Lua back into its object (pushes it, or throws). */
export interface HandleResolver {
  push(L: number, h: WireHandle, path: string): void;
}

/**
 * The string at `idx` as text for messages (never fails: a cut may split a character, and
 * messages are text whatever the bytes); '' when it is not a string. With `max`, reads at
 * most that many bytes and says how much it cut: a script controls the length of what it raises.
 */
export function luaText(stack: LuaStack, L: number, idx: number, max?: number): string {
  if (stack.type(L, idx) !== T.String) return '';
  const s = stack.string(L, idx);
  const len = s.length;
  const text = new TextDecoder().decode(s.bytes(max));
  return max !== undefined && len > max ? text + cutNote(len, max) : text;
}

export class LuaConvert {
  /** Registry ref of the metatable `host.bytes` marks strings with (set per Lua state). */
  bytesRef = 0;

  constructor(
    private readonly stack: LuaStack,
    private readonly maxDepth: number,
    private readonly handles: HandleResolver,
    /** limits.maxValueBytes: what one read may add up to. */
    private readonly maxBytes: number,
    /** How the REPL shows a value with no value form (a function): its tostring(), run protected by the core. */
    private readonly describe: (L: number, at: number, type: number) => string,
  ) {}

  /** How the REPL shows a function or userdata: its tostring(), like the Lua prompt. */
  readonly asText: ReadPolicy = {
    opaque: (L, t, _path, at) => this.describe(L, at, t),
  };

  /** Reads a string value for messages (see luaText). */
  text(L: number, idx: number, max?: number): string {
    return luaText(this.stack, L, idx, max);
  }

  /** Pushes a JS value. Throws InvalidInputError naming the path of what cannot cross. */
  push(L: number, v: unknown, path: string, depth = 0): void {
    const s = this.stack;
    if (!s.checkstack(L, 4)) throw new InvalidInputError(`${path} is nested too deeply for the Lua stack`, path);
    switch (typeof v) {
      case 'undefined':
        return s.pushnil(L);
      case 'boolean':
        return s.pushboolean(L, v);
      case 'number':
        return s.pushNumber(L, v);
      case 'bigint':
        return s.pushBigInt(L, v, path);
      case 'string':
        return s.pushString(L, v);
    }
    if (v === null) return s.pushnil(L);
    if (v instanceof Uint8Array) return s.pushString(L, v);
    if (v instanceof WireHandle) return this.handles.push(L, v, path);
    if (depth >= this.maxDepth) {
      throw new InvalidInputError(`${path} is nested deeper than limits.maxValueDepth (${this.maxDepth})`, path);
    }
    if (Array.isArray(v)) {
      s.createtable(L, v.length, 0);
      for (let i = 0; i < v.length; i++) {
        this.push(L, v[i], `${path}[${i}]`, depth + 1);
        s.rawseti(L, -2, i + 1);
      }
      return;
    }
    if (v instanceof Map || v instanceof MapEntries) {
      const entries = v instanceof Map ? [...v] : v.entries;
      s.createtable(L, 0, entries.length);
      for (const [k, x] of entries) {
        // lua_rawset raises on a nil or NaN key: refuse them here, outside any pcall.
        if (k === null || k === undefined) throw new InvalidInputError(`${path} has a nil key, which Lua tables cannot hold`, path);
        if (typeof k === 'number' && Number.isNaN(k))
          throw new InvalidInputError(`${path} has a NaN key, which Lua tables cannot hold`, path);
        this.push(L, k, `${path}.<key>`, depth + 1);
        this.push(L, x, keyPath(path, k), depth + 1);
        s.rawset(L, -3);
      }
      return;
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v);
      s.createtable(L, 0, keys.length);
      for (const k of keys) {
        s.pushString(L, k);
        this.push(L, (v as Record<string, unknown>)[k], keyPath(path, k), depth + 1);
        s.rawset(L, -3);
      }
      return;
    }
    throw new InvalidInputError(`${path} is a ${typeof v}, which cannot cross into Lua`, path);
  }

  /** Reads the string at `idx` as text when it is valid UTF-8, else as bytes; a budget counts its bytes first. */
  private readString(L: number, idx: number, forceBytes: boolean, budget: ValueBudget, path: string): string | Uint8Array {
    const s = this.stack.string(L, idx);
    budget.add(s.length + PART_BYTES, path);
    // One view of the engine's bytes: decoded from it, or copied out of it once.
    const view = s.bytes();
    if (!forceBytes) {
      const text = utf8Text(view);
      if (text !== undefined) return text;
    }
    return view.slice();
  }

  /**
   * Reads the value at `idx`. `policy` decides what values with no plain form become;
   * `budget` (limits.maxValueBytes by default) what the whole answer may add up to.
   */
  read(L: number, idx: number, path: string, policy: ReadPolicy, budget = new ValueBudget(this.maxBytes)): ScriptValue {
    return this.readAt(L, this.stack.absindex(L, idx), path, 0, new Set(), policy, budget);
  }

  private readAt(
    L: number,
    idx: number,
    path: string,
    depth: number,
    seen: Set<number>,
    policy: ReadPolicy,
    budget: ValueBudget,
  ): ScriptValue {
    const s = this.stack;
    const type = s.type(L, idx);
    if (type !== T.String) budget.add(PART_BYTES, path);
    switch (type) {
      case T.None:
      case T.Nil:
        return null;
      case T.Boolean:
        return s.toboolean(L, idx);
      case T.Number:
        return s.toNumber(L, idx);
      case T.String:
        return this.readString(L, idx, false, budget, path);
      case T.Table:
        return this.readTable(L, idx, path, depth, seen, policy, budget);
      default:
        return policy.opaque(L, type, path, idx);
    }
  }

  /** The table's metatable: none, the host.bytes marker, or another (an instance). */
  private metaKind(L: number, idx: number): 'none' | 'bytes' | 'instance' {
    const s = this.stack;
    if (!s.checkstack(L, 2)) throw new InvalidInputError('the Lua stack is full');
    if (!s.getmetatable(L, idx)) return 'none';
    s.pushRef(L, this.bytesRef);
    const same = s.rawequal(L, -1, -2);
    s.settop(L, -3);
    return same ? 'bytes' : 'instance';
  }

  private readTable(
    L: number,
    idx: number,
    path: string,
    depth: number,
    seen: Set<number>,
    policy: ReadPolicy,
    budget: ValueBudget,
  ): ScriptValue {
    const s = this.stack;
    const meta = this.metaKind(L, idx);
    // An instance is a leaf, like a function: no depth or cycle check applies to it.
    if (meta === 'instance' && policy.instance) return policy.instance(L, path, idx);
    if (depth >= this.maxDepth) {
      throw new InvalidInputError(`${path} is nested deeper than limits.maxValueDepth (${this.maxDepth})`, path);
    }
    const ptr = s.topointer(L, idx);
    if (seen.has(ptr)) throw new InvalidInputError(`${path} refers back to one of its parents (a cycle)`, path);
    if (!s.checkstack(L, 6)) throw new InvalidInputError(`${path} is nested too deeply`, path);
    if (meta === 'bytes') {
      s.rawgeti(L, idx, 1);
      const b = s.type(L, -1) === T.String ? this.readString(L, -1, true, budget, path) : new Uint8Array();
      s.settop(L, -2);
      return b;
    }
    seen.add(ptr);
    const n = s.rawlen(L, idx);
    const entries: [ScriptValue, ScriptValue][] = [];
    let count = 0;
    let allStringKeys = true;
    let sequence = true;
    s.pushnil(L);
    while (s.next(L, idx)) {
      count++;
      const kt = s.type(L, -2);
      // Never lua_tolstring a number key in place: it would break lua_next (readAt reads numbers as numbers).
      const key: ScriptValue =
        kt === T.String
          ? this.readString(L, -2, false, budget, `${path}.<key>`)
          : this.readAt(L, s.absindex(L, -2), `${path}.<key>`, depth + 1, seen, policy, budget);
      if (typeof key !== 'string') allStringKeys = false;
      if (!(typeof key === 'number' && Number.isInteger(key) && key >= 1 && key <= n)) sequence = false;
      const value = this.readAt(
        L,
        s.absindex(L, -1),
        keyPath(path, typeof key === 'number' ? key - 1 : key),
        depth + 1,
        seen,
        policy,
        budget,
      );
      entries.push([key, value]);
      s.settop(L, -2);
    }
    seen.delete(ptr);
    if (sequence && count === n) {
      const arr: ScriptValue[] = new Array(n);
      for (const [k, v] of entries) arr[(k as number) - 1] = v;
      return arr;
    }
    if (allStringKeys) {
      const obj: Record<string, ScriptValue> = {};
      for (const [k, v] of entries) obj[k as string] = v;
      return obj;
    }
    return new Map(entries);
  }
}
