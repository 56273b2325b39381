/** baseline/postMessage: a worker that answers each message, as the Node harness's echo worker does. */
const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<{ args?: unknown }>) => void) | null; postMessage(m: unknown): void };
scope.onmessage = (e) => scope.postMessage({ t: 'done', value: e.data.args });
