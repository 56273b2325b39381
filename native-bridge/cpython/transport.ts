/**
 * The JS half of the native transport: a koffi-registered callback that Python calls
 * through ctypes (hub.py _Transport) for both of the runtime's channels, in marshal's
 * format (src/lang/python/marshal.ts): a request (the runtime's requests of
 * src/lang/python/requests.ts, plus `out`, printed text) answered with a framed reply, an
 * entry's result written, an entry's arguments read.
 * A reply larger than Python's buffer is kept here until Python calls again with a bigger
 * one (FETCH). Only bytes cross, as in the wasm backend; JS exceptions never escape into C
 * (koffi would turn them into 0).
 */
import { koffi } from '../../src/node/native-libs.js';
import { fromMarshal } from '../../src/lang/python/marshal.js';
import { replyBytes, requestOf, type PythonRequest } from '../../src/lang/python/requests.js';

/** What Python asks for: the runtime's requests, and printed text ([0 = stdout | 1 = stderr, text]). */
export type NativeRequest = PythonRequest | ['out', [0 | 1, string][]];

/** The kinds of exchange (hub.py REQUEST, VALUE_OUT, VALUE_IN, FETCH). */
const REQUEST = 0;
const VALUE_OUT = 1;
const VALUE_IN = 2;
const FETCH = 3;
/** How deep a request's values may nest before the host's own checks (limits.maxValueDepth) see them. */
const MAX_REQUEST_DEPTH = 1000;

let proto: unknown;
const encoder = new TextEncoder();

function outOf(v: unknown): NativeRequest | undefined {
  if (!Array.isArray(v) || v[0] !== 'out' || v.length !== 2 || !Array.isArray(v[1])) return undefined;
  const parts = v[1] as unknown[];
  const ok = parts.every((p) => Array.isArray(p) && p.length === 2 && (p[0] === 0 || p[0] === 1) && typeof p[1] === 'string');
  return ok ? (v as NativeRequest) : undefined;
}

/** A registered callback; `address` goes to Python, `close` unregisters it. */
export class Transport {
  readonly address: number;
  private readonly registered: unknown;
  private pending: { bytes: Uint8Array; error: boolean } | undefined;
  private viewAddr = 0;
  private view = new Uint8Array(0);
  /** The arguments the next entry reads (its value channel). */
  private staged: Uint8Array = new Uint8Array(0);
  /** What the last entry wrote to its value channel. */
  private written: Uint8Array | undefined;

  constructor(private readonly serve: (req: NativeRequest) => unknown) {
    const k = koffi();
    proto ??= k.proto('int64_t scriptbox_request(int kind, uintptr_t data, size_t len, uintptr_t buf, size_t cap)');
    this.registered = k.register(
      (kind: number, data: number | bigint, len: number | bigint, buf: number, cap: number) =>
        this.onRequest(kind, Number(data), Number(len), buf, cap),
      k.pointer(proto as never),
    );
    this.address = Number(this.registered as bigint);
  }

  /** Puts an entry's arguments on its value channel, and forgets what the last one wrote. */
  stage(bytes: Uint8Array | undefined): void {
    this.staged = bytes ?? new Uint8Array(0);
    this.written = undefined;
  }

  /** What the entry wrote to its value channel, taken (undefined if nothing). */
  take(): Uint8Array | undefined {
    const w = this.written;
    this.written = undefined;
    return w;
  }

  private into(buf: number, cap: number): Uint8Array {
    if (buf !== this.viewAddr || this.view.length !== cap) {
      this.view = new Uint8Array(koffi().view(buf, cap) as ArrayBuffer);
      this.viewAddr = buf;
    }
    return this.view;
  }

  /** A copy of what Python passed (its buffer is only valid during the call). */
  private bytes(data: number, len: number): Uint8Array {
    return len === 0 ? new Uint8Array(0) : new Uint8Array(koffi().view(data, len) as ArrayBuffer).slice();
  }

  /** Answers with `bytes`, or queues them for a FETCH with a bigger buffer. */
  private answer(bytes: Uint8Array, buf: number, cap: number): number {
    if (bytes.length <= cap) {
      this.into(buf, cap).set(bytes);
      return bytes.length;
    }
    this.pending = { bytes, error: false };
    return -bytes.length;
  }

  private onRequest(kind: number, data: number, len: number, buf: number, cap: number): number {
    try {
      switch (kind) {
        case FETCH: {
          const p = this.pending;
          this.pending = undefined;
          const bytes =
            p && p.bytes.length <= cap ? p.bytes : encoder.encode('no reply is waiting, or the buffer is too small').subarray(0, cap);
          this.into(buf, cap).set(bytes);
          if (bytes !== p?.bytes) return -bytes.length;
          return p!.error ? -bytes.length : bytes.length;
        }
        case VALUE_OUT:
          this.written = this.bytes(data, len);
          return 0;
        case VALUE_IN:
          return this.answer(this.staged, buf, cap);
        case REQUEST: {
          const v = fromMarshal(this.bytes(data, len), undefined, MAX_REQUEST_DEPTH);
          const req = outOf(v) ?? requestOf(v);
          if (!req) return this.fail('the runtime sent something that is not a request');
          return this.answer(replyBytes(this.serve(req)), buf, cap);
        }
      }
      return this.fail(`unknown exchange ${kind}`);
    } catch (e) {
      return this.fail(String((e as Error)?.message ?? e) || 'the host failed');
    }
  }

  /** Queues an error message for Python's second call (which raises it as RuntimeError). */
  private fail(message: string): number {
    this.pending = { bytes: encoder.encode(message.slice(0, 4000)), error: true };
    return -this.pending.bytes.length;
  }

  close(): void {
    koffi().unregister(this.registered as never);
  }
}
