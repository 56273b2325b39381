// The lock file side of package sets: `scriptbox packages lock DIR` (run as the built CLI),
// Pyodide's real lock file read by the same parser, wheel tags against the installed
// Pyodide, and dependency resolution order.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, InvalidInputError } from '../../src/index.js';
import { defaultCacheDir } from '../../src/node/snapshot-cache.js';
import { parseLock, type PyodideLock } from '../../src/packages/lock-file.js';
import { loadPackageSet } from '../../src/packages/package-set.js';
import { resolvePackages } from '../../src/packages/resolve.js';
import { PYODIDE_ABI, wheelMismatch } from '../../src/packages/wheel-tags.js';
import { snapshotSetup } from '../../src/snapshot/setup.js';
import { buildWheels, RUN, writeLock } from './fixtures.js';

const run = promisify(execFile);
const CLI = 'dist/src/cli/main.js';
const REAL_LOCK = readFileSync('node_modules/pyodide/pyodide-lock.json', 'utf8');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'sb-lock-'));
const byTest = join(dir, 'by-test');
const byCli = join(dir, 'by-cli');
let shas: string[] = [];

beforeAll(() => {
  mkdirSync(byTest);
  mkdirSync(byCli);
  const specs = [
    { name: 'Tiny_Util', version: '0.3', module: 'tiny_util', source: `# ${RUN}\nVALUE = 7\n` },
    {
      name: 'top-app',
      version: '2.1',
      module: 'topapp',
      source: `# ${RUN}\nimport tiny_util\nVALUE = tiny_util.VALUE * 6\n`,
      requires: ['tiny.util (>=0.1)', 'pytest ; extra == "test"'],
    },
  ];
  const [a, b] = buildWheels(byTest, specs) as [string, string];
  // The same files in both folders (zip entries carry the time they were written).
  for (const f of [a, b]) copyFileSync(f, join(byCli, basename(f)));
  writeLock(byTest, [
    { path: a, name: 'tiny-util', version: '0.3', imports: ['tiny_util'] },
    { path: b, name: 'top-app', version: '2.1', depends: ['tiny-util'], imports: ['topapp'] },
  ]);
});

afterAll(() => {
  for (const sha of shas) rmSync(join(defaultCacheDir('packages'), `${sha}.whl`), { force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('scriptbox packages lock DIR', () => {
  it('writes the lock a test wrote by hand, and an engine installs from it', async () => {
    const r = await cli('packages', 'lock', byCli);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`wrote ${join(byCli, 'pyodide-lock.json')} (2 packages)\n`);
    expect(r.code).toBe(0);
    const written = JSON.parse(readFileSync(join(byCli, 'pyodide-lock.json'), 'utf8')) as PyodideLock;
    const expected = JSON.parse(readFileSync(join(byTest, 'pyodide-lock.json'), 'utf8')) as PyodideLock;
    expect(written.info).toEqual(JSON.parse(REAL_LOCK).info);
    expect(Object.keys(written.packages)).toEqual(['tiny-util', 'top-app']);
    const fields = ['name', 'version', 'file_name', 'sha256', 'depends', 'imports', 'install_dir', 'package_type'] as const;
    for (const key of Object.keys(expected.packages)) {
      const pick = (p: Record<string, unknown>) => Object.fromEntries(fields.map((f) => [f, p[f]]));
      // METADATA's Name as written (Tiny_Util); the lock's key is the normalized name.
      expect(pick(written.packages[key]!)).toEqual({
        ...pick(expected.packages[key]!),
        name: key === 'tiny-util' ? 'Tiny_Util' : 'top-app',
      });
    }
    shas = Object.values(written.packages).map((p) => p.sha256);

    await using engine = await createEngine('python', { packages: ['top_app'], packageSource: byCli, snapshot: false });
    expect((await engine.exec('import topapp\ntopapp.VALUE')).value).toBe(42);
  });

  it('scriptbox run --packages --package-source installs the set before the script', async () => {
    const r = await cli(
      'run',
      '-c',
      'import topapp\nprint(topapp.VALUE)',
      '--lang',
      'python',
      '--packages',
      'top-app',
      '--package-source',
      byCli,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('42\n');
    const unknown = await cli('run', '-c', '1', '--lang', 'python', '--packages', 'top-ap', '--package-source', byCli);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^scriptbox: INVALID_INPUT: package 'top-ap' is not in .*; did you mean 'top-app'\?/);
    // The CLI took a snapshot for this run's set in the default cache: removed again.
    const set = await loadPackageSet({ names: ['top-app'], source: { kind: 'dir', dir: byCli } });
    const { key, store } = (await snapshotSetup({}, [set.keyPart]))!;
    rmSync(join(store!.where, `${key}.snap`), { force: true });
  }, 60_000);

  it('refuses a folder with a wheel for another platform, and bad usage', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    buildWheels(bad, [{ name: 'natty', version: '1', module: 'natty', source: 'x = 1\n', tag: 'cp312-cp312-win_amd64' }]);
    const r = await cli('packages', 'lock', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('natty-1-cp312-cp312-win_amd64.whl cannot be locked: it is built for platform win_amd64');
    expect((await cli('packages', 'lock')).code).toBe(2);
    expect((await cli('packages', 'frobnicate', bad)).stderr).toContain("unknown subcommand frobnicate; try 'lock DIR'");
    expect((await cli('packages', '--help')).stdout).toContain('usage: scriptbox packages lock DIR');
  });
});

describe('lock files, wheel tags and resolution', () => {
  it("PYODIDE_ABI is the installed Pyodide's, and every wheel of its own index fits it", () => {
    const real = parseLock(REAL_LOCK, 'pyodide-lock.json');
    expect(real.info).toEqual({
      abi_version: PYODIDE_ABI.abiVersion,
      arch: PYODIDE_ABI.arch,
      platform: PYODIDE_ABI.platform,
      python: PYODIDE_ABI.python,
    });
    const wheels = Object.values(real.packages).filter((p) => p.file_name.endsWith('.whl'));
    expect(wheels.length).toBeGreaterThan(200);
    expect(wheels.filter((p) => wheelMismatch(p.file_name) !== undefined).map((p) => p.file_name)).toEqual([]);
  });

  it.each([
    ['x-1-py3-none-any.whl', undefined],
    ['x-1-py2.py3-none-any.whl', undefined],
    ['x-1-cp314-cp314-pyemscripten_2026_0_wasm32.whl', undefined],
    ['x-1-cp39-abi3-pyemscripten_2026_0_wasm32.whl', undefined],
    ['x-1-cp311-cp311-pyemscripten_2026_0_wasm32.whl', /built for Python cp311 with ABI cp311, and this Pyodide runs Python 3\.14/],
    ['x-1-cp314-cp314-pyodide_2024_0_wasm32.whl', /built for platform pyodide_2024_0_wasm32/],
    ['x-1-cp314-cp314-manylinux_2_17_x86_64.whl', /built for platform manylinux_2_17_x86_64/],
    ['x-1-py2-none-any.whl', /built for Python py2/],
    ['x-tests.zip', /not a wheel/],
  ])('%s', (file, expected) => {
    const why = wheelMismatch(file);
    if (expected === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(expected);
  });

  const lockOf = (deps: Record<string, string[]>) =>
    parseLock(
      JSON.stringify({
        info: {},
        packages: Object.fromEntries(
          Object.entries(deps).map(([n, d]) => [
            n,
            { name: n, version: '1', file_name: `${n}-1-py3-none-any.whl`, sha256: '0'.repeat(64), depends: d, imports: [] },
          ]),
        ),
      }),
      'test lock',
    );

  it('orders dependencies first, deterministically, and installs a cycle once', () => {
    const lock = lockOf({ app: ['web', 'db'], web: ['util'], db: ['util'], util: [], a: ['b'], b: ['c'], c: ['a'] });
    expect(resolvePackages(lock, ['app'], 'src').map((p) => p.name)).toEqual(['util', 'db', 'web', 'app']);
    expect(resolvePackages(lock, ['web', 'App'], 'src').map((p) => p.name)).toEqual(
      resolvePackages(lock, ['app', 'web'], 'src').map((p) => p.name),
    );
    expect(resolvePackages(lock, ['a'], 'src').map((p) => p.name)).toEqual(['c', 'b', 'a']);
  });

  it('refuses lock files that are broken or point outside their source', () => {
    expect(() => parseLock('{', 'L')).toThrow(/^L is not a usable pyodide-lock\.json: it is not JSON/);
    const one = (p: Record<string, unknown>) =>
      JSON.stringify({
        info: {},
        packages: { x: { name: 'x', version: '1', file_name: 'x-1-py3-none-any.whl', sha256: '0'.repeat(64), ...p } },
      });
    expect(() => parseLock(one({ file_name: '../x-1-py3-none-any.whl' }), 'L')).toThrow(
      /file_name '\.\.\/x-1-py3-none-any\.whl' must be a plain file name/,
    );
    expect(() => parseLock(one({ file_name: 'https://evil.example/x.whl' }), 'L')).toThrow(InvalidInputError);
    expect(() => parseLock(one({ sha256: 'xyz' }), 'L')).toThrow(/sha256 must be 64 lower-case hex digits/);
    // Names that are not modules are never imported.
    expect(parseLock(one({ imports: ['ok.mod', 'os; import x', 'matplotlib-inline'] }), 'L').packages.x!.imports).toEqual(['ok.mod']);
  });
});
