/**
 * The system packages the suite needs (scripts/system-packages.mjs): each listed test file
 * exists; a missing package shows here as a skipped test naming it, the files it skips and
 * the command that installs it. Then the two paths of the `pretest` step for real: as an
 * unprivileged user it prints the block and lets the run go on (exit 0); in CI it fails;
 * and vitest leaves the files of a missing package out and says so in its summary.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { installCommand, isInstalled, SYSTEM_PACKAGES } from '../../scripts/system-packages.mjs';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

/** Runs a command in the repo; resolves with its exit code and output whatever the code. */
async function sh(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  // CI is the caller's; the tests choose it themselves.
  const base = { ...process.env, CI: '', ...env };
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: ROOT, env: base, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Files under test/ that a pattern of the list names: a path, with `*` (one name) and `**` + `/` (any folders). */
function globTests(pattern: string): string[] {
  const body = pattern
    .split('**/')
    .map((part) =>
      part
        .split('*')
        .map((lit) => lit.replace(/[.+?^$()|[\]{}\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('(?:.*/)?');
  const re = new RegExp(`^${body}$`);
  return (readdirSync(`${ROOT}test`, { recursive: true }) as string[]).map((f) => `test/${f}`).filter((f) => re.test(f));
}

/** argv that runs `node ...` as user nobody when this is root (else as this user, already unprivileged). */
function unprivileged(args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [process.execPath, args];
  return ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, ...args]];
}

describe.each(SYSTEM_PACKAGES)('system package $name', (pkg) => {
  const present = isInstalled(pkg);
  for (const pattern of pkg.tests) {
    // Present: the files run, and the list names real files. Missing: a skipped test whose
    // name says what is skipped, why and how to install it, shown in the summary.
    if (present) {
      it(`${pattern}: runs (${pkg.name} found)`, () => expect(globTests(pattern).length).toBeGreaterThan(0));
    } else {
      it.skip(`${pattern}: SKIPPED, ${pkg.name} is missing (${pkg.why}); install: ${installCommand([pkg.name])}`);
    }
  }
  it('every listed pattern names test files', () => {
    for (const pattern of pkg.tests) expect(globTests(pattern), pattern).not.toEqual([]);
  });
});

describe('pretest (scripts/ensure-installed.mjs)', () => {
  it('not root: names each missing package, its install command and the files it skips, and exits 0', async () => {
    const [cmd, args] = unprivileged(['scripts/ensure-installed.mjs']);
    const r = await sh(cmd, args, { SCRIPTBOX_ASSUME_MISSING: 'chromium,libluajit-5.1-2' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('2 system packages missing (not root, so not installing them)');
    expect(r.stderr).toMatch(/- chromium: .*skips test\/web\/\*\.test\.ts, test\/browser/);
    expect(r.stderr).toMatch(/- libluajit-5\.1-2: .*skips .*test\/security\/native-process-corpus\.test\.ts/);
    expect(r.stderr).toContain('apt-get install -y chromium libluajit-5.1-2');
    expect(r.stderr).not.toMatch(/apt-get (update|install) \(/);
  });

  it('cannot install (SCRIPTBOX_NO_SYSTEM_INSTALL) in CI: fails, since CI must run every suite', async () => {
    const r = await sh(process.execPath, ['scripts/ensure-installed.mjs'], {
      SCRIPTBOX_ASSUME_MISSING: 'chromium',
      SCRIPTBOX_NO_SYSTEM_INSTALL: '1',
      CI: 'true',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('chromium');
    expect(r.stderr).toMatch(/CI must run every suite/);
  });

  it('prints nothing and exits 0 when nothing is missing (or for `npm start`, which needs none)', async () => {
    const r = await sh(process.execPath, ['scripts/ensure-installed.mjs'], {
      SCRIPTBOX_ASSUME_MISSING: 'chromium',
      npm_lifecycle_event: 'prestart',
    });
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('vitest without a package', () => {
  it('leaves its files out, drops the browser project, and ends the summary with the reason', async () => {
    const vitest = 'node_modules/vitest/vitest.mjs';
    const env = { SCRIPTBOX_ASSUME_MISSING: 'chromium,libluajit-5.1-2' };
    const list = await sh(process.execPath, [vitest, 'list', '--filesOnly', '--json'], env);
    expect(list.code).toBe(0);
    const files = (JSON.parse(list.stdout) as { file: string; projectName: string }[]).map((f) => ({
      file: f.file.slice(ROOT.length),
      project: f.projectName,
    }));
    expect(files.length).toBeGreaterThan(10);
    expect(files.filter((f) => /^test\/(web|browser)\/|native-process-corpus|backend-options|luajit-core/.test(f.file))).toEqual([]);
    expect(files.some((f) => f.file === 'test/native/cpython-core.test.ts')).toBe(true);
    // No browser project; the bench runs in its own project after the node one.
    expect(new Set(files.map((f) => f.project))).toEqual(new Set(['node', 'bench']));

    const summary = await sh(process.execPath, [vitest, 'run', '--passWithNoTests', 'no-such-test-file'], env);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toMatch(
      /Skipped: system packages missing[^]*test\/web\/\*\.test\.ts {2}needs chromium[^]*test\/native\/backend-options\.test\.ts {2}needs libluajit-5\.1-2/,
    );
  });
});
