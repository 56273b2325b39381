/**
 * One small adapter over Node's worker_threads and the browser's Web Worker, so the
 * placement code is written once.
 */
export interface Endpoint {
  post(message: unknown, transfer?: Transferable[]): void;
  onMessage(cb: (message: unknown) => void): void;
  /** Called once when the worker ends for any reason other than terminate(). */
  onExit(cb: (error: Error) => void): void;
  terminate(): Promise<void>;
  /**
   * Called once the core in this worker answered, with what it booted from: a pre-starting
   * spawner starts its next spare then, restoring the same snapshot ahead.
   */
  booted?(from: BootedFrom): void;
}

/** What a core booted from, for a spare worker to restore ahead of the next core. */
export interface BootedFrom {
  snapshot?: Uint8Array | undefined;
  pyodideModule?: WebAssembly.Module | undefined;
}

/** The worker side's view of its parent. */
export interface ParentEndpoint {
  post(message: unknown, transfer?: Transferable[]): void;
  onMessage(cb: (message: unknown) => void): void;
}

/** Wraps a browser Web Worker. */
export function webWorkerEndpoint(worker: Worker): Endpoint {
  let exited: ((e: Error) => void) | undefined;
  let done = false;
  worker.addEventListener('error', (ev) => {
    if (done) return;
    done = true;
    exited?.(new Error(`the engine's Web Worker failed: ${ev.message || 'unknown error'}`));
  });
  return {
    post: (m, t) => worker.postMessage(m, t ?? []),
    onMessage: (cb) => worker.addEventListener('message', (ev) => cb(ev.data)),
    onExit: (cb) => {
      exited = cb;
    },
    terminate: async () => {
      done = true;
      worker.terminate();
    },
  };
}
