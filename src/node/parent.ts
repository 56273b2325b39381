/** Node glue for the worker side: the parent port as a ParentEndpoint. */
import { parentPort } from 'node:worker_threads';
import type { ParentEndpoint } from '../channel/endpoint.js';

export function nodeParent(): ParentEndpoint {
  const port = parentPort;
  if (!port) throw new Error('not running in a worker thread');
  return {
    post: (m, t) => port.postMessage(m, (t ?? []) as never),
    onMessage: (cb) => port.on('message', cb),
  };
}
