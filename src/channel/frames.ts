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
