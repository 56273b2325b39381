/**
 * Host directories a script may see (`mounts`), for the `fs.read` / `fs.write` built-ins.
 * A script path is resolved lexically inside one mount, then each component is checked as
 * the host resolves symlinks, before anything changes on disk, so neither `..` nor a link
 * can leave the mounted directory (see MountedFiles for the residual race).
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, posix, resolve, sep } from 'node:path';
import { InvalidInputError, PermissionDeniedError } from '../errors.js';

export interface Mount {
  hostPath: string;
  path: string;
  readOnly?: boolean;
}

interface Resolved {
  root: string;
  path: string;
  readOnly: boolean;
}

/** Checks `mounts` at the public entry: absolute host dirs that exist, distinct script paths. */
export async function checkMounts(v: unknown): Promise<Resolved[]> {
  if (!Array.isArray(v))
    throw new InvalidInputError(
      "mounts must be an array of { hostPath, path, readOnly? }, e.g. [{ hostPath: '/srv/data', path: '/data', readOnly: true }]",
    );
  const out: Resolved[] = [];
  for (const [i, m] of v.entries()) {
    const where = `mounts[${i}]`;
    if (typeof m !== 'object' || m === null) throw new InvalidInputError(`${where} must be { hostPath, path, readOnly? }`);
    const { hostPath, path, readOnly } = m as Record<string, unknown>;
    if (typeof hostPath !== 'string' || !isAbsolute(hostPath))
      throw new InvalidInputError(`${where}.hostPath must be an absolute host directory`);
    if (typeof path !== 'string' || !path.startsWith('/') || posix.normalize(path) !== path || path === '/') {
      throw new InvalidInputError(`${where}.path must be an absolute, normalized script path other than '/', like '/data'`);
    }
    if (readOnly !== undefined && typeof readOnly !== 'boolean') throw new InvalidInputError(`${where}.readOnly must be true or false`);
    let root: string;
    try {
      root = await realpath(hostPath);
      if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new InvalidInputError(`${where}.hostPath ${hostPath} is not an existing directory; create it or fix the path`);
    }
    const clash = out.find((o) => o.path === path || o.path.startsWith(`${path}/`) || path.startsWith(`${o.path}/`));
    if (clash) throw new InvalidInputError(`${where}.path ${path} overlaps the mount at ${clash.path}; mount points must not nest`);
    out.push({ root, path, readOnly: readOnly === true });
  }
  return out;
}

function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fsConstants;

/** The most one positioned read or write moves (mount-fs and files.lua split larger ones). */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/**
 * What a file-system op of the engine's own FS answers for an ordinary condition of the
 * file system (the path is missing, not a directory, ...): a value, not a failure, because
 * `os.path.exists` and `io.open` ask it all the time. Refusals (capability, read-only, a
 * path leading out of its mount, a FIFO) still throw.
 */
export interface FsCondition {
  errno: 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'EEXIST' | 'ENOTEMPTY';
}
const CONDITIONS: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ENOTEMPTY']);

function conditionOf(e: unknown): FsCondition | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && CONDITIONS.has(code) ? { errno: code as FsCondition['errno'] } : undefined;
}

/** A condition thrown from inside an op, answered by `answer`. */
function condition(errno: FsCondition['errno']): Error {
  return Object.assign(new Error(errno), { code: errno });
}

/** What `stat` answers: what the engine's FS makes of a path. */
export interface FileInfo {
  type: 'file' | 'dir' | 'other';
  size: number;
  mtimeMs: number;
}

function count(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
    throw new InvalidInputError(`${what} must be an integer from 0 to ${max} (got ${String(v)})`);
  return v;
}

/** What a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

/** A file-system failure as a typed error naming the script path. */
function fsError(e: unknown, scriptPath: string, op: string): Error {
  if (e instanceof InvalidInputError || e instanceof PermissionDeniedError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new InvalidInputError(`host.fs.${op}: no such file or directory ${scriptPath}`);
  if (code === 'ENOTDIR') return new InvalidInputError(`host.fs.${op}: a part of ${scriptPath} is not a directory`);
  if (code === 'EISDIR') return new InvalidInputError(`host.fs.${op}: ${scriptPath} is a directory; give a file path`);
  if (code === 'ELOOP') return new PermissionDeniedError(`host.fs.${op}: ${scriptPath} is a symlink; use the path of a plain file`);
  if (code === 'EACCES' || code === 'EPERM')
    return new PermissionDeniedError(`host.fs.${op}: the host does not allow access to ${scriptPath} (${code})`);
  return new InvalidInputError(`host.fs.${op}: cannot use ${scriptPath} (${code ?? String(e)})`);
}

/**
 * The file system the built-ins see: only what `mounts` declares.
 *
 * Every component of a path is checked before anything on disk changes: symlinks are
 * followed only while they stay inside the mount, missing directories are made one level
 * at a time inside a checked parent, and files are opened with O_NOFOLLOW (the last
 * component cannot be a symlink) and O_NONBLOCK (a FIFO cannot block the open); only regular
 * files are read or written. Residual race: Node has no openat/mkdirat, so a process on the
 * host that can write inside the mount could swap a checked directory for a symlink between
 * the check and the next call; the path is checked again after the write, which then fails.
 * A script alone cannot do this (it makes no symlinks), so mounts shared with untrusted host
 * processes need their own care.
 */
export class MountedFiles {
  /**
   * The chunk buffer `pread` reads into while no other pread uses it. A fresh 1 MiB buffer
   * per chunk was garbage V8 collected late: a 300 MB read through open() raised the host's
   * array-buffer memory by 300 MB. Every consumer of a host call's answer encodes or copies
   * it in the microtasks after it resolves (the channel, the pipe, postMessage; host.aio
   * results are copied as they are kept: src/placement/connection.ts), so the buffer is free
   * again at the next macrotask.
   */
  private scratch: Uint8Array | undefined;
  private scratchBusy = false;

  constructor(private readonly mounts: Resolved[]) {}

  private locate(scriptPath: unknown, write: boolean): { mount: Resolved; host: string; rel: string[] } {
    if (typeof scriptPath !== 'string' || !scriptPath.startsWith('/'))
      throw new InvalidInputError('host.fs paths are absolute script paths, like /data/file.txt');
    if (scriptPath.includes('\0')) throw new InvalidInputError('host.fs paths cannot contain NUL');
    const norm = posix.normalize(scriptPath);
    const mount = this.mounts.find((m) => norm === m.path || norm.startsWith(`${m.path}/`));
    if (!mount) {
      const where = this.mounts.map((m) => m.path).join(', ') || 'none';
      throw new PermissionDeniedError(`host.fs: ${scriptPath} is not under a mount (mounted: ${where})`);
    }
    if (write && mount.readOnly) throw new PermissionDeniedError(`host.fs: ${mount.path} is mounted read-only`);
    const host = resolve(join(mount.root, norm.slice(mount.path.length)));
    if (!within(mount.root, host)) throw new PermissionDeniedError(`host.fs: ${scriptPath} leaves its mount`);
    const rel = norm
      .slice(mount.path.length)
      .split('/')
      .filter((p) => p !== '');
    return { mount, host, rel };
  }

  /** The real path must stay inside the mount too: a symlink may point anywhere. */
  private async real(mount: Resolved, host: string, scriptPath: string, op: string, conditions = false): Promise<string> {
    let real: string;
    try {
      real = await realpath(host);
    } catch (e) {
      // `conditions`: an op of the engine's FS answers a missing path as a condition.
      throw conditions && conditionOf(e) ? e : fsError(e, scriptPath, op);
    }
    if (!within(mount.root, real)) throw new PermissionDeniedError(`host.fs.${op}: ${scriptPath} leads out of its mount (a symlink)`);
    return real;
  }

  async read(path: unknown, encoding: unknown = 'utf-8'): Promise<string | Uint8Array> {
    if (encoding !== null && encoding !== 'utf-8' && encoding !== 'utf8')
      throw new InvalidInputError("host.fs.read encoding must be 'utf-8' or None/nil for bytes");
    const { mount, host } = this.locate(path, false);
    const scriptPath = String(path);
    const real = await this.real(mount, host, scriptPath, 'read');
    // Look before opening: opening a device may do something by itself.
    const st = await lstat(real).catch((e: unknown) => {
      throw fsError(e, scriptPath, 'read');
    });
    if (st.isDirectory()) throw new InvalidInputError(`host.fs.read: ${scriptPath} is a directory; use host.fs.list`);
    if (!st.isFile()) throw new PermissionDeniedError(`host.fs.read: ${scriptPath} is ${kindOf(st)}; only regular files can be read`);
    let fh: FileHandle;
    try {
      // O_NONBLOCK: were it swapped for a FIFO meanwhile, the open returns at once instead of
      // holding a thread of libuv's pool (which the host's own fs calls share).
      fh = await open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (e) {
      throw fsError(e, scriptPath, 'read');
    }
    try {
      const now = await fh.stat();
      if (!now.isFile()) throw new PermissionDeniedError(`host.fs.read: ${scriptPath} is ${kindOf(now)}; only regular files can be read`);
      const buf = await fh.readFile();
      if (encoding === null) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      return buf.toString('utf8');
    } catch (e) {
      throw fsError(e, scriptPath, 'read');
    } finally {
      await fh.close();
    }
  }

  async list(path: unknown): Promise<string[]> {
    const { mount, host } = this.locate(path, false);
    const scriptPath = String(path);
    const real = await this.real(mount, host, scriptPath, 'list');
    try {
      return (await readdir(real)).sort();
    } catch (e) {
      throw fsError(e, scriptPath, 'list');
    }
  }

  /**
   * The real directory of `rel` (the parent parts of a path) inside the mount, made where
   * missing. Existing parts are resolved and checked first; only then, and only inside a
   * checked directory, is a missing one made, one level at a time, and checked again.
   */
  private async parentDir(mount: Resolved, rel: string[], scriptPath: string, make = true): Promise<string> {
    let dir = mount.root;
    let i = 0;
    // 1. Existing parts, nothing changed: each resolved (symlinks included) and kept inside.
    for (; i < rel.length; i++) {
      const next = join(dir, rel[i]!);
      let st: Stats;
      try {
        st = await lstat(next);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
        throw fsError(e, scriptPath, 'write');
      }
      const real = st.isSymbolicLink() ? await this.real(mount, next, scriptPath, 'write') : next;
      if (!within(mount.root, real)) throw new PermissionDeniedError(`host.fs.write: ${scriptPath} leads out of its mount (a symlink)`);
      if (!(await stat(real)).isDirectory())
        throw new InvalidInputError(`host.fs.write: a part of ${scriptPath} is a file, not a directory`);
      dir = real;
    }
    if (i < rel.length && !make) throw condition('ENOENT');
    // 2. Missing parts, made one level at a time inside the checked directory.
    for (; i < rel.length; i++) {
      const next = join(dir, rel[i]!);
      try {
        await mkdir(next);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, scriptPath, 'write');
      }
      // Made by us or by someone just now: it must be a real directory, not a symlink.
      const st = await lstat(next);
      if (!st.isDirectory())
        throw new PermissionDeniedError(`host.fs.write: a part of ${scriptPath} changed while it was made (now ${kindOf(st)})`);
      dir = next;
    }
    return dir;
  }

  async write(path: unknown, data: unknown): Promise<null> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new InvalidInputError('host.fs.write data must be text or bytes');
    const { fh, scriptPath } = await this.openWrite(path, 'write', true, true);
    try {
      await fh.truncate(0);
      await fh.writeFile(data);
    } catch (e) {
      throw fsError(e, scriptPath, 'write');
    } finally {
      await fh.close();
    }
    return null;
  }

  /**
   * A regular file inside a writable mount, opened for writing: every part of its path
   * checked first (missing directories made when `make`), created when `create`, never
   * truncated here (the caller does that once the file is known to be a regular file).
   */
  private async openWrite(path: unknown, op: string, create: boolean, make: boolean): Promise<{ fh: FileHandle; scriptPath: string }> {
    const { mount, host, rel } = this.locate(path, true);
    const scriptPath = String(path);
    if (host === mount.root || rel.length === 0) throw new InvalidInputError(`host.fs.${op} needs a file path, not the mount itself`);
    const dir = await this.parentDir(mount, rel.slice(0, -1), scriptPath, make);
    const target = join(dir, rel[rel.length - 1]!);
    try {
      const st = await lstat(target);
      if (st.isSymbolicLink()) throw new PermissionDeniedError(`host.fs.${op}: ${scriptPath} is a symlink; write to a plain file`);
      if (st.isDirectory()) throw condition('EISDIR');
      if (!st.isFile()) throw new PermissionDeniedError(`host.fs.${op}: ${scriptPath} is ${kindOf(st)}; only regular files can be written`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !create) throw e;
    }
    let fh: FileHandle;
    try {
      // O_NOFOLLOW: a symlink put there since the check is refused (ELOOP); O_NONBLOCK: a FIFO
      // cannot block the open. No O_TRUNC: the file is checked (fstat) before it is emptied.
      fh = await open(target, O_WRONLY | (create ? O_CREAT : 0) | O_NOFOLLOW | O_NONBLOCK, 0o666);
    } catch (e) {
      throw conditionOf(e) ? e : fsError(e, scriptPath, op);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new PermissionDeniedError(`host.fs.${op}: ${scriptPath} is ${kindOf(st)}; only regular files can be written`);
      // Checked again now that the file is open: its directory must still be inside the mount.
      if (!within(mount.root, await realpath(dir)))
        throw new PermissionDeniedError(`host.fs.${op}: ${scriptPath} leads out of its mount (a symlink)`);
    } catch (e) {
      await fh.close();
      throw fsError(e, scriptPath, op);
    }
    return { fh, scriptPath };
  }

  // ---- the engine's own file system (wasm/python/mount-fs.ts, src/lang/lua/files.lua) ----
  // Positioned, bounded operations: a file is never read or written whole, so a large file
  // costs the host one chunk at a time. Ordinary conditions answer an FsCondition.

  /** Runs one op: an ordinary condition becomes its FsCondition, anything else a typed error. */
  private async answer<T>(path: unknown, op: string, run: () => Promise<T>): Promise<T | FsCondition> {
    try {
      return await run();
    } catch (e) {
      const c = conditionOf(e);
      if (c) return c;
      throw fsError(e, String(path), op);
    }
  }

  /** The mount points, as plain data for the core (no host paths). */
  points(): { path: string; readOnly: boolean }[] {
    return this.mounts.map((m) => ({ path: m.path, readOnly: m.readOnly }));
  }

  /** What a path is (a symlink is followed while it stays inside the mount). */
  stat(path: unknown): Promise<FileInfo | FsCondition> {
    return this.answer(path, 'stat', async () => {
      const { mount, host } = this.locate(path, false);
      const real = await this.real(mount, host, String(path), 'stat', true);
      const st = await lstat(real);
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
      return { type, size: st.isFile() ? st.size : 0, mtimeMs: st.mtimeMs };
    });
  }

  /** A directory's entries. */
  readdir(path: unknown): Promise<string[] | FsCondition> {
    return this.answer(path, 'readdir', async () => {
      const { mount, host } = this.locate(path, false);
      const real = await this.real(mount, host, String(path), 'readdir', true);
      return (await readdir(real)).sort();
    });
  }

  /** Up to `length` bytes (at most MAX_CHUNK_BYTES) from `offset`; fewer at the end of the file. */
  pread(path: unknown, offset: unknown, length: unknown): Promise<Uint8Array | FsCondition> {
    const at = count(offset, 'host.fs.pread offset');
    const n = count(length, 'host.fs.pread length', MAX_CHUNK_BYTES);
    return this.answer(path, 'pread', async () => {
      const { mount, host } = this.locate(path, false);
      const scriptPath = String(path);
      const real = await this.real(mount, host, scriptPath, 'pread', true);
      const st = await lstat(real);
      if (st.isDirectory()) throw condition('EISDIR');
      if (!st.isFile()) throw new PermissionDeniedError(`host.fs.pread: ${scriptPath} is ${kindOf(st)}; only regular files can be read`);
      let shared = false;
      const fh = await open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
      try {
        const now = await fh.stat();
        if (!now.isFile())
          throw new PermissionDeniedError(`host.fs.pread: ${scriptPath} is ${kindOf(now)}; only regular files can be read`);
        const size = Math.max(0, Math.min(n, now.size - at));
        shared = !this.scratchBusy;
        if (shared) this.scratchBusy = true;
        const buf = shared ? (this.scratch ??= new Uint8Array(MAX_CHUNK_BYTES)).subarray(0, size) : new Uint8Array(size);
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await fh.read(buf, got, buf.length - got, at + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === buf.length ? buf : buf.subarray(0, got);
      } finally {
        await fh.close();
        // Free again once this answer was handed on (the microtasks after it resolves).
        if (shared) setImmediate(() => (this.scratchBusy = false));
      }
    });
  }

  /** Writes `data` (at most MAX_CHUNK_BYTES) at `offset` of an existing file; answers the bytes written. */
  pwrite(path: unknown, offset: unknown, data: unknown): Promise<number | FsCondition> {
    const at = count(offset, 'host.fs.pwrite offset');
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (!(bytes instanceof Uint8Array) || bytes.length > MAX_CHUNK_BYTES)
      throw new InvalidInputError(`host.fs.pwrite data must be bytes or text of at most ${MAX_CHUNK_BYTES} bytes`);
    return this.answer(path, 'pwrite', async () => {
      const { fh } = await this.openWrite(path, 'pwrite', false, false);
      try {
        let done = 0;
        while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
        return done;
      } finally {
        await fh.close();
      }
    });
  }

  /** Makes a file if there is none (its directory must exist); an existing file is left as it is. */
  create(path: unknown): Promise<null | FsCondition> {
    return this.answer(path, 'create', async () => {
      const { fh } = await this.openWrite(path, 'create', true, false);
      await fh.close();
      return null;
    });
  }

  /** Cuts (or extends with zeros) an existing file to `size` bytes. */
  truncate(path: unknown, size: unknown): Promise<null | FsCondition> {
    const n = count(size, 'host.fs.truncate size');
    return this.answer(path, 'truncate', async () => {
      const { fh } = await this.openWrite(path, 'truncate', false, false);
      try {
        await fh.truncate(n);
      } finally {
        await fh.close();
      }
      return null;
    });
  }

  /** Makes one directory (its parent must exist). */
  mkdir(path: unknown): Promise<null | FsCondition> {
    return this.answer(path, 'mkdir', async () => {
      const { mount, rel } = this.locate(path, true);
      if (rel.length === 0) throw condition('EEXIST');
      const dir = await this.parentDir(mount, rel.slice(0, -1), String(path), false);
      await mkdir(join(dir, rel[rel.length - 1]!));
      return null;
    });
  }

  /** Removes a file (or a symlink itself), or with `dir` an empty directory. */
  remove(path: unknown, dir: unknown = false): Promise<null | FsCondition> {
    return this.answer(path, 'remove', async () => {
      const { mount, rel } = this.locate(path, true);
      if (rel.length === 0) throw new PermissionDeniedError(`host.fs.remove: ${String(path)} is a mount point; it cannot be removed`);
      const parent = await this.parentDir(mount, rel.slice(0, -1), String(path), false);
      const target = join(parent, rel[rel.length - 1]!);
      const st = await lstat(target);
      if (dir === true) {
        if (!st.isDirectory()) throw condition('ENOTDIR');
        await rmdir(target);
      } else {
        if (st.isDirectory()) throw condition('EISDIR');
        await unlink(target);
      }
      return null;
    });
  }
}
