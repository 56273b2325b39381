/**
 * What an engine sends is untrusted: parseToHost accepts exactly the ToHost shapes and
 * turns everything else into EngineCrashedError. Plus the pipe's framing.
 */
import { describe, expect, it } from 'vitest';
import { FrameReader, frame, frames } from '../../src/channel/frames.js';
import { decodeMessage, parseFromProcess, parseToHost } from '../../src/channel/protocol.js';
import { EngineCrashedError } from '../../src/errors.js';
import { WireHandle, decode, encode } from '../../src/values.js';

const out = { stdout: '', stderr: '', truncated: false };

describe('parseToHost', () => {
  it('accepts every ToHost message and copies only the known fields', () => {
    expect(parseToHost({ t: 'ready', extra: 1 })).toEqual({ t: 'ready' });
    const value = {
      n: 1,
      f: 1.5,
      big: 2n ** 70n,
      s: 'x',
      b: true,
      z: null,
      u: undefined,
      bytes: new Uint8Array([1]),
      list: [1, [2]],
      map: new Map<unknown, unknown>([[1, 'a']]),
      h: new WireHandle('lua-1', 2, 'table'),
    };
    expect(parseToHost({ t: 'done', value, defined: true, out: { ...out, more: 1 }, junk: 2 })).toEqual({
      t: 'done',
      value,
      defined: true,
      out,
    });
    const failure = { kind: 'script', type: 'RuntimeError', message: 'm', traceback: 'tb', line: 3, path: 'p' };
    expect(parseToHost({ t: 'failed', failure: { ...failure, extra: 1 }, out })).toEqual({ t: 'failed', failure, out });
    expect(parseToHost({ t: 'stats', memoryBytes: 10, handles: 2 })).toEqual({ t: 'stats', memoryBytes: 10, handles: 2 });
    expect(parseToHost({ t: 'hostCall', name: 'kv.get', args: [1, 'a'] })).toEqual({ t: 'hostCall', name: 'kv.get', args: [1, 'a'] });
    expect(parseToHost({ t: 'output', stream: 'stderr', text: 'hi' })).toEqual({ t: 'output', stream: 'stderr', text: 'hi' });
    // and what comes off the wire
    expect(parseToHost(decode(encode({ t: 'done', value: new Map([[true, 1]]), defined: true, out })))).toMatchObject({ t: 'done' });
  });

  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  let deep: unknown = 1;
  for (let i = 0; i < 50; i++) deep = [deep];
  const bad: [string, unknown, RegExp][] = [
    ['null', null, /message is not an object/],
    ['an array', [], /message is not an object/],
    ['a class instance', new Date(), /not a plain object/],
    ['no type', {}, /no message type/],
    ['an unknown type', { t: 'become-root' }, /unknown message type "become-root"/],
    ['a non-boolean defined', { t: 'done', value: 1, defined: 'yes', out }, /done\.defined is not a boolean/],
    ['a missing out', { t: 'done', value: 1, defined: true }, /out is not an object/],
    ['a bad out', { t: 'done', value: 1, defined: true, out: { ...out, truncated: 0 } }, /out\.truncated/],
    ['a Date value', { t: 'done', value: { when: new Date() }, defined: true, out }, /result\.when is an instance of Date/],
    ['a Set value', { t: 'done', value: new Set([1]), defined: true, out }, /instance of Set/],
    ['a typed array value', { t: 'done', value: new Float64Array(2), defined: true, out }, /instance of Float64Array/],
    ['an Error value', { t: 'done', value: new Error('x'), defined: true, out }, /instance of Error/],
    [
      'a class instance value',
      {
        t: 'done',
        value: new (class Point {
          x = 1;
        })(),
        defined: true,
        out,
      },
      /instance of Point/,
    ],
    ['a function value', { t: 'done', value: () => 1, defined: true, out }, /result is a function/],
    ['a symbol value', { t: 'done', value: Symbol('s'), defined: true, out }, /result is a symbol/],
    ['a cycle', { t: 'done', value: cyclic, defined: true, out }, /result\.self refers back/],
    ['a too deep value', { t: 'done', value: deep, defined: true, out }, /nested deeper than 10/],
    [
      'a broken handle',
      { t: 'done', value: Object.assign(Object.create(WireHandle.prototype), { id: 'x' }), defined: true, out },
      /broken handle/,
    ],
    ['an unknown failure kind', { t: 'failed', failure: { kind: 'escaped', type: 'E', message: 'm' }, out }, /failure\.kind/],
    ['a non-string failure message', { t: 'failed', failure: { kind: 'script', type: 'E', message: 5 }, out }, /failure\.message/],
    ['a fractional line', { t: 'failed', failure: { kind: 'script', type: 'E', message: 'm', line: 1.5 }, out }, /failure\.line/],
    ['a negative memory size', { t: 'stats', memoryBytes: -1, handles: 0 }, /memoryBytes/],
    ['an infinite memory size', { t: 'stats', memoryBytes: Infinity, handles: 0 }, /memoryBytes/],
    ['a fractional handle count', { t: 'stats', memoryBytes: 1, handles: 0.5 }, /handles/],
    ['a host call with a numeric name', { t: 'hostCall', name: 5, args: [] }, /hostCall\.name/],
    ['a host call with object args', { t: 'hostCall', name: 'x', args: {} }, /hostCall\.args is not an array/],
    ['output to stdin', { t: 'output', stream: 'stdin', text: '' }, /output\.stream/],
    ['output without text', { t: 'output', stream: 'stdout' }, /output\.text/],
  ];
  for (const [what, msg, message] of bad) {
    it(`rejects ${what}`, () => {
      let err: unknown;
      try {
        parseToHost(msg, 10);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EngineCrashedError);
      expect((err as Error).message).toMatch(/^the engine sent a malformed message: /);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('rejects what msgpackr decodes from forged extension types', () => {
    // msgpackr's built-in extensions (Date, Set, RegExp, Error, typed arrays) decode fine but are not script values.
    for (const v of [new Date(), new Set([1]), /x/, new Error('e'), new Int32Array(1)]) {
      const wire = decode(new Uint8Array(encodeRaw({ t: 'done', value: v, defined: true, out })));
      expect(() => parseToHost(wire)).toThrow(EngineCrashedError);
    }
  });

  it('refuses a frame that uses the retired error extension (0x53): errors cross only as failure data', () => {
    // fixmap {t: 'done', value: <ext 0x53>, defined: true, out: {}}
    const bytes = [0x84, 0xa1, 0x74, 0xa4, ...Buffer.from('done'), 0xa5, ...Buffer.from('value'), 0xd4, 0x53, 0x01];
    bytes.push(0xa7, ...Buffer.from('defined'), 0xc3, 0xa3, ...Buffer.from('out'), 0x80);
    expect(() => decodeMessage(new Uint8Array(bytes))).toThrow(EngineCrashedError);
  });

  it("parseFromProcess also knows the child process's fatal message", () => {
    expect(parseFromProcess({ t: 'fatal', message: 'worker died' })).toEqual({ t: 'fatal', message: 'worker died' });
    expect(() => parseFromProcess({ t: 'fatal', message: 1 })).toThrow(/fatal\.message/);
    expect(parseFromProcess({ t: 'ready' })).toEqual({ t: 'ready' });
  });
});

// A msgpackr packer with its default extensions on, as a forging child would use.
import { Packr } from 'msgpackr';
const rawPackr = new Packr({ moreTypes: true, useRecords: false });
function encodeRaw(v: unknown): Uint8Array {
  return rawPackr.pack(v);
}

describe('frames', () => {
  it('cuts a stream into frames however it is chunked', () => {
    const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(70_000).fill(7), new Uint8Array([9])];
    const stream = frames(payloads);
    for (const size of [1, 3, 5, 4096, stream.length]) {
      const got: Uint8Array[] = [];
      const reader = new FrameReader(
        1 << 20,
        (f) => got.push(new Uint8Array(f)),
        () => {
          throw new Error('too big');
        },
      );
      for (let i = 0; i < stream.length; i += size) reader.push(stream.subarray(i, i + size));
      expect(got).toEqual(payloads);
    }
    expect(frame(new Uint8Array([5]))).toEqual(new Uint8Array([1, 0, 0, 0, 5]));
  });

  it('stops at a header over the limit and reports its size', () => {
    const got: Uint8Array[] = [];
    const sizes: number[] = [];
    const reader = new FrameReader(
      10,
      (f) => got.push(f),
      (n) => sizes.push(n),
    );
    reader.push(frames([new Uint8Array([1]), new Uint8Array(11), new Uint8Array([2])]));
    reader.push(frame(new Uint8Array([3])));
    expect(got).toEqual([new Uint8Array([1])]);
    expect(sizes).toEqual([11]);
    const huge = new FrameReader(
      10,
      () => {},
      (n) => sizes.push(n),
    );
    huge.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    expect(sizes).toEqual([11, 0xffff_ffff]);
  });
});
