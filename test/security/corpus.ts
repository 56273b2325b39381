/**
 * Runs one language's entries of the escape corpus against each placement that claims to
 * be a sandbox: every attempt must be contained (breach detectors of breach.ts), end with
 * an error where the corpus says so, and leave an engine that still answers `probes`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import type { Language, Limits } from '../../src/engine/types.js';
import { snapshotCounts } from '../../src/snapshot/fast-start.js';
import { BreachWatch, attemptOutput, corpusHostFunctions, loadCorpus } from './breach.js';

export interface CorpusRun {
  language: Language;
  title: string;
  minEntries: number;
  limits: Limits;
  /** Code -> the value it must give after every attempt. */
  probes: [string, unknown][];
  bootTimeoutMs?: number;
  attemptTimeoutMs?: number;
  /** The attacked engine restores a session snapshot (issue 23) taken after this code ran in another engine. */
  fromSession?: string;
  /** Which placements (default: SCRIPTBOX_CORPUS_PLACEMENTS, else worker and process). */
  placements?: ('worker' | 'process')[];
}

/** The Python run of the corpus (python-corpus.test.ts; session-corpus.test.ts adds to it). */
export const PYTHON_RUN: CorpusRun = {
  language: 'python',
  title: 'Python',
  minEntries: 30,
  limits: { timeoutMs: 4000, memoryBytes: 256 * 1024 * 1024, graceMs: 500 },
  probes: [
    ['1 + 1', 2],
    ['import host\nhost.greet("x")', 'hello x'],
  ],
  bootTimeoutMs: 60_000,
  attemptTimeoutMs: 30_000,
};

/** The Lua run of the corpus (lua-corpus.test.ts; session-corpus.test.ts adds to it). */
export const LUA_RUN: CorpusRun = {
  language: 'lua',
  title: 'Lua',
  minEntries: 20,
  limits: { timeoutMs: 3000, memoryBytes: 64 * 1024 * 1024, graceMs: 500 },
  probes: [
    ['return 1 + 1', 2],
    ['return ("abc"):upper()', 'ABC'],
    ['return undefined_name_xyz', null],
    ['return host.greet("x")', 'hello x'],
  ],
};

export function describeCorpus(run: CorpusRun): void {
  const attacks = loadCorpus().filter((a) => a.language === run.language);
  const placements =
    run.placements ?? ((process.env.SCRIPTBOX_CORPUS_PLACEMENTS ?? 'worker,process').split(',') as ('worker' | 'process')[]);
  // Python engines are attacked as restored from a memory snapshot (the default), or with
  // SCRIPTBOX_CORPUS_SNAPSHOT=0 as booted from scratch.
  const snapshot = run.language === 'python' && process.env.SCRIPTBOX_CORPUS_SNAPSHOT !== '0';
  const how =
    run.fromSession !== undefined
      ? ', restored from a session snapshot'
      : run.language !== 'python'
        ? ''
        : snapshot
          ? ', restored from a snapshot'
          : ', booted from scratch';
  describe.each(placements)(`${run.title} escape corpus, %s placement${how}`, (placement) => {
    const watch = new BreachWatch();
    const host = corpusHostFunctions();
    let engine: ScriptEngine;

    beforeAll(async () => {
      await watch.start();
      // Every engine here gets every capability and the corpus's host functions.
      const attacked = { placement, capabilities: ['*'], hostFunctions: host.hostFunctions, onLog: () => {} };
      if (run.fromSession !== undefined) {
        // The session comes from an engine that ran user code (with every capability): the
        // attacked one restores it with its own, and must contain every attempt the same.
        const source = await createEngine(run.language, attacked);
        await source.load(run.fromSession, 'session');
        const restore = await source.snapshot();
        await source.dispose();
        engine = await createEngine(run.language, { ...attacked, limits: run.limits, restore });
        return;
      }
      // A first engine takes the snapshot if this process has none, so the attacked one restores it.
      if (snapshot) await (await createEngine('python', { placement: 'inline', trusted: true })).dispose();
      const before = snapshotCounts().restored;
      engine = await createEngine(run.language, { ...attacked, limits: run.limits, ...(run.language === 'python' ? { snapshot } : {}) });
      if (snapshot) expect(snapshotCounts().restored, 'the attacked engine was restored from a snapshot').toBe(before + 1);
    }, run.bootTimeoutMs ?? 10_000);
    afterAll(async () => {
      await engine.dispose();
      await watch.stop();
    });

    it(`has the ${run.title} entries`, () => {
      expect(attacks.length).toBeGreaterThanOrEqual(run.minEntries);
    });

    for (const attack of attacks) {
      it(
        `contains ${attack.id}`,
        async () => {
          watch.arm();
          const r = await engine.exec(attack.code);
          const output = attemptOutput(r);
          expect(watch.breaches(output), output).toEqual([]);
          if (attack.expect === 'error') expect(r.success, `${attack.id} should end with an error`).toBe(false);
          expect(host.untouched()).toBe(true);
          // The engine still answers (restarted if it had to be), with pristine shared state.
          for (const [code, value] of run.probes) expect((await engine.exec(code)).value, code).toEqual(value);
        },
        run.attemptTimeoutMs ?? 5_000,
      );
    }
  });
}
