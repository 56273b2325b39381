/**
 * Hardens the realm a sandboxed core runs in, once the core has booted and before any
 * script runs. A script should never hold a JavaScript object (DESIGN §5), but if one
 * leaks, it must not turn into code or I/O: every function's `.constructor` (the way from
 * any object to `Function`) is cut, `eval` throws, and on Node the modules that reach the
 * host (processes, network, files) refuse to work in this thread.
 */
function denied(what: string): () => never {
  return () => {
    const e = new Error(`${what} is not available inside the ScriptBox sandbox`) as Error & { code: string };
    e.code = 'ERR_ACCESS_DENIED';
    throw e;
  };
}

type NodeHardening = typeof import('../node/harden-realm.js');
let nodeHardening: Promise<NodeHardening | undefined> | undefined;

/**
 * Starts loading what hardening needs (on Node, the modules it locks down), so that work
 * overlaps the core's boot instead of following it. hardenRealm calls it too.
 */
export function prepareRealmHardening(): void {
  const g = globalThis as Record<string, unknown>;
  if (nodeHardening) return;
  nodeHardening =
    g.process && (g.process as { versions?: { node?: string } }).versions?.node
      ? (import(/* @vite-ignore */ '../node/harden-realm.js' as string) as Promise<NodeHardening>)
      : Promise.resolve(undefined);
  // A failed load surfaces when hardenRealm awaits it (and the boot fails), not as an
  // unhandled rejection before: this handler only marks the promise as handled.
  nodeHardening.catch(() => undefined);
}

/**
 * Hardens this realm for good: run once the core has booted (its modules are loaded) and
 * before any script runs. Nothing undoes it.
 */
export async function hardenRealm(): Promise<void> {
  const g = globalThis as Record<string, unknown>;
  prepareRealmHardening();
  (await nodeHardening)?.hardenNodeRealm(denied);
  // (`gc` exists where Node runs with --expose-gc, as the process placement's child does.)
  for (const name of [
    'eval',
    'fetch',
    'XMLHttpRequest',
    'WebSocket',
    'EventSource',
    'importScripts',
    'BroadcastChannel',
    'SharedWorker',
    'Worker',
    'gc',
  ]) {
    if (name in g) Object.defineProperty(g, name, { value: denied(name), writable: false, configurable: false });
  }
  for (const name of ['setTimeout', 'setInterval'] as const) {
    const orig = g[name] as (fn: unknown, ...rest: unknown[]) => unknown;
    // Browsers compile a string argument: only functions may be scheduled.
    const safe = function (this: unknown, fn: unknown, ...rest: unknown[]) {
      if (typeof fn !== 'function') throw new TypeError(`${name} takes a function`);
      return orig.call(this, fn, ...rest);
    };
    Object.defineProperty(g, name, { value: safe, writable: false, configurable: false });
  }
  for (const f of [function () {}, async function () {}, function* () {}, async function* () {}]) {
    Object.defineProperty(Object.getPrototypeOf(f), 'constructor', { value: undefined, writable: false, configurable: false });
  }
}
