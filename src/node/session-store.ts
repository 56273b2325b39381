/**
 * The Node SnapshotStore (src/session/store.ts): one file per name, `<name>.session`,
 * written to a temporary file and renamed (a reader sees the old or the new file, never
 * half of one). A listing reads only each file's header.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '../errors.js';
import { SESSION_PREFIX_BYTES, readSessionHeader } from '../session/format.js';
import { SessionSnapshot, sessionInfo, type SessionInfo } from '../session/snapshot.js';
import { checkSaved, checkSnapshotName, storedSnapshot, type SnapshotStore } from '../session/store.js';
import { defaultCacheDir } from './snapshot-cache.js';

const EXT = '.session';

export class DiskSessionStore implements SnapshotStore {
  readonly where: string;

  private constructor(private readonly dir: string) {
    this.where = `the directory ${dir}`;
  }

  /** `dir` (created if missing) or the default sessions directory. */
  static async open(dir?: string): Promise<DiskSessionStore> {
    if (dir !== undefined && (typeof dir !== 'string' || dir === ''))
      throw new InvalidInputError('openSnapshotStore: dir must be the path of a directory');
    const d = resolve(dir ?? defaultCacheDir('sessions'));
    try {
      await mkdir(d, { recursive: true });
      if (!(await stat(d)).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new InvalidInputError(
        `openSnapshotStore: ${d} cannot hold snapshots (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pass a writable directory as dir`,
      );
    }
    return new DiskSessionStore(d);
  }

  private file(name: string): string {
    return join(this.dir, checkSnapshotName(name) + EXT);
  }

  async save(name: string, snap: SessionSnapshot): Promise<void> {
    const file = this.file(name);
    checkSaved(snap);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, snap.toBytes());
      await rename(tmp, file);
    } catch (e) {
      // The temporary file is ours and half-written: nobody else will ever read it.
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  async load(name: string): Promise<SessionSnapshot | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return storedSnapshot(bytes, name, this.where);
  }

  async list(): Promise<{ name: string; info: SessionInfo }[]> {
    const out: { name: string; info: SessionInfo }[] = [];
    for (const f of await readdir(this.dir)) {
      if (!f.endsWith(EXT)) continue;
      const info = await this.headerOf(join(this.dir, f));
      // A damaged entry is left out of the listing; load() names what is wrong with it.
      if (info) out.push({ name: f.slice(0, -EXT.length), info });
    }
    return out.sort((a, b) => (a.info.createdAt < b.info.createdAt ? 1 : a.info.createdAt > b.info.createdAt ? -1 : 0));
  }

  private async headerOf(path: string): Promise<SessionInfo | undefined> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      let want = SESSION_PREFIX_BYTES;
      for (;;) {
        const buf = Buffer.alloc(Math.min(want, size));
        await fh.read(buf, 0, buf.length, 0);
        const got = readSessionHeader(buf);
        if (!('need' in got)) return sessionInfo(got.header, size);
        if (got.need > size || got.need <= want) return undefined;
        want = got.need;
      }
    } catch {
      // Not a snapshot (damaged, foreign): not listed.
      return undefined;
    } finally {
      await fh.close();
    }
  }

  async delete(name: string): Promise<boolean> {
    try {
      await unlink(this.file(name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async dispose(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
