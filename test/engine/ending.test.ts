/**
 * Ending: what short waits race against (an engine disposed, a worker gone). It must settle
 * every race in progress when it ends, and keep nothing of a race that is over: racing a
 * long-lived promise with Promise.race kept about 1 KB per call alive (issue 20).
 */
import { describe, expect, it } from 'vitest';
import { Ending, endingOf } from '../../src/ending.js';

describe('Ending', () => {
  it('a race settles as its promise does while the ending has not come', async () => {
    const e = new Ending<string>();
    await expect(e.race(Promise.resolve(1), () => 'ended')).resolves.toBe(1);
    await expect(e.race(Promise.reject(new Error('no')), () => 'ended')).rejects.toThrow('no');
  });

  it('ends every race in progress, and later ones at once; the first end wins', async () => {
    const e = new Ending<string>();
    const waiting = e.race(new Promise(() => {}), (v) => `ended: ${v}`);
    e.end('disposed');
    e.end('again');
    await expect(waiting).resolves.toBe('ended: disposed');
    await expect(e.race(new Promise(() => {}), (v) => v)).resolves.toBe('disposed');
    expect(e.ended).toEqual({ value: 'disposed' });
  });

  it('onEnd may throw: the race rejects with it', async () => {
    const e = new Ending<Error>();
    const waiting = e.race(new Promise(() => {}), (err) => {
      throw err;
    });
    e.end(new Error('the worker died'));
    await expect(waiting).rejects.toThrow('the worker died');
  });

  it('keeps nothing of races that are over', async () => {
    const e = new Ending<string>();
    for (let i = 0; i < 1000; i++) await e.race(Promise.resolve(i), () => 'ended');
    expect((e as unknown as { waiting: Set<unknown> }).waiting.size).toBe(0);
  });

  it('endingOf gives one Ending per promise, ended when it fulfils', async () => {
    let resolve!: (v: number) => void;
    const p = new Promise<number>((r) => (resolve = r));
    expect(endingOf(p)).toBe(endingOf(p));
    const waiting = endingOf(p).race(new Promise(() => {}), (v) => v * 2);
    resolve(21);
    await expect(waiting).resolves.toBe(42);
  });
});
