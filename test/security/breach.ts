/**
 * The breach detectors of ../shared/security/README.md, for any engine placement.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Attack {
  id: string;
  language: 'python' | 'lua';
  code: string;
  expect: 'error' | 'no-escape';
  detect: string;
}

const CANARY_ENV = 'CANARY_ENV_7f3a9c';
const CANARY_FILE = '/tmp/sandbox_canary_secret.txt';
const CANARY_CONTENT = 'CANARY_FILE_51d2e8';
const BREACH_DIR = '/tmp/sandbox_breach';

/** The corpus lives in shared/ beside the repository (CI clones it there). */
export function loadCorpus(): Attack[] {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const file = process.env.SCRIPTBOX_ATTACKS ?? join(root, '..', 'shared', 'security', 'attacks.json');
  if (!existsSync(file)) throw new Error(`attack corpus not found at ${file}; set SCRIPTBOX_ATTACKS to its path`);
  return JSON.parse(readFileSync(file, 'utf8')) as Attack[];
}

/** Watches the host for every breach signal while attacks run. */
export class BreachWatch {
  private server: Server | undefined;
  connections = 0;
  private lagTimer: ReturnType<typeof setInterval> | undefined;
  maxLagMs = 0;
  private protoObject = '';
  private protoFunction = '';

  async start(): Promise<void> {
    process.env.SANDBOX_CANARY_ENV = CANARY_ENV;
    // The corpus files run in parallel and all watch this port: wait until it is free, so
    // each watch counts only its own attacks' connections.
    const deadline = Date.now() + 100_000;
    for (;;) {
      const server = createServer((s) => {
        this.connections++;
        s.destroy();
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(18080, '127.0.0.1', resolve);
        });
        this.server = server;
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.protoObject = Object.getOwnPropertyNames(Object.prototype).sort().join();
    this.protoFunction = Object.getOwnPropertyNames(Function.prototype).sort().join();
  }

  /** Before each attempt: fresh canaries, empty breach dir, lag monitor on. */
  arm(): void {
    writeFileSync(CANARY_FILE, CANARY_CONTENT);
    rmSync(BREACH_DIR, { recursive: true, force: true });
    mkdirSync(BREACH_DIR, { recursive: true });
    this.maxLagMs = 0;
    let last = performance.now();
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.maxLagMs = Math.max(this.maxLagMs, now - last - 50);
      last = now;
    }, 50);
  }

  /** After an attempt: every breach found, as short labels. */
  breaches(output: string): string[] {
    clearInterval(this.lagTimer);
    const found: string[] = [];
    if (existsSync(BREACH_DIR) && readdirSync(BREACH_DIR).length > 0) found.push('marker-file-created');
    if (output.includes(CANARY_ENV)) found.push('env-canary-leaked');
    if (output.includes(CANARY_CONTENT)) found.push('file-canary-leaked');
    if (!existsSync(CANARY_FILE) || readFileSync(CANARY_FILE, 'utf8') !== CANARY_CONTENT) found.push('canary-file-changed');
    if (output.includes('root:x:0:0')) found.push('passwd-leaked');
    if (output.includes('SANDBOX_BREACH')) found.push('breach-string');
    if (this.connections > 0) found.push('network-connection');
    if (process.exitCode !== undefined && process.exitCode !== 0) found.push('host-exit-code-changed');
    if (this.maxLagMs > 1000) found.push(`host-event-loop-stalled-${Math.round(this.maxLagMs)}ms`);
    if (Object.getOwnPropertyNames(Object.prototype).sort().join() !== this.protoObject) found.push('object-prototype-changed');
    if (Object.getOwnPropertyNames(Function.prototype).sort().join() !== this.protoFunction) found.push('function-prototype-changed');
    return found;
  }

  async stop(): Promise<void> {
    clearInterval(this.lagTimer);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** The host functions the corpus README asks a runner to grant (`log` is built in), plus a check that none was replaced. */
export function corpusHostFunctions(): { hostFunctions: Record<string, (...a: unknown[]) => unknown>; untouched(): boolean } {
  const greet = (name: unknown) => `hello ${String(name)}`;
  const hostFunctions: Record<string, (...a: unknown[]) => unknown> = {
    echo: (x: unknown) => x,
    get_config: () => ({ db: { host: 'localhost', port: 5432 }, flags: ['a', 'b'] }),
    fail: () => {
      throw new Error('host failure');
    },
    greet,
  };
  const snapshot = { ...hostFunctions };
  const props = (f: unknown) => Object.getOwnPropertyNames(f).sort().join();
  const shapes = Object.fromEntries(Object.entries(hostFunctions).map(([k, f]) => [k, props(f)]));
  return {
    hostFunctions,
    untouched: () =>
      Object.entries(snapshot).every(([k, f]) => hostFunctions[k] === f && props(f) === shapes[k]) && greet('x') === 'hello x',
  };
}

/** Everything an attempt left where a leak could show: output, value and error. */
export function attemptOutput(r: { stdout: string; stderr: string; value?: unknown; error?: { message: string } }): string {
  const value = JSON.stringify(r.value ?? null, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  return `${r.stdout}\n${r.stderr}\n${value}\n${r.error?.message ?? ''}`;
}
