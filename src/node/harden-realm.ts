/**
 * The Node half of src/placement/worker-realm.ts: in the thread a sandboxed core runs in, the built-in
 * modules that reach the host (child processes, sockets, files, native addons) are
 * replaced with functions that throw. The host thread is untouched: each worker thread
 * has its own module instances.
 */
import childProcess from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';

type Denied = (what: string) => () => never;

function denyAll(obj: Record<string, unknown>, label: string, deny: Denied, keep: string[] = []): void {
  for (const key of Object.keys(obj)) {
    if (keep.includes(key) || typeof obj[key] !== 'function' || /^[A-Z]/.test(key)) continue;
    try {
      obj[key] = deny(`${label}.${key}`);
    } catch {
      // a read-only export: nothing can call it through us either
    }
  }
}

export function hardenNodeRealm(deny: Denied): void {
  denyAll(childProcess as unknown as Record<string, unknown>, 'child_process', deny);
  denyAll(fs as unknown as Record<string, unknown>, 'fs', deny);
  denyAll(fs.promises as unknown as Record<string, unknown>, 'fs.promises', deny);
  for (const [m, label] of [
    [net, 'net'],
    [tls, 'tls'],
    [http, 'http'],
    [https, 'https'],
    [http2, 'http2'],
    [dgram, 'dgram'],
    [dns, 'dns'],
  ] as const) {
    denyAll(m as unknown as Record<string, unknown>, label, deny);
  }
  net.Socket.prototype.connect = deny('net.Socket.connect') as never;
  syncBuiltinESMExports();
  const p = process as unknown as Record<string, unknown>;
  for (const key of [
    'binding',
    '_linkedBinding',
    'dlopen',
    'getBuiltinModule',
    'kill',
    'abort',
    'reallyExit',
    '_kill',
    'chdir',
    'setuid',
    'setgid',
  ]) {
    if (key in p) p[key] = deny(`process.${key}`);
  }
}
