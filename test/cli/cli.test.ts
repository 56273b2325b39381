import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = 'dist/src/cli/main.js';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('scriptbox run', () => {
  it('prints the script output and exits 0', async () => {
    const r = await cli('run', 'examples/hello.lua');
    expect(r).toMatchObject({ code: 0, stdout: 'sorted:\t1,2,3\n' });
  });

  it('--json prints the ExecResult', async () => {
    const r = await cli('run', 'examples/hello.lua', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ success: true, value: 3, stdout: 'sorted:\t1,2,3\n' });
  });

  it('runs a .py file the same way', async () => {
    const r = await cli('run', 'examples/hello.py', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ success: true, value: 3, stdout: 'sorted: [1, 2, 3]\n' });
    const dir = await mkdtemp(join(tmpdir(), 'sb-cli-'));
    await writeFile(join(dir, 'bad.py'), 'x = 1\nraise KeyError("rule")\n');
    const bad = await cli('run', join(dir, 'bad.py'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("KeyError: 'rule'");
  }, 60_000);

  it('exits 1 on a script error, with the error on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-cli-'));
    await writeFile(join(dir, 'bad.lua'), 'error("bad rule")');
    const r = await cli('run', join(dir, 'bad.lua'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RuntimeError: input:1: bad rule');
  });

  it('--timeout stops runaway scripts; --allow grants capabilities', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-cli-'));
    await writeFile(join(dir, 'loop.lua'), 'while true do end');
    const r = await cli('run', join(dir, 'loop.lua'), '--timeout', '200', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ success: false, timedOut: true });
    const bad = await cli('run', 'examples/hello.lua', '--allow', 'not a pattern');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/INVALID_INPUT: .*not a capability pattern/);
  });

  it('rejects bad usage with exit 2', async () => {
    expect((await cli('run')).code).toBe(2);
    expect((await cli('run', 'x.txt')).stderr).toMatch(/name it \.lua or \.py/);
    expect((await cli('run', 'examples/hello.lua', '--timeout', 'soon')).code).toBe(2);
    expect((await cli('run', 'missing.lua')).stderr).toMatch(/cannot read missing.lua/);
  });
});
