/**
 * Every Python entry of the escape corpus, against each placement that claims to be a
 * sandbox: each must be contained, and the engine must answer afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { BreachWatch, attemptOutput, corpusHostFunctions, loadCorpus } from './breach.js';

const attacks = loadCorpus().filter((a) => a.language === 'python');
const placements = (process.env.SCRIPTBOX_CORPUS_PLACEMENTS ?? 'worker,process').split(',') as ('worker' | 'process')[];

describe.each(placements)('Python escape corpus, %s placement', (placement) => {
  const watch = new BreachWatch();
  let engine: ScriptEngine;
  const host = corpusHostFunctions();

  beforeAll(async () => {
    await watch.start();
    engine = await createEngine('python', {
      placement,
      capabilities: ['*'],
      hostFunctions: host.hostFunctions,
      onLog: () => {},
      limits: { timeoutMs: 4000, memoryBytes: 256 * 1024 * 1024, graceMs: 500 },
    });
  }, 60_000);
  afterAll(async () => {
    await engine.dispose();
    await watch.stop();
  });

  it('has the Python entries', () => {
    expect(attacks.length).toBeGreaterThanOrEqual(30);
  });

  for (const attack of attacks) {
    it(`contains ${attack.id}`, async () => {
      watch.arm();
      const r = await engine.exec(attack.code);
      const output = attemptOutput(r);
      expect(watch.breaches(output), output).toEqual([]);
      if (attack.expect === 'error') expect(r.success, `${attack.id} should end with an error`).toBe(false);
      expect(host.untouched()).toBe(true);
      // The engine still answers (restarted if it had to be).
      expect((await engine.exec('1 + 1')).value).toBe(2);
      expect((await engine.exec('import host\nhost.greet("x")')).value).toBe('hello x');
    }, 30_000);
  }
});
