/**
 * libluajit-5.1 through koffi: the C API subset the LuaJIT backend calls, loaded once per
 * process (per thread: a worker loads its own copy of the bindings).
 *
 * Every pointer (lua_State*, char*, callbacks) is declared `uintptr_t`, so koffi hands it
 * over as a plain JS number (user-space addresses fit in 2^53) instead of a BigInt: no
 * boxing on the hot path. Callbacks are registered once per core and passed by address.
 *
 * Only functions that cannot raise a Lua error may be called outside lua_pcall (see
 * src/lang/lua/core.ts); the comments on the risky ones say when they can.
 */
import { findLuaJit, koffi } from '../../src/node/native-libs.js';

export const LUA_REGISTRYINDEX = -10000;
export const LUA_GLOBALSINDEX = -10002;
export const LUA_MASKCOUNT = 8;

type P = number; // a native address as a JS number

/** The bound C API (LuaJIT 2.1, Lua 5.1 ABI) plus the libc calls the bridge needs. */
export interface LuaJitLib {
  lua_newstate(alloc: P, ud: P): P;
  lua_close(L: P): void;
  lua_gettop(L: P): number;
  lua_settop(L: P, idx: number): void;
  lua_checkstack(L: P, n: number): number; // grows the stack: allocates (never refused outside pcall)
  lua_type(L: P, idx: number): number;
  lua_toboolean(L: P, idx: number): number;
  lua_tonumber(L: P, idx: number): number;
  /** Only on values that are strings already: on a number it converts in place (and allocates). */
  lua_tolstring(L: P, idx: number, len: P): P;
  lua_topointer(L: P, idx: number): P;
  lua_objlen(L: P, idx: number): number;
  lua_next(L: P, idx: number): number; // raises only for a key not in the table: we pass nil or the key it gave
  lua_rawget(L: P, idx: number): void;
  lua_rawgeti(L: P, idx: number, n: number): void;
  /** Raises for a nil or NaN key: callers check keys first. */
  lua_rawset(L: P, idx: number): void;
  lua_rawseti(L: P, idx: number, n: number): void;
  lua_getmetatable(L: P, idx: number): number;
  lua_rawequal(L: P, a: number, b: number): number;
  lua_pushnil(L: P): void;
  lua_pushboolean(L: P, b: number): void;
  lua_pushnumber(L: P, n: number): void;
  /** Text without NUL characters: koffi encodes it as UTF-8. */
  lua_pushstring(L: P, s: string): void;
  lua_pushlstring(L: P, s: P, len: number): void;
  /** lua_pushlstring straight from a typed array's memory (koffi passes its address: no copy). */
  lua_pushbytes(L: P, s: Uint8Array, len: number): void;
  lua_pushvalue(L: P, idx: number): void;
  lua_replace(L: P, idx: number): void;
  lua_pushcclosure(L: P, fn: P, n: number): void;
  lua_createtable(L: P, narr: number, nrec: number): void;
  lua_pcall(L: P, nargs: number, nres: number, msgh: number): number;
  lua_sethook(L: P, fn: P, mask: number, count: number): number;
  /** Catches its own errors (syntax, memory): returns a status. */
  luaL_loadbufferx(L: P, buf: P, size: number, name: string, mode: string): number;
  luaL_ref(L: P, t: number): number;
  luaL_unref(L: P, t: number, ref: number): void;
  luaL_openlibs(L: P): void;
  realloc(p: P, n: number): P;
  free(p: P): void;
  memcpy(dst: P, src: P, n: number): P;
  /** memmove(a, a, 0) answers the native address of a typed array's (stable, shared) memory. */
  addressOf(view: Int32Array | Uint8Array): P;
  /** `len` bytes of native memory at `ptr` as an ArrayBuffer, without a copy (koffi.view): valid while that memory is. */
  view(ptr: P, len: number): ArrayBuffer;
  /** The C address of lua_error: the count hook that stops a script (see limits.ts). */
  readonly luaErrorAddress: P;
  /** koffi itself, for callbacks and decoding. */
  readonly koffi: ReturnType<typeof koffi>;
  /** Prototypes of the callbacks LuaJIT calls. */
  readonly protos: { alloc: unknown; hook: unknown; cfunction: unknown };
}

let loaded: LuaJitLib | undefined;

/** Loads libluajit and libc once; throws UnavailableError (from findLuaJit/koffi) when absent. */
export function luajit(): LuaJitLib {
  if (loaded) return loaded;
  const k = koffi();
  const lj = k.load(findLuaJit().path);
  const libc = k.load('libc.so.6');
  const fn = (lib: typeof lj, proto: string) => lib.func(proto) as unknown as (...args: never[]) => never;
  const api: Record<string, unknown> = {};
  const LUA: string[] = [
    'uintptr_t lua_newstate(uintptr_t alloc, uintptr_t ud)',
    'void lua_close(uintptr_t L)',
    'int lua_gettop(uintptr_t L)',
    'void lua_settop(uintptr_t L, int idx)',
    'int lua_checkstack(uintptr_t L, int n)',
    'int lua_type(uintptr_t L, int idx)',
    'int lua_toboolean(uintptr_t L, int idx)',
    'double lua_tonumber(uintptr_t L, int idx)',
    'uintptr_t lua_tolstring(uintptr_t L, int idx, uintptr_t len)',
    'uintptr_t lua_topointer(uintptr_t L, int idx)',
    'size_t lua_objlen(uintptr_t L, int idx)',
    'int lua_next(uintptr_t L, int idx)',
    'void lua_rawget(uintptr_t L, int idx)',
    'void lua_rawgeti(uintptr_t L, int idx, int n)',
    'void lua_rawset(uintptr_t L, int idx)',
    'void lua_rawseti(uintptr_t L, int idx, int n)',
    'int lua_getmetatable(uintptr_t L, int idx)',
    'int lua_rawequal(uintptr_t L, int a, int b)',
    'void lua_pushnil(uintptr_t L)',
    'void lua_pushboolean(uintptr_t L, int b)',
    'void lua_pushnumber(uintptr_t L, double n)',
    'void lua_pushstring(uintptr_t L, const char *s)',
    'void lua_pushlstring(uintptr_t L, uintptr_t s, size_t len)',
    'void lua_pushvalue(uintptr_t L, int idx)',
    'void lua_replace(uintptr_t L, int idx)',
    'void lua_pushcclosure(uintptr_t L, uintptr_t fn, int n)',
    'void lua_createtable(uintptr_t L, int narr, int nrec)',
    'int lua_pcall(uintptr_t L, int nargs, int nres, int msgh)',
    'int lua_sethook(uintptr_t L, uintptr_t fn, int mask, int count)',
    'int luaL_loadbufferx(uintptr_t L, uintptr_t buf, size_t size, const char *name, const char *mode)',
    'int luaL_ref(uintptr_t L, int t)',
    'void luaL_unref(uintptr_t L, int t, int ref)',
    'void luaL_openlibs(uintptr_t L)',
  ];
  for (const proto of LUA) api[/(\w+)\(/.exec(proto)![1]!] = fn(lj, proto);
  api.lua_pushbytes = fn(lj, 'void lua_pushlstring(uintptr_t L, const uint8_t *s, size_t len)');
  api.realloc = fn(libc, 'uintptr_t realloc(uintptr_t p, size_t n)');
  api.free = fn(libc, 'void free(uintptr_t p)');
  api.memcpy = fn(libc, 'uintptr_t memcpy(uintptr_t dst, uintptr_t src, size_t n)');
  const memmove = fn(libc, 'uintptr_t memmove(void *a, void *b, size_t n)') as unknown as (a: unknown, b: unknown, n: number) => number;
  api.addressOf = (view: Int32Array | Uint8Array) => memmove(view, view, 0);
  api.view = (ptr: P, len: number) => k.view(ptr, len);
  api.luaErrorAddress = Number(lj.symbol('lua_error'));
  api.koffi = k;
  // Unique names: a second copy of this module (tests, workers) must not redeclare them.
  const id = `${process.pid}_${Math.random().toString(36).slice(2)}`;
  api.protos = {
    alloc: k.proto(`uintptr_t SbLjAlloc_${id}(uintptr_t ud, uintptr_t ptr, size_t osize, size_t nsize)`),
    hook: k.proto(`void SbLjHook_${id}(uintptr_t L, uintptr_t ar)`),
    cfunction: k.proto(`int SbLjCFn_${id}(uintptr_t L)`),
  };
  loaded = api as unknown as LuaJitLib;
  return loaded;
}

/** A registered callback and its C address; `release` frees koffi's slot. */
export interface Callback {
  address: P;
  release(): void;
}

/** Registers a JS function as a C callback of the given prototype. */
export function register(lib: LuaJitLib, fn: (...args: number[]) => number | void, proto: unknown): Callback {
  const k = lib.koffi;
  const cb = k.register(fn, k.pointer(proto as never));
  return { address: Number(k.address(cb)), release: () => k.unregister(cb) };
}
