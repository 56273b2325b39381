/**
 * `/dev/scriptbox`: the only way Python reaches the host. Python writes a JSON request
 * and reads a length-prefixed JSON reply; bytes are all that cross, so no JavaScript
 * object ever becomes reachable from Python (DESIGN §5).
 */
import { fromWire, toWire } from './wire.js';

/** What a request from Python asks for, after the wire is decoded. */
export type DeviceRequest = ['call', string, unknown[]] | ['sleep', number] | ['astart', string, unknown[]] | ['await', number];

/** Answers one request with a value that is sent back as wire text. */
export type DeviceHandler = (req: DeviceRequest) => unknown;

interface FSLike {
  makedev(ma: number, mi: number): number;
  registerDevice(dev: number, ops: object): void;
  mkdev(path: string, dev: number): void;
  ErrnoError?: new (errno: number) => Error;
}

/** Emscripten's EINVAL: the script's write gets `OSError: [Errno 28] Invalid argument`. */
const EINVAL = 28;
/** The longest request the device takes (a host call's arguments are bounded by the host's checks too). */
const MAX_REQUEST_BYTES = 256 * 1024 * 1024;

/**
 * The request Python wrote, checked: the script can write anything to the device, and
 * junk must fail the script's own write (an OSError it can catch), never the core.
 */
export function parseRequest(text: string): DeviceRequest | undefined {
  let req: unknown;
  try {
    req = fromWire(text);
  } catch {
    // Not JSON, or a tag the wire refuses (a forged handle): junk.
    return undefined;
  }
  if (!Array.isArray(req) || typeof req[0] !== 'string') return undefined;
  const [op, a, b] = req as [string, unknown, unknown];
  switch (op) {
    case 'call':
    case 'astart':
      return req.length === 3 && typeof a === 'string' && Array.isArray(b) ? [op, a, b] : undefined;
    case 'sleep':
    case 'await':
      return req.length === 2 && typeof a === 'number' && !Number.isNaN(a) ? [op, a] : undefined;
    default:
      return undefined;
  }
}

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
      const req = length <= MAX_REQUEST_BYTES ? parseRequest(new TextDecoder().decode(buffer.subarray(offset, offset + length))) : undefined;
      if (!req) {
        reply = new Uint8Array(0);
        pos = 0;
        if (FS.ErrnoError) throw new FS.ErrnoError(EINVAL);
        return 0;
      }
      const answer = new TextEncoder().encode(toWire(handle(req) as never));
      reply = new Uint8Array(4 + answer.length);
      new DataView(reply.buffer).setUint32(0, answer.length, true);
      reply.set(answer, 4);
      pos = 0;
      return length;
    },
  });
  FS.mkdev('/dev/scriptbox', dev);
}
