/**
 * Helpers for the security suites that try to wedge an engine: a bounded wait that fails
 * the test when a promise is still pending (a hang detector, not a speed check: the bound
 * is far above what any answer needs), and an explicit GC for FinalizationRegistry paths.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How long a promise may stay pending before the test calls it a hang. */
export const HANG_MS = 90_000;

/**
 * Resolves with how `p` settled. Fails (rejects) if it is still pending after `ms`: a
 * promise that never settles is the bug these suites look for.
 */
export async function settles<T>(
  p: Promise<T>,
  what: string,
  ms = HANG_MS,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was still pending after ${ms} ms: it never settles`)), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The value `p` resolves with; fails the test if it rejects or hangs. */
export async function answers<T>(p: Promise<T>, what: string): Promise<T> {
  const r = await settles(p, what);
  if (!r.ok) throw new Error(`${what} rejected: ${String((r.error as Error)?.stack ?? r.error)}`);
  return r.value;
}

/** The error `p` rejects with; fails the test if it resolves or hangs. */
export async function rejects(p: Promise<unknown>, what: string): Promise<unknown> {
  const r = await settles(p, what);
  if (r.ok) throw new Error(`${what} resolved with ${JSON.stringify(r.value)}; expected a rejection`);
  return r.error;
}

let gcFn: (() => void) | undefined;

/** A full garbage collection now (exposes V8's gc() for this process if needed). */
export function collectGarbage(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}
