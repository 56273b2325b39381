/**
 * Mounts as files, attacked: Python's open / os / pathlib and Lua's io on mounted paths must
 * hold every host-side check of host.fs: no way out by `..`, symlinks (file and directory
 * links made here, pointing out of the mount) or absolute host paths; no write under a
 * read-only mount or without fs.write; no read without fs.read; no FIFO; nothing changed
 * outside the mount.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type HostCallEvent, type ScriptEngine } from '../../src/index.js';

/** Runs each Python expression in a try and answers the exception's class name (or 'ok' and the value). */
function pyAttempts(exprs: string[]): string {
  return `
out = []
for src in ${JSON.stringify(exprs)}:
    try:
        v = eval(src)
        out.append(['ok', repr(v)[:60]])
    except Exception as e:
        out.append([type(e).__name__, str(e)[:200]])
out`;
}

describe('mounts as files: escapes and refusals', () => {
  let base: string;
  let rw: string;
  let ro: string;
  let outside: string;
  let py: ScriptEngine;
  let pyReadOnly: ScriptEngine;
  let pyWriteOnly: ScriptEngine;
  let lua: ScriptEngine;
  let luaNoFs: ScriptEngine;
  const audit: HostCallEvent[] = [];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'sb-mount-files-attack-'));
    [rw, ro, outside] = [join(base, 'rw'), join(base, 'ro'), join(base, 'outside')];
    await Promise.all([mkdir(rw), mkdir(ro), mkdir(outside)]);
    await writeFile(join(outside, 'secret.txt'), 'SECRET');
    await writeFile(join(rw, 'plain.txt'), 'plain');
    await writeFile(join(ro, 'rules.txt'), 'rules');
    await symlink(join(outside, 'secret.txt'), join(rw, 'link.txt'));
    await symlink(outside, join(rw, 'dirlink'));
    await symlink('../outside/secret.txt', join(rw, 'rel-link.txt'));
    execFileSync('mkfifo', [join(rw, 'pipe')]);
    const mounts = [
      { hostPath: rw, path: '/work' },
      { hostPath: ro, path: '/ro', readOnly: true },
    ];
    [py, pyReadOnly, pyWriteOnly, lua, luaNoFs] = await Promise.all([
      createEngine('python', { mounts, capabilities: ['fs.read', 'fs.write'] }),
      createEngine('python', { mounts, capabilities: ['fs.read'], onHostCall: (e) => void audit.push(e) }),
      createEngine('python', { mounts, capabilities: ['fs.write'], onHostCall: (e) => void audit.push(e) }),
      createEngine('lua', { mounts, capabilities: ['fs.read', 'fs.write'] }),
      createEngine('lua', { mounts }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([py, pyReadOnly, pyWriteOnly, lua, luaNoFs].map((e) => e?.dispose()));
    await rm(base, { recursive: true, force: true });
  });

  /** Nothing outside the mounts changed, and the read-only mount is as it was. */
  async function untouched(): Promise<void> {
    expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('SECRET');
    expect(await readdir(ro)).toEqual(['rules.txt']);
    expect(await readFile(join(ro, 'rules.txt'), 'utf8')).toBe('rules');
  }

  it('Python: `..` and absolute host paths never reach the host file system', async () => {
    const r = await py.exec(
      pyAttempts([
        "open('/work/../../etc/passwd').read()",
        "open('/work/sub/../../x').read()",
        "open('/work/../ro/../../' + 'etc/hostname').read()",
        `open(${JSON.stringify(join(outside, 'secret.txt'))}).read()`,
        `open(${JSON.stringify(join(rw, 'plain.txt'))}).read()`,
        `__import__('os').listdir(${JSON.stringify(outside)})`,
        `open(${JSON.stringify(join(outside, 'new.txt'))}, 'w').write('x')`,
      ]),
    );
    const got = r.value as [string, string][];
    // /etc and the host's directories are not in the engine's file system at all.
    for (const [kind, text] of got) {
      expect(kind).toBe('FileNotFoundError');
      expect(text).not.toMatch(/SECRET|root:/);
    }
    await untouched();
  });

  it('Python: symlinks inside the mount that point out are refused for open, os and pathlib', async () => {
    const r = await py.exec(
      pyAttempts([
        "open('/work/link.txt').read()",
        "open('/work/rel-link.txt').read()",
        "open('/work/dirlink/secret.txt').read()",
        "__import__('os').listdir('/work/dirlink')",
        "__import__('pathlib').Path('/work/dirlink/secret.txt').read_text()",
        "__import__('os').stat('/work/link.txt')",
        "open('/work/dirlink/new.txt', 'w').write('pwned')",
        "open('/work/link.txt', 'w').write('pwned')",
        "open('/work/link.txt', 'a').write('pwned')",
        "__import__('os').mkdir('/work/dirlink/d')",
        "__import__('os').symlink('/etc', '/work/made-link')",
        "open('/work/pipe').read()",
      ]),
    );
    for (const [i, [kind, text]] of (r.value as [string, string][]).entries()) expect(kind, `${i}: ${text}`).toBe('PermissionError');
    await untouched();
    expect((await readdir(rw)).sort()).toEqual(['dirlink', 'link.txt', 'pipe', 'plain.txt', 'rel-link.txt']);
  });

  it('Python: a read-only mount refuses every write; a file is not a directory', async () => {
    const r = await py.exec(
      pyAttempts([
        "open('/ro/rules.txt', 'w').write('x')",
        "open('/ro/rules.txt', 'a').write('x')",
        "open('/ro/rules.txt', 'r+').write('x')",
        "open('/ro/new.txt', 'w').write('x')",
        "__import__('pathlib').Path('/ro/new.txt').write_text('x')",
        "__import__('os').mkdir('/ro/d')",
        "__import__('os').remove('/ro/rules.txt')",
        "__import__('os').truncate('/ro/rules.txt', 0)",
      ]),
    );
    for (const [kind] of r.value as [string, string][]) expect(kind).toBe('PermissionError');
    const parent = await py.exec(pyAttempts(["open('/work/plain.txt/x').read()", "open('/work/plain.txt/x', 'w').write('x')"]));
    for (const [kind] of parent.value as [string, string][]) expect(kind).toBe('NotADirectoryError');
    expect((await py.exec("open('/ro/rules.txt').read()")).value).toBe('rules');
    await untouched();
  });

  it('Python: writing needs fs.write, reading needs fs.read (refused on the host, audited)', async () => {
    const w = await pyReadOnly.exec(
      pyAttempts([
        "open('/work/new.txt', 'w').write('x')",
        "open('/work/plain.txt', 'a').write('x')",
        "__import__('os').mkdir('/work/d')",
        "__import__('os').remove('/work/plain.txt')",
      ]),
    );
    for (const [kind] of w.value as [string, string][]) expect(kind).toBe('PermissionError');
    expect((await pyReadOnly.exec("open('/work/plain.txt').read()")).value).toBe('plain');
    const rd = await pyWriteOnly.exec(
      pyAttempts([
        "open('/work/plain.txt').read()",
        "__import__('os').listdir('/work')",
        "__import__('os').path.getsize('/work/plain.txt')",
      ]),
    );
    for (const [kind] of rd.value as [string, string][]) expect(kind).toBe('PermissionError');
    expect(audit.some((e) => !e.allowed && e.capability === 'fs.write' && e.name.startsWith('fs.'))).toBe(true);
    expect(audit.some((e) => !e.allowed && e.capability === 'fs.read' && e.name.startsWith('fs.'))).toBe(true);
    expect(await readFile(join(rw, 'plain.txt'), 'utf8')).toBe('plain');
    expect((await readdir(rw)).includes('new.txt')).toBe(false);
    await untouched();
  });

  it('Lua: io.open and io.lines hold the same checks', async () => {
    const r = await lua.exec(`
local out = {}
for _, t in ipairs({
  { '/work/../../etc/passwd', 'r' }, { '/work/sub/../../x', 'r' }, { ${JSON.stringify(join(outside, 'secret.txt'))}, 'r' },
  { '/work/link.txt', 'r' }, { '/work/rel-link.txt', 'r' }, { '/work/dirlink/secret.txt', 'r' }, { '/work/dirlink/new.txt', 'w' },
  { '/work/link.txt', 'w' }, { '/ro/rules.txt', 'w' }, { '/ro/rules.txt', 'a' }, { '/ro/new.txt', 'w' }, { '/work/pipe', 'r' },
  { '/work/plain.txt/x', 'w' },
}) do
  local f, why = io.open(t[1], t[2])
  if f then out[#out + 1] = 'opened ' .. t[1] .. ' ' .. tostring(f:read('a')) else out[#out + 1] = why end
end
local ok, err = pcall(io.lines, '/work/dirlink/secret.txt')
out[#out + 1] = ok and 'iterated' or err
local rf = assert(io.open('/ro/rules.txt', 'r+'))
out[#out + 1] = select(2, rf:write('x'))
return out`);
    expect(r.error).toBeUndefined();
    const got = r.value as string[];
    expect(got).toHaveLength(15);
    for (const why of got) {
      expect(why).toMatch(/PermissionError|not under a mount|leads out of its mount|No such file|a file, not a directory|read-only/);
      expect(why).not.toMatch(/^opened|SECRET/);
    }
    expect(got.slice(3, 12).every((w) => /PermissionError/.test(w))).toBe(true);
    const denied = await luaNoFs.exec(
      `local f, why = io.open('/work/plain.txt'); local g, why2 = io.open('/work/n.txt', 'w'); return { why, why2 }`,
    );
    expect(denied.value).toEqual([
      "/work/plain.txt: PermissionError: host.fs.stat needs capability 'fs.read', which this engine was not granted",
      "/work/n.txt: PermissionError: host.fs.create needs capability 'fs.write', which this engine was not granted",
    ]);
    await untouched();
    expect(await readFile(join(rw, 'plain.txt'), 'utf8')).toBe('plain');
  });
});
