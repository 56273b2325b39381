/**
 * What stops a LuaJIT script: the memory cap (a JS allocator) and the interrupt word and
 * deadline (a count hook, and the allocator too). Neither callback ever raises: a Lua error
 * unwinding through a koffi callback frame would take the process down.
 *
 * - The allocator refuses memory only while a script runs inside the core's pcall with no
 *   JS frame in between (`mayRefuse`): LuaJIT then raises "not enough memory" from C, after
 *   the callback returned. While JS itself pushes values (a host call's big result) the use
 *   may pass the limit; the script's next allocation then fails.
 * - To stop, JS re-points the count hook at libluajit's own `lua_error` with a count of 1,
 *   so the next VM instruction raises from C (as luajit.c's `lstop` does), and every one
 *   after it: a pcall loop cannot swallow the stop. From then on the allocator refuses
 *   every allocation, which is what reaches JIT-compiled loops (they never run hooks).
 */
import type { CoreEnv } from '../../src/core.js';
import { stopOf, type Stop } from '../../src/lang/lua/failures.js';
import { LUA_MASKCOUNT, register, type Callback, type LuaJitLib } from './lib.js';

/**
 * Instructions between two looks at the interrupt word. Any count hook makes LuaJIT's
 * interpreter take a hook-check path on every instruction, whatever N is; at 100k the JS
 * callback itself is noise (< 0.5%), and a stop still lands within ~1 ms of interpreted code.
 */
export const HOOK_EVERY = 100_000;
/** Allocations between two polls of the word and deadline from the allocator. */
const ALLOC_POLL_MASK = 255;

export class LuaJitLimits {
  /** Bytes LuaJIT holds through the allocator. */
  used = 0;
  /** Why the current request must stop; null while nothing asked. */
  stop: Stop = null;
  private deadline = Infinity;
  /** True while a script runs inside the core's pcall: the hook and allocator may stop it. */
  private inScript = false;
  /** True while refusing an allocation is safe (inside the core's pcall, no JS frame in between). */
  private mayRefuse = false;
  /** The count hook points at lua_error: a stop is under way. */
  private hookStopping = false;
  /** The periodic hook is in place in this state (no script can take it away: the prelude removes `debug`). */
  private hookSet = false;
  private allocTick = 0;
  private L = 0;
  readonly alloc: Callback;
  private readonly hook: Callback;

  constructor(
    private readonly lib: LuaJitLib,
    private readonly maxBytes: number,
    private readonly env: Pick<CoreEnv, 'interruptWord'>,
  ) {
    // Must never throw: koffi would answer NULL, an out-of-memory error, maybe unprotected.
    this.alloc = register(
      lib,
      (_ud, ptr, osize, nsize) => {
        if (nsize === 0) {
          if (ptr) {
            this.used -= osize;
            lib.free(ptr);
          }
          return 0;
        }
        const delta = ptr ? nsize - osize : nsize;
        if (delta > 0 && this.mayRefuse) {
          if (this.stop !== null) return 0;
          if (this.used + delta > this.maxBytes) {
            this.requestStop('memory');
            return 0;
          }
          if ((++this.allocTick & ALLOC_POLL_MASK) === 0 && this.poll()) return 0;
        }
        const p = lib.realloc(ptr, nsize);
        if (p) this.used += delta;
        return p;
      },
      lib.protos.alloc,
    );
    this.hook = register(
      lib,
      () => {
        if (this.inScript && this.stop === null) this.poll();
      },
      lib.protos.hook,
    );
  }

  /** A new Lua state: nothing allocated yet, nothing running. */
  attach(L: number): void {
    this.L = L;
    this.inScript = false;
    this.mayRefuse = false;
    this.hookSet = false;
  }

  /** Before `lua_newstate`: its memory counts from zero. */
  restart(): void {
    this.used = 0;
  }

  /** Starts a request: no stop, a fresh deadline, the periodic hook back in place. */
  begin(timeoutMs: number): void {
    this.stop = null;
    this.deadline = performance.now() + timeoutMs;
    // A lua_sethook per request is a measurable part of a call: the hook stays between requests.
    if (this.hookStopping || !this.hookSet) this.periodicHook();
  }

  /** Ends a request: a stopping hook goes back to the periodic one. */
  end(): void {
    if (this.hookStopping) this.periodicHook();
  }

  /** Runs script code (the core's lua_pcall): stops and refusals apply inside. */
  script<T>(body: () => T): T {
    this.inScript = true;
    this.mayRefuse = true;
    try {
      return body();
    } finally {
      this.mayRefuse = false;
      this.inScript = false;
    }
  }

  /** Runs a C function's JS body: no refusals while JS is on the stack, and never a throw into C. */
  guarded(body: () => number): number {
    const saved = this.mayRefuse;
    this.mayRefuse = false;
    try {
      return body();
    } catch {
      return 0; // the prelude's wrapper turns "no answer" into an error
    } finally {
      this.mayRefuse = saved;
    }
  }

  /** Looks at the interrupt word and the deadline; true when the script must stop. */
  private poll(): boolean {
    const word = Atomics.load(this.env.interruptWord, 0);
    if (word !== 0) this.requestStop(stopOf(word));
    else if (performance.now() > this.deadline) this.requestStop('timeout');
    return this.stop !== null;
  }

  private requestStop(why: Exclude<Stop, null>): void {
    // The first reason wins: a memory stop must still restart the engine if a timeout follows.
    if (this.stop === null) this.stop = why;
    if (this.inScript && !this.hookStopping) {
      // lua_sethook is safe anywhere (luajit.c calls it from a signal handler); hooks are per VM, not per coroutine.
      this.lib.lua_sethook(this.L, this.lib.luaErrorAddress, LUA_MASKCOUNT, 1);
      this.hookStopping = true;
    }
  }

  private periodicHook(): void {
    this.lib.lua_sethook(this.L, this.hook.address, LUA_MASKCOUNT, HOOK_EVERY);
    this.hookStopping = false;
    this.hookSet = true;
  }

  dispose(): void {
    this.alloc.release();
    this.hook.release();
  }
}
