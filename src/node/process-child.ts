/**
 * Entry of the process placement's child (dist/src/node/process-child.js). It runs under
 * Node's permission model (see process-host.ts) and serves its core on its own main thread
 * (src/placement/core-server.ts), straight over the pipe on fd 3: blocking reads bring the
 * host's frames (requests, host returns, clears), blocking writes take the core's messages
 * back. No second thread sits on the message path, so a call costs one pipe round trip.
 *
 * Stops come on fd 4, which a small thread reads and applies to the core's interrupt word
 * while the core runs (src/node/interrupt-relay.ts). When the host goes away (the pipe
 * ends) the child exits.
 *
 * A spare child (src/node/spare-child.ts) first gets `prime`: it loads Python and restores
 * the snapshot it was sent, then waits for the `boot` of the engine that takes it (a boot
 * without a snapshot: the one it was primed with).
 *
 * Started with `--native` (the native backend, see process-host.ts), usually as pid 1 of
 * its own PID namespace and without capabilities, the child checks and reports what it
 * got and enters its remaining OS limits (os-limits.ts): no-new-privs and a network
 * namespace at once, before the interrupt thread exists so that it inherits them; rlimits
 * once the core has booted.
 */
import fs from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { BlockingFrameReader, MAX_FRAME_BYTES, frame } from '../channel/frames.js';
import type { FromProcess, ToEngine, ToProcess } from '../channel/protocol.js';
import type { CoreInit } from '../core.js';
import { blockingLink, serveCore } from '../placement/core-server.js';
import { prepareRealmHardening } from '../placement/worker-realm.js';
import { decode, encode } from '../values.js';
import { primeCore } from '../../wasm/cores.js';
import { InterruptGate, startInterruptRelay } from './interrupt-relay.js';
import { applyRlimits, enterIsolation, type IsolationReport } from './os-limits.js';

// Taken before the core boots: hardening the realm (worker-realm.ts) replaces fs and
// process.reallyExit with functions that throw, and the pipe must keep working.
const { readSync, writeSync } = fs;
const collect = (globalThis as { gc?: () => void }).gc;
const reallyExit: (code: number) => never = (process as unknown as { reallyExit: (code: number) => never }).reallyExit.bind(process);

// Pyodide's NODEFS reads fs constants through process.binding('constants'), which the
// permission model takes away on this thread (a worker started with other execArgv keeps
// it). Only those constants are given back; everything else still throws.
const proc = process as unknown as { binding: (name: string) => unknown };
const deniedBinding = proc.binding;
proc.binding = (name: string) => (name === 'constants' ? { fs: fs.constants, os: os.constants } : deniedBinding.call(process, name));

/** Message pipe (both ways, blocking in this child) and stop pipe (read by the interrupt thread). */
const MESSAGES_FD = 3;
const STOPS_FD = 4;

const native = process.argv.includes('--native');
const isolation: IsolationReport = { applied: [], refused: [] };
if (native) enterIsolation(isolation, isolationPlan());

/** The host's words on the launch (process-host.ts): what it applied and why something is missing. */
function isolationPlan(): { applied: string[]; refused: string[] } {
  const arg = process.argv.find((a) => a.startsWith('--isolation-plan='));
  if (!arg) return { applied: [], refused: [] };
  const plan = JSON.parse(Buffer.from(arg.slice('--isolation-plan='.length), 'base64url').toString('utf8')) as {
    applied: string[];
    refused: string[];
  };
  return { applied: plan.applied, refused: plan.refused };
}
/** CPU seconds a native child may use in its life: a backstop, since the host kills on every timeout first. */
const CPU_SECONDS = 3600;

/** A spare child's first message: restore ahead, before any engine asks (the snapshot, if any, is the next frame, raw). */
interface Prime {
  t: 'prime';
  language: string;
  snapshotFrame?: boolean;
}

/** Blocks while the pipe has nothing; a non-blocking descriptor (not expected) waits a little and retries. */
function retrying<T>(op: () => T): T {
  for (;;) {
    try {
      return op();
    } catch (e) {
      if ((e as { code?: string })?.code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

const input = new BlockingFrameReader(
  (into, offset, length) => retrying(() => readSync(MESSAGES_FD, into, offset, length, null)),
  // The host is trusted; its frames are only bounded by the header.
  MAX_FRAME_BYTES,
);

function write(bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += retrying(() => writeSync(MESSAGES_FD, bytes, at, bytes.length - at));
}

function send(msg: FromProcess): void {
  write(frame(encode(native ? nativeReport(msg) : msg)));
}

/** The host's next frame; the child ends when the host has gone away. */
function nextFrame(): ToProcess | Prime {
  const bytes = input.next();
  if (!bytes) reallyExit(0);
  return decode(bytes) as ToProcess | Prime;
}

const gate = new InterruptGate();

/** The host's next message for the core: clears (and, from a host without a stop pipe, stops) are applied on the way. */
function receive(): ToEngine {
  for (;;) {
    const msg = nextFrame();
    switch (msg.t) {
      case 'clearInterrupt':
        gate.clear();
        break;
      case 'interrupt':
        gate.interrupt(msg.reason, gate.epoch);
        break;
      case 'boot':
      case 'prime':
        throw new Error(`the host sent '${msg.t}' to a running engine`);
      default:
        return msg;
    }
  }
}

let initLimits = 0;

/**
 * Native engines: `ready` reports the OS limits the child entered. The address-space limit
 * is what caps memory, and a script meets it as a MemoryError: report that as the memory
 * stop it is, so the host restarts the engine.
 */
function nativeReport(a: FromProcess): FromProcess {
  if (a.t === 'ready') return { t: 'ready', boot: { ...(a.boot ?? { restored: false }), isolation } };
  if (a.t !== 'failed' || a.failure.kind !== 'script' || a.failure.type !== 'MemoryError') return a;
  return {
    ...a,
    failure: {
      kind: 'memory',
      type: 'MemoryError',
      message: `the script ran out of memory under the child's address-space limit (limits.memoryBytes ${initLimits} bytes): ${a.failure.message}`,
    },
  };
}

function quit(message: string): never {
  try {
    send({ t: 'fatal', message });
  } catch {
    // The pipe is gone too: the host sees the exit instead.
  }
  reallyExit(1);
}

async function main(): Promise<void> {
  startInterruptRelay(gate, STOPS_FD);
  let first = nextFrame();
  let ahead: Promise<unknown> | undefined;
  let primed: Uint8Array | undefined;
  if (first.t === 'prime') {
    primed = first.snapshotFrame ? input.next() : undefined;
    // What the boot does next, done now: the modules hardening locks down, loaded.
    prepareRealmHardening();
    ahead = primeCore(first.language, { ...(primed ? { snapshot: primed } : {}) });
    // Done before waiting for the boot: the wait blocks this thread. A failed restore
    // surfaces at boot, which then restores (or boots from scratch) the usual way.
    if (await ahead?.catch(() => undefined)) {
      // Restored: the snapshot is garbage now, collected while no engine waits.
      primed = undefined;
      collect?.();
    }
    first = nextFrame();
  }
  if (first.t !== 'boot') return quit(`the host sent '${first.t}' before 'boot'`);
  const init: CoreInit = first.init;
  // A primed child's boot leaves out the snapshot: it is the one the child was primed with
  // (kept only if the restore ahead failed).
  if (primed && !init.snapshot) init.snapshot = primed;
  primed = undefined;
  initLimits = init.limits.memoryBytes;
  const link = blockingLink({ send, receive, interruptWord: gate.word });
  await serveCore({ init, ...(ahead ? { ahead } : {}) }, link, async () => {
    if (!native) return;
    // libuv starts its thread pool on first use; with RLIMIT_NPROC at 0 it could not later.
    // Any fs call starts it, whether or not it succeeds: the result is not needed.
    await stat('.').catch(() => undefined);
    applyRlimits({ memoryBytes: init.limits.memoryBytes, cpuSeconds: CPU_SECONDS }, isolation);
  });
}

// serveCore answers every request; what reaches here broke the child itself.
main().then(
  () => reallyExit(0),
  (e: unknown) => quit(`the engine's process failed: ${(e as Error)?.message ?? e}`),
);
