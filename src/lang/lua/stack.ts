/**
 * The Lua C API as the shared Lua layer uses it, behind one shape, so one converter, one
 * handle table and one core serve wasmoon's Lua 5.4 (wasm/lua) and LuaJIT's 5.1
 * (native-bridge/luajit). Their type numbers agree; their exports do not (names, bigint
 * indices, lua_copy vs lua_replace, where the globals live, how string bytes are reached,
 * integers), and each backend implements this over its own.
 *
 * Everything here runs outside lua_pcall, so an implementation only calls API functions
 * that cannot raise (raw access, pushes, type checks, lua_next with keys it was given) and
 * never runs a metamethod.
 */

export const LUA_OK = 0;
export const LUA_ERRMEM = 4;
export const LUA_MULTRET = -1;

/** lua_type results: the same in Lua 5.4 and LuaJIT (which adds 10, FFI cdata). */
export const enum T {
  None = -1,
  Nil = 0,
  Boolean = 1,
  LightUserdata = 2,
  Number = 3,
  String = 4,
  Table = 5,
  Function = 6,
  Userdata = 7,
  Thread = 8,
  /** LuaJIT FFI cdata (unreachable from the sandbox, but the VM may hand one over). */
  CData = 10,
}

const TYPE_NAMES: Record<number, string> = {
  0: 'nil',
  1: 'boolean',
  2: 'userdata',
  3: 'number',
  4: 'string',
  5: 'table',
  6: 'function',
  7: 'userdata',
  8: 'thread',
  10: 'cdata',
};

/** A lua_type number as Lua's type() names it. */
export function luaTypeName(t: number): string {
  return TYPE_NAMES[t] ?? 'value';
}

/** A string on the stack, as lua_tolstring found it: valid until the next stack call. */
export interface LuaString {
  /** Its length in bytes. */
  readonly length: number;
  /**
   * Its first `max` bytes (all by default), without a copy where the backend can (a view
   * of the engine's memory, or of a scratch buffer the next call reuses): copy to keep.
   */
  bytes(max?: number): Uint8Array;
}

export interface LuaStack {
  type(L: number, idx: number): number;
  gettop(L: number): number;
  settop(L: number, idx: number): void;
  absindex(L: number, idx: number): number;
  checkstack(L: number, n: number): boolean;
  pushnil(L: number): void;
  pushboolean(L: number, b: boolean): void;
  /** A JS number, as the version's numbers hold it (Lua 5.4: an integer when it is a safe one). */
  pushNumber(L: number, n: number): void;
  /** A bigint; throws InvalidInputError naming `path` when the version's numbers cannot hold it. */
  pushBigInt(L: number, n: bigint, path: string): void;
  pushString(L: number, s: string | Uint8Array): void;
  pushvalue(L: number, idx: number): void;
  toboolean(L: number, idx: number): boolean;
  /** The number at `idx`: a bigint for a Lua 5.4 integer beyond ±2^53. */
  toNumber(L: number, idx: number): number | bigint;
  /** The string at `idx` (the caller checked it is one). */
  string(L: number, idx: number): LuaString;
  topointer(L: number, idx: number): number;
  rawlen(L: number, idx: number): number;
  next(L: number, idx: number): boolean;
  rawget(L: number, idx: number): void;
  rawgeti(L: number, idx: number, n: number): void;
  rawset(L: number, idx: number): void;
  rawseti(L: number, idx: number, n: number): void;
  rawequal(L: number, a: number, b: number): boolean;
  getmetatable(L: number, idx: number): boolean;
  createtable(L: number, narr?: number, nrec?: number): void;
  /** Pops the top into a new registry reference. */
  ref(L: number): number;
  unref(L: number, ref: number): void;
  /** Pushes the registry value under `ref`. */
  pushRef(L: number, ref: number): void;
  /** Pops the top into `idx`. */
  replace(L: number, idx: number): void;
  pushGlobals(L: number): void;
  /** Compiles a text chunk (never binary) and pushes it, or the error message; the Lua status. */
  load(L: number, code: string, name: string): number;
  /** lua_pcall as it is, for booting a state (no limits: see LuaBackend.scriptCall for script code). */
  pcall(L: number, nargs: number, nresults: number, msgh: number): number;
}
