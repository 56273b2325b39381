/**
 * The browser's environment for the platform-neutral bench harness (src/bench/runner.ts),
 * as src/node/bench-env.ts is Node's: engines from the public API, baselines measured
 * with Web Workers, and Cache Storage in a new realm standing in for Node's disk cache.
 * Stock Pyodide and wasmoon boots are not measured here (their rows get no ratio).
 */
import type { BenchEnv } from '../../src/bench/runner.js';
import { createEngine } from '../../src/index.js';
import { shortUserAgent } from './report.js';
import { comlinkEcho, echoWorker, freshRealmColdStart } from './workers.js';

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function browserBenchEnv(): BenchEnv {
  let cacheFilled = false;
  return {
    node: false,
    cpus: navigator.hardwareConcurrency || 0,
    nodeVersion: 'none (browser)',
    platform: shortUserAgent(navigator.userAgent),
    baselines: {
      postMessageEcho() {
        const w = echoWorker();
        return { call: (p) => w.call(p), close: async () => w.close() };
      },
      comlinkEcho: async () => comlinkEcho(),
    },
    // The page runs no memory workload: a page cannot read its own resident memory.
    rssBytes: () => 0,
    // Lets the previous engine's teardown finish off the clock (a page cannot force a GC).
    settle: () => pause(100),
    createEngine,
    async snapshotCacheColdStart() {
      if (!cacheFilled) {
        // Untimed: leaves a snapshot in Cache Storage (booting from scratch if there is none yet).
        await freshRealmColdStart(false);
        cacheFilled = true;
      }
      return freshRealmColdStart(true);
    },
  };
}
