/**
 * The Node disk cache for Python memory snapshots (docs/snapshots.md): one file per
 * snapshot key, written atomically (a temporary file, then rename) and checked before use.
 * Node only (it reads and writes files), so it lives in src/node/ beside the rest of the
 * Node glue; src/snapshot/setup.ts imports it only under Node. A file is a 112-byte
 * header, then the snapshot (which starts with Pyodide's own magic, src/snapshot/pyodide-snapshot.ts):
 *
 *   0  'SBSNAP' 0x00 0x01   this file format's magic, format 1
 *   8  key                  64 hex characters: the file must be for the key asked for
 *   72 SHA-256              of the snapshot bytes
 *   104 length              of the snapshot bytes, u64 little-endian
 *
 * A missing, truncated, damaged or foreign file reads as a miss with the reason; the
 * engine then boots from scratch and a new file replaces it. The checksum catches damage,
 * not tampering: the cache directory must be as trusted as node_modules (the snapshot
 * becomes the sandbox's memory).
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { copySparsely } from '../snapshot/sparse-copy.js';
import type { SnapshotRead, BootSnapshotStore } from '../snapshot/store.js';

/** This cache's file magic (not Pyodide's snapshot magic, which the snapshot bytes start with). */
const FILE_MAGIC = Buffer.from([0x53, 0x42, 0x53, 0x4e, 0x41, 0x50, 0x00, 0x01]);
const HEADER_BYTES = 112;
const KEY = /^[0-9a-f]{64}$/;
/** Bytes read at a time (a multiple of the OS page, so the sparse copy sees whole pages). */
const READ_CHUNK = 1 << 20;
/** What this module writes into a cache directory (and `clear` removes): snapshots and unfinished temporary files. */
const OWN_FILE = /^[0-9a-f]{64}\.snap(\.[\w-]+\.tmp)?$/;

function checkKey(key: string): void {
  // Keys become file names: only ever a hex digest.
  if (!KEY.test(key)) throw new TypeError(`a snapshot key is 64 hex characters (got ${JSON.stringify(key).slice(0, 80)})`);
}

/** The nearest folder at or above `from` with a package.json, if any. */
function packageRoot(from: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

function writableDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    // Not creatable or not writable: the caller falls back to the temporary directory.
    return false;
  }
}

const defaultDirs = new Map<string, string>();

/**
 * A cache directory of scriptbox (`sub`: `snapshots`, `packages`): `node_modules/.cache/scriptbox/<sub>`
 * under the package the process runs in (the nearest package.json above the working
 * directory, as other tools' caches do), else `<os.tmpdir()>/scriptbox-<sub>`.
 */
export function defaultCacheDir(sub: string): string {
  let dir = defaultDirs.get(sub);
  if (dir) return dir;
  const root = packageRoot(process.cwd());
  const local = root && join(root, 'node_modules', '.cache', 'scriptbox', sub);
  dir = local && writableDir(local) ? local : join(tmpdir(), `scriptbox-${sub}`);
  defaultDirs.set(sub, dir);
  return dir;
}

/** Where `snapshot: true` keeps snapshots (defaultCacheDir('snapshots')). */
export function defaultSnapshotDir(): string {
  return defaultCacheDir('snapshots');
}

/** The file holding the snapshot for `key` in `dir`. */
export function snapshotFile(dir: string, key: string): string {
  checkKey(key);
  return join(dir, `${key}.snap`);
}

function header(key: string, bytes: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  FILE_MAGIC.copy(h, 0);
  h.write(key, 8, 'latin1');
  createHash('sha256').update(bytes).digest().copy(h, 72);
  h.writeBigUInt64LE(BigInt(bytes.byteLength), 104);
  return h;
}

/** The buffer snapshots are read into: shared memory, so worker engines get them without a copy. */
function sharedBytes(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}

export class DiskSnapshotStore implements BootSnapshotStore {
  readonly where: string;

  constructor(dir: string) {
    this.where = resolve(dir);
  }

  async read(key: string): Promise<SnapshotRead> {
    const file = snapshotFile(this.where, key);
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // No file, or no directory to hold one yet (a failed write says why): a plain miss.
      return { problem: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : `${file} cannot be read (${code})` };
    }
    try {
      const size = (await fh.stat()).size;
      if (size < HEADER_BYTES) return { problem: `${file} is truncated (${size} bytes)` };
      const h = Buffer.alloc(HEADER_BYTES);
      await fh.read(h, 0, HEADER_BYTES, 0);
      if (!h.subarray(0, 8).equals(FILE_MAGIC)) return { problem: `${file} is not a scriptbox snapshot file (or another format of one)` };
      if (h.toString('latin1', 8, 72) !== key) return { problem: `${file} holds the snapshot of another key` };
      const length = h.readBigUInt64LE(104);
      if (length !== BigInt(size - HEADER_BYTES))
        return { problem: `${file} is truncated or padded (${size - HEADER_BYTES} of ${length} bytes)` };
      // Read through a small buffer, hashed as it goes, and copied into shared memory only
      // where it is not zero: about half of a snapshot is zero pages, which then cost the
      // host no resident memory (src/snapshot/sparse-copy.ts).
      const bytes = sharedBytes(size - HEADER_BYTES);
      const hash = createHash('sha256');
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, bytes.byteLength));
      for (let at = 0; at < bytes.byteLength;) {
        const want = Math.min(chunk.byteLength, bytes.byteLength - at);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(chunk, got, want - got, HEADER_BYTES + at + got);
          if (bytesRead === 0) return { problem: `${file} shrank while it was read` };
          got += bytesRead;
        }
        hash.update(chunk.subarray(0, want));
        copySparsely(chunk.subarray(0, want), bytes.subarray(at, at + want));
        at += want;
      }
      if (!hash.digest().equals(h.subarray(72, 104))) {
        return { problem: `${file} is damaged (its checksum does not match)` };
      }
      return { bytes };
    } finally {
      // Read-only handle: a failed close loses nothing, and the answer above stands.
      await fh.close().catch(() => {});
    }
  }

  /** Writes a temporary file, then renames it over the old one: readers see the old file or the new, never half. */
  async write(key: string, bytes: Uint8Array): Promise<void> {
    const file = snapshotFile(this.where, key);
    await mkdir(this.where, { recursive: true });
    const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    try {
      // No fsync: a file torn by a power cut fails its checksum and is rebuilt.
      await writeFile(tmp, [header(key, bytes), bytes]);
      await rename(tmp, file);
    } catch (e) {
      // Best effort: the write's own error (rethrown) is what matters; a leftover .tmp is
      // removed by `clear` and never read as a snapshot.
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }
}

/** The snapshot files in `dir` (none if it does not exist). */
export async function listSnapshots(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => OWN_FILE.test(n)).map((n) => join(dir, n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Removes the snapshot files (and leftover temporary files) in `dir`; returns how many. */
export async function clearSnapshots(dir: string): Promise<number> {
  const files = await listSnapshots(dir);
  // A file already gone (another process cleared it) or not removable is skipped: clearing is best effort.
  for (const f of files) await unlink(f).catch(() => {});
  return files.length;
}
