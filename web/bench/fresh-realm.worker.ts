/**
 * One Python cold start in a realm of its own (a dedicated worker has its own module
 * instances): nothing is in memory yet, so the snapshot comes from Cache Storage, as on a
 * new visit to the page. The engine's worker is nested in this one.
 */
import { FIRST } from '../../src/bench/scripts.js';
import { createEngine } from '../../src/index.js';

const scope = globalThis as unknown as { onmessage: (() => void) | null; postMessage(m: unknown): void };

/** Whether this origin's Cache Storage holds a scriptbox snapshot entry. */
async function cached(): Promise<boolean> {
  for (const name of await caches.keys()) {
    if (name.startsWith('scriptbox-snapshots') && (await (await caches.open(name)).keys()).length > 0) return true;
  }
  return false;
}

/** Boots once and posts `{ ok, ms, cached }` or `{ ok: false, error }`: it never rejects. */
async function boot(): Promise<void> {
  try {
    const before = await cached();
    const t0 = performance.now();
    const e = await createEngine('python', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
    const r = await e.exec(FIRST.python);
    const ms = performance.now() - t0;
    await e.dispose();
    if (!r.success || r.value !== 2) throw new Error(`exec(${JSON.stringify(FIRST.python)}) gave ${JSON.stringify(r.error ?? r.value)}`);
    // A boot from scratch writes its snapshot in the background: wait for it, so the next realm finds it.
    const end = performance.now() + 60_000;
    while (!before && !(await cached())) {
      if (performance.now() > end) throw new Error('the snapshot was not written to Cache Storage within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    scope.postMessage({ ok: true, ms, cached: before });
  } catch (e) {
    scope.postMessage({ ok: false, error: String((e as Error)?.message ?? e) });
  }
}

scope.onmessage = () => void boot();
