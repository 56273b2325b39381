/**
 * Every Lua entry of the escape corpus, against the worker and the process placements:
 * each must be contained, and the engine must answer afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { BreachWatch, attemptOutput, corpusHostFunctions, loadCorpus } from './breach.js';

const attacks = loadCorpus().filter((a) => a.language === 'lua');

describe.each(['worker', 'process'] as const)('Lua escape corpus, %s placement', (placement) => {
  const watch = new BreachWatch();
  let engine: ScriptEngine;
  const host = corpusHostFunctions();

  beforeAll(async () => {
    await watch.start();
    engine = await createEngine('lua', {
      placement,
      capabilities: ['*'],
      hostFunctions: host.hostFunctions,
      onLog: () => {},
      limits: { timeoutMs: 3000, memoryBytes: 64 * 1024 * 1024, graceMs: 500 },
    });
  });
  afterAll(async () => {
    await engine.dispose();
    await watch.stop();
  });

  it('has the Lua entries', () => {
    expect(attacks.length).toBeGreaterThanOrEqual(20);
  });

  for (const attack of attacks) {
    it(`contains ${attack.id}`, async () => {
      watch.arm();
      const r = await engine.exec(attack.code);
      const output = attemptOutput(r);
      expect(watch.breaches(output), output).toEqual([]);
      if (attack.expect === 'error') expect(r.success, `${attack.id} should end with an error`).toBe(false);
      expect(host.untouched()).toBe(true);
      // The engine still answers, with pristine shared state.
      const after = await engine.exec('return 1 + 1');
      expect(after.value).toBe(2);
      expect((await engine.exec('return ("abc"):upper()')).value).toBe('ABC');
      expect((await engine.exec('return undefined_name_xyz')).value).toBe(null);
      expect((await engine.exec('return host.greet("x")')).value).toBe('hello x');
    });
  }
});
