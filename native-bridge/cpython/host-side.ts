/**
 * The host side of one running request: when it must stop (interrupt word, watchdog,
 * deadline) and how the requests Python sends through the transport are answered. These
 * are the wasm backend's device answers (wasm/python/core.ts serveDevice) plus printed
 * text; sleeps wait on the interrupt word, so time.sleep ends at once on a stop.
 */
import { HostCallError, type CoreEnv } from '../../src/core.js';
import type { ScriptValue } from '../../src/values.js';
import type { OutputCapture } from '../../src/lang/output.js';
import { C_STOP, C_WORD } from './control.js';
import type { NativeRequest } from './transport.js';

/** Why a request stopped. */
export type Stop = null | 'interrupted' | 'timeout' | 'aborted';

/** The interrupt word's codes (and the watchdog's C_STOP). */
export const STOP_OF_CODE: Record<number, Exclude<Stop, null>> = { 1: 'interrupted', 2: 'timeout', 3: 'aborted' };

/** One engine's request state, answering Python's requests while a request runs. */
export class HostSide {
  stop: Stop = null;
  /** performance.now() deadline of the running request. */
  deadline = Infinity;

  constructor(
    private readonly env: CoreEnv,
    private readonly out: OutputCapture,
    private readonly ctrl: () => Float64Array,
  ) {}

  /** Starts a request's bookkeeping. */
  begin(timeoutMs: number): void {
    this.stop = null;
    this.deadline = performance.now() + timeoutMs;
  }

  /** Non-zero once the request must stop (and from then on). */
  poll(): number {
    if (this.stop === null) {
      const word = Atomics.load(this.env.interruptWord, 0);
      const code = this.ctrl()[C_STOP]!;
      if (word !== 0) this.stop = word === 2 ? 'timeout' : word === 3 ? 'aborted' : 'interrupted';
      else if (code) this.stop = STOP_OF_CODE[code] ?? 'interrupted';
      else if (performance.now() > this.deadline) this.stop = 'timeout';
      else return 0;
    }
    return 2;
  }

  /** Answers one request from Python (its reply goes back as wire text). */
  serve(req: NativeRequest): unknown {
    try {
      return this.answer(req);
    } finally {
      // The watchdog's copy of a word it cannot read in place (a host function may set it).
      this.ctrl()[C_WORD] = Atomics.load(this.env.interruptWord, 0);
    }
  }

  private answer(req: NativeRequest): unknown {
    switch (req[0]) {
      case 'out':
        for (const [which, text] of req[1]) this.out.write(which ? 'stderr' : 'stdout', text);
        return null;
      case 'sleep': {
        const ms = Math.max(0, Math.min(req[1] * 1000, this.deadline - performance.now()));
        const word = this.env.interruptWord;
        if (ms > 0 && Atomics.load(word, 0) === 0) {
          try {
            Atomics.wait(word, 0, 0, ms);
          } catch {
            // Not a shared buffer (inline): nothing can change the word while this thread waits.
            const end = performance.now() + ms;
            while (performance.now() < end && Atomics.load(word, 0) === 0);
          }
        }
        return this.poll() !== 0 ? 'interrupted' : 'ok';
      }
      case 'astart':
        this.out.flush();
        try {
          return [true, this.env.hostStart(req[1], req[2] as ScriptValue[])];
        } catch (e) {
          if (e instanceof HostCallError) return [false, e.failure];
          throw e;
        }
      case 'await': {
        const ms = Math.max(0, Math.min(req[1] * 1000, this.deadline - performance.now()));
        return this.env.hostWait(ms);
      }
      case 'call': {
        this.out.flush();
        try {
          return [true, this.env.hostCall(req[1], req[2] as ScriptValue[])];
        } catch (e) {
          if (e instanceof HostCallError) return [false, e.failure];
          return [false, { type: 'HostError', message: (e as Error)?.message ?? String(e) }];
        }
      }
    }
    throw new Error(`unknown request ${String((req as unknown[])[0])}`);
  }
}
