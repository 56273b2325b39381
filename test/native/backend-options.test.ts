/**
 * Choosing the native backend: the trust rules at the public entry, 'auto' falling back to
 * wasm, and the messages for a missing library.
 */
import { describe, expect, it, vi } from 'vitest';
import { InvalidInputError, UnavailableError, createEngine } from '../../src/index.js';
import { findLibPython, findLuaJit, nativeAvailable } from '../../src/node/native-libs.js';

describe('native backend options', () => {
  it('refuses a native worker for untrusted code, saying why and what to use', async () => {
    const p = createEngine('lua', { backend: 'native', placement: 'worker' });
    await expect(p).rejects.toBeInstanceOf(InvalidInputError);
    await expect(p).rejects.toThrow(/no isolation.*pass trusted: true.*placement 'process'.*backend 'wasm'/);
    await expect(createEngine('python', { backend: 'native', placement: 'inline' })).rejects.toThrow(/pass trusted: true/);
  });

  it('refuses mounts for a native engine', async () => {
    const p = createEngine('lua', { backend: 'native', trusted: true, mounts: [{ hostPath: '/tmp', path: '/data' }] });
    await expect(p).rejects.toBeInstanceOf(InvalidInputError);
    await expect(p).rejects.toThrow(/native engine sees the real file system/);
  });

  it("'auto' stays in the sandbox for untrusted code", async () => {
    const e = await createEngine('lua', { backend: 'auto' });
    try {
      expect(e.backend).toBe('wasm');
      expect(e.placement).toBe('worker');
    } finally {
      await e.dispose();
    }
  });

  it("'auto' uses native for trusted code where the library loads, in a process by default", async () => {
    expect(nativeAvailable('lua')).toBe(true);
    const e = await createEngine('lua', { backend: 'auto', trusted: true });
    try {
      expect(e.backend).toBe('native');
      expect(e.placement).toBe('process');
      expect((await e.exec('return 6 * 7')).value).toBe(42);
    } finally {
      await e.dispose();
    }
  });

  it('names the missing library and the Debian package that provides it', () => {
    const none = { names: ['libscriptbox-nothing.so.9'], dirs: ['/nonexistent'] };
    expect(() => findLuaJit(none)).toThrow(UnavailableError);
    expect(() => findLuaJit(none)).toThrow(/libluajit-5\.1\.so\.2.*apt-get install libluajit-5\.1-2/);
    expect(() => findLibPython({ names: ['libpython3.99.so.1.0'], dirs: [] })).toThrow(/libpython3.*apt-get install libpython3\.11/);
  });

  it('finds both libraries on this machine (CI installs the Debian packages)', () => {
    expect(findLuaJit().path).toMatch(/libluajit-5\.1/);
    const py = findLibPython();
    expect(py.path).toMatch(/libpython3\.\d+/);
    expect(py.version).toMatch(/^3\.\d+$/);
  });

  it("refuses backend 'native' in a browser and lets 'auto' use wasm there", async () => {
    vi.stubGlobal('window', {});
    vi.resetModules();
    try {
      const fresh = (await import('../../src/index.js')) as typeof import('../../src/index.js');
      const p = fresh.createEngine('lua', { backend: 'native', placement: 'process' });
      await expect(p).rejects.toBeInstanceOf(fresh.UnavailableError);
      await expect(p).rejects.toThrow(/use backend 'wasm' or 'auto'/);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
