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
      const text = new TextDecoder().decode(buffer.subarray(offset, offset + length));
      const answer = new TextEncoder().encode(toWire(handle(fromWire(text) as DeviceRequest) as never));
      reply = new Uint8Array(4 + answer.length);
      new DataView(reply.buffer).setUint32(0, answer.length, true);
      reply.set(answer, 4);
      pos = 0;
      return length;
    },
  });
  FS.mkdev('/dev/scriptbox', dev);
}
