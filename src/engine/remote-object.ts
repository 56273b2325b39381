/**
 * Handles to objects that live inside an engine (DESIGN §2 `RemoteObject`, §4).
 *
 * The core keeps the object in its handle table and sends an id; the host wraps the id in
 * a RemoteHandle. A handle is valid for one generation of its engine: a restart or a full
 * reload empties the core's table, so every older handle is dead and says so. Handles the
 * caller forgets are freed by a FinalizationRegistry, batched into one `release` message.
 */
import type { RemoteObject, RunOptions } from './types.js';
import { DisposedError, InvalidInputError } from '../errors.js';
import { FACTORY, requireFactory, type FactoryToken } from '../factory-token.js';
import { WireHandle, type ScriptValue } from '../values.js';

/** What a handle asks of its engine. */
export interface HandleOwner {
  readonly id: string;
  callMethod(h: RemoteHandle, method: string, args: ScriptValue[], opts?: RunOptions): Promise<ScriptValue>;
  getAttr(h: RemoteHandle, attr: string, opts?: RunOptions): Promise<ScriptValue>;
  /** Frees the object inside the engine (the handle is already marked disposed). */
  releaseHandle(h: RemoteHandle): Promise<void>;
}

/** A RemoteObject: an id in one engine's handle table. Made only by its engine's HandleTable. */
/** Handles an engine made: `Object.create(RemoteHandle.prototype)` passes instanceof but has no engine behind it. */
const genuine = new WeakSet<object>();

function forged(): InvalidInputError {
  return new InvalidInputError('this RemoteObject was not made by an engine; use engine.create(cls, args)');
}

export class RemoteHandle implements RemoteObject {
  /** @internal */ disposed = false;
  constructor(
    token: FactoryToken,
    /** @internal */ readonly owner: HandleOwner,
    /** The id inside the engine. */
    readonly id: number,
    /** What the object is (`Rect`, `function`, `table`), for messages. */
    readonly kind: string,
    /** @internal */ readonly generation: number,
  ) {
    // `new (obj.constructor)(...)` would make a handle to nothing that fails on first use.
    requireFactory(
      token,
      'a RemoteObject',
      'engine.create(cls, args) or a call that returns an object (RemoteObjects come from their engine)',
    );
    genuine.add(this);
  }

  /** Calls a method: `obj.method(*args)` in Python, `obj:method(...)` in Lua; `__call__` calls the object itself. */
  call(method: string, args: ScriptValue[] = [], opts?: RunOptions): Promise<ScriptValue> {
    if (!genuine.has(this)) return Promise.reject(forged());
    return this.owner.callMethod(this, method, args, opts);
  }

  /** Reads an attribute (Python) or field (Lua, through `__index`). */
  get(attr: string, opts?: RunOptions): Promise<ScriptValue> {
    if (!genuine.has(this)) return Promise.reject(forged());
    return this.owner.getAttr(this, attr, opts);
  }

  /** Frees the object inside the engine. Idempotent. */
  dispose(): Promise<void> {
    if (!genuine.has(this)) return Promise.reject(forged());
    if (this.disposed) return Promise.resolve();
    this.disposed = true;
    return this.owner.releaseHandle(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** `Rect #3 in python-1`, for messages. */
  get label(): string {
    if (!genuine.has(this)) return 'a forged RemoteObject';
    return `${this.kind} #${this.id} in ${this.owner.id}`;
  }

  toString(): string {
    return `RemoteObject(${this.label})`;
  }

  /** Node's console shows the handle, not the whole engine behind it. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** The handles of one engine: wraps ids from the core, checks handles going back, frees forgotten ones. */
export class HandleTable {
  /** Bumped whenever the core's table is emptied (restart, full reload). */
  generation = 0;
  private forgotten: number[] = [];
  private flushing = false;
  private readonly registry = new FinalizationRegistry<{ id: number; generation: number }>((held) => {
    if (held.generation !== this.generation) return;
    this.forgotten.push(held.id);
    if (!this.flushing) {
      this.flushing = true;
      // One release message for everything collected in this turn.
      setTimeout(() => {
        this.flushing = false;
        const ids = this.forgotten.splice(0);
        if (ids.length) this.release(ids);
      }, 0);
    }
  });

  constructor(
    private readonly owner: HandleOwner,
    /** Sends a `release` for ids of the current generation. */
    private readonly release: (ids: number[]) => void,
  ) {}

  /** The core's table was emptied: every handle so far is dead. */
  invalidate(): void {
    this.generation++;
    this.forgotten.length = 0;
  }

  /** Replaces the WireHandles in a value from the core with RemoteHandles. */
  wrap(v: ScriptValue): ScriptValue {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    if (v instanceof WireHandle) {
      if (!Number.isSafeInteger(v.id)) throw new InvalidInputError(`the engine sent a handle with a bad id (${String(v.id)})`);
      const h = new RemoteHandle(FACTORY, this.owner, v.id, String(v.kind).slice(0, 100), this.generation);
      this.registry.register(h, { id: v.id, generation: this.generation }, h);
      return h;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = this.wrap(v[i]);
      return v;
    }
    if (v instanceof Map) {
      const out = new Map<ScriptValue, ScriptValue>();
      for (const [k, x] of v) out.set(this.wrap(k), this.wrap(x));
      return out;
    }
    if (v instanceof RemoteHandle) return v;
    const o = v as Record<string, ScriptValue>;
    for (const k of Object.keys(o)) o[k] = this.wrap(o[k]);
    return o;
  }

  /** Stops the backstop for a handle that was disposed on purpose. */
  forget(h: RemoteHandle): void {
    this.registry.unregister(h);
  }

  /** Throws DisposedError when `h` can no longer reach its object. */
  check(h: RemoteHandle, what: string): void {
    if (h.disposed) throw new DisposedError(`${what}: RemoteObject ${h.label} was disposed; create the object again`);
    if (h.generation !== this.generation) {
      throw new DisposedError(
        `${what}: RemoteObject ${h.label} was lost when the engine restarted or was reloaded (its objects went with it); create the object again`,
      );
    }
  }

  /** `checkValue`'s handle hook: RemoteObjects of this engine cross as their id. */
  readonly toWire = (v: object, path: string): WireHandle | undefined => {
    if (!(v instanceof RemoteHandle)) return undefined;
    if (!genuine.has(v))
      throw new InvalidInputError(
        `${path} is a forged RemoteObject (not made by an engine); pass data, or a RemoteObject this engine made`,
        path,
      );
    if (v.owner !== this.owner) {
      throw new InvalidInputError(
        `${path} is RemoteObject ${v.label}, which belongs to another engine; objects cannot move between engines (pass data instead)`,
        path,
      );
    }
    this.check(v, path);
    return new WireHandle(this.owner.id, v.id, v.kind);
  };
}
