/**
 * One request to a core under the escalation ladder (DESIGN §5): when the deadline passes
 * or the caller aborts, the running code is interrupted in place; if it has not stopped
 * after `graceMs`, its worker or process is killed (the engine restarts it later).
 */
import { InterruptReason } from './channel/sab-channel.js';
import { HostCallError } from './core.js';
import type { Answer, Connection, RequestHandlers } from './placement/connection.js';
import type { ToEngine } from './channel/protocol.js';

export interface StopRules {
  timeoutMs: number;
  graceMs: number;
  signal?: AbortSignal | undefined;
}

/** How the request ended. `stoppedBy` says whether a timeout or an abort stepped in. */
export type Ending =
  | { t: 'answer'; answer: Answer; stoppedBy: 'timeout' | 'abort' | null }
  /** The code ignored the interrupt: the caller must kill the core. */
  | { t: 'unresponsive'; stoppedBy: 'timeout' | 'abort' }
  /** The worker or process died on its own. */
  | { t: 'died'; error: Error }
  /** The channel broke (the core sent something unreadable). */
  | { t: 'broken'; error: Error };

/**
 * Runs `msg` on `conn`. `handlers` gets a promise that rejects when the request is stopped,
 * so a script waiting on a slow async host function is released at once.
 */
export async function requestWithin(
  conn: Connection,
  msg: ToEngine,
  handlers: (stop: Promise<never>) => RequestHandlers,
  rules: StopRules,
): Promise<Ending> {
  conn.clearInterrupt();
  let stoppedBy: 'timeout' | 'abort' | null = null;
  let interruptTimer: ReturnType<typeof setTimeout> | undefined;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  let rejectStop!: (e: Error) => void;
  const stop = new Promise<never>((_, rej) => (rejectStop = rej));
  stop.catch(() => {});
  let giveUp!: () => void;
  const unresponsive = new Promise<'unresponsive'>((resolve) => (giveUp = () => resolve('unresponsive')));
  const escalate = (why: 'timeout' | 'abort') => {
    if (stoppedBy) return;
    stoppedBy = why;
    clearTimeout(interruptTimer);
    conn.interrupt(why === 'timeout' ? InterruptReason.Timeout : InterruptReason.Abort);
    rejectStop(
      new HostCallError(
        why === 'timeout'
          ? { type: 'TimeoutError', message: 'the call timed out while waiting for the host' }
          : { type: 'AbortError', message: 'the call was aborted while waiting for the host' },
      ),
    );
    // Without shared memory the interrupt cannot reach running code: kill at once.
    killTimer = setTimeout(giveUp, conn.canInterrupt ? rules.graceMs : 0);
  };
  interruptTimer = setTimeout(() => escalate('timeout'), rules.timeoutMs);
  const onAbort = () => escalate('abort');
  rules.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await Promise.race([conn.request(msg, handlers(stop)), unresponsive, conn.died]);
    if (res === 'unresponsive') return { t: 'unresponsive', stoppedBy: stoppedBy! };
    if (res instanceof Error) return { t: 'died', error: res };
    return { t: 'answer', answer: res, stoppedBy };
  } catch (e) {
    return { t: 'broken', error: e as Error };
  } finally {
    clearTimeout(interruptTimer);
    clearTimeout(killTimer);
    rules.signal?.removeEventListener('abort', onAbort);
  }
}
