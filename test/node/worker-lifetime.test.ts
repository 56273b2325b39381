import { describe, expect, it, vi } from 'vitest';
import { createEngine } from '../../src/index.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { builtRoot, liveWorkerCount, releaseSpareWorker, spareWorkers } from '../../src/node/worker-host.js';
import { snapshotCounts } from '../../src/snapshot/fast-start.js';

const run = promisify(execFile);

describe('worker lifetime', () => {
  it('dispose leaves no worker alive, including after kill-and-restart', async () => {
    const before = liveWorkerCount();
    const engines = await Promise.all([1, 2, 3].map(() => createEngine('lua', { limits: { graceMs: 100 } })));
    expect(liveWorkerCount()).toBe(before + 3);
    // force a restart on one of them: C code that ignores the interrupt
    const r = await engines[0]!.exec('return string.rep("a", 40000):find(".-.-.-.-.-.-b")', { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    // The killed worker's replacement starts at once, not on the next call.
    await vi.waitFor(() => expect(liveWorkerCount()).toBe(before + 3), { timeout: 10_000 });
    expect((await engines[0]!.exec('return 1')).value).toBe(1);
    expect(liveWorkerCount()).toBe(before + 3);
    await Promise.all(engines.map((e) => e.dispose()));
    expect(liveWorkerCount()).toBe(before);
  });
});

describe('the pre-started worker (fast Python starts)', () => {
  it('a fast-starting Python engine takes it, restored ahead, and the next one is started once that engine booted', async () => {
    const first = await createEngine('python');
    await first.dispose();
    const before = spareWorkers();
    expect(before.idle).toBe(1);
    // Let the spare finish its restore, as an idle process would.
    await new Promise((r) => setTimeout(r, 1500));
    const counts = snapshotCounts();
    const second = await createEngine('python', { limits: { timeoutMs: 500 } });
    try {
      const after = spareWorkers();
      expect(after.taken).toBe(before.taken + 1);
      expect(after.started).toBe(before.started + 1);
      expect(after.idle).toBe(1);
      expect(snapshotCounts().ahead).toBe(counts.ahead + 1);
      // Engine-specific set-up happens at the take: its own limits.
      expect((await second.exec('import time\nt = time.time()\nwhile time.time() - t < 10: pass')).timedOut).toBe(true);
      // A spare never ran script code: the engine it became starts from a clean heap.
      await second.exec('leak = 1');
      const third = await createEngine('python');
      expect((await third.exec('leak')).error?.type).toBe('NameError');
      await third.dispose();
    } finally {
      await second.dispose();
    }
  }, 120_000);

  it('Lua engines and snapshot: { spare: false } start their own worker', async () => {
    await createEngine('python').then((e) => e.dispose());
    const before = spareWorkers();
    expect(before.idle).toBe(1);
    await createEngine('lua').then((e) => e.dispose());
    await createEngine('python', { snapshot: { spare: false } }).then((e) => e.dispose());
    expect(spareWorkers()).toMatchObject({ taken: before.taken, started: before.started });
  }, 60_000);

  it('releaseSpareWorker stops it; an idle spare never keeps the process alive', async () => {
    await createEngine('python').then((e) => e.dispose());
    expect(spareWorkers().idle).toBe(1);
    await releaseSpareWorker();
    expect(spareWorkers().idle).toBe(0);
    // A process whose last engine is disposed exits on its own while its spare idles.
    const script = `const { createEngine } = await import(${JSON.stringify(pathToFileURL(join(builtRoot(), 'src/index.js')).href)});
      const e = await createEngine('python'); await e.exec('1'); await e.dispose();
      const { spareWorkers } = await import(${JSON.stringify(pathToFileURL(join(builtRoot(), 'src/node/worker-host.js')).href)});
      console.log('idle', spareWorkers().idle);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    expect(stdout.trim()).toBe('idle 1');
  }, 120_000);
});
