/**
 * The JS half of the native transport: a koffi-registered callback that Python calls
 * through ctypes (hub.py _Transport) with a JSON request, the runtime's requests
 * (src/lang/python/requests.ts) plus `out` (printed text).
 * The reply is written into a buffer Python owns; a reply larger than the buffer is kept
 * here until Python calls again with a bigger one and no request. Only bytes cross, as in
 * the wasm backend; JS exceptions never escape into C (koffi would turn them into 0).
 */
import { koffi } from '../../src/node/native-libs.js';
import type { PythonRequest } from '../../src/lang/python/requests.js';
import { fromWire, toWire } from '../../src/lang/python/wire.js';

/** What Python asks for: the runtime's requests, and printed text ([0 = stdout | 1 = stderr, text]). */
export type NativeRequest = PythonRequest | ['out', [0 | 1, string][]];

let proto: unknown;
const encoder = new TextEncoder();

/** A registered callback; `address` goes to Python, `close` unregisters it. */
export class Transport {
  readonly address: number;
  private readonly registered: unknown;
  private pending: { bytes: Uint8Array; error: boolean } | undefined;
  private viewAddr = 0;
  private view = new Uint8Array(0);

  constructor(private readonly serve: (req: NativeRequest) => unknown) {
    const k = koffi();
    proto ??= k.proto('int64_t scriptbox_request(const char *req, uintptr_t buf, size_t cap)');
    this.registered = k.register(
      (req: string | null, buf: number, cap: number) => this.onRequest(req, buf, cap),
      k.pointer(proto as never),
    );
    this.address = Number(this.registered as bigint);
  }

  private into(buf: number, cap: number): Uint8Array {
    if (buf !== this.viewAddr || this.view.length !== cap) {
      this.view = new Uint8Array(koffi().view(buf, cap) as ArrayBuffer);
      this.viewAddr = buf;
    }
    return this.view;
  }

  private onRequest(req: string | null, buf: number, cap: number): number {
    try {
      if (req === null) {
        const p = this.pending;
        this.pending = undefined;
        const bytes =
          p && p.bytes.length <= cap ? p.bytes : encoder.encode('no reply is waiting, or the buffer is too small').subarray(0, cap);
        this.into(buf, cap).set(bytes);
        if (bytes !== p?.bytes) return -bytes.length;
        return p!.error ? -bytes.length : bytes.length;
      }
      const text = toWire(this.serve(fromWire(req) as NativeRequest) as never);
      const { read, written } = encoder.encodeInto(text, this.into(buf, cap));
      if (read === text.length) return written;
      this.pending = { bytes: encoder.encode(text), error: false };
      return -this.pending.bytes.length;
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
