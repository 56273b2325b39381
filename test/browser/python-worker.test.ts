import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.js';

describe('Python in a browser Web Worker', () => {
  it('boots Pyodide from the plugin-served files, calls the host, interrupts `while True: pass`', async () => {
    expect(crossOriginIsolated).toBe(true);
    const engine = await createEngine('python', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
    try {
      expect(engine.placement).toBe('worker');
      expect((await engine.exec('import sys\nsys.version_info[:2] >= (3, 12)')).value).toBe(true);
      expect((await engine.exec('import host\nhost.echo([1, "two", b"3"])')).value).toEqual([1, 'two', new Uint8Array([51])]);
      expect((await engine.exec('import js')).error?.type).toBe('ModuleNotFoundError');
      const loop = engine.exec('while True:\n    pass');
      await new Promise((r) => setTimeout(r, 300));
      engine.interrupt();
      const stopped = await loop;
      expect(stopped.success).toBe(false);
      expect(stopped.error?.type).toBe('Interrupted');
      expect((await engine.exec('1 + 1')).value).toBe(2);
      expect((await engine.stats()).restarts).toBe(0);
    } finally {
      await engine.dispose();
    }
  }, 120_000);
});
