/**
 * Attacks of issue 17 class 8 (the native process placement reaching its parent), shared
 * by native-process-isolation.test.ts (the library this host finds) and
 * native-process-uid.test.ts (a library the unprivileged uid can read). Each engine is a
 * real native CPython / LuaJIT child; the test process is the parent under attack.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { nativeAvailable } from '../../src/node/native-libs.js';
import { readableByOthers } from '../../src/node/os-limits.js';

export const CANARY = 'CANARY_CLASS8_5e1b77';

/** Whether a measure named `prefix` is in the engine's isolation report. */
function has(words: string[] | undefined, prefix: string): boolean {
  return !!words?.some((w) => w.startsWith(prefix));
}

/** Host pids whose working directory is `dir` (the native child's scratch folder). */
function pidsIn(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (cwd === dir || cwd === `${dir} (deleted)`) found.push(Number(name));
    } catch {
      // not ours to read, or gone
    }
  }
  return found;
}

/** Python that tries every way class 8 found (and a few more) and prints what worked as JSON. */
function pythonAttack(hostPid: number, signal: 'SIGUSR2' | 'SIGKILL'): string {
  return `
import os, json, signal, ctypes
host = ${hostPid}
out = {'pid': os.getpid(), 'ppid': os.getppid(), 'uid': os.getuid(), 'cwd': os.getcwd(), 'env': dict(os.environ)}
out['procs'] = sorted(p for p in os.listdir('/proc') if p.isdigit())
def read(path):
    try:
        with open(path, 'rb') as f: return f.read().decode('latin-1')
    except Exception as e: return 'ERR ' + type(e).__name__
out['reads'] = {p: read(p) for p in ['/proc/%d/environ' % host, '/proc/%d/environ' % os.getppid(), '/proc/1/environ', '/proc/self/environ', '/proc/%d/cmdline' % host]}
# Reveal the host's /proc under ours: needs CAP_SYS_ADMIN over the mount namespace.
libc = ctypes.CDLL(None, use_errno=True)
out['umount'] = libc.umount2(b'/proc', 2) == 0
out['after_umount'] = read('/proc/%d/environ' % host)
out['unshare_user'] = libc.unshare(0x10000000 | 0x00020000) == 0
sent = {}
for target in [host, os.getppid(), -1, 0]:
    try:
        os.kill(target, signal.${signal})
        sent[str(target)] = 'sent'
    except Exception as e:
        sent[str(target)] = type(e).__name__
out['kill'] = sent
# A child of the child reads its own environment (NPROC may forbid the fork).
try:
    out['grandchild'] = os.popen('cat /proc/self/environ; cat /proc/%d/environ' % host).read()
except Exception as e:
    out['grandchild'] = 'ERR ' + type(e).__name__
print(json.dumps(out))
`;
}

/**
 * The suite: one Python engine (and one Lua engine where LuaJIT loads), the attacks, and
 * what must hold. `expectUid` asks that the uid drop be applied (when the host is root).
 */
export function isolationSuite(opts: { expectUid: boolean }): void {
  let py: ScriptEngine;
  let usr2 = 0;
  const onUsr2 = () => usr2++;
  const saved = process.env.SANDBOX_CLASS8_CANARY;

  beforeAll(async () => {
    process.env.SANDBOX_CLASS8_CANARY = CANARY;
    process.on('SIGUSR2', onUsr2);
    py = await createEngine('python', {
      backend: 'native',
      placement: 'process',
      capabilities: ['log'],
      onLog: () => {},
      limits: { timeoutMs: 8000, graceMs: 300 },
    });
  }, 60_000);
  afterAll(async () => {
    await py?.dispose();
    process.off('SIGUSR2', onUsr2);
    if (saved === undefined) delete process.env.SANDBOX_CLASS8_CANARY;
    else process.env.SANDBOX_CLASS8_CANARY = saved;
  });

  it('reports each measure as applied or, with the reason, as refused', async () => {
    const iso = (await py.stats()).isolation!;
    expect(iso).toBeDefined();
    if (process.platform !== 'linux') return void expect(iso.refused.length).toBeGreaterThan(0);
    // Either the child cannot name the host's processes, or the refusal says so.
    expect(has(iso.applied, 'PID namespace') || has(iso.refused, 'PID namespace')).toBe(true);
    if (has(iso.applied, 'PID namespace')) expect(has(iso.applied, 'private /proc')).toBe(true);
    if (process.getuid?.() === 0) {
      expect(has(iso.applied, 'unprivileged uid') || has(iso.refused, 'unprivileged uid')).toBe(true);
      if (opts.expectUid) expect(iso.applied).toContain('unprivileged uid 65534, gid 65534');
    }
    expect(has(iso.applied, 'own session')).toBe(true);
  });

  it('cannot read the host environment or signal the host (SIGUSR2, then SIGKILL)', async () => {
    const iso = (await py.stats()).isolation!;
    const pidns = has(iso.applied, 'PID namespace') && has(iso.applied, 'private /proc');
    const uid = has(iso.applied, 'unprivileged uid') || has(iso.applied, 'user namespace');
    if (!pidns && !uid) {
      // The OS allowed neither measure: then the report must say what is not enforced.
      expect(has(iso.refused, 'PID namespace')).toBe(true);
      return;
    }
    const r = await py.exec(pythonAttack(process.pid, 'SIGUSR2'));
    expect(r.error).toBeUndefined();
    const text = r.stdout;
    expect(text).not.toContain(CANARY);
    const out = JSON.parse(text.trim().split('\n').pop()!) as {
      pid: number;
      ppid: number;
      uid: number;
      env: Record<string, string>;
      procs: string[];
      reads: Record<string, string>;
      umount: boolean;
      unshare_user: boolean;
      kill: Record<string, string>;
      grandchild: string;
    };
    expect(out.env).toEqual({});
    expect(out.umount).toBe(false);
    if (pidns) {
      expect(out.pid).toBe(1);
      expect(out.ppid).toBe(0);
      // Only the engine's own processes: its pid 1 (and a grandchild, if it could fork).
      expect(out.procs).not.toContain(String(process.pid));
      expect(out.procs.every((p) => Number(p) < 100)).toBe(true);
      expect(out.reads[`/proc/${process.pid}/environ`]).toMatch(/^ERR /);
      expect(out.kill[String(process.pid)]).toBe('ProcessLookupError');
    }
    if (has(iso.applied, 'unprivileged uid')) {
      expect(out.uid).toBe(65534);
      expect(out.grandchild).toMatch(/^ERR |^$/); // RLIMIT_NPROC 0 binds a non-root uid: no fork
    }
    // One more round trip lets a delivered signal run its handler before the check.
    expect((await py.exec('1 + 1')).value).toBe(2);
    expect(usr2).toBe(0);

    // SIGUSR2 was shown not to arrive: the same with SIGKILL (if it worked, this run would die).
    const k = await py.exec(pythonAttack(process.pid, 'SIGKILL'));
    expect(`${k.stdout}${k.stderr}`).not.toContain(CANARY);
    expect((await py.exec('1 + 1')).value).toBe(2);
  }, 60_000);

  it("kill() ends the child's whole namespace even after the script cleared its parent-death signal", async () => {
    const cwd = (await py.exec('import os, ctypes\nctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\nos.getcwd()')).value as string;
    expect(pidsIn(cwd).length).toBeGreaterThan(0);
    // Stuck in C past the timeout: the interrupt is not honoured, so the host kills.
    const r = await py.exec('import ctypes\nctypes.CDLL(None).sleep(600)', { timeoutMs: 300 }).then(
      (x) => x.error?.type,
      (e: Error) => e.name,
    );
    expect(r).toMatch(/Timeout/);
    expect((await py.exec('1 + 1')).value).toBe(2);
    // dispose() awaits every kill: nothing may be left in the killed child's folder.
    await py.dispose();
    expect(pidsIn(cwd)).toEqual([]);
  }, 60_000);

  it.skipIf(!nativeAvailable('lua'))(
    'a native LuaJIT child gets the same measures and has no way to the host',
    async () => {
      const lua = await createEngine('lua', { backend: 'native', placement: 'process', limits: { timeoutMs: 8000 } });
      try {
        const iso = (await lua.stats()).isolation!;
        if (process.platform === 'linux') expect(has(iso.applied, 'PID namespace') || has(iso.refused, 'PID namespace')).toBe(true);
        const r = await lua.exec(`
        local found = {}
        for _, name in ipairs({'io', 'ffi', 'require', 'package', 'debug', 'loadfile', 'dofile'}) do
          if _G[name] ~= nil then found[#found + 1] = name end
        end
        for _, name in ipairs({'execute', 'getenv', 'remove', 'rename', 'exit', 'tmpname'}) do
          if os and os[name] ~= nil then found[#found + 1] = 'os.' .. name end
        end
        return table.concat(found, ',')`);
        expect(r.value).toBe('');
        expect(r.stdout).not.toContain(CANARY);
        expect((await lua.exec('return 1 + 1')).value).toBe(2);
        expect(usr2).toBe(0);
      } finally {
        await lua.dispose();
      }
    },
    60_000,
  );
}

/** A Debian system libpython3.11, when other users can read it and its standard library. */
export function readableSystemPython(): string | undefined {
  const lib = '/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0';
  return readableByOthers(lib) && readableByOthers('/usr/lib/python3.11') ? lib : undefined;
}
