/**
 * Moves values between JS and a LuaJIT stack, following DESIGN §4 (as wasm/lua/convert.ts
 * does for the wasm backend). Only plain data crosses: tables become arrays / objects /
 * Maps, never proxies; values with no plain form become handles when the read policy says.
 *
 * Everything here runs outside lua_pcall, so it only uses API calls that cannot raise
 * (raw access, pushes, type checks, lua_next with keys it was given) and never runs a
 * metamethod. Numbers are doubles: a bigint outside ±2^53 cannot cross.
 */
import { InvalidInputError } from '../../src/errors.js';
import { MapEntries, WireHandle, type ScriptValue } from '../../src/values.js';
// The read policies and type names are the wasm backend's (a cdata is one more value with no plain form).
import { PART_BYTES, ValueBudget, keyPath, luaTypeName, type HandleResolver, type ReadPolicy } from '../../wasm/lua/convert.js';
import { cutNote } from '../../wasm/lua/failures.js';
import type { LuaStack } from '../../wasm/lua/lua-stack.js';
import { LUA_GLOBALSINDEX, LUA_REGISTRYINDEX, T, type LuaJitLib } from './lib.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();
/** Doubles hold every integer up to 2^53 exactly. */
const MAX_EXACT = 2n ** 53n;

/** lua_absindex, which LuaJIT does not export. */
export function absIndex(lib: LuaJitLib, L: number, idx: number): number {
  return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lib.lua_gettop(L) + idx + 1;
}


/**
 * Native memory shared with LuaJIT: a SharedArrayBuffer (its memory never moves), for
 * string bytes in both directions and the length out-parameter of lua_tolstring.
 */
class Scratch {
  u8!: Uint8Array;
  private u32!: Uint32Array;
  address = 0;
  constructor(private readonly lib: LuaJitLib) {
    this.alloc(64 * 1024);
  }
  private alloc(size: number): void {
    const sab = new SharedArrayBuffer(size);
    this.u8 = new Uint8Array(sab);
    this.u32 = new Uint32Array(sab);
    this.address = this.lib.addressOf(this.u8);
  }
  /** Where lua_tolstring writes the length (a size_t at offset 0). */
  get lenAddress(): number {
    return this.address;
  }
  get len(): number {
    return this.u32[0]! + this.u32[1]! * 2 ** 32;
  }
  /** The data area (offset 8), grown to hold n bytes. */
  room(n: number): number {
    if (n + 8 > this.u8.length) this.alloc(Math.max(n + 8, this.u8.length * 2));
    return 8;
  }
}

export class LuaJitConvert {
  private readonly scratch: Scratch;

  constructor(
    private readonly lib: LuaJitLib,
    private readonly maxDepth: number,
    private readonly handles: HandleResolver,
    /** limits.maxValueBytes: what one read may add up to. */
    private readonly maxBytes: number,
    /**
     * lua_pcall as the core runs script code (limits.ts `script`: memory cap on, hook
     * armed): a __tostring is script code like any other.
     */
    private readonly protectedCall: (L: number, nargs: number, nresults: number) => number,
  ) {
    this.scratch = new Scratch(lib);
  }

  /** Registry ref of the metatable `host.bytes` marks strings with (set per Lua state). */
  bytesRef = 0;
  /** Registry ref of `function(v) return tostring(v) end`, for the REPL's view of functions. */
  tostringRef = 0;

  /** How the REPL shows a function or userdata: its tostring() (run protected: it may be a metamethod). */
  readonly asText: ReadPolicy = {
    opaque: (L, t, _path, at) => {
      const lib = this.lib;
      if (!lib.lua_checkstack(L, 2)) return luaTypeName(t);
      lib.lua_rawgeti(L, LUA_REGISTRYINDEX, this.tostringRef);
      lib.lua_pushvalue(L, at);
      const ok = this.protectedCall(L, 1, 1) === 0 && lib.lua_type(L, -1) === T.String;
      // A function's text is short; a cap keeps a script's __tostring from sizing it.
      const s = ok ? this.text(L, -1, 4096) : luaTypeName(t);
      lib.lua_settop(L, -2);
      return s;
    },
  };

  /** Compiles a text chunk (never binary) and pushes it, or the error message; the Lua status. */
  compile(L: number, code: string, name: string): number {
    const s = this.scratch;
    const max = code.length * 3;
    const at = s.room(max);
    const { written } = encoder.encodeInto(code, s.u8.subarray(at, at + max));
    return this.lib.luaL_loadbufferx(L, s.address + at, written, `=${name}`, 't');
  }

  pushString(L: number, v: string | Uint8Array): void {
    // Text without NULs goes straight through koffi's UTF-8 encoder.
    if (typeof v === 'string' && !v.includes('\0')) return this.lib.lua_pushstring(L, v);
    const bytes = typeof v === 'string' ? encoder.encode(v) : v;
    const at = this.scratch.room(bytes.length);
    this.scratch.u8.set(bytes, at);
    this.lib.lua_pushlstring(L, this.scratch.address + at, bytes.length);
  }

  /** Pushes the globals table. */
  pushGlobals(L: number): void {
    this.lib.lua_pushvalue(L, LUA_GLOBALSINDEX);
  }

  /** Pushes a JS value. Throws InvalidInputError naming the path of what cannot cross. */
  push(L: number, v: unknown, path: string, depth = 0): void {
    const lib = this.lib;
    if (!lib.lua_checkstack(L, 4)) throw new InvalidInputError(`${path} is nested too deeply for the Lua stack`, path);
    switch (typeof v) {
      case 'undefined':
        return lib.lua_pushnil(L);
      case 'boolean':
        return lib.lua_pushboolean(L, v ? 1 : 0);
      case 'number':
        return lib.lua_pushnumber(L, v);
      case 'bigint':
        if (v < -MAX_EXACT || v > MAX_EXACT) {
          throw new InvalidInputError(`${path} (${v}) does not fit in a LuaJIT number (LuaJIT numbers are doubles: exact to ±2^53); pass it as a string`, path);
        }
        return lib.lua_pushnumber(L, Number(v));
      case 'string':
        return this.pushString(L, v);
    }
    if (v === null) return lib.lua_pushnil(L);
    if (v instanceof Uint8Array) return this.pushString(L, v);
    if (v instanceof WireHandle) return this.handles.push(L, v, path);
    if (depth >= this.maxDepth) {
      throw new InvalidInputError(`${path} is nested deeper than limits.maxValueDepth (${this.maxDepth})`, path);
    }
    if (Array.isArray(v)) {
      lib.lua_createtable(L, v.length, 0);
      for (let i = 0; i < v.length; i++) {
        this.push(L, v[i], `${path}[${i}]`, depth + 1);
        lib.lua_rawseti(L, -2, i + 1);
      }
      return;
    }
    if (v instanceof Map || v instanceof MapEntries) {
      const entries = v instanceof Map ? [...v] : v.entries;
      lib.lua_createtable(L, 0, entries.length);
      for (const [k, x] of entries) {
        // lua_rawset raises on a nil or NaN key: refuse them here, outside any pcall.
        if (k === null || k === undefined) throw new InvalidInputError(`${path} has a nil key, which Lua tables cannot hold`, path);
        if (typeof k === 'number' && Number.isNaN(k)) throw new InvalidInputError(`${path} has a NaN key, which Lua tables cannot hold`, path);
        this.push(L, k, `${path}.<key>`, depth + 1);
        this.push(L, x, keyPath(path, k), depth + 1);
        lib.lua_rawset(L, -3);
      }
      return;
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v);
      lib.lua_createtable(L, 0, keys.length);
      for (const k of keys) {
        this.pushString(L, k);
        this.push(L, (v as Record<string, unknown>)[k], keyPath(path, k), depth + 1);
        lib.lua_rawset(L, -3);
      }
      return;
    }
    throw new InvalidInputError(`${path} is a ${typeof v}, which cannot cross into Lua`, path);
  }

  /** Reads the string at `idx` (a string already) as text when it is valid UTF-8, else as bytes; a budget counts its bytes first. */
  private readString(L: number, idx: number, forceBytes = false, budget?: ValueBudget, path = ''): string | Uint8Array {
    const s = this.scratch;
    const p = this.lib.lua_tolstring(L, idx, s.lenAddress);
    const len = s.len;
    budget?.add(len + PART_BYTES, path);
    if (!forceBytes) {
      // koffi decodes in native code; a replacement character may mean invalid UTF-8: check strictly.
      const text = this.lib.koffi.decode.string(p, len) as string;
      if (!text.includes('\uFFFD')) return text;
    }
    const at = s.room(len);
    this.lib.memcpy(s.address + at, p, len);
    const view = s.u8.subarray(at, at + len);
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
   * Reads a string value for messages (always text). With `max`, reads at most that many
   * bytes and says how much it cut: a script controls the length of what it raises.
   */
  text(L: number, idx: number, max?: number): string {
    if (this.lib.lua_type(L, idx) !== T.String) return '';
    const sc = this.scratch;
    const p = this.lib.lua_tolstring(L, idx, sc.lenAddress);
    const len = sc.len;
    const keep = max === undefined ? len : Math.min(len, max);
    const at = sc.room(keep);
    this.lib.memcpy(sc.address + at, p, keep);
    // Not fatal: a cut may split a character, and messages are text whatever the bytes.
    const s = new TextDecoder().decode(sc.u8.subarray(at, at + keep));
    return keep < len ? s + cutNote(len, keep) : s;
  }

  /**
   * Reads the value at `idx`. `policy` decides what values with no plain form become;
   * `budget` (limits.maxValueBytes by default) what the whole answer may add up to.
   */
  read(L: number, idx: number, path: string, policy: ReadPolicy, budget = new ValueBudget(this.maxBytes)): ScriptValue {
    return this.readAt(L, absIndex(this.lib, L, idx), path, 0, new Set(), policy, budget);
  }

  private readAt(L: number, idx: number, path: string, depth: number, seen: Set<number>, policy: ReadPolicy, budget: ValueBudget): ScriptValue {
    const lib = this.lib;
    const type = lib.lua_type(L, idx);
    if (type !== T.String) budget.add(PART_BYTES, path);
    switch (type) {
      case T.None:
      case T.Nil:
        return null;
      case T.Boolean:
        return lib.lua_toboolean(L, idx) !== 0;
      case T.Number:
        return lib.lua_tonumber(L, idx);
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
    const lib = this.lib;
    if (!lib.lua_checkstack(L, 2)) throw new InvalidInputError('the Lua stack is full');
    if (!lib.lua_getmetatable(L, idx)) return 'none';
    lib.lua_rawgeti(L, LUA_REGISTRYINDEX, this.bytesRef);
    const same = lib.lua_rawequal(L, -1, -2) !== 0;
    lib.lua_settop(L, -3);
    return same ? 'bytes' : 'instance';
  }

  private readTable(L: number, idx: number, path: string, depth: number, seen: Set<number>, policy: ReadPolicy, budget: ValueBudget): ScriptValue {
    const lib = this.lib;
    const meta = this.metaKind(L, idx);
    // An instance is a leaf, like a function: no depth or cycle check applies to it.
    if (meta === 'instance' && policy.instance) return policy.instance(L, path, idx);
    if (depth >= this.maxDepth) {
      throw new InvalidInputError(`${path} is nested deeper than limits.maxValueDepth (${this.maxDepth})`, path);
    }
    const ptr = lib.lua_topointer(L, idx);
    if (seen.has(ptr)) throw new InvalidInputError(`${path} refers back to one of its parents (a cycle)`, path);
    if (!lib.lua_checkstack(L, 6)) throw new InvalidInputError(`${path} is nested too deeply`, path);
    if (meta === 'bytes') {
      lib.lua_rawgeti(L, idx, 1);
      const b = lib.lua_type(L, -1) === T.String ? this.readString(L, -1, true, budget, path) : new Uint8Array();
      lib.lua_settop(L, -2);
      return b;
    }
    seen.add(ptr);
    const n = lib.lua_objlen(L, idx);
    const entries: [ScriptValue, ScriptValue][] = [];
    let count = 0;
    let allStringKeys = true;
    let sequence = true;
    lib.lua_pushnil(L);
    while (lib.lua_next(L, idx)) {
      count++;
      const kt = lib.lua_type(L, -2);
      // Never lua_tolstring a number key in place: it would break lua_next (readAt reads numbers as numbers).
      const key: ScriptValue =
        kt === T.String
          ? this.readString(L, -2, false, budget, `${path}.<key>`)
          : this.readAt(L, absIndex(lib, L, -2), `${path}.<key>`, depth + 1, seen, policy, budget);
      if (typeof key !== 'string') allStringKeys = false;
      if (!(typeof key === 'number' && Number.isInteger(key) && key >= 1 && key <= n)) sequence = false;
      const value = this.readAt(L, absIndex(lib, L, -1), keyPath(path, typeof key === 'number' ? key - 1 : key), depth + 1, seen, policy, budget);
      entries.push([key, value]);
      lib.lua_settop(L, -2);
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

/** The handle table's view of a LuaJIT stack (wasm/lua/lua-stack.ts); strings go through `conv`. */
export function luajitStack(lib: LuaJitLib, conv: () => LuaJitConvert): LuaStack {
  return {
    type: (L, i) => lib.lua_type(L, i),
    gettop: (L) => lib.lua_gettop(L),
    settop: (L, i) => lib.lua_settop(L, i),
    absindex: (L, i) => absIndex(lib, L, i),
    checkstack: (L, n) => lib.lua_checkstack(L, n) !== 0,
    pushnil: (L) => lib.lua_pushnil(L),
    pushvalue: (L, i) => lib.lua_pushvalue(L, i),
    pushString: (L, s) => conv().pushString(L, s),
    text: (L, i) => conv().text(L, i),
    rawget: (L, i) => lib.lua_rawget(L, i),
    rawgeti: (L, i, n) => lib.lua_rawgeti(L, i, n),
    rawseti: (L, i, n) => lib.lua_rawseti(L, i, n),
    getmetatable: (L, i) => lib.lua_getmetatable(L, i) !== 0,
    createtable: (L) => lib.lua_createtable(L, 0, 0),
    ref: (L) => lib.luaL_ref(L, LUA_REGISTRYINDEX),
    pushRef: (L, ref) => lib.lua_rawgeti(L, LUA_REGISTRYINDEX, ref),
    replace: (L, i) => lib.lua_replace(L, i),
    pushGlobals: (L) => lib.lua_pushvalue(L, LUA_GLOBALSINDEX),
  };
}
