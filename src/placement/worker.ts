/**
 * The worker placement: the core runs in a worker thread (Node) or a module Web Worker
 * (browser). Requests go over the SharedArrayBuffer channel when the platform has one,
 * else over postMessage.
 */
import type { Endpoint } from '../channel/endpoint.js';
import { decodeMessage, maxSnapshotBytes, parseToHost, type ToEngine } from '../channel/protocol.js';
import { HostChannel, InterruptReason, createChannelLayout } from '../channel/sab-channel.js';
import type { CoreInit } from '../core.js';
import { EngineCrashedError, UnavailableError } from '../errors.js';
import { encode } from '../values.js';
import { AsyncHostCalls, serveHostCall, type Answer, type Connection, type RequestHandlers } from './connection.js';

/** How to start a worker on this platform, for a core booting with `init`. */
export type WorkerSpawner = (init: CoreInit) => Endpoint | Promise<Endpoint>;

/** True when this realm can share memory with a worker. */
export function sharedMemoryAvailable(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics.waitAsync !== 'function') return false;
  return g.crossOriginIsolated !== false;
}

interface Transport {
  send(bytes: Uint8Array): Promise<void>;
  receive(): Promise<unknown>;
}

function messageTransport(ep: Endpoint, dead: Promise<never>): Transport {
  // Whatever the worker posted: decodeMessage checks it is bytes.
  const inbox: unknown[] = [];
  let wake: (() => void) | undefined;
  ep.onMessage((m) => {
    inbox.push(m);
    wake?.();
  });
  return {
    async send(bytes) {
      ep.post(bytes, [bytes.buffer as ArrayBuffer]);
    },
    async receive() {
      while (inbox.length === 0) await Promise.race([new Promise<void>((r) => (wake = r)), dead]);
      return inbox.shift();
    },
  };
}

export interface WorkerOptions {
  sharedMemory: boolean;
  /** pyodide.asm.wasm compiled once in this process, handed to the worker instead of its own compile. */
  pyodideModule?: Promise<WebAssembly.Module | undefined> | undefined;
  /**
   * The caller will not use `init.snapshot` again: move it to the worker instead of copying
   * it (the process placement's child, whose copy arrived over the pipe).
   */
  handOverSnapshot?: boolean;
}

/** The snapshot as one whole, aligned buffer the worker can take over, and the transfer list for it. */
function handOver(init: CoreInit): [CoreInit, Transferable[]] {
  const s = init.snapshot;
  if (!s || !(s.buffer instanceof ArrayBuffer)) return [init, []];
  const whole = s.byteOffset === 0 && s.byteLength === s.buffer.byteLength ? s : s.slice();
  return [{ ...init, snapshot: whole }, [whole.buffer as ArrayBuffer]];
}

/** Starts a worker, boots a core in it, and resolves once the core is ready. */
export async function connectWorker(init: CoreInit, spawn: WorkerSpawner, opts: WorkerOptions): Promise<Connection> {
  const ep = await spawn(init);
  let markDead!: (e: Error) => void;
  const died = new Promise<Error>((r) => (markDead = r));
  ep.onExit((e) => markDead(e));
  const dead = died.then((e) => Promise.reject(new EngineCrashedError(`the engine's worker died: ${e.message}`, { cause: e })));
  dead.catch(() => {});
  const layout = opts.sharedMemory ? createChannelLayout() : undefined;
  const host = layout ? new HostChannel(layout, dead) : undefined;
  const transport: Transport = host ?? messageTransport(ep, dead);
  // Awaited after the spawn: the compile (first engine only) overlaps the worker's start.
  const pyodideModule = init.language === 'python' ? await opts.pyodideModule : undefined;
  const [sent, transfer] = opts.handOverSnapshot ? handOver(init) : [init, []];
  ep.post(pyodideModule ? { init: sent, layout, pyodideModule } : { init: sent, layout }, transfer);
  let first;
  try {
    first = parseToHost(decodeMessage(await transport.receive()), undefined, maxSnapshotBytes(init));
  } catch (e) {
    // A worker that dies or talks nonsense while booting is gone either way.
    await ep.terminate();
    throw e;
  }
  if (first.t !== 'ready') {
    await ep.terminate();
    const msg = first.t === 'failed' ? first.failure.message : `unexpected ${first.t}`;
    throw new UnavailableError(msg);
  }
  // What the next spare may restore ahead: the same snapshot (shared, so never copied).
  ep.booted?.(opts.handOverSnapshot ? { pyodideModule } : { snapshot: init.snapshot, pyodideModule });
  // Over postMessage a stop reaches the engine only when it waits for host.aio results (the
  // answer to its hostWait carries it). A request that has waited so far gets graceMs to
  // wait again and see the stop; other running code is killed at once.
  let stopping: InterruptReason | undefined;
  let waiting: AsyncHostCalls | undefined;
  let waited = false;
  return {
    placement: 'worker',
    get canInterrupt() {
      return !!host || waited;
    },
    // Node cannot end a worker thread while it runs native code (LuaJIT, CPython).
    ...(init.backend === 'native' ? { canKill: false } : {}),
    died,
    ...(first.boot ? { boot: first.boot } : {}),
    async request(msg: ToEngine, h: RequestHandlers): Promise<Answer> {
      await transport.send(encode(msg));
      const aio = new AsyncHostCalls(h, init.limits.maxValueDepth);
      waited = false;
      for (;;) {
        // The worker runs untrusted code: its messages are validated like any input.
        const reply = parseToHost(decodeMessage(await transport.receive()));
        if (reply.t === 'hostCall') {
          await transport.send(encode(await serveHostCall(h, reply.name, reply.args, init.limits.maxValueDepth)));
        } else if (reply.t === 'hostStart') {
          aio.start(reply.id, reply.name, reply.args);
        } else if (reply.t === 'hostWait') {
          if (host) {
            await transport.send(encode(await aio.wait(reply.timeoutMs)));
            continue;
          }
          waited = true;
          waiting = aio;
          const results = await aio.wait(stopping === undefined ? reply.timeoutMs : 0).finally(() => (waiting = undefined));
          await transport.send(encode(stopping === undefined ? results : { ...results, stop: stopping }));
        } else if (reply.t === 'output') {
          h.output(reply.stream, reply.text);
        } else if (reply.t === 'ready') {
          throw new EngineCrashedError('the engine restarted unexpectedly');
        } else {
          return reply;
        }
      }
    },
    interrupt(reason: InterruptReason) {
      if (host) return host.interrupt(reason);
      stopping = reason;
      waiting?.wake();
    },
    clearInterrupt() {
      host?.clearInterrupt();
      stopping = undefined;
    },
    async kill() {
      await ep.terminate();
    },
  };
}
