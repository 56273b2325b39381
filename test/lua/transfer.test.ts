/**
 * Strings and bytes crossing into and out of Lua on both cores (wasm Lua 5.4, native
 * LuaJIT): copied straight into the engine's memory and straight out, they must round
 * trip exactly (every byte value, NULs, non-ASCII text, a leading BOM, sizes around the
 * scratch buffers), and the limits must refuse what they refused before. Then once through
 * a worker, where values also cross as MessagePack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreEnv, CoreInit, CoreOutcome } from '../../src/core.js';
import { createEngine } from '../../src/index.js';
import { isUtf8, utf8Text } from '../../src/lang/lua/convert.js';
import { nativeAvailable } from '../../src/node/native-libs.js';
import type { ScriptValue } from '../../src/values.js';
import { createLuaJitCore } from '../../native-bridge/luajit/core.js';
import { LuaCore } from '../../wasm/lua/core.js';

const MiB = 1024 * 1024;
const RUN = { timeoutMs: 10_000, stream: false };

/** A core whose methods answer synchronously (both Lua cores do). */
type SyncCore = LuaCore;
const CORES: { backend: string; boot: (init: CoreInit, env: CoreEnv) => Promise<SyncCore> }[] = [
  { backend: 'wasm', boot: (init, env) => LuaCore.create(init, env) },
  ...(nativeAvailable('lua')
    ? [{ backend: 'native', boot: async (init: CoreInit, env: CoreEnv) => (await createLuaJitCore(init, env)) as unknown as SyncCore }]
    : []),
];

const SCRIPT = `
function same(...) return ... end
function len(s) return #s end
function byte_at(s, i) return s:byte(i) end
function as_bytes(s) return host.bytes(s) end
function rep(s, n) return string.rep(s, n) end
function echo_host(v) return host.echo(v) end
function fan(n) local s = string.rep("y", n) return { s, s, s } end
`;

function ok(o: CoreOutcome): ScriptValue {
  if (!o.ok) throw new Error(`expected success, got ${o.failure.type}: ${o.failure.message}`);
  return o.value;
}

function failed(o: CoreOutcome) {
  if (o.ok) throw new Error('expected a failure');
  return o.failure;
}

/** Every byte value, repeated to `n` bytes. */
function allBytes(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
}

/** Non-ASCII text of about `n` UTF-16 units: 2-, 3- and 4-byte characters (an astral pair) and ASCII. */
function mixedText(n: number): string {
  return 'héllo wörld ✓ 𝄞 ☃ '
    .repeat(Math.ceil(n / 19))
    .slice(0, n)
    .replace(/[\uD800-\uDBFF]$/, 'x');
}

/** Equal bytes, compared without building a 1 MiB diff on failure. */
function sameBytes(a: unknown, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || a.constructor !== Uint8Array || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('UTF-8 check', () => {
  const strict = new TextDecoder('utf-8', { fatal: true });
  const accepts = (b: Uint8Array) => {
    try {
      strict.decode(b);
      return true;
    } catch {
      return false;
    }
  };

  it('accepts and refuses exactly what a fatal TextDecoder does', () => {
    const edges = [
      [],
      [0],
      [0x7f],
      [0x80],
      [0xc1, 0xbf], // overlong
      [0xc2, 0x80],
      [0xdf, 0xbf],
      [0xe0, 0x9f, 0x80], // overlong
      [0xe0, 0xa0, 0x80],
      [0xed, 0x9f, 0xbf],
      [0xed, 0xa0, 0x80], // a surrogate
      [0xef, 0xbf, 0xbf],
      [0xf0, 0x8f, 0xbf, 0xbf], // overlong
      [0xf0, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xf5, 0x80, 0x80, 0x80],
      [0xe2, 0x82], // cut short
      [0xf0, 0x9f, 0x98],
      [0x61, 0xc3],
      [0xc3, 0x28],
      [0xef, 0xbb, 0xbf, 0x61], // a BOM
    ];
    for (const e of edges) expect(isUtf8(new Uint8Array(e)), `[${e.join(', ')}]`).toBe(accepts(new Uint8Array(e)));
    // Random bytes biased toward UTF-8's lead and continuation bytes.
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    for (let k = 0; k < 20_000; k++) {
      const b = new Uint8Array(1 + (rand() % 6)).map(() => (rand() & 1 ? pool[rand() % pool.length]! : rand()));
      expect(isUtf8(b), `[${[...b].join(', ')}]`).toBe(accepts(b));
    }
  });

  it('utf8Text keeps a leading BOM and answers undefined for bytes, short or long', () => {
    expect(utf8Text(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]))).toBe('\uFEFFa');
    expect(utf8Text(new Uint8Array([0x61, 0xff]))).toBeUndefined();
    const long = new TextEncoder().encode('\uFEFF' + mixedText(100_000));
    expect(utf8Text(long)).toBe('\uFEFF' + mixedText(100_000));
    long[long.length - 1] = 0xff;
    expect(utf8Text(long)).toBeUndefined();
    // Either side of where the JS check gives way to the decoder's own.
    for (const n of [1023, 1024, 1025, 4096]) {
      const text = 'é'.repeat(n >> 1) + 'a'.repeat(n & 1);
      const b = new TextEncoder().encode(text);
      expect(utf8Text(b), `${n} bytes`).toBe(text);
      expect(utf8Text(b.subarray(0, n - 1 - (n & 1))), `${n} bytes cut in a character`).toBeUndefined();
    }
  });
});

describe.each(CORES)('values crossing into Lua and back ($backend core)', ({ boot }) => {
  let core: SyncCore;
  const call = (fn: string, ...args: ScriptValue[]) => core.call(fn, args, RUN, false);

  /** A core with the test script loaded, its scratch buffers at their first size. */
  const fresh = async (): Promise<SyncCore> => {
    const c = await boot(
      {
        language: 'lua',
        engineId: 'transfer-test',
        limits: { memoryBytes: 64 * MiB, maxOutputBytes: 10_000, maxValueDepth: 20, maxValueBytes: 4 * MiB },
        hostFunctions: ['echo'],
        config: null,
      },
      {
        interruptWord: new Int32Array(new SharedArrayBuffer(4)),
        hostCall: (name, args) => {
          if (name === 'echo') return args[0] ?? null;
          throw new Error(`no host function ${name}`);
        },
        hostStart: () => {
          throw new Error('hostStart is not used by Lua');
        },
        hostWait: () => {
          throw new Error('hostWait is not used by Lua');
        },
        output() {},
      },
    );
    ok(c.load(SCRIPT, 'transfer', RUN));
    return c;
  };

  /** Runs `body` on a fresh core (where a test needs the scratch buffers small), then disposes it. */
  const onFresh = async (body: () => void): Promise<void> => {
    const shared = core;
    core = await fresh();
    try {
      body();
    } finally {
      core.dispose();
      core = shared;
    }
  };

  beforeAll(async () => {
    core = await fresh();
  });
  afterAll(() => core.dispose());

  it('1 MiB of bytes with every value 0..255 round trips exactly, and Lua sees every byte', () => {
    const b = allBytes(MiB);
    expect(sameBytes(ok(call('same', b)), b)).toBe(true);
    expect(ok(call('len', b))).toBe(MiB);
    expect(ok(call('byte_at', b, MiB))).toBe(b[MiB - 1]);
    // Views with an offset cross as their own bytes only.
    const view = b.subarray(1000, 1000 + 70_000);
    expect(sameBytes(ok(call('same', view)), view)).toBe(true);
    // Bytes in shared memory, and a Node Buffer, cross like any Uint8Array.
    const shared = new Uint8Array(new SharedArrayBuffer(300_000)).map((_, i) => 255 - (i & 0xff));
    expect(sameBytes(ok(call('same', shared.subarray(3))), shared.slice(3))).toBe(true);
    expect(sameBytes(ok(call('as_bytes', Buffer.from(b.subarray(0, 5000)))), b.subarray(0, 5000))).toBe(true);
  });

  it('bytes of every size around the scratch buffers round trip, NULs included', async () => {
    await onFresh(() => {
      for (const n of [0, 1, 7, 8, 255, 4095, 4096, 4097, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 65_536, 65_545, 300_000]) {
        const b = new Uint8Array(n).map((_, i) => (i % 3 === 0 ? 0 : 0x80 + (i % 0x7f)));
        const back = ok(call('as_bytes', b));
        expect(sameBytes(back, b), `${n} bytes`).toBe(true);
      }
    });
    // A plain Lua string with a NUL and invalid UTF-8 comes back as bytes.
    expect(ok(call('same', new Uint8Array([0x61, 0, 0xff])))).toEqual(new Uint8Array([0x61, 0, 0xff]));
  });

  it('bytes that are valid UTF-8 come back as text unless host.bytes marks them', () => {
    const text = new TextEncoder().encode('plain ascii');
    expect(ok(call('same', text))).toBe('plain ascii');
    expect(sameBytes(ok(call('as_bytes', text)), text)).toBe(true);
  });

  it('1 MiB strings round trip exactly: ASCII, non-ASCII, NULs, a leading BOM', () => {
    const ascii = 'abcdefghij'.repeat(MiB / 10 + 1).slice(0, MiB);
    expect(ok(call('same', ascii))).toBe(ascii);
    expect(ok(call('len', ascii))).toBe(MiB);
    const mixed = mixedText(MiB);
    expect(ok(call('same', mixed)) === mixed).toBe(true);
    expect(ok(call('len', mixed))).toBe(new TextEncoder().encode(mixed).length);
    const odd = '\uFEFFnul\0inside\0' + mixed.slice(0, 1000) + '\0';
    expect(ok(call('same', odd))).toBe(odd);
    expect(ok(call('same', '\uFEFF'))).toBe('\uFEFF');
    expect(ok(call('same', ''))).toBe('');
  });

  it('text of every size around the scratch buffers round trips, and Lua counts its UTF-8 bytes', async () => {
    await onFresh(() => {
      for (const n of [1, 1365, 1366, 2048, 4095, 4096, 4097, 16 * 1024, 50_000, 200_000]) {
        // Wide characters at the end: the first encoding pass runs out of room there.
        const s = 'a'.repeat(n) + '€𝄞'.repeat(n >> 2);
        expect(ok(call('same', s)) === s, `${s.length} units`).toBe(true);
        expect(ok(call('len', s))).toBe(n + 7 * (n >> 2));
      }
    });
    // A lone surrogate becomes U+FFFD, as TextEncoder makes it.
    expect(ok(call('same', 'a\uD800b'))).toBe('a\uFFFDb');
  });

  it('strings made in Lua come back, and keys and nested values cross too', () => {
    expect(ok(call('rep', 'é', 300_000))).toBe('é'.repeat(300_000));
    const v = { ключ: ['значение', allBytes(300)], nested: { deep: 'ü'.repeat(10_000) } };
    const back = ok(call('same', v)) as typeof v;
    expect(back.ключ[0]).toBe('значение');
    expect(sameBytes(back.ключ[1], allBytes(300))).toBe(true);
    expect(back.nested.deep).toBe('ü'.repeat(10_000));
  });

  it('several values in one call, and through a host call and back', () => {
    const b = allBytes(200_000);
    const back = ok(call('same', 'x', b, 'ÿ')) as ScriptValue[];
    expect(back[0]).toBe('x');
    expect(sameBytes(back[1], b)).toBe(true);
    expect(back[2]).toBe('ÿ');
    expect(sameBytes(ok(call('echo_host', b)), b)).toBe(true);
    const s = mixedText(200_000);
    expect(ok(call('echo_host', s)) === s).toBe(true);
  });

  it('limits.maxValueBytes still refuses what it refused, with the same error', () => {
    // Three references to 1.5 MiB pass a 4 MiB cap.
    const f = failed(call('fan', 1.5 * MiB));
    expect(f.kind).toBe('invalid');
    expect(f.type).toBe('InvalidInputError');
    expect(f.message).toMatch(/makes the value larger than limits\.maxValueBytes \(4194304 bytes/);
    expect((ok(call('fan', MiB)) as string[]).length).toBe(3);
    // One string over the cap, read as bytes or as text.
    const big = allBytes(4 * MiB + 1);
    expect(failed(call('same', big)).message).toMatch(/limits\.maxValueBytes/);
    expect(failed(call('as_bytes', big)).message).toMatch(/limits\.maxValueBytes/);
    // The core still answers.
    expect(ok(call('same', 'after'))).toBe('after');
  });
});

describe('values crossing a worker into Lua and back (wasm)', () => {
  let engine: Awaited<ReturnType<typeof createEngine>>;
  beforeAll(async () => {
    engine = await createEngine('lua', { placement: 'worker' });
    await engine.load(SCRIPT, 'transfer');
  }, 60_000);
  afterAll(async () => {
    await engine?.dispose();
  });

  it('1 MiB of bytes and 1 MiB strings round trip exactly', async () => {
    const b = allBytes(MiB);
    expect(sameBytes(await engine.call('same', [b]), b)).toBe(true);
    const mixed = mixedText(MiB);
    expect((await engine.call('same', [mixed])) === mixed).toBe(true);
    const odd = '\uFEFF\0' + mixed.slice(0, 5000);
    expect(await engine.call('same', [odd])).toBe(odd);
  });
});
