/**
 * The Lua EngineCore, one for both backends: wasmoon's Lua 5.4 (wasm/lua) and LuaJIT 2.1
 * (native-bridge/luajit) give it a LuaBackend (a state, its stack calls, the limits around
 * script code); everything a request does is here, the same for both.
 *
 * Rules it keeps (issue 17):
 * - Script code (any Lua function, metamethods included) runs only inside
 *   `backend.scriptCall`: the memory cap is on and the hook armed there, and nowhere else.
 *   Everything outside it is LuaStack calls and our own pushes, which run no Lua code.
 * - The C functions Lua calls (hostcall, print) never raise: they answer status values and
 *   the prelude's Lua wrappers call `error` (a Lua error must not unwind through a LuaJIT
 *   callback frame). A backend's fatal exception (a wasm trap) is the one thing that passes.
 * - Values the host reassembles (results, host-call arguments) are counted against
 *   limits.maxValueBytes while they are read (convert.ts); error texts are cut.
 *
 * A state is built from the version's shim (shim-5.4.lua / shim-jit.lua) and the shared
 * prelude (prelude.lua); the shim's answer is the prelude's fourth argument.
 */
import type { CoreFailure } from '../../channel/protocol.js';
import { HostCallError, type CoreEnv, type CoreInit, type CoreOutcome, type EngineCore, type RunContext } from '../../core.js';
import { InvalidInputError } from '../../errors.js';
import { SessionRefused } from '../../session/refused.js';
import { StoppedRequest } from '../../placement/stopped.js';
import type { ScriptValue } from '../../values.js';
import { DISPLAY_CALL, OutputCapture } from '../output.js';
import type { LuaBackend } from './backend.js';
import { LuaConvert, PLAIN_ONLY, TO_HOST, ValueBudget, luaText, type ReadPolicy } from './convert.js';
import { errorTextLimit, scriptFailure, stopFailure, stopOf } from './failures.js';
import { DeadHandleError, LuaHandles, invalid, notFunction, resolve } from './handles.js';
import { FILES_LUA } from './files.lua.generated.js';
import { PRELUDE_LUA } from './prelude.lua.generated.js';
import { LUA_ERRMEM, LUA_MULTRET, LUA_OK, T, luaTypeName, type LuaStack } from './stack.js';

/** The most one host call of files.lua moves (src/node/mounts.ts MAX_CHUNK_BYTES). */
const FILE_CHUNK_BYTES = 1024 * 1024;

const NO_OUTPUT = { stdout: '', stderr: '', truncated: false };
/** The registry references a session snapshot carries. */
const REFS = ['hostRef', 'hostKeyRef', 'buildHostRef', 'msghRef', 'tostringRef', 'bytesRef', 'indexRef'] as const;
/** The paths of the first call arguments, for messages (made once, not per call). */
const ARG_PATHS = Array.from({ length: 16 }, (_, i) => `args[${i}]`);

export class LuaEngineCore<B extends LuaBackend = LuaBackend> implements EngineCore {
  readonly language = 'lua' as const;
  private L = 0;
  private readonly stack: LuaStack;
  private readonly conv: LuaConvert;
  private readonly handles: LuaHandles;
  private readonly out: OutputCapture;
  private hostNames: string[];
  /** Registry refs into the current state: the host table, the prelude's builder, message handler and tostring. */
  private hostRef = 0;
  /** The string 'host', kept in the registry: pushing a ref is cheaper than pushing text (every request does). */
  private hostKeyRef = 0;
  private buildHostRef = 0;
  private msghRef = 0;
  private tostringRef = 0;
  private disposed = false;
  private readonly hostcallFn = (L: number): number => this.hostcall(L);
  private readonly printFn = (L: number): number => this.print(L);

  /** Builds the first state on `backend`. */
  constructor(
    /** The backend, for its own tests' eyes. */
    readonly backend: B,
    private readonly init: CoreInit,
    private readonly env: CoreEnv,
  ) {
    const limits = init.limits;
    this.stack = backend.stack;
    this.out = new OutputCapture(limits.maxOutputBytes, env);
    this.hostNames = init.hostFunctions;
    const handles: LuaHandles = new LuaHandles(
      {
        stack: this.stack,
        L: () => this.L,
        pcall: (nargs, nresults) => this.pcall(nargs, nresults),
        pushArgs: (args) => this.pushArgs(args),
        results: (base) => this.results(base, handles.policy),
        fail: (failure) => this.fail(failure),
        done: (value) => this.done(value),
      },
      init.engineId,
    );
    this.handles = handles;
    this.conv = new LuaConvert(this.stack, limits.maxValueDepth, handles, limits.maxValueBytes, (L, at, t) => this.describe(L, at, t));
    // A state is built either way: a session is written over it, so its C functions are
    // registered in the order the session's state expects.
    this.newState();
    if (init.session) this.restoreSession(init.session);
  }

  // ---- session snapshots (docs/session-snapshots.md) ------------------------------------

  /** The registry references a session carries: the state's, held here in JavaScript. */
  private refs(): Record<(typeof REFS)[number], number> {
    return {
      hostRef: this.hostRef,
      hostKeyRef: this.hostKeyRef,
      buildHostRef: this.buildHostRef,
      msghRef: this.msghRef,
      tostringRef: this.tostringRef,
      bytesRef: this.conv.bytesRef,
      indexRef: this.handles.indexing,
    };
  }

  saveSession(): Uint8Array {
    const sessions = this.backend.sessions;
    if (!sessions) throw new SessionRefused('this Lua backend takes no session snapshots');
    if (this.backend.broken) throw new Error(this.backend.broken.message);
    this.stack.settop(this.L, 0);
    return sessions.save(this.refs());
  }

  /**
   * Writes a session's state over this one (at boot, from init.session; in place for
   * engine.restore): checked first, so a refused payload changes nothing. Handles start
   * over, and the host table is rebuilt from this engine's own host functions.
   */
  restoreSession(payload: Uint8Array | undefined): void {
    const sessions = this.backend.sessions;
    const from = payload ?? this.init.session;
    if (!sessions || !from) throw new SessionRefused('this Lua backend restores no session snapshots');
    const read = sessions.read(from);
    const refs: Record<string, number> = {};
    for (const k of REFS) {
      const v = read.core[k];
      if (!Number.isSafeInteger(v) || (v as number) < (k === 'hostRef' ? 0 : 1) || (v as number) > 2 ** 31) {
        throw new SessionRefused(`its Lua state's reference ${k} is malformed`);
      }
      refs[k] = v as number;
    }
    this.bookkeeping(() => {
      const L = (this.L = read.apply());
      this.hostRef = refs.hostRef!;
      this.hostKeyRef = refs.hostKeyRef!;
      this.buildHostRef = refs.buildHostRef!;
      this.msghRef = refs.msghRef!;
      this.tostringRef = refs.tostringRef!;
      this.conv.bytesRef = refs.bytesRef!;
      this.stack.settop(L, 0);
      this.handles.attach(L, refs.indexRef!);
      this.buildHost();
      this.backend.booted(L);
      this.stack.settop(L, 0);
    });
  }

  private get maxText(): number {
    return errorTextLimit(this.init.limits.maxValueBytes);
  }

  private newState(): void {
    const s = this.stack;
    const b = this.backend;
    const L = (this.L = b.open());
    // The metatable host.bytes() marks strings with, kept in the registry.
    s.createtable(L);
    this.conv.bytesRef = s.ref(L);
    // shim() -> its parts; prelude(hostcall, print, bytesmt, shim, input) -> build, msgh, tostring, index
    if (s.load(L, b.shim, 'shim') !== LUA_OK || s.pcall(L, 0, 1, 0) !== LUA_OK)
      throw new Error(`the Lua shim failed: ${luaText(s, L, -1)}`);
    if (s.load(L, PRELUDE_LUA, 'prelude') !== LUA_OK) throw new Error(`prelude failed to compile: ${luaText(s, L, -1)}`);
    b.pushFunction(L, this.hostcallFn);
    b.pushFunction(L, this.printFn);
    s.pushRef(L, this.conv.bytesRef);
    s.pushvalue(L, 1);
    s.pushboolean(L, this.init.input === true);
    if (s.pcall(L, 5, 4, 0) !== LUA_OK) throw new Error(`prelude failed: ${luaText(s, L, -1)}`);
    const indexRef = s.ref(L);
    s.pushString(L, 'host');
    this.hostKeyRef = s.ref(L);
    this.tostringRef = s.ref(L);
    this.msghRef = s.ref(L);
    this.buildHostRef = s.ref(L);
    this.handles.attach(L, indexRef);
    this.hostRef = 0;
    // Mounts as files (files.lua): io.open / io.lines over the fs host calls.
    if (this.init.mounts?.length) {
      if (s.load(L, FILES_LUA, 'files') !== LUA_OK) throw new Error(`files.lua failed to compile: ${luaText(s, L, -1)}`);
      b.pushFunction(L, this.hostcallFn);
      s.pushNumber(L, FILE_CHUNK_BYTES);
      if (s.pcall(L, 2, 0, 0) !== LUA_OK) throw new Error(`files.lua failed: ${luaText(s, L, -1)}`);
    }
    b.begin(L, Infinity); // no stop left from before; the periodic hook in place
    this.buildHost();
    b.end(L);
    b.booted(L);
    s.settop(L, 0);
  }

  /**
   * Runs the prelude's host-table builder as script code (it indexes strings, whose
   * methods a script can replace): cap on, hook armed. A stop leaves the old table; the
   * bookkeeping guard reports it.
   */
  private buildHost(): void {
    const s = this.stack;
    const L = this.L;
    const top = s.gettop(L);
    s.pushRef(L, this.buildHostRef);
    this.conv.push(L, this.hostNames, 'hostFunctions');
    if (this.backend.scriptCall(L, 1, 1, 0) !== LUA_OK) {
      const why = this.conv.text(L, -1, this.maxText);
      s.settop(L, top);
      if (this.backend.stop) return;
      throw new Error(`the host table could not be built: ${why}`);
    }
    if (this.hostRef) s.unref(L, this.hostRef);
    this.hostRef = s.ref(L);
    s.settop(L, top);
  }

  /**
   * Runs a bookkeeping request (setHostFunctions, release, reset) like a script request:
   * the hook armed and reading the interrupt word (the host's ladder keeps the deadline),
   * the cap on for any Lua code. A stop throws StoppedRequest, which serve() answers as the
   * failure it carries.
   */
  private bookkeeping(body: () => void): void {
    const b = this.backend;
    if (b.broken) throw new Error(b.broken.message);
    if (this.L) b.begin(this.L, Infinity);
    try {
      body();
    } catch (e) {
      b.broke(e); // marks a broken backend; the error goes on either way
      throw e;
    } finally {
      if (this.L) b.end(this.L);
    }
    const stop = b.stop;
    if (stop) throw new StoppedRequest(stopFailure(stop, this.init.limits.memoryBytes), NO_OUTPUT);
  }

  /** Runs one request's body; a backend's fatal exception (a wasm trap) ends it as its failure. */
  private request(body: () => CoreOutcome): CoreOutcome {
    const b = this.backend;
    if (b.broken) return { ok: false, failure: b.broken, out: NO_OUTPUT };
    try {
      return body();
    } catch (e) {
      const failure = b.broke(e);
      if (!failure) throw e; // a JS bug in the core: serve() reports it as a crash
      // Never touch the state again: only JS state is read here.
      return { ok: false, failure, out: this.out.end() };
    }
  }

  /** hostcall(name, ...) -> true, value | false, "Type: message". Plain values in; values and handles out. */
  private hostcall(L: number): number {
    const s = this.stack;
    const top = s.gettop(L);
    const name = this.conv.text(L, 1);
    let failure: string;
    try {
      const args: ScriptValue[] = [];
      // One budget for all the arguments: limits.maxValueBytes is per message.
      const budget = new ValueBudget(this.init.limits.maxValueBytes);
      for (let i = 2; i <= top; i++) args.push(this.conv.read(L, i, `host.${name} argument ${i - 1}`, TO_HOST, budget));
      this.out.flush();
      // host.display(data, mime) (prelude.lua) is kept with the output, in order with print.
      const result = name === DISPLAY_CALL ? this.display(args) : this.env.hostCall(name, args);
      s.settop(L, 0);
      s.pushboolean(L, true);
      this.conv.push(L, result, `result of host.${name}`);
      return 2;
    } catch (e) {
      // A wasm trap is the module breaking, and a Lua error raised inside a push (out of
      // memory) is a wasm exception unwinding to its pcall: neither may become an answer.
      if (this.backend.fatal(e)) throw e;
      if (e instanceof HostCallError) failure = `${e.failure.type}: ${e.failure.message}`;
      else if (e instanceof DeadHandleError) failure = `DisposedError: ${e.message}`;
      else if (e instanceof InvalidInputError) failure = `InvalidInputError: ${e.message}`;
      else failure = `HostError: ${(e as Error)?.message ?? String(e)}`;
    }
    s.settop(L, 0);
    s.pushboolean(L, false);
    s.pushString(L, failure);
    return 2;
  }

  private display([data, mime]: ScriptValue[]): null {
    try {
      this.out.display(mime, data);
    } catch (e) {
      throw new HostCallError({ type: 'InvalidInputError', message: (e as Error).message });
    }
    return null;
  }

  /** print's C half: the prelude made every argument a string (LuaJIT's joined them already). */
  private print(L: number): number {
    const s = this.stack;
    const n = s.gettop(L);
    const parts: string[] = [];
    // Read no more than the output can hold (print(s, s, s, ...) must not build a huge
    // string in JS): 3 bytes per UTF-16 unit at worst, so a cut still marks `truncated`.
    let room = 3 * (this.init.limits.maxOutputBytes + 1);
    for (let i = 1; i <= n && room > 0; i++) {
      if (s.type(L, i) !== T.String) continue;
      const str = s.string(L, i);
      // Not fatal: a cut may split a character.
      parts.push(new TextDecoder().decode(str.bytes(Math.min(str.length, room))));
      room -= str.length + 1;
    }
    this.out.write('stdout', parts.join('\t') + '\n');
    return 0;
  }

  /** Readies the stack for a request: limits armed, `host` in place, the message handler at 1. */
  private begin(run: RunContext): void {
    this.prepare(run);
    this.stack.settop(this.L, 1);
  }

  /** begin(), leaving the globals at 2 as well (call looks its function up there). */
  private prepare(run: RunContext): void {
    const s = this.stack;
    const b = this.backend;
    const L = this.L;
    b.begin(L, run.timeoutMs);
    this.out.begin(run.stream);
    s.settop(L, 0);
    s.pushRef(L, this.msghRef);
    // Put `host` back: a script may have rawset it away. Where a script can change the
    // table itself (Lua 5.4), the prelude answers the same table while nothing was rawset
    // on it, else a new one; a stopped build falls back to the table built last.
    s.pushGlobals(L);
    s.pushRef(L, this.hostKeyRef);
    if (b.hostCanChange) {
      s.pushRef(L, this.buildHostRef);
      s.pushboolean(L, false);
      if (b.scriptCall(L, 1, 1, 0) !== LUA_OK) {
        s.settop(L, -2);
        s.pushRef(L, this.hostRef);
      }
    } else s.pushRef(L, this.hostRef);
    s.rawset(L, -3);
  }

  private end(): void {
    this.backend.end(this.L);
    this.stack.settop(this.L, 0);
  }

  private fail(failure: CoreFailure): CoreOutcome {
    this.end();
    return { ok: false, failure, out: this.out.end() };
  }

  private done(value: ScriptValue): CoreOutcome & { ok: true } {
    this.end();
    return { ok: true, value, defined: true, out: this.out.end() };
  }

  /** The failure a non-OK status left on top of the stack (`syntax`: from compiling). */
  private failure(status: number, syntax = false): CoreFailure {
    const s = this.stack;
    const b = this.backend;
    const L = this.L;
    // A host call answered "timed out" raises before the hook runs: read the word here too.
    const word = Atomics.load(this.env.interruptWord, 0);
    if (!b.stop && word !== 0) b.stop = stopOf(word);
    if (b.stop) return stopFailure(b.stop, this.init.limits.memoryBytes);
    // The message handler ran tostring() inside the pcall (cap on, hook armed); the host reads a bounded part of its text.
    const max = this.maxText;
    let message: string;
    let traceback: string | undefined;
    const t = s.type(L, -1);
    if (t === T.Table) {
      // The message handler's box: { err, msg, tb }.
      s.pushString(L, 'msg');
      s.rawget(L, -2);
      message = this.conv.text(L, -1, max);
      s.pushString(L, 'tb');
      s.rawget(L, -3);
      traceback = this.conv.text(L, -1, max) || undefined;
      s.settop(L, -3);
    } else if (t === T.String) message = this.conv.text(L, -1, max);
    else if (t === T.Number) message = String(s.toNumber(L, -1));
    else message = `(error object is a ${luaTypeName(t)} value)`;
    return scriptFailure(message, { syntax, outOfMemory: status === LUA_ERRMEM, traceback });
  }

  /** Protected call of the function below `nargs` values (message handler at 1): null, or why it failed. */
  private pcall(nargs: number, nresults: number): CoreFailure | null {
    const status = this.backend.scriptCall(this.L, nargs, nresults, 1);
    return status !== LUA_OK || this.backend.stop ? this.failure(status) : null;
  }

  /** Calls the function below `nargs` values (at `base`; the message handler at 1) and answers its results. */
  private run(nargs: number, policy: ReadPolicy = PLAIN_ONLY, base = 2): CoreOutcome {
    const failure = this.pcall(nargs, LUA_MULTRET);
    return failure ? this.fail(failure) : this.results(base, policy);
  }

  /** Answers the values from `base` to the top: none is null, one is itself, more are a list. */
  private results(base: number, policy: ReadPolicy): CoreOutcome {
    const L = this.L;
    const n = this.stack.gettop(L) - base + 1;
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
      if (!(e instanceof InvalidInputError)) throw e; // the state broke: the host restarts it
      // The host never sees the handles of a result that failed: drop them.
      this.handles.dropSince(L, mark);
      return this.fail(invalid(e));
    }
    // A REPL result's __tostring runs as script code: it may have been stopped.
    const stop = this.backend.stop;
    if (stop) {
      this.handles.dropSince(L, mark);
      return this.fail(stopFailure(stop, this.init.limits.memoryBytes));
    }
    return this.done(value);
  }

  /**
   * The value at `at` as text: tostring() as script code (a __tostring is script code like
   * any other), read up to errorTextLimit; its type name when tostring fails or gives no string.
   */
  private describe(L: number, at: number, type: number): string {
    const s = this.stack;
    if (!s.checkstack(L, 2)) return luaTypeName(type);
    const top = s.gettop(L);
    s.pushRef(L, this.tostringRef);
    s.pushvalue(L, at);
    const ok = this.backend.scriptCall(L, 1, 1, 0) === LUA_OK && s.type(L, -1) === T.String;
    const text = ok ? this.conv.text(L, -1, this.maxText) : luaTypeName(type);
    s.settop(L, top);
    return text;
  }

  /** Pushes call arguments; an outcome (already ended) when one cannot cross. */
  private pushArgs(args: ScriptValue[]): CoreOutcome | null {
    try {
      // A loop, and paths made only past the common ones: this runs on every call.
      for (let i = 0; i < args.length; i++) this.conv.push(this.L, args[i], ARG_PATHS[i] ?? `args[${i}]`);
      return null;
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      return this.fail(invalid(e));
    }
  }

  exec(code: string, run: RunContext): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      const s = this.stack;
      // REPL: try the code as an expression first, like the standalone interpreter.
      let status = s.load(this.L, `return ${code}`, 'input');
      if (status !== LUA_OK) {
        s.settop(this.L, 1);
        status = s.load(this.L, code, 'input');
        if (status !== LUA_OK) return this.fail(this.failure(status, true));
      }
      // A trailing value with no value form (a function) shows as its tostring() text.
      return this.run(0, this.conv.asText);
    });
  }

  load(code: string, name: string, run: RunContext): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      const status = this.stack.load(this.L, code, name);
      if (status !== LUA_OK) return this.fail(this.failure(status, true));
      // A module's return value (`return M`) is unused: never read it, it may hold functions.
      const failure = this.pcall(0, 0);
      return failure ? this.fail(failure) : this.done(null);
    });
  }

  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): CoreOutcome {
    return this.request(() => {
      this.prepare(run);
      const s = this.stack;
      const L = this.L;
      let t: number;
      // Where the function sits, and so where its results start.
      let base = 2;
      if (fn.includes('.')) {
        s.settop(L, 1);
        t = resolve(s, L, fn);
      } else {
        // A plain global, read from the globals prepare() left at 2 (resolve's lookup with
        // fewer stack calls: this is every call's path); the globals stay below it.
        s.pushString(L, fn);
        s.rawget(L, 2);
        t = s.type(L, 3);
        base = 3;
      }
      if (t !== T.Function) return optional ? { ...this.done(null), defined: false } : this.fail(notFunction(fn, t));
      // Results with no value form (instances, functions) come back as handles.
      return this.pushArgs(args) ?? this.run(args.length, this.handles.policy, base);
    });
  }

  create(cls: string, args: ScriptValue[], run: RunContext): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      return this.handles.create(cls, args);
    });
  }

  callMethod(handle: number, method: string, args: ScriptValue[], run: RunContext): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      return this.handles.callMethod(handle, method, args);
    });
  }

  getAttr(handle: number, attr: string, run: RunContext): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      return this.handles.getAttr(handle, attr);
    });
  }

  release(ids: number[]): void {
    // Raw sets of nil in the handle table: no Lua code runs, but a trap must still be mapped.
    if (this.L) this.bookkeeping(() => this.handles.release(this.L, ids));
  }

  handleCount(): number {
    return this.handles.count();
  }

  setHostFunctions(names: string[]): void {
    this.hostNames = names;
    this.bookkeeping(() => this.buildHost());
  }

  reset(): void {
    this.bookkeeping(() => {
      // No script finalizer exists (the shims), so closing runs no script code.
      this.backend.close(this.L);
      this.L = 0;
      this.newState();
    });
  }

  memoryBytes(): number {
    return this.backend.memoryBytes();
  }

  dispose(): void {
    if (this.disposed) return; // the backend's callbacks are released already
    this.disposed = true;
    if (this.L) this.backend.close(this.L);
    this.L = 0;
    this.backend.dispose();
  }
}
