/**
 * `scriptbox worker` (the built CLI) started as a child process, standing in for a machine
 * in the distributed tests and the `distributed` bench workload. It is ready once it says
 * so on stderr. Not part of the public API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Built: dist/src/node -> dist/src/cli; from the sources (tests): src/node -> dist/src/cli.
const CLI = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../cli/main.js' : '../../dist/src/cli/main.js', import.meta.url));

export interface WorkerProcess {
  readonly id: string;
  readonly child: ChildProcess;
  /** What it wrote on stderr so far. */
  log(): string;
  /** SIGTERM, and waits for the exit (running jobs finish first). */
  stop(): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

export async function startWorkerProcess(args: string[], id: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', '--id', id, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${id} did not start within 60 s: ${err}`)), 60_000);
    const look = () => {
      if (err.includes(`worker ${id} ready`)) {
        clearTimeout(timer);
        child.stderr!.off('data', look);
        resolve();
      }
    };
    child.stderr!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${id} exited (${code}) while starting: ${err}`));
    });
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { id, child, log: () => err, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
}
