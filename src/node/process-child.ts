/**
 * Entry of the process placement's child (dist/src/node/process-child.js). It runs under
 * Node's permission model (see process-host.ts), hosts the core in a worker thread of its
 * own through the worker placement, and relays between that worker and the host over
 * fd 3: requests and host returns go to the worker, host calls, output and answers go
 * back. Control frames (interrupt / clear) are applied at once, on this thread, to the
 * worker's shared interrupt word, so they work while the core is busy.
 *
 * If the worker dies, the child says so and exits; if the host goes away, it exits too.
 *
 * Started with `--native` (the native backend, see process-host.ts), usually as pid 1 of
 * its own PID namespace and without capabilities, the child checks and reports what it
 * got and enters its remaining OS limits (os-limits.ts): no-new-privs and a network
 * namespace at once, before the worker thread exists so that it inherits them; rlimits
 * once the core has booted.
 */
import { stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { FrameReader, MAX_FRAME_BYTES, frame } from '../channel/frames.js';
import type { FromProcess, HostCallFailure, ToEngine, ToProcess } from '../channel/protocol.js';
import { HostCallError, type CoreInit } from '../core.js';
import type { Answer, Connection, RequestHandlers } from '../placement/connection.js';
import { connectWorker } from '../placement/worker.js';
import { decode, encode, type ScriptValue } from '../values.js';
import { applyRlimits, enterIsolation, type IsolationReport } from './os-limits.js';
import { compilePyodideWasm } from './pyodide-wasm.js';
import { spawnNodeWorker } from './worker-host.js';

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

const pipe = new Socket({ fd: 3, readable: true, writable: true });

function send(msg: FromProcess): void {
  pipe.write(frame(encode(msg)));
}

function quit(message: string): void {
  pipe.end(frame(encode({ t: 'fatal', message } satisfies FromProcess)), () => process.exit(1));
  setTimeout(() => process.exit(1), 1000).unref();
}

pipe.on('error', () => process.exit(1));
pipe.on('end', () => process.exit(0));
pipe.on('close', () => process.exit(0));

let conn: Connection | undefined;
let booting = false;
const requests: ToEngine[] = [];
let serving = false;
/** Host calls sent to the parent and not answered yet, by id (the parent may answer out of order). */
const hostReturns = new Map<number, (ret: Extract<ToEngine, { t: 'hostReturn' }>) => void>();
let nextCallId = 1;

const handlers: RequestHandlers = {
  hostCall: (name: string, args: ScriptValue[]) =>
    new Promise<ScriptValue>((resolve, reject) => {
      const id = nextCallId++;
      hostReturns.set(id, (ret) => (ret.ok ? resolve(ret.value) : reject(new HostCallError(ret.error as HostCallFailure))));
      send({ t: 'hostCall', name, args, id });
    }),
  hostCallSync: () => {
    throw new Error('the process placement relays host calls asynchronously');
  },
  output: (stream, text) => send({ t: 'output', stream, text }),
};

let initLimits = 0;

async function boot(init: CoreInit): Promise<void> {
  booting = true;
  initLimits = init.limits.memoryBytes;
  try {
    // The compile runs here while the worker thread starts, instead of after it. If it
    // fails, the worker compiles its own copy and reports any real problem at boot.
    const pyodideModule = init.language === 'python' && !native ? compilePyodideWasm().catch(() => undefined) : undefined;
    conn = await connectWorker(init, spawnNodeWorker, { sharedMemory: true, pyodideModule, handOverSnapshot: true });
    if (native) {
      // libuv starts its thread pool on first use; with RLIMIT_NPROC at 0 it could not later.
      // Any fs call starts it, whether or not it succeeds: the result is not needed.
      await stat('.').catch(() => undefined);
      applyRlimits({ memoryBytes: init.limits.memoryBytes, cpuSeconds: CPU_SECONDS }, isolation);
    }
  } catch (e) {
    const err = e as Error;
    send({
      t: 'failed',
      failure: { kind: 'crashed', type: err?.name ?? 'Error', message: String(err?.message ?? e) },
      out: { stdout: '', stderr: '', truncated: false },
    });
    return;
  }
  // The worker has its own copy of the snapshot: do not keep this one for the engine's life.
  const hadSnapshot = init.snapshot !== undefined;
  delete init.snapshot;
  if (hadSnapshot) setTimeout(() => (globalThis as { gc?: () => void }).gc?.(), 0);
  void conn.died.then((e) => quit(`the engine's worker thread died: ${e.message}`)); // `died` never rejects
  if (native) send({ t: 'ready', boot: { ...(conn.boot ?? { restored: false }), isolation } });
  else send(conn.boot ? { t: 'ready', boot: conn.boot } : { t: 'ready' });
  void serveQueued();
}

/**
 * Relays queued requests to the worker one at a time (the worker placement's request pump
 * serves each), and sends each answer back. Never rejects: a failure ends the child.
 */
async function serveQueued(): Promise<void> {
  if (serving || !conn) return;
  serving = true;
  try {
    for (let msg = requests.shift(); msg; msg = requests.shift()) {
      send(memoryStop(await conn.request(msg, handlers)));
    }
  } catch (e) {
    quit(`the engine's worker failed: ${(e as Error)?.message ?? e}`);
  } finally {
    serving = false;
  }
}

/**
 * Native engines: the address-space limit is what caps memory, and a script meets it as a
 * MemoryError. Report that as the memory stop it is, so the host restarts the engine.
 */
function memoryStop(a: Answer): Answer {
  if (!native || a.t !== 'failed' || a.failure.kind !== 'script' || a.failure.type !== 'MemoryError') return a;
  return {
    ...a,
    failure: {
      kind: 'memory',
      type: 'MemoryError',
      message: `the script ran out of memory under the child's address-space limit (limits.memoryBytes ${initLimits} bytes): ${a.failure.message}`,
    },
  };
}

function onFrame(bytes: Uint8Array): void {
  const msg = decode(bytes) as ToProcess;
  switch (msg.t) {
    case 'boot':
      if (!booting) void boot(msg.init);
      return;
    case 'interrupt':
      conn?.interrupt(msg.reason);
      return;
    case 'clearInterrupt':
      conn?.clearInterrupt();
      return;
    case 'hostReturn': {
      const done = msg.id === undefined ? undefined : hostReturns.get(msg.id);
      if (msg.id !== undefined) hostReturns.delete(msg.id);
      done?.(msg);
      return;
    }
    default:
      requests.push(msg);
      void serveQueued();
  }
}

// The host is trusted; its frames are only bounded by the header.
const reader = new FrameReader(MAX_FRAME_BYTES, onFrame, () => quit('the host sent an oversized frame'));
pipe.on('data', (chunk: Uint8Array) => reader.push(chunk));
