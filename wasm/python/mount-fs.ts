/**
 * Mounts as files for Pyodide: a file system type of the engine's Emscripten FS (like MEMFS
 * or NODEFS: node_ops and stream_ops), mounted at each mount's script path, whose every
 * operation is a host call over the core's existing host-call path (`env.hostCall`, the
 * one `/dev/scriptbox` requests use). So `open`, `os.listdir`, `os.stat` and `pathlib` work
 * on mounted paths while every check stays on the host (src/node/mounts.ts: capability,
 * read-only, no escape by `..`, symlinks or absolute paths, only regular files).
 *
 * Nothing is cached but Emscripten's own name table: sizes, types and entries are asked
 * of the host each time, and file data moves in positioned chunks of at most
 * MAX_CHUNK_BYTES (a read never holds a whole file on the host; writes go through at their
 * offset, so nothing is buffered here and a close has nothing to flush).
 *
 * The FS type is JavaScript-side state: a core restored from a memory snapshot mounts it
 * again (wasm/python/core.ts boot, after the snapshot step).
 */
import { HostCallError } from '../../src/core.js';
import type { ScriptValue } from '../../src/values.js';

/** One mount as the core sees it (CoreInit.mounts). */
export interface MountPoint {
  path: string;
  readOnly: boolean;
}

/** A host call that blocks until it answers (CoreEnv.hostCall). */
export type HostCall = (name: string, args: ScriptValue[]) => ScriptValue;

interface FSNode {
  id: number;
  mode: number;
  name: string;
  parent: FSNode;
  mount: { opts: { readOnly: boolean } };
  node_ops: object;
  stream_ops: object;
}

interface FSStream {
  node: FSNode;
  flags: number;
  position: number;
}

/** The parts of Emscripten's FS this uses. */
export interface EmscriptenFS {
  createNode(parent: FSNode | null, name: string, mode: number, dev?: number): FSNode;
  getPath(node: FSNode): string;
  mkdirTree(path: string, mode?: number): void;
  mount(type: object, opts: object, mountpoint: string): unknown;
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  ErrnoError: new (errno: number) => Error;
}

/** The most one host call moves (src/node/mounts.ts MAX_CHUNK_BYTES; not imported: that module imports node:fs). */
const CHUNK = 1024 * 1024;

// Emscripten's errno numbers (they are WASI's, not Linux's).
const E = { EACCES: 2, EEXIST: 20, EINVAL: 28, EIO: 29, EISDIR: 31, ENOENT: 44, ENOTDIR: 54, ENOTEMPTY: 55, EPERM: 63 } as const;

const DIR = 0o040000;
const FILE = 0o100000;
/** O_ACCMODE bits of a stream's flags: 0 is read-only. */
const ACCMODE = 3;

/** Mounts the FS type at every mount point (making the point's parents in MEMFS). */
export function mountFiles(FS: EmscriptenFS, points: readonly MountPoint[], hostCall: HostCall): void {
  if (points.length === 0) return;

  /** Runs a host op: answers its value, or throws the ErrnoError the script's call fails with. */
  const op = (name: string, ...args: ScriptValue[]): unknown => {
    let v: unknown;
    try {
      v = hostCall(name, args);
    } catch (e) {
      // Refused (capability, read-only, leaving the mount, a FIFO): Python sees PermissionError.
      if (e instanceof HostCallError) throw new FS.ErrnoError(e.failure.type === 'PermissionError' ? E.EACCES : E.EIO);
      throw e;
    }
    const errno = errnoOf(v);
    if (errno !== undefined) throw new FS.ErrnoError(E[errno as keyof typeof E] ?? E.EIO);
    return v;
  };

  const modeOf = (type: unknown, readOnly: boolean): number =>
    type === 'dir' ? DIR | (readOnly ? 0o555 : 0o777) : FILE | (readOnly ? 0o444 : 0o666);

  const child = (parent: FSNode, name: string) => `${FS.getPath(parent)}/${name}`;

  const node_ops = {
    getattr(node: FSNode) {
      const info = op('fs.stat', FS.getPath(node)) as { type: string; size: number; mtimeMs: number };
      const t = new Date(info.mtimeMs);
      return {
        dev: 1,
        ino: node.id,
        mode: modeOf(info.type, node.mount.opts.readOnly),
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev: 0,
        size: info.size,
        atime: t,
        mtime: t,
        ctime: t,
        // Python sizes its file buffers by this: one host call per chunk.
        blksize: CHUNK,
        blocks: Math.ceil(info.size / 512),
      };
    },
    setattr(node: FSNode, attr: { size?: number }) {
      // Modes and times stay the host's; a size is a truncate (open 'w', os.truncate).
      if (attr.size !== undefined) op('fs.truncate', FS.getPath(node), attr.size);
    },
    lookup(parent: FSNode, name: string) {
      const info = op('fs.stat', child(parent, name)) as { type: string };
      return make(parent, name, modeOf(info.type, parent.mount.opts.readOnly));
    },
    mknod(parent: FSNode, name: string, mode: number) {
      const path = child(parent, name);
      if (FS.isDir(mode)) op('fs.mkdir', path);
      else if (FS.isFile(mode)) op('fs.create', path);
      else throw new FS.ErrnoError(E.EPERM);
      return make(parent, name, modeOf(FS.isDir(mode) ? 'dir' : 'file', parent.mount.opts.readOnly));
    },
    unlink(parent: FSNode, name: string) {
      op('fs.remove', child(parent, name), false);
    },
    rmdir(parent: FSNode, name: string) {
      op('fs.remove', child(parent, name), true);
    },
    readdir(node: FSNode) {
      return ['.', '..', ...(op('fs.readdir', FS.getPath(node)) as string[])];
    },
    rename() {
      throw new FS.ErrnoError(E.EPERM);
    },
    symlink() {
      throw new FS.ErrnoError(E.EPERM);
    },
    readlink() {
      throw new FS.ErrnoError(E.EINVAL);
    },
  };

  const stream_ops = {
    open(stream: FSStream) {
      if ((stream.flags & ACCMODE) === 0) return;
      // Opening for writing is refused at open(), not at the first flush (which a script that
      // never closes would not see): the host checks fs.write, the mount and the file now.
      if (stream.node.mount.opts.readOnly) throw new FS.ErrnoError(E.EACCES);
      op('fs.create', FS.getPath(stream.node));
    },
    close() {},
    read(stream: FSStream, buffer: Uint8Array, offset: number, length: number, position: number): number {
      const got = op('fs.pread', FS.getPath(stream.node), position, Math.min(length, CHUNK)) as Uint8Array;
      buffer.set(got, offset);
      return got.length;
    },
    write(stream: FSStream, buffer: Uint8Array, offset: number, length: number, position: number): number {
      const path = FS.getPath(stream.node);
      let done = 0;
      while (done < length) {
        const n = Math.min(length - done, CHUNK);
        // A copy: the heap may grow (and move) while the host writes.
        const part = new Uint8Array(buffer.buffer, buffer.byteOffset + offset + done, n).slice();
        done += op('fs.pwrite', path, position + done, part) as number;
      }
      return done;
    },
    llseek(stream: FSStream, offset: number, whence: number): number {
      let position = offset;
      if (whence === 1) position += stream.position;
      else if (whence === 2 && FS.isFile(stream.node.mode)) position += (op('fs.stat', FS.getPath(stream.node)) as { size: number }).size;
      if (position < 0) throw new FS.ErrnoError(E.EINVAL);
      return position;
    },
  };

  const make = (parent: FSNode | null, name: string, mode: number): FSNode => {
    const node = FS.createNode(parent, name, mode, 0);
    node.node_ops = node_ops;
    node.stream_ops = stream_ops;
    return node;
  };

  for (const p of points) {
    FS.mkdirTree(p.path);
    FS.mount({ mount: () => make(null, '/', modeOf('dir', p.readOnly)) }, { readOnly: p.readOnly }, p.path);
  }
}

/** The errno name of an FsCondition answer (src/node/mounts.ts), if the value is one. */
function errnoOf(v: unknown): string | undefined {
  if (v instanceof Map) return typeof v.get('errno') === 'string' ? (v.get('errno') as string) : undefined;
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v)) {
    const e = (v as Record<string, unknown>).errno;
    return typeof e === 'string' ? e : undefined;
  }
  return undefined;
}
