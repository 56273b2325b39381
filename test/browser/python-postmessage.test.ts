/**
 * Python in a module Web Worker over postMessage: what a page that is not cross-origin
 * isolated gets. This test page is isolated, so the engine is built the way createEngine
 * builds a worker engine but with `sharedMemory: false` (an internal seam, as in
 * test/placement/postmessage.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/options.js';
import { ASSET_BASE, spawnWebWorker } from '../../src/placement/web-worker.js';
import { connectWorker } from '../../src/placement/worker.js';
import { Engine } from '../../src/engine/engine.js';

describe('Python in a browser Web Worker without SharedArrayBuffer', () => {
  it('awaits host.aio calls concurrently; blocking calls are UnavailableError; a timeout while waiting stops in place', async () => {
    const base = new URL(ASSET_BASE, location.href).href;
    const assetUrls = { luaWasm: `${base}wasmoon/glue.wasm`, pyodideIndex: `${base}pyodide/` };
    const slow = (x: unknown) => new Promise((r) => setTimeout(() => r(x), 300));
    const engine = new Engine(
      resolveOptions('python', {
        capabilities: ['echo', 'slow', 'never'],
        hostFunctions: { echo: (x: unknown) => x, slow, never: () => new Promise(() => {}) },
      }),
      (init) => connectWorker({ ...init, assetUrls }, spawnWebWorker, { sharedMemory: false }),
    );
    await engine.start();
    try {
      expect((await engine.exec('1 + 1')).value).toBe(2);
      const blocked = await engine.exec('import host\nhost.echo(1)');
      expect(blocked.error?.message).toMatch(/UnavailableError.*Cross-Origin-Opener-Policy/);
      const t0 = performance.now();
      const r = await engine.exec('import asyncio\nawait asyncio.gather(host.aio.slow(1), host.aio.slow(2), host.aio.echo(3))');
      expect(r.value).toEqual([1, 2, 3]);
      expect(performance.now() - t0).toBeLessThan(600);
      const stopped = await engine.exec('await host.aio.never()', { timeoutMs: 300 });
      expect(stopped.error?.type).toBe('TimeoutError');
      console.log('STOPPED', JSON.stringify(stopped.error), JSON.stringify(await engine.stats()));
      const after = await engine.exec('await host.aio.echo("after")');
      expect(after.error).toBeUndefined();
      expect(after.value).toBe('after');
      expect((await engine.stats()).restarts).toBe(0);
    } finally {
      await engine.dispose();
    }
  }, 120_000);
});
