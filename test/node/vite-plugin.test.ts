/**
 * scriptbox/vite: serves the engines' files with COOP/COEP in dev, and copies them into
 * a production build.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, createServer } from 'vite';
import { describe, expect, it } from 'vitest';
import { scriptbox } from '../../src/node/vite-plugin.js';

async function app(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sb-vite-'));
  await writeFile(join(root, 'index.html'), '<script type="module" src="./main.js"></script>');
  await writeFile(join(root, 'main.js'), 'console.log("app");');
  return root;
}

describe('scriptbox/vite', () => {
  it('serves Pyodide and wasmoon files with isolation headers in dev', async () => {
    const server = await createServer({
      root: await app(),
      plugins: [scriptbox()],
      server: { port: 0 },
      logLevel: 'silent',
      configFile: false,
    });
    await server.listen();
    try {
      const base = server.resolvedUrls!.local[0]!;
      const wasm = await fetch(new URL('@scriptbox/pyodide/pyodide.asm.wasm', base));
      expect(wasm.status).toBe(200);
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      expect(wasm.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(wasm.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      const glue = await fetch(new URL('@scriptbox/wasmoon/glue.wasm', base));
      expect(glue.status).toBe(200);
      const stdlib = await fetch(new URL('@scriptbox/pyodide/python_stdlib.zip', base));
      expect(Number(stdlib.headers.get('content-length') ?? (await stdlib.arrayBuffer()).byteLength)).toBeGreaterThan(1e6);
    } finally {
      await server.close();
    }
  });

  it('copies the files into the build', async () => {
    const root = await app();
    const outDir = join(root, 'dist');
    await build({ root, plugins: [scriptbox()], logLevel: 'silent', configFile: false, build: { outDir } });
    for (const f of [
      'pyodide/pyodide.asm.wasm',
      'pyodide/pyodide.asm.mjs',
      'pyodide/python_stdlib.zip',
      'pyodide/pyodide-lock.json',
      'wasmoon/glue.wasm',
    ]) {
      const p = join(outDir, '@scriptbox', f);
      expect(existsSync(p), f).toBe(true);
      expect(statSync(p).size).toBeGreaterThan(100);
    }
  }, 60_000);
});
