/**
 * The shared Lua layer's LuaStack (src/lang/lua/stack.ts) over libluajit through koffi.
 * Bytes go in straight from their array's memory, text through a SharedArrayBuffer scratch
 * (its memory never moves, so LuaJIT can write into it); short strings come out through the
 * scratch, long ones are read in place. Numbers are doubles, so a bigint outside ±2^53
 * cannot cross.
 */
import { InvalidInputError } from '../../src/errors.js';
import type { LuaStack, LuaString } from '../../src/lang/lua/stack.js';
import { LUA_GLOBALSINDEX, LUA_REGISTRYINDEX, type LuaJitLib } from './lib.js';

const encoder = new TextEncoder();
/** Doubles hold every integer up to 2^53 exactly. */
const MAX_EXACT = 2n ** 53n;
/**
 * Strings up to this size are copied into the scratch (one memcpy call, ~0.2 us); longer
 * ones are read in place through a koffi view, whose own cost (~1-2 us) is then small.
 */
const VIEW_FROM = 16 * 1024;
/** Text up to this many UTF-16 units goes through koffi's string argument; longer text is encoded into the scratch (~4x faster at 1 MiB). */
const SHORT_TEXT = 1024;

/**
 * Native memory shared with LuaJIT: a SharedArrayBuffer, for string bytes in both
 * directions and the length out-parameter of lua_tolstring.
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
    // Whole 8-byte words: the length view is a Uint32Array.
    if (n + 8 > this.u8.length) this.alloc(Math.max(Math.ceil(n / 8) * 8 + 8, this.u8.length * 2));
    return 8;
  }
}

/** The string lua_tolstring last found: one cursor, reused (see LuaString). */
class JitString implements LuaString {
  ptr = 0;
  length = 0;
  constructor(
    private readonly lib: LuaJitLib,
    private readonly scratch: Scratch,
  ) {}

  bytes(max = this.length): Uint8Array {
    const n = Math.min(this.length, max);
    if (n >= VIEW_FROM) return new Uint8Array(this.lib.view(this.ptr, n));
    const at = this.scratch.room(n);
    this.lib.memcpy(this.scratch.address + at, this.ptr, n);
    return this.scratch.u8.subarray(at, at + n);
  }
}

/** lua_absindex, which LuaJIT does not export. */
function absIndex(lib: LuaJitLib, L: number, idx: number): number {
  return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lib.lua_gettop(L) + idx + 1;
}

export class LuaJitStack implements LuaStack {
  private readonly scratch: Scratch;
  private readonly str: JitString;

  constructor(private readonly lib: LuaJitLib) {
    this.scratch = new Scratch(lib);
    this.str = new JitString(lib, this.scratch);
  }

  load(L: number, code: string, name: string): number {
    const s = this.scratch;
    const max = code.length * 3;
    const at = s.room(max);
    const { written } = encoder.encodeInto(code, s.u8.subarray(at, at + max));
    return this.lib.luaL_loadbufferx(L, s.address + at, written, `=${name}`, 't');
  }

  pushString(L: number, v: string | Uint8Array): void {
    // Bytes: LuaJIT copies them straight from the array's memory.
    if (typeof v !== 'string') return this.lib.lua_pushbytes(L, v, v.length);
    // Short text without NULs: koffi's own UTF-8 conversion is the cheapest call.
    if (v.length <= SHORT_TEXT && !v.includes('\0')) return this.lib.lua_pushstring(L, v);
    // Else encoded once, into the scratch (3 bytes per UTF-16 unit at most).
    const s = this.scratch;
    const at = s.room(3 * v.length);
    const { written } = encoder.encodeInto(v, s.u8.subarray(at, at + 3 * v.length));
    this.lib.lua_pushlstring(L, s.address + at, written);
  }

  pushBigInt(L: number, n: bigint, path: string): void {
    if (n < -MAX_EXACT || n > MAX_EXACT) {
      throw new InvalidInputError(
        `${path} (${n}) does not fit in a LuaJIT number (LuaJIT numbers are doubles: exact to ±2^53); pass it as a string`,
        path,
      );
    }
    this.lib.lua_pushnumber(L, Number(n));
  }

  string(L: number, idx: number): LuaString {
    const s = this.str;
    s.ptr = this.lib.lua_tolstring(L, idx, this.scratch.lenAddress);
    s.length = this.scratch.len;
    return s;
  }

  type = (L: number, i: number): number => this.lib.lua_type(L, i);
  gettop = (L: number): number => this.lib.lua_gettop(L);
  settop = (L: number, i: number): void => this.lib.lua_settop(L, i);
  absindex = (L: number, i: number): number => absIndex(this.lib, L, i);
  checkstack = (L: number, n: number): boolean => this.lib.lua_checkstack(L, n) !== 0;
  pushnil = (L: number): void => this.lib.lua_pushnil(L);
  pushboolean = (L: number, b: boolean): void => this.lib.lua_pushboolean(L, b ? 1 : 0);
  pushNumber = (L: number, n: number): void => this.lib.lua_pushnumber(L, n);
  pushvalue = (L: number, i: number): void => this.lib.lua_pushvalue(L, i);
  toboolean = (L: number, i: number): boolean => this.lib.lua_toboolean(L, i) !== 0;
  toNumber = (L: number, i: number): number => this.lib.lua_tonumber(L, i);
  topointer = (L: number, i: number): number => this.lib.lua_topointer(L, i);
  rawlen = (L: number, i: number): number => this.lib.lua_objlen(L, i);
  next = (L: number, i: number): boolean => this.lib.lua_next(L, i) !== 0;
  rawget = (L: number, i: number): void => this.lib.lua_rawget(L, i);
  rawgeti = (L: number, i: number, n: number): void => this.lib.lua_rawgeti(L, i, n);
  rawset = (L: number, i: number): void => this.lib.lua_rawset(L, i);
  rawseti = (L: number, i: number, n: number): void => this.lib.lua_rawseti(L, i, n);
  rawequal = (L: number, a: number, b: number): boolean => this.lib.lua_rawequal(L, a, b) !== 0;
  getmetatable = (L: number, i: number): boolean => this.lib.lua_getmetatable(L, i) !== 0;
  createtable = (L: number, narr = 0, nrec = 0): void => this.lib.lua_createtable(L, narr, nrec);
  ref = (L: number): number => this.lib.luaL_ref(L, LUA_REGISTRYINDEX);
  unref = (L: number, ref: number): void => this.lib.luaL_unref(L, LUA_REGISTRYINDEX, ref);
  pushRef = (L: number, ref: number): void => this.lib.lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  replace = (L: number, i: number): void => this.lib.lua_replace(L, i);
  pushGlobals = (L: number): void => this.lib.lua_pushvalue(L, LUA_GLOBALSINDEX);
  pcall = (L: number, nargs: number, nresults: number, msgh: number): number => this.lib.lua_pcall(L, nargs, nresults, msgh);
}
