/**
 * The Pyodide backend's two channels to the runtime, file-system devices (the only way
 * Python reaches the host in Pyodide): `/dev/scriptbox` carries the runtime's requests (it
 * writes one, in marshal's format, and reads the reply: src/lang/python/requests.ts), and
 * `/dev/scriptbox-value` carries values (an entry reads its arguments from it and writes
 * its result to it). Bytes are all that cross, copied straight between the wasm heap and
 * JavaScript, so no JavaScript object ever becomes reachable from Python (DESIGN §5).
 */
import { parseRequest, replyBytes, type PythonRequest } from '../../src/lang/python/requests.js';

/** Answers one request with a value that is sent back as a reply. */
export type DeviceHandler = (req: PythonRequest) => unknown;

interface FSLike {
  makedev(ma: number, mi: number): number;
  registerDevice(dev: number, ops: object): void;
  mkdev(path: string, dev: number): void;
  ErrnoError?: new (errno: number) => Error;
}

/** Where the runtime opens the devices (runtime.py init's `device` and `values`). */
export const DEVICE_PATH = '/dev/scriptbox';
export const VALUE_PATH = '/dev/scriptbox-value';
/** Emscripten's EINVAL: the script's write gets `OSError: [Errno 28] Invalid argument`. */
const EINVAL = 28;
/** The longest request the device takes (a host call's arguments are bounded by the host's checks too). */
const MAX_REQUEST_BYTES = 256 * 1024 * 1024;

/** A copy of what the runtime wrote, as bytes (Emscripten hands a device its heap as an Int8Array). */
function bytesOf(buffer: Uint8Array, offset: number, length: number): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length).slice();
}

/** Bytes a device hands out to reads, from the start. */
class Outbox {
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;
  set(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.at = 0;
  }
  read(buffer: Uint8Array, offset: number, length: number): number {
    const n = Math.min(length, this.bytes.length - this.at);
    buffer.set(this.bytes.subarray(this.at, this.at + n), offset);
    this.at += n;
    return n;
  }
}

/** The value channel as the core uses it: what the next entry reads, and what the last one wrote. */
export interface ValueChannel {
  /** Puts an entry's arguments where it reads them. */
  stage(bytes: Uint8Array | undefined): void;
  /** What was written since the last stage(), taken (undefined if nothing). */
  take(): Uint8Array | undefined;
}

/** Registers the devices; `handle` answers each request the runtime writes (junk fails the script's write). */
export function installDevice(FS: FSLike, handle: DeviceHandler): ValueChannel {
  const reply = new Outbox();
  const dev = FS.makedev(64, 0);
  FS.registerDevice(dev, {
    open() {},
    close() {},
    read(_s: unknown, buffer: Uint8Array, offset: number, length: number): number {
      return reply.read(buffer, offset, length);
    },
    write(_s: unknown, buffer: Uint8Array, offset: number, length: number): number {
      // A copy: the heap may grow (and move) while the request is served.
      const req = length <= MAX_REQUEST_BYTES ? parseRequest(bytesOf(buffer, offset, length)) : undefined;
      if (!req) {
        reply.set(new Uint8Array(0));
        if (FS.ErrnoError) throw new FS.ErrnoError(EINVAL);
        return 0;
      }
      if (req[0] === 'taint') {
        // The audit hook's report has no reply: a reply the runtime has not read yet stays.
        handle(req);
        return length;
      }
      reply.set(replyBytes(handle(req)));
      return length;
    },
  });
  FS.mkdev(DEVICE_PATH, dev);

  const staged = new Outbox();
  let written: Uint8Array | undefined;
  const valueDev = FS.makedev(64, 1);
  FS.registerDevice(valueDev, {
    open() {},
    close() {},
    read(_s: unknown, buffer: Uint8Array, offset: number, length: number): number {
      return staged.read(buffer, offset, length);
    },
    write(_s: unknown, buffer: Uint8Array, offset: number, length: number): number {
      // The last write wins: the runtime writes an entry's result once, at its end.
      written = bytesOf(buffer, offset, length);
      return length;
    },
  });
  FS.mkdev(VALUE_PATH, valueDev);
  return {
    stage(bytes) {
      staged.set(bytes ?? new Uint8Array(0));
      written = undefined;
    },
    take() {
      const w = written;
      written = undefined;
      return w;
    },
  };
}
