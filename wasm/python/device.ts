/**
 * `/dev/scriptbox`: the only way Python reaches the host in Pyodide. The runtime writes a
 * JSON request (src/lang/python/requests.ts) and reads a length-prefixed JSON reply;
 * bytes are all that cross, so no JavaScript object ever becomes reachable from Python
 * (DESIGN §5).
 */
import { parseRequest, type PythonRequest } from '../../src/lang/python/requests.js';
import { toWire } from '../../src/lang/python/wire.js';

/** Answers one request with a value that is sent back as wire text. */
export type DeviceHandler = (req: PythonRequest) => unknown;

interface FSLike {
  makedev(ma: number, mi: number): number;
  registerDevice(dev: number, ops: object): void;
  mkdev(path: string, dev: number): void;
  ErrnoError?: new (errno: number) => Error;
}

/** Where the runtime opens the device (runtime.py init's `device`). */
export const DEVICE_PATH = '/dev/scriptbox';
/** Emscripten's EINVAL: the script's write gets `OSError: [Errno 28] Invalid argument`. */
const EINVAL = 28;
/** The longest request the device takes (a host call's arguments are bounded by the host's checks too). */
const MAX_REQUEST_BYTES = 256 * 1024 * 1024;

/** Registers the device; `handle` answers each request the runtime writes (junk fails the script's write). */
export function installDevice(FS: FSLike, handle: DeviceHandler): void {
  let reply = new Uint8Array(0);
  let pos = 0;
  const dev = FS.makedev(64, 0);
  FS.registerDevice(dev, {
    open() {},
    close() {},
    read(_s: unknown, buffer: Uint8Array, offset: number, length: number): number {
      const n = Math.min(length, reply.length - pos);
      buffer.set(reply.subarray(pos, pos + n), offset);
      pos += n;
      return n;
    },
    write(_s: unknown, buffer: Uint8Array, offset: number, length: number): number {
      const req =
        length <= MAX_REQUEST_BYTES ? parseRequest(new TextDecoder().decode(buffer.subarray(offset, offset + length))) : undefined;
      if (!req) {
        reply = new Uint8Array(0);
        pos = 0;
        if (FS.ErrnoError) throw new FS.ErrnoError(EINVAL);
        return 0;
      }
      if (req[0] === 'taint') {
        // The audit hook's report has no reply: a reply the runtime has not read yet stays.
        handle(req);
        return length;
      }
      const answer = new TextEncoder().encode(toWire(handle(req) as never));
      reply = new Uint8Array(4 + answer.length);
      new DataView(reply.buffer).setUint32(0, answer.length, true);
      reply.set(answer, 4);
      pos = 0;
      return length;
    },
  });
  FS.mkdev(DEVICE_PATH, dev);
}
