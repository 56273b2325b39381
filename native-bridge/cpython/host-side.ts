/**
 * The host side of one running request: when it must stop (interrupt word, watchdog,
 * deadline) and how the requests Python sends through the transport are answered: the
 * shared Python requests (src/lang/python/requests.ts), plus the text the hub printed
 * (`out`). Sleeps wait on the interrupt word, so time.sleep ends at once on a stop.
 */
import type { CoreEnv } from '../../src/core.js';
import type { OutputCapture } from '../../src/lang/output.js';
import { stopOf } from '../../src/lang/python/failures.js';
import { serveRequest, type RequestContext } from '../../src/lang/python/requests.js';
import { C_STOP, C_WORD } from './control.js';
import type { NativeRequest } from './transport.js';

/** Why a request stopped. */
export type Stop = null | 'interrupted' | 'timeout' | 'aborted';

/** One engine's request state, answering Python's requests while a request runs. */
export class HostSide {
  stop: Stop = null;
  /** performance.now() deadline of the running request. */
  deadline = Infinity;
  private readonly requests: RequestContext;

  constructor(
    private readonly env: CoreEnv,
    private readonly out: OutputCapture,
    private readonly ctrl: () => Float64Array,
  ) {
    this.requests = { env, out, deadline: () => this.deadline, poll: () => this.poll() };
  }

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
      if (word !== 0) this.stop = stopOf(word);
      else if (code) this.stop = stopOf(code);
      else if (performance.now() > this.deadline) this.stop = 'timeout';
      else return 0;
    }
    return 2;
  }

  /** Answers one request from Python (its reply goes back as wire text). */
  serve(req: NativeRequest): unknown {
    try {
      if (req[0] !== 'out') return serveRequest(req, this.requests);
      for (const [which, text] of req[1]) this.out.write(which ? 'stderr' : 'stdout', text);
      return null;
    } finally {
      // The watchdog's copy of a word it cannot read in place (a host function may set it).
      this.ctrl()[C_WORD] = Atomics.load(this.env.interruptWord, 0);
    }
  }
}
