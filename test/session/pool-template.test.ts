/**
 * Pools from a template snapshot (issue 23): every engine starts from the state an
 * expensive init left (the init ran once, where the template was taken), and `reset:
 * 'template'` puts a released engine back to that state, in place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, createEngine, createPool, type EnginePool, type SessionSnapshot } from '../../src/index.js';

describe.each(['python', 'lua'] as const)('a %s pool with a template', (language) => {
  let inits = 0;
  const hostFunctions = { counted: () => ++inits };
  const INIT = {
    python:
      'import host, json\ndef init():\n    global table, calls\n    host.counted()\n    table = {i: i * i for i in range(1000)}\n    calls = 0\ndef score(n):\n    global calls\n    calls += 1\n    return [table[n], calls]',
    lua: 'function init()\n  host.counted()\n  tbl = {}\n  for i = 0, 999 do tbl[i] = i * i end\n  calls = 0\nend\nfunction score(n)\n  calls = calls + 1\n  return { tbl[n], calls }\nend',
  };
  let template: SessionSnapshot;
  let pool: EnginePool;

  beforeAll(async () => {
    const maker = await createEngine(language, { hostFunctions, capabilities: ['counted'] });
    await maker.loadInit(INIT[language], 'init');
    template = await maker.snapshot();
    await maker.dispose();
    pool = await createPool(language, { template, reset: 'template', min: 2, max: 2, hostFunctions, capabilities: ['counted'] });
  }, 120_000);

  afterAll(async () => {
    await pool?.dispose();
  });

  it('starts every engine from the template: the init ran once, where it was taken', async () => {
    expect(inits).toBe(1);
    const [a, b] = [await pool.acquire(), await pool.acquire()];
    expect(await a.call('score', [7])).toEqual([49, 1]);
    expect(await b.call('score', [8])).toEqual([64, 1]);
    await pool.release(a);
    await pool.release(b);
    expect(inits).toBe(1);
  });

  it("reset 'template' puts a released engine back to the template's state", async () => {
    await pool.run(async (e) => {
      await e.call('score', [1]);
      await e.exec(language === 'python' ? 'table[7] = -1\nleft_over = 1' : 'tbl[7] = -1\nleft_over = 1');
    });
    // Both engines, whichever comes: the put-back runs after release, before the engine is offered again.
    for (let i = 0; i < 4; i++) {
      const got = await pool.run(async (e) => [
        await e.call('score', [7]),
        (await e.exec(language === 'python' ? '"left_over" in globals()' : 'return left_over ~= nil')).value,
      ]);
      expect(got).toEqual([[49, 1], false]);
    }
    expect(pool.stats().restored).toBeGreaterThanOrEqual(5);
    expect(inits).toBe(1);
  });

  it('an engine that crashed under a lease comes back as the template', async () => {
    await pool.run(async (e) => {
      const r = await e.exec(language === 'python' ? 'x = bytearray(1 << 30)' : 'local t = {} for i = 1, 1e9 do t[i] = i end', {
        timeoutMs: 20_000,
      });
      expect(r.error?.type).toBe('MemoryLimitError');
    });
    for (let i = 0; i < 2; i++) expect(await pool.run((e) => e.call('score', [3]))).toEqual([9, 1]);
  }, 60_000);
});

describe('template pool options', () => {
  it("refuses reset 'template' without a template, and restore beside template", async () => {
    await expect(createPool('lua', { reset: 'template' })).rejects.toThrow(
      /^pool option reset 'template' puts engines back to the pool's template: pass template: await engine\.snapshot\(\)$/,
    );
    const e = await createEngine('lua');
    const snap = await e.snapshot();
    await e.dispose();
    await expect(createPool('lua', { template: snap, restore: snap })).rejects.toThrow(/createPool takes template, not restore/);
    const bad = await createPool('lua', { template: new Uint8Array(8) }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(InvalidInputError);
    expect((bad as Error).message).toMatch(/not a usable session snapshot: it does not start like one/);
    // A template of the other language fails createPool itself (the first engine proves it).
    await expect(createPool('python', { template: snap, min: 1 })).rejects.toThrow(/is of a lua engine; restore it into a lua engine/);
  }, 60_000);
});
