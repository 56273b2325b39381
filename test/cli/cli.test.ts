import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** Runs the CLI with `input` on its stdin. */
function cliWithStdin(input: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('scriptbox help, version and mistakes', () => {
  it('--help, -h and `help` print the usage to stdout and exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^usage: scriptbox <command>/);
      expect(r.stdout).toMatch(/run FILE\|-\|-c CODE/);
      expect(r.stderr).toBe('');
    }
  });

  it('`run --help` and `help run` print the run usage to stdout and exit 0', async () => {
    for (const args of [
      ['run', '--help'],
      ['help', 'run'],
      ['run', '-h'],
    ]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^usage: scriptbox run FILE/);
      expect(r.stdout).toContain('-c, --code CODE');
    }
    const bench = await cli('help', 'bench');
    expect(bench).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: scriptbox bench/) });
    expect(bench.stdout).toContain('--check [all|ci]');
  });

  it('`bench --check` takes all or ci, and refuses anything else before running (exit 2)', async () => {
    for (const args of [
      ['--check', 'everything'],
      ['--check=sometimes', '--quick'],
    ]) {
      const r = await cli('bench', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(
        /^scriptbox bench: INVALID_INPUT: --check takes all or ci \(or nothing, meaning all\), not "(everything|sometimes)"/,
      );
      expect(r.stderr).toContain('usage: scriptbox bench');
      expect(r.stdout).toBe('');
    }
  });

  it('bare `scriptbox` prints the usage and exits 2', async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: scriptbox <command>/);
  });

  it('an unknown command names itself and the closest real one', async () => {
    const r = await cli('rn', 'examples/hello.lua');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'rn'; did you mean 'run'\?/);
    expect((await cli('snapshots')).stderr).toMatch(/unknown command 'snapshots'; did you mean 'snapshot'/);
    expect((await cli('help', 'bnech')).stderr).toMatch(/unknown command 'bnech'; did you mean 'bench'/);
    expect((await cli('--hepl')).stderr).toMatch(/unknown option '--hepl'; did you mean 'help'/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) expect(await cli(flag)).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

describe('scriptbox run - and -c', () => {
  it('`run -` reads the script from stdin', async () => {
    const py = await cliWithStdin('import sys\nprint("from stdin", sys.version_info[0])\n', 'run', '-', '--lang', 'python');
    expect(py).toMatchObject({ code: 0, stdout: 'from stdin 3\n' });
    const lua = await cliWithStdin('print("lua " .. 6 * 7)', 'run', '-', '-l', 'lua');
    expect(lua).toMatchObject({ code: 0, stdout: 'lua 42\n' });
  }, 60_000);

  it('`run -c CODE --lang` runs a snippet; --json gives its value', async () => {
    const r = await cli('run', '-c', 'return 6 * 7', '--lang', 'lua', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ success: true, value: 42 });
    const bad = await cli('run', '-c', 'error("nope")', '--lang', 'lua');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('nope');
  });

  it('--lang overrides the extension, and - / -c without --lang say what is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-cli-'));
    await writeFile(join(dir, 'script.txt'), 'return "as lua"');
    expect(await cli('run', join(dir, 'script.txt'), '--lang', 'lua', '--json').then((r) => JSON.parse(r.stdout).value)).toBe('as lua');
    const noLang = await cli('run', '-c', '1 + 1');
    expect(noLang.code).toBe(2);
    expect(noLang.stderr).toMatch(/-c CODE needs --lang python or --lang lua/);
    expect((await cliWithStdin('', 'run', '-')).stderr).toMatch(/stdin needs --lang/);
    expect((await cli('run', '-c', 'x', '--lang', 'ruby')).stderr).toMatch(/--lang takes python or lua \(got ruby\)/);
    expect((await cli('run', '-c', 'x', 'file.lua', '--lang', 'lua')).stderr).toMatch(/either -c CODE or a script/);
  });
});

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
