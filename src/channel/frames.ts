/**
 * Length-prefixed frames over a byte stream (the process placement's pipe): a 4-byte
 * little-endian length, then that many payload bytes.
 */

/** Largest length the 4-byte header can carry. */
export const MAX_FRAME_BYTES = 0xffff_ffff;

/** One frame: header and payload in a single buffer, so a message is one write. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, 4);
  return out;
}

/** The 4-byte header of a frame of `length` bytes (for a payload written on its own, uncopied). */
export function frameHeader(length: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, length, true);
  return out;
}

/** Several frames in one buffer (one write for, say, a control frame and a request). */
export function frames(payloads: Uint8Array[]): Uint8Array {
  if (payloads.length === 1) return frame(payloads[0]!);
  let total = 0;
  for (const p of payloads) total += 4 + p.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of payloads) {
    view.setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/**
 * Cuts a byte stream into frames. A header announcing more than `maxBytes` stops the
 * reader for good and reports the size instead (the far side is broken or hostile).
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private buffered = 0;
  private need = -1;
  private stopped = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onFrame: (payload: Uint8Array) => void,
    private readonly onTooBig: (bytes: number) => void,
  ) {}

  /** Stops delivering frames (after the stream's owner gave up on it). */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
  }

  push(chunk: Uint8Array): void {
    if (this.stopped || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.stopped) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        const h = this.take(4);
        const n = h[0]! + h[1]! * 0x100 + h[2]! * 0x1_0000 + h[3]! * 0x100_0000;
        if (n > this.maxBytes) {
          this.stop();
          this.onTooBig(n);
          return;
        }
        this.need = n;
      }
      if (this.buffered < this.need) return;
      const payload = this.take(this.need);
      this.need = -1;
      this.onFrame(payload);
    }
  }

  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    this.buffered -= n;
    const first = this.chunks[this.head]!;
    if (first.length >= n) {
      if (first.length === n) this.advance();
      else this.chunks[this.head] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[this.head]!;
      const k = Math.min(c.length, n - at);
      out.set(k === c.length ? c : c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.advance();
      else this.chunks[this.head] = c.subarray(k);
    }
    return out;
  }

  /** Drops the first chunk (an index bump, not Array#shift: a stream of tiny chunks stays linear). */
  private advance(): void {
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Reads frames from a blocking byte source (the process child's end of its pipe, read with
 * `fs.readSync`): each call blocks until one whole frame is in. Small frames come out of
 * one buffered read; a big one is read straight into its own buffer.
 */
export class BlockingFrameReader {
  private readonly buf: Uint8Array;
  private start = 0;
  private end = 0;

  /**
   * @param read Reads up to `length` bytes into `into` at `offset` and returns how many; 0 at the end of the stream.
   * @param maxBytes A header announcing more is an error (see next()).
   */
  constructor(
    private readonly read: (into: Uint8Array, offset: number, length: number) => number,
    private readonly maxBytes: number,
    bufferBytes = 64 * 1024,
  ) {
    this.buf = new Uint8Array(bufferBytes);
  }

  /** The next frame's payload (its own copy), or undefined once the stream ended. Throws on a header over maxBytes. */
  next(): Uint8Array | undefined {
    if (!this.fill(4)) return undefined;
    const b = this.buf;
    const s = this.start;
    const n = b[s]! + b[s + 1]! * 0x100 + b[s + 2]! * 0x1_0000 + b[s + 3]! * 0x100_0000;
    if (n > this.maxBytes) throw new RangeError(`a ${n}-byte frame, over the ${this.maxBytes}-byte limit`);
    this.start += 4;
    if (n <= this.buf.length) {
      if (!this.fill(n)) return undefined;
      const payload = this.buf.slice(this.start, this.start + n);
      this.start += n;
      return payload;
    }
    const out = new Uint8Array(n);
    let at = this.end - this.start;
    out.set(this.buf.subarray(this.start, this.end));
    this.start = this.end = 0;
    while (at < n) {
      const k = this.read(out, at, n - at);
      if (k === 0) return undefined;
      at += k;
    }
    return out;
  }

  /** Reads until `k` bytes are buffered; false if the stream ends first. */
  private fill(k: number): boolean {
    if (this.end - this.start >= k) return true;
    if (this.start + k > this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    while (this.end - this.start < k) {
      const got = this.read(this.buf, this.end, this.buf.length - this.end);
      if (got === 0) return false;
      this.end += got;
    }
    return true;
  }
}

/** One stop on the process child's stop pipe: int32 reason, uint32 epoch (the host's clears so far), little-endian. */
export const STOP_RECORD_BYTES = 8;

/** Encodes a stop for the stop pipe (src/node/interrupt-relay.ts reads it). */
export function stopRecord(reason: number, epoch: number): Uint8Array {
  const out = new Uint8Array(STOP_RECORD_BYTES);
  const view = new DataView(out.buffer);
  view.setInt32(0, reason, true);
  view.setUint32(4, epoch >>> 0, true);
  return out;
}

/** Decodes the stop record at the start of `bytes`. */
export function readStopRecord(bytes: Uint8Array): { reason: number; epoch: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, STOP_RECORD_BYTES);
  return { reason: view.getInt32(0, true), epoch: view.getUint32(4, true) };
}
