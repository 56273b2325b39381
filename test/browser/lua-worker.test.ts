import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.js';

describe('Lua in a browser Web Worker', () => {
  it('runs code, blocks on a host call over SharedArrayBuffer, and interrupts an endless loop', async () => {
    expect(crossOriginIsolated).toBe(true);
    const engine = await createEngine('lua', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
    try {
      expect(engine.placement).toBe('worker');
      const r = await engine.exec('return 6 * 7');
      expect(r.value).toBe(42);
      const h = await engine.exec('return host.echo({ 1, 2, "three" })');
      expect(h.value).toEqual([1, 2, 'three']);
      const loop = engine.exec('while true do end');
      await new Promise((r) => setTimeout(r, 200));
      engine.interrupt();
      const stopped = await loop;
      expect(stopped.success).toBe(false);
      expect(stopped.error?.type).toBe('Interrupted');
      const after = await engine.exec('return 1 + 1');
      expect(after.value).toBe(2);
      expect((await engine.stats()).restarts).toBe(0);
    } finally {
      await engine.dispose();
    }
  });
});
