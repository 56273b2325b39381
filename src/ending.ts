/**
 * Something that ends once (an engine disposed, a worker gone) and that many short waits
 * race against. `Promise.race([wait, forever])` leaves a reaction on `forever` for every
 * race, freed only when `forever` settles: racing a promise that lives as long as an engine
 * kept about 1 KB per call alive. An Ending forgets each race as soon as it is over.
 */
export class Ending<T> {
  private result: { value: T } | undefined;
  private readonly waiting = new Set<(value: T) => void>();

  /** Ends it (the first call wins): every race still waiting settles now. */
  end(value: T): void {
    if (this.result) return;
    this.result = { value };
    for (const settle of this.waiting) settle(value);
    this.waiting.clear();
  }

  /** The value it ended with, once it has ended. */
  get ended(): { value: T } | undefined {
    return this.result;
  }

  /**
   * Settles as `p` does, or with what `onEnd` returns (or throws) if this ends first. Once
   * settled it holds no reference to either side.
   */
  race<R, E>(p: PromiseLike<R>, onEnd: (value: T) => E): Promise<R | E> {
    return new Promise<R | E>((resolve, reject) => {
      const settle = (value: T) => {
        try {
          resolve(onEnd(value));
        } catch (e) {
          reject(e);
        }
      };
      if (this.result) settle(this.result.value);
      else this.waiting.add(settle);
      p.then(
        (v) => {
          this.waiting.delete(settle);
          resolve(v);
        },
        (e: unknown) => {
          this.waiting.delete(settle);
          reject(e);
        },
      );
    });
  }
}

const endings = new WeakMap<Promise<unknown>, object>();

/** An Ending for a promise that settles at most once in a long life (one reaction on it, however many races). */
export function endingOf<T>(p: Promise<T>): Ending<T> {
  let e = endings.get(p) as Ending<T> | undefined;
  if (!e) {
    const ending = new Ending<T>();
    // Only a fulfilment ends it; a promise that rejects here has no value to end with.
    p.then(
      (v) => ending.end(v),
      () => undefined,
    );
    endings.set(p, ending as object);
    e = ending;
  }
  return e;
}
