// `npm start` / `npm test` on a fresh clone (the `prestart` / `pretest` step): install the
// locked npm dependencies once, then the system packages the tests need (the one list in
// scripts/system-packages.mjs), the way `playwright install --with-deps` does: with apt-get
// where that needs no question (root on Debian / Ubuntu), else a block saying what is
// missing, how to install it and which test files will be skipped. Never fails the run for
// a missing package (outside CI): the suites that need it skip, with the reason.
// Plain JavaScript, because it runs before TypeScript (or anything else) is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { forgetDetected, missingPackages, missingReport } from './system-packages.mjs';

const root = new URL('..', import.meta.url);
// Browsers come from the system (chromium above), never from a tool's own download.
const env = { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' };

if (!existsSync(new URL('node_modules/.package-lock.json', root))) {
  console.error('scriptbox: no node_modules yet; running `npm ci` once…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit', cwd: root, env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// `npm start` only serves the playground: it needs no system package, so it installs none.
if (process.env.npm_lifecycle_event === 'prestart') process.exit(0);

const missing = missingPackages();
if (missing.length > 0) {
  const blocker = whyNotInstall();
  if (!blocker) {
    const names = missing.map((p) => p.name);
    console.error(`scriptbox: apt-get install ${missing.map((p) => `${p.name} (${p.why})`).join('; ')}`);
    const failed = apt(['update', '-qq']) || apt(['install', '-y', '-qq', ...names]);
    forgetDetected();
    const still = missingPackages();
    if (failed || still.length > 0) finish(still, `apt-get failed: ${failed || 'the packages installed but are still not found'}`);
  } else {
    finish(missing, blocker);
  }
}

/** Why this machine cannot install packages without asking, or '' when it can. */
function whyNotInstall() {
  if (process.env.SCRIPTBOX_NO_SYSTEM_INSTALL) return 'SCRIPTBOX_NO_SYSTEM_INSTALL is set';
  if (process.platform !== 'linux') return `${process.platform} has no apt-get`;
  if (!isDebianLike()) return 'not Debian or Ubuntu';
  if (process.getuid?.() !== 0) return 'not root, so not installing them';
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return 'apt-get is not on PATH';
  return '';
}

function isDebianLike() {
  try {
    const release = readFileSync('/etc/os-release', 'utf8');
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(release);
  } catch {
    return existsSync('/etc/debian_version');
  }
}

/** Runs apt-get quietly; returns '' on success, else what went wrong (its last output line). */
function apt(args) {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status === 0) return '';
  const last = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').pop();
  return `apt-get ${args[0]} exited ${r.status ?? r.signal}${last ? `: ${last}` : ''}`;
}

/** Prints the block; in CI a missing package fails the run (CI must run every suite). */
function finish(still, reason) {
  if (still.length === 0) return;
  console.error(missingReport(still, reason));
  if (process.env.CI && process.env.CI !== 'false') {
    console.error('scriptbox: CI must run every suite; failing (unset CI to run with skips)');
    process.exit(1);
  }
}
