import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, PermissionDeniedError, UnavailableError } from '../../src/errors.js';
import { RedisStore } from '../../src/state/redis.js';
import type { StoreLimits } from '../../src/state/store.js';
import { storeContract, type OpenStore } from '../state/contract.js';
import { startRedis, type RedisServer } from '../../src/node/redis-server.js';

let redis: RedisServer;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const open: OpenStore = (limits?: StoreLimits) => RedisStore.open(redis.url, { prefix: `contract${n++}`, ...(limits ? { limits } : {}) });

describe('RedisStore: the StateStore contract', () => {
  storeContract(open, /^RedisStore 'contract\d+' is closed/);
});

describe('RedisStore across connections (machines)', () => {
  it('a send on one connection wakes a receive waiting on another within a few milliseconds', async () => {
    await using a = await RedisStore.open(redis.url, { prefix: 'shared' });
    await using b = await RedisStore.open(redis.url, { prefix: 'shared' });
    const waits: number[] = [];
    for (let i = 0; i < 20; i++) {
      const waiting = b.receive('wake', 5000);
      await new Promise((r) => setTimeout(r, 5));
      const t = performance.now();
      await a.send('wake', i);
      expect(await waiting).toEqual({ message: i });
      waits.push(performance.now() - t);
    }
    // Not a speed assertion: a wake-up that relied on a timeout (5 s) would show here.
    expect(Math.max(...waits)).toBeLessThan(1000);
    await a.set('k', { from: 'a' });
    expect(await b.get('k')).toEqual({ from: 'a' });
  });

  it('each message is received exactly once by receivers on several connections', async () => {
    const stores = await Promise.all(Array.from({ length: 3 }, () => RedisStore.open(redis.url, { prefix: 'once' })));
    try {
      const got: number[] = [];
      const receivers = stores.flatMap((s) =>
        Array.from({ length: 4 }, async () => {
          for (let r = await s.receive('jobs', 300); r !== null; r = await s.receive('jobs', 300)) got.push(r.message as number);
        }),
      );
      for (let i = 0; i < 200; i++) await stores[i % 3]!.send('jobs', i);
      await Promise.all(receivers);
      expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      for (const s of stores) await s.dispose();
    }
  });

  it('quotas are shared: a second connection cannot go over what the first filled', async () => {
    await using a = await RedisStore.open(redis.url, { prefix: 'quota', limits: { maxKeys: 3 } });
    await using b = await RedisStore.open(redis.url, { prefix: 'quota', limits: { maxKeys: 3 } });
    await a.set('k1', 1);
    await a.set('k2', 2);
    await b.set('k3', 3);
    await expect(b.set('k4', 4)).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(a.set('k4', 4)).rejects.toThrow(/RedisStore 'quota' is full: it holds 3 kv keys, its maxKeys \(3\)/);
    await b.set('k3', 'replacing is fine');
    expect(await a.delete('k1')).toBe(true);
    await b.set('k4', 4);
    expect(await a.keys('k')).toEqual(['k2', 'k3', 'k4']);
  });

  it('survives a Redis restart: calls during the outage fail with UnavailableError, later ones work', async () => {
    await using s = await RedisStore.open(redis.url, { prefix: 'restart' });
    await s.set('before', 1);
    await redis.restart();
    let worked = false;
    for (let i = 0; i < 100 && !worked; i++) {
      try {
        await s.set('after', 2);
        worked = true;
      } catch (e) {
        expect(e).toBeInstanceOf(UnavailableError);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(worked).toBe(true);
    expect(await s.get('after')).toBe(2);
    // A receive waiting across reconnects is woken by a send made afterwards.
    const waiting = s.receive('c', 5000);
    await using t = await RedisStore.open(redis.url, { prefix: 'restart' });
    await t.send('c', 'hi');
    expect(await waiting).toEqual({ message: 'hi' });
  });

  it('bad options and unreachable servers are typed errors naming the fix', async () => {
    await expect(RedisStore.open('http://x')).rejects.toThrow(/not a Redis URL; use redis:\/\/host:port/);
    await expect(RedisStore.open(redis.url, { prefix: '' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(RedisStore.open(redis.url, { prefix: 'a{b}' })).rejects.toThrow(/without braces/);
    await expect(RedisStore.open(redis.url, { nope: 1 } as never)).rejects.toThrow(
      /has no option 'nope'; known options: prefix, limits, connectTimeoutMs/,
    );
    const closed = `redis://127.0.0.1:${redis.port === 1 ? 2 : 1}`;
    const e = await RedisStore.open(closed, { connectTimeoutMs: 300 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toMatch(/could not reach Redis at redis:\/\/127\.0\.0\.1:1 within 300 ms.*check that redis-server runs/);
  });
});
