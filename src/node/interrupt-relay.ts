/**
 * Interrupts for the process placement's child. The core runs on the child's main thread
 * and blocks it (a script, or a blocking read of the pipe), so stops come on a second pipe
 * (fd 4) that a small thread of the child reads and applies to the core's interrupt word
 * at once. The host's clears travel in order with the requests on the message pipe and are
 * applied by the main thread; each stop names the clear it follows (its epoch), so a stop
 * that arrives after the next request's clear is dropped instead of stopping that request.
 */
import { Socket } from 'node:net';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { STOP_RECORD_BYTES, readStopRecord } from '../channel/frames.js';

const WORD = 0;
const LOCK = 1;
const APPLIED = 2;
const PENDING_EPOCH = 3;
const PENDING_REASON = 4;

/**
 * The interrupt word and the clears applied so far, shared by the child's two threads.
 * Both sides change them under a spin lock held for a few instructions.
 */
export class InterruptGate {
  private readonly i32: Int32Array;
  /** The core's interrupt word (CoreEnv.interruptWord). */
  readonly word: Int32Array;

  constructor(readonly sab = new SharedArrayBuffer(8 * 4)) {
    this.i32 = new Int32Array(sab);
    this.word = new Int32Array(sab, WORD * 4, 1);
  }

  /** Clears applied so far (the epoch of the request being served). */
  get epoch(): number {
    return Atomics.load(this.i32, APPLIED) >>> 0;
  }

  private locked<T>(fn: () => T): T {
    while (Atomics.compareExchange(this.i32, LOCK, 0, 1) !== 0) {
      // The other thread holds it for a few instructions.
    }
    try {
      return fn();
    } finally {
      Atomics.store(this.i32, LOCK, 0);
    }
  }

  /** The main thread read a clear: the next epoch starts, with a stop that came for it early, if any. */
  clear(): void {
    const reason = this.locked(() => {
      const epoch = (Atomics.load(this.i32, APPLIED) + 1) | 0;
      Atomics.store(this.i32, APPLIED, epoch);
      const early = Atomics.load(this.i32, PENDING_EPOCH) === epoch ? Atomics.exchange(this.i32, PENDING_REASON, 0) : 0;
      Atomics.store(this.word, 0, early);
      return early;
    });
    if (reason) Atomics.notify(this.word, 0);
  }

  /** A stop for `epoch`: applied now if that epoch runs, kept if it has not started yet, dropped if it is over. */
  interrupt(reason: number, epoch: number): void {
    const applied = this.locked(() => {
      const ahead = (epoch - Atomics.load(this.i32, APPLIED)) | 0;
      if (ahead === 0) {
        Atomics.store(this.word, 0, reason);
        return true;
      }
      if (ahead > 0) {
        Atomics.store(this.i32, PENDING_EPOCH, epoch | 0);
        Atomics.store(this.i32, PENDING_REASON, reason);
      }
      return false;
    });
    // Wakes a script that sleeps on the word (Python's time.sleep).
    if (applied) Atomics.notify(this.word, 0);
  }
}

/**
 * Starts the thread that reads stops from `fd` and applies them to `gate`. It never keeps
 * the child alive, and ends with the pipe.
 */
export function startInterruptRelay(gate: InterruptGate, fd: number): Worker {
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { interruptRelay: true, sab: gate.sab, fd },
    env: {},
    argv: [],
    execArgv: [],
    stdout: false,
    stderr: false,
  });
  worker.unref();
  return worker;
}

function relay(sab: SharedArrayBuffer, fd: number): void {
  const gate = new InterruptGate(sab);
  const pipe = new Socket({ fd, readable: true, writable: false });
  let held = new Uint8Array(0);
  pipe.on('data', (chunk: Uint8Array) => {
    let bytes = held.length ? concat(held, chunk) : chunk;
    while (bytes.length >= STOP_RECORD_BYTES) {
      const { reason, epoch } = readStopRecord(bytes);
      gate.interrupt(reason, epoch);
      bytes = bytes.subarray(STOP_RECORD_BYTES);
    }
    held = bytes.slice();
  });
  // The host went away: the main thread sees its own pipe end and exits the child.
  pipe.on('error', () => pipe.destroy());
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const data = workerData as { interruptRelay?: boolean; sab?: SharedArrayBuffer; fd?: number } | null;
if (!isMainThread && data?.interruptRelay && data.sab && data.fd !== undefined) relay(data.sab, data.fd);
