/**
 * Issue 17 class 3 and the FIFO finding, attacked through a real engine: a write through a
 * symlinked parent must change nothing outside the mount (not even `mkdir -p` there), and a
 * FIFO (or another non-regular file) in a mount is refused at once without blocking the
 * host's file system calls.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { MountedFiles, checkMounts } from '../../src/node/mounts.js';

describe('host.fs: mount escapes and non-regular files', () => {
  let base: string;
  let rw: string;
  let outside: string;
  let py: ScriptEngine;
  let files: MountedFiles;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'sb-mount-attack-'));
    [rw, outside] = [join(base, 'rw'), join(base, 'outside')];
    await Promise.all([mkdir(rw), mkdir(outside)]);
    await symlink(outside, join(rw, 'escape'));
    await mkdir(join(rw, 'inner'));
    await symlink(join(rw, 'inner'), join(rw, 'inside-link'));
    execFileSync('mkfifo', [join(rw, 'pipe')]);
    const mounts = [{ hostPath: rw, path: '/work' }];
    files = new MountedFiles(await checkMounts(mounts));
    py = await createEngine('python', { mounts, capabilities: ['fs.read', 'fs.write'] });
  }, 60_000);
  afterAll(async () => {
    await py?.dispose();
    await rm(base, { recursive: true, force: true });
  });

  it('a write through a symlinked parent is refused before anything is made outside the mount', async () => {
    for (const p of ['/work/escape/a/b/c/file.txt', '/work/escape/file.txt', '/work/inner/../escape/x/y.txt']) {
      const r = await py.exec(`import host\nhost.fs.write(${JSON.stringify(p)}, "pwned")`);
      expect(r.error?.type, p).toBe('PermissionError');
      expect(r.error?.message, p).toMatch(/leads out of its mount/);
    }
    expect(await readdir(outside)).toEqual([]); // no directory, no file
  });

  it('symlinks that stay inside the mount still work, and missing directories are made inside it', async () => {
    expect((await py.exec('host.fs.write("/work/inside-link/deep/er/f.txt", "ok")')).success).toBe(true);
    expect(await readFile(join(rw, 'inner', 'deep', 'er', 'f.txt'), 'utf8')).toBe('ok');
    expect((await py.exec('host.fs.read("/work/inside-link/deep/er/f.txt")')).value).toBe('ok');
    await writeFile(join(rw, 'plain'), 'x');
    const r = await py.exec('host.fs.write("/work/plain/sub.txt", "y")');
    expect(r.success).toBe(false);
    expect(r.error?.message).toMatch(/is a file, not a directory/);
  });

  it('reading a FIFO is refused at once, naming it; host fs calls keep working', async () => {
    // libuv's pool has 4 threads: before the fix, 4 such reads blocked every host fs call.
    const reads = await Promise.all(
      Array.from({ length: 6 }, () =>
        files.read('/work/pipe').then(
          () => 'read',
          (e: Error) => e,
        ),
      ),
    );
    for (const e of reads) {
      expect(e).toMatchObject({ code: 'PERMISSION_DENIED' });
      expect((e as Error).message).toBe('host.fs.read: /work/pipe is a FIFO (named pipe); only regular files can be read');
    }
    const r = await py.exec('host.fs.read("/work/pipe")');
    expect(r.error?.type).toBe('PermissionError');
    expect(r.error?.message).toMatch(/FIFO/);
    const w = await py.exec('host.fs.write("/work/pipe", "x")');
    expect(w.error?.type).toBe('PermissionError');
    expect(w.error?.message).toMatch(/FIFO/);
    // The host's own fs calls still complete.
    expect((await stat(rw)).isDirectory()).toBe(true);
    expect(await readFile(join(rw, 'plain'), 'utf8')).toBe('x');
  });

  it('device files reached through the mount are refused too', async () => {
    if (!existsSync('/dev/zero')) return;
    // A script cannot make links, but the host may have: a link to /dev leaves the mount.
    await symlink('/dev/zero', join(rw, 'zero'));
    await expect(files.read('/work/zero')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });
});
