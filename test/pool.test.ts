/**
 * EnginePool (src/pool/engine-pool.ts) on real Lua engines: leases, the queue, reset and recycling,
 * idle timeout, health checks, crash injection (SIGKILL of an engine's child process) and
 * a soak of mixed runs with injected timeouts and crashes.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  createPool,
  DisposedError,
  EngineCrashedError,
  InvalidInputError,
  QueueFullError,
  type ScriptEngine,
} from '../src/index.js';
import { liveWorkerCount } from '../src/node/worker-host.js';

const SCRIPT = `
function echo(x) return x end
function spin() while true do end end
function nap(s) local t = os.clock() while os.clock() - t < s do end return 'rested' end
function stuck() return string.rep("a", 40000):find(".-.-.-.-.-.-b") end
function blow() local s = string.rep('x', 400 * 1024 * 1024) return #s end
function mark() local was = used used = true return was == true end
`;

/** Engine child processes of this test process (the process placement's `node` children). */
function enginePids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, comm]) => pid && comm === 'node')
    .map(([pid]) => Number(pid));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('createPool options', () => {
  it.each([
    [{ min: -1 }, /min must be an integer >= 0/],
    [{ min: 3, max: 2 }, /max \(2\) is below min \(3\)/],
    [{ min: 1e9, max: 1e9 }, /pool option max \(1000000000\) is over 1024 engines in one pool/],
    [{ min: 1e9 }, /pool option min \(1000000000\) is over 1024 engines in one pool/],
    [{ healthCheckMs: Infinity }, /pool option healthCheckMs \(Infinity\) is over 2147483647 ms/],
    [{ reset: 'sometimes' }, /reset must be 'fresh', 'reuse' or 'template'/],
    [{ recycleAfter: { runs: 3 } }, /recycleAfter.runs is unknown/],
    [{ idleTimeoutMs: 0 }, /idleTimeoutMs must be a positive number/],
    [{ signal: new AbortController().signal }, /takes no signal option/],
    [{ limits: { timeoutMs: -5 } }, /timeoutMs/],
    [{ colour: 'red' }, /colour/],
  ])('refuses %o', async (options, message) => {
    const err = await createPool('lua', options as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(message);
  });

  it('refuses a bad language and a bad init script with the error that explains it', async () => {
    await expect(createPool('ruby' as never)).rejects.toBeInstanceOf(InvalidInputError);
    await expect(createPool('lua', { init: 'this is not lua' })).rejects.toThrow(/SyntaxError/);
  });
});

describe('EnginePool', () => {
  it('runs callers on at most max engines, in arrival order, and refuses past maxQueue', async () => {
    await using pool = await createPool('lua', { min: 1, max: 2, maxQueue: 4, init: SCRIPT });
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    const runs = [0, 1, 2, 3, 4].map((i) =>
      pool.run(async (e) => {
        most = Math.max(most, ++inFlight);
        order.push(i);
        await e.call('nap', [0.2]);
        inFlight--;
        return i;
      }),
    );
    // One run has the idle engine; four wait (one of them for the engine now booting).
    expect(pool.stats().queued).toBe(4);
    await expect(pool.run((e) => e.call('echo', [1]))).rejects.toBeInstanceOf(QueueFullError);
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    const s = pool.stats();
    expect(s).toMatchObject({ engines: 2, busy: 0, queued: 0, runs: 5, failedRuns: 0 });
    expect(s.waitMs.count).toBe(5);
    expect(s.runMs.count).toBe(5);
    expect(s.runMs.p95).toBeGreaterThan(0);
  });

  it('checks leases, and gives up waiting when the signal aborts', async () => {
    await using pool = await createPool('lua', { min: 1, max: 1, init: SCRIPT });
    const e = await pool.acquire();
    const ac = new AbortController();
    const waiting = pool.acquire({ signal: ac.signal });
    await until('a waiter', () => pool.stats().queued === 1);
    ac.abort('no longer needed');
    const err = await waiting.catch((x: unknown) => x);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).reason).toBe('no longer needed');
    expect(pool.stats().queued).toBe(0);
    await pool.release(e);
    await expect(pool.release(e)).rejects.toBeInstanceOf(InvalidInputError);
    await expect(pool.release({ id: 'stranger' } as ScriptEngine)).rejects.toThrow(/not leased from this pool/);
    await expect(pool.run('nope' as never)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("reuse keeps an engine's state; fresh hands out engines no one has used", async () => {
    await using reuse = await createPool('lua', { min: 1, max: 1, init: SCRIPT });
    expect(await reuse.run((e) => e.call('mark'))).toBe(false);
    expect(await reuse.run((e) => e.call('mark'))).toBe(true);
    await using fresh = await createPool('lua', { min: 1, max: 1, reset: 'fresh', init: SCRIPT });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      expect(await fresh.run((e) => (ids.add(e.id), e.call('mark')))).toBe(false);
    }
    expect(ids.size).toBe(3);
    expect(fresh.stats().retired).toBe(3);
  });

  it('recycles after recycleAfter.execs, and lets idle engines above min go', async () => {
    await using pool = await createPool('lua', { min: 1, max: 3, recycleAfter: { execs: 2 }, idleTimeoutMs: 100, init: SCRIPT });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) await pool.run((e) => void ids.push(e.id));
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[1]);
    expect(ids[2]).toBe(ids[3]);
    const held = await Promise.all([1, 2, 3].map(() => pool.acquire()));
    expect(pool.stats().engines).toBe(3);
    await Promise.all(held.map((e) => pool.release(e)));
    await until('idle engines to go', () => pool.stats().engines === 1);
  });

  it('dispose({ drain: true }) finishes queued work; dispose() refuses it', async () => {
    const pool = await createPool('lua', { min: 1, max: 1, init: SCRIPT });
    const queued = [1, 2, 3].map((i) => pool.run((e) => e.call('echo', [i])));
    await pool.dispose({ drain: true });
    expect(await Promise.all(queued)).toEqual([1, 2, 3]);
    await expect(pool.run((e) => e.call('echo', [4]))).rejects.toBeInstanceOf(DisposedError);
    const before = liveWorkerCount();
    const closing = await createPool('lua', { min: 1, max: 1, init: SCRIPT });
    const busy = closing.run((e) => e.call('spin')).catch((e: unknown) => e);
    const waiting = closing.run((e) => e.call('echo', [1])).catch((e: unknown) => e);
    await sleep(50);
    await closing.dispose();
    expect(await waiting).toBeInstanceOf(DisposedError);
    expect(await busy).toBeInstanceOf(DisposedError); // at once, not after its timeout
    expect(liveWorkerCount()).toBe(before);
  });

  it('drain() and close(), the deprecated verbs, still drain and dispose: nothing is left alive', async () => {
    const before = liveWorkerCount();
    const draining = await createPool('lua', { min: 1, max: 1, init: SCRIPT });
    const queued = [1, 2].map((i) => draining.run((e) => e.call('echo', [i])));
    await draining.drain();
    expect(await Promise.all(queued)).toEqual([1, 2]);
    expect(draining.stats()).toMatchObject({ engines: 0, starting: 0 });
    const closing = await createPool('lua', { min: 2, max: 2, init: SCRIPT });
    const waiting = closing.run((e) => e.call('nap', [0.2])).catch((e: unknown) => e);
    await closing.close();
    expect(await waiting).toBeInstanceOf(DisposedError);
    expect(closing.stats()).toMatchObject({ engines: 0, starting: 0 });
    await closing.close(); // twice is harmless
    expect(liveWorkerCount()).toBe(before);
  });

  it('await using disposes the pool when its block ends: nothing is left alive', async () => {
    const before = liveWorkerCount();
    let escaped: Awaited<ReturnType<typeof createPool>> | undefined;
    {
      await using pool = await createPool('lua', { min: 2, max: 2, init: SCRIPT });
      escaped = pool;
      expect(await pool.run((e) => e.call('echo', [7]))).toBe(7);
    }
    expect(escaped.stats()).toMatchObject({ engines: 0, starting: 0, idle: 0 });
    await expect(escaped.acquire()).rejects.toBeInstanceOf(DisposedError);
    expect(liveWorkerCount()).toBe(before);
  });

  it('dispose waits for an engine that was still booting (a fresh refill): nothing outlives it', async () => {
    const before = liveWorkerCount();
    const pool = await createPool('lua', { min: 1, max: 1, reset: 'fresh' });
    await pool.run((e) => e.exec('return 1'));
    // The release retired the used engine and started its replacement, which is booting now.
    expect(pool.stats().starting).toBe(1);
    await pool.dispose();
    expect(liveWorkerCount()).toBe(before);
    expect(pool.stats()).toMatchObject({ engines: 0, starting: 0 });
  });
});

describe('EnginePool of Python engines', () => {
  it("hands out never-used engines with reset 'fresh', refilled from the memory snapshot", async () => {
    await using pool = await createPool('python', { min: 1, max: 2, reset: 'fresh', init: 'def double(x):\n    return x * 2\n' });
    const ids = new Set<string>();
    const values = await Promise.all([1, 2, 3].map((i) => pool.run((e) => (ids.add(e.id), e.call('double', [i])))));
    expect(values).toEqual([2, 4, 6]);
    expect(ids.size).toBe(3);
    await until('the refill', () => pool.stats().engines >= 1 && pool.stats().starting === 0);
  }, 60_000);
});

describe('EnginePool supervision (process placement)', () => {
  it('a call whose engine process is killed fails with EngineCrashedError; the queue runs on a healed engine', async () => {
    await using pool = await createPool('lua', { placement: 'process', min: 1, max: 1, init: SCRIPT });
    const pids = enginePids();
    expect(pids).toHaveLength(1);
    const dying = pool.run((e) => e.call('spin'));
    const next = pool.run((e) => e.call('echo', ['after']));
    await sleep(100);
    process.kill(pids[0]!, 'SIGKILL');
    await expect(dying).rejects.toBeInstanceOf(EngineCrashedError);
    expect(await next).toBe('after');
    expect(pool.stats().crashes).toBe(1);
    await until('one engine process again', () => enginePids().length === 1);
    expect(enginePids()[0]).not.toBe(pids[0]);
  });

  it('replaces an idle engine that fails its health check', async () => {
    await using pool = await createPool('lua', { placement: 'process', min: 1, max: 1, healthCheckMs: 100, init: SCRIPT });
    const [pid] = enginePids();
    process.kill(pid!, 'SIGKILL');
    await until('a replacement', () => pool.stats().crashes === 1 && pool.stats().engines === 1);
    expect(await pool.run((e) => e.call('echo', [7]))).toBe(7);
    expect(pool.stats().healthChecks).toBeGreaterThan(0);
    // The killed process may still be listed for a moment after its replacement answers.
    await until('one engine process', () => enginePids().length === 1);
    expect(enginePids()).not.toContain(pid);
  });

  it('soak: 500 mixed runs with injected timeouts and crashes are each answered once, and the pool ends at its size', async () => {
    const size = 2;
    const pool = await createPool('lua', {
      placement: 'process',
      min: size,
      max: size,
      maxQueue: 1000,
      limits: { timeoutMs: 2000, graceMs: 200 },
      init: SCRIPT,
    });
    const answers = new Map<number, string>();
    const answer = (i: number, what: string) => {
      if (answers.has(i)) throw new Error(`run ${i} answered twice`);
      answers.set(i, what);
    };
    let kills = 0;
    const runs = Array.from({ length: 500 }, (_, i) => {
      const kind = i % 50 === 7 ? 'timeout' : i % 50 === 21 ? 'stuck' : i % 50 === 33 ? 'memory' : 'echo';
      return pool
        .run(async (e) => {
          if (i % 100 === 50) {
            // crash: kill an engine process while this run holds an engine
            const pids = enginePids();
            if (pids.length) {
              process.kill(pids[i % pids.length]!, 'SIGKILL');
              kills++;
            }
          }
          if (kind === 'timeout') return (await e.exec('spin()', { timeoutMs: 50 })).timedOut ? 'timed out' : 'ran';
          if (kind === 'stuck') return (await e.exec('stuck()', { timeoutMs: 50 })).timedOut ? 'timed out' : 'ran';
          if (kind === 'memory') return (await e.exec('blow()')).error?.type ?? 'ran';
          return (await e.call('echo', [i])) === i ? 'ok' : 'wrong';
        })
        .then(
          (v) => answer(i, v),
          (err: Error) => answer(i, err.name),
        );
    });
    await Promise.all(runs);
    expect(answers.size).toBe(500);
    const tally: Record<string, number> = {};
    for (const v of answers.values()) tally[v] = (tally[v] ?? 0) + 1;
    expect(tally.wrong).toBeUndefined();
    // A kill can land on the other engine mid-run, so an injected case may end as a crash instead.
    expect(tally.ok).toBeGreaterThanOrEqual(460);
    expect(tally['timed out']).toBeGreaterThanOrEqual(15);
    expect(tally.MemoryLimitError).toBeGreaterThanOrEqual(5);
    expect(kills).toBe(5);
    const s = pool.stats();
    expect(s).toMatchObject({ runs: 500, engines: size, queued: 0, busy: 0 });
    expect(s.crashes).toBeGreaterThanOrEqual(5);
    await until('the pool size in processes', () => enginePids().length === size);
    console.info(
      `soak: ${JSON.stringify(tally)}; crashes ${s.crashes}; wait p50/p95 ${s.waitMs.p50}/${s.waitMs.p95} ms; run p50/p95 ${s.runMs.p50}/${s.runMs.p95} ms`,
    );
    await pool.dispose();
    expect(enginePids()).toHaveLength(0);
  }, 120_000);
});
