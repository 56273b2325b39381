/**
 * The Python value path's JavaScript half (src/lang/python/marshal.ts) against the real
 * thing: what the writer makes must be what CPython's `marshal.loads` reads, and what
 * CPython's `marshal.dumps(v, 2)` makes must read back as the same value. The reader takes
 * its input from the interpreter a script runs in, so bad bytes must fail as MarshalError.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MarshalError, fromMarshal, toMarshal } from '../../src/lang/python/marshal.js';
import { MapEntries, WireHandle } from '../../src/values.js';

const python = (() => {
  try {
    execFileSync('python3', ['-c', 'import marshal'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Runs `code` in CPython with `data` (bytes) on stdin; returns its stdout. */
function py(code: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  return execFileSync('python3', ['-c', code], { input: data });
}

const read = (b: Uint8Array) => fromMarshal(b, 'e1', 64);

describe.runIf(python)('marshal: JavaScript writer -> CPython marshal.loads', () => {
  it('plain values arrive as the Python values the JSON wire gave', () => {
    const value = [
      null,
      true,
      false,
      0,
      -1,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      2 ** 53 - 1,
      -(2 ** 60),
      1e21,
      1.5,
      -0.25,
      Infinity,
      NaN,
      '',
      'plain',
      'é ✓ 😀',
      new Uint8Array([0, 1, 255]),
      [1, [2, [3]]],
      { a: 1, b: 'x', __proto__x: null },
      12345678901234567890123n,
      -(2n ** 100n),
    ];
    const { bytes, handles } = toMarshal(value);
    expect(handles).toBe(false);
    const out = py('import marshal, sys\nv = marshal.loads(sys.stdin.buffer.read())\nprint(repr(v))', bytes).toString().trim();
    expect(out).toBe(
      "[None, True, False, 0, -1, 2147483647, -2147483648, 2147483648, 9007199254740991, -1152921504606846976, 1e+21, 1.5, -0.25, inf, nan, '', 'plain', 'é ✓ 😀', b'\\x00\\x01\\xff', [1, [2, [3]]], {'a': 1, 'b': 'x', '__proto__x': None}, 12345678901234567890123, -1267650600228229401496703205376]",
    );
  });

  it('Maps become dicts (array keys as tuples), and handles become tagged tuples', () => {
    const value = [
      new Map<unknown, unknown>([
        [1, 'one'],
        [[2, 3], 'pair'],
      ]),
      new MapEntries([[true, 'yes']]),
      new WireHandle('e1', 7, 'Rect'),
    ];
    const { bytes, handles } = toMarshal(value);
    expect(handles).toBe(true);
    const out = py('import marshal, sys\nprint(repr(marshal.loads(sys.stdin.buffer.read())))', bytes).toString().trim();
    expect(out).toBe("[{1: 'one', (2, 3): 'pair'}, {True: 'yes'}, ('h', 7, 'Rect', 'e1')]");
  });

  it('a lone surrogate arrives as itself (so the runtime can refuse it by name), pairs as their character', () => {
    const { bytes } = toMarshal(['lone \ud800', 'pair \ud83d\ude00', 'end \udc00x']);
    const out = py('import marshal, sys\nprint(ascii(marshal.loads(sys.stdin.buffer.read())))', bytes).toString().trim();
    expect(out).toBe("['lone \\ud800', 'pair \\U0001f600', 'end \\udc00x']");
  });

  it('leaves room for a header when asked', () => {
    const { bytes } = toMarshal('x', 5);
    expect([...bytes.subarray(5)]).toEqual([...toMarshal('x').bytes]);
  });
});

describe.runIf(python)('marshal: CPython marshal.dumps(v, 2) -> JavaScript reader', () => {
  it('reads every type the runtime writes', () => {
    const bytes = py(
      "import marshal, sys\nv = [None, True, False, 7, -7, 2**40, -(2**70), 0.5, float('inf'), 'é😀', b'\\x00\\xff', [1, [2]], {'k': 'v', '__proto__': 1}, ('m', [[1, 'a'], [[1, 2], 'b']]), ('m', [['s', 1]]), ('h', 3, 'Obj')]\nsys.stdout.buffer.write(marshal.dumps(v, 2))",
    );
    const v = read(new Uint8Array(bytes)) as unknown[];
    expect(v.slice(0, 9)).toEqual([null, true, false, 7, -7, 2 ** 40, -(2n ** 70n), 0.5, Infinity]);
    expect(v[9]).toBe('é😀');
    expect(v[10]).toEqual(new Uint8Array([0, 255]));
    expect(v[11]).toEqual([1, [2]]);
    const obj = v[12] as Record<string, unknown>;
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    expect(Object.keys(obj)).toEqual(['k', '__proto__']);
    expect(obj['__proto__']).toBe(1);
    expect(v[13]).toEqual(
      new Map<unknown, unknown>([
        [1, 'a'],
        [[1, 2], 'b'],
      ]),
    );
    expect(v[14]).toEqual({ s: 1 });
    expect(v[15]).toEqual(new WireHandle('e1', 3, 'Obj'));
  });
});

describe('marshal: the reader refuses what is not a value', () => {
  const bad: [string, number[]][] = [
    ['empty input', []],
    ['an unknown type byte', [0x63]],
    ['a cut string', [0x75, 10, 0, 0, 0, 0x61]],
    ['a list longer than its bytes', [0x5b, 0xff, 0xff, 0xff, 0x7f]],
    ['a negative length', [0x73, 0xff, 0xff, 0xff, 0xff]],
    ['more after the value', [0x4e, 0x4e]],
    ['a dict key that is not a string', [0x7b, 0x69, 1, 0, 0, 0, 0x4e, 0x30]],
    ['a tuple that is no tag', [0x28, 1, 0, 0, 0, 0x4e]],
    ['a dict without its end', [0x7b]],
  ];
  it.each(bad)('%s', (_name, bytes) => {
    expect(() => read(new Uint8Array(bytes))).toThrow(MarshalError);
  });

  it('a handle tag without an engine (a request) is refused', () => {
    const tag = toMarshal(new WireHandle('e1', 1, 'x')).bytes;
    // The host writes 4 items; the runtime writes 3 ('h', id, kind): make one of those.
    const three = new Uint8Array([0x28, 3, 0, 0, 0, ...toMarshal('h').bytes, ...toMarshal(1).bytes, ...toMarshal('x').bytes]);
    expect(fromMarshal(three, 'e1', 8)).toEqual(new WireHandle('e1', 1, 'x'));
    expect(() => fromMarshal(three, undefined, 8)).toThrow(MarshalError);
    expect(() => fromMarshal(tag, 'e1', 8)).toThrow(MarshalError);
  });

  it('nesting past the depth limit is refused before the stack runs out', () => {
    const deep = new Uint8Array(5 * 100_000 + 1);
    for (let i = 0; i < 100_000; i++) deep.set([0x5b, 1, 0, 0, 0], i * 5);
    deep[deep.length - 1] = 0x4e;
    expect(() => fromMarshal(deep, 'e1', 64)).toThrow(/deeper than limits.maxValueDepth/);
  });
});
