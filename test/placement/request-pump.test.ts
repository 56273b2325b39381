/**
 * The one request pump (src/placement/request-pump.ts) that the worker and process
 * placements share, over a scripted transport: the core's side of the conversation is a
 * list of messages, the host's side is what the pump sends back.
 */
import { describe, expect, it } from 'vitest';
import type { ToEngine, ToHost } from '../../src/channel/protocol.js';
import { EngineCrashedError } from '../../src/errors.js';
import type { RequestHandlers } from '../../src/placement/connection.js';
import { pumpRequest, type RequestTransport } from '../../src/placement/request-pump.js';

const OUT = { stdout: '', stderr: '', truncated: false };
const DONE: ToHost = { t: 'done', value: 1, defined: true, out: OUT };
const LIMITS = { maxValueDepth: 16, maxOutputBytes: 10 };

/** A core that says `script` in order, one message per receive, each after the previous sends settled. */
function scripted(script: ToHost[], extra: Partial<RequestTransport> = {}) {
  const sent: ToEngine[] = [];
  const transport: RequestTransport = {
    send: (m) => void sent.push(m),
    receive: async () => {
      // Lets concurrent host calls finish before the core speaks again, as a real one would wait.
      await new Promise((r) => setTimeout(r, 5));
      const next = script.shift();
      if (!next) throw new Error('the script ran out');
      return next;
    },
    concurrentCalls: false,
    broken: (e) => e,
    ...extra,
  };
  return { transport, sent };
}

function handlers(over: Partial<RequestHandlers> = {}): RequestHandlers {
  return { hostCall: async (_name, args) => args[0] ?? null, hostCallSync: () => null, output: () => {}, ...over };
}

const exec: ToEngine = { t: 'exec', code: 'x', timeoutMs: 1000, stream: true };

describe('the request pump', () => {
  it('sends the request, serves blocking host calls in order, and returns the answer', async () => {
    const { transport, sent } = scripted([{ t: 'hostCall', name: 'echo', args: [7] }, { t: 'hostCall', name: 'echo', args: [8] }, DONE]);
    expect(await pumpRequest(transport, exec, handlers(), LIMITS)).toBe(DONE);
    expect(sent).toEqual([exec, { t: 'hostReturn', ok: true, value: 7 }, { t: 'hostReturn', ok: true, value: 8 }]);
  });

  it('a host function that fails answers plain data the script can see', async () => {
    const { transport, sent } = scripted([{ t: 'hostCall', name: 'boom', args: [] }, DONE]);
    await pumpRequest(transport, exec, handlers({ hostCall: () => Promise.reject(new TypeError('no')) }), LIMITS);
    expect(sent[1]).toEqual({ t: 'hostReturn', ok: false, error: { type: 'TypeError', message: 'no' } });
  });

  it('host calls with ids run side by side and answer with their ids, where the transport relays them', async () => {
    const order: string[] = [];
    const slow = (name: string, ms: number) => new Promise((r) => setTimeout(() => (order.push(name), r(name)), ms));
    const h = handlers({ hostCall: (name) => slow(name, name === 'a' ? 40 : 1) as never });
    const { transport, sent } = scripted(
      [
        { t: 'hostCall', name: 'a', args: [], id: 1 },
        { t: 'hostCall', name: 'b', args: [], id: 2 },
        { t: 'output', stream: 'stdout', text: '' },
        { t: 'output', stream: 'stdout', text: '' },
        DONE,
      ],
      { concurrentCalls: true },
    );
    await pumpRequest(transport, exec, h, LIMITS);
    await new Promise((r) => setTimeout(r, 60));
    expect(order).toEqual(['b', 'a']);
    expect(sent.slice(1)).toEqual([
      { t: 'hostReturn', ok: true, value: 'b', id: 2 },
      { t: 'hostReturn', ok: true, value: 'a', id: 1 },
    ]);
  });

  it('without relaying, a host call with an id is answered in line, without the id', async () => {
    const { transport, sent } = scripted([{ t: 'hostCall', name: 'echo', args: [3], id: 9 }, DONE]);
    await pumpRequest(transport, exec, handlers(), LIMITS);
    expect(sent[1]).toEqual({ t: 'hostReturn', ok: true, value: 3 });
  });

  it('host.aio: started calls are handed over at the next wait, through the transport hook when it has one', async () => {
    const plain = scripted([{ t: 'hostStart', id: 4, name: 'echo', args: ['x'] }, { t: 'hostWait', timeoutMs: 1000 }, DONE]);
    await pumpRequest(plain.transport, exec, handlers(), LIMITS);
    expect(plain.sent[1]).toEqual({ t: 'hostResults', results: [{ id: 4, ok: true, value: 'x' }] });
    const hooked = scripted([{ t: 'hostWait', timeoutMs: 1000 }, DONE], {
      hostWait: async (aio, ms) => ({ ...(await aio.wait(Math.min(ms, 1))), stop: 2 as never }),
    });
    await pumpRequest(hooked.transport, exec, handlers(), LIMITS);
    expect(hooked.sent[1]).toEqual({ t: 'hostResults', results: [], stop: 2 });
  });

  it('holds the core to maxOutputBytes, streamed and captured', async () => {
    const long = 'y'.repeat(30);
    const { transport } = scripted([
      { t: 'output', stream: 'stdout', text: long },
      { t: 'output', stream: 'stderr', text: long },
      { t: 'failed', failure: { kind: 'script', type: 'E', message: 'm' }, out: { stdout: long, stderr: long, truncated: false } },
    ]);
    let streamed = '';
    const a = await pumpRequest(transport, exec, handlers({ output: (_s, t) => (streamed += t) }), LIMITS);
    expect(streamed).toBe('y'.repeat(10));
    expect(a).toMatchObject({ t: 'failed', out: { stdout: 'y'.repeat(10), stderr: '', truncated: true } });
  });

  it('a second ready is the transport breaking: the request fails with what the transport says', async () => {
    const own = new EngineCrashedError('the pipe is closed');
    let seen: Error | undefined;
    const { transport } = scripted([{ t: 'ready' }], { broken: (e) => ((seen = e), own) });
    await expect(pumpRequest(transport, exec, handlers(), LIMITS)).rejects.toBe(own);
    expect(seen?.message).toMatch(/restarted unexpectedly/);
  });

  it('a transport that fails rejects the request with its error', async () => {
    const gone = new EngineCrashedError('gone');
    const { transport } = scripted([], { receive: () => Promise.reject(gone) });
    await expect(pumpRequest(transport, exec, handlers(), LIMITS)).rejects.toBe(gone);
  });
});
