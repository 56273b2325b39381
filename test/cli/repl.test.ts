/**
 * `scriptbox repl` through piped stdin (no terminal: readline reads lines, prompts are still
 * printed; Ctrl-C is the SIGINT a terminal would send). Line editing and history need a
 * terminal and are node:readline's own.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = 'dist/src/cli/main.js';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scriptbox-repl-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function repl(args: string[]): {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  done: Promise<number | null>;
} {
  const child = spawn(process.execPath, [CLI, 'repl', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, out: () => stdout, err: () => stderr, done };
}

/** Feeds `input` and waits for the REPL to leave at its end. */
async function session(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = repl(args);
  r.child.stdin.end(input);
  const code = await r.done;
  return { code, stdout: r.out(), stderr: r.err() };
}

async function until(get: () => string, pattern: RegExp, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pattern.test(get())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}; got:\n${get()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('scriptbox repl (Python)', () => {
  it('prints the last value, runs multi-line blocks when complete, reports errors, .reset and .load', async () => {
    const file = join(dir, 'lib.py');
    await writeFile(file, 'def double(n):\n    return 2 * n\n');
    const r = await session(
      [],
      [
        'x = 20',
        'if x > 10:',
        '    print("big")',
        '    x += 1',
        '',
        'x * 2',
        'items = [1,',
        '  2, 3]',
        'sum(items)',
        'raise ValueError("boom")',
        `.load ${file}`,
        'double(21)',
        '.reset',
        'x',
        '.exit',
        'print("never reached")',
      ].join('\n') + '\n',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ScriptBox Python (sandboxed, worker)');
    expect(r.stdout).toContain('... '); // the continuation prompt while the block was open
    expect(r.stdout).toMatch(/big\n(>>> )+42\n/);
    expect(r.stdout).toContain('6\n');
    expect(r.stdout).toContain('(a fresh engine)');
    expect(r.stdout).not.toContain('never reached');
    expect(r.stderr).toContain('ValueError: boom');
    // double came from .load; x is gone after .reset.
    expect(r.stdout).toMatch(/(>>> )+42\n(>>> )*\(a fresh engine\)/);
    expect(r.stderr).toContain("NameError: name 'x' is not defined");
  }, 60_000);

  it('Ctrl-C (SIGINT) interrupts running code and keeps the session; end of input leaves', async () => {
    const r = repl([]);
    r.child.stdin.write('kept = "still here"\nimport time\nwhile True: time.sleep(0.01)\n\n');
    // The loop is running once the prompt after it has not come back: give it a moment.
    await until(r.out, /(>>> ){3}/);
    await new Promise((res) => setTimeout(res, 500));
    r.child.kill('SIGINT');
    await until(r.err, /Interrupt/);
    r.child.stdin.end('kept\n');
    expect(await r.done).toBe(0);
    expect(r.out()).toContain("'still here'");
  }, 60_000);

  it('rejects a bad --lang with usage', async () => {
    const r = await session(['--lang', 'ruby'], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--lang takes python or lua (got ruby)');
  });
});

describe('scriptbox repl (Lua)', () => {
  it('knows when a chunk is complete (load at <eof>), prints values, keeps globals', async () => {
    const r = await session(
      ['--lang', 'lua', '--placement', 'process'],
      ['n = 0', 'for i = 1, 4 do', '  n = n + i', 'end', 'n * 2', 't = {', '  a = 1 }', 'return t', 'error("oops")', ''].join('\n'),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ScriptBox Lua (sandboxed, process)');
    expect(r.stdout).toContain('>> ');
    expect(r.stdout).toMatch(/(> )+20\n/);
    expect(r.stdout).toContain('{ a: 1 }');
    expect(r.stderr).toContain('oops');
  }, 60_000);
});
