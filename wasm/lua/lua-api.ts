/**
 * The raw Lua C API exports of wasmoon's wasm module, typed. We use these instead of
 * wasmoon's LuaEngine: its proxies hand JS objects to Lua (each one a path to
 * `Function`), and a raw call costs 0.57 us against 5-7 us through a proxy.
 */
import type { LuaWasm } from 'wasmoon';

export const LUA_REGISTRYINDEX = -1001000;
export const LUA_RIDX_GLOBALS = 2n;
export const LUA_MASKCOUNT = 8;

type P = number; // a pointer into wasm memory (lua_State*, char*, ...)

/** The subset of the emscripten module we call directly. */
export interface LuaModule {
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  addFunction(fn: (...args: number[]) => number | void, sig: string): number;
  removeFunction(ptr: number): void;
  _malloc(n: number): P;
  _free(p: P): void;
  _realloc(p: P, n: number): P;
  _lua_newstate(alloc: number, ud: P): P;
  _lua_close(L: P): void;
  _lua_gettop(L: P): number;
  _lua_settop(L: P, idx: number): void;
  _lua_absindex(L: P, idx: number): number;
  _lua_checkstack(L: P, n: number): number;
  _lua_type(L: P, idx: number): number;
  _lua_toboolean(L: P, idx: number): number;
  _lua_isinteger(L: P, idx: number): number;
  _lua_tointegerx(L: P, idx: number, isnum: P): bigint;
  _lua_tonumberx(L: P, idx: number, isnum: P): number;
  _lua_tolstring(L: P, idx: number, len: P): P;
  _lua_topointer(L: P, idx: number): P;
  _lua_rawlen(L: P, idx: number): bigint;
  _lua_next(L: P, idx: number): number;
  _lua_rawget(L: P, idx: number): number;
  _lua_rawgeti(L: P, idx: number, n: bigint): number;
  _lua_rawset(L: P, idx: number): void;
  _lua_rawseti(L: P, idx: number, n: bigint): void;
  _lua_getmetatable(L: P, idx: number): number;
  _lua_rawequal(L: P, a: number, b: number): number;
  _lua_pushnil(L: P): void;
  _lua_pushboolean(L: P, b: number): void;
  _lua_pushinteger(L: P, n: bigint): void;
  _lua_pushnumber(L: P, n: number): void;
  _lua_pushlstring(L: P, s: P, len: number): P;
  _lua_pushvalue(L: P, idx: number): void;
  _lua_copy(L: P, from: number, to: number): void;
  _lua_pushcclosure(L: P, fn: number, n: number): void;
  _lua_createtable(L: P, narr: number, nrec: number): void;
  _lua_pcallk(L: P, nargs: number, nres: number, msgh: number, ctx: number, k: number): number;
  _lua_error(L: P): number;
  _lua_sethook(L: P, fn: number, mask: number, count: number): void;
  _luaL_loadbufferx(L: P, buf: P, size: number, name: P, mode: P): number;
  _luaL_ref(L: P, t: number): number;
  _luaL_unref(L: P, t: number, ref: number): void;
  _luaL_traceback(L: P, L1: P, msg: P, level: number): void;
  _luaL_tolstring(L: P, idx: number, len: P): P;
  _luaL_openlibs(L: P): void;
}

/** Reads the raw module out of wasmoon's wrapper. */
export function rawModule(lua: LuaWasm): LuaModule {
  return lua.module as unknown as LuaModule;
}
