/**
 * How a request tells the host functions still working for it that it is over (stopped, or
 * simply done): a promise to race and an AbortSignal to pass on. Both are made only when a
 * host call asks for them. Most requests make no host call, and an Error, a promise and an
 * AbortController per request were a measurable part of a call's round trip.
 */
export class RequestStop {
  private reason: Error | undefined;
  /** Set by end() when nothing was waiting: the reason, made if something asks later. */
  private endedBy: (() => Error) | undefined;
  private promise: Promise<never> | undefined;
  private rejectPromise: ((e: Error) => void) | undefined;
  private controller: AbortController | undefined;

  private settled(): Error | undefined {
    if (!this.reason && this.endedBy) this.reason = this.endedBy();
    return this.reason;
  }

  /** Rejects once the request is stopped or over. */
  get rejected(): Promise<never> {
    if (!this.promise) {
      const reason = this.settled();
      this.promise = reason ? Promise.reject(reason) : new Promise<never>((_, reject) => (this.rejectPromise = reject));
      // Host calls race this promise and see its rejection there; this only keeps a stop
      // with no host call waiting from being an unhandled rejection.
      this.promise.catch(() => undefined);
    }
    return this.promise;
  }

  /** Aborted once the request is stopped or over (what built-in host functions withdraw on). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      const reason = this.settled();
      if (reason) this.controller.abort(reason);
    }
    return this.controller.signal;
  }

  /** Stops the request: what waits on it sees `reason` (the first stop wins). */
  stop(reason: Error): void {
    if (this.settled()) return;
    this.reason = reason;
    this.rejectPromise?.(reason);
    this.controller?.abort(reason);
  }

  /** The request is over: what still waits sees the error `why` makes (made only if something waits). */
  end(why: () => Error): void {
    if (this.settled()) return;
    if (this.promise || this.controller) this.stop(why());
    else this.endedBy = why;
  }
}
