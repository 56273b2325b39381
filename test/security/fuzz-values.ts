/**
 * Seeded randomness for the soak and the fuzz suites: a small PRNG (mulberry32, so a run
 * is reproducible from its seed) and generators of hostile values, option objects and
 * names. Everything here is plain test data; nothing is trusted.
 */

/** A reproducible stream of random numbers from a 32-bit seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Picks by weight: `[[weight, item], ...]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = this.next() * total;
    for (const [w, item] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1]![1];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** A seed from an env var (decimal), else `fallback`: the suite's fixed seed. */
export function seedFrom(env: string | undefined, fallback: number): number {
  const n = env === undefined ? NaN : Number(env);
  return Number.isInteger(n) ? n : fallback;
}

/** A count from an env var, else `fallback`. */
export function countFrom(env: string | undefined, fallback: number): number {
  const n = env === undefined ? NaN : Number(env);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Strings an attacker likes: empty, huge, control characters, lone surrogates, paths, dunder names, Lua patterns. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '.',
  '..',
  '...',
  'a.',
  '.a',
  'a..b',
  '__class__',
  '__globals__',
  '__builtins__',
  '__import__',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '_G',
  'debug',
  'os.exit',
  'host',
  'host.kv',
  'host.__dict__',
  'sys.modules',
  'globals',
  'getmetatable',
  'rawset',
  'load',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\u202e',
  '\u001b[2J',
  '\r\n',
  '%s%n%x',
  '%d',
  '..\\..',
  '../../etc/passwd',
  '/etc/passwd',
  '*',
  '**',
  '*.*',
  'kv.*',
  'a*b',
  '.*',
  '[',
  '(',
  '%',
  'é',
  '日本',
  '😀',
  'x'.repeat(2000),
  'double',
  'Counter',
  'Counter.new',
  'geom.area',
  'a.b.c.d.e.f.g',
  'print',
  'exec',
  'eval',
  'open',
  'NaN',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'constructor.constructor',
];

/** A random string: often nasty, sometimes random code points (lone surrogates included). */
export function randomString(rng: Rng, maxLen = 40): string {
  if (rng.chance(0.6)) return rng.pick(NASTY_STRINGS);
  const n = rng.int(maxLen + 1);
  let s = '';
  for (let i = 0; i < n; i++) {
    const kind = rng.int(5);
    s +=
      kind === 0
        ? String.fromCharCode(rng.int(0x20))
        : kind === 1
          ? String.fromCharCode(0xd800 + rng.int(0x800))
          : kind === 2
            ? String.fromCodePoint(rng.int(0x110000))
            : String.fromCharCode(0x20 + rng.int(0x5f));
  }
  return s;
}

/** Numbers at the edges. */
export const EDGE_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  0.5,
  NaN,
  Infinity,
  -Infinity,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  Number.MIN_SAFE_INTEGER - 2,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 32,
  2 ** 53,
  2 ** 64,
  1e308,
  -1e308,
  1e-300,
];

/** Where a trap fired (getters that throw, toString traps...), so a test can tell traps ran but did not leak. */
export class Trap extends Error {
  constructor(what: string) {
    super(`trap: ${what}`);
    this.name = 'Trap';
  }
}

/** Objects built to break a validator: throwing getters, proxies, coercion traps, odd prototypes. */
export function hostileObject(rng: Rng): unknown {
  switch (rng.int(14)) {
    case 0:
      return Object.defineProperty({}, rng.pick(['timeoutMs', 'memoryBytes', 'capabilities', 'limits', 'placement', 'min', 'max', 'x']), {
        enumerable: true,
        get() {
          throw new Trap('getter');
        },
      });
    case 1:
      return new Proxy(
        {},
        {
          ownKeys() {
            throw new Trap('ownKeys');
          },
        },
      );
    case 2:
      return new Proxy(
        {},
        {
          get() {
            throw new Trap('proxy get');
          },
          getOwnPropertyDescriptor() {
            throw new Trap('proxy descriptor');
          },
          ownKeys: () => ['timeoutMs', 'placement', 'a'],
        },
      );
    case 3:
      return {
        toString: () => {
          throw new Trap('toString');
        },
        valueOf: () => {
          throw new Trap('valueOf');
        },
      };
    case 4:
      return {
        [Symbol.toPrimitive]: () => {
          throw new Trap('toPrimitive');
        },
      };
    case 5:
      return Object.create(null);
    case 6:
      return new Date();
    case 7:
      return new Map([[{}, 1]]);
    case 8:
      return Object.create({ timeoutMs: 1, placement: 'inline', trusted: true });
    case 9: {
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      return cyclic;
    }
    case 10:
      return () => 1;
    case 11:
      return Symbol('s');
    case 12:
      // An array whose elements throw when read. (Not a huge fake length: a caller's own
      // proxy claiming 4 billion elements only stalls that caller's own validation loop.)
      return new Proxy([1, 2, 3], {
        get(t, k) {
          if (k === '0' || k === '1' || k === '2') throw new Trap('proxy element');
          return Reflect.get(t, k);
        },
      });
    default:
      return new (class Secret {
        x = 1;
      })();
  }
}

/** Any value at all: primitives, edges, hostile objects, nested mixes. */
export function randomAny(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 8 : 11)) {
    case 0:
      return rng.pick([undefined, null, true, false]);
    case 1:
      return rng.pick(EDGE_NUMBERS);
    case 2:
      return rng.pick([0n, -1n, 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, 10n ** 40n]);
    case 3:
      return randomString(rng);
    case 4:
      return rng.bytes(rng.int(16));
    case 5:
      return hostileObject(rng);
    case 6:
      return rng.int(1000) - 500;
    case 7:
      return rng.pick([
        new Uint16Array(3),
        new ArrayBuffer(4),
        new WeakMap(),
        new Set([1]),
        /re/,
        new Error('e'),
        Promise.resolve(1),
        // Look-alikes that pass `instanceof` but break the built-in methods a validator calls.
        Object.create(Map.prototype),
        new Proxy(new Map([[1, 2]]), {}),
        Object.create(Uint8Array.prototype),
        new Proxy(new Uint8Array(2), {}),
        new Map([[Object.create(null), 1]]),
      ]);
    case 8:
      return Array.from({ length: rng.int(5) }, () => randomAny(rng, depth + 1));
    case 9: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) o[randomString(rng, 8)] = randomAny(rng, depth + 1);
      return o;
    }
    default: {
      const m = new Map<unknown, unknown>();
      for (let i = rng.int(4); i > 0; i--) m.set(randomAny(rng, depth + 1), randomAny(rng, depth + 1));
      return m;
    }
  }
}

/** A deeply nested array (over any sane maxValueDepth). */
export function deepValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A mutated copy of `bytes`: flipped bits, cut, grown, spliced, or a length field made huge. */
export function mutateBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  let out = new Uint8Array(bytes);
  for (let round = 1 + rng.int(3); round > 0; round--) {
    switch (rng.int(6)) {
      case 0:
        if (out.length) out[rng.int(out.length)]! ^= 1 << rng.int(8);
        break;
      case 1:
        out = out.slice(0, rng.int(out.length + 1));
        break;
      case 2: {
        const extra = rng.bytes(1 + rng.int(8));
        const at = rng.int(out.length + 1);
        const grown = new Uint8Array(out.length + extra.length);
        grown.set(out.subarray(0, at));
        grown.set(extra, at);
        grown.set(out.subarray(at), at + extra.length);
        out = grown;
        break;
      }
      case 3:
        if (out.length) out[rng.int(out.length)] = rng.pick([0xc1, 0xd4, 0xd5, 0xc7, 0xc8, 0xc9, 0xdd, 0xdf, 0xdb, 0xff, 0x00]);
        break;
      case 4: {
        // A container or string header claiming 4 billion entries.
        const at = rng.int(out.length + 1);
        const head = rng.pick([
          [0xdd, 0xff, 0xff, 0xff, 0xff],
          [0xdf, 0xff, 0xff, 0xff, 0xff],
          [0xdb, 0xff, 0xff, 0xff, 0xf0],
          [0xc6, 0x7f, 0xff, 0xff, 0xff],
        ]);
        const grown = new Uint8Array(out.length + head.length);
        grown.set(out.subarray(0, at));
        grown.set(head, at);
        grown.set(out.subarray(at), at + head.length);
        out = grown;
        break;
      }
      default:
        if (out.length > 1) {
          const a = rng.int(out.length);
          const b = rng.int(out.length);
          [out[a], out[b]] = [out[b]!, out[a]!];
        }
    }
  }
  return out;
}
