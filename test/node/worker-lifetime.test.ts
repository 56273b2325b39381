import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.js';
import { liveWorkerCount } from '../../src/node/worker-host.js';

describe('worker lifetime', () => {
  it('dispose leaves no worker alive, including after kill-and-restart', async () => {
    const before = liveWorkerCount();
    const engines = await Promise.all([1, 2, 3].map(() => createEngine('lua', { limits: { graceMs: 100 } })));
    expect(liveWorkerCount()).toBe(before + 3);
    // force a restart on one of them: C code that ignores the interrupt
    const r = await engines[0]!.exec('return string.rep("a", 40000):find(".-.-.-.-.-.-b")', { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect((await engines[0]!.exec('return 1')).value).toBe(1);
    expect(liveWorkerCount()).toBe(before + 3);
    await Promise.all(engines.map((e) => e.dispose()));
    expect(liveWorkerCount()).toBe(before);
  });
});
