/**
 * Node glue for the benchmark harness: the baselines of DESIGN §7 that need threads
 * (stock Pyodide and wasmoon boots, plain postMessage and comlink round trips) and the
 * resident memory of this process with its engine child processes, and the distributed
 * deployment of the `distributed` workload.
 */
import { findNative } from './native-libs.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { DistributedDeployment } from '../bench/workloads.js';
import type { DistributedPool } from '../distributed/pool.js';
import type { WorkerProcess } from './worker-process.js';

const require = createRequire(import.meta.url);

export const cpuCount = (): number => cpus().length;

function bootWorker(src: string, workerData: unknown): Promise<number> {
  const t = performance.now();
  const w = new Worker(src, { eval: true, workerData });
  return new Promise((resolve, reject) => {
    w.once('message', () => {
      resolve(performance.now() - t);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

/** Stock Pyodide as its docs show it, in a fresh worker: spawn -> `runPython('1 + 1')`. */
export function stockPyodideColdStart(): Promise<number> {
  const dir = dirname(require.resolve('pyodide/package.json'));
  return bootWorker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.dir + '/pyodide.mjs').then(async ({ loadPyodide }) => {
       const py = await loadPyodide({ indexURL: workerData.dir + '/' });
       parentPort.postMessage(py.runPython('1 + 1'));
     });`,
    { dir },
  );
}

/** Stock wasmoon, in a fresh worker: spawn -> `doString('return 1 + 1')`. */
export function stockWasmoonColdStart(): Promise<number> {
  return bootWorker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.url).then(async (m) => {
       const engine = await new (m.LuaFactory ?? m.default.LuaFactory)().createEngine();
       parentPort.postMessage(engine.doStringSync('return 1 + 1'));
     });`,
    { url: import.meta.resolve('wasmoon') },
  );
}

/** A worker answering `call` messages the plain way, or through comlink. */
export interface EchoWorker {
  call(payload: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export function postMessageEcho(): EchoWorker {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (m) => parentPort.postMessage({ t: 'done', value: m.args }));`,
    { eval: true },
  );
  return {
    call: (payload) =>
      new Promise((resolve) => {
        w.once('message', resolve);
        w.postMessage(payload);
      }),
    close: async () => void (await w.terminate()),
  };
}

export async function comlinkEcho(): Promise<EchoWorker> {
  const comlinkUrl = import.meta.resolve('comlink/dist/esm/comlink.mjs');
  const adapterUrl = import.meta.resolve('comlink/dist/esm/node-adapter.mjs');
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     Promise.all([import(workerData.comlinkUrl), import(workerData.adapterUrl)]).then(([Comlink, adapter]) => {
       Comlink.expose({ call: (m) => ({ t: 'done', value: m.args }) }, adapter.default(parentPort));
     });`,
    { eval: true, workerData: { comlinkUrl, adapterUrl } },
  );
  const nodeEndpoint = ((await import(adapterUrl)) as { default: (w: Worker) => Comlink.Endpoint }).default;
  const remote = Comlink.wrap<{ call(m: unknown): unknown }>(nodeEndpoint(w));
  return {
    call: (payload) => Promise.resolve(remote.call(payload)),
    close: async () => {
      remote[Comlink.releaseProxy]();
      await w.terminate();
    },
  };
}

/** Resident memory of this process plus its child processes (Linux; elsewhere own RSS). */
export function rssBytes(): number {
  let total = process.memoryUsage().rss;
  try {
    const kids = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of kids) {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    }
  } catch {
    // not Linux: own RSS only
  }
  return total;
}

export async function settle(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 200));
}

/** Why a language's native backend cannot run here (its library is missing), or undefined. */
export function nativeMissing(language: 'python' | 'lua'): string | undefined {
  try {
    findNative(language);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export { redisMissing as distributedMissing } from './redis-server.js';

/**
 * A distributed deployment for the `distributed` workload: a private redis-server, workers
 * started one at a time as `scriptbox worker` processes, and a distributed pool.
 */
export async function distributed(language: 'python' | 'lua'): Promise<DistributedDeployment> {
  const { startRedis } = await import('./redis-server.js');
  const { startWorkerProcess } = await import('./worker-process.js');
  const { createDistributedPool } = await import('../distributed/pool.js');
  const redis = await startRedis();
  const workers: WorkerProcess[] = [];
  const args = ['--redis', redis.url, '--lang', language];
  let pool: DistributedPool | undefined;
  const close = async () => {
    await pool?.dispose();
    for (const w of workers) await w.stop();
    await redis.stop();
  };
  try {
    pool = await createDistributedPool(language, { redis: redis.url });
    const addWorker = async () => {
      workers.push(await startWorkerProcess(args, `bench-${workers.length + 1}`));
    };
    await addWorker();
    const p = pool;
    return { addWorker, exec: (code) => p.exec(code), close };
  } catch (e) {
    await close();
    throw e;
  }
}
