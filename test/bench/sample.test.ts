/**
 * src/bench/sample.ts: the statistics every row carries (median, mean, p95, p99) and the
 * sequential loop's per-call mean. Values are supplied, never timed.
 */
import { describe, expect, it, vi } from 'vitest';
import { percentile, sample, sequential } from '../../src/bench/sample.js';

describe('percentile', () => {
  it('is the nearest-rank quantile of ascending samples', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 0.5)).toBe(50);
    expect(percentile(hundred, 0.95)).toBe(95);
    expect(percentile(hundred, 0.99)).toBe(99);
    expect(percentile(hundred, 1)).toBe(100);
    // Few samples: the tail is the largest.
    expect(percentile([1, 2, 3], 0.99)).toBe(3);
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([], 0.99)).toBeUndefined();
  });
});

describe('sample', () => {
  it('reports mean and p99 beside median and p95, from the values the case returns', async () => {
    // 1..100 once each, in a shuffled order: the statistics are of the values, not the order.
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    let i = 0;
    const s = await sample('values', async () => values[i++ % values.length]!, {
      iterations: 100,
      time: 0,
      warmupIterations: 0,
      warmupTime: 0,
      warmup: false,
    });
    expect(s.samples).toBe(100);
    expect(s.mean).toBeCloseTo(50.5, 10);
    expect(s.median).toBeCloseTo(50.5, 10);
    expect(s.p95).toBe(95);
    expect(s.p99).toBe(99);
  });

  it('a heavy tail moves the mean and p99, not the median', async () => {
    let i = 0;
    // 97 calls of 1 and three of 1000.
    const s = await sample('tail', async () => (i++ % 100 < 97 ? 1 : 1000), {
      iterations: 100,
      time: 0,
      warmupIterations: 0,
      warmupTime: 0,
      warmup: false,
    });
    expect(s.median).toBe(1);
    expect(s.p95).toBe(1);
    expect(s.p99).toBe(1000);
    expect(s.mean).toBeCloseTo((97 + 3000) / 100, 10);
  });
});

describe('sequential', () => {
  it('times rounds of awaited calls as wholes: per-call means, all calls counted', async () => {
    let calls = 0;
    const s = await sequential(
      async () => {
        calls++;
      },
      40,
      5,
    );
    // A warm-up of a quarter round, then 5 rounds of 40.
    expect(calls).toBe(10 + 200);
    expect(s.samples).toBe(200);
    for (const v of [s.median, s.mean, s.p95, s.p99]) expect(v >= 0 && Number.isFinite(v)).toBe(true);
    expect(s.p99).toBeGreaterThanOrEqual(s.median);
    expect(s.p95).toBe(s.p99);
  });

  it('the mean is total time over all calls; the median and tails are over rounds', async () => {
    // A fake clock: each call takes 3 ms, except every call of the third round takes 9 ms.
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      let n = 0;
      const s = await sequential(
        async () => {
          const round = Math.floor((n++ - 1) / 5); // call 0 is the warm-up
          now += round === 2 ? 9 : 3;
        },
        5,
        4,
      );
      expect(s.samples).toBe(20);
      expect(s.mean).toBeCloseTo((15 * 3 + 5 * 9) / 20, 10);
      expect(s.median).toBe(3);
      expect(s.p99).toBe(9);
    } finally {
      clock.mockRestore();
    }
  });
});
