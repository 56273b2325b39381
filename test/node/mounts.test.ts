/**
 * host.fs under declared mounts: read-only and read-write directories, and every way
 * out of them refused (.., absolute paths elsewhere, symlinks).
 */
import { mkdtemp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, InvalidInputError, type ScriptEngine } from '../../src/index.js';

describe('host.fs under mounts', () => {
  let ro: string;
  let rw: string;
  let outside: string;
  let py: ScriptEngine;
  let lua: ScriptEngine;

  beforeAll(async () => {
    const base = await mkdtemp(join(tmpdir(), 'sb-mounts-'));
    [ro, rw, outside] = [join(base, 'ro'), join(base, 'rw'), join(base, 'outside')];
    await Promise.all([mkdir(ro), mkdir(rw), mkdir(outside)]);
    await writeFile(join(ro, 'rules.txt'), 'allow all\n');
    await writeFile(join(ro, 'blob.bin'), Buffer.from([0, 255]));
    await writeFile(join(outside, 'secret.txt'), 'SECRET');
    await symlink(join(outside, 'secret.txt'), join(rw, 'link.txt'));
    await symlink(outside, join(rw, 'dirlink'));
    const mounts = [
      { hostPath: ro, path: '/config', readOnly: true },
      { hostPath: rw, path: '/work' },
    ];
    [py, lua] = await Promise.all([
      createEngine('python', { mounts, capabilities: ['fs.read', 'fs.write'] }),
      createEngine('lua', { mounts, capabilities: ['fs.read'] }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([py?.dispose(), lua?.dispose()]);
  });

  it('reads text and bytes, lists, and writes where the mount allows', async () => {
    expect((await py.exec('import host\nhost.fs.read("/config/rules.txt")')).value).toBe('allow all\n');
    expect((await py.exec('host.fs.read("/config/blob.bin", None)')).value).toEqual(new Uint8Array([0, 255]));
    expect((await lua.exec('return host.fs.list("/config")')).value).toEqual(['blob.bin', 'rules.txt']);
    await py.exec('host.fs.write("/work/out/result.txt", "done")');
    expect(await readFile(join(rw, 'out', 'result.txt'), 'utf8')).toBe('done');
  });

  it('refuses writes to read-only mounts and without fs.write', async () => {
    const r = await py.exec('host.fs.write("/config/rules.txt", "deny")');
    expect(r.error?.type).toBe('PermissionError');
    expect(r.error?.message).toMatch(/\/config is mounted read-only/);
    expect(await readFile(join(ro, 'rules.txt'), 'utf8')).toBe('allow all\n');
    expect((await lua.exec('return host.fs.write("/work/x", "y")')).error?.message).toMatch(/needs capability 'fs.write'/);
  });

  it('no path leaves its mount: .., other absolute paths, symlinks', async () => {
    for (const p of [
      '/work/../../etc/passwd',
      '/etc/passwd',
      '/tmp/sandbox_canary_secret.txt',
      '/work/link.txt',
      '/work/dirlink/secret.txt',
    ]) {
      const r = await py.exec(`host.fs.read(${JSON.stringify(p)})`);
      expect(r.success, p).toBe(false);
      expect(r.error?.type, p).toBe('PermissionError');
      expect(JSON.stringify(r)).not.toContain('SECRET');
    }
    const w = await py.exec('host.fs.write("/work/link.txt", "overwrite")');
    expect(w.error?.type).toBe('PermissionError');
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('SECRET');
    const d = await py.exec('host.fs.write("/work/dirlink/new.txt", "x")');
    expect(d.error?.type).toBe('PermissionError');
  });

  it('checks mounts at createEngine with the fix in the message', async () => {
    await expect(createEngine('lua', { mounts: [{ hostPath: 'relative', path: '/a' }] })).rejects.toThrow(
      /hostPath must be an absolute host directory/,
    );
    await expect(createEngine('lua', { mounts: [{ hostPath: '/nonexistent/dir', path: '/a' }] })).rejects.toThrow(
      /is not an existing directory/,
    );
    await expect(
      createEngine('lua', {
        mounts: [
          { hostPath: ro, path: '/a' },
          { hostPath: rw, path: '/a/b' },
        ],
      }),
    ).rejects.toThrow(/must not nest/);
    await expect(createEngine('lua', { mounts: [{ hostPath: ro, path: 'a' }] })).rejects.toBeInstanceOf(InvalidInputError);
    await using none = await createEngine('lua', { capabilities: ['fs.read'] });
    expect((await none.exec('return host.fs.read("/config/rules.txt")')).error?.message).toMatch(/no mounts/);
  });
});
