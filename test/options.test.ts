import { describe, expect, it, vi } from 'vitest';
import { InvalidInputError, UnavailableError, createEngine } from '../src/index.js';

describe('createEngine options', () => {
  const bad: [string, unknown, unknown, RegExp][] = [
    ['language', 'ruby', {}, /language must be 'python' or 'lua'/],
    ['unknown option', 'lua', { timeout: 5 }, /unknown option 'timeout'; known options: /],
    ['placement', 'lua', { placement: 'cloud' }, /placement must be/],
    ['inline without trust', 'lua', { placement: 'inline' }, /pass trusted: true/],
    ['capability pattern', 'lua', { capabilities: ['kv..x'] }, /not a capability pattern/],
    ['limits', 'lua', { limits: { timeoutMs: -1 } }, /limits.timeoutMs must be a positive number/],
    ['unknown limit', 'lua', { limits: { cpu: 1 } }, /unknown limit 'cpu'/],
    ['tiny memory', 'lua', { limits: { memoryBytes: 10 } }, /at least 1 MiB/],
    ['host function name', 'lua', { hostFunctions: { 'bad name': () => 1 } }, /not valid; use identifiers joined by dots/],
    ['host function value', 'lua', { hostFunctions: { f: 42 } }, /must be a function/],
    ['namespace clash', 'lua', { hostFunctions: { a: () => 1, 'a.b': () => 2 } }, /clashes with/],
  ];
  for (const [what, lang, opts, message] of bad) {
    it(`rejects a bad ${what}`, async () => {
      const p = createEngine(lang as 'lua', opts as object);
      await expect(p).rejects.toBeInstanceOf(InvalidInputError);
      await expect(p).rejects.toThrow(message);
    });
  }

  it("says backend 'native' needs a library when it is not installed (test/native/backend-options.test.ts has the messages)", async () => {
    const p = createEngine('lua', { backend: 'native', placement: 'worker' });
    await expect(p).rejects.toBeInstanceOf(InvalidInputError);
    await expect(p).rejects.not.toBeInstanceOf(UnavailableError);
  });

  it("refuses placement 'process' in a browser, pointing to 'worker'", async () => {
    vi.stubGlobal('window', {});
    vi.resetModules();
    try {
      const fresh = (await import('../src/index.js')) as typeof import('../src/index.js');
      const p = fresh.createEngine('lua', { placement: 'process' });
      await expect(p).rejects.toBeInstanceOf(fresh.UnavailableError);
      await expect(p).rejects.toThrow(/use placement 'worker'/);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
