/**
 * RequestStop: a request's stop is made lazily (no Error, promise or AbortController for a
 * request whose script calls no host function), yet whatever asks for it sees the stop.
 */
import { describe, expect, it } from 'vitest';
import { RequestStop } from '../../src/engine/request-stop.js';

describe('RequestStop', () => {
  it('makes no error for a request that ends with nothing waiting', () => {
    const stop = new RequestStop();
    let made = 0;
    stop.end(() => {
      made++;
      return new Error('over');
    });
    expect(made).toBe(0);
  });

  it('rejects what waits on it, and aborts its signal, with the stop reason', async () => {
    const stop = new RequestStop();
    const waiting = stop.rejected;
    const signal = stop.signal;
    stop.stop(new Error('timed out'));
    await expect(waiting).rejects.toThrow('timed out');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('timed out');
  });

  it('the first stop wins, and end() after a stop changes nothing', async () => {
    const stop = new RequestStop();
    stop.stop(new Error('first'));
    stop.stop(new Error('second'));
    stop.end(() => new Error('over'));
    await expect(stop.rejected).rejects.toThrow('first');
    expect((stop.signal.reason as Error).message).toBe('first');
  });

  it('something that asks after the end sees the end reason', async () => {
    const stop = new RequestStop();
    stop.end(() => new Error('the call has ended'));
    expect(stop.signal.aborted).toBe(true);
    await expect(stop.rejected).rejects.toThrow('the call has ended');
  });

  it('a signal taken before the end is aborted by it', () => {
    const stop = new RequestStop();
    const signal = stop.signal;
    stop.end(() => new Error('the call has ended'));
    expect(signal.aborted).toBe(true);
  });
});
