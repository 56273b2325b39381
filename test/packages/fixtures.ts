// Shared by the package tests: pure-Python wheels built with python3 into a temp dir, a
// lock file written from them (by the test's own code, not by `scriptbox packages lock`),
// and a loopback HTTP server laid out like Pyodide's index that counts what it serves.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';

export interface WheelSpec {
  name: string;
  version: string;
  module: string;
  source: string;
  requires?: string[];
  tag?: string;
}

/** Builds the wheels into `dir`; returns their paths, in order. */
export function buildWheels(dir: string, specs: WheelSpec[]): string[] {
  const out = execFileSync('python3', [join(import.meta.dirname, 'build-wheels.py')], {
    input: JSON.stringify(specs.map((s) => ({ ...s, dir }))),
    encoding: 'utf8',
  });
  return out.trim().split('\n');
}

/** A token that makes each run's wheels (and so their sha256) new: the disk cache starts cold for them. */
export const RUN = randomBytes(6).toString('hex');

/** Writes `dir/pyodide-lock.json` for the given wheels; `overrides` replace fields per package name. */
export function writeLock(
  dir: string,
  wheels: { path: string; name: string; version: string; depends?: string[]; imports: string[] }[],
  overrides: Record<string, Record<string, unknown>> = {},
): void {
  const packages: Record<string, unknown> = {};
  for (const w of wheels) {
    packages[w.name] = {
      name: w.name,
      version: w.version,
      file_name: basename(w.path),
      sha256: createHash('sha256').update(readFileSync(w.path)).digest('hex'),
      depends: w.depends ?? [],
      imports: w.imports,
      install_dir: 'site',
      package_type: 'package',
      ...overrides[w.name],
    };
  }
  const info = { abi_version: '2026_0', arch: 'wasm32', platform: 'emscripten_5_0_3', python: '3.14.2' };
  writeFileSync(join(dir, 'pyodide-lock.json'), JSON.stringify({ info, packages }, null, 2));
}

/** Serves `dir` on 127.0.0.1 (GET /<file>), counting requests per path. */
export async function serveDir(dir: string): Promise<{ url: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    hits.set(name, (hits.get(name) ?? 0) + 1);
    if (!/^[\w.+-]+$/.test(name)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = readFileSync(join(dir, name));
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
