/**
 * Worker entry (Node worker_threads or a browser module Web Worker): boots one core and
 * serves it (src/placement/core-server.ts, shared with the process placement's child).
 * The wasm cores come from wasm/cores.ts, the native ones (Node only, trusted code) from
 * native-bridge/cores.ts; core-server.ts is the one place that knows both.
 *
 * With SharedArrayBuffer every message goes over the Atomics channel and a script can
 * block on a host call; without it, messages go over postMessage, blocking host calls
 * raise UnavailableError and Python's host.aio waits without blocking (see
 * PythonCore.parked).
 */
import { EngineChannel, type ChannelLayout } from '../channel/sab-channel.js';
import type { ParentEndpoint } from '../channel/endpoint.js';
import type { AsyncHostResult, ToEngine, ToHost } from '../channel/protocol.js';
import { HostCallError, type CoreEnv, type CoreInit } from '../core.js';
import { decode, encode } from '../values.js';
import { primeCore } from '../../wasm/cores.js';
import { blockingLink, serveCore, sharedEnv, type HostLink } from './core-server.js';
import { prepareRealmHardening } from './worker-realm.js';

/** The first message a worker gets. */
export interface WorkerStart {
  init: CoreInit;
  layout?: ChannelLayout;
  /** pyodide.asm.wasm compiled by the host (a WebAssembly.Module is shared, not copied). */
  pyodideModule?: WebAssembly.Module;
}

async function parent(): Promise<ParentEndpoint> {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node) {
    const path = '../node/parent.js';
    const mod = (await import(/* @vite-ignore */ path)) as typeof import('../node/parent.js');
    return mod.nodeParent();
  }
  const self = globalThis as unknown as Worker;
  return {
    post: (m, t) => self.postMessage(m, t ?? []),
    onMessage: (cb) => self.addEventListener('message', (ev) => cb(ev.data)),
  };
}

/** What this worker did before its engine asked (a spare: see firstMessage). */
let ahead: Promise<unknown> | undefined;

/**
 * The start message. A worker the host starts ahead of need (a spare) first gets
 * `{ prime: language, snapshot?, pyodideModule? }` and loads that core's modules (and
 * restores the snapshot) while it waits.
 */
function firstMessage(p: ParentEndpoint): Promise<WorkerStart> {
  return new Promise((resolve) => {
    let got = false;
    p.onMessage((m) => {
      if (got) return;
      const prime = m as { prime?: unknown; snapshot?: Uint8Array; pyodideModule?: WebAssembly.Module };
      if (typeof prime.prime === 'string') {
        prepareRealmHardening();
        ahead = primeCore(prime.prime, { ...prime });
        delete prime.snapshot;
        return;
      }
      got = true;
      resolve(m as WorkerStart);
    });
  });
}

/** Over the SharedArrayBuffer channel: host calls block until the host answers. */
function sharedLink(ch: EngineChannel): HostLink {
  return blockingLink({
    send: (msg) => ch.send(encode(msg)),
    receive: () => decode(ch.receive()) as ToEngine,
    interruptWord: ch.interruptWord,
  });
}

/**
 * Over postMessage: no blocking host calls, no cheap interrupt. host.aio works: the core
 * waits for its results without blocking (hostWaitAsync), and a stop the host sends with
 * them lands in this private interrupt word, which the core polls like a shared one.
 */
function postedLink(p: ParentEndpoint): HostLink {
  const send = (msg: ToHost) => {
    const bytes = encode(msg);
    p.post(bytes, [bytes.buffer as ArrayBuffer]);
  };
  const queue: ToEngine[] = [];
  let wake: (() => void) | undefined;
  // Listening from now on: requests that come while the core boots wait in the queue.
  p.onMessage((m) => {
    queue.push(decode(m as Uint8Array) as ToEngine);
    wake?.();
  });
  const receive = async (): Promise<ToEngine> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return queue.shift()!;
  };
  const word = new Int32Array(1);
  const env: CoreEnv = {
    interruptWord: word,
    hostCall(name) {
      throw new HostCallError({
        type: 'UnavailableError',
        message: `host.${name} needs a blocking call, which needs SharedArrayBuffer; serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp`,
      });
    },
    ...sharedEnv(send),
    hostWait() {
      throw new Error('hostWait would block; this core waits with hostWaitAsync');
    },
    async hostWaitAsync(timeoutMs): Promise<AsyncHostResult[]> {
      send({ t: 'hostWait', timeoutMs });
      const reply = await receive();
      if (reply.t !== 'hostResults') throw new Error(`expected hostResults, got ${reply.t}`);
      if (reply.stop !== undefined) Atomics.store(word, 0, reply.stop);
      return reply.results;
    },
  };
  return {
    env,
    send,
    async next() {
      const msg = await receive();
      // A stop is for the request it came with (the host clears its own before each request).
      Atomics.store(word, 0, 0);
      return msg;
    },
  };
}

async function main(): Promise<void> {
  const p = await parent();
  const start = await firstMessage(p);
  const link = start.layout ? sharedLink(new EngineChannel(start.layout)) : postedLink(p);
  const primed = ahead;
  ahead = undefined;
  await serveCore(
    { init: start.init, ...(start.pyodideModule ? { pyodideModule: start.pyodideModule } : {}), ...(primed ? { ahead: primed } : {}) },
    link,
  );
}

// A failure outside a request (no core, a broken channel) rejects here and ends the
// worker as an uncaught error: the host sees the worker die and reports that.
void main();
