/**
 * Collects what a script prints during one request, cut at `maxOutputBytes`, and streams
 * it to the host in batches (a message per print would cost a channel round trip each).
 */
import type { CapturedOutput } from '../channel/protocol.js';
import type { CoreEnv } from '../core.js';

const FLUSH_BYTES = 4096;
const FLUSH_MS = 25;

export class OutputCapture {
  private stdout: string[] = [];
  private stderr: string[] = [];
  private used = 0;
  private truncated = false;
  private pending: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  private pendingBytes = 0;
  private lastFlush = 0;
  private stream = false;

  constructor(
    private readonly max: number,
    private readonly env: Pick<CoreEnv, 'output'>,
  ) {}

  /** Starts a request: empties the buffers. */
  begin(stream: boolean): void {
    this.stdout = [];
    this.stderr = [];
    this.used = 0;
    this.truncated = false;
    this.pending = [];
    this.pendingBytes = 0;
    this.stream = stream;
    this.lastFlush = performance.now();
  }

  write(stream: 'stdout' | 'stderr', text: string): void {
    if (this.truncated) return;
    const room = this.max - this.used;
    if (text.length > room) {
      // Length in UTF-16 units is a close, cheap bound; cut and mark.
      text = text.slice(0, Math.max(0, room));
      this.truncated = true;
    }
    this.used += text.length;
    if (text.length === 0) return;
    (stream === 'stdout' ? this.stdout : this.stderr).push(text);
    if (!this.stream) return;
    this.pending.push({ stream, text });
    this.pendingBytes += text.length;
    if (this.pendingBytes >= FLUSH_BYTES || performance.now() - this.lastFlush >= FLUSH_MS) this.flush();
  }

  /** Sends what is pending to the host (before a host call, and at the end). */
  flush(): void {
    if (!this.stream || this.pending.length === 0) return;
    let cur = this.pending[0]!;
    const merged: typeof this.pending = [];
    for (const p of this.pending.slice(1)) {
      if (p.stream === cur.stream) cur = { stream: cur.stream, text: cur.text + p.text };
      else {
        merged.push(cur);
        cur = p;
      }
    }
    merged.push(cur);
    this.pending = [];
    this.pendingBytes = 0;
    this.lastFlush = performance.now();
    for (const m of merged) this.env.output(m.stream, m.text);
  }

  /** Ends a request: flushes and returns everything collected. */
  end(): CapturedOutput {
    this.flush();
    return { stdout: this.stdout.join(''), stderr: this.stderr.join(''), truncated: this.truncated };
  }
}
