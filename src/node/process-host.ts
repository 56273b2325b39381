/**
 * Node glue for the process placement: starts the engine's child process under Node's
 * permission model and wraps it in the ProcessPipe adapter.
 *
 * The child may read only the built package (dist/), the package's package.json (module
 * type lookup) and the folders of its runtime dependencies. It may start worker threads
 * (the core runs in one) and nothing else: no fs writes, no child processes, no native
 * addons, no eval / new Function. Its environment is empty, its stdin/stdout are closed
 * and its stderr is dropped once it has booted. Messages use a pipe on fd 3, stops one on
 * fd 4 (read by the child's interrupt thread while its core runs).
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { UnavailableError } from '../errors.js';
import type { CoreInit } from '../core.js';
import type { ProcessPipe } from '../placement/process.js';
import { findLibPython, findLuaJit, type FoundPython } from './native-libs.js';
import { planNativeLaunch, type NativeLaunch } from './os-limits.js';
import { builtRoot } from './worker-host.js';

/** Packages the engine loads at run time (resolved from the package, wherever npm put them). */
const RUNTIME_DEPS = ['wasmoon', 'pyodide', 'msgpackr', 'comlink'] as const;

/** The folder of package `name` as `from` (a file path) would resolve it, or undefined. */
function packageDir(name: string, from: string): string | undefined {
  let entry: string;
  try {
    entry = createRequire(from).resolve(name);
  } catch {
    return undefined;
  }
  for (let dir = dirname(entry); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    try {
      if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === name) return dir;
    } catch {
      // not a readable manifest: keep walking up
    }
  }
  return undefined;
}

function withRealPath(p: string): string[] {
  try {
    const real = realpathSync(p);
    return real === p ? [p] : [p, real];
  } catch {
    return [p];
  }
}

/** Every path the child may read: dist/, the package's package.json and the runtime dependencies' folders. */
export function engineReadPaths(): string[] {
  const dist = builtRoot();
  const manifest = join(dirname(dist), 'package.json');
  const paths = [dist];
  if (existsSync(manifest)) paths.push(manifest);
  for (const dep of RUNTIME_DEPS) {
    const dir = packageDir(dep, manifest);
    if (!dir) continue;
    paths.push(dir);
    // msgpackr's optional native codec: the child cannot load addons, but msgpackr looks for it.
    if (dep === 'msgpackr') {
      const extract = packageDir('msgpackr-extract', join(dir, 'package.json'));
      if (extract) paths.push(extract);
    }
  }
  return [...new Set(paths.flatMap(withRealPath))];
}

/** The permission-model switch: `--permission` where this Node has it, else the Node 20 name. */
function permissionFlag(): string {
  return process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
}

/** The exact Node flags the engine's child process runs with (before the entry script). */
export function processFlags(): string[] {
  const reads = engineReadPaths();
  for (const p of reads) {
    // Node 20 splits --allow-fs-read values at commas.
    if (p.includes(',')) {
      throw new UnavailableError(
        `placement 'process' cannot grant read access to ${p} because the path contains a comma; install scriptbox under a path without commas`,
      );
    }
  }
  return [
    permissionFlag(),
    ...reads.map((p) => `--allow-fs-read=${p}`),
    // The child's interrupt thread (src/node/interrupt-relay.ts).
    '--allow-worker',
    '--disallow-code-generation-from-strings',
    // The child collects once after booting: the snapshot it was sent (pipe chunks, the
    // frame) is garbage by then, and an idle relay thread might keep it for a long time.
    '--expose-gc',
    '--no-warnings',
  ];
}

/** The built child entry. */
export function processEntry(): string {
  const entry = join(builtRoot(), 'src', 'node', 'process-child.js');
  if (!existsSync(entry)) {
    throw new UnavailableError(`the engine process entry ${entry} is missing; run \`npm run build\` first`);
  }
  return entry;
}

let live = 0;

/** Child processes started by this module that have not exited yet (tests assert it drops to 0). */
export function liveProcessCount(): number {
  return live;
}

/** How much of the child's stderr is kept for the error message when it dies while booting. */
const BOOT_STDERR_BYTES = 2000;

/** Starts the engine's child process: permission model on, empty environment, messages on fd 3, stops on fd 4. */
export function spawnEngineProcess(): ProcessPipe {
  const child = startChild(process.execPath, [...processFlags(), processEntry()], builtRoot(), {});
  child.handOut();
  return child;
}

/**
 * Starts an engine child ahead of need (src/node/spare-child.ts): not counted as live and
 * never keeping the host alive until handOut().
 */
export function startSpareEngineProcess(): SpareProcess {
  return startChild(process.execPath, [...processFlags(), processEntry()], builtRoot(), {});
}

/** A started engine child that may not belong to an engine yet. */
export interface SpareProcess extends ProcessPipe {
  /** It belongs to an engine now: counted as live, and keeps the host alive like any engine. */
  handOut(): void;
  /** It has exited. */
  readonly exited: boolean;
}

/** Files a native child reads: Node, dist/, koffi and the library (with its standard library). */
function nativeNeeds(init: CoreInit | undefined): string[] {
  const needs = [process.execPath, builtRoot()];
  const koffiDir = packageDir('koffi', join(dirname(builtRoot()), 'package.json'));
  if (koffiDir) needs.push(koffiDir);
  const libs: { path: string; home?: string; version?: string }[] = [];
  if (init?.nativeLibrary) libs.push(init.nativeLibrary);
  else {
    // Which language is unknown here: every library this host would hand a child.
    for (const find of [findLibPython, findLuaJit]) {
      try {
        libs.push(find() as FoundPython);
      } catch {
        // not installed: no child will load it
      }
    }
  }
  for (const lib of libs) {
    if (lib.path.includes('/')) needs.push(lib.path);
    if (lib.home && lib.version) needs.push(join(lib.home, 'lib', `python${lib.version}`));
  }
  return needs;
}

/**
 * Starts a native engine's child process: empty environment, a scratch working directory
 * (removed when the child exits), its own session, and (os-limits.ts planNativeLaunch)
 * new PID, mount and network namespaces with its own /proc, no capabilities and, as root,
 * an unprivileged uid; `--native` makes it check those and enter its remaining OS limits.
 * No permission model: it would not bind native code, and koffi is an addon. `init`, when
 * given, names the library, so that only its paths decide whether the uid can be dropped.
 */
export function spawnNativeProcess(init?: CoreInit): ProcessPipe {
  const entry = processEntry();
  const launch: NativeLaunch = planNativeLaunch(nativeNeeds(init));
  const scratch = mkdtempSync(join(tmpdir(), 'scriptbox-native-'));
  if (launch.id !== undefined) chownSync(scratch, launch.id, launch.id);
  const notes = Buffer.from(JSON.stringify({ applied: launch.applied, refused: launch.refused })).toString('base64url');
  const [launcher, ...launcherArgs] = launch.prefix;
  const child = startChild(
    launcher ?? process.execPath,
    [...(launcher ? [...launcherArgs, process.execPath] : []), '--no-warnings', entry, '--native', `--isolation-plan=${notes}`],
    scratch,
    {
      cleanup: () => rmSync(scratch, { recursive: true, force: true }),
      session: true,
      launched: launcher !== undefined,
    },
  );
  child.handOut();
  return child;
}

/** Host pids whose parent is `pid` (the launcher's child: the engine's Node, pid 1 of its namespace). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(e));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

interface ChildOptions {
  /** Runs once the child has exited. */
  cleanup?: () => void;
  /** Start the child in a session (and process group) of its own. */
  session?: boolean;
  /** `command` is a launcher whose child is the engine's Node: kill() kills that child too. */
  launched?: boolean;
}

/** Starts a child, unref'd and not counted as live until handOut(). */
function startChild(command: string, args: string[], cwd: string, { cleanup, session, launched }: ChildOptions): SpareProcess {
  const child = spawn(command, args, {
    cwd,
    env: {},
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    windowsHide: true,
    // Its own session and process group: kill(0, sig) from the script reaches only the engine's
    // processes, and it cannot join the host's group (setpgid stays within a session).
    detached: session === true,
  });
  child.unref();
  let counted = false;
  let gone = false;
  let exitInfo = '';
  const exited = new Promise<void>((resolve) => {
    const done = (info: string) => {
      if (gone) return;
      gone = true;
      exitInfo = info;
      if (counted) live--;
      try {
        cleanup?.();
      } catch {
        // a scratch folder that cannot be removed is left in the temp directory
      }
      resolve();
    };
    child.once('exit', (code, signal) => done(signal ? `signal ${signal}` : `code ${code}`));
    // A child that could not be started at all never emits 'exit'.
    child.once('error', (e) => {
      if (child.pid === undefined) done(`it could not be started: ${e.message}`);
    });
  });
  const messages = child.stdio[3] as Socket;
  const stops = child.stdio[4] as Socket;
  // EPIPE after the child died: its exit is reported instead.
  messages.on('error', () => {});
  stops.on('error', () => {});
  const stderr = child.stderr as Readable;
  const handles = [messages, stops, stderr as Socket];
  for (const h of handles) h.unref?.();
  let booted = false;
  let stderrTail = '';
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => {
    if (!booted) stderrTail = (stderrTail + text).slice(-BOOT_STDERR_BYTES);
  });
  let killing = false;
  let exitCb: ((e: Error) => void) | undefined;
  // 'close' comes after the child exited and its pipes drained, so every frame it sent is in.
  let reported = false;
  const reportExit = () => {
    void exited.then(() => {
      if (killing || reported) return;
      reported = true;
      const words = !booted && stderrTail.trim() ? `; while booting it wrote: ${stderrTail.trim()}` : '';
      exitCb?.(new Error(`the engine's process exited (${exitInfo})${words}`));
    });
  };
  child.once('close', reportExit);
  child.once('error', () => {
    if (child.pid === undefined) reportExit();
  });
  return {
    get exited() {
      return gone;
    },
    handOut: () => {
      if (counted) return;
      counted = true;
      if (!gone) live++;
      child.ref();
      for (const h of handles) h.ref?.();
    },
    write: (bytes) => {
      if (!gone && messages.writable) messages.write(bytes);
    },
    writeStop: (record) => {
      if (!gone && stops.writable) stops.write(record);
    },
    onData: (cb) => messages.on('data', cb),
    onExit: (cb) => {
      exitCb = cb;
    },
    booted: () => {
      booted = true;
      stderrTail = '';
    },
    kill: async () => {
      killing = true;
      if (!gone) {
        // The launcher's child is the namespace's pid 1: killing it ends everything in the
        // namespace. Its parent-death signal alone is not enough, since the script can clear it.
        if (launched && child.pid !== undefined) {
          for (const pid of childrenOf(child.pid)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone: the launcher exits with it
            }
          }
        }
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}
