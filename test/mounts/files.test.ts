/**
 * Mounts as files: Python's ordinary file APIs (open, os, pathlib, csv) and Lua's io.open /
 * io.lines on mounted paths in the default placement, each operation a host call checked on
 * the host (src/node/mounts.ts), large files moved in chunks.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type HostCallEvent, type ScriptEngine } from '../../src/index.js';
import { flushSnapshots, snapshotCounts } from '../../src/snapshot/fast-start.js';

describe('mounts as files', () => {
  let base: string;
  let rw: string;
  let ro: string;
  let py: ScriptEngine;
  let lua: ScriptEngine;
  let bare: ScriptEngine;
  const calls: HostCallEvent[] = [];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'sb-mount-files-'));
    [rw, ro] = [join(base, 'rw'), join(base, 'ro')];
    await Promise.all([mkdir(rw), mkdir(ro)]);
    await writeFile(join(ro, 'table.csv'), 'name,n\nada,1\nbob,2\n');
    await writeFile(join(ro, 'blob.bin'), Buffer.from([0, 1, 254, 255]));
    const mounts = [
      { hostPath: rw, path: '/data' },
      { hostPath: ro, path: '/ref', readOnly: true },
    ];
    [py, lua, bare] = await Promise.all([
      createEngine('python', { mounts, capabilities: ['fs.read', 'fs.write'], onHostCall: (e) => void calls.push(e) }),
      createEngine('lua', { mounts, capabilities: ['fs.read', 'fs.write'] }),
      createEngine('python'),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([py?.dispose(), lua?.dispose(), bare?.dispose()]);
    await rm(base, { recursive: true, force: true });
  });

  it('chunks read at the same time (host.aio) each get their own bytes: the host reuses its chunk buffer only between answers', async () => {
    await writeFile(join(ro, 'a.bin'), Buffer.alloc(3000, 1));
    await writeFile(join(ro, 'b.bin'), Buffer.alloc(3000, 2));
    const r = await py.exec(`
import asyncio, host
got = await asyncio.gather(*[host.aio.fs.pread('/ref/a.bin' if i % 2 else '/ref/b.bin', 0, 3000) for i in range(8)])
with open('/ref/a.bin', 'rb') as f, open('/ref/b.bin', 'rb') as g:
    both = (f.read(), g.read())
[sorted(set(x)) for x in got] + [sorted(set(x)) for x in both]`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual([[2], [1], [2], [1], [2], [1], [2], [1], [1], [2]]);
  });

  it('Python: open, os and pathlib read, write, append, list and stat mounted files', async () => {
    const r = await py.exec(`
import os, pathlib
with open('/data/notes.txt', 'w') as f:
    f.write('first\\n')
with open('/data/notes.txt', 'a') as f:
    f.write('second\\n')
os.mkdir('/data/sub')
pathlib.Path('/data/sub/b.bin').write_bytes(bytes([0, 128, 255]))
with open('/data/sub/b.bin', 'rb') as f:
    f.seek(1)
    tail = f.read()
st = os.stat('/data/notes.txt')
{
  'text': open('/data/notes.txt').read(),
  'lines': pathlib.Path('/data/notes.txt').read_text().splitlines(),
  'tail': list(tail),
  'size': st.st_size,
  'listing': sorted(os.listdir('/data')),
  'iterdir': sorted(p.name for p in pathlib.Path('/data/sub').iterdir()),
  'checks': [os.path.exists('/data/notes.txt'), os.path.exists('/data/missing'), os.path.isdir('/data/sub'),
             os.path.isfile('/data/sub'), os.path.isfile('/data/notes.txt'), pathlib.Path('/data/sub').exists()],
  'roots': sorted(x for x in os.listdir('/') if x in ('data', 'ref')),
  'ref': open('/ref/blob.bin', 'rb').read() == bytes([0, 1, 254, 255]),
}`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual({
      text: 'first\nsecond\n',
      lines: ['first', 'second'],
      tail: [128, 255],
      size: 13,
      listing: ['notes.txt', 'sub'],
      iterdir: ['b.bin'],
      checks: [true, false, true, false, true, true],
      roots: ['data', 'ref'],
      ref: true,
    });
    expect(await readFile(join(rw, 'notes.txt'), 'utf8')).toBe('first\nsecond\n');
    expect([...(await readFile(join(rw, 'sub', 'b.bin')))]).toEqual([0, 128, 255]);
    // Each operation was a host call of the fs built-ins, under their capabilities.
    expect(calls.some((c) => c.name === 'fs.pwrite' && c.capability === 'fs.write' && c.allowed)).toBe(true);
    expect(calls.some((c) => c.name === 'fs.pread' && c.capability === 'fs.read' && c.allowed)).toBe(true);
  });

  it('Python: the csv module reads and writes mounted files; /tmp stays the in-engine scratch dir', async () => {
    const r = await py.exec(`
import csv, os
with open('/ref/table.csv', newline='') as f:
    rows = list(csv.DictReader(f))
with open('/data/out.csv', 'w', newline='') as f:
    w = csv.writer(f)
    for row in rows:
        w.writerow([row['name'].upper(), int(row['n']) * 10])
with open('/tmp/scratch.txt', 'w') as f:
    f.write('local')
[rows, open('/tmp/scratch.txt').read()]`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual([
      [
        { name: 'ada', n: '1' },
        { name: 'bob', n: '2' },
      ],
      'local',
    ]);
    expect(await readFile(join(rw, 'out.csv'), 'utf8')).toBe('ADA,10\r\nBOB,20\r\n');
    await expect(readFile(join(rw, 'scratch.txt'))).rejects.toThrow();
  });

  it('Python: os.remove and os.rmdir work inside a writable mount', async () => {
    const r = await py.exec(`
import os
os.makedirs('/data/gone/deeper')
open('/data/gone/deeper/f', 'w').close()
os.remove('/data/gone/deeper/f'); os.rmdir('/data/gone/deeper'); os.rmdir('/data/gone')
os.path.exists('/data/gone')`);
    expect(r.error).toBeUndefined();
    expect(r.value).toBe(false);
  });

  it('an engine restored from a memory snapshot mounts its files again (the FS type is JavaScript-side)', async () => {
    const dir = join(base, 'snapshots');
    const mounts = [{ hostPath: ro, path: '/ref', readOnly: true }];
    const first = await createEngine('python', { mounts, capabilities: ['fs.read'], snapshot: { dir, spare: false } });
    await first.dispose();
    await flushSnapshots();
    const before = snapshotCounts().restored;
    const again = await createEngine('python', { mounts, capabilities: ['fs.read'], snapshot: { dir, spare: false } });
    try {
      expect(snapshotCounts().restored - before).toBe(1);
      const r = await again.exec(`import os\n[sorted(os.listdir('/ref')), open('/ref/table.csv').readline()]`);
      expect(r.error).toBeUndefined();
      expect((r.value as [string[], string])[1]).toBe('name,n\n');
      expect((r.value as [string[], string])[0]).toContain('table.csv');
    } finally {
      await again.dispose();
    }
  }, 60_000);

  it('the mount points exist only in engines that have mounts', async () => {
    const r = await bare.exec(`import os\n[os.path.exists('/data'), os.path.exists('/ref')]`);
    expect(r.value).toEqual([false, false]);
  });

  it('Lua: io.open reads lines, numbers, counts and all; writes, appends and seeks; io.lines iterates', async () => {
    await writeFile(join(rw, 'lua.txt'), 'alpha\n42 7.5\nrest of it\n');
    const r = await lua.exec(`
local out = {}
local f = assert(io.open('/data/lua.txt', 'r'))
out.first = f:read('l')
out.n1, out.n2 = f:read('n', 'n')
f:read('l')
out.three = f:read(3)
out.all = f:read('a')
out.eof = f:read('l')
f:close()
out.closed = io.type(f)
local w = assert(io.open('/data/lua-out.txt', 'w'))
w:write('x', 1, '\\n')
w:close()
local a = assert(io.open('/data/lua-out.txt', 'a'))
a:write('y\\n')
out.size = a:seek('end')
a:close()
out.lines = {}
for line in io.lines('/data/lua-out.txt') do out.lines[#out.lines + 1] = line end
local ok, why = io.open('/data/missing.txt')
out.missing = why
local b = assert(io.open('/ref/blob.bin', 'rb'))
out.blob = { string.byte(b:read('a'), 1, -1) }
b:close()
return out`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual({
      first: 'alpha',
      n1: 42,
      n2: 7.5,
      three: 'res',
      all: 't of it\n',
      closed: 'closed file',
      size: 5,
      lines: ['x1', 'y'],
      missing: '/data/missing.txt: No such file or directory',
      blob: [0, 1, 254, 255],
    });
    expect(await readFile(join(rw, 'lua-out.txt'), 'utf8')).toBe('x1\ny\n');
  });

  it('a 20 MB file is read and written in chunks, byte for byte (Python and Lua)', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024 + 12345);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    await writeFile(join(ro, 'big.bin'), big);
    const want = createHash('sha256').update(big).digest('hex');
    const before = calls.length;
    const r = await py.exec(`
import hashlib
h = hashlib.sha256()
with open('/ref/big.bin', 'rb') as f:
    while chunk := f.read(3 * 1024 * 1024):
        h.update(chunk)
whole = open('/ref/big.bin', 'rb').read()
with open('/data/copy.bin', 'wb') as f:
    f.write(whole)
[h.hexdigest(), hashlib.sha256(whole).hexdigest(), len(whole)]`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual([want, want, big.length]);
    expect(
      createHash('sha256')
        .update(await readFile(join(rw, 'copy.bin')))
        .digest('hex'),
    ).toBe(want);
    // No host call moved more than a chunk: at least 20 positioned reads per pass.
    const reads = calls.slice(before).filter((c) => c.name === 'fs.pread').length;
    expect(reads).toBeGreaterThanOrEqual(40);
    const l = await lua.exec(`
local f = assert(io.open('/ref/big.bin', 'rb'))
local s = f:read('a')
f:close()
return { #s, s:byte(1), s:byte(#s) }`);
    expect(l.error).toBeUndefined();
    expect(l.value).toEqual([big.length, big[0], big[big.length - 1]]);
  }, 60_000);
});
