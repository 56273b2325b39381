/**
 * What a placement gives the engine: a way to send one request to a core and get its
 * answer, serving the core's host calls and output meanwhile.
 */
import type { AsyncHostResult, ToEngine, ToHost } from '../channel/protocol.js';
import type { InterruptReason } from '../channel/sab-channel.js';
import { HostCallError, type CoreBoot, type CoreInit } from '../core.js';
import { ScriptBoxError } from '../errors.js';
import { checkValue, type ScriptValue } from '../values.js';
import { MAX_TIMER_MS } from '../options.js';

export type PlacementKind = 'worker' | 'inline' | 'process';

/** How the engine serves a core during one request. */
export interface RequestHandlers {
  /**
   * A host call from the script: the value at once when the host function answered at once,
   * else a promise. Throws (or rejects) with a HostCallError for the script to see.
   */
  hostCall(name: string, args: ScriptValue[]): ScriptValue | Promise<ScriptValue>;
  /** The same, for cores that run on the caller's thread and cannot wait. */
  hostCallSync(name: string, args: ScriptValue[]): ScriptValue;
  output(stream: 'stdout' | 'stderr', text: string): void;
}

export type Answer = Extract<ToHost, { t: 'done' | 'failed' | 'stats' }>;

export interface Connection {
  readonly placement: PlacementKind;
  /**
   * True when interrupt() can stop running code in place (else timeouts must kill). Read
   * when a stop escalates: a worker over postMessage can stop a request only when it waits
   * for host.aio results, so only one that has waited before is given graceMs.
   */
  readonly canInterrupt: boolean;
  /**
   * False when kill() cannot stop running code (native code in a worker thread: Node cannot
   * end a thread inside C): the ladder then waits for the core instead of killing it.
   */
  readonly canKill?: boolean;
  /** Resolves with the reason when the worker or process dies on its own. */
  readonly died: Promise<Error>;
  /** How the core booted: restored from a snapshot, or from scratch with the snapshot it took if asked. */
  readonly boot?: CoreBoot;
  request(msg: ToEngine, handlers: RequestHandlers): Promise<Answer>;
  /**
   * Inline only: runs a call on the caller's thread right now, without the request machinery
   * (the core keeps its own deadline, and nothing could interrupt it anyway). The answer is
   * synchronous when the core's is.
   */
  requestNow?(msg: Extract<ToEngine, { t: 'call' | 'callMethod' }>, handlers: RequestHandlers): Answer | Promise<Answer>;
  interrupt(reason: InterruptReason): void;
  /** Clears the interrupt word before the next request. */
  clearInterrupt(): void;
  /** Stops the core now (terminate the worker / kill the process). */
  kill(): Promise<void>;
}

export type ConnectionFactory = (init: CoreInit) => Promise<Connection>;

/** A host function's failure as the script sees it: plain data, never the JS error. */
export function failureOf(e: unknown): { type: string; message: string } {
  if (e instanceof HostCallError) return e.failure;
  if (e instanceof ScriptBoxError) {
    const type = e.code === 'PERMISSION_DENIED' ? 'PermissionError' : e.name;
    return { type, message: e.message };
  }
  const err = e as Error;
  return { type: err?.name ?? 'Error', message: String(err?.message ?? e) };
}

/**
 * Runs one host call for a core on the far side of a channel and builds its answer: at once
 * when the host function answered at once (no promise, no microtask), else later.
 */
export function serveHostCall(h: RequestHandlers, name: string, args: ScriptValue[], maxDepth: number): ToEngine | Promise<ToEngine> {
  const returned = (value: ScriptValue): ToEngine => {
    try {
      return { t: 'hostReturn', ok: true, value: checkValue(value, { maxDepth, root: `result of host.${name}` }) };
    } catch (e) {
      return failed(e);
    }
  };
  const failed = (e: unknown): ToEngine => ({ t: 'hostReturn', ok: false, error: failureOf(e) });
  let got: ScriptValue | Promise<ScriptValue>;
  try {
    got = h.hostCall(name, args);
  } catch (e) {
    return failed(e);
  }
  return got instanceof Promise ? got.then(returned, failed) : returned(got);
}

/**
 * The host half of non-blocking host calls (Python's `host.aio`) for one request: calls
 * start when the engine says so and run concurrently; `wait` hands over what finished.
 */
export class AsyncHostCalls {
  private readonly done: AsyncHostResult[] = [];
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly h: RequestHandlers,
    private readonly maxDepth: number,
  ) {}

  start(id: number, name: string, args: ScriptValue[]): void {
    void Promise.resolve(serveHostCall(this.h, name, args, this.maxDepth)).then((ret) => {
      const r = ret as Extract<ToEngine, { t: 'hostReturn' }>;
      // Kept until the engine collects it: bytes are copied, since a host function may answer
      // with a view of a buffer it reuses once its answer was handed on (MountedFiles.pread).
      const value = r.ok && r.value instanceof Uint8Array ? r.value.slice() : r.ok ? r.value : undefined;
      this.done.push(r.ok ? { id, ok: true, value: value as ScriptValue } : { id, ok: false, error: r.error });
      this.wakeUp?.();
    });
  }

  /** What finished, waiting up to `timeoutMs` for at least one (or a wake()). */
  async wait(timeoutMs: number): Promise<Extract<ToEngine, { t: 'hostResults' }>> {
    if (this.done.length === 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        // A longer timer would fire at once (timers hold a signed 32-bit count of ms).
        const timer = setTimeout(resolve, Math.min(timeoutMs, MAX_TIMER_MS));
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
    return { t: 'hostResults', results: this.done.splice(0) };
  }

  /** Ends a wait now (the request is being stopped). */
  wake(): void {
    this.wakeUp?.();
  }
}
