/**
 * The LuaJIT backend: real libluajit-5.1 (JIT on) through koffi, one lua_State per core,
 * under the shared Lua core (src/lang/lua/core.ts), which answers every EngineCore method
 * the same as on the wasm backend. What is its own: loading the library, the stack calls
 * (stack.ts), the memory cap and the hook (limits.ts), and the C callbacks.
 *
 * Safety rules this file is built around:
 * - A Lua error unwinds C frames (LuaJIT uses the system unwinder on x64). It must never
 *   cross a koffi callback frame or a JS->C call made outside lua_pcall, or the process
 *   dies. So JS only calls non-raising API functions outside pcall (stack.ts), anything
 *   that can run script code goes through lua_pcall, and the C functions Lua calls
 *   (hostcall, print), the allocator and the hook never raise: they return status values
 *   and the prelude's Lua wrappers call `error`.
 * - Memory cap, timeouts and interrupts: limits.ts (a JS allocator, a count hook that
 *   stops by re-pointing itself at libluajit's `lua_error`). Every lua_pcall that can run
 *   script code (requests, the host-table builder, tostring of an error object or of a
 *   REPL result) runs inside `limits.script`: the cap is never off while script code runs.
 * - No script finalizers: `newproxy` is gone (prelude) and Lua 5.1 tables have no `__gc`.
 *
 * KNOWN LIMITATION (verified in test/native/luajit-core.test.ts): LuaJIT does not run
 * hooks inside JIT-compiled traces. A loop that LuaJIT compiles and that does not
 * allocate cannot be stopped in place: `while true do end`, `for i = 1, 1e12 do x = x + i
 * end`, a loop calling `os.time()` or `math.sin` (C functions are stitched into traces), a
 * tail-recursive endless function, and loops whose allocations the JIT removes (an unused
 * `tostring(i)`) or that only make interned strings (`tostring(1) .. "x"`). Only the
 * `process` placement (kill the child) ends those. Stopped in place: loops that allocate
 * (new strings, tables, closures: once stopping, the allocator refuses memory and LuaJIT
 * raises from inside the trace), interpreted code (bytecodes LuaJIT 2.1 does not compile,
 * e.g. closure creation, `pairs`/`next`), coroutines, and pcall loops around any of those.
 * The JIT stays on: native speed is the point of this backend.
 *
 * Costs measured on a 2-core machine: fib(27) 2.1 ms (luajit CLI 1.65 ms); a loop making
 * 800k allocations 29 ms with LuaJIT's own allocator, 167 ms through the JS allocator
 * (~0.17 us per allocator call: the price of the memory cap); any count hook makes
 * LuaJIT's interpreter (not compiled code) route every instruction through its hook check,
 * ~1.6x on interpreted code whatever the count.
 */
import type { CoreEnv, CoreInit, EngineCore } from '../../src/core.js';
import type { LuaBackend } from '../../src/lang/lua/backend.js';
import { LuaEngineCore } from '../../src/lang/lua/core.js';
import type { Stop } from '../../src/lang/lua/failures.js';
import { SHIM_JIT_LUA } from '../../src/lang/lua/shim-jit.lua.generated.js';
import { luajit, register, type Callback, type LuaJitLib } from './lib.js';
import { LuaJitLimits } from './limits.js';
import { LuaJitStack } from './stack.js';

export class LuaJit implements LuaBackend {
  readonly shim = SHIM_JIT_LUA;
  /** The host table is userdata: a script cannot change it, so a request only puts it back. */
  readonly hostCanChange = false;
  /** LuaJIT cannot trap into JS: nothing breaks it for good. */
  readonly broken = null;
  readonly stack: LuaJitStack;
  private readonly limits: LuaJitLimits;
  private readonly callbacks = new Map<(L: number) => number, Callback>();

  constructor(
    private readonly lib: LuaJitLib,
    maxBytes: number,
    env: Pick<CoreEnv, 'interruptWord'>,
  ) {
    this.stack = new LuaJitStack(lib);
    this.limits = new LuaJitLimits(lib, maxBytes, env);
  }

  get stop(): Stop {
    return this.limits.stop;
  }

  set stop(stop: Stop) {
    this.limits.stop = stop;
  }

  open(): number {
    this.limits.restart();
    const L = this.lib.lua_newstate(this.limits.alloc.address, 0);
    if (!L) throw new Error('lua_newstate failed: out of memory');
    this.limits.attach(L);
    this.lib.luaL_openlibs(L);
    return L;
  }

  booted(): void {
    // The cap binds only inside `limits.script` from the start.
  }

  close(L: number): void {
    this.lib.lua_close(L);
  }

  /** A C function's JS body runs guarded: no refusals while JS is on the stack, and never a throw into C. */
  pushFunction(L: number, fn: (L: number) => number): void {
    let cb = this.callbacks.get(fn);
    if (!cb) {
      cb = register(this.lib, (Ls) => this.limits.guarded(() => fn(Ls)), this.lib.protos.cfunction);
      this.callbacks.set(fn, cb);
    }
    this.lib.lua_pushcclosure(L, cb.address, 0);
  }

  scriptCall(L: number, nargs: number, nresults: number, msgh: number): number {
    return this.limits.script(() => this.lib.lua_pcall(L, nargs, nresults, msgh));
  }

  begin(_L: number, timeoutMs: number): void {
    this.limits.begin(timeoutMs);
  }

  end(): void {
    this.limits.end();
  }

  fatal(): boolean {
    return false;
  }

  broke(): null {
    return null;
  }

  memoryBytes(): number {
    return this.limits.used;
  }

  dispose(): void {
    this.limits.dispose();
    for (const cb of this.callbacks.values()) cb.release();
    this.callbacks.clear();
  }
}

/** The native Lua core: the shared Lua core over libluajit. */
export type LuaJitCore = LuaEngineCore<LuaJit>;

/** Loads libluajit (once per process) and boots a LuaJIT core (the native Lua backend's factory, used by native-bridge/cores.ts). */
export async function createLuaJitCore(init: CoreInit, env: CoreEnv): Promise<EngineCore> {
  return new LuaEngineCore(new LuaJit(luajit(), init.limits.memoryBytes, env), init, env);
}
