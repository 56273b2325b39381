/**
 * The Node side of package sets (docs/packages.md): a directory package source (a folder of
 * wheels with its pyodide-lock.json, read from disk) and the disk cache of fetched wheels,
 * `node_modules/.cache/scriptbox/packages/<sha256>.whl` beside the snapshot cache. Cached
 * files are named by the sha256 the lock file pins and checked again when read, so a
 * damaged file is a miss (fetched again), never an install.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UnavailableError } from '../errors.js';
import type { PackageCache } from '../packages/cache.js';
import type { PackageSourceSpec } from '../packages/check.js';
import { LOCK_FILE } from '../packages/lock-file.js';
import type { PackageSource } from '../packages/source.js';
import { defaultCacheDir } from './snapshot-cache.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** A directory of wheels with its lock file. */
export async function directorySource(spec: PackageSourceSpec & { kind: 'dir' }, offlineFix: string): Promise<PackageSource> {
  const dir = resolve(spec.dir);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new UnavailableError(`the package source ${dir} ${info ? 'is not a directory' : 'does not exist'}; ${offlineFix}`);
  }
  const read = async (name: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const fix = name === LOCK_FILE ? "write it with 'scriptbox packages lock DIR'" : 'put the wheel there or relock the folder';
      throw new UnavailableError(
        `${what} could not be read: ${join(dir, name)} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}; ${fix}`,
      );
    }
  };
  return {
    where: dir,
    spec,
    readLock: async () => (await read(LOCK_FILE, 'the lock file')).toString('utf8'),
    readFile: async (fileName, pkg) => new Uint8Array(await read(fileName, `package '${pkg}'`)),
  };
}

/** Wheels by sha256 in a directory (default: the project's cache directory). */
export class DiskPackageCache implements PackageCache {
  readonly where: string;

  constructor(dir: string = defaultCacheDir('packages')) {
    this.where = resolve(dir);
  }

  private file(sha256: string): string {
    if (!SHA256.test(sha256)) throw new TypeError('a package cache key is a sha256 in hex');
    return join(this.where, `${sha256}.whl`);
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(sha256));
    } catch {
      // Not cached (or unreadable): fetched from the source again.
      return undefined;
    }
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) return undefined;
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Writes a temporary file, then renames it: a reader sees the whole wheel or none. */
  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    const file = this.file(sha256);
    await mkdir(this.where, { recursive: true });
    const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (e) {
      // The write's own error is rethrown; a leftover temporary file is never read as a wheel.
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }
}
