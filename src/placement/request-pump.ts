/**
 * The host side of one request to a core on the far side of a channel (a worker thread, a
 * Web Worker, a child process): sends the request, then serves what the core asks for
 * meanwhile (host calls, host.aio starts and waits, output) until its answer arrives. The
 * worker and process placements both run requests through it and differ only in their
 * {@link RequestTransport}.
 *
 * The far side is untrusted: the transport validates every message before the pump sees
 * it, and the pump holds the core to `maxOutputBytes`, streamed and captured.
 */
import type { CapturedOutput, ToEngine, ToHost } from '../channel/protocol.js';
import { EngineCrashedError } from '../errors.js';
import { AsyncHostCalls, serveHostCall, type Answer, type RequestHandlers } from './connection.js';

/** The answer to a `hostWait`. */
export type HostResults = Extract<ToEngine, { t: 'hostResults' }>;

/** How one placement talks to its core during a request. */
export interface RequestTransport {
  /** Sends one message to the core. */
  send(msg: ToEngine): void | Promise<void>;
  /** The core's next message, already validated (at once when it is there); rejects once the far side is gone. */
  receive(): ToHost | Promise<ToHost>;
  /**
   * Host calls that carry an id run side by side and their answers carry the id back (the
   * process child relays its worker's host.aio calls that way). Without it, every host
   * call is answered before the next message is read.
   */
  readonly concurrentCalls: boolean;
  /**
   * Answers a `hostWait` (default: what `aio` has finished within `timeoutMs`). Over
   * postMessage the worker placement uses it to hand a stop to a waiting core.
   */
  hostWait?(aio: AsyncHostCalls, timeoutMs: number): Promise<HostResults>;
  /**
   * The core broke the protocol mid-request (a second `ready`): the transport gives up on
   * the core (or leaves that to the engine) and returns the error the request fails with.
   */
  broken(error: EngineCrashedError): Error;
}

/** The limits the pump holds a core to. */
export interface PumpLimits {
  maxValueDepth: number;
  maxOutputBytes: number;
}

/** Output as the core must report it: at most `max` units in all, else cut and marked. */
function capOutput(out: CapturedOutput, max: number): CapturedOutput {
  const rich = out.outputs?.reduce((n, o) => n + o.data.length, 0) ?? 0;
  if (out.stdout.length + out.stderr.length + rich <= max) return out;
  const stdout = out.stdout.slice(0, max);
  const stderr = out.stderr.slice(0, max - stdout.length);
  // Rich outputs count too (src/lang/output.ts): those that do not fit are dropped whole.
  let room = max - stdout.length - stderr.length;
  const outputs = out.outputs?.filter((o) => o.data.length <= room && (room -= o.data.length) >= 0);
  return { stdout, stderr, truncated: true, ...(outputs?.length ? { outputs } : {}) };
}

/** Sends `msg` and serves the core until it answers. Rejects when the transport does, or the core breaks the protocol. */
export async function pumpRequest(transport: RequestTransport, msg: ToEngine, h: RequestHandlers, limits: PumpLimits): Promise<Answer> {
  const { maxValueDepth, maxOutputBytes } = limits;
  const sent = transport.send(msg);
  if (sent) await sent;
  const aio = new AsyncHostCalls(h, maxValueDepth);
  let streamed = 0;
  for (;;) {
    // Awaited only when it is a promise: a reply that is already there costs no microtask.
    const got = transport.receive();
    const reply = got instanceof Promise ? await got : got;
    switch (reply.t) {
      case 'hostCall': {
        const id = reply.id;
        if (id !== undefined && transport.concurrentCalls) {
          void Promise.resolve(serveHostCall(h, reply.name, reply.args, maxValueDepth))
            .then((ret) => transport.send({ ...ret, id } as ToEngine))
            // A send fails only once the transport is over, and the request's own receive reports that.
            .catch(() => undefined);
        } else {
          const ret = serveHostCall(h, reply.name, reply.args, maxValueDepth);
          const s = transport.send(ret instanceof Promise ? await ret : ret);
          if (s) await s;
        }
        break;
      }
      case 'hostStart':
        aio.start(reply.id, reply.name, reply.args);
        break;
      case 'hostWait':
        await transport.send(await (transport.hostWait ? transport.hostWait(aio, reply.timeoutMs) : aio.wait(reply.timeoutMs)));
        break;
      case 'output': {
        // The core cuts output at maxOutputBytes; the host holds a lying core to it too.
        const room = maxOutputBytes - streamed;
        if (room <= 0) break;
        const text = reply.text.length > room ? reply.text.slice(0, room) : reply.text;
        streamed += text.length;
        h.output(reply.stream, text);
        break;
      }
      case 'ready':
        throw transport.broken(new EngineCrashedError('the engine restarted unexpectedly'));
      case 'stats':
        return reply;
      default: {
        const out = capOutput(reply.out, maxOutputBytes);
        return out === reply.out ? reply : { ...reply, out };
      }
    }
  }
}
