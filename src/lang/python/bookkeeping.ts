/**
 * Bookkeeping entries (release, handle_count, set_host_names, reset) run as requests, in
 * both Python backends: they can run script code (`__del__`, a gc callback, a profile
 * hook), so the interrupt word and the memory cap are honoured while they run. The host's
 * ladder keeps the deadline (it interrupts at limits.timeoutMs, then kills). The
 * EngineCore methods for them return plain values, so a stop throws StoppedRequest.
 */
import type { CapturedOutput, CoreFailure } from '../../channel/protocol.js';
import { StoppedRequest } from '../../placement/stopped.js';

/** How a core runs a request around a bookkeeping entry. */
export interface BookkeepingRequest {
  /** Starts the request (no deadline of its own, no streaming). */
  begin(): void;
  /** Ends it: the stop that cut it short, if any, and what it printed. */
  end(threw: boolean): { stop: CoreFailure | undefined; out: CapturedOutput };
}

/** Runs `entry` as a request: its value; a stop throws StoppedRequest, anything else it threw is thrown again. */
export function bookkeeping<T>(request: BookkeepingRequest, entry: () => T): T {
  request.begin();
  let value: T | undefined;
  let thrown: unknown;
  let ok = false;
  try {
    value = entry();
    ok = true;
  } catch (e) {
    thrown = e;
  }
  const { stop, out } = request.end(!ok);
  if (stop) throw new StoppedRequest(stop, out);
  if (!ok) throw thrown;
  return value as T;
}
