/** Starts the bench's helper workers: a Python cold start in a new realm, and the postMessage and comlink echo baselines. */
import * as Comlink from 'comlink';

/**
 * ms from createEngine to the first exec result in a new realm. `mustBeCached`: fail
 * unless Cache Storage held the snapshot before the boot (a timed sample must restore it).
 */
export function freshRealmColdStart(mustBeCached: boolean): Promise<number> {
  const worker = new Worker(new URL('./fresh-realm.worker.ts', import.meta.url), { type: 'module', name: 'bench-fresh-realm' });
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<number>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error('the new realm gave no answer within 180 s')), 180_000);
    worker.onerror = (e) => reject(new Error(`the new realm failed to start: ${e.message || 'worker error'}`));
    worker.onmessage = (m: MessageEvent<{ ok: boolean; ms?: number; cached?: boolean; error?: string }>) => {
      const d = m.data;
      if (!d.ok) reject(new Error(d.error ?? 'the new realm failed'));
      else if (mustBeCached && !d.cached)
        reject(new Error('Cache Storage held no snapshot: this boot was from scratch (is Cache Storage available on this page?)'));
      else resolve(d.ms!);
    };
    worker.postMessage('boot');
  }).finally(() => {
    clearTimeout(timer);
    worker.terminate();
  });
}

/** A worker that echoes each message back: one call is one postMessage round trip. */
export function echoWorker(): { call(payload: unknown): Promise<unknown>; close(): void } {
  const worker = new Worker(new URL('./echo.worker.ts', import.meta.url), { type: 'module', name: 'bench-echo' });
  return {
    call: (payload) =>
      new Promise((resolve) => {
        worker.addEventListener('message', (m) => resolve(m.data), { once: true });
        worker.postMessage(payload);
      }),
    close: () => worker.terminate(),
  };
}

/** A worker that answers each call through comlink: one call is one comlink round trip. */
export function comlinkEcho(): { call(payload: unknown): Promise<unknown>; close(): Promise<void> } {
  const worker = new Worker(new URL('./comlink-echo.worker.ts', import.meta.url), { type: 'module', name: 'bench-comlink-echo' });
  const remote = Comlink.wrap<{ call(m: unknown): unknown }>(worker);
  return {
    call: (payload) => Promise.resolve(remote.call(payload)),
    close: async () => {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
