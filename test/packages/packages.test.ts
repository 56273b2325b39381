// Package sets (docs/packages.md): wheels the test builds itself, served from a loopback
// HTTP server laid out like Pyodide's index and read from a directory, installed with
// their dependencies before any user code runs, in the default placement (worker).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, createPool, InvalidInputError, UnavailableError, type ScriptEngine } from '../../src/index.js';
import { defaultCacheDir } from '../../src/node/snapshot-cache.js';
import { forgetPackageSets, loadPackageSet } from '../../src/packages/package-set.js';
import { flushSnapshots, forgetSnapshots, snapshotCounts } from '../../src/snapshot/fast-start.js';
import { snapshotSetup } from '../../src/snapshot/setup.js';
import { buildWheels, RUN, serveDir, writeLock } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-packages-'));
const snapDir = join(dir, 'snapshots');
const src = join(dir, 'index');
let server: Awaited<ReturnType<typeof serveDir>>;
const engines: ScriptEngine[] = [];

/** An engine of this suite (disposed in afterAll), with snapshots kept in the test's own directory. */
async function engine(options: Parameters<typeof createEngine>[1]): Promise<ScriptEngine> {
  const e = await createEngine('python', { snapshot: { dir: snapDir, spare: false }, ...options });
  engines.push(e);
  return e;
}

/** What createEngine rejects with. */
async function refusal(options: Parameters<typeof createEngine>[1], language: 'python' | 'lua' = 'python'): Promise<Error> {
  const e = await createEngine(language, options).then(
    (made) => {
      engines.push(made);
      return undefined;
    },
    (x: unknown) => x as Error,
  );
  expect(e, 'createEngine should have refused').toBeInstanceOf(Error);
  return e!;
}

/** A package that, at import (before the seal), keeps every JavaScript object it can reach and why it could not. */
const STASHER = `import sys, gc
STASH, REFUSED, HEARD = [], [], []
def keep(v):
    if any(c.__name__ == 'JsProxy' for c in type(v).__mro__):
        STASH.append(v)
for f in sys.meta_path:
    for v in (getattr(f, 'jsproxies', None) or {}).values():
        keep(v)
for name, m in list(sys.modules.items()):
    for v in list(vars(m).values()) if hasattr(m, '__dict__') else []:
        keep(v)
for step in (lambda: gc.get_objects(), lambda: sys._getframe(0), lambda: sys.addaudithook(lambda *a: HEARD.append(a[0])), lambda: sys.settrace(None)):
    try:
        got = step()
        for o in (got if isinstance(got, list) else []):
            keep(o)
    except RuntimeError as e:
        REFUSED.append(str(e).split(' ')[0])
`;

const FILES = {
  alpha: 'alpha-1.0-py3-none-any.whl',
  beta: 'beta_pkg-1.0-py3-none-any.whl',
  linux: 'linuxonly-1.0-cp314-cp314-manylinux_2_17_x86_64.whl',
};

beforeAll(async () => {
  mkdirSync(src);
  // RUN makes each run's wheels (and their sha256) new, so the disk cache starts cold for them.
  const mk = (name: string, module: string, source: string, requires: string[] = [], tag?: string) => ({
    name,
    version: '1.0',
    module,
    source: `# ${RUN}\n${source}`,
    requires,
    ...(tag ? { tag } : {}),
  });
  const [alpha, beta, wrong, linux, orphan, sneaky, stasher] = buildWheels(src, [
    mk('alpha', 'alpha', 'def double(x):\n    return 2 * x\n'),
    mk('beta-pkg', 'beta', 'import alpha\n\ndef go(x):\n    return alpha.double(x) + 1\n', ['alpha>=1.0']),
    mk('wrongsha', 'wrongsha', 'x = 1\n'),
    mk('linuxonly', 'linuxonly', 'x = 1\n', [], 'cp314-cp314-manylinux_2_17_x86_64'),
    mk('orphan', 'orphan', 'x = 1\n', ['ghost']),
    // Package code runs at start, before the sandbox is sealed: the JavaScript bridge stays out of its reach.
    mk('sneaky', 'sneaky', 'import js\n'),
    // ... nor anything JavaScript that Pyodide still holds then: every way in is tried and kept.
    mk('stasher', 'stasher', STASHER),
  ]) as [string, string, string, string, string, string, string];
  writeLock(
    src,
    [
      { path: alpha, name: 'alpha', version: '1.0', imports: ['alpha'] },
      { path: beta, name: 'beta-pkg', version: '1.0', depends: ['alpha'], imports: ['beta'] },
      { path: wrong, name: 'wrongsha', version: '1.0', imports: ['wrongsha'] },
      { path: linux, name: 'linuxonly', version: '1.0', imports: ['linuxonly'] },
      { path: orphan, name: 'orphan', version: '1.0', depends: ['ghost'], imports: ['orphan'] },
      { path: sneaky, name: 'sneaky', version: '1.0', imports: ['sneaky'] },
      { path: stasher, name: 'stasher', version: '1.0', imports: ['stasher'] },
    ],
    { wrongsha: { sha256: 'ab'.repeat(32) } },
  );
  server = await serveDir(src);
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
  await server?.close();
  await flushSnapshots();
  // This run's wheels leave the shared disk cache again.
  const set = await loadPackageSet({ names: ['beta-pkg', 'sneaky', 'stasher'], source: { kind: 'dir', dir: src } }).catch(() => undefined);
  for (const p of set?.packages ?? []) rmSync(join(defaultCacheDir('packages'), `${p.sha256}.whl`), { force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('a package set from a loopback index (worker placement)', () => {
  it('installs the packages and their dependencies (in order) before any user code runs', async () => {
    const e = await engine({ packages: ['beta-pkg'], packageSource: server.url });
    // Imported while the engine started: the first exec finds them in sys.modules.
    const r = await e.exec("import sys\nprint('beta' in sys.modules, 'alpha' in sys.modules)\nimport beta\nbeta.go(20)");
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe('True True\n');
    expect(r.value).toBe(41);
    // beta requires alpha: installed first (install_wheel refuses a wheel whose requirement is missing).
    expect((await e.exec("import importlib.metadata as m\n[m.version('alpha'), m.version('beta-pkg')]")).value).toEqual(['1.0', '1.0']);
    expect(server.hits.get('pyodide-lock.json')).toBe(1);
    expect(server.hits.get(FILES.alpha)).toBe(1);
    expect(server.hits.get(FILES.beta)).toBe(1);
  });

  it('a second engine takes the wheels from the disk cache (only the lock file is fetched again)', async () => {
    forgetPackageSets(); // as a new process would: the disk cache stays
    const e = await engine({ packages: ['beta-pkg'], packageSource: new URL(server.url) });
    expect((await e.exec('import beta\nbeta.go(1)')).value).toBe(3);
    expect(server.hits.get('pyodide-lock.json')).toBe(2);
    expect(server.hits.get(FILES.alpha)).toBe(1);
    expect(server.hits.get(FILES.beta)).toBe(1);
  });

  it('a pool installs the set in each engine', async () => {
    await using pool = await createPool('python', {
      min: 1,
      max: 1,
      packages: ['beta-pkg'],
      packageSource: server.url,
      snapshot: { dir: snapDir, spare: false },
    });
    expect(await pool.run((e) => e.exec('import beta\nbeta.go(3)').then((r) => r.value))).toBe(7);
  });

  it('refuses a wheel whose sha256 is not the one the lock pins, naming the file, both hashes and the fix', async () => {
    const e = await refusal({ packages: ['wrongsha'], packageSource: server.url });
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.message).toMatch(
      /^package 'wrongsha': wrongsha-1\.0-py3-none-any\.whl from http:\/\/127\.0\.0\.1:\d+\/ has sha256 [0-9a-f]{64}, but its lock file pins (ab){32}; .*relock/,
    );
  });

  it('refuses an unknown name, suggesting a close one', async () => {
    const e = await refusal({ packages: ['alpah'], packageSource: server.url });
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.message).toMatch(/^package 'alpah' is not in http:\/\/127\.0\.0\.1:\d+\/; did you mean 'alpha'\?/);
  });

  it('refuses a wheel built for another platform / ABI before fetching it', async () => {
    const e = await refusal({ packages: ['linuxonly'], packageSource: server.url });
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toContain(`package 'linuxonly' (${FILES.linux}`);
    expect(e.message).toContain('built for platform manylinux_2_17_x86_64');
    expect(server.hits.get(FILES.linux)).toBeUndefined();
  });

  it('refuses a set whose dependency is missing from the lock, naming both', async () => {
    const e = await refusal({ packages: ['orphan'], packageSource: server.url });
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.message).toMatch(/^package 'orphan' depends on 'ghost', which is missing from http/);
  });

  it('runs package code at start with the JavaScript bridge out of reach', async () => {
    const e = await refusal({ packages: ['sneaky'], packageSource: server.url, snapshot: false });
    // A boot that fails is UnavailableError ('the engine failed to boot: ...').
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toMatch(/sneaky: ModuleNotFoundError: No module named 'js'/);
  });
});

describe('package code runs before the seal, with nothing of JavaScript in reach', () => {
  for (const snapshot of [false, true]) {
    it(`keeps no JavaScript object, and is refused gc walks, frames and hooks (${snapshot ? 'restored from the set snapshot' : 'booted from scratch'})`, async () => {
      const options = { packages: ['stasher'], packageSource: server.url, ...(snapshot ? {} : { snapshot: false }) };
      // With snapshots the first engine takes the set's snapshot; the second is restored from it.
      let e = await engine(options);
      if (snapshot) e = await engine(options);
      const r = await e.exec("import os, stasher\nos.listdir('/')\n[len(stasher.STASH), stasher.REFUSED, stasher.HEARD]");
      expect(r.error).toBeUndefined();
      // A refused audit hook is not added (CPython drops it quietly): it hears nothing later.
      expect(r.value).toEqual([0, ['gc.get_objects', 'sys._getframe', 'sys.settrace'], []]);
    });
  }
});

describe('package sources that cannot be reached', () => {
  it('a URL nothing answers on: UnavailableError naming it and the offline fix', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((r) => closed.close(() => r()));
    const e = await refusal({ packages: ['alpha'], packageSource: `http://127.0.0.1:${port}/index` });
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toContain(`the package source http://127.0.0.1:${port}/index/ cannot be reached`);
    expect(e.message).toContain('pass packageSource: DIR');
  });

  it('the default Pyodide index on this offline machine: UnavailableError naming the CDN and the fix', async () => {
    const e = await refusal({ packages: ['six'] });
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toMatch(
      /the Pyodide package index https:\/\/cdn\.jsdelivr\.net\/pyodide\/v[\d.]+\/full\/ \(the default packageSource\)/,
    );
    expect(e.message).toContain('pass packageSource: DIR');
  }, 30_000);

  it('a directory that does not exist', async () => {
    const e = await refusal({ packages: ['alpha'], packageSource: join(dir, 'nowhere') });
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toContain(`the package source ${join(dir, 'nowhere')} does not exist`);
  });
});

describe('a package set from a directory, with snapshots', () => {
  it('installs from the directory, and the packages survive a restart', async () => {
    const e = await engine({ packages: ['beta-pkg'], packageSource: src });
    expect((await e.exec('import beta\nbeta.go(4)')).value).toBe(9);
    // Stuck in C, deaf to interrupts: the worker is killed and a new core boots.
    const r = await e.exec('sum(range(10**15))', { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect((await e.stats()).restarts).toBe(1);
    expect((await e.exec('import beta\nbeta.go(5)')).value).toBe(11);
  }, 60_000);

  it('keys snapshots by the package set, and an engine restored from one starts with the packages imported', async () => {
    const beta = await loadPackageSet({ names: ['beta-pkg'], source: { kind: 'dir', dir: src } });
    const alpha = await loadPackageSet({ names: ['alpha'], source: { kind: 'dir', dir: src } });
    const keys = await Promise.all(
      [[], [beta.keyPart], [alpha.keyPart]].map(async (extra) => (await snapshotSetup({ dir: snapDir }, extra))!.key),
    );
    expect(new Set(keys).size).toBe(3);
    // The same set from the index and from the directory is the same snapshot (keyed by content).
    const viaUrl = await loadPackageSet({ names: ['beta-pkg'], source: { kind: 'url', url: server.url } });
    expect(viaUrl.keyPart).toBe(beta.keyPart);

    await flushSnapshots(); // the earlier engines' snapshot of this set is on disk
    forgetSnapshots(); // as a new process: read it from disk
    const before = snapshotCounts();
    const e = await engine({ packages: ['beta-pkg'], packageSource: src });
    expect(snapshotCounts().restored).toBe(before.restored + 1);
    const r = await e.exec(
      "import sys, importlib.metadata as m\n('beta' in sys.modules, m.version('beta-pkg'), sys.modules['beta'].go(6))",
    );
    expect(r.value).toEqual([true, '1.0', 13]);
  });
});

describe('a package set in a session snapshot (issue 23)', () => {
  it('carries the set, and restores only into an engine with the same set', async () => {
    const e = await engine({ packages: ['beta-pkg'], packageSource: src });
    await e.exec('import beta\nkept = beta.go(7)');
    const snap = await e.snapshot();
    expect(snap.info.packages).toMatch(/^[0-9a-f]{64}$/);
    const back = await engine({ packages: ['beta-pkg'], packageSource: src, restore: snap });
    expect((await back.exec('import sys\n(kept, sys.modules["beta"].go(1))')).value).toEqual([15, 3]);
    const bare = await refusal({ restore: snap });
    expect(bare).toBeInstanceOf(InvalidInputError);
    expect((bare as Error).message).toMatch(/was taken with package set [0-9a-f]{12}, and this engine has no package set/);
    const other = await refusal({ packages: ['alpha'], packageSource: src, restore: snap });
    expect((other as Error).message).toMatch(/and this engine has package set [0-9a-f]{12}; give the engine the same packages option/);
  }, 60_000);
});

describe('package options at the entry', () => {
  it('refuse bad types and engines that cannot have packages, with exact messages', async () => {
    await expect(createEngine('python', { packages: 'six' as never })).rejects.toThrow(
      "packages must be an array of package names such as ['attrs', 'six'] (got \"six\")",
    );
    await expect(createEngine('python', { packages: ['ok', 'bad name'] })).rejects.toThrow(
      /^packages\[1\] must be a package name such as 'attrs'/,
    );
    await expect(createEngine('python', { packages: ['six'], packageSource: 42 as never })).rejects.toThrow(/^packageSource must be a URL/);
    await expect(createEngine('python', { packages: ['six'], packageSource: 'ftp://x/' })).rejects.toThrow(/\(got a ftp: URL\)$/);
    await expect(createEngine('python', { packageSource: src })).rejects.toThrow(
      /^packageSource says where packages come from; pass packages/,
    );
    await expect(createEngine('lua', { packages: ['six'] })).rejects.toThrow(
      'packages are Python packages; a lua engine has none to install, so leave packages out',
    );
    await expect(createEngine('python', { packages: ['six'], backend: 'native', placement: 'process' })).rejects.toThrow(
      /^packages are installed into the wasm sandbox's Pyodide; a native engine/,
    );
    for (const p of [createEngine('python', { packages: 'six' as never }), createEngine('lua', { packages: ['six'] })]) {
      await expect(p).rejects.toBeInstanceOf(InvalidInputError);
    }
  });

  it('a script cannot fetch packages itself: no micropip, no Pyodide package loader', async () => {
    const e = engines[0]!;
    const r = await e.exec(
      "import importlib\nout = []\nfor n in ('micropip', 'pyodide_js', 'pyodide'):\n    try:\n        importlib.import_module(n)\n        out.append(n)\n    except ImportError:\n        pass\nout",
    );
    expect(r.value).toEqual([]);
  });
});
