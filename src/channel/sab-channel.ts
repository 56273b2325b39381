/**
 * A duplex message channel over one SharedArrayBuffer.
 *
 * Two single-slot mailboxes (host -> engine, engine -> host) plus an interrupt word.
 * A message larger than a slot goes in chunks. Each side waits by spinning briefly
 * (a reply usually lands within microseconds, and waking from Atomics.wait costs 3-6x
 * more than a short spin here) and then really sleeps, so an idle engine burns no core.
 * The engine side waits synchronously (it may be inside a script); the host side never
 * blocks its thread for longer than the spin.
 */

import type { Ending } from '../ending.js';
import { concatBytes } from '../values.js';

const HEADER_INTS = 16;
/** Index of the interrupt word: 0 = run, otherwise an {@link InterruptReason}. */
export const INTERRUPT_INDEX = 0;
const BOX_INTS = 4; // state, length, more, spare
const EMPTY = 0;
const FULL = 1;

export const enum InterruptReason {
  None = 0,
  User = 1,
  Timeout = 2,
  Abort = 3,
}

export interface ChannelLayout {
  sab: SharedArrayBuffer;
  slotBytes: number;
}

/**
 * Creates the shared memory for one channel. A slot holds a 1 MiB value and its message in
 * one piece: every further piece costs each side a wake-up. Pages a channel never touched
 * take no memory.
 */
export function createChannelLayout(slotBytes = 2 * 1024 * 1024): ChannelLayout {
  const sab = new SharedArrayBuffer(HEADER_INTS * 4 + 2 * slotBytes);
  return { sab, slotBytes };
}

/** A wait the protocol needs: until `i32[index]` is no longer `value`. */
interface WaitFor {
  index: number;
  value: number;
}

type Steps<T> = Generator<WaitFor, T, void>;

class Mailbox {
  private readonly data: Uint8Array;
  constructor(
    private readonly i32: Int32Array,
    private readonly base: number,
    sab: SharedArrayBuffer,
    offset: number,
    private readonly slot: number,
  ) {
    this.data = new Uint8Array(sab, offset, slot);
  }

  *send(bytes: Uint8Array): Steps<void> {
    const { i32, base } = this;
    let pos = 0;
    do {
      if (Atomics.load(i32, base) !== EMPTY) yield { index: base, value: FULL };
      const n = Math.min(this.slot, bytes.length - pos);
      this.data.set(bytes.subarray(pos, pos + n));
      pos += n;
      i32[base + 1] = n;
      i32[base + 2] = pos < bytes.length ? 1 : 0;
      Atomics.store(i32, base, FULL);
      Atomics.notify(i32, base);
    } while (pos < bytes.length);
  }

  *receive(): Steps<Uint8Array> {
    const { i32, base } = this;
    const parts: Uint8Array[] = [];
    for (;;) {
      if (Atomics.load(i32, base) !== FULL) yield { index: base, value: EMPTY };
      const n = i32[base + 1]!;
      const more = i32[base + 2] === 1;
      parts.push(this.data.slice(0, n));
      Atomics.store(i32, base, EMPTY);
      Atomics.notify(i32, base);
      if (!more) break;
    }
    return concatBytes(parts);
  }
}

/** How long a side spins before it sleeps, in milliseconds. */
export interface SpinOptions {
  spinMs: number;
}

function spinUntil(i32: Int32Array, w: WaitFor, spinMs: number): boolean {
  if (spinMs <= 0) return Atomics.load(i32, w.index) !== w.value;
  const end = performance.now() + spinMs;
  do {
    for (let k = 0; k < 64; k++) if (Atomics.load(i32, w.index) !== w.value) return true;
  } while (performance.now() < end);
  return false;
}

function driveSync<T>(i32: Int32Array, steps: Steps<T>, spinMs: number, onIdle?: () => void): T {
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    const w = r.value;
    if (spinUntil(i32, w, spinMs)) continue;
    while (Atomics.load(i32, w.index) === w.value) {
      if (Atomics.wait(i32, w.index, w.value, 1000) === 'timed-out') onIdle?.();
    }
  }
}

const rethrow = (e: Error): never => {
  throw e;
};

/**
 * The host's side of a transfer: synchronous while the other side keeps up (no promise,
 * no microtask: most calls), asynchronous from the first wait that outlasts the spin.
 */
function driveHost<T>(i32: Int32Array, steps: Steps<T>, spinMs: number, gone: Ending<Error>): T | Promise<T> {
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    const w = r.value;
    if (!spinUntil(i32, w, spinMs)) return sleepThenDrive(i32, steps, w, spinMs, gone);
  }
}

async function sleepThenDrive<T>(i32: Int32Array, steps: Steps<T>, w: WaitFor, spinMs: number, gone: Ending<Error>): Promise<T> {
  while (Atomics.load(i32, w.index) === w.value) {
    const res = Atomics.waitAsync(i32, w.index, w.value);
    if (res.async) await gone.race(res.value, rethrow);
  }
  return driveHost(i32, steps, spinMs, gone);
}

function mailboxes(layout: ChannelLayout): { i32: Int32Array; toEngine: Mailbox; toHost: Mailbox } {
  const i32 = new Int32Array(layout.sab, 0, HEADER_INTS);
  const dataStart = HEADER_INTS * 4;
  return {
    i32,
    toEngine: new Mailbox(i32, 4, layout.sab, dataStart, layout.slotBytes),
    toHost: new Mailbox(i32, 4 + BOX_INTS, layout.sab, dataStart + layout.slotBytes, layout.slotBytes),
  };
}

/** The host end: never blocks longer than `spinMs`; answers synchronously when the engine kept up. */
export class HostChannel {
  private readonly i32: Int32Array;
  private readonly toEngine: Mailbox;
  private readonly toHost: Mailbox;
  /** `gone` ends with the error a wait fails with once the engine's side is gone. */
  constructor(
    layout: ChannelLayout,
    private readonly gone: Ending<Error>,
    private readonly spinMs = 0.05,
  ) {
    ({ i32: this.i32, toEngine: this.toEngine, toHost: this.toHost } = mailboxes(layout));
  }
  send(bytes: Uint8Array): void | Promise<void> {
    return driveHost(this.i32, this.toEngine.send(bytes), this.spinMs, this.gone);
  }
  receive(): Uint8Array | Promise<Uint8Array> {
    return driveHost(this.i32, this.toHost.receive(), this.spinMs, this.gone);
  }
  interrupt(reason: InterruptReason): void {
    Atomics.store(this.i32, INTERRUPT_INDEX, reason);
    // Wakes a script that sleeps on the word (Python's time.sleep).
    Atomics.notify(this.i32, INTERRUPT_INDEX);
  }
  clearInterrupt(): void {
    Atomics.store(this.i32, INTERRUPT_INDEX, InterruptReason.None);
  }
}

/** The engine end: synchronous, so a script can block on a host call. */
export class EngineChannel {
  readonly interruptWord: Int32Array;
  private readonly i32: Int32Array;
  private readonly toEngine: Mailbox;
  private readonly toHost: Mailbox;
  constructor(
    layout: ChannelLayout,
    private readonly spinMs = 0.2,
  ) {
    ({ i32: this.i32, toEngine: this.toEngine, toHost: this.toHost } = mailboxes(layout));
    this.interruptWord = new Int32Array(layout.sab, INTERRUPT_INDEX * 4, 1);
  }
  send(bytes: Uint8Array): void {
    driveSync(this.i32, this.toHost.send(bytes), this.spinMs);
  }
  receive(onIdle?: () => void): Uint8Array {
    return driveSync(this.i32, this.toEngine.receive(), this.spinMs, onIdle);
  }
}
