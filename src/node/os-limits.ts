/**
 * OS limits for the native backend's child process (Linux): no-new-privs, its own network
 * namespace where the OS allows, and rlimits on CPU seconds, address space, open files
 * and processes. Applied through libc with koffi, from inside the child, because Node's
 * spawn has no rlimit or namespace options and the limits must bind native code, which
 * Node's permission model does not see.
 *
 * What each step does not stop is said in README "Native backends"; in short, these limit
 * resources and the environment, and a process running as root keeps root's powers
 * (RLIMIT_NPROC does not bind root, and root could leave the network namespace).
 */
import { readFileSync, readdirSync } from 'node:fs';
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

/**
 * Steps that bind the calling thread and the threads it starts afterwards: call them on
 * the child's main thread before it starts the engine's worker thread.
 */
export function enterIsolation(report: IsolationReport): void {
  if (process.platform !== 'linux') {
    report.refused.push(`no-new-privs and network namespace: Linux only (this is ${process.platform})`);
    return;
  }
  const c = load();
  if (c.prctl(PR_SET_NO_NEW_PRIVS, 'unsigned long', 1, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0) === 0) {
    report.applied.push('no-new-privs');
  } else report.refused.push(failure(c, 'no-new-privs'));
  // A new network namespace has only a loopback device, which is down: no network at all.
  if (c.unshare(CLONE_NEWNET) === 0) report.applied.push('network namespace (no network)');
  else report.refused.push(failure(c, 'network namespace: the OS refused (needs CAP_SYS_ADMIN; unprivileged user namespaces cannot be entered by a threaded process)'));
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
  set(RLIMIT_AS, as, `address space ${Math.round(as / 2 ** 20)} MiB (booted size + limits.memoryBytes + ${RUNTIME_SLACK_BYTES / 2 ** 20} MiB)`);
  const files = openFiles() + FILE_ROOM;
  set(RLIMIT_NOFILE, files, `open files ${files}`);
  set(RLIMIT_CPU, plan.cpuSeconds, `CPU ${plan.cpuSeconds} s`);
  // Threads count too on Linux: everything the child needs is running by now.
  set(RLIMIT_NPROC, 0, process.getuid?.() === 0 ? 'processes 0 (not enforced for root)' : 'processes 0');
}
