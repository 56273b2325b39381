/**
 * A stop the host asked for is not a script bug: after `interrupt()`, the throwing methods
 * reject with InterruptedError (INTERRUPTED), while exec still reports it as data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, InterruptedError, ScriptError, type ScriptEngine } from '../../src/index.js';

describe('interrupt() on a real Lua engine', () => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('lua');
    await engine.load('function spin() while true do end end\nfunction two() return 2 end');
  });
  afterAll(() => engine.dispose());

  it('call() rejects with InterruptedError, stopped in place, and the engine answers after', async () => {
    const running = engine.call('spin');
    await new Promise((r) => setTimeout(r, 100));
    engine.interrupt();
    const err = await running.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InterruptedError);
    expect(err).not.toBeInstanceOf(ScriptError);
    expect((err as InterruptedError).code).toBe('INTERRUPTED');
    expect((err as InterruptedError).escalation).toBe('interrupted');
    expect(engine.lastError).toBe(err);
    expect(await engine.call('two')).toBe(2);
    expect((await engine.stats()).restarts).toBe(0);
  });

  it('exec() reports the same stop as data, with error.type Interrupted', async () => {
    const running = engine.exec('spin()');
    await new Promise((r) => setTimeout(r, 100));
    engine.interrupt();
    const r = await running;
    expect(r).toMatchObject({ success: false, timedOut: false, error: { type: 'Interrupted' } });
    expect(engine.lastError).toBeInstanceOf(InterruptedError);
  });
});
