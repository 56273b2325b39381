/**
 * Serves one core over a link to its host: boots it, says `ready` (or why not), then
 * answers requests one at a time. Shared by the worker entry (src/placement/worker-entry.ts,
 * over the SharedArrayBuffer channel or postMessage) and the process placement's child
 * (src/node/process-child.ts, over its pipe, on the child's main thread), so a core is
 * served the same way wherever it runs.
 */
import type { ToEngine, ToHost } from '../channel/protocol.js';
import { HostCallError, type CoreEnv, type CoreInit, type EngineCore } from '../core.js';
import type { ScriptValue } from '../values.js';
import { createCore } from '../../wasm/cores.js';
import { serve, serveCall } from './serve.js';
import { hardenRealm, prepareRealmHardening } from './worker-realm.js';

/** What a core is booted with. */
export interface CoreStart {
  init: CoreInit;
  /** pyodide.asm.wasm compiled by the host (a WebAssembly.Module is shared, not copied). */
  pyodideModule?: WebAssembly.Module;
  /** What this thread did before its engine asked (wasm/cores.ts primeCore): handed to the core as env.restoredAhead. */
  ahead?: Promise<unknown>;
}

/** The engine end of a core's link to its host. */
export interface HostLink {
  /** What the core may do with the host: its CoreEnv. */
  env: CoreEnv;
  send(msg: ToHost): void;
  /** The next request; a blocking link blocks this thread until one comes. */
  next(): ToEngine | Promise<ToEngine>;
}

let asyncIds = 0;

/** The parts of a CoreEnv every link has: output and host.aio starts are messages like any other. */
export function sharedEnv(send: (msg: ToHost) => void): Pick<CoreEnv, 'output' | 'hostStart'> {
  return {
    output(stream, text) {
      send({ t: 'output', stream, text });
    },
    hostStart(name, args) {
      const id = ++asyncIds;
      send({ t: 'hostStart', id, name, args });
      return id;
    },
  };
}

/** A link whose receive blocks this thread (a SharedArrayBuffer channel, a blocking pipe). */
export interface BlockingIo {
  send(msg: ToHost): void;
  /** The host's next message; blocks until it comes. */
  receive(): ToEngine;
  interruptWord: Int32Array;
}

/** A link over blocking I/O: host calls block until the host answers. */
export function blockingLink(io: BlockingIo): HostLink {
  const { send, receive } = io;
  const env: CoreEnv = {
    interruptWord: io.interruptWord,
    hostCall(name: string, args: ScriptValue[]): ScriptValue {
      send({ t: 'hostCall', name, args });
      const reply = receive();
      if (reply.t !== 'hostReturn') throw new Error(`expected hostReturn, got ${reply.t}`);
      if (!reply.ok) throw new HostCallError(reply.error);
      return reply.value;
    },
    ...sharedEnv(send),
    hostWait(timeoutMs) {
      send({ t: 'hostWait', timeoutMs });
      const reply = receive();
      if (reply.t !== 'hostResults') throw new Error(`expected hostResults, got ${reply.t}`);
      return reply.results;
    },
  };
  return { env, send, next: receive };
}

/**
 * Boots the core of `start` with `link`, reports `ready` or the boot failure, then serves
 * requests until the link fails (then it rejects). `afterBoot` runs between the boot and `ready` (the
 * process child drops its copy of the snapshot and enters its limits there).
 */
export async function serveCore(start: CoreStart, link: HostLink, afterBoot?: () => void | Promise<void>): Promise<void> {
  let core: EngineCore;
  try {
    core = await bootCore(start, link.env);
    await afterBoot?.();
  } catch (e) {
    link.send(bootFailure(e));
    return;
  }
  link.send(ready(core));
  for (;;) {
    // Awaited only where there is a promise: a call answered at once costs no microtask.
    const next = link.next();
    const msg = next instanceof Promise ? await next : next;
    const answer = msg.t === 'call' || msg.t === 'callMethod' ? serveCall(core, msg) : serve(core, msg);
    link.send(answer instanceof Promise ? await answer : answer);
    // While the host reads the answer: the next request's start, off its path.
    core.idle?.();
  }
}

/** Boots the core: native (trusted, no hardening) or wasm (the realm hardened before any script runs). */
export async function bootCore(start: CoreStart, env: CoreEnv): Promise<EngineCore> {
  if (start.init.backend === 'native') {
    // Trusted native code only: nothing in this realm to harden, and hardening would take
    // away what koffi needs. Never bundled for browsers (hence the path Vite does not see).
    const path = '../../native-bridge/cores.js';
    const { createNativeCore } = (await import(/* @vite-ignore */ path)) as typeof import('../../native-bridge/cores.js');
    return createNativeCore(start.init, env);
  }
  if (start.pyodideModule) env.pyodideModule = start.pyodideModule;
  if (start.ahead) env.restoredAhead = start.ahead;
  delete start.ahead;
  prepareRealmHardening();
  const core = await createCore(start.init, env);
  // The snapshot may be the host's shared copy: nothing in this realm keeps a reference to
  // it once the core has booted.
  const copied = start.init.snapshot?.buffer instanceof ArrayBuffer;
  delete start.init.snapshot;
  // A private copy (the process placement's) is 30 MiB of garbage now, and this thread
  // may not collect for a long time: collect now where Node exposes gc (that child does).
  if (copied) (globalThis as { gc?: () => void }).gc?.();
  await hardenRealm();
  return core;
}

function ready(core: EngineCore): ToHost {
  return core.bootInfo ? { t: 'ready', boot: core.bootInfo() } : { t: 'ready' };
}

/** The answer to a boot that failed. */
export function bootFailure(e: unknown): ToHost {
  const err = e as Error;
  return {
    t: 'failed',
    // The name stays in the message: the host tells a refused session snapshot by it (src/session/refused.ts).
    failure: {
      kind: 'crashed',
      type: err?.name ?? 'Error',
      message: `the engine failed to boot: ${err?.name ?? 'Error'}: ${err?.message ?? e}`,
    },
    out: { stdout: '', stderr: '', truncated: false },
  };
}
