import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/errors.js';
import { WireHandle, checkValue, decode, encode } from '../src/values.js';

const roundTrip = (v: unknown) => decode(encode(checkValue(v, { maxDepth: 64, root: 'v' })));

describe('value codec', () => {
  it('round-trips primitives, bytes and nesting', () => {
    const v = { n: 1, f: 1.5, s: 'héllo', b: true, z: null, list: [1, [2, [3]]], bytes: new Uint8Array([0, 255]) };
    const back = roundTrip(v) as typeof v;
    expect(back).toEqual(v);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(back.bytes.constructor).toBe(Uint8Array);
  });

  it('keeps bigints: int64 range and beyond', () => {
    expect(roundTrip(2n ** 63n - 1n)).toBe(2n ** 63n - 1n);
    expect(roundTrip(-(2n ** 63n))).toBe(-(2n ** 63n));
    expect(roundTrip(2n ** 100n)).toBe(2n ** 100n);
    expect(roundTrip(7n)).toBe(7); // small ints come back as numbers (DESIGN §4)
  });

  it('keeps Maps with non-string keys', () => {
    const m = new Map<unknown, unknown>([
      [1, 'one'],
      [true, new Map([['k', 2]])],
    ]);
    const back = roundTrip({ m }) as { m: Map<unknown, unknown> };
    expect(back.m).toBeInstanceOf(Map);
    expect(back.m.get(1)).toBe('one');
    expect((back.m.get(true) as Map<string, number>).get('k')).toBe(2);
  });

  it('carries handles as an extension type', () => {
    const back = decode(encode([new WireHandle('lua-1', 7, 'Rect')])) as unknown[];
    expect(back[0]).toEqual(new WireHandle('lua-1', 7, 'Rect'));
    expect(back[0]).toBeInstanceOf(WireHandle);
  });

  it('decodes no error extension: errors cross as failure data, never as values', () => {
    // 0x53 carried the retired WireError; a frame that still uses it does not decode.
    expect(() => decode(new Uint8Array([0xd4, 0x53, 0x01]))).toThrow();
  });

  it('rejects cycles with the path of the bad part', () => {
    const a: Record<string, unknown> = { list: [1] };
    (a.list as unknown[]).push(a);
    const err = (() => {
      try {
        checkValue(a, { maxDepth: 64, root: 'args' });
      } catch (e) {
        return e as InvalidInputError;
      }
    })();
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err?.code).toBe('INVALID_INPUT');
    expect(err?.path).toBe('args.list[1]');
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(roundTrip([shared, shared])).toEqual([{ x: 1 }, { x: 1 }]);
  });

  it('rejects values nested deeper than maxValueDepth', () => {
    let v: unknown = 1;
    for (let i = 0; i < 10; i++) v = [v];
    expect(() => checkValue(v, { maxDepth: 5, root: 'args' })).toThrow(/maxValueDepth \(5\)/);
    expect(() => checkValue(v, { maxDepth: 20, root: 'args' })).not.toThrow();
  });

  it('rejects functions, symbols and class instances, naming where', () => {
    expect(() => checkValue({ cb: () => 1 }, { maxDepth: 8, root: 'args' })).toThrow(/args\.cb is a function/);
    expect(() => checkValue([Symbol('x')], { maxDepth: 8, root: 'args' })).toThrow(/args\[0\] is a symbol/);
    expect(() => checkValue({ when: new Date() }, { maxDepth: 8, root: 'args' })).toThrow(/args\.when is an instance of Date/);
  });
});
