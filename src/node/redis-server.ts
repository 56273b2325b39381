/**
 * A private redis-server for the tests and the `distributed` bench workload (the Debian
 * package, listed in scripts/system-packages.mjs): started on a free loopback port with a
 * temporary directory, no persistence and `maxmemory-policy noeviction` (what BullMQ
 * requires), stopped afterwards. `restart()` stops it and starts it again on the same port
 * (empty), for the fault tests. Not part of the public API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../errors.js';

const BINARY = process.env.SCRIPTBOX_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM) and starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function launch(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    BINARY,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const exited = () => reject(new Error(`redis-server exited (${child.exitCode}) before it was ready: ${out}`));
    child.once('exit', exited);
    // Ready when it answers PING on its port.
    const probe = () => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => sock.write('PING\r\n'));
      sock.once('data', (d) => {
        sock.destroy();
        if (!d.toString().startsWith('+PONG')) return retry();
        child.off('exit', exited);
        resolve(child);
      });
      sock.once('error', () => {
        sock.destroy();
        retry();
      });
    };
    const retry = () => {
      if (Date.now() > deadline) {
        // Not left running behind a failed start.
        child.off('exit', exited);
        child.kill('SIGKILL');
        reject(new Error(`redis-server did not answer on port ${port}: ${out}`));
      } else setTimeout(probe, 20);
    };
    probe();
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Why no redis-server can be started here, or undefined. */
export function redisMissing(): string | undefined {
  return existsSync(BINARY)
    ? undefined
    : `redis-server is not installed (looked for ${BINARY}); install the Debian package redis-server, or set SCRIPTBOX_REDIS_SERVER`;
}

/** Starts a private redis-server (stop it when done). */
export async function startRedis(): Promise<RedisServer> {
  if (!existsSync(BINARY)) {
    throw new UnavailableError(
      `redis-server is not installed (looked for ${BINARY}); install the Debian package redis-server, or set SCRIPTBOX_REDIS_SERVER`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'sb-redis-'));
  const port = await freePort();
  let child = await launch(port, dir);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      await stopChild(child);
      child = await launch(port, dir);
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
