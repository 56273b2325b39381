/**
 * Collects what a script prints during one request, cut at `maxOutputBytes`, and streams
 * it to the host in batches (a message per print would cost a channel round trip each).
 * Rich outputs (`display`, `host.display`) are collected here too, in call order, and count
 * against the same cap: an output that does not fit is dropped whole and `truncated` set.
 */
import type { CapturedOutput, RichOutput } from '../channel/protocol.js';
import type { CoreEnv } from '../core.js';

const FLUSH_BYTES = 4096;
const FLUSH_MS = 25;

/** The name Lua's `host.display` reaches its core under (prelude.lua): kept by the core, never a host call. */
export const DISPLAY_CALL = '@display';

/** A media type as `display` takes it: `type/subtype` of RFC 6838 name characters, no parameters. */
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** Whether outputs of this media type are text (they cross as strings); every other type crosses as bytes. */
export function isTextMime(mime: string): boolean {
  return (
    mime.startsWith('text/') ||
    mime.endsWith('+xml') ||
    mime.endsWith('+json') ||
    mime === 'application/json' ||
    mime === 'application/javascript' ||
    mime === 'application/xml'
  );
}

/**
 * Checks one output a script asked to display and gives it its wire form (text types as a
 * string, binary types as bytes). Throws a TypeError whose message names the problem:
 * the data comes from script code, and the script sees the message.
 */
export function richOutput(mime: unknown, data: unknown): RichOutput {
  if (typeof mime !== 'string' || !MIME.test(mime.toLowerCase())) {
    const shown = typeof mime === 'string' ? `'${mime.slice(0, 80)}'` : `a ${mime === null ? 'null' : typeof mime}`;
    throw new TypeError(`display: mime type ${shown} is not a media type; use type/subtype, like 'image/png' or 'text/html'`);
  }
  const m = mime.toLowerCase();
  if (typeof data === 'string') return { mime: m, data: isTextMime(m) ? data : new TextEncoder().encode(data) };
  // A copy: the bytes may be a view of the engine's memory or of a reused request buffer.
  if (data instanceof Uint8Array) return { mime: m, data: isTextMime(m) ? new TextDecoder().decode(data) : data.slice() };
  throw new TypeError(`display: the data for ${m} is a ${data === null ? 'null' : typeof data}; pass a string or bytes`);
}

export class OutputCapture {
  private stdout: string[] = [];
  private stderr: string[] = [];
  private outputs: RichOutput[] = [];
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
    this.outputs = [];
    this.used = 0;
    this.truncated = false;
    this.pending = [];
    this.pendingBytes = 0;
    this.stream = stream;
    this.lastFlush = performance.now();
  }

  write(stream: 'stdout' | 'stderr', text: string): void {
    if (this.truncated && this.used >= this.max) return;
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

  /**
   * Keeps one rich output (checked by {@link richOutput}, which throws for a bad one). Over
   * the cap it is dropped whole (half an image is no image) and `truncated` set; later
   * smaller ones still fit if there is room.
   */
  display(mime: unknown, data: unknown): void {
    const o = richOutput(mime, data);
    const size = o.data.length;
    if (size > this.max - this.used) {
      this.truncated = true;
      return;
    }
    this.used += size;
    this.outputs.push(o);
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
    const out: CapturedOutput = { stdout: this.stdout.join(''), stderr: this.stderr.join(''), truncated: this.truncated };
    if (this.outputs.length > 0) out.outputs = this.outputs;
    return out;
  }
}
