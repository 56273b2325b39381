/**
 * The Lua backend: one wasmoon module (its own WASM memory and file system) per core,
 * driven through the raw C API. Sandboxed globals (prelude.ts), an instruction-count hook
 * that reads the interrupt word and the deadline, and an allocator that enforces
 * limits.memoryBytes.
 *
 * Issue 17 rules this file keeps:
 * - Script code (any Lua function, metamethods included) runs only inside `protect`: the
 *   memory limit is on and the hook armed there, and nowhere else. Everything outside it
 *   is raw API calls and our own pushes, which run no Lua code.
 * - No script finalizer: Lua 5.4 switches hooks off inside `__gc` (lgc.c GCTM sets
 *   allowhook = 0), so a looping finalizer could never be stopped in place. The global
 *   `setmetatable` refuses metatables with a `__gc` field, and only metatables that have
 *   one when they are set mark an object for finalization; `debug.setmetatable` is gone.
 * - A wasm trap or abort is a 'crashed' failure (failures.ts), never a Lua error.
 */
import wasmoon from 'wasmoon';
import { HostCallError, type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../src/core.js';
import type { CoreFailure } from '../../src/channel/protocol.js';
import { InvalidInputError } from '../../src/errors.js';
import { StoppedRequest } from '../../src/placement/stopped.js';
import type { ScriptValue } from '../../src/values.js';
import { OutputCapture } from '../../src/lang/output.js';
import { LuaConvert, PLAIN_ONLY, TO_HOST, ValueBudget, luaTypeName, type ReadPolicy } from './convert.js';
import { DeadHandleError, invalid, type LuaHandles } from './handles.js';
import { wasmLuaStack, type LuaStack } from './lua-stack.js';
import { LUA_MASKCOUNT, LUA_MULTRET, LUA_OK, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS, T, rawModule, type LuaModule } from './lua-api.js';
import { PRELUDE } from './prelude.js';
import { errorTextLimit, errorType, isTrap, stopFailure, stopOf, trapFailure, type Stop } from './failures.js';
import { LuaRequests } from './requests.js';

/** Instructions between two looks at the interrupt word: rare enough to cost ~1%. */
const HOOK_EVERY = 20_000;

const NO_OUTPUT = { stdout: '', stderr: '', truncated: false };

/**
 * Run once on a fresh state, after the prelude and before any script: the guarded
 * `setmetatable` (see the file comment) and a `tostring` no script can replace, for turning
 * error objects and functions into text inside `protect`.
 */
const GUARDS = String.raw`
local setmetatable, rawget, type, error, tostring = setmetatable, rawget, type, error, tostring
return function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not allowed in the sandbox (Lua runs them where no time limit can stop them); " ..
      "release resources explicitly, or with a to-be-closed variable (local x <close> = ...)", 2)
  end
  return setmetatable(t, mt)
end, function(v) return tostring(v) end
`;


export class LuaCore extends LuaRequests implements EngineCore {
  readonly language = 'lua' as const;
  protected L = 0;
  protected conv!: LuaConvert;
  private hostRef = 0;
  private buildHostRef = 0;
  private msghRef = 0;
  /** Registry ref of the unreplaceable `function(v) return tostring(v) end`. */
  private tostringRef = 0;
  private memUsed = 0;
  /** Set by a trap: the module's state is undefined, so every later request answers this. */
  private broken: CoreFailure | null = null;
  private readonly fnPtrs: number[] = [];
  private allocPtr = 0;
  private hookPtr = 0;
  private stop: Stop = null;
  private deadline = Infinity;
  private traceback: string | undefined;
  private readonly out: OutputCapture;
  private hostNames: string[];
  private running = false;
  /**
   * The limit binds only inside `protect`, where all script code runs: a refused allocation
   * outside it (our own pushes, the handle table) would abort the whole module. If those
   * pass the limit, the script's next allocation fails instead. False while a new state is
   * built, so a limit too small for a Lua state fails at boot.
   */
  private overrun = false;
  protected readonly handles: LuaHandles;
  protected readonly stack: LuaStack;

  private constructor(
    private readonly m: LuaModule,
    private readonly init: CoreInit,
    private readonly env: CoreEnv,
  ) {
    super();
    this.out = new OutputCapture(init.limits.maxOutputBytes, env);
    this.hostNames = init.hostFunctions;
    this.stack = wasmLuaStack(m, () => this.conv);
    this.handles = this.makeHandles(init.engineId);
  }

  /** Boots a fresh wasm module and Lua state. */
  static async create(init: CoreInit, env: CoreEnv): Promise<LuaCore> {
    // One factory per core: engines made from one factory share memory and files.
    const factory = new wasmoon.LuaFactory(init.assetUrls?.luaWasm, {});
    const core = new LuaCore(rawModule(await factory.getLuaModule()), init, env);
    core.installCallbacks();
    core.newState();
    return core;
  }

  private installCallbacks(): void {
    const m = this.m;
    const max = this.init.limits.memoryBytes;
    this.allocPtr = m.addFunction((_ud: number, ptr: number, oldSize: number, newSize: number): number => {
      if (newSize === 0) {
        if (ptr) {
          this.memUsed -= oldSize;
          m._free(ptr);
        }
        return 0;
      }
      const delta = ptr ? newSize - oldSize : newSize;
      if (delta > 0 && this.memUsed + delta > max && !this.overrun) {
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
      this.conv.pushString(L, 'scriptbox: execution stopped');
      m._lua_error(L);
    }, 'vii');
    this.fnPtrs.push(this.allocPtr, this.hookPtr);
  }

  private requestStop(why: Exclude<Stop, null>): void {
    // The first reason wins: a memory stop must still restart the engine if a timeout follows.
    if (this.stop === null) this.stop = why;
    if (this.running && this.L) this.m._lua_sethook(this.L, this.hookPtr, LUA_MASKCOUNT, 1);
  }

  private cfunction(fn: (L: number) => number): void {
    const p = this.m.addFunction(fn, 'ii');
    this.fnPtrs.push(p);
    this.m._lua_pushcclosure(this.L, p, 0);
  }

  private newState(): void {
    const m = this.m;
    this.memUsed = 0;
    this.overrun = false;
    this.L = m._lua_newstate(this.allocPtr, 0);
    if (!this.L) throw new Error('lua_newstate failed: limits.memoryBytes is too small for a Lua state');
    const L = this.L;
    m._luaL_openlibs(L);
    // The metatable host.bytes() marks strings with, kept in the registry.
    m._lua_createtable(L, 0, 0);
    const bytesRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
    this.conv?.dispose();
    const limits = this.init.limits;
    this.conv = new LuaConvert(m, limits.maxValueDepth, bytesRef, this.handles, limits.maxValueBytes, (Ls, at, t) => this.describe(Ls, at, t));
    // message handler: remember the traceback, keep the error value
    this.cfunction((Ls) => {
      if (this.stop === null) {
        m._luaL_traceback(Ls, Ls, 0, 1);
        this.traceback = this.conv.text(Ls, -1, errorTextLimit(limits.maxValueBytes));
        m._lua_settop(Ls, -2);
      }
      return 1;
    });
    this.msghRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
    if (this.conv.compile(L, 'local o, k = ... return o[k]', 'scriptbox') !== LUA_OK) throw new Error('the index helper failed to compile');
    this.handles.attach(L, m._luaL_ref(L, LUA_REGISTRYINDEX));
    // prelude(hostcall, print, bytesmt) -> buildHost
    if (this.conv.compile(L, PRELUDE, 'prelude') !== LUA_OK) {
      throw new Error(`prelude failed to compile: ${this.conv.text(L, -1)}`);
    }
    this.cfunction((Ls) => this.hostcall(Ls));
    this.cfunction((Ls) => this.print(Ls));
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(bytesRef));
    if (m._lua_pcallk(L, 3, 1, 0, 0, 0) !== LUA_OK) throw new Error(`prelude failed: ${this.conv.text(L, -1)}`);
    this.buildHostRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
    this.installGuards();
    this.hostRef = 0;
    this.buildHost();
    m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_EVERY);
    m._lua_settop(L, 0);
    this.overrun = true;
  }

  /** Installs GUARDS: globals.setmetatable becomes the guarded one; keeps the tostring. */
  private installGuards(): void {
    const m = this.m;
    const L = this.L;
    if (this.conv.compile(L, GUARDS, 'scriptbox') !== LUA_OK || m._lua_pcallk(L, 0, 2, 0, 0, 0) !== LUA_OK) {
      throw new Error(`the sandbox guards failed: ${this.conv.text(L, -1)}`);
    }
    this.tostringRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
    // stack: guarded setmetatable; globals.setmetatable = it
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    this.conv.pushString(L, 'setmetatable');
    m._lua_pushvalue(L, -3);
    m._lua_rawset(L, -3);
    m._lua_settop(L, -3);
  }

  /**
   * Runs the prelude's host-table builder (protected: it indexes strings, whose methods a
   * script can replace). A stop leaves the old table; the bookkeeping guard reports it.
   */
  private buildHost(): void {
    const m = this.m;
    const L = this.L;
    const top = m._lua_gettop(L);
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.buildHostRef));
    this.conv.push(L, this.hostNames, 'hostFunctions');
    if (this.protect(1, 1, 0) !== LUA_OK) {
      const why = this.conv.text(L, -1, errorTextLimit(this.init.limits.maxValueBytes));
      m._lua_settop(L, top);
      if (this.stop) return;
      throw new Error(`the host table could not be built: ${why}`);
    }
    if (this.hostRef) m._luaL_unref(L, LUA_REGISTRYINDEX, this.hostRef);
    this.hostRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
    m._lua_settop(L, top);
  }

  /** lua_pcall with the memory limit on: the only place script code runs. */
  private protect(nargs: number, nresults: number, msgh: number): number {
    this.overrun = false;
    try {
      return this.m._lua_pcallk(this.L, nargs, nresults, msgh, 0, 0);
    } finally {
      this.overrun = true;
    }
  }

  /**
   * The error value or function at `at` as text: tostring() inside `protect` (a __tostring
   * is script code like any other), read up to errorTextLimit; a type placeholder when
   * tostring fails or gives no string.
   */
  private describe(L: number, at: number, type: number): string {
    const m = this.m;
    const fallback = `(error object is a ${luaTypeName(type)} value)`;
    if (L !== this.L || !m._lua_checkstack(L, 2)) return fallback;
    const top = m._lua_gettop(L);
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.tostringRef));
    m._lua_pushvalue(L, at);
    const ok = this.protect(1, 1, 0) === LUA_OK && m._lua_type(L, -1) === T.String;
    const text = ok ? this.conv.text(L, -1, errorTextLimit(this.init.limits.maxValueBytes)) : fallback;
    m._lua_settop(L, top);
    return text;
  }

  /**
   * Runs a bookkeeping request (setHostFunctions, release, reset) like a script request:
   * the hook armed and reading the interrupt word (the host's ladder keeps the deadline),
   * the limit on for any Lua code. A stop throws StoppedRequest, which serve() answers as
   * the failure it carries.
   */
  private bookkeeping(body: () => void): void {
    if (this.broken) throw new Error(this.broken.message);
    this.stop = null;
    this.deadline = Infinity;
    this.running = true;
    if (this.L) this.m._lua_sethook(this.L, this.hookPtr, LUA_MASKCOUNT, HOOK_EVERY);
    try {
      body();
    } catch (e) {
      if (isTrap(e)) this.broken = trapFailure(e, this.stop, this.init.limits.memoryBytes);
      throw e;
    } finally {
      this.running = false;
    }
    const stop = this.stop as Stop;
    if (stop) throw new StoppedRequest(stopFailure(stop, this.init.limits.memoryBytes), NO_OUTPUT);
  }

  /** The C function behind every host stub: hostcall(name, ...). Plain values in; values and handles out. */
  private hostcall(L: number): number {
    const m = this.m;
    const top = m._lua_gettop(L);
    const name = this.conv.text(L, 1);
    let result: ScriptValue;
    let failure: string | null = null;
    try {
      const args: ScriptValue[] = [];
      // One budget for all the arguments: limits.maxValueBytes is per message.
      const budget = new ValueBudget(this.init.limits.maxValueBytes);
      for (let i = 2; i <= top; i++) {
        args.push(this.conv.read(L, i, `host.${name} argument ${i - 1}`, TO_HOST, budget));
      }
      this.out.flush();
      result = this.env.hostCall(name, args);
      m._lua_settop(L, 0);
      this.conv.push(L, result, `result of host.${name}`);
      return 1;
    } catch (e) {
      // A trap is the module breaking, and a Lua error raised inside a push (out of memory)
      // is a wasm exception unwinding to its pcall: neither may become a catchable error.
      if (isTrap(e)) throw e;
      if (e instanceof HostCallError) failure = `${e.failure.type}: ${e.failure.message}`;
      else if (e instanceof DeadHandleError) failure = `DisposedError: ${e.message}`;
      else if (e instanceof InvalidInputError) failure = `InvalidInputError: ${e.message}`;
      else failure = `HostError: ${(e as Error)?.message ?? String(e)}`;
    }
    m._lua_settop(L, 0);
    this.conv.pushString(L, failure);
    return m._lua_error(L);
  }

  private print(L: number): number {
    const m = this.m;
    const n = m._lua_gettop(L);
    const parts: string[] = [];
    // Read no more than the output can hold (print(s, s, s, ...) must not build a huge
    // string in JS): 3 bytes per UTF-16 unit at worst, so a cut still marks `truncated`.
    let room = 3 * (this.init.limits.maxOutputBytes + 1);
    for (let i = 1; i <= n && room > 0; i++) {
      m._luaL_tolstring(L, i, 0);
      const [text, len] = this.conv.textUpTo(L, -1, room);
      parts.push(text);
      room -= len + 1;
      m._lua_settop(L, -2);
    }
    this.out.write('stdout', parts.join('\t') + '\n');
    return 0;
  }

  protected begin(run: RunContext): void {
    this.stop = null;
    this.traceback = undefined;
    this.deadline = performance.now() + run.timeoutMs;
    this.out.begin(run.stream);
    this.running = true;
    this.overrun = true;
    const m = this.m;
    const L = this.L;
    m._lua_settop(L, 0);
    m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_EVERY);
    // `host` from the prelude: the same table while nothing was rawset on it, else a new one
    // from its private copy of the names (a Lua 5.4 table cannot refuse rawset). A stopped
    // build falls back to the table built at boot / by setHostFunctions.
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    this.conv.pushString(L, 'host');
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.buildHostRef));
    m._lua_pushboolean(L, 0);
    if (this.protect(1, 1, 0) !== LUA_OK) {
      m._lua_settop(L, -2);
      m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.hostRef));
    }
    m._lua_rawset(L, -3);
    m._lua_settop(L, 0);
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.msghRef));
  }

  protected fail(failure: CoreFailure): CoreOutcome {
    this.running = false;
    this.m._lua_settop(this.L, 0);
    return { ok: false, failure, out: this.out.end() };
  }

  /** Turns the error value on top of the stack (after a failed pcall) into a failure. */
  protected failure(status: number, syntax = false): CoreFailure {
    const L = this.L;
    // A host call answered "timed out" raises before the hook runs: read the word here too.
    const word = Atomics.load(this.env.interruptWord, 0);
    if (!this.stop && word !== 0) this.stop = stopOf(word);
    if (this.stop) return stopFailure(this.stop, this.init.limits.memoryBytes);
    const t = this.m._lua_type(L, -1);
    const message =
      t === T.String || t === T.Number ? this.conv.text(L, -1, errorTextLimit(this.init.limits.maxValueBytes)) : this.describe(L, this.m._lua_gettop(L), t);
    // Its __tostring may have run past the deadline, or out of memory.
    const stop = this.stop as Stop;
    if (stop) return stopFailure(stop, this.init.limits.memoryBytes);
    const type = syntax ? 'SyntaxError' : status === 4 ? 'MemoryError' : errorType(message);
    const line = /:(\d+):/.exec(message);
    const f: CoreFailure = { kind: 'script', type, message };
    if (line) f.line = Number(line[1]);
    if (this.traceback) f.traceback = this.traceback;
    return f;
  }

  /** Protected call of the function below nargs values (message handler at 1): null, or why it failed. */
  protected pcall(nargs: number, nresults: number): CoreFailure | null {
    const status = this.protect(nargs, nresults, 1);
    return status !== LUA_OK || this.stop ? this.failure(status) : null;
  }

  /** Runs the function just above the message handler with nargs. */
  protected run(nargs: number, policy: ReadPolicy = PLAIN_ONLY): CoreOutcome {
    const failure = this.pcall(nargs, LUA_MULTRET);
    return failure ? this.fail(failure) : this.results(2, policy);
  }

  /** Answers the values from `base` to the top: none is null, one is itself, more are a list. */
  protected results(base: number, policy: ReadPolicy): CoreOutcome {
    const L = this.L;
    const n = this.m._lua_gettop(L) - base + 1;
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
      if (!(e instanceof InvalidInputError)) throw e; // the module broke: the host restarts it
      // The host never sees the handles of a result that failed: drop them.
      this.handles.dropSince(L, mark);
      return this.fail(invalid(e));
    }
    // A function's __tostring (the REPL's view) may have been stopped.
    const stop = this.stop as Stop;
    if (stop) {
      this.handles.dropSince(L, mark);
      return this.fail(stopFailure(stop, this.init.limits.memoryBytes));
    }
    return this.done(value);
  }

  protected done(value: ScriptValue): CoreOutcome & { ok: true } {
    this.running = false;
    this.m._lua_settop(this.L, 0);
    return { ok: true, value, defined: true, out: this.out.end() };
  }

  setConfig(_config: ScriptValue): void {
    // host.config arrives with the capabilities issue; the value is kept host-side.
  }

  /** Maps a trap during a request to its failure (and marks the core broken); the answer of a broken core. */
  protected override request(body: () => CoreOutcome): CoreOutcome {
    if (this.broken) return { ok: false, failure: this.broken, out: NO_OUTPUT };
    try {
      return body();
    } catch (e) {
      const failure = trapFailure(e, this.stop, this.init.limits.memoryBytes);
      if (!failure) throw e;
      this.running = false;
      this.broken =
        failure.kind === 'crashed'
          ? failure
          : { kind: 'crashed', type: 'EngineCrashedError', message: `the Lua engine broke after an earlier failure (${failure.message}); it restarts with a fresh state` };
      // Never touch the module again: only JS state is read here.
      return { ok: false, failure, out: this.out.end() };
    }
  }

  setHostFunctions(names: string[]): void {
    this.hostNames = names;
    this.bookkeeping(() => this.buildHost());
  }

  override release(ids: number[]): void {
    // Raw sets of nil in the handle table: no Lua code runs, but a trap must still be mapped.
    this.bookkeeping(() => super.release(ids));
  }

  reset(): void {
    this.bookkeeping(() => {
      // No script finalizer exists (GUARDS), so closing runs no script code.
      this.m._lua_close(this.L);
      this.newState();
    });
  }

  memoryBytes(): number {
    return this.memUsed;
  }

  dispose(): void {
    if (this.L) this.m._lua_close(this.L);
    this.L = 0;
    this.conv.dispose();
    for (const p of this.fnPtrs) this.m.removeFunction(p);
    this.fnPtrs.length = 0;
  }
}
