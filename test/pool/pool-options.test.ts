/**
 * Pool options (src/pool/pool-options.ts), without an engine: defaults, the split between
 * the pool's own options and the engine options, and the exact messages of every refusal.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { MAX_ENGINES, splitPoolOptions } from '../../src/pool/pool-options.js';

/** The message splitPoolOptions refuses `options` with (it must refuse with InvalidInputError). */
function refusal(options: unknown): string {
  try {
    splitPoolOptions(options);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    expect((e as InvalidInputError).code).toBe('INVALID_INPUT');
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('pool options: defaults and the split', () => {
  it('no options: one engine kept, two at most, the documented defaults', () => {
    for (const none of [undefined, {}]) {
      expect(splitPoolOptions(none)).toEqual({
        pool: {
          min: 1,
          max: 2,
          maxQueue: 1000,
          idleTimeoutMs: 60_000,
          recycleExecs: Infinity,
          recycleMs: Infinity,
          reset: 'reuse',
          init: undefined,
          healthCheckMs: 30_000,
        },
        engine: {},
      });
    }
  });

  it('max follows min when left out; pool keys stay out of the engine options, the rest go through unchecked', () => {
    const hostFunctions = { f: () => 1 };
    const { pool, engine } = splitPoolOptions({
      min: 3,
      maxQueue: 0,
      idleTimeoutMs: Infinity,
      recycleAfter: { execs: 10, ms: 5000 },
      reset: 'fresh',
      init: 'x = 1',
      healthCheckMs: 1000,
      capabilities: ['log'],
      hostFunctions,
      colour: 'red',
    });
    expect(pool).toEqual({
      min: 3,
      max: 3,
      maxQueue: 0,
      idleTimeoutMs: Infinity,
      recycleExecs: 10,
      recycleMs: 5000,
      reset: 'fresh',
      init: 'x = 1',
      healthCheckMs: 1000,
    });
    // Engine options are createEngine's to check (an unknown one fails there, naming it).
    expect(engine).toEqual({ capabilities: ['log'], hostFunctions, colour: 'red' });
    expect(engine.hostFunctions).toBe(hostFunctions);
  });

  it('min 0 and max 1024 are allowed; max may exceed min', () => {
    expect(splitPoolOptions({ min: 0 }).pool).toMatchObject({ min: 0, max: 2 });
    expect(splitPoolOptions({ min: 0, max: MAX_ENGINES }).pool).toMatchObject({ min: 0, max: 1024 });
    expect(splitPoolOptions({ min: MAX_ENGINES }).pool).toMatchObject({ min: 1024, max: 1024 });
    expect(splitPoolOptions({ max: 1 }).pool).toMatchObject({ min: 1, max: 1 });
  });
});

describe('pool options: each refusal names the option, the value and the fix', () => {
  it.each<[string, unknown, string]>([
    ['not an object', 'big', 'createPool options must be an object'],
    ['null', null, 'createPool options must be an object'],
    ['an array', [1], 'createPool options must be an object'],
    [
      'a signal',
      { signal: new AbortController().signal },
      'createPool takes no signal option; dispose the pool with pool.dispose(), and pass { signal } to pool.run() per run',
    ],
    ['negative min', { min: -1 }, 'pool option min must be an integer >= 0 (got -1)'],
    ['fractional min', { min: 1.5 }, 'pool option min must be an integer >= 0 (got 1.5)'],
    ['min as text', { min: '2' }, 'pool option min must be an integer >= 0 (got "2")'],
    ['max 0', { max: 0 }, 'pool option max must be an integer >= 1 (got 0)'],
    ['max NaN', { max: NaN }, 'pool option max must be an integer >= 1 (got NaN)'],
    ['max below min', { min: 3, max: 2 }, 'pool option max (2) is below min (3); raise max or lower min'],
    [
      'max over the cap',
      { min: 1e9, max: 1e9 },
      'pool option max (1000000000) is over 1024 engines in one pool; use several pools for more',
    ],
    [
      'min over the cap, max left out',
      { min: 1e9 },
      'pool option min (1000000000) is over 1024 engines in one pool; use several pools for more',
    ],
    [
      'max one over the cap',
      { max: MAX_ENGINES + 1 },
      'pool option max (1025) is over 1024 engines in one pool; use several pools for more',
    ],
    ['negative maxQueue', { maxQueue: -1 }, 'pool option maxQueue must be an integer >= 0 (got -1)'],
    ['idleTimeoutMs 0', { idleTimeoutMs: 0 }, 'pool option idleTimeoutMs must be a positive number of milliseconds (got 0)'],
    ['idleTimeoutMs NaN', { idleTimeoutMs: NaN }, 'pool option idleTimeoutMs must be a positive number of milliseconds (got NaN)'],
    ['recycleAfter not an object', { recycleAfter: 5 }, 'pool option recycleAfter must be an object such as { execs: 1000, ms: 600000 }'],
    ['recycleAfter an array', { recycleAfter: [] }, 'pool option recycleAfter must be an object such as { execs: 1000, ms: 600000 }'],
    ['recycleAfter.runs', { recycleAfter: { runs: 3 } }, 'pool option recycleAfter.runs is unknown; use execs and/or ms'],
    ['recycleAfter.execs 0', { recycleAfter: { execs: 0 } }, 'pool option recycleAfter.execs must be an integer >= 1 (got 0)'],
    [
      'recycleAfter.ms negative',
      { recycleAfter: { ms: -5 } },
      'pool option recycleAfter.ms must be a positive number of milliseconds (got -5)',
    ],
    ['reset sometimes', { reset: 'sometimes' }, `pool option reset must be 'fresh', 'reuse' or 'template' (got "sometimes")`],
    ['init not code', { init: 42 }, 'pool option init must be code, as a string'],
    ['healthCheckMs 0', { healthCheckMs: 0 }, 'pool option healthCheckMs must be a positive number of milliseconds (got 0)'],
    [
      'healthCheckMs Infinity',
      { healthCheckMs: Infinity },
      'pool option healthCheckMs (Infinity) is over 2147483647 ms (about 24.8 days), the longest a timer can wait; pass a shorter time',
    ],
    [
      'healthCheckMs just over a timer',
      { healthCheckMs: 2 ** 31 },
      'pool option healthCheckMs (2147483648) is over 2147483647 ms (about 24.8 days), the longest a timer can wait; pass a shorter time',
    ],
  ])('%s', (_what, options, message) => {
    expect(refusal(options)).toBe(message);
  });

  it('a value that cannot be shown as JSON is still described, never thrown on', () => {
    expect(refusal({ min: 10n })).toBe('pool option min must be an integer >= 0 (got 10n)');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refusal({ reset: cyclic })).toBe(
      `pool option reset must be 'fresh', 'reuse' or 'template' (got an object that cannot be shown)`,
    );
  });
});
