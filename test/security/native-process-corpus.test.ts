/**
 * The escape corpus against the native backend's process placement, which does NOT claim
 * to be a sandbox (DESIGN §5): real CPython / LuaJIT can read and write what the child's
 * user may. What it does claim, and what this file asserts for every attempt: the script
 * never sees the host's environment, never reaches the network, and never takes the host
 * process down, stalls it, changes its exit code or its prototypes; the engine answers
 * after each attempt (restarted if it had to be). Breaches of the file-system kind are
 * counted and printed as the table docs/native.md quotes, not asserted away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { BreachWatch, attemptOutput, corpusHostFunctions, loadCorpus } from './breach.js';

/** Breaches the process placement must prevent: environment and the host process itself (and the network, where the OS gave it a namespace). */
const PREVENTED = /^(env-canary-leaked|host-exit-code-changed|host-event-loop-stalled|object-prototype-changed|function-prototype-changed)/;

describe.each(['python', 'lua'] as const)('native %s, process placement, against the escape corpus', (language) => {
  const watch = new BreachWatch();
  const host = corpusHostFunctions();
  const tally = new Map<string, string[]>();
  let engine: ScriptEngine;
  let ownNetwork = false;
  const first = language === 'python' ? '1 + 1' : 'return 1 + 1';

  beforeAll(async () => {
    await watch.start();
    engine = await createEngine(language, {
      backend: 'native',
      placement: 'process',
      capabilities: ['*'],
      hostFunctions: host.hostFunctions,
      onLog: () => {},
      limits: { timeoutMs: 4000, memoryBytes: 256 * 1024 * 1024, graceMs: 300 },
    });
  }, 60_000);
  afterAll(async () => {
    await engine?.dispose();
    await watch.stop();
    const attacks = loadCorpus().filter((a) => a.language === language);
    const lines = [...tally.entries()].map(([kind, ids]) => `  ${kind}: ${ids.length} (${ids.join(', ')})`);
    console.log(`native ${language} process placement: ${attacks.length} attempts; not blocked:\n${lines.join('\n') || '  none'}`);
  });

  it('runs under the OS limits it reports', async () => {
    const { isolation } = await engine.stats();
    ownNetwork = !!isolation?.applied.some((w) => w.startsWith('network namespace'));
    // Root (as CI runs) may always make one; elsewhere the OS may refuse, and says so.
    if (process.getuid?.() === 0) expect(ownNetwork).toBe(true);
    expect(isolation?.applied).toEqual(
      expect.arrayContaining([
        'no-new-privs',
        expect.stringMatching(/^address space/),
        expect.stringMatching(/^open files/),
        expect.stringMatching(/^CPU/),
        expect.stringMatching(/^processes/),
      ]),
    );
  });

  for (const attack of loadCorpus().filter((a) => a.language === language)) {
    it(`keeps ${attack.id} away from the environment, the network and the host process`, async () => {
      watch.arm();
      const r = await engine.exec(attack.code);
      const found = watch.breaches(attemptOutput(r));
      for (const b of found) tally.set(b.replace(/-\d+ms$/, ''), [...(tally.get(b.replace(/-\d+ms$/, '')) ?? []), attack.id]);
      expect(found.filter((b) => PREVENTED.test(b) || (ownNetwork && b === 'network-connection'))).toEqual([]);
      expect(host.untouched()).toBe(true);
      expect((await engine.exec(first)).value).toBe(2);
    }, 30_000);
  }
});
