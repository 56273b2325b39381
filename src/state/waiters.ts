/**
 * Receivers waiting on channels: a FIFO of pending `receive` calls per channel name, each
 * with its own deadline. Stores take a message from storage only for a receiver that is
 * still waiting ({@link WaitingReceivers.next}), then hand it over; a receiver whose
 * deadline passed resolves `null` and is never given a message afterwards. A store whose
 * take is asynchronous (IndexedDB) first {@link Waiter.claimed claims} the receiver, so its
 * deadline cannot pass between the take and the hand-over. A receiver whose signal aborts
 * (its caller is gone) is removed at once; if it was claimed, {@link WaitingReceivers.live}
 * turns false and the store puts the message back instead of handing it over.
 */
import type { ScriptValue } from '../values.js';

// setTimeout fires at once for delays past 2^31 - 1 ms (about 24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What `receive` resolves to. */
export type Received = { message: ScriptValue } | null;

/** One pending receive. */
export interface Waiter {
  readonly channel: string;
  /** The store that made the call; closing it resolves its waiters `null`. */
  readonly owner: object;
  /** A message is on its way to this waiter: its deadline no longer applies. */
  claimed: boolean;
  /** Its caller went away (signal aborted) while it was claimed: it must not get the message. */
  gone: boolean;
  /** Resolved or rejected already. */
  done: boolean;
}

interface Entry extends Waiter {
  resolve(value: Received): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** The pending receives of one store (or of every store sharing one SQLite file). */
export class WaitingReceivers {
  private readonly byChannel = new Map<string, Entry[]>();
  private count = 0;

  /** How many receives are waiting. */
  get size(): number {
    return this.count;
  }

  /** Whether any receive waits on `channel`. */
  has(channel: string): boolean {
    return this.byChannel.has(channel);
  }

  /** Channel names with waiting receives. */
  channels(): string[] {
    return [...this.byChannel.keys()];
  }

  /**
   * Adds a receive that resolves `null` after `timeoutMs` unless a message reaches it first,
   * or at once when `signal` aborts (then it never gets a message).
   */
  wait(channel: string, timeoutMs: number, owner: object, signal?: AbortSignal): Promise<Received> {
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise<Received>((resolve, reject) => {
      const entry: Entry = {
        channel,
        owner,
        claimed: false,
        gone: false,
        done: false,
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
      };
      entry.timer = setTimeout(
        () => {
          entry.timer = undefined;
          if (!entry.claimed) this.finish(entry, null);
        },
        Math.min(timeoutMs, MAX_TIMER_MS),
      );
      if (signal) {
        entry.onAbort = () => {
          if (entry.claimed)
            entry.gone = true; // its message is in flight: the store puts it back
          else this.finish(entry, null);
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      const list = this.byChannel.get(channel);
      if (list) list.push(entry);
      else this.byChannel.set(channel, [entry]);
      this.count++;
    });
  }

  /** Whether `waiter` may still be handed a message: not finished, its caller not gone. */
  live(waiter: Waiter): boolean {
    return !waiter.done && !waiter.gone;
  }

  /** The oldest receive on `channel` that still waits and is not claimed. */
  next(channel: string): Waiter | undefined {
    return this.byChannel.get(channel)?.find((e) => !e.claimed);
  }

  /** Gives `message` to a waiter from {@link next}. */
  deliver(waiter: Waiter, message: ScriptValue): void {
    this.finish(waiter as Entry, { message });
  }

  /** Fails a waiter (its message could not be read). */
  fail(waiter: Waiter, error: unknown): void {
    const entry = waiter as Entry;
    if (entry.done) return;
    this.remove(entry);
    entry.reject(error);
  }

  /** Drops a claim that came to nothing: the waiter waits again, or resolves `null` if its deadline passed or its caller is gone. */
  unclaim(waiter: Waiter): void {
    const entry = waiter as Entry;
    entry.claimed = false;
    if (!entry.done && (entry.timer === undefined || entry.gone)) this.finish(entry, null);
  }

  /** Resolves every unclaimed waiter of `owner` with `null` (claimed ones still get their message). */
  cancel(owner: object): void {
    for (const list of [...this.byChannel.values()]) {
      for (const entry of [...list]) if (entry.owner === owner && !entry.claimed) this.finish(entry, null);
    }
  }

  private finish(entry: Entry, value: Received): void {
    if (entry.done) return;
    this.remove(entry);
    entry.resolve(value);
  }

  private remove(entry: Entry): void {
    entry.done = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    entry.onAbort = undefined;
    const list = this.byChannel.get(entry.channel);
    if (!list) return;
    const i = list.indexOf(entry);
    if (i >= 0) {
      list.splice(i, 1);
      this.count--;
    }
    if (list.length === 0) this.byChannel.delete(entry.channel);
  }
}
