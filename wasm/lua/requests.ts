/**
 * The requests both Lua cores answer the same way (wasmoon here, LuaJIT in
 * native-bridge/luajit): exec, load, call and the handle requests, on top of the few steps
 * each core does its own way (starting a request, protected calls, reading results).
 */
import type { CoreFailure } from '../../src/channel/protocol.js';
import type { CoreOutcome, RunContext } from '../../src/core.js';
import { InvalidInputError } from '../../src/errors.js';
import type { ScriptValue } from '../../src/values.js';
import type { ReadPolicy } from './convert.js';
import { LuaHandles, invalid, notFunction, resolve } from './handles.js';
import { LUA_OK, T } from './lua-api.js';
import type { LuaStack } from './lua-stack.js';

/** What the requests use of a core's value converter. */
interface Converter {
  push(L: number, v: unknown, path: string): void;
  compile(L: number, code: string, name: string): number;
  readonly asText: ReadPolicy;
}

export abstract class LuaRequests {
  protected abstract L: number;
  protected abstract readonly conv: Converter;
  protected abstract readonly stack: LuaStack;
  protected abstract readonly handles: LuaHandles;
  /** Readies the stack for a request: message handler at 1, limits armed. */
  protected abstract begin(run: RunContext): void;
  /** Protected call of the function below `nargs` values; null, or why it failed. */
  protected abstract pcall(nargs: number, nresults: number): CoreFailure | null;
  /** Calls the function below `nargs` values and answers its results. */
  protected abstract run(nargs: number, policy?: ReadPolicy): CoreOutcome;
  protected abstract fail(failure: CoreFailure): CoreOutcome;
  /** The failure a non-OK status left on the stack (`syntax`: from compiling). */
  protected abstract failure(status: number, syntax?: boolean): CoreFailure;
  protected abstract done(value: ScriptValue): CoreOutcome & { ok: true };
  /** Answers the values from `base` to the top. */
  protected abstract results(base: number, policy: ReadPolicy): CoreOutcome;

  /**
   * Runs one request's body. The wasm core overrides it to answer a wasm trap or abort as a
   * 'crashed' failure (failures.ts trapFailure); LuaJIT cannot trap into JS, so it runs as is.
   */
  protected request(body: () => CoreOutcome): CoreOutcome {
    return body();
  }

  /** The handle table, working on this core's stack and requests. */
  protected makeHandles(engineId: string): LuaHandles {
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
      engineId,
    );
    return handles;
  }

  /** Pushes call arguments; an outcome (already ended) when one cannot cross. */
  protected pushArgs(args: ScriptValue[]): CoreOutcome | null {
    try {
      args.forEach((a, i) => this.conv.push(this.L, a, `args[${i}]`));
      return null;
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      return this.fail(invalid(e));
    }
  }

  exec(code: string, run: RunContext): CoreOutcome {
    return this.request(() => this.execBody(code, run));
  }

  private execBody(code: string, run: RunContext): CoreOutcome {
    this.begin(run);
    // REPL: try the code as an expression first, like the standalone interpreter.
    let status = this.conv.compile(this.L, `return ${code}`, 'input');
    if (status !== LUA_OK) {
      this.stack.settop(this.L, 1);
      status = this.conv.compile(this.L, code, 'input');
      if (status !== LUA_OK) return this.fail(this.failure(status, true));
    }
    // A trailing value with no value form (a function) shows as its tostring() text.
    return this.run(0, this.conv.asText);
  }

  load(code: string, name: string, run: RunContext): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      const status = this.conv.compile(this.L, code, name);
      if (status !== LUA_OK) return this.fail(this.failure(status, true));
      // A module's return value (`return M`) is unused: never read it, it may hold functions.
      const failure = this.pcall(0, 0);
      return failure ? this.fail(failure) : this.done(null);
    });
  }

  call(fn: string, args: ScriptValue[], run: RunContext, optional: boolean): CoreOutcome {
    return this.request(() => {
      this.begin(run);
      const t = resolve(this.stack, this.L, fn);
      if (t !== T.Function) return optional ? { ...this.done(null), defined: false } : this.fail(notFunction(fn, t));
      // Results with no value form (instances, functions) come back as handles.
      return this.pushArgs(args) ?? this.run(args.length, this.handles.policy);
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
    if (this.L) this.handles.release(this.L, ids);
  }

  handleCount(): number {
    return this.handles.count();
  }
}
