/**
 * Node glue for the worker placement: finds the built worker entry, wraps worker_threads
 * in the Endpoint adapter, and keeps one pre-started worker for fast Python starts.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BootedFrom, Endpoint } from '../channel/endpoint.js';
import type { CoreInit, Language } from '../core.js';
import { UnavailableError } from '../errors.js';

/** The folder holding the built `src/`, `wasm/` and `native-bridge/` trees (dist/ both from source and from the package). */
export function builtRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const up = resolve(dirname(here), '../..');
  return here.endsWith('.ts') ? join(up, 'dist') : up;
}

/** The built worker entry (src/placement/worker-entry.ts), which boots any core. */
export function workerEntry(): string {
  const entry = join(builtRoot(), 'src', 'placement', 'worker-entry.js');
  if (!existsSync(entry)) {
    throw new UnavailableError(`the engine worker entry ${entry} is missing; run \`npm run build\` first`);
  }
  return entry;
}

let live = 0;

/** Engine worker threads started by this module that have not exited yet (tests assert it drops to 0); spares not included. */
export function liveWorkerCount(): number {
  return live;
}

interface Started {
  worker: Worker;
  endpoint: Endpoint;
  exited: boolean;
}

/** Starts a worker thread with an empty environment and its console kept out of the host's. */
function start(): Started {
  const worker = new Worker(workerEntry(), {
    env: {},
    stdout: true,
    stderr: true,
    argv: [],
    execArgv: [],
    // V8 lets an isolate's young generation grow to ~10 MB; 4 MB serves the call path as well
    // and takes 7-10 MB off every engine (issue 20: a Python worker engine's memory).
    resourceLimits: { maxYoungGenerationSizeMb: 4 },
  });
  let terminating = false;
  let exitCb: ((e: Error) => void) | undefined;
  let failure: Error | undefined;
  const s: Started = { worker, exited: false, endpoint: undefined as unknown as Endpoint };
  worker.on('error', (e) => {
    failure = e;
  });
  worker.on('exit', (code) => {
    s.exited = true;
    if (terminating) return;
    exitCb?.(failure ?? new Error(`the engine's worker thread exited (code ${code})`));
  });
  s.endpoint = {
    post: (m, t) => worker.postMessage(m, (t ?? []) as never),
    onMessage: (cb) => worker.on('message', cb),
    onExit: (cb) => {
      exitCb = cb;
    },
    terminate: async () => {
      terminating = true;
      await worker.terminate();
    },
  };
  return s;
}

/** Hands a started worker to an engine: counted as live until it exits. */
function handOut(s: Started): Endpoint {
  live++;
  // Drained from here on (a flowing stream keeps the process alive, so an idle spare's is not).
  s.worker.stdout.resume();
  s.worker.stderr.resume();
  s.worker.once('exit', () => live--);
  return s.endpoint;
}

/** Starts an engine worker thread. */
export function spawnNodeWorker(): Endpoint {
  return handOut(start());
}

/**
 * The pre-started worker: spawned, Pyodide's ~1.3 MB of JavaScript loaded and, once the
 * process has a snapshot, that snapshot restored, so the next engine of that snapshot
 * skips the thread start, the imports and the restore (~170 ms here) and only sets itself
 * up. It never ran script code, and is unref'd, so it never keeps the process alive.
 */
let spare: (Started & { language: Language; snapshot: Uint8Array | undefined }) | undefined;

const spares = { started: 0, taken: 0 };

/** Pre-started workers: `idle` now (0 or 1), `started` and `taken` by engines so far. */
export function spareWorkers(): { idle: number; started: number; taken: number } {
  return { idle: spare && !spare.exited ? 1 : 0, ...spares };
}

/** Other spares released with the worker: the process placement's pre-started child (src/node/spare-child.ts). */
const otherSpares: (() => Promise<void>)[] = [];

/** Has `release` run by releaseSpareWorker() too (src/node/spare-child.ts registers its child; no import back, no cycle). */
export function releaseWithSpareWorker(release: () => Promise<void>): void {
  otherSpares.push(release);
}

/** Stops the pre-started worker, if any (it comes back with the next fast-starting engine), and the pre-started engine child. */
export async function releaseSpareWorker(): Promise<void> {
  const s = spare;
  spare = undefined;
  await Promise.all([s?.endpoint.terminate(), ...otherSpares.map((release) => release())]);
}

function startSpare(language: Language, ahead: BootedFrom): void {
  if (spare && !spare.exited) {
    if (spare.snapshot === ahead.snapshot) return;
    // Primed for a snapshot no engine uses any more (the process took a new one).
    void releaseSpareWorker();
  }
  const s = start();
  s.worker.unref();
  s.endpoint.post({ prime: language, ...ahead });
  spare = { ...s, language, snapshot: ahead.snapshot };
  spares.started++;
}

/**
 * A spawner that takes the pre-started worker when it suits the core (`language`, and the
 * snapshot it restored is the one `init` brings, or none), and starts the next one once
 * the engine it handed out has booted (so the two never race for the CPU during a start).
 */
export function primedNodeSpawner(language: Language): (init: CoreInit) => Endpoint {
  return (init) => {
    let s: Started;
    const fits = spare && !spare.exited && spare.language === language && (!spare.snapshot || spare.snapshot === init.snapshot);
    if (fits) {
      s = spare!;
      spare = undefined;
      spares.taken++;
      s.worker.ref();
    } else {
      s = start();
    }
    const ep = handOut(s);
    return { ...ep, booted: (ahead) => startSpare(language, ahead) };
  };
}
