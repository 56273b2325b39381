/**
 * The wasm Lua backend: one wasmoon module (its own WASM memory and file system) per core,
 * driven through the raw C API, under the shared Lua core (src/lang/lua/core.ts). What is
 * its own: booting the module, an allocator that enforces limits.memoryBytes, an
 * instruction-count hook that reads the interrupt word and the deadline, and traps.
 *
 * - The allocator refuses memory only inside `scriptCall`: a refused allocation outside it
 *   (our own pushes, the handle table) would abort the whole module. If those pass the
 *   limit, the script's next allocation fails instead. While a new state is built the limit
 *   binds everywhere, so a limit too small for a Lua state fails at boot.
 * - No script finalizer: Lua 5.4 switches hooks off inside `__gc` (lgc.c GCTM sets
 *   allowhook = 0), so a looping finalizer could never be stopped in place; the 5.4 shim's
 *   `setmetatable` refuses metatables with a `__gc` field, and `debug.setmetatable` is gone.
 * - A wasm trap or abort is a 'crashed' failure (traps.ts), never a Lua error.
 */
import wasmoon from 'wasmoon';
import type { CoreFailure } from '../../src/channel/protocol.js';
import type { CoreEnv, CoreInit } from '../../src/core.js';
import type { LuaBackend, LuaSessions } from '../../src/lang/lua/backend.js';
import { LuaEngineCore } from '../../src/lang/lua/core.js';
import { stopOf, type Stop } from '../../src/lang/lua/failures.js';
import { SHIM_5_4_LUA } from '../../src/lang/lua/shim-5.4.lua.generated.js';
import { LUA_MASKCOUNT, rawModule, type LuaModule } from './lua-api.js';
import { packLuaSession, readLuaSession, writeLuaHeap } from './session.js';
import { WasmLuaStack } from './stack.js';
import { isTrap, trapFailure } from './traps.js';

/** Instructions between two looks at the interrupt word: rare enough to cost ~1%. */
const HOOK_EVERY = 20_000;

export class WasmLua implements LuaBackend {
  readonly shim = SHIM_5_4_LUA;
  readonly hostCanChange = true;
  readonly stack: WasmLuaStack;
  stop: Stop = null;
  broken: CoreFailure | null = null;
  private L = 0;
  private memUsed = 0;
  /** False while the limit binds everywhere (a state being built); true while it binds only in scriptCall. */
  private overrun = false;
  private running = false;
  private deadline = Infinity;
  private readonly allocPtr: number;
  private readonly hookPtr: number;
  private readonly functions = new Map<(L: number) => number, number>();

  constructor(
    /** The raw module (tests reach into it to break it on purpose). */
    readonly m: LuaModule,
    private readonly maxBytes: number,
    private readonly env: Pick<CoreEnv, 'interruptWord'>,
  ) {
    this.stack = new WasmLuaStack(m);
    this.allocPtr = m.addFunction((_ud: number, ptr: number, oldSize: number, newSize: number): number => {
      if (newSize === 0) {
        if (ptr) {
          this.memUsed -= oldSize;
          m._free(ptr);
        }
        return 0;
      }
      const delta = ptr ? newSize - oldSize : newSize;
      if (delta > 0 && this.memUsed + delta > maxBytes && !this.overrun) {
        this.requestStop('memory');
        return 0;
      }
      const p = m._realloc(ptr, newSize);
      if (p) this.memUsed += delta;
      return p;
    }, 'iiiii');
    this.hookPtr = m.addFunction((L: number) => {
      if (this.stop === null) {
        const word = Atomics.load(this.env.interruptWord, 0);
        if (word !== 0) this.requestStop(stopOf(word));
        else if (performance.now() > this.deadline) this.requestStop('timeout');
        else return;
      }
      // Raise on every instruction from now on, so pcall loops cannot swallow the stop.
      m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, 1);
      this.stack.pushString(L, 'scriptbox: execution stopped');
      m._lua_error(L);
    }, 'vii');
  }

  /** Table indices of every C function the heap may point at, in the order they were added. */
  private functionIndices(): number[] {
    return [this.allocPtr, this.hookPtr, ...this.functions.values()];
  }

  readonly sessions: LuaSessions = {
    save: (core) => {
      const beside = { L: this.L, memUsed: this.memUsed, ...this.stack.buffers(), functions: this.functionIndices() };
      return packLuaSession(this.m, beside, core);
    },
    read: (payload) => {
      const s = readLuaSession(payload, { functions: this.functionIndices(), maxBytes: this.maxBytes });
      return {
        core: s.core,
        apply: () => {
          writeLuaHeap(this.m, s.heap);
          const b = s.beside;
          this.L = b.L;
          this.memUsed = b.memUsed;
          this.stack.adopt(b);
          this.stop = null;
          this.overrun = true;
          return b.L;
        },
      };
    },
  };

  private requestStop(why: Exclude<Stop, null>): void {
    // The first reason wins: a memory stop must still restart the engine if a timeout follows.
    if (this.stop === null) this.stop = why;
    if (this.running && this.L) this.m._lua_sethook(this.L, this.hookPtr, LUA_MASKCOUNT, 1);
  }

  open(): number {
    this.memUsed = 0;
    this.overrun = false;
    const L = this.m._lua_newstate(this.allocPtr, 0);
    if (!L) throw new Error('lua_newstate failed: limits.memoryBytes is too small for a Lua state');
    this.L = L;
    this.m._luaL_openlibs(L);
    return L;
  }

  booted(L: number): void {
    this.m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_EVERY);
    this.overrun = true;
  }

  close(L: number): void {
    this.m._lua_close(L);
    if (this.L === L) this.L = 0;
  }

  pushFunction(L: number, fn: (L: number) => number): void {
    let p = this.functions.get(fn);
    if (p === undefined) {
      p = this.m.addFunction(fn, 'ii');
      this.functions.set(fn, p);
    }
    this.m._lua_pushcclosure(L, p, 0);
  }

  scriptCall(L: number, nargs: number, nresults: number, msgh: number): number {
    this.overrun = false;
    try {
      return this.m._lua_pcallk(L, nargs, nresults, msgh, 0, 0);
    } finally {
      this.overrun = true;
    }
  }

  begin(L: number, timeoutMs: number): void {
    this.stop = null;
    this.deadline = performance.now() + timeoutMs;
    this.running = true;
    this.overrun = true;
    this.m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_EVERY);
  }

  end(): void {
    this.running = false;
  }

  fatal(e: unknown): boolean {
    return isTrap(e);
  }

  broke(e: unknown): CoreFailure | null {
    const failure = trapFailure(e, this.stop, this.maxBytes);
    if (!failure) return null;
    this.running = false;
    this.broken =
      failure.kind === 'crashed'
        ? failure
        : {
            kind: 'crashed',
            type: 'EngineCrashedError',
            message: `the Lua engine broke after an earlier failure (${failure.message}); it restarts with a fresh state`,
          };
    return failure;
  }

  memoryBytes(): number {
    return this.memUsed;
  }

  dispose(): void {
    this.stack.dispose();
    for (const p of [this.allocPtr, this.hookPtr, ...this.functions.values()]) this.m.removeFunction(p);
    this.functions.clear();
  }
}

/** The wasm Lua core: the shared Lua core over a wasmoon module. */
export type LuaCore = LuaEngineCore<WasmLua>;

export const LuaCore = {
  /** Boots a fresh wasm module and Lua state (the wasm Lua backend's factory, used by wasm/cores.ts). */
  async create(init: CoreInit, env: CoreEnv): Promise<LuaCore> {
    // One factory per core: engines made from one factory share memory and files.
    const factory = new wasmoon.LuaFactory(init.assetUrls?.luaWasm, {});
    const module = rawModule(await factory.getLuaModule());
    return new LuaEngineCore(new WasmLua(module, init.limits.memoryBytes, env), init, env);
  },
};
