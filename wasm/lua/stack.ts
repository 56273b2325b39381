/**
 * The shared Lua layer's LuaStack (src/lang/lua/stack.ts) over wasmoon's raw exports: Lua
 * 5.4 in wasm memory. Strings go in through a scratch buffer in that memory (text encoded
 * straight into it) and are read in place; integers are int64 (bigint indices and values).
 */
import { InvalidInputError } from '../../src/errors.js';
import type { LuaStack, LuaString } from '../../src/lang/lua/stack.js';
import { LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS, type LuaModule } from './lua-api.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const encoder = new TextEncoder();

/** The string lua_tolstring last found: one cursor, reused (see LuaString). */
class WasmString implements LuaString {
  ptr = 0;
  length = 0;
  constructor(private readonly m: LuaModule) {}

  /** A view of the string inside wasm memory: no copy. */
  bytes(max = this.length): Uint8Array {
    return this.m.HEAPU8.subarray(this.ptr, this.ptr + Math.min(this.length, max));
  }
}

export class WasmLuaStack implements LuaStack {
  private scratch: number;
  private scratchSize = 4096;
  private lenPtr: number;
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

  /** Where its buffers are in wasm memory (a session snapshot carries them: they are allocated in the heap it holds). */
  buffers(): { scratch: number; scratchSize: number; lenPtr: number } {
    return { scratch: this.scratch, scratchSize: this.scratchSize, lenPtr: this.lenPtr };
  }

  /** Takes the buffers of a restored heap (checked to lie inside it). */
  adopt(b: { scratch: number; scratchSize: number; lenPtr: number }): void {
    this.scratch = b.scratch;
    this.scratchSize = b.scratchSize;
    this.lenPtr = b.lenPtr;
  }

  /**
   * The scratch buffer in wasm memory, grown to hold `n` bytes, its first `keep` bytes kept;
   * its address. The new buffer is allocated before the old one is freed: a refused
   * allocation leaves the old one in place.
   */
  private room(n: number, keep = 0): number {
    if (n > this.scratchSize) {
      const size = Math.max(n, this.scratchSize * 2);
      const p = this.m._malloc(size);
      if (!p) throw new InvalidInputError(`a value of ${n} bytes does not fit in the engine's memory`);
      // Read HEAPU8 after the malloc: one that grows memory replaces it.
      if (keep) this.m.HEAPU8.copyWithin(p, this.scratch, this.scratch + keep);
      this.m._free(this.scratch);
      this.scratch = p;
      this.scratchSize = size;
    }
    return this.scratch;
  }

  /** Copies bytes into wasm memory (the scratch buffer, NUL-terminated) and returns the pointer. */
  private place(bytes: Uint8Array): number {
    const p = this.room(bytes.length + 1);
    const heap = this.m.HEAPU8;
    heap.set(bytes, p);
    heap[p + bytes.length] = 0;
    return p;
  }

  /** Encodes text as UTF-8 straight into the scratch buffer (no intermediate array); its length in bytes. */
  private placeText(s: string): number {
    // Most text fits at one byte per UTF-16 unit; what does not gets room for the rest at 3
    // bytes per unit (UTF-8's most), and the encoding goes on where it stopped.
    let p = this.room(s.length);
    const first = encoder.encodeInto(s, this.m.HEAPU8.subarray(p, p + this.scratchSize));
    if (first.read === s.length) return first.written;
    p = this.room(first.written + 3 * (s.length - first.read), first.written);
    const rest = encoder.encodeInto(s.slice(first.read), this.m.HEAPU8.subarray(p + first.written, p + this.scratchSize));
    return first.written + rest.written;
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
    if (typeof s === 'string') {
      const n = this.placeText(s);
      this.m._lua_pushlstring(L, this.scratch, n);
    } else this.m._lua_pushlstring(L, this.place(s), s.length);
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
