/**
 * The path every user takes: `npm pack` the package, install the tarball into a fresh
 * project outside the repo, and there import `scriptbox` in Node ESM (a Python and a Lua
 * snippet), `npx scriptbox run` a file, and `vite build` a page that uses `scriptbox/vite`
 * (no browser). Also what `npm i scriptbox` brings: no editor, chart or test packages, and
 * a clear error for the playground's optional CodeMirror peer. Packs the built dist/, which
 * `npm test` builds first (run `npx tsc -p tsconfig.build.json` before running this alone).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const REPO = new URL('../..', import.meta.url).pathname;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/** Runs a command in `cwd`; resolves with its exit code and output, whatever the code. */
async function sh(cwd: string, cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, {
      cwd,
      maxBuffer: 64 << 20,
      env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

async function ok(cwd: string, cmd: string, args: string[]): Promise<string> {
  const r = await sh(cwd, cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

describe('a consumer project that installs the packed tarball', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scriptbox-consumer-'));
    const packed = JSON.parse(await ok(REPO, npm, ['pack', '--json', '--pack-destination', dir])) as { filename: string }[];
    const tarball = join(dir, packed[0]!.filename);
    const { devDependencies } = JSON.parse(await ok(REPO, 'node', ['-p', 'JSON.stringify(require("./package.json"))'])) as {
      devDependencies: Record<string, string>;
    };
    const app = join(dir, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The npm cache serves what the repo already installed; the registry only for the rest.
    await ok(app, npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `vite@${devDependencies.vite}`]);
    dir = app;
  }, 600_000);

  afterAll(async () => {
    if (dir) await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('installs only what the library runs on: no editor, chart or test packages', () => {
    const top = readdirSync(join(dir, 'node_modules'));
    for (const runtime of ['pyodide', 'wasmoon', 'msgpackr', 'scriptbox']) expect(top).toContain(runtime);
    for (const notForUsers of ['chart.js', 'codemirror', '@codemirror', 'vitest', 'playwright-core', 'typescript', 'tsx'])
      expect(top).not.toContain(notForUsers);
    // The packed package holds the library, not the built site or the repo's scripts.
    const dist = readdirSync(join(dir, 'node_modules/scriptbox/dist'));
    expect(dist).toEqual(expect.arrayContaining(['src', 'wasm']));
    expect(dist).not.toContain('site');
    expect(dist).not.toContain('scripts');
  });

  it('imports scriptbox in Node ESM and runs a Python and a Lua snippet', async () => {
    await writeFile(
      join(dir, 'use.mjs'),
      `import { createEngine, InvalidInputError } from 'scriptbox';
const py = await createEngine('python');
const lua = await createEngine('lua');
const a = await py.exec('sum(range(10))');
const b = await lua.exec('return ("x"):rep(3)');
await py.dispose();
await lua.dispose();
console.log(JSON.stringify([a.value, b.value, typeof InvalidInputError]));
`,
    );
    const out = await ok(dir, 'node', ['use.mjs']);
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([45, 'xxx', 'function']);
  }, 120_000);

  it('`npx scriptbox run` runs a file; --help and --version answer', async () => {
    await writeFile(join(dir, 'hello.lua'), 'print("hello " .. 6 * 7)');
    expect(await ok(dir, npx, ['--no-install', 'scriptbox', 'run', 'hello.lua'])).toBe('hello 42\n');
    expect(await ok(dir, npx, ['--no-install', 'scriptbox', '--help'])).toMatch(/^usage: scriptbox/);
    expect((await ok(dir, npx, ['--no-install', 'scriptbox', '--version'])).trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 120_000);

  it("vite builds a page that uses scriptbox/vite, with the engines' wasm assets", async () => {
    await writeFile(
      join(dir, 'vite.config.js'),
      `import { scriptbox } from 'scriptbox/vite';\nexport default { plugins: [scriptbox()], logLevel: 'error' };\n`,
    );
    await writeFile(
      join(dir, 'index.html'),
      '<!doctype html><html><body><pre id="out"></pre><script type="module" src="/main.js"></script></body></html>\n',
    );
    await writeFile(
      join(dir, 'main.js'),
      `import { createEngine } from 'scriptbox';\nconst lua = await createEngine('lua');\ndocument.getElementById('out').textContent = String((await lua.exec('return 1 + 1')).value);\n`,
    );
    await ok(dir, npx, ['--no-install', 'vite', 'build']);
    const assets = readdirSync(join(dir, 'dist', '@scriptbox'), { recursive: true }) as string[];
    expect(assets).toEqual(expect.arrayContaining([join('wasmoon', 'glue.wasm'), join('pyodide', 'pyodide.asm.wasm')]));
    expect(existsSync(join(dir, 'dist', 'index.html'))).toBe(true);
  }, 180_000);

  it('building scriptbox/playground without its optional CodeMirror peer says what to install', async () => {
    await writeFile(join(dir, 'main.js'), `import 'scriptbox/playground';\n`);
    const r = await sh(dir, npx, ['--no-install', 'vite', 'build']);
    expect(r.code).not.toBe(0);
    expect(`${r.stderr}${r.stdout}`).toMatch(
      /scriptbox\/playground needs CodeMirror .*optional peer dependency.*npm install codemirror @codemirror\/lang-python/,
    );
  }, 180_000);
});
