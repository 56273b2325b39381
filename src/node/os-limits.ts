/**
 * OS limits for the native backend's child process (Linux).
 *
 * Host side (planNativeLaunch): where util-linux's `unshare` and `setpriv` work, the child
 * is started inside new PID, mount and network namespaces with its own /proc (the host's
 * processes are neither visible nor signallable: kill() names pids of the caller's
 * namespace), with every capability dropped (empty bounding set, so no exec regains one),
 * no-new-privs, SIGKILL when its launcher dies, and, when the host is root, as uid/gid
 * 65534 where the files the child needs are readable by that uid. A non-root host gets the
 * same namespaces inside a user namespace. The child gets its own session, so signals to
 * "my process group" stay inside the engine.
 *
 * Child side (enterIsolation, applyRlimits): the child checks what it actually got rather
 * than trusting the plan, adds no-new-privs and a network namespace where still missing,
 * and sets rlimits on CPU seconds, address space, open files and processes through libc
 * with koffi (Node's spawn has no rlimit options, and they must bind native code, which
 * Node's permission model does not see).
 *
 * What each step does not stop is said in docs/native.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { koffi } from './native-libs.js';

const PR_SET_NO_NEW_PRIVS = 38;
const CLONE_NEWNET = 0x40000000;
const RLIMIT_CPU = 0;
const RLIMIT_NPROC = 6;
const RLIMIT_NOFILE = 7;
const RLIMIT_AS = 9;
const RLIM_INFINITY = 0xffffffffffffffffn;

/** What was applied and what the OS refused, in words for stats and tests. */
export interface IsolationReport {
  applied: string[];
  refused: string[];
}

interface Libc {
  prctl(option: number, ...rest: unknown[]): number;
  unshare(flags: number): number;
  setrlimit(resource: number, limit: { cur: bigint; max: bigint }): number;
  getrlimit(resource: number, out: { cur?: bigint; max?: bigint }): number;
  errno(): number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const k = koffi();
  const lib = k.load('libc.so.6');
  const rlimit = k.struct('sb_rlimit', { cur: 'uint64_t', max: 'uint64_t' });
  const prctl = lib.func('int prctl(int option, ...)');
  const getrlimit = lib.func('int getrlimit(int resource, _Out_ sb_rlimit *rlim)');
  libc = {
    prctl: (option, ...rest) => prctl(option, ...rest) as number,
    unshare: lib.func('int unshare(int flags)') as (f: number) => number,
    setrlimit: lib.func('int setrlimit(int resource, const sb_rlimit *rlim)') as Libc['setrlimit'],
    getrlimit: (resource, out) => getrlimit(resource, out) as number,
    errno: () => k.errno(),
  };
  void rlimit;
  return libc;
}

function failure(c: Libc, what: string): string {
  return `${what} (errno ${c.errno()})`;
}

/** The uid/gid a root host drops the native child to (the conventional "nobody"). */
export const UNPRIVILEGED_ID = 65534;

/** How the host starts the native child: the command prefix before `node`, and what the plan could not give. */
export interface NativeLaunch {
  /** argv before the Node binary (empty: Node is started directly). */
  prefix: string[];
  /** The uid/gid the child will run as, when the plan drops root (the scratch folder is given to it). */
  id?: number;
  /** Measures the host knows it applied (the child cannot observe them itself). */
  applied: string[];
  /** Measures the plan could not apply, with why and what to do. */
  refused: string[];
}

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];

function tool(name: string): string | undefined {
  for (const dir of TOOL_DIRS) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

/** True when a user that is neither owner nor group member (`other`) can reach and read `path`. */
export function readableByOthers(path: string): boolean {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return false;
  }
  try {
    const st = statSync(real);
    if (st.isDirectory() ? (st.mode & 0o005) !== 0o005 : (st.mode & 0o004) === 0) return false;
    for (let dir = dirname(real); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dirname(dir) === dir) return true;
    }
  } catch {
    return false;
  }
}

let probed: { ok: true } | { ok: false; why: string } | undefined;

/** Runs the launcher once with a trivial command: containers may forbid namespaces even to root. */
function launcherWorks(prefix: string[]): { ok: true } | { ok: false; why: string } {
  if (probed) return probed;
  const [cmd, ...args] = [...prefix, process.execPath, '--version'];
  const r = spawnSync(cmd!, args, { env: {}, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000, encoding: 'utf8' });
  probed =
    r.status === 0
      ? { ok: true }
      : { ok: false, why: (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n')[0]!.slice(0, 200) };
  return probed;
}

/**
 * Decides how to start a native child. `needs` are the files the child must read (the
 * Node binary, dist/, koffi, the native library and its home): uid 65534 is used only
 * when all of them are readable by it, since a child that cannot load its library is no use.
 */
export function planNativeLaunch(needs: string[]): NativeLaunch {
  const applied = ['own session and process group (signals to process group 0 stay in the engine)'];
  if (process.platform !== 'linux') {
    return {
      prefix: [],
      applied,
      refused: [
        `PID namespace, private /proc, unprivileged uid, capability drop: Linux only (this is ${process.platform}); the script can see and signal your processes`,
      ],
    };
  }
  const unshare = tool('unshare');
  const setpriv = tool('setpriv');
  const root = process.getuid?.() === 0;
  if (!unshare || !setpriv) {
    return {
      prefix: [],
      applied,
      refused: [
        `PID namespace, private /proc, capability drop: util-linux's unshare and setpriv were not found in ${TOOL_DIRS.join(', ')}; install util-linux. The script can see your processes${root ? '' : ' and signal those of your uid'}`,
      ],
    };
  }
  const refused: string[] = [];
  const ns = ['--pid', '--fork', '--kill-child', '--mount-proc', '--net'];
  const drop = ['--no-new-privs', '--bounding-set=-all', '--inh-caps=-all', '--pdeathsig=SIGKILL'];
  let id: number | undefined;
  if (root) {
    const unreadable = needs.filter((p) => !readableByOthers(p));
    if (unreadable.length === 0) id = UNPRIVILEGED_ID;
    else {
      const more = unreadable.length > 1 ? ` (and ${unreadable.length - 1} more)` : '';
      // Kept short: stats() words are cut at 300 characters.
      refused.push(
        `unprivileged uid ${UNPRIVILEGED_ID}: ${unreadable[0]!.slice(-100)}${more} is not readable by other users, so the child stays uid 0 without capabilities; make it world-readable or point SCRIPTBOX_LIBPYTHON / SCRIPTBOX_LIBLUAJIT at a readable copy`,
      );
    }
  }
  const ids = id === undefined ? [] : [`--reuid=${id}`, `--regid=${id}`, '--clear-groups'];
  // setsid: the engine leads a session of its own inside the namespace, so kill(0, sig)
  // does not even reach the launcher (which, when the uid stays 0, it could signal).
  const setsid = tool('setsid');
  const prefix = [
    unshare,
    ...(root ? [] : ['--user', '--map-root-user']),
    ...ns,
    '--',
    ...(setsid ? [setsid] : []),
    setpriv,
    ...ids,
    ...drop,
    '--',
  ];
  const works = launcherWorks(prefix);
  if (!works.ok) {
    return {
      prefix: [],
      applied,
      refused: [
        `PID namespace, private /proc, capability drop: the OS refused them (${works.why})${root ? '' : '; a non-root host needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)'}. The script can see your processes${root ? '' : ' and signal those of your uid'}`,
      ],
    };
  }
  return { prefix, ...(id === undefined ? {} : { id }), applied, refused };
}

/** Pid 1: the child is the first process of a PID namespace of its own. */
function nsPidIsOne(): boolean {
  return process.pid === 1;
}

function capabilities(): { eff: bigint; bnd: bigint } | undefined {
  const status = readFileSync('/proc/self/status', 'utf8');
  const eff = /CapEff:\s+([0-9a-f]+)/.exec(status)?.[1];
  const bnd = /CapBnd:\s+([0-9a-f]+)/.exec(status)?.[1];
  return eff && bnd ? { eff: BigInt(`0x${eff}`), bnd: BigInt(`0x${bnd}`) } : undefined;
}

/** The network interfaces this process sees. */
function interfaces(): string[] {
  try {
    return readFileSync('/proc/net/dev', 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.trim().split(':')[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Host uid that uid 0 maps to when the child is in a user namespace, else undefined. */
function userNamespaceRoot(): number | undefined {
  try {
    const first = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n')[0]!.trim().split(/\s+/).map(Number);
    if (first[0] === 0 && first[1] === 0 && first[2] === 4294967295) return undefined;
    return first[0] === 0 ? first[1] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks what the launcher gave (never trusting the plan: each claim in `applied` is
 * observed here) and adds the steps that bind the calling thread and the threads it starts
 * afterwards: call it on the child's main thread before the engine's worker thread exists.
 * `planned` carries the host's own words (what it applied and why something is missing).
 */
export function enterIsolation(
  report: IsolationReport,
  planned: { applied: string[]; refused: string[] } = { applied: [], refused: [] },
): void {
  report.applied.push(...planned.applied);
  report.refused.push(...planned.refused);
  if (process.platform !== 'linux') {
    report.refused.push(`no-new-privs and network namespace: Linux only (this is ${process.platform})`);
    return;
  }
  if (nsPidIsOne()) {
    report.applied.push("PID namespace (the host's processes cannot be named, so not signalled)");
    let own = false;
    try {
      own = readlinkSync('/proc/self') === '1';
    } catch {
      // no /proc at all: nothing of the host's is listed there either
      own = true;
    }
    if (own) report.applied.push("private /proc (lists only the engine's own processes)");
    else report.refused.push("private /proc: /proc is the host's; the script can list the host's processes");
  } else if (!planned.refused.some((w) => w.startsWith('PID namespace'))) {
    report.refused.push(
      'PID namespace: the child is not pid 1 of a namespace of its own; the script can see and may signal host processes',
    );
  }
  const uid = process.getuid?.() ?? 0;
  const mapped = userNamespaceRoot();
  if (mapped !== undefined) report.applied.push(`user namespace (uid 0 inside is host uid ${mapped})`);
  else if (uid !== 0) report.applied.push(`unprivileged uid ${uid}, gid ${process.getgid?.()}`);
  const caps = capabilities();
  if (caps && caps.eff === 0n && caps.bnd === 0n) report.applied.push('no capabilities (empty bounding set)');
  else if (caps && caps.eff === 0n) report.applied.push('no effective capabilities');
  else report.refused.push(`capabilities: the child holds ${caps ? `0x${caps.eff.toString(16)}` : 'unknown'}; the script keeps them`);
  const c = load();
  if (c.prctl(PR_SET_NO_NEW_PRIVS, 'unsigned long', 1, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0) === 0) {
    report.applied.push('no-new-privs');
  } else report.refused.push(failure(c, 'no-new-privs'));
  // A new network namespace has only a loopback device, which is down: no network at all.
  const ifs = interfaces();
  if (ifs.length > 0 && ifs.every((i) => i === 'lo')) report.applied.push('network namespace (no network)');
  else if (c.unshare(CLONE_NEWNET) === 0) report.applied.push('network namespace (no network)');
  else
    report.refused.push(
      failure(
        c,
        'network namespace: the OS refused (needs CAP_SYS_ADMIN; unprivileged user namespaces cannot be entered by a threaded process)',
      ),
    );
}

function vmBytes(): number {
  const m = /VmSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/** Room for the child's own Node runtime to grow (heap pages, thread stacks) above the engine's memory. */
const RUNTIME_SLACK_BYTES = 512 * 1024 * 1024;
/** Files the engine may open beyond what the child holds when the limit is set. */
const FILE_ROOM = 64;

export interface RlimitPlan {
  memoryBytes: number;
  /** CPU seconds the whole child may use (a backstop: the host kills on timeouts first). */
  cpuSeconds: number;
}

/**
 * Per-process rlimits, set once the engine has booted (so its own start-up is not counted
 * against them). Hard and soft limits are the same, so the engine cannot raise them.
 */
export function applyRlimits(plan: RlimitPlan, report: IsolationReport): void {
  if (process.platform !== 'linux') {
    report.refused.push(`rlimits: applied on Linux only (this is ${process.platform})`);
    return;
  }
  const c = load();
  const set = (resource: number, value: number, label: string) => {
    const v = BigInt(Math.max(0, Math.floor(value)));
    const cur: { cur?: bigint; max?: bigint } = {};
    // Never above the current hard limit: lowering is always allowed, raising is not.
    if (c.getrlimit(resource, cur) === 0 && cur.max !== undefined && cur.max !== RLIM_INFINITY && cur.max < v) {
      if (c.setrlimit(resource, { cur: cur.max, max: cur.max }) === 0) report.applied.push(`${label} (already capped at ${cur.max})`);
      else report.refused.push(failure(c, label));
      return;
    }
    if (c.setrlimit(resource, { cur: v, max: v }) === 0) report.applied.push(label);
    else report.refused.push(failure(c, label));
  };
  const as = vmBytes() + plan.memoryBytes + RUNTIME_SLACK_BYTES;
  set(
    RLIMIT_AS,
    as,
    `address space ${Math.round(as / 2 ** 20)} MiB (booted size + limits.memoryBytes + ${RUNTIME_SLACK_BYTES / 2 ** 20} MiB)`,
  );
  const files = openFiles() + FILE_ROOM;
  set(RLIMIT_NOFILE, files, `open files ${files}`);
  set(RLIMIT_CPU, plan.cpuSeconds, `CPU ${plan.cpuSeconds} s`);
  // Threads count too on Linux: everything the child needs is running by now.
  set(RLIMIT_NPROC, 0, process.getuid?.() === 0 ? 'processes 0 (not enforced for root)' : 'processes 0');
}
