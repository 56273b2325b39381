/** Starts the engine worker as a module Web Worker (browsers). */
import { webWorkerEndpoint, type Endpoint } from '../channel/endpoint.js';

export function spawnWebWorker(): Endpoint {
  const worker = new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module', name: 'scriptbox-engine' });
  return webWorkerEndpoint(worker);
}

/** Where the browser loads engine assets from; the `scriptbox/vite` plugin serves them here. */
export const ASSET_BASE = '/@scriptbox/';
