// The one list of system (Debian) packages the test suite needs, and how to tell whether
// each is present. Read by scripts/ensure-installed.mjs (the `pretest` / `prestart` step,
// which installs what is missing where it can) and by vite.config.ts (which skips, with the
// reason, the test files of a package still missing). Add a package here and both follow.
// Plain JavaScript: it runs before TypeScript (or anything else) is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @typedef {object} SystemPackage
 * @property {string} name     Debian package name (what `apt-get install` takes)
 * @property {string} why      what it is for, one short phrase
 * @property {{ binary?: string, binaryEnv?: string, soname?: RegExp, libraryEnv?: string }} detect
 *   how to see it: an executable (`binary`, overridden by the env var `binaryEnv`) or a
 *   shared library the loader knows (`soname`, matched against `ldconfig -p` and the usual
 *   library folders; the env var `libraryEnv` naming an existing file also counts)
 * @property {string[]} tests  test files (or globs) that cannot run without it
 * @property {boolean} [browserProject]  the vitest `browser` project needs it as a whole
 */

/** How the suites launch Chromium (Playwright in test/web, vitest's browser project): headless, no network chatter. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless=new',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** @type {SystemPackage[]} */
export const SYSTEM_PACKAGES = [
  {
    name: 'chromium',
    why: 'for the browser tests, real Chromium driven by Playwright',
    detect: { binary: '/usr/bin/chromium', binaryEnv: 'CHROMIUM_PATH' },
    tests: ['test/web/*.test.ts', 'test/browser/**/*.test.ts'],
    browserProject: true,
  },
  {
    name: 'libluajit-5.1-2',
    why: "for the native Lua backend, LuaJIT's shared library",
    detect: { soname: /^libluajit-5\.1\.so\.2$/, libraryEnv: 'SCRIPTBOX_LIBLUAJIT' },
    tests: ['test/native/backend-options.test.ts', 'test/native/luajit-core.test.ts', 'test/security/native-process-corpus.test.ts'],
  },
  {
    name: 'libpython3.11',
    why: "for the native Python backend, CPython's shared library",
    // Any shared libpython3.X serves the native backend; 3.11 is what Debian 12 ships.
    detect: { soname: /^libpython3\.\d+\.so\.1\.0$/, libraryEnv: 'SCRIPTBOX_LIBPYTHON' },
    tests: ['test/native/backend-options.test.ts', 'test/native/cpython-core.test.ts', 'test/security/native-process-corpus.test.ts'],
  },
  {
    name: 'pyflakes3',
    why: 'to lint the guest Python (the runtime, the CPython hub and watchdog)',
    detect: { binary: '/usr/bin/pyflakes3', binaryEnv: 'SCRIPTBOX_PYFLAKES' },
    tests: ['test/lint/guest-python.test.ts'],
  },
  {
    name: 'lua-check',
    why: 'to lint the guest Lua (the prelude), with luacheck',
    detect: { binary: '/usr/bin/luacheck', binaryEnv: 'SCRIPTBOX_LUACHECK' },
    tests: ['test/lint/guest-lua.test.ts'],
  },
  {
    name: 'redis-server',
    why: 'for the distributed pool and RedisStore tests, a real Redis the tests start themselves',
    detect: { binary: '/usr/bin/redis-server', binaryEnv: 'SCRIPTBOX_REDIS_SERVER' },
    tests: ['test/distributed/**/*.test.ts'],
  },
];

const LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib',
  '/usr/local/lib',
  '/lib64',
  '/usr/lib64',
];

/** @type {string[] | undefined} */
let loaderNames;

/** Sonames the dynamic loader's cache knows (`ldconfig -p`), plus files in the usual folders. */
function knownLibraries() {
  if (loaderNames) return loaderNames;
  const names = new Set();
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      const out = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
      for (const line of out.split('\n')) {
        const m = /^\s*(\S+)\s+\(/.exec(line);
        if (m) names.add(m[1]);
      }
      break;
    } catch {
      // not on PATH under this name (non-root PATHs often lack /sbin): try the next
    }
  }
  for (const dir of LIB_DIRS) {
    try {
      for (const f of readdirSync(dir)) names.add(f);
    } catch {
      // no such folder on this system
    }
  }
  return (loaderNames = [...names]);
}

/**
 * Names in SCRIPTBOX_ASSUME_MISSING (comma-separated) count as missing whatever is
 * installed: to try the skip and "cannot install" paths on a machine that has everything.
 */
function assumedMissing() {
  return new Set(
    (process.env.SCRIPTBOX_ASSUME_MISSING ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * Whether a package is present (by its detect rule, not by dpkg: a library or browser put
 * there another way counts too).
 * @param {SystemPackage} pkg
 */
export function isInstalled(pkg) {
  if (assumedMissing().has(pkg.name)) return false;
  const { binary, binaryEnv, soname, libraryEnv } = pkg.detect;
  if (binary) {
    const path = (binaryEnv && process.env[binaryEnv]) || binary;
    return existsSync(path);
  }
  if (libraryEnv && process.env[libraryEnv] && existsSync(process.env[libraryEnv])) return true;
  if (soname) return knownLibraries().some((n) => soname.test(n));
  return false;
}

/** The packages of the list that are not present here. */
export function missingPackages() {
  return SYSTEM_PACKAGES.filter((p) => !isInstalled(p));
}

/** Forgets what the loader cache said (after an install). */
export function forgetDetected() {
  loaderNames = undefined;
}

/** The command that installs `names` on Debian / Ubuntu. */
export function installCommand(names) {
  return `sudo apt-get install -y ${names.join(' ')}`;
}

/**
 * Test files skipped because of missing packages, with why: what vite.config.ts excludes
 * and the summary test (test/setup/system-packages.test.ts) reports.
 * @param {SystemPackage[]} missing
 * @returns {{ pattern: string, packages: string[] }[]}
 */
export function skippedTests(missing = missingPackages()) {
  /** @type {Map<string, string[]>} */
  const by = new Map();
  for (const p of missing) for (const t of p.tests) by.set(t, [...(by.get(t) ?? []), p.name]);
  return [...by].map(([pattern, packages]) => ({ pattern, packages }));
}

/** The block printed where missing packages cannot be installed here. */
export function missingReport(missing, reason) {
  const lines = [
    `scriptbox: ${missing.length} system package${missing.length === 1 ? '' : 's'} missing (${reason}); the tests that need them will be skipped:`,
  ];
  for (const p of missing) lines.push(`  - ${p.name}: ${p.why}; skips ${p.tests.join(', ')}`);
  lines.push(`  install them with:  ${installCommand(missing.map((p) => p.name))}`);
  lines.push('  (as root, `npm test` installs them itself)');
  return lines.join('\n');
}
