/**
 * Host directories a script may see (`mounts`), for the `fs.read` / `fs.write` built-ins.
 * A script path is resolved lexically inside one mount, then checked again after the host
 * resolves symlinks, so neither `..` nor a link can leave the mounted directory.
 */
import { lstat, mkdir, readFile, readdir, realpath, stat, writeFile } from 'node:fs/promises';
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
  if (!Array.isArray(v)) throw new InvalidInputError("mounts must be an array of { hostPath, path, readOnly? }, e.g. [{ hostPath: '/srv/data', path: '/data', readOnly: true }]");
  const out: Resolved[] = [];
  for (const [i, m] of v.entries()) {
    const where = `mounts[${i}]`;
    if (typeof m !== 'object' || m === null) throw new InvalidInputError(`${where} must be { hostPath, path, readOnly? }`);
    const { hostPath, path, readOnly } = m as Record<string, unknown>;
    if (typeof hostPath !== 'string' || !isAbsolute(hostPath)) throw new InvalidInputError(`${where}.hostPath must be an absolute host directory`);
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

/** The file system the built-ins see: only what `mounts` declares. */
export class MountedFiles {
  constructor(private readonly mounts: Resolved[]) {}

  private locate(scriptPath: unknown, write: boolean): { mount: Resolved; host: string } {
    if (typeof scriptPath !== 'string' || !scriptPath.startsWith('/')) throw new InvalidInputError('host.fs paths are absolute script paths, like /data/file.txt');
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
    return { mount, host };
  }

  /** The real path must stay inside the mount too: a symlink may point anywhere. */
  private async real(mount: Resolved, host: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InvalidInputError(code === 'ENOENT' ? `host.fs: no such file` : `host.fs: cannot open (${code})`);
    }
    if (!within(mount.root, real)) throw new PermissionDeniedError('host.fs: the path leads out of its mount (a symlink)');
    return real;
  }

  async read(path: unknown, encoding: unknown = 'utf-8'): Promise<string | Uint8Array> {
    const { mount, host } = this.locate(path, false);
    const real = await this.real(mount, host);
    if ((await stat(real)).isDirectory()) throw new InvalidInputError(`host.fs.read: ${String(path)} is a directory; use host.fs.list`);
    const buf = await readFile(real);
    if (encoding === null) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    if (encoding !== 'utf-8' && encoding !== 'utf8') throw new InvalidInputError("host.fs.read encoding must be 'utf-8' or None/nil for bytes");
    return buf.toString('utf8');
  }

  async list(path: unknown): Promise<string[]> {
    const { mount, host } = this.locate(path, false);
    const real = await this.real(mount, host);
    return (await readdir(real)).sort();
  }

  async write(path: unknown, data: unknown): Promise<null> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new InvalidInputError('host.fs.write data must be text or bytes');
    const { mount, host } = this.locate(path, true);
    if (host === mount.root) throw new InvalidInputError('host.fs.write needs a file path, not the mount itself');
    const parent = resolve(host, '..');
    await mkdir(parent, { recursive: true });
    await this.real(mount, parent);
    try {
      if ((await lstat(host)).isSymbolicLink()) throw new PermissionDeniedError('host.fs.write: the target is a symlink; write to a plain file');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await writeFile(host, data);
    return null;
  }
}
