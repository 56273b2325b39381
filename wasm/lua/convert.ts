/**
 * Moves values between JS and the Lua stack through the raw C API, following DESIGN §4.
 * Only plain data crosses: tables become arrays / objects / Maps, never proxies. Objects
 * with no value form cross as handles when the caller's read policy says so (handles.ts).
 */
import { InvalidInputError } from '../../src/errors.js';
import { MapEntries, WireHandle, type ScriptValue } from '../../src/values.js';
import { LUA_REGISTRYINDEX, T, type LuaModule } from './lua-api.js';
import { cutNote } from './failures.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** `path.key` or `path[key]`, for messages naming where a value is. */
export function keyPath(path: string, key: unknown): string {
  if (typeof key === 'string') return /^[A-Za-z_]\w*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
  return `${path}[${String(key)}]`;
}

/** By lua_type number, the same in Lua 5.4 and LuaJIT (which adds 10, FFI cdata). */
const TYPE_NAMES: Record<number, string> = { 0: 'nil', 1: 'boolean', 2: 'userdata', 3: 'number', 4: 'string', 5: 'table', 6: 'function', 7: 'userdata', 8: 'thread', 10: 'cdata' };

export function luaTypeName(t: number): string {
  return TYPE_NAMES[t] ?? 'value';
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

/** Turns a WireHandle coming into Lua back into its object (pushes it, or throws). */
export interface HandleResolver {
  push(L: number, h: WireHandle, path: string): void;
}

export class LuaConvert {
  private scratch: number;
  private scratchSize = 4096;
  private readonly lenPtr: number;

  constructor(
    private readonly m: LuaModule,
    private readonly maxDepth: number,
    /** Registry ref of the metatable `host.bytes` marks strings with. */
    private readonly bytesRef: number,
    private readonly handles: HandleResolver,
    /** limits.maxValueBytes: what one read may add up to. */
    private readonly maxBytes: number,
    /** tostring() of the value at an index, run protected by the core (it may run a metamethod). */
    private readonly describe: (L: number, at: number, type: number) => string,
  ) {
    this.scratch = m._malloc(this.scratchSize);
    this.lenPtr = m._malloc(8);
  }

  /** How the REPL shows a function or userdata: its tostring(), like the Lua prompt. */
  readonly asText: ReadPolicy = {
    opaque: (L, t, _path, at) => this.describe(L, at, t),
  };

  dispose(): void {
    this.m._free(this.scratch);
    this.m._free(this.lenPtr);
  }

  /** Copies bytes into wasm memory (a reused scratch buffer) and returns the pointer. */
  private place(bytes: Uint8Array): number {
    if (bytes.length + 1 > this.scratchSize) {
      this.m._free(this.scratch);
      this.scratchSize = Math.max(bytes.length + 1, this.scratchSize * 2);
      this.scratch = this.m._malloc(this.scratchSize);
      if (!this.scratch) throw new InvalidInputError(`a value of ${bytes.length} bytes does not fit in the engine's memory`);
    }
    this.m.HEAPU8.set(bytes, this.scratch);
    this.m.HEAPU8[this.scratch + bytes.length] = 0;
    return this.scratch;
  }

  /** Compiles a text chunk (never binary) and pushes it, or the error message; the Lua status. */
  compile(L: number, code: string, name: string): number {
    const bytes = encoder.encode(code);
    const rest = encoder.encode(`=${name}\0t`); // chunk name, then the mode "t" (the NUL after it is place()'s)
    const all = new Uint8Array(bytes.length + 1 + rest.length);
    all.set(bytes);
    all.set(rest, bytes.length + 1);
    const p = this.place(all);
    return this.m._luaL_loadbufferx(L, p, bytes.length, p + bytes.length + 1, p + all.length - 1);
  }

  pushString(L: number, s: string | Uint8Array): void {
    const bytes = typeof s === 'string' ? encoder.encode(s) : s;
    this.m._lua_pushlstring(L, this.place(bytes), bytes.length);
  }

  /** Pushes a JS value. Throws InvalidInputError naming the path of what cannot cross. */
  push(L: number, v: unknown, path: string, depth = 0): void {
    const m = this.m;
    if (!m._lua_checkstack(L, 4)) throw new InvalidInputError(`${path} is nested too deeply for the Lua stack`, path);
    switch (typeof v) {
      case 'undefined':
        return m._lua_pushnil(L);
      case 'boolean':
        return m._lua_pushboolean(L, v ? 1 : 0);
      case 'number':
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) return m._lua_pushinteger(L, BigInt(v));
        return m._lua_pushnumber(L, v);
      case 'bigint':
        if (v < INT64_MIN || v > INT64_MAX) {
          throw new InvalidInputError(`${path} (${v}) does not fit in a Lua integer (int64); pass it as a string`, path);
        }
        return m._lua_pushinteger(L, v);
      case 'string':
        return this.pushString(L, v);
    }
    if (v === null) return m._lua_pushnil(L);
    if (v instanceof Uint8Array) return this.pushString(L, v);
    if (v instanceof WireHandle) return this.handles.push(L, v, path);
    if (depth >= this.maxDepth) {
      throw new InvalidInputError(`${path} is nested deeper than limits.maxValueDepth (${this.maxDepth})`, path);
    }
    if (Array.isArray(v)) {
      m._lua_createtable(L, v.length, 0);
      for (let i = 0; i < v.length; i++) {
        this.push(L, v[i], `${path}[${i}]`, depth + 1);
        m._lua_rawseti(L, -2, BigInt(i + 1));
      }
      return;
    }
    if (v instanceof Map || v instanceof MapEntries) {
      const entries = v instanceof Map ? [...v] : v.entries;
      m._lua_createtable(L, 0, entries.length);
      for (const [k, x] of entries) {
        if (k === null || k === undefined) throw new InvalidInputError(`${path} has a nil key, which Lua tables cannot hold`, path);
        this.push(L, k, `${path}.<key>`, depth + 1);
        this.push(L, x, keyPath(path, k), depth + 1);
        m._lua_rawset(L, -3);
      }
      return;
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v);
      m._lua_createtable(L, 0, keys.length);
      for (const k of keys) {
        this.pushString(L, k);
        this.push(L, (v as Record<string, unknown>)[k], keyPath(path, k), depth + 1);
        m._lua_rawset(L, -3);
      }
      return;
    }
    throw new InvalidInputError(`${path} is a ${typeof v}, which cannot cross into Lua`, path);
  }

  /** Reads the string at `idx` as text when it is valid UTF-8, else as bytes; a budget counts its bytes first. */
  private readString(L: number, idx: number, forceBytes = false, budget?: ValueBudget, path = ''): string | Uint8Array {
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    const len = this.m.HEAPU32[this.lenPtr >> 2]!;
    budget?.add(len + PART_BYTES, path);
    const view = this.m.HEAPU8.subarray(p, p + len);
    if (!forceBytes) {
      try {
        return utf8.decode(view);
      } catch {
        // not UTF-8: bytes
      }
    }
    return view.slice();
  }

  /**
   * Reads a string key or value for messages (always text). With `max`, reads at most that
   * many bytes and says how much it cut: a script controls the length of what it raises.
   */
  text(L: number, idx: number, max?: number): string {
    const [s, len] = this.textUpTo(L, idx, max ?? Infinity);
    return max !== undefined && len > max ? s + cutNote(len, max) : s;
  }

  /** The first `max` bytes of the string (or number) at `idx` as text, and its full length in bytes. */
  textUpTo(L: number, idx: number, max: number): [string, number] {
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    if (!p) return ['', 0];
    const len = this.m.HEAPU32[this.lenPtr >> 2]!;
    // Not fatal: a cut may split a character, and messages are text whatever the bytes.
    return [new TextDecoder().decode(this.m.HEAPU8.subarray(p, p + Math.min(len, max))), len];
  }

  /**
   * Reads the value at `idx`. `policy` decides what values with no plain form become;
   * `budget` (limits.maxValueBytes by default) what the whole answer may add up to.
   */
  read(L: number, idx: number, path: string, policy: ReadPolicy, budget = new ValueBudget(this.maxBytes)): ScriptValue {
    return this.readAt(L, this.m._lua_absindex(L, idx), path, 0, new Set(), policy, budget);
  }

  private readAt(L: number, idx: number, path: string, depth: number, seen: Set<number>, policy: ReadPolicy, budget: ValueBudget): ScriptValue {
    const m = this.m;
    const type = m._lua_type(L, idx);
    if (type !== T.String) budget.add(PART_BYTES, path);
    switch (type) {
      case T.None:
      case T.Nil:
        return null;
      case T.Boolean:
        return m._lua_toboolean(L, idx) !== 0;
      case T.Number:
        if (m._lua_isinteger(L, idx)) {
          const n = m._lua_tointegerx(L, idx, 0);
          return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
        }
        return m._lua_tonumberx(L, idx, 0);
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
    const m = this.m;
    if (!m._lua_checkstack(L, 2)) throw new InvalidInputError('the Lua stack is full');
    if (!m._lua_getmetatable(L, idx)) return 'none';
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.bytesRef));
    const same = m._lua_rawequal(L, -1, -2) !== 0;
    m._lua_settop(L, -3);
    return same ? 'bytes' : 'instance';
  }

  private readTable(L: number, idx: number, path: string, depth: number, seen: Set<number>, policy: ReadPolicy, budget: ValueBudget): ScriptValue {
    const m = this.m;
    const meta = this.metaKind(L, idx);
    // An instance is a leaf, like a function: no depth or cycle check applies to it.
    if (meta === 'instance' && policy.instance) return policy.instance(L, path, idx);
    if (depth >= this.maxDepth) {
      throw new InvalidInputError(`${path} is nested deeper than limits.maxValueDepth (${this.maxDepth})`, path);
    }
    const ptr = m._lua_topointer(L, idx);
    if (seen.has(ptr)) throw new InvalidInputError(`${path} refers back to one of its parents (a cycle)`, path);
    if (!m._lua_checkstack(L, 6)) throw new InvalidInputError(`${path} is nested too deeply`, path);
    if (meta === 'bytes') {
      m._lua_rawgeti(L, idx, 1n);
      const b = m._lua_type(L, -1) === T.String ? this.readString(L, -1, true, budget, path) : new Uint8Array();
      m._lua_settop(L, -2);
      return b;
    }
    seen.add(ptr);
    const n = Number(m._lua_rawlen(L, idx));
    const entries: [ScriptValue, ScriptValue][] = [];
    let count = 0;
    let allStringKeys = true;
    let sequence = true;
    m._lua_pushnil(L);
    while (m._lua_next(L, idx)) {
      count++;
      const kt = m._lua_type(L, -2);
      // Never lua_tolstring a number key in place: it would break lua_next.
      const key: ScriptValue =
        kt === T.String
          ? this.readString(L, -2, false, budget, `${path}.<key>`)
          : this.readAt(L, m._lua_absindex(L, -2), `${path}.<key>`, depth + 1, seen, policy, budget);
      if (typeof key !== 'string') allStringKeys = false;
      if (!(typeof key === 'number' && Number.isInteger(key) && key >= 1 && key <= n)) sequence = false;
      const value = this.readAt(L, m._lua_absindex(L, -1), keyPath(path, typeof key === 'number' ? key - 1 : key), depth + 1, seen, policy, budget);
      entries.push([key, value]);
      m._lua_settop(L, -2);
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
