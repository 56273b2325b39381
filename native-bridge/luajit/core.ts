/**
 * The LuaJIT backend: real libluajit-5.1 (JIT on) through koffi, one lua_State per core,
 * behaving like the wasm LuaCore (wasm/lua/core.ts) for every EngineCore method.
 *
 * Safety rules this file is built around:
 * - A Lua error unwinds C frames (LuaJIT uses the system unwinder on x64). It must never
 *   cross a koffi callback frame or a JS->C call made outside lua_pcall, or the process
 *   dies. So JS only calls non-raising API functions outside pcall (convert.ts), anything
 *   that can run script code goes through lua_pcall, and the C functions Lua calls
 *   (hostcall, print), the allocator and the hook never raise: they return status values
 *   and the prelude's Lua wrappers call `error`.
 * - Memory cap, timeouts and interrupts: limits.ts (a JS allocator, a count hook that
 *   stops by re-pointing itself at libluajit's `lua_error`). Every lua_pcall that can run
 *   script code (requests, the host-table builder, tostring of an error object or of a
 *   REPL result) runs inside `limits.script`: the cap is never off while script code runs.
 * - No script finalizers: `newproxy` is gone (prelude) and Lua 5.1 tables have no `__gc`.
 * - Values the host reassembles (results, host-call arguments) are counted against
 *   limits.maxValueBytes while they are read (convert.ts); error texts are cut.
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
import { HostCallError, type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../src/core.js';
import type { CoreFailure } from '../../src/channel/protocol.js';
import { InvalidInputError } from '../../src/errors.js';
import { StoppedRequest } from '../../src/placement/stopped.js';
import type { ScriptValue } from '../../src/values.js';
import { OutputCapture } from '../../src/lang/output.js';
import { PLAIN_ONLY, TO_HOST, ValueBudget, type ReadPolicy } from '../../wasm/lua/convert.js';
import { LuaJitConvert, luajitStack } from './convert.js';
import { errorTextLimit, scriptFailure, stopFailure, stopOf } from '../../wasm/lua/failures.js';
import { DeadHandleError, invalid, type LuaHandles } from '../../wasm/lua/handles.js';
import type { LuaStack } from '../../wasm/lua/lua-stack.js';
import { LUA_MULTRET, LUA_OK, LUA_REGISTRYINDEX, T, luajit, register, type Callback, type LuaJitLib } from './lib.js';
import { LuaJitLimits } from './limits.js';
import { PRELUDE } from './prelude.js';
import { LuaRequests } from '../../wasm/lua/requests.js';

export class LuaJitCore extends LuaRequests implements EngineCore {
  readonly language = 'lua' as const;
  protected L = 0;
  protected readonly conv: LuaJitConvert;
  protected readonly handles: LuaHandles;
  protected readonly stack: LuaStack;
  private readonly out: OutputCapture;
  private readonly limits: LuaJitLimits;
  private readonly hostcallCb: Callback;
  private readonly printCb: Callback;
  private hostRef = 0;
  private buildHostRef = 0;
  private msghRef = 0;
  private hostNames: string[];

  private constructor(
    private readonly lib: LuaJitLib,
    private readonly init: CoreInit,
    private readonly env: CoreEnv,
  ) {
    super();
    this.out = new OutputCapture(init.limits.maxOutputBytes, env);
    this.hostNames = init.hostFunctions;
    this.stack = luajitStack(lib, () => this.conv);
    this.handles = this.makeHandles(init.engineId);
    this.conv = new LuaJitConvert(lib, init.limits.maxValueDepth, this.handles, init.limits.maxValueBytes, (L, nargs, nresults) =>
      this.limits.script(() => lib.lua_pcall(L, nargs, nresults, 0)),
    );
    this.limits = new LuaJitLimits(lib, init.limits.memoryBytes, env);
    this.hostcallCb = register(lib, (Ls) => this.limits.guarded(() => this.hostcall(Ls)), lib.protos.cfunction);
    this.printCb = register(lib, (Ls) => this.limits.guarded(() => this.print(Ls)), lib.protos.cfunction);
  }

  /** Loads libluajit (once per process) and boots a fresh Lua state. */
  static create(init: CoreInit, env: CoreEnv): LuaJitCore {
    const core = new LuaJitCore(luajit(), init, env);
    core.newState();
    return core;
  }

  private newState(): void {
    const lib = this.lib;
    this.limits.restart();
    const L = lib.lua_newstate(this.limits.alloc.address, 0);
    if (!L) throw new Error('lua_newstate failed: out of memory');
    this.L = L;
    this.limits.attach(L);
    lib.luaL_openlibs(L);
    // The metatable host.bytes() marks strings with, kept in the registry.
    lib.lua_createtable(L, 0, 0);
    this.conv.bytesRef = lib.luaL_ref(L, LUA_REGISTRYINDEX);
    // prelude(hostcall, print, bytesmt) -> build, msgh, tostring, index
    if (this.conv.compile(L, PRELUDE, 'prelude') !== LUA_OK) throw new Error(`prelude failed to compile: ${this.conv.text(L, -1)}`);
    lib.lua_pushcclosure(L, this.hostcallCb.address, 0);
    lib.lua_pushcclosure(L, this.printCb.address, 0);
    lib.lua_rawgeti(L, LUA_REGISTRYINDEX, this.conv.bytesRef);
    if (lib.lua_pcall(L, 3, 4, 0) !== LUA_OK) throw new Error(`prelude failed: ${this.conv.text(L, -1)}`);
    const indexRef = lib.luaL_ref(L, LUA_REGISTRYINDEX);
    this.conv.tostringRef = lib.luaL_ref(L, LUA_REGISTRYINDEX);
    this.msghRef = lib.luaL_ref(L, LUA_REGISTRYINDEX);
    this.buildHostRef = lib.luaL_ref(L, LUA_REGISTRYINDEX);
    this.handles.attach(L, indexRef);
    this.hostRef = 0;
    this.limits.begin(Infinity); // no stop left from before; installs the periodic hook
    this.buildHost();
    this.limits.end();
    lib.lua_settop(L, 0);
  }

  /**
   * Runs the prelude's host-table builder as script code (it indexes strings, whose
   * methods a script can replace): cap on, hook armed. A stop leaves the old table.
   */
  private buildHost(): void {
    const lib = this.lib;
    const L = this.L;
    const top = lib.lua_gettop(L);
    lib.lua_rawgeti(L, LUA_REGISTRYINDEX, this.buildHostRef);
    this.conv.push(L, this.hostNames, 'hostFunctions');
    if (this.limits.script(() => lib.lua_pcall(L, 1, 1, 0)) !== LUA_OK) {
      const why = this.conv.text(L, -1, errorTextLimit(this.init.limits.maxValueBytes));
      lib.lua_settop(L, top);
      if (this.limits.stop) return;
      throw new Error(`the host table could not be built: ${why}`);
    }
    if (this.hostRef) lib.luaL_unref(L, LUA_REGISTRYINDEX, this.hostRef);
    this.hostRef = lib.luaL_ref(L, LUA_REGISTRYINDEX);
    lib.lua_settop(L, top);
  }

  /**
   * Runs a bookkeeping request that can run script code (setHostFunctions) like a script
   * request: the hook reads the interrupt word (the host's ladder keeps the deadline) and
   * the cap is on. A stop throws StoppedRequest, which serve() answers as its failure.
   */
  private bookkeeping(body: () => void): void {
    this.limits.begin(Infinity);
    try {
      body();
    } finally {
      this.limits.end();
    }
    const stop = this.limits.stop;
    if (stop) throw new StoppedRequest(stopFailure(stop, this.init.limits.memoryBytes), { stdout: '', stderr: '', truncated: false });
  }

  /** hostcall(name, ...) -> true, value | false, "Type: message". Plain values in; values and handles out. */
  private hostcall(L: number): number {
    const lib = this.lib;
    const top = lib.lua_gettop(L);
    const name = this.conv.text(L, 1);
    let failure: string;
    try {
      const args: ScriptValue[] = [];
      // One budget for all the arguments: limits.maxValueBytes is per message.
      const budget = new ValueBudget(this.init.limits.maxValueBytes);
      for (let i = 2; i <= top; i++) args.push(this.conv.read(L, i, `host.${name} argument ${i - 1}`, TO_HOST, budget));
      this.out.flush();
      const result = this.env.hostCall(name, args);
      lib.lua_settop(L, 0);
      lib.lua_pushboolean(L, 1);
      this.conv.push(L, result, `result of host.${name}`);
      return 2;
    } catch (e) {
      if (e instanceof HostCallError) failure = `${e.failure.type}: ${e.failure.message}`;
      else if (e instanceof DeadHandleError) failure = `DisposedError: ${e.message}`;
      else if (e instanceof InvalidInputError) failure = `InvalidInputError: ${e.message}`;
      else failure = `HostError: ${(e as Error)?.message ?? String(e)}`;
    }
    lib.lua_settop(L, 0);
    lib.lua_pushboolean(L, 0);
    this.conv.pushString(L, failure);
    return 2;
  }

  /** print's C half: the prelude joined the tostring()s already, so this only reads a string. */
  private print(L: number): number {
    // Read no more than the output can hold: 3 bytes per UTF-16 unit at worst, so a cut still marks `truncated`.
    this.out.write('stdout', this.conv.text(L, 1, 3 * (this.init.limits.maxOutputBytes + 1)) + '\n');
    return 0;
  }

  protected begin(run: RunContext): void {
    const lib = this.lib;
    const L = this.L;
    this.limits.begin(run.timeoutMs);
    this.out.begin(run.stream);
    lib.lua_settop(L, 0);
    // Put `host` back: a script may have rawset it away.
    this.conv.pushGlobals(L);
    lib.lua_pushstring(L, 'host');
    lib.lua_rawgeti(L, LUA_REGISTRYINDEX, this.hostRef);
    lib.lua_rawset(L, -3);
    lib.lua_settop(L, 0);
    lib.lua_rawgeti(L, LUA_REGISTRYINDEX, this.msghRef);
  }

  private end(): void {
    this.limits.end();
    this.lib.lua_settop(this.L, 0);
  }

  protected fail(failure: CoreFailure): CoreOutcome {
    this.end();
    return { ok: false, failure, out: this.out.end() };
  }

  protected done(value: ScriptValue): CoreOutcome & { ok: true } {
    this.end();
    return { ok: true, value, defined: true, out: this.out.end() };
  }

  /** Turns the error on top of the stack (after a failed pcall or load) into a failure. */
  protected failure(status: number, syntax = false): CoreFailure {
    const lib = this.lib;
    const L = this.L;
    // A host call answered "timed out" raises before the hook runs: read the word here too.
    const word = Atomics.load(this.env.interruptWord, 0);
    if (!this.limits.stop && word !== 0) this.limits.stop = stopOf(word);
    if (this.limits.stop) return stopFailure(this.limits.stop, this.init.limits.memoryBytes);
    let message: string;
    let traceback: string | undefined;
    // The message handler ran tostring() inside the pcall (cap on, hook armed); the host reads a bounded part of its text.
    const max = errorTextLimit(this.init.limits.maxValueBytes);
    const t = lib.lua_type(L, -1);
    if (t === T.Table) {
      // The message handler's box: { err, msg, tb }.
      lib.lua_pushstring(L, 'msg');
      lib.lua_rawget(L, -2);
      message = this.conv.text(L, -1, max);
      lib.lua_pushstring(L, 'tb');
      lib.lua_rawget(L, -3);
      traceback = this.conv.text(L, -1, max) || undefined;
      lib.lua_settop(L, -3);
    } else if (t === T.String) message = this.conv.text(L, -1, max);
    else if (t === T.Number) message = String(lib.lua_tonumber(L, -1));
    else message = `(error object is a ${t === T.Nil ? 'nil' : 'non-string'} value)`;
    return scriptFailure(message, { syntax, outOfMemory: status === 4, ...(traceback ? { traceback } : {}) });
  }

  /** Protected call of the function below nargs values (message handler at 1): null, or why it failed. */
  protected pcall(nargs: number, nresults: number): CoreFailure | null {
    const status = this.limits.script(() => this.lib.lua_pcall(this.L, nargs, nresults, 1));
    return status !== LUA_OK || this.limits.stop ? this.failure(status) : null;
  }

  /** Runs the function just above the message handler with nargs. */
  protected run(nargs: number, policy: ReadPolicy = PLAIN_ONLY): CoreOutcome {
    const failure = this.pcall(nargs, LUA_MULTRET);
    return failure ? this.fail(failure) : this.results(2, policy);
  }

  /** Answers the values from `base` to the top: none is null, one is itself, more are a list. */
  protected results(base: number, policy: ReadPolicy): CoreOutcome {
    const L = this.L;
    const n = this.lib.lua_gettop(L) - base + 1;
    const mark = this.handles.mark();
    const budget = new ValueBudget(this.init.limits.maxValueBytes);
    let value: ScriptValue = null;
    try {
      if (n === 1) value = this.conv.read(L, base, 'result', policy, budget);
      else if (n > 1) {
        const vs: ScriptValue[] = [];
        for (let i = 0; i < n; i++) vs.push(this.conv.read(L, base + i, `result[${i}]`, policy, budget));
        value = vs;
      }
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      // The host never sees the handles of a result that failed: drop them.
      this.handles.dropSince(L, mark);
      return this.fail(invalid(e));
    }
    // A REPL result's __tostring runs as script code: it may have been stopped.
    if (this.limits.stop) {
      this.handles.dropSince(L, mark);
      return this.fail(stopFailure(this.limits.stop, this.init.limits.memoryBytes));
    }
    return this.done(value);
  }

  setConfig(_config: ScriptValue): void {
    // host.config is served host-side (a host function), as on the wasm backend.
  }

  setHostFunctions(names: string[]): void {
    this.hostNames = names;
    this.bookkeeping(() => this.buildHost());
  }

  reset(): void {
    this.lib.lua_close(this.L);
    this.L = 0;
    this.newState();
  }

  memoryBytes(): number {
    return this.limits.used;
  }

  dispose(): void {
    if (!this.L) return; // disposed already: the callbacks are released
    this.lib.lua_close(this.L);
    this.L = 0;
    this.limits.dispose();
    this.hostcallCb.release();
    this.printCb.release();
  }
}

/** Boots a LuaJIT core (the native Lua backend's factory, used by native-bridge/cores.ts). */
export async function createLuaJitCore(init: CoreInit, env: CoreEnv): Promise<EngineCore> {
  return LuaJitCore.create(init, env);
}
