/**
 * The shared Lua layer's LuaStack (src/lang/lua/stack.ts) over wasmoon's raw exports: Lua
 * 5.4 in wasm memory. Strings cross through a scratch buffer in that memory; integers are
 * int64 (bigint indices and values).
 */
import { InvalidInputError } from '../../src/errors.js';
import type { LuaStack, LuaString } from '../../src/lang/lua/stack.js';
import { LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS, type LuaModule } from './lua-api.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The string lua_tolstring last found: one cursor, reused (see LuaString). */
class WasmString implements LuaString {
  ptr = 0;
  length = 0;
  constructor(private readonly m: LuaModule) {}

  bytes(max = this.length): Uint8Array {
    return this.m.HEAPU8.subarray(this.ptr, this.ptr + Math.min(this.length, max));
  }

  utf8(): string | undefined {
    try {
      return utf8.decode(this.bytes());
    } catch {
      return undefined; // not UTF-8: the caller reads bytes
    }
  }
}

export class WasmLuaStack implements LuaStack {
  private scratch: number;
  private scratchSize = 4096;
  private readonly lenPtr: number;
  private readonly str: WasmString;

  constructor(private readonly m: LuaModule) {
    this.scratch = m._malloc(this.scratchSize);
    this.lenPtr = m._malloc(8);
    this.str = new WasmString(m);
  }

  dispose(): void {
    this.m._free(this.scratch);
    this.m._free(this.lenPtr);
  }

  /** Copies bytes into wasm memory (a reused scratch buffer, NUL-terminated) and returns the pointer. */
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

  load(L: number, code: string, name: string): number {
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

  pushNumber(L: number, n: number): void {
    if (Number.isSafeInteger(n) && !Object.is(n, -0)) this.m._lua_pushinteger(L, BigInt(n));
    else this.m._lua_pushnumber(L, n);
  }

  pushBigInt(L: number, n: bigint, path: string): void {
    if (n < INT64_MIN || n > INT64_MAX)
      throw new InvalidInputError(`${path} (${n}) does not fit in a Lua integer (int64); pass it as a string`, path);
    this.m._lua_pushinteger(L, n);
  }

  toNumber(L: number, idx: number): number | bigint {
    if (!this.m._lua_isinteger(L, idx)) return this.m._lua_tonumberx(L, idx, 0);
    const n = this.m._lua_tointegerx(L, idx, 0);
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
  }

  string(L: number, idx: number): LuaString {
    const s = this.str;
    s.ptr = this.m._lua_tolstring(L, idx, this.lenPtr);
    s.length = this.m.HEAPU32[this.lenPtr >> 2]!;
    return s;
  }

  type = (L: number, i: number): number => this.m._lua_type(L, i);
  gettop = (L: number): number => this.m._lua_gettop(L);
  settop = (L: number, i: number): void => this.m._lua_settop(L, i);
  absindex = (L: number, i: number): number => this.m._lua_absindex(L, i);
  checkstack = (L: number, n: number): boolean => this.m._lua_checkstack(L, n) !== 0;
  pushnil = (L: number): void => this.m._lua_pushnil(L);
  pushboolean = (L: number, b: boolean): void => this.m._lua_pushboolean(L, b ? 1 : 0);
  pushvalue = (L: number, i: number): void => this.m._lua_pushvalue(L, i);
  toboolean = (L: number, i: number): boolean => this.m._lua_toboolean(L, i) !== 0;
  topointer = (L: number, i: number): number => this.m._lua_topointer(L, i);
  rawlen = (L: number, i: number): number => Number(this.m._lua_rawlen(L, i));
  next = (L: number, i: number): boolean => this.m._lua_next(L, i) !== 0;
  rawget = (L: number, i: number): void => void this.m._lua_rawget(L, i);
  rawgeti = (L: number, i: number, n: number): void => void this.m._lua_rawgeti(L, i, BigInt(n));
  rawset = (L: number, i: number): void => this.m._lua_rawset(L, i);
  rawseti = (L: number, i: number, n: number): void => this.m._lua_rawseti(L, i, BigInt(n));
  rawequal = (L: number, a: number, b: number): boolean => this.m._lua_rawequal(L, a, b) !== 0;
  getmetatable = (L: number, i: number): boolean => this.m._lua_getmetatable(L, i) !== 0;
  createtable = (L: number, narr = 0, nrec = 0): void => this.m._lua_createtable(L, narr, nrec);
  ref = (L: number): number => this.m._luaL_ref(L, LUA_REGISTRYINDEX);
  unref = (L: number, ref: number): void => this.m._luaL_unref(L, LUA_REGISTRYINDEX, ref);
  pushRef = (L: number, ref: number): void => void this.m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(ref));
  pushGlobals = (L: number): void => void this.m._lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  pcall = (L: number, nargs: number, nresults: number, msgh: number): number => this.m._lua_pcallk(L, nargs, nresults, msgh, 0, 0);

  replace(L: number, i: number): void {
    this.m._lua_copy(L, -1, i);
    this.m._lua_settop(L, -2);
  }
}
