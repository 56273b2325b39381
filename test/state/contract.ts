/**
 * The StateStore contract, run against every store: by test/state/stores.test.ts in Node
 * (MemoryStore, SqliteStore) and by test/browser/state-indexeddb.test.ts in Chromium.
 */
import { afterEach, expect, it } from 'vitest';
import { DisposedError, InvalidInputError, PermissionDeniedError } from '../../src/errors.js';
import type { StateStore, StoreLimits } from '../../src/state/store.js';
import type { ScriptValue } from '../../src/values.js';

/** A built-in store: the StateStore contract, with `dispose()` and its deprecated alias `close()`. */
export type BuiltinStore = StateStore & AsyncDisposable & { dispose(): Promise<void>; close(): Promise<void> };

/** Opens a fresh, empty store. */
export type OpenStore = (limits?: StoreLimits) => Promise<BuiltinStore>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** Receives until the channel is empty. */
async function drain(store: StateStore, channel: string): Promise<ScriptValue[]> {
  const out: ScriptValue[] = [];
  for (let r = await store.receive(channel, 0); r !== null; r = await store.receive(channel, 0)) out.push(r.message);
  return out;
}

/** Registers the contract's tests in the current describe block. */
export function storeContract(open: OpenStore, name: RegExp): void {
  const opened: BuiltinStore[] = [];
  const make = async (limits?: StoreLimits) => {
    const s = await open(limits);
    opened.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.dispose();
  });

  it('kv: get, set, delete, keys', async () => {
    const s = await make();
    expect(await s.get('missing')).toBeUndefined();
    await s.set('user:2', { name: 'Bo' });
    await s.set('user:1', { name: 'Ann' });
    await s.set('config', 7);
    await s.set('user:1', { name: 'Ann', admin: true });
    expect(await s.get('user:1')).toEqual({ name: 'Ann', admin: true });
    expect(await s.keys()).toEqual(['config', 'user:1', 'user:2']);
    expect(await s.keys('')).toEqual(['config', 'user:1', 'user:2']);
    expect(await s.keys('user:')).toEqual(['user:1', 'user:2']);
    expect(await s.keys('usex')).toEqual([]);
    expect(await s.keys('zzz')).toEqual([]);
    expect(await s.delete('user:2')).toBe(true);
    expect(await s.delete('user:2')).toBe(false);
    expect(await s.get('user:2')).toBeUndefined();
    expect(await s.keys('user:')).toEqual(['user:1']);
  });

  it('kv: keys are sorted as JS sorts strings, Unicode included', async () => {
    const s = await make();
    const keys = ['b', 'a', 'ab', 'a\u00e9', 'a\u{1f600}', 'a\uffef', 'A', 'a b', '\u00e9t\u00e9'];
    for (const k of keys) await s.set(k, k);
    expect(await s.keys()).toEqual([...keys].sort());
    expect(await s.keys('a')).toEqual(keys.filter((k) => k.startsWith('a')).sort());
    expect(await s.get('a\u{1f600}')).toBe('a\u{1f600}');
  });

  it('values round-trip: Uint8Array, bigint, Map, nesting; null and undefined', async () => {
    const s = await make();
    const value = {
      bytes: new Uint8Array([0, 1, 254, 255]),
      big: 2n ** 64n + 1n,
      negBig: -(2n ** 63n),
      small: 7n,
      map: new Map<ScriptValue, ScriptValue>([
        [1, 'one'],
        ['two', 2],
        [true, [1, 2]],
      ]),
      list: [1, 2.5, 'three', null, false, { deep: [[['x']]] }],
      text: 'h\u00e9llo \u{1f600}',
    };
    await s.set('v', value);
    const back = (await s.get('v')) as Record<string, ScriptValue>;
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(back.bytes).toEqual(new Uint8Array([0, 1, 254, 255]));
    expect(back.big).toBe(2n ** 64n + 1n);
    expect(back.negBig).toBe(-(2n ** 63n));
    expect(back.small).toBe(7); // safe bigints come back as numbers (DESIGN §4, values.ts)
    expect(back.map).toBeInstanceOf(Map);
    expect([...(back.map as Map<ScriptValue, ScriptValue>)]).toEqual([
      [1, 'one'],
      ['two', 2],
      [true, [1, 2]],
    ]);
    expect(back.list).toEqual(value.list);
    expect(back.text).toBe(value.text);

    await s.set('null', null);
    expect(await s.get('null')).toBeNull();
    await s.set('undef', undefined);
    expect(await s.get('undef')).toBeNull(); // stored as null: undefined from get means "missing"
    expect(await s.keys('un')).toEqual(['undef']);

    await s.send('c', new Map([[2n ** 70n, new Uint8Array([9])]]));
    const got = await s.receive('c', 0);
    expect(got?.message).toEqual(new Map([[2n ** 70n, new Uint8Array([9])]]));
  });

  it('stores copies: changing a stored or a read value changes nothing in the store', async () => {
    const s = await make();
    const value = { list: [1, 2], bytes: new Uint8Array([1, 2, 3]) };
    await s.set('k', value);
    value.list.push(3);
    value.bytes[0] = 99;
    const read = (await s.get('k')) as { list: number[]; bytes: Uint8Array };
    expect(read).toEqual({ list: [1, 2], bytes: new Uint8Array([1, 2, 3]) });
    read.list.push(4);
    read.bytes[1] = 99;
    expect(await s.get('k')).toEqual({ list: [1, 2], bytes: new Uint8Array([1, 2, 3]) });
  });

  it('channels are FIFO per name and independent of each other', async () => {
    const s = await make();
    for (let i = 0; i < 20; i++) await s.send(i % 2 ? 'odd' : 'even', i);
    expect(await s.receive('empty', 0)).toBeNull();
    expect(await drain(s, 'odd')).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    expect(await drain(s, 'even')).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    await s.set('odd', 'kv and channels are separate');
    expect(await s.receive('odd', 0)).toBeNull();
  });

  it('a receive that times out resolves null and loses no later message', async () => {
    const s = await make();
    const t = Date.now();
    expect(await s.receive('c', 40)).toBeNull();
    expect(Date.now() - t).toBeGreaterThanOrEqual(35);
    const timedOut = [s.receive('c', 5), s.receive('c', 10), s.receive('c', 15)];
    expect(await Promise.all(timedOut)).toEqual([null, null, null]);
    await s.send('c', 'later');
    await s.send('c', 'later 2');
    expect(await s.receive('c', 1000)).toEqual({ message: 'later' });
    expect(await s.receive('c', 0)).toEqual({ message: 'later 2' });
  });

  it('a waiting receive is woken by a send', async () => {
    const s = await make();
    const t = Date.now();
    const waiting = s.receive('jobs', 10_000);
    await sleep(30);
    await s.send('jobs', { id: 1 });
    expect(await waiting).toEqual({ message: { id: 1 } });
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('waiting receivers each get a distinct message, oldest receiver first', async () => {
    const s = await make();
    const first = s.receive('c', 10_000);
    const second = s.receive('c', 10_000);
    await sleep(10);
    await s.send('c', 'a');
    await s.send('c', 'b');
    expect(await first).toEqual({ message: 'a' });
    expect(await second).toEqual({ message: 'b' });

    const many = Array.from({ length: 10 }, () => s.receive('many', 10_000));
    await Promise.all(Array.from({ length: 10 }, (_, i) => s.send('many', i)));
    const got = (await Promise.all(many)).map((r) => r?.message as number);
    expect([...got].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('nothing is lost when receives time out while sends arrive', async () => {
    const s = await make();
    const received: ScriptValue[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      pending.push(s.receive('race', i % 5).then((r) => void (r && received.push(r.message))));
      await sleep(i % 4);
      await s.send('race', i);
    }
    await Promise.all(pending);
    received.push(...(await drain(s, 'race')));
    expect([...received].sort((a, b) => (a as number) - (b as number))).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('rejects values over maxValueBytes, naming the size, the limit and the fix', async () => {
    const s = await make({ maxValueBytes: 1000 });
    const big = 'x'.repeat(2000);
    const e = await rejection(s.set('k', big));
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.message).toMatch(
      /^kv value for 'k' is 200\d bytes, over the store's maxValueBytes \(1000\); store less or raise maxValueBytes$/,
    );
    const m = await rejection(s.send('c', big));
    expect(m).toBeInstanceOf(InvalidInputError);
    expect(m.message).toMatch(
      /^message for channel 'c' is 200\d bytes, over the store's maxValueBytes \(1000\); send less or raise maxValueBytes$/,
    );
    expect(await s.get('k')).toBeUndefined();
    expect(await s.receive('c', 0)).toBeNull();
    await s.set('k', 'x'.repeat(900));
    expect(await s.get('k')).toBe('x'.repeat(900));

    const d = await make();
    await d.set('almost', new Uint8Array(1024 * 1024 - 16));
    const over = await rejection(d.set('over', new Uint8Array(1024 * 1024 + 1)));
    expect(over.message).toMatch(/maxValueBytes \(1048576\)/);
  });

  it('rejects bad keys, channel names, timeouts and values with InvalidInputError', async () => {
    const s = await make({ maxKeyLength: 8 });
    const bad = async (p: Promise<unknown>, re: RegExp) => {
      const e = await rejection(p);
      expect(e).toBeInstanceOf(InvalidInputError);
      expect(e.message).toMatch(re);
      return e as InvalidInputError;
    };
    await bad(s.get(''), /kv key must not be empty/);
    await bad(s.set(42 as unknown as string, 1), /kv key must be a string, got number/);
    await bad(s.delete(null as unknown as string), /kv key must be a string, got null/);
    await bad(
      s.set('123456789', 1),
      /kv key '123456789' is 9 characters, over the store's maxKeyLength \(8\); use a shorter kv key or raise maxKeyLength/,
    );
    await bad(s.set('a\ud800', 1), /lone UTF-16 surrogate/);
    await bad(s.keys(5 as unknown as string), /prefix must be a string/);
    await bad(s.send('', 1), /channel name must not be empty/);
    await bad(s.receive('123456789', 0), /channel name '123456789' is 9 characters/);
    for (const t of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number, undefined as unknown as number]) {
      await bad(s.receive('c', t), /timeoutMs must be a finite number of milliseconds >= 0/);
    }
    const fn = await bad(s.set('k', { user: { f: () => 1 } } as unknown as ScriptValue), /value\.user\.f is a function/);
    expect(fn.path).toBe('value.user.f');
    const cyc: Record<string, ScriptValue> = {};
    cyc.self = cyc;
    await bad(s.send('c', cyc), /message\.self refers back/);
    let deep: ScriptValue = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    await bad(s.set('k', deep), /nested deeper than limits\.maxValueDepth \(64\)/);
    await bad(s.set('k', new Date() as unknown as ScriptValue), /instance of Date/);
    expect(await s.keys()).toEqual([]);

    for (const limits of [{ maxValueBytes: 0 }, { maxKeyLength: 1.5 }, { maxBytes: 5 }] as StoreLimits[]) {
      expect(await rejection(open(limits))).toBeInstanceOf(InvalidInputError);
    }
  });

  it('quota attack: filling kv past maxKeys / maxKvBytes is refused with PermissionDeniedError; totals stay bounded', async () => {
    const s = await make({ maxKeys: 5, maxKvBytes: 100_000 });
    for (let i = 0; i < 5; i++) await s.set(`k${i}`, i);
    const full = await rejection(s.set('k5', 5));
    expect(full).toBeInstanceOf(PermissionDeniedError);
    expect((full as PermissionDeniedError).code).toBe('PERMISSION_DENIED');
    expect(full.message).toMatch(/is full: it holds 5 kv keys, its maxKeys \(5\); delete keys before storing 'k5', or raise maxKeys$/);
    expect(await s.keys()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    await s.set('k0', 'overwriting a key adds none'); // replacing is fine at the count limit
    expect(await s.delete('k1')).toBe(true);
    await s.set('k5', 5); // a delete makes room
    // Bytes: the attacker stores big values under fresh keys until refused.
    const b = await make({ maxKvBytes: 10_000 });
    let stored = 0;
    let error: Error | undefined;
    for (let i = 0; i < 50 && !error; i++) {
      try {
        await b.set(`blob${i}`, new Uint8Array(1000));
        stored++;
      } catch (e) {
        error = e as Error;
      }
    }
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error!.message).toMatch(
      /storing 'blob9' \(\d+ bytes\) would make kv \d+ bytes, over its maxKvBytes \(10000\); delete keys or raise maxKvBytes$/,
    );
    expect(stored).toBe(9); // 9 x (1003-byte value + 5-byte key) fit, the 10th does not
    expect((await b.keys()).length).toBe(9);
    // Growing an existing value counts its new size, not both; shrinking frees room.
    await b.set('blob0', new Uint8Array(10));
    await b.set('grown', new Uint8Array(900));
    expect(await rejection(b.set('grown', new Uint8Array(2000)))).toBeInstanceOf(PermissionDeniedError);
    expect(await b.get('grown')).toEqual(new Uint8Array(900));
  });

  it('quota attack: flooding channels past maxQueuedMessages / maxQueuedBytes is refused; receiving frees room', async () => {
    const s = await make({ maxQueuedMessages: 4, maxQueuedBytes: 100_000 });
    for (let i = 0; i < 4; i++) await s.send(i % 2 ? 'a' : 'b', i); // the quota is over all channels
    const full = await rejection(s.send('c', 4));
    expect(full).toBeInstanceOf(PermissionDeniedError);
    expect(full.message).toMatch(
      /is full: 4 messages wait in its channels, its maxQueuedMessages \(4\); receive some before sending to 'c', or raise maxQueuedMessages$/,
    );
    expect(await s.receive('c', 0)).toBeNull();
    expect(await s.receive('a', 0)).toEqual({ message: 1 });
    await s.send('c', 4);
    expect(await rejection(s.send('c', 5))).toBeInstanceOf(PermissionDeniedError);

    const b = await make({ maxQueuedBytes: 5_000 });
    let sent = 0;
    for (let i = 0; i < 20; i++) {
      try {
        await b.send('flood', new Uint8Array(1000));
        sent++;
      } catch (err) {
        expect(err).toBeInstanceOf(PermissionDeniedError);
        expect((err as Error).message).toMatch(
          /sending \d+ bytes to channel 'flood' would make \d+ bytes of waiting messages, over its maxQueuedBytes \(5000\); receive some first or raise maxQueuedBytes$/,
        );
        break;
      }
    }
    expect(sent).toBe(4);
    expect((await drain(b, 'flood')).length).toBe(4);
    await b.send('flood', new Uint8Array(1000)); // drained: room again
  });

  it('quota limits must be positive integers', async () => {
    for (const limits of [
      { maxKeys: 0 },
      { maxKvBytes: -1 },
      { maxQueuedMessages: 2.5 },
      { maxQueuedBytes: '1' },
    ] as unknown as StoreLimits[]) {
      const e = await rejection(open(limits));
      expect(e).toBeInstanceOf(InvalidInputError);
      expect(e.message).toMatch(/limit max\w+ must be a positive integer/);
    }
  });

  it('dead receiver: a receive whose signal aborted takes nothing, ever; the message waits for a live one', async () => {
    const s = await make();
    const gone = new AbortController();
    const waiting = s.receive('c', 10_000, { signal: gone.signal });
    await sleep(10);
    const t = Date.now();
    gone.abort();
    expect(await waiting).toBeNull();
    expect(Date.now() - t).toBeLessThan(1000);
    await s.send('c', 'for a live receiver');
    await sleep(20);
    expect(await s.receive('c', 1000)).toEqual({ message: 'for a live receiver' });

    // Already aborted: takes nothing, even a message that is waiting.
    await s.send('c', 'stays');
    expect(await s.receive('c', 0, { signal: gone.signal })).toBeNull();
    expect(await s.receive('c', 1000, { signal: gone.signal })).toBeNull();
    // Behind a dead waiter, the live one gets the message.
    const dead = new AbortController();
    expect(await s.receive('c', 0)).toEqual({ message: 'stays' });
    const first = s.receive('d', 10_000, { signal: dead.signal });
    const second = s.receive('d', 10_000, { signal: new AbortController().signal });
    await sleep(10);
    dead.abort();
    await s.send('d', 'one');
    expect(await first).toBeNull();
    expect(await second).toEqual({ message: 'one' });
    // Aborts and sends interleaved: no message is lost, none goes to a receiver already gone.
    const controllers = Array.from({ length: 20 }, () => new AbortController());
    const results = await (async () => {
      const pending = controllers.map((c) => s.receive('race', 10_000, { signal: c.signal }));
      await sleep(10);
      for (let i = 0; i < 20; i++) {
        controllers[i]!.abort();
        await s.send('race', i);
      }
      for (const c of controllers) c.abort();
      return Promise.all(pending);
    })();
    expect(results[0]).toBeNull(); // aborted before any send
    const received = results.filter((r) => r !== null).map((r) => r!.message as number);
    const all = [...received, ...((await drain(s, 'race')) as number[])].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await expect(s.receive('c', 0, { signal: 'no' } as unknown as { signal: AbortSignal })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('dispose: pending receives resolve null, later calls reject with DisposedError', async () => {
    const s = await make();
    await s.set('k', 1);
    const waiting = s.receive('c', 10_000);
    await sleep(10);
    const t = Date.now();
    await s.dispose();
    expect(await waiting).toBeNull();
    expect(Date.now() - t).toBeLessThan(1000);
    const calls: (() => Promise<unknown>)[] = [
      () => s.get('k'),
      () => s.set('k', 2),
      () => s.delete('k'),
      () => s.keys(),
      () => s.send('c', 1),
      () => s.receive('c', 0),
      () => s.receive('c', 100),
    ];
    for (const call of calls) {
      const e = await rejection(call());
      expect(e).toBeInstanceOf(DisposedError);
      expect((e as DisposedError).code).toBe('DISPOSED');
      expect(e.message).toMatch(name);
      expect(e.message).toMatch(/is closed; .*(open|create)/);
    }
    await s.dispose(); // disposing twice is harmless
    await s.close(); // and so is the deprecated alias after it
  });

  it('close (deprecated) is dispose: pending receives resolve null, later calls reject with DisposedError', async () => {
    const s = await make();
    const waiting = s.receive('c', 10_000);
    await sleep(10);
    await s.close();
    expect(await waiting).toBeNull();
    expect(await rejection(s.get('k'))).toBeInstanceOf(DisposedError);
    await s.close(); // closing twice is harmless
  });

  it('await using disposes the store when its block ends, with nothing left waiting', async () => {
    let escaped: BuiltinStore | undefined;
    let waiting: Promise<unknown> | undefined;
    {
      await using s = await make();
      escaped = s;
      waiting = s.receive('c', 10_000);
      await sleep(10);
    }
    expect(await waiting).toBeNull();
    expect(await rejection(escaped.keys())).toBeInstanceOf(DisposedError);
  });
}
