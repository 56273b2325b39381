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
    // A timer over 2**31-1 ms fires after 1 ms: such a "long" timeout ended every run at once.
    [
      'timeout past the longest timer',
      'lua',
      { limits: { timeoutMs: 2 ** 31 } },
      /limits.timeoutMs \(2147483648\) is over 2147483647 ms \(about 24.8 days\)/,
    ],
    ['grace past the longest timer', 'lua', { limits: { graceMs: 1e10 } }, /limits.graceMs \(10000000000\) is over 2147483647 ms/],
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

  it('refuses a run timeoutMs past the longest timer instead of timing the run out at once', async () => {
    await using e = await createEngine('lua');
    const p = e.exec('return 1', { timeoutMs: 2 ** 31 });
    await expect(p).rejects.toBeInstanceOf(InvalidInputError);
    await expect(p).rejects.toThrow(/timeoutMs \(2147483648\) is over 2147483647 ms/);
    // The longest timer there is still runs the code.
    expect((await e.exec('local s = 0 for i = 1, 1e6 do s = s + i end return s', { timeoutMs: 2 ** 31 - 1 })).value).toBe(500000500000);
  });

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
