/**
 * Public classes made through a factory refuse `new` at once with an InvalidInputError
 * naming the factory, instead of making an object that fails later (issue 18: `new
 * SqliteStore('/tmp/x.db')` constructed silently, then `this.file.release is not a
 * function`). The attack is the one a JavaScript caller (or a cast) can always make:
 * calling the constructor, directly or through an instance's `constructor`, with
 * plausible arguments, or with a look-alike of the factory's token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEngine,
  createPool,
  EnginePool,
  IndexedDbStore,
  InvalidInputError,
  MemoryStore,
  SqliteStore,
  type RemoteObject,
  type ScriptEngine,
} from '../../src/index.js';

/** `new C(...args)` for a class whose constructor TypeScript hides (private) or types narrowly. */
function construct(C: unknown, ...args: unknown[]): unknown {
  return new (C as new (...a: unknown[]) => unknown)(...args);
}

/** Expects `make` to throw InvalidInputError (code INVALID_INPUT) whose message names `factory`. */
function refuses(make: () => unknown, factory: RegExp): void {
  let thrown: unknown;
  try {
    make();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(InvalidInputError);
  expect((thrown as InvalidInputError).code).toBe('INVALID_INPUT');
  expect((thrown as Error).message).toMatch(/cannot be made with `new`/);
  expect((thrown as Error).message).toMatch(factory);
}

const lookAlike = Symbol('scriptbox factory');

describe('stores', () => {
  it('new SqliteStore(path) says to use await SqliteStore.open(path)', async () => {
    refuses(() => construct(SqliteStore, '/tmp/x.db'), /await SqliteStore\.open\(path\)/);
    refuses(() => construct(SqliteStore), /SqliteStore\.open/);
    refuses(() => construct(SqliteStore, lookAlike, '/tmp/x.db'), /SqliteStore\.open/);
    // The factory itself still works.
    const store = await SqliteStore.open(':memory:');
    await store.set('k', 1);
    expect(await store.get('k')).toBe(1);
    await store.close();
  });

  it('new IndexedDbStore(name) says to use await IndexedDbStore.open(dbName), even where there is no IndexedDB', () => {
    refuses(() => construct(IndexedDbStore, 'app-state'), /await IndexedDbStore\.open\(dbName\)/);
    refuses(() => construct(IndexedDbStore, lookAlike, 'app-state'), /IndexedDbStore\.open/);
  });

  it('a store instance cannot be used to make another: store.constructor is guarded too', async () => {
    const store = await SqliteStore.open(':memory:');
    try {
      refuses(() => construct(store.constructor, '/tmp/other.db'), /SqliteStore\.open/);
    } finally {
      await store.close();
    }
  });

  it('MemoryStore is made with new, as documented', async () => {
    const store = new MemoryStore();
    await store.set('k', 'v');
    expect(await store.get('k')).toBe('v');
  });
});

describe('engine, pool and RemoteObject', () => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('lua');
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it('new EnginePool(...) says to use await createPool(language, options)', () => {
    refuses(() => construct(EnginePool, 'lua', {}, {}, createEngine), /await createPool\(language, options\)/);
    refuses(() => construct(EnginePool, lookAlike, 'lua', {}, {}, createEngine), /createPool/);
  });

  it('a pool instance cannot make another pool', async () => {
    const pool = await createPool('lua', { min: 1, max: 1 });
    try {
      refuses(() => construct(pool.constructor, 'lua', {}, {}, createEngine), /await createPool/);
    } finally {
      await pool.close();
    }
  });

  it("an engine's constructor says to use await createEngine(language, options)", async () => {
    refuses(() => construct(engine.constructor, 'lua', {}), /await createEngine\(language, options\)/);
    // Options that look resolved are not the ones createEngine made.
    refuses(
      () =>
        construct(engine.constructor, { language: 'lua', backend: 'wasm', placement: 'worker', options: {}, limits: {} }, () => undefined),
      /createEngine/,
    );
    expect((await engine.exec('return 1 + 1')).value).toBe(2);
  });

  it("a RemoteObject's constructor says RemoteObjects come from their engine", async () => {
    await engine.exec(
      'Box = {}; Box.__index = Box; function Box.new(v) return setmetatable({ v = v }, Box) end; function Box:get() return self.v end',
    );
    const box: RemoteObject = await engine.create('Box', [7]);
    refuses(() => construct(box.constructor, {}, 1, 'table', 0), /engine\.create/);
    refuses(() => construct(box.constructor, lookAlike, {}, 1, 'table', 0), /RemoteObject/);
    expect(await box.call('get')).toBe(7);
    await box.dispose();
  });
});
