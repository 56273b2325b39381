/**
 * The process placement: the core runs on the main thread of a child Node process that
 * runs under Node's permission model (src/node/process-host.ts starts it). Messages travel
 * over one pipe as length-prefixed msgpackr frames (src/channel/frames.ts).
 *
 * Everything the child sends is untrusted. Each frame is size-checked, decoded and
 * validated (parseFromProcess); a frame that is too big, not MessagePack, not a known
 * message, or not expected at that moment kills the child, and the request fails with
 * EngineCrashedError naming the problem. Stops go on a pipe of their own, which a thread of
 * the child applies to the core's interrupt word while the core runs; clears ride in order
 * with the requests, and each stop carries how many clears came before it (its epoch), so
 * a late stop never reaches the next request.
 *
 * No `node:` imports here (DESIGN §1): the spawner is injected.
 */
import { FrameReader, frames, stopRecord } from '../channel/frames.js';
import { maxSnapshotBytes, parseFromProcess, type FromProcess, type ToEngine, type ToHost, type ToProcess } from '../channel/protocol.js';
import type { InterruptReason } from '../channel/sab-channel.js';
import type { CoreInit } from '../core.js';
import { EngineCrashedError, UnavailableError } from '../errors.js';
import { decode, encode } from '../values.js';
import type { Answer, Connection, RequestHandlers } from './connection.js';
import { pumpRequest, type RequestTransport } from './request-pump.js';

/** A started child process, as the placement sees it. */
export interface ProcessPipe {
  /** Writes bytes to the child's message pipe (fd 3). */
  write(bytes: Uint8Array): void;
  /**
   * Writes a stop record to the child's stop pipe (fd 4), which the child reads even while
   * its core runs. Without one, stops ride the message pipe.
   */
  writeStop?(record: Uint8Array): void;
  /** A child started ahead of need (src/node/spare-child.ts) that restored this snapshot: the boot leaves it out. */
  readonly primed?: Uint8Array | undefined;
  /** Bytes from the child's message pipe, in order. */
  onData(cb: (chunk: Uint8Array) => void): void;
  /** Called once when the child ends for any reason other than kill(), after its last bytes were delivered. */
  onExit(cb: (error: Error) => void): void;
  /** The child is up: from now on nothing it prints may reach the host, not even in error messages. */
  booted(): void;
  /** Kills the child (SIGKILL) and resolves once it has exited. */
  kill(): Promise<void>;
}

/** How to start the engine's child process on this platform, for a core booting with `init`. */
export type ProcessSpawner = (init: CoreInit) => ProcessPipe | Promise<ProcessPipe>;

/** The part of the frame size limit that does not depend on the engine's limits. */
export const BASE_FRAME_BYTES = 64 * 1024 * 1024;

/** The largest frame the host accepts from a child: 64 MiB + limits.memoryBytes + 2 x limits.maxOutputBytes. */
export function maxFrameBytes(init: CoreInit): number {
  return BASE_FRAME_BYTES + init.limits.memoryBytes + 2 * init.limits.maxOutputBytes;
}

function clip(text: string, max = 500): string {
  const flat = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

const CLEAR: ToProcess = { t: 'clearInterrupt' };

export async function connectProcess(init: CoreInit, spawn: ProcessSpawner): Promise<Connection> {
  const pipe = await spawn(init);
  // Engines keep values within maxValueDepth; a little slack for the message around them.
  const maxDepth = init.limits.maxValueDepth + 8;
  const maxBytes = maxFrameBytes(init);
  /** Only `ready` may carry a snapshot, and only while booting. */
  let maxSnapshot = maxSnapshotBytes(init);
  let markDead!: (e: Error) => void;
  const died = new Promise<Error>((r) => (markDead = r));
  /** Set once the connection is over (crash, exit or kill); every later call fails with it. */
  let dead: EngineCrashedError | undefined;
  let killed = false;
  /** True while a boot or a request waits for messages: any other message is a forgery. */
  let expecting = false;
  let clearPending = false;
  /** Clears sent so far: the child counts them too, and drops a stop meant for an earlier request. */
  let epoch = 0;
  const inbox: ToHost[] = [];
  let wake: (() => void) | undefined;
  const rouse = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const fail = (err: EngineCrashedError, kill: boolean) => {
    if (dead) return;
    dead = err;
    reader.stop();
    // The connection already failed with `err`, which is what callers see; a kill that
    // fails too adds nothing to that (and kill only signals the child and waits for it).
    if (kill) void pipe.kill().catch(() => undefined);
    if (!killed) markDead(err);
    rouse();
  };

  const onFrame = (bytes: Uint8Array) => {
    let msg: FromProcess;
    try {
      msg = parseFromProcess(decode(bytes), maxDepth, maxSnapshot);
    } catch (e) {
      const err =
        e instanceof EngineCrashedError
          ? e
          : new EngineCrashedError(`the engine sent a frame of ${bytes.byteLength} bytes that is not valid MessagePack`);
      fail(err, true);
      return;
    }
    if (msg.t === 'fatal') {
      fail(new EngineCrashedError(`the engine's process stopped: ${clip(msg.message)}`), true);
      return;
    }
    if (!expecting) {
      fail(new EngineCrashedError(`the engine sent '${msg.t}' while no request was running`), true);
      return;
    }
    inbox.push(msg);
    rouse();
  };
  const reader = new FrameReader(maxBytes, onFrame, (n) =>
    fail(
      new EngineCrashedError(
        `the engine sent a ${n}-byte message, over the ${maxBytes}-byte limit (64 MiB + limits.memoryBytes + 2 x limits.maxOutputBytes); return smaller values`,
      ),
      true,
    ),
  );
  pipe.onData((chunk) => reader.push(chunk));
  pipe.onExit((e) => fail(new EngineCrashedError(`the engine's process died: ${e.message}`, { cause: e }), false));

  const send = (msg: ToProcess) => {
    if (dead) return;
    const payloads = [encode(msg)];
    if (clearPending) {
      clearPending = false;
      epoch++;
      payloads.unshift(encode(CLEAR));
    }
    pipe.write(frames(payloads));
  };

  const receive = async (): Promise<ToHost> => {
    for (;;) {
      const next = inbox.shift();
      if (next) return next;
      if (dead) throw dead;
      await new Promise<void>((r) => (wake = r));
    }
  };

  let first: ToHost;
  expecting = true;
  try {
    // A spare child restored this very snapshot ahead: not sent again.
    const sent = pipe.primed && pipe.primed === init.snapshot ? { ...init, snapshot: undefined } : init;
    if (sent !== init) delete sent.snapshot;
    send({ t: 'boot', init: sent });
    first = await receive();
  } catch (e) {
    killed = true;
    // The boot's own failure is the one to report, not a failed kill after it.
    await pipe.kill().catch(() => undefined);
    throw e;
  } finally {
    expecting = false;
  }
  if (first.t !== 'ready') {
    killed = true;
    // As above: the answer that was not `ready` is the failure to report.
    await pipe.kill().catch(() => undefined);
    if (first.t === 'failed') throw new UnavailableError(first.failure.message);
    throw new EngineCrashedError(`the engine's process answered '${first.t}' instead of 'ready'`);
  }
  pipe.booted();
  maxSnapshot = 0;

  const transport: RequestTransport = {
    send,
    receive,
    concurrentCalls: true,
    broken: (e) => {
      fail(e, true);
      return dead!;
    },
  };

  return {
    placement: 'process',
    canInterrupt: true,
    died,
    ...(first.boot ? { boot: first.boot } : {}),
    async request(msg: ToEngine, h: RequestHandlers): Promise<Answer> {
      if (dead) throw dead;
      expecting = true;
      try {
        return await pumpRequest(transport, msg, h, init.limits);
      } finally {
        expecting = false;
      }
    },
    interrupt(reason: InterruptReason) {
      if (dead) return;
      // A clear still waiting for the next frame comes first: the stop is for that request.
      if (pipe.writeStop) pipe.writeStop(stopRecord(reason, epoch + (clearPending ? 1 : 0)));
      // In band too: a host call the stop fails is answered on the message pipe, and the
      // child must see the stop before that answer (the stop pipe's thread may be later).
      send({ t: 'interrupt', reason });
    },
    clearInterrupt() {
      // Rides with the next frame: one write, and still ahead of the request it clears for.
      clearPending = true;
    },
    async kill() {
      killed = true;
      if (!dead) {
        dead = new EngineCrashedError('the engine process was stopped');
        reader.stop();
        rouse();
      }
      await pipe.kill();
    },
  };
}
