/**
 * Reads the files of a zip archive held in memory (a wheel is a zip): the central
 * directory, then each entry, inflated with node:zlib. A wheel needs no more than this, so
 * no zip library is added for it. Zip64 archives (over 4 GiB or 65 535 entries) and
 * encrypted entries are refused with a message, as no wheel ScriptBox can install is one.
 */
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  flags: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The entries of the archive, by name; throws an Error saying what is wrong with it. */
export function zipEntries(buf: Buffer): Map<string, ZipEntry> {
  let eocd = -1;
  // The end record is in the last 22 bytes plus a comment of up to 65 535 bytes.
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('it is not a zip archive (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  const at = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error('it is a zip64 archive, which is not supported');
  const entries = new Map<string, ZipEntry>();
  let p = at;
  for (let n = 0; n < count; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL) throw new Error('its central directory is damaged');
    const nameLength = buf.readUInt16LE(p + 28);
    const entry: ZipEntry = {
      flags: buf.readUInt16LE(p + 8),
      method: buf.readUInt16LE(p + 10),
      compressedSize: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      localOffset: buf.readUInt32LE(p + 42),
      name: buf.toString('utf8', p + 46, p + 46 + nameLength),
    };
    entries.set(entry.name, entry);
    p += 46 + nameLength + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return entries;
}

/** One entry's bytes (stored or deflated). */
export function readZipEntry(buf: Buffer, e: ZipEntry): Buffer {
  if (e.flags & 1) throw new Error(`${e.name} is encrypted`);
  const p = e.localOffset;
  if (p + 30 > buf.length || buf.readUInt32LE(p) !== LOCAL) throw new Error(`the local header of ${e.name} is damaged`);
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const data = buf.subarray(start, start + e.compressedSize);
  if (data.length !== e.compressedSize) throw new Error(`${e.name} is truncated`);
  if (e.method === 0) return data;
  if (e.method === 8) return inflateRawSync(data, { maxOutputLength: Math.max(e.size, 1) });
  throw new Error(`${e.name} uses compression method ${e.method}; only stored and deflated entries are read`);
}
