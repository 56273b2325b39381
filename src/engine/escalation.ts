/**
 * One request to a core under the escalation ladder (DESIGN §5): when the deadline passes,
 * the caller aborts or calls interrupt(), the running code is interrupted in place; if it
 * has not stopped after `graceMs`, its worker or process is killed (the engine restarts
 * it later). A core that cannot be killed (native code in a worker thread) is waited for.
 */
import type { ToEngine } from '../channel/protocol.js';
import { InterruptReason } from '../channel/sab-channel.js';
import { HostCallError } from '../core.js';
import { FAILURES } from '../errors.js';
import type { Answer, Connection, RequestHandlers } from '../placement/connection.js';
import { RequestStop } from './request-stop.js';
import { endingOf } from '../ending.js';

export interface StopRules {
  timeoutMs: number;
  graceMs: number;
  signal?: AbortSignal | undefined;
  /** Receives the function that interrupts this request (the engine's interrupt()). */
  onInterrupt?: (interrupt: () => void) => void;
}

type StoppedBy = 'timeout' | 'abort' | 'interrupt';

/** What a script waiting on the host is told when its request is stopped (types from the error table). */
const STOPPED_WAITING = {
  timeout: { type: FAILURES.timeout.scriptType!, message: 'the call timed out while waiting for the host' },
  abort: { type: FAILURES.aborted.scriptType!, message: 'the call was aborted while waiting for the host' },
  interrupt: { type: FAILURES.interrupted.scriptType!, message: 'the call was interrupted while waiting for the host' },
} as const;

const REASON = { timeout: InterruptReason.Timeout, abort: InterruptReason.Abort, interrupt: InterruptReason.User } as const;

/** How the request ended. `stoppedBy` says whether a timeout or an abort stepped in. */
export type Ending =
  | { t: 'answer'; answer: Answer; stoppedBy: StoppedBy | null }
  /** The code ignored the interrupt: the caller must kill the core. */
  | { t: 'unresponsive'; stoppedBy: StoppedBy }
  /** The worker or process died on its own. */
  | { t: 'died'; error: Error }
  /** The channel broke (the core sent something unreadable). */
  | { t: 'broken'; error: Error };

/**
 * Runs `msg` on `conn`. `handlers` gets the request's stop, so a script waiting on a slow
 * async host function is released at once when the request is stopped.
 */
export async function requestWithin(
  conn: Connection,
  msg: ToEngine,
  handlers: (stop: RequestStop) => RequestHandlers,
  rules: StopRules,
): Promise<Ending> {
  conn.clearInterrupt();
  let stoppedBy: StoppedBy | null = null;
  let interruptTimer: ReturnType<typeof setTimeout> | undefined;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = new RequestStop();
  let giveUp!: () => void;
  const unresponsive = new Promise<'unresponsive'>((resolve) => (giveUp = () => resolve('unresponsive')));
  const escalate = (why: StoppedBy) => {
    if (stoppedBy) return;
    stoppedBy = why;
    clearTimeout(interruptTimer);
    conn.interrupt(REASON[why]);
    stop.stop(new HostCallError({ ...STOPPED_WAITING[why] }));
    if (conn.canKill === false) return;
    // Without shared memory the interrupt cannot reach running code: kill at once.
    killTimer = setTimeout(giveUp, conn.canInterrupt ? rules.graceMs : 0);
  };
  rules.onInterrupt?.(() => escalate('interrupt'));
  interruptTimer = setTimeout(() => escalate('timeout'), rules.timeoutMs);
  const onAbort = () => escalate('abort');
  rules.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // conn.died lives as long as the core: raced through an Ending, not Promise.race (see src/ending.ts).
    const res = await endingOf(conn.died).race(Promise.race([conn.request(msg, handlers(stop)), unresponsive]), (e) => e);
    if (res === 'unresponsive') return { t: 'unresponsive', stoppedBy: stoppedBy! };
    if (res instanceof Error) return { t: 'died', error: res };
    return { t: 'answer', answer: res, stoppedBy };
  } catch (e) {
    return { t: 'broken', error: e as Error };
  } finally {
    clearTimeout(interruptTimer);
    clearTimeout(killTimer);
    rules.signal?.removeEventListener('abort', onAbort);
    // The request is over: host calls still running for it (an un-awaited host.aio receive)
    // are withdrawn, so they take nothing for a task nobody will see.
    if (!stoppedBy)
      stop.end(() => new HostCallError({ type: FAILURES.interrupted.scriptType!, message: 'the call that made this host call has ended' }));
  }
}
