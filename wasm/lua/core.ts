/**
 * The Lua backend: one wasmoon module (its own WASM memory and file system) per core,
 * driven through the raw C API. Sandboxed globals (prelude.ts), an instruction-count hook
 * that reads the interrupt word and the deadline, and an allocator that enforces
 * limits.memoryBytes.
 */
import wasmoon from 'wasmoon';
import { HostCallError, type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../src/core.js';
import type { CoreFailure } from '../../src/channel/protocol.js';
import { InvalidInputError } from '../../src/errors.js';
import type { ScriptValue } from '../../src/values.js';
import { OutputCapture } from '../output.js';
import { LuaConvert, PLAIN_ONLY, TO_HOST, type ReadPolicy } from './convert.js';
import { DeadHandleError, invalid, type LuaHandles } from './handles.js';
import { wasmLuaStack, type LuaStack } from './lua-stack.js';
import { LUA_MASKCOUNT, LUA_MULTRET, LUA_OK, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS, T, rawModule, type LuaModule } from './lua-api.js';
import { PRELUDE } from './prelude.js';
import { errorType, stopFailure, stopOf, type Stop } from './failures.js';
import { LuaRequests } from './requests.js';

/** Instructions between two looks at the interrupt word: rare enough to cost ~1%. */
const HOOK_EVERY = 20_000;


export class LuaCore extends LuaRequests implements EngineCore {
  readonly language = 'lua' as const;
  protected L = 0;
  protected conv!: LuaConvert;
  private hostRef = 0;
  private buildHostRef = 0;
  private msghRef = 0;
  private memUsed = 0;
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
   * During a request the limit binds only inside pcall: a refused allocation outside it
   * (our own pushes, the handle table) would abort the whole module. If those pass the
   * limit, the script's next allocation fails instead.
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
    this.L = m._lua_newstate(this.allocPtr, 0);
    if (!this.L) throw new Error('lua_newstate failed: limits.memoryBytes is too small for a Lua state');
    const L = this.L;
    m._luaL_openlibs(L);
    // The metatable host.bytes() marks strings with, kept in the registry.
    m._lua_createtable(L, 0, 0);
    const bytesRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
    this.conv?.dispose();
    this.conv = new LuaConvert(m, this.init.limits.maxValueDepth, bytesRef, this.handles);
    // message handler: remember the traceback, keep the error value
    this.cfunction((Ls) => {
      if (this.stop === null) {
        m._luaL_traceback(Ls, Ls, 0, 1);
        this.traceback = this.conv.text(Ls, -1);
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
    this.buildHost();
    m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_EVERY);
    m._lua_settop(L, 0);
  }

  private buildHost(): void {
    const m = this.m;
    const L = this.L;
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.buildHostRef));
    this.conv.push(L, this.hostNames, 'hostFunctions');
    if (m._lua_pcallk(L, 1, 1, 0, 0, 0) !== LUA_OK) throw new Error(`host table: ${this.conv.text(L, -1)}`);
    if (this.hostRef) m._luaL_unref(L, LUA_REGISTRYINDEX, this.hostRef);
    this.hostRef = m._luaL_ref(L, LUA_REGISTRYINDEX);
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
      for (let i = 2; i <= top; i++) {
        args.push(this.conv.read(L, i, `host.${name} argument ${i - 1}`, TO_HOST));
      }
      this.out.flush();
      result = this.env.hostCall(name, args);
      m._lua_settop(L, 0);
      this.conv.push(L, result, `result of host.${name}`);
      return 1;
    } catch (e) {
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
    for (let i = 1; i <= n; i++) {
      m._luaL_tolstring(L, i, 0);
      parts.push(this.conv.text(L, -1));
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
    // Put `host` back: a script may have rawset it away.
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    this.conv.pushString(L, 'host');
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.hostRef));
    m._lua_rawset(L, -3);
    m._lua_settop(L, 0);
    m._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.msghRef));
  }

  protected fail(failure: CoreFailure): CoreOutcome {
    this.running = false;
    this.overrun = false;
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
    let message: string;
    const t = this.m._lua_type(L, -1);
    if (t === T.String || t === T.Number) message = this.conv.text(L, -1);
    else {
      this.m._luaL_tolstring(L, -1, 0);
      message = this.conv.text(L, -1);
    }
    const type = syntax ? 'SyntaxError' : status === 4 ? 'MemoryError' : errorType(message);
    const line = /:(\d+):/.exec(message);
    const f: CoreFailure = { kind: 'script', type, message };
    if (line) f.line = Number(line[1]);
    if (this.traceback) f.traceback = this.traceback;
    return f;
  }

  /** Protected call of the function below nargs values (message handler at 1): null, or why it failed. */
  protected pcall(nargs: number, nresults: number): CoreFailure | null {
    this.overrun = false;
    const status = this.m._lua_pcallk(this.L, nargs, nresults, 1, 0, 0);
    this.overrun = true;
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
    let value: ScriptValue = null;
    try {
      if (n === 1) value = this.conv.read(L, base, 'result', policy);
      else if (n > 1) {
        const vs: ScriptValue[] = [];
        for (let i = 0; i < n; i++) vs.push(this.conv.read(L, base + i, `result[${i}]`, policy));
        value = vs;
      }
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e; // the module broke: the host restarts it
      // The host never sees the handles of a result that failed: drop them.
      this.handles.dropSince(L, mark);
      return this.fail(invalid(e));
    }
    return this.done(value);
  }

  protected done(value: ScriptValue): CoreOutcome & { ok: true } {
    this.running = false;
    this.overrun = false;
    this.m._lua_settop(this.L, 0);
    return { ok: true, value, defined: true, out: this.out.end() };
  }

  setConfig(_config: ScriptValue): void {
    // host.config arrives with the capabilities issue; the value is kept host-side.
  }

  setHostFunctions(names: string[]): void {
    this.hostNames = names;
    this.buildHost();
  }

  reset(): void {
    this.m._lua_close(this.L);
    this.newState();
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
