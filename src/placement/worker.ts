/**
 * The worker placement: the core runs in a worker thread (Node) or a module Web Worker
 * (browser). Requests go over the SharedArrayBuffer channel when the platform has one,
 * else over postMessage; either way src/placement/request-pump.ts runs them.
 */
import type { Endpoint } from '../channel/endpoint.js';
import { decodeMessage, maxSnapshotBytes, parseToHost, type ToEngine } from '../channel/protocol.js';
import { HostChannel, createChannelLayout, type InterruptReason } from '../channel/sab-channel.js';
import type { CoreInit } from '../core.js';
import { EngineCrashedError, UnavailableError } from '../errors.js';
import { Ending } from '../ending.js';
import { encode } from '../values.js';
import type { AsyncHostCalls, Connection, RequestHandlers } from './connection.js';
import { pumpRequest, type HostResults, type RequestTransport } from './request-pump.js';

/** How to start a worker on this platform, for a core booting with `init`. */
export type WorkerSpawner = (init: CoreInit) => Endpoint | Promise<Endpoint>;

/** True when this realm can share memory with a worker. */
export function sharedMemoryAvailable(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics.waitAsync !== 'function') return false;
  return g.crossOriginIsolated !== false;
}

/** Bytes to and from the worker, before validation. */
interface ByteLink {
  send(bytes: Uint8Array): void | Promise<void>;
  receive(): unknown;
}

const rethrow = (e: Error): never => {
  throw e;
};

function messageLink(ep: Endpoint, gone: Ending<Error>): ByteLink {
  // Whatever the worker posted: decodeMessage checks it is bytes.
  const inbox: unknown[] = [];
  let wake: (() => void) | undefined;
  ep.onMessage((m) => {
    inbox.push(m);
    wake?.();
  });
  return {
    send(bytes) {
      ep.post(bytes, [bytes.buffer as ArrayBuffer]);
    },
    async receive() {
      while (inbox.length === 0) await gone.race(new Promise<void>((r) => (wake = r)), rethrow);
      return inbox.shift();
    },
  };
}

/**
 * Stops over postMessage, where there is no shared interrupt word: a stop reaches the core
 * only when it waits for host.aio results (the answer to its hostWait carries it).
 */
class PostedStops {
  private stopping: InterruptReason | undefined;
  private waiting: AsyncHostCalls | undefined;
  /** The current request has waited for the host, so a stop can reach it. */
  waited = false;

  async hostWait(aio: AsyncHostCalls, timeoutMs: number): Promise<HostResults> {
    this.waited = true;
    this.waiting = aio;
    const results = await aio.wait(this.stopping === undefined ? timeoutMs : 0).finally(() => (this.waiting = undefined));
    return this.stopping === undefined ? results : { ...results, stop: this.stopping };
  }

  interrupt(reason: InterruptReason): void {
    this.stopping = reason;
    this.waiting?.wake();
  }

  clear(): void {
    this.stopping = undefined;
  }
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
  // Every wait on the channel races `gone` and fails with its error.
  const gone = new Ending<Error>();
  ep.onExit((e) => {
    markDead(e);
    gone.end(new EngineCrashedError(`the engine's worker died: ${e.message}`, { cause: e }));
  });
  const layout = opts.sharedMemory ? createChannelLayout() : undefined;
  const host = layout ? new HostChannel(layout, gone) : undefined;
  const link: ByteLink = host ?? messageLink(ep, gone);
  const posted = host ? undefined : new PostedStops();
  // Awaited after the spawn: the compile (first engine only) overlaps the worker's start.
  const pyodideModule = init.language === 'python' ? await opts.pyodideModule : undefined;
  const [sent, transfer] = opts.handOverSnapshot ? handOver(init) : [init, []];
  ep.post(pyodideModule ? { init: sent, layout, pyodideModule } : { init: sent, layout }, transfer);
  let first;
  try {
    first = parseToHost(decodeMessage(await link.receive()), undefined, maxSnapshotBytes(init));
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
  const transport: RequestTransport = {
    send: (msg) => link.send(encode(msg)),
    // The worker runs untrusted code: its messages are validated like any input.
    receive: () => {
      const got = link.receive();
      return got instanceof Promise ? got.then((m) => parseToHost(decodeMessage(m))) : parseToHost(decodeMessage(got));
    },
    concurrentCalls: false,
    ...(posted ? { hostWait: (aio: AsyncHostCalls, ms: number) => posted.hostWait(aio, ms) } : {}),
    // The engine ends the worker when the request fails as a crash.
    broken: (e) => e,
  };
  const limits = init.limits;
  return {
    placement: 'worker',
    // Over postMessage only a request that has waited for the host before is given graceMs;
    // other running code is killed at once.
    get canInterrupt() {
      return !posted || posted.waited;
    },
    // Node cannot end a worker thread while it runs native code (LuaJIT, CPython).
    ...(init.backend === 'native' ? { canKill: false } : {}),
    died,
    ...(first.boot ? { boot: first.boot } : {}),
    request(msg: ToEngine, h: RequestHandlers) {
      if (posted) posted.waited = false;
      return pumpRequest(transport, msg, h, limits);
    },
    interrupt(reason: InterruptReason) {
      if (host) host.interrupt(reason);
      else posted!.interrupt(reason);
    },
    clearInterrupt() {
      host?.clearInterrupt();
      posted?.clear();
    },
    async kill() {
      await ep.terminate();
    },
  };
}
