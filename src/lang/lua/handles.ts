/**
 * Remote objects on the Lua side (DESIGN §4): the handle table, and the requests on the
 * objects in it (create, callMethod, getAttr), for both Lua backends (wasmoon in wasm/lua,
 * LuaJIT in native-bridge/luajit) through their LuaStack. Only raw API calls run outside pcall;
 * indexing and calls go through the core's pcall.
 *
 * The table lives in the Lua registry (id -> object), so an object the host holds a
 * RemoteObject for stays alive until the host releases it or the state resets. Ids grow
 * per core and are never reused, not even across resets, so a stale handle can never
 * reach a newer object.
 */
import type { CoreFailure } from '../../channel/protocol.js';
import type { CoreOutcome } from '../../core.js';
import { InvalidInputError } from '../../errors.js';
import { WireHandle, type ScriptValue } from '../../values.js';
import { luaText, type ReadPolicy } from './convert.js';
import { LUA_MULTRET, T, luaTypeName, type LuaStack } from './stack.js';

/** A handle whose object is gone (released, or the state was reset). */
export class DeadHandleError extends InvalidInputError {}

/** A value that cannot cross, as a failure; a dead handle is its own type. */
export function invalid(e: unknown): CoreFailure {
  const err = e as InvalidInputError;
  const type = err instanceof DeadHandleError ? 'DisposedError' : 'InvalidInputError';
  const f: CoreFailure = { kind: 'invalid', type, message: err?.message ?? String(e) };
  if (err?.path !== undefined) f.path = err.path;
  return f;
}

function dead(path: string, id: number, kind?: string): string {
  const what = kind === undefined ? `${path} #${id} is` : `${path} is a handle to ${kind} #${id}, which is`;
  return `${what} no longer alive in this engine; it was disposed or the engine restarted`;
}

function noAttr(kind: string, what: 'method' | 'attribute', name: string, why = ''): CoreFailure {
  return { kind: 'script', type: 'AttributeError', message: `${kind} object has no ${what} '${name}'${why}` };
}

export function notFunction(fn: string, type: number): CoreFailure {
  const what = type === T.Nil ? 'is not defined' : `is a ${luaTypeName(type)}, not a function`;
  return {
    kind: 'invalid',
    type: 'NameError',
    message: `Lua function '${fn}' ${what}; define it with load() first (dotted names look up nested tables)`,
  };
}

function notClass(cls: string, is = 'is not defined'): CoreFailure {
  return {
    kind: 'invalid',
    type: 'NameError',
    message: `Lua class '${cls}' ${is}; define it with load() first (create calls ${cls}.new(...) when ${cls} is a table, else ${cls}(...))`,
  };
}

/** Pushes the value at a dotted global name, looked up raw (no script code runs); its type, nil when a part is missing. */
export function resolve(s: LuaStack, L: number, name: string): number {
  s.pushGlobals(L);
  for (const part of name.split('.')) {
    if (s.type(L, -1) !== T.Table) {
      s.settop(L, -2);
      s.pushnil(L);
      return T.Nil;
    }
    s.pushString(L, part);
    s.rawget(L, -2);
    s.replace(L, -2);
  }
  return s.type(L, -1);
}

/** What the requests need from the core, which owns the stack: message handler at 1, then the request. */
export interface CoreAccess {
  readonly stack: LuaStack;
  L(): number;
  /** Protected call of the function below `nargs` values; null, or why it failed (error left on top). */
  pcall(nargs: number, nresults: number): CoreFailure | null;
  /** Pushes call arguments; an outcome (already ended) when one cannot cross. */
  pushArgs(args: ScriptValue[]): CoreOutcome | null;
  /** Answers the values from `base` to the top, objects as handles. */
  results(base: number): CoreOutcome;
  fail(failure: CoreFailure): CoreOutcome;
  done(value: ScriptValue): CoreOutcome;
}

export class LuaHandles {
  private ref = 0;
  /** The core's `function(o, k) return o[k] end`: indexing runs __index, so it must run inside pcall. */
  private indexRef = 0;
  private nextId = 1;
  private readonly kinds = new Map<number, string>();
  /** How results become values: objects with no value form are kept and sent as handles. */
  readonly policy: ReadPolicy;

  constructor(
    private readonly core: CoreAccess,
    private readonly engineId: string,
  ) {
    this.policy = {
      opaque: (L, _t, _path, at) => this.keep(L, at),
      instance: (L, _path, at) => this.keep(L, at),
    };
  }

  /**
   * Starts over on a fresh Lua state: an empty table, every earlier handle dead.
   * `indexRef`: the registry reference of the state's `local o, k = ... return o[k]`.
   */
  attach(L: number, indexRef: number): void {
    const s = this.core.stack;
    this.kinds.clear();
    s.createtable(L);
    this.ref = s.ref(L);
    this.indexRef = indexRef;
  }

  count(): number {
    return this.kinds.size;
  }

  /** The registry reference of the state's indexing function (a session snapshot carries it; attach() takes it back). */
  get indexing(): number {
    return this.indexRef;
  }

  /** The id the next handle gets: results read after it can be dropped if the read fails. */
  mark(): number {
    return this.nextId;
  }

  /** Drops the handles made since `mark` (their values never reached the host). */
  dropSince(L: number, mark: number): void {
    this.release(
      L,
      [...this.kinds.keys()].filter((id) => id >= mark),
    );
  }

  /** Keeps the value at `idx` in the table and returns its handle. */
  keep(L: number, idx: number): WireHandle {
    const s = this.core.stack;
    const at = s.absindex(L, idx);
    if (!s.checkstack(L, 3)) throw new InvalidInputError('the Lua stack is full');
    const kind = this.kindAt(L, at);
    const id = this.nextId++;
    s.pushRef(L, this.ref);
    s.pushvalue(L, at);
    s.rawseti(L, -2, id);
    s.settop(L, -2);
    this.kinds.set(id, kind);
    return new WireHandle(this.engineId, id, kind);
  }

  /** A handle coming into Lua (an argument, a host function's result) becomes its object. */
  push(L: number, h: WireHandle, path: string): void {
    if (!this.kinds.has(h.id)) throw new DeadHandleError(dead(path, h.id, h.kind), path);
    this.pushObject(L, h.id);
  }

  release(L: number, ids: number[]): void {
    const s = this.core.stack;
    if (!L || !s.checkstack(L, 2)) return;
    for (const id of ids) {
      if (!this.kinds.delete(id)) continue;
      // Setting a field to nil never allocates, so this cannot fail.
      s.pushRef(L, this.ref);
      s.pushnil(L);
      s.rawseti(L, -2, id);
      s.settop(L, -2);
    }
  }

  private pushObject(L: number, id: number): void {
    const s = this.core.stack;
    s.pushRef(L, this.ref);
    s.rawgeti(L, -1, id);
    s.replace(L, -2);
  }

  /** For messages: a table's or userdata's metatable `__name` when it is a string, else the type. */
  private kindAt(L: number, idx: number): string {
    const s = this.core.stack;
    const t = s.type(L, idx);
    if ((t === T.Table || t === T.Userdata) && s.getmetatable(L, idx)) {
      s.pushString(L, '__name');
      s.rawget(L, -2);
      const name = luaText(s, L, -1);
      s.settop(L, -3);
      if (name) return name.length > 64 ? `${name.slice(0, 64)}...` : name;
    }
    return luaTypeName(t);
  }

  /** Raw checks only: they run outside pcall, so they must not run script code. */
  private callable(L: number, idx: number): boolean {
    const s = this.core.stack;
    if (s.type(L, idx) === T.Function) return true;
    if (!s.getmetatable(L, idx)) return false;
    s.pushString(L, '__call');
    s.rawget(L, -2);
    const yes = s.type(L, -1) !== T.Nil;
    s.settop(L, -3);
    return yes;
  }

  /** Tables, and anything with a metatable (userdata, strings); functions and threads are not. */
  private indexable(L: number, idx: number): boolean {
    const s = this.core.stack;
    if (s.type(L, idx) === T.Table) return true;
    if (!s.getmetatable(L, idx)) return false;
    s.settop(L, -2);
    return true;
  }

  /** Pushes `stack[at][key]` through __index, protected. */
  private index(L: number, at: number, key: string): CoreFailure | null {
    const s = this.core.stack;
    s.pushRef(L, this.indexRef);
    s.pushvalue(L, at);
    s.pushString(L, key);
    return this.core.pcall(2, 1);
  }

  /** Calls the function at `base` with nargs; its results, objects as handles. */
  private call(nargs: number, base: number): CoreOutcome {
    const failure = this.core.pcall(nargs, LUA_MULTRET);
    return failure ? this.core.fail(failure) : this.core.results(base);
  }

  /** Pushes a handle's object at 2 (above the message handler); a failure when it is gone. */
  private object(L: number, id: number): CoreFailure | null {
    if (!this.kinds.has(id)) return { kind: 'invalid', type: 'DisposedError', message: dead('handle', id), path: 'handle' };
    this.pushObject(L, id);
    return null;
  }

  /**
   * `T.new(...)` when T is a table with a callable `new`, else `T(...)` when T is callable.
   * `new` is called with a dot, not a colon (T is not passed): `function Rect.new(w, h)`.
   * The first result becomes a handle whatever it is; nil is an error.
   */
  create(cls: string, args: ScriptValue[]): CoreOutcome {
    const c = this.core;
    const s = c.stack;
    const L = c.L();
    const t = resolve(s, L, cls);
    let label = cls;
    if (t === T.Nil) return c.fail(notClass(cls));
    if (t === T.Table) {
      const failure = this.index(L, 2, 'new');
      if (failure) return c.fail(failure);
      if (this.callable(L, 3)) label = `${cls}.new`;
      else s.settop(L, 2);
    }
    if (s.gettop(L) === 2) {
      if (!this.callable(L, 2)) {
        const is =
          t === T.Table ? 'is a table with neither new() nor __call' : `is a ${luaTypeName(t)}, not a table with new() or a function`;
        return c.fail(notClass(cls, is));
      }
      s.pushvalue(L, 2);
    }
    // The constructor is at 3 either way.
    const bad = c.pushArgs(args);
    if (bad) return bad;
    const failure = c.pcall(args.length, 1);
    if (failure) return c.fail(failure);
    if (s.type(L, 3) === T.Nil) {
      return c.fail({ kind: 'script', type: 'TypeError', message: `'${label}' returned nil, not an object` });
    }
    return c.done(this.keep(L, 3));
  }

  /** `obj:method(...)`; `__call__` (or `__call`) calls the object itself. */
  callMethod(id: number, method: string, args: ScriptValue[]): CoreOutcome {
    const c = this.core;
    const s = c.stack;
    const L = c.L();
    const gone = this.object(L, id);
    if (gone) return c.fail(gone);
    const kind = this.kinds.get(id)!;
    if (method === '__call__' || method === '__call') {
      if (!this.callable(L, 2)) return c.fail({ kind: 'script', type: 'TypeError', message: `${kind} object is not callable` });
      return c.pushArgs(args) ?? this.call(args.length, 2);
    }
    if (!this.indexable(L, 2)) return c.fail(noAttr(kind, 'method', method));
    const failure = this.index(L, 2, method);
    if (failure) return c.fail(failure);
    const ft = s.type(L, 3);
    if (!this.callable(L, 3)) {
      return c.fail(noAttr(kind, 'method', method, ft === T.Nil ? '' : ` (its '${method}' is a ${luaTypeName(ft)}; read it with get())`));
    }
    s.pushvalue(L, 2);
    return c.pushArgs(args) ?? this.call(args.length + 1, 3);
  }

  /** `obj[attr]`, through __index; a missing attribute is nil, as in Lua. */
  getAttr(id: number, attr: string): CoreOutcome {
    const c = this.core;
    const L = c.L();
    const gone = this.object(L, id);
    if (gone) return c.fail(gone);
    const kind = this.kinds.get(id)!;
    if (!this.indexable(L, 2)) return c.fail(noAttr(kind, 'attribute', attr, ` (a ${luaTypeName(c.stack.type(L, 2))} has no fields)`));
    const failure = this.index(L, 2, attr);
    return failure ? c.fail(failure) : c.results(3);
  }
}
