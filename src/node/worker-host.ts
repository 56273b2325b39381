/**
 * Node glue for the worker placement: finds the built worker entry and wraps
 * worker_threads in the Endpoint adapter.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Endpoint } from '../channel/endpoint.js';
import { UnavailableError } from '../errors.js';

/** The folder holding the built `wasm/` and `src/` trees (dist/ both from source and from the package). */
export function builtRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const up = resolve(dirname(here), '../..');
  return here.endsWith('.ts') ? join(up, 'dist') : up;
}

export function workerEntry(): string {
  const entry = join(builtRoot(), 'wasm', 'worker.js');
  if (!existsSync(entry)) {
    throw new UnavailableError(`the engine worker entry ${entry} is missing; run \`npm run build\` first`);
  }
  return entry;
}

let live = 0;

/** Worker threads started by this module that have not exited yet (tests assert it drops to 0). */
export function liveWorkerCount(): number {
  return live;
}

/** Starts a worker thread with an empty environment and its console kept out of the host's. */
export function spawnNodeWorker(): Endpoint {
  const worker = new Worker(workerEntry(), { env: {}, stdout: true, stderr: true, argv: [], execArgv: [] });
  live++;
  worker.once('exit', () => live--);
  worker.stdout.resume();
  worker.stderr.resume();
  let terminating = false;
  let exitCb: ((e: Error) => void) | undefined;
  let failure: Error | undefined;
  worker.on('error', (e) => {
    failure = e;
  });
  worker.on('exit', (code) => {
    if (terminating) return;
    exitCb?.(failure ?? new Error(`the engine's worker thread exited (code ${code})`));
  });
  return {
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
}
