/**
 * `scriptbox/vite`: serves the engines' wasm assets in dev, copies them into the build,
 * and sets the COOP/COEP headers that SharedArrayBuffer needs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Plugin } from 'vite';

const require = createRequire(import.meta.url);

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Pyodide's runtime files: it looks them up by fixed names in one folder (its indexURL). */
const PYODIDE_FILES = /^(pyodide\.asm\.(mjs|wasm)|pyodide\.mjs|python_stdlib\.zip|pyodide-lock\.json)$/;

function assets(): Record<string, string> {
  const wasmoonDir = dirname(require.resolve('wasmoon/package.json'));
  const pyodideDir = dirname(require.resolve('pyodide/package.json'));
  const files: Record<string, string> = { 'wasmoon/glue.wasm': join(wasmoonDir, 'dist', 'glue.wasm') };
  for (const f of readdirSync(pyodideDir)) if (PYODIDE_FILES.test(f)) files[`pyodide/${f}`] = join(pyodideDir, f);
  return files;
}

const TYPES: Record<string, string> = {
  wasm: 'application/wasm',
  mjs: 'text/javascript',
  js: 'text/javascript',
  json: 'application/json',
  zip: 'application/zip',
};

/** What `scriptbox/playground`'s editor imports: optional peer dependencies of the package. */
const PLAYGROUND_PEERS = [
  'codemirror',
  '@codemirror/lang-python',
  '@codemirror/language',
  '@codemirror/legacy-modes',
  '@codemirror/state',
  '@codemirror/view',
];
const PLAYGROUND_EDITOR = /[\\/]web[\\/]playground[\\/]editor\.[jt]s$/;

export interface ScriptboxViteOptions {
  /** Send COOP/COEP headers (default true). Without them there is no SharedArrayBuffer. */
  crossOriginIsolation?: boolean;
}

export function scriptbox(options: ScriptboxViteOptions = {}): Plugin {
  const isolate = options.crossOriginIsolation !== false;
  const files = assets();
  return {
    name: 'scriptbox',
    // Before Vite's resolver, which stands a silent stub in for a missing optional peer.
    enforce: 'pre',
    config() {
      return {
        server: isolate ? { headers: ISOLATION } : {},
        preview: isolate ? { headers: ISOLATION } : {},
        // scriptbox starts its engine worker with new URL(..., import.meta.url), which pre-bundling breaks.
        optimizeDeps: { include: ['wasmoon'], exclude: ['pyodide', 'scriptbox'] },
        worker: { format: 'es' },
      };
    },
    // The playground's editor needs CodeMirror, which `npm i scriptbox` does not install (an
    // optional peer dependency): say that, instead of the bundler's bare "cannot resolve".
    async resolveId(source, importer, opts) {
      if (!importer || !PLAYGROUND_EDITOR.test(importer)) return null;
      if (!PLAYGROUND_PEERS.some((p) => source === p || source.startsWith(`${p}/`))) return null;
      const found = await this.resolve(source, importer, { ...opts, skipSelf: true });
      // Vite stands a stub (that throws when loaded) in for a missing optional peer.
      if (found && !found.id.startsWith('__vite-optional-peer-dep:')) return found;
      this.error(
        `scriptbox/playground needs CodeMirror (${source} is not installed; it is an optional peer dependency of scriptbox): npm install ${PLAYGROUND_PEERS.join(' ')}`,
      );
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = req.url?.split('?')[0] ?? '';
        if (!url.startsWith('/@scriptbox/')) return next();
        const file = files[url.slice('/@scriptbox/'.length)];
        if (!file) return next();
        res.setHeader('Content-Type', TYPES[file.split('.').pop()!] ?? 'application/octet-stream');
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        // This middleware answers before Vite's own, which would add server.headers.
        if (isolate) for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
        res.end(readFileSync(file));
      });
    },
    generateBundle() {
      for (const [name, file] of Object.entries(files)) {
        this.emitFile({ type: 'asset', fileName: `@scriptbox/${name}`, source: readFileSync(file) });
      }
    },
  };
}

export default scriptbox;
