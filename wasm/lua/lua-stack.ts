/**
 * The raw Lua C-API operations the handle table (handles.ts) needs, behind one shape, so
 * one handle table serves wasmoon's Lua 5.4 (here) and LuaJIT's 5.1 (native-bridge/luajit):
 * their type numbers agree, their exports do not (names, bigint indices, lua_copy vs
 * lua_replace, where the globals live).
 */
import { LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS, type LuaModule } from './lua-api.js';

export interface LuaStack {
  type(L: number, idx: number): number;
  gettop(L: number): number;
  settop(L: number, idx: number): void;
  absindex(L: number, idx: number): number;
  checkstack(L: number, n: number): boolean;
  pushnil(L: number): void;
  pushvalue(L: number, idx: number): void;
  pushString(L: number, s: string): void;
  /** The string at `idx` (the caller checked it is one). */
  text(L: number, idx: number): string;
  rawget(L: number, idx: number): void;
  rawgeti(L: number, idx: number, n: number): void;
  rawseti(L: number, idx: number, n: number): void;
  getmetatable(L: number, idx: number): boolean;
  createtable(L: number): void;
  /** Pops the top into a new registry reference. */
  ref(L: number): number;
  /** Pushes the registry value under `ref`. */
  pushRef(L: number, ref: number): void;
  /** Pops the top into `idx`. */
  replace(L: number, idx: number): void;
  pushGlobals(L: number): void;
}

/** Strings go through the core's converter, which the core makes after the stack. */
interface Strings {
  pushString(L: number, s: string): void;
  text(L: number, idx: number): string;
}

export function wasmLuaStack(m: LuaModule, strings: () => Strings): LuaStack {
  return {
    type: (L, i) => m._lua_type(L, i),
    gettop: (L) => m._lua_gettop(L),
    settop: (L, i) => m._lua_settop(L, i),
    absindex: (L, i) => m._lua_absindex(L, i),
    checkstack: (L, n) => m._lua_checkstack(L, n) !== 0,
    pushnil: (L) => m._lua_pushnil(L),
    pushvalue: (L, i) => m._lua_pushvalue(L, i),
    pushString: (L, s) => strings().pushString(L, s),
    text: (L, i) => strings().text(L, i),
    rawget: (L, i) => void m._lua_rawget(L, i),
    rawgeti: (L, i, n) => void m._lua_rawgeti(L, i, BigInt(n)),
    rawseti: (L, i, n) => m._lua_rawseti(L, i, BigInt(n)),
    getmetatable: (L, i) => m._lua_getmetatable(L, i) !== 0,
    createtable: (L) => m._lua_createtable(L, 0, 0),
    ref: (L) => m._luaL_ref(L, LUA_REGISTRYINDEX),
    pushRef: (L, ref) => void m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(ref)),
    replace(L, i) {
      m._lua_copy(L, -1, i);
      m._lua_settop(L, -2);
    },
    pushGlobals: (L) => void m._lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS),
  };
}
