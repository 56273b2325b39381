/** `scriptbox snapshot build|clear`: takes the Python snapshot ahead of time, and removes it. */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DiskSnapshotStore } from '../../src/node/snapshot-cache.js';
import { snapshotKey } from '../../wasm/python/snapshot-key.js';

const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/src/cli/main.js', ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('scriptbox snapshot', () => {
  it('build writes a checked snapshot for the current key and says where and how long; clear removes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-cli-snap-'));
    const built = await cli('snapshot', 'build', '--dir', dir);
    expect(built.code, built.stderr).toBe(0);
    const key = await snapshotKey();
    const file = join(dir, `${key}.snap`);
    expect(built.stdout).toMatch(
      new RegExp(`^built the Python snapshot in \\d+\\.\\d\\d s: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(\\d+\\.\\d MiB\\)\\n`),
    );
    expect(built.stdout).toMatch(/\na new engine starts from it in \d+\.\d\d s \(create -> first result, read from the file\)\n$/);
    expect('bytes' in (await new DiskSnapshotStore(dir).read(key))).toBe(true);

    const again = await cli('snapshot', 'build', '--dir', dir);
    expect(again.code).toBe(0);
    expect(await readdir(dir)).toEqual([`${key}.snap`]);

    expect(await cli('snapshot', 'clear', '--dir', dir)).toMatchObject({ code: 0, stdout: `removed 1 snapshot file from ${dir}\n` });
    expect(await readdir(dir)).toEqual([]);
  }, 120_000);

  it('refuses unknown subcommands and options with exit 2 and the usage', async () => {
    expect(await cli('snapshot', 'make')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/expected `snapshot build` or `snapshot clear`\nusage: scriptbox snapshot build/),
    });
    expect(await cli('snapshot', 'build', '--out', 'x')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Unknown option '--out'/),
    });
    expect(await cli('snapshot', 'build', '--dir', ' ')).toMatchObject({ code: 2, stderr: 'scriptbox: --dir takes a directory path\n' });
    expect((await cli('--help')).stdout).toContain('snapshot build|clear');
    expect((await cli('snapshot', '--help')).stdout).toContain('scriptbox snapshot build [--dir DIR]');
  });
});
