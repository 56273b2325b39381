/**
 * The playground site: `npm start` serves it (scripts/start.ts), `npm run build` builds it
 * into dist/site. Pages: the playground, the benchmarks and an embedding example.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { scriptbox } from '../src/node/vite-plugin.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  // SCRIPTBOX_ISOLATION=off serves the pages without COOP/COEP (the postMessage path).
  plugins: [scriptbox({ crossOriginIsolation: process.env.SCRIPTBOX_ISOLATION !== 'off' })],
  build: {
    outDir: here('../dist/site'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: { index: here('index.html'), bench: here('bench.html'), embed: here('embed.html') },
    },
  },
  // Known up front: a dependency found late (in the engine worker) makes Vite reload the page.
  optimizeDeps: {
    include: [
      'msgpackr',
      'comlink',
      'codemirror',
      '@codemirror/lang-python',
      '@codemirror/language',
      '@codemirror/legacy-modes/mode/lua',
      '@codemirror/state',
      '@codemirror/view',
      'chart.js',
      'tinybench',
    ],
  },
  server: { host: 'localhost' },
  preview: { host: 'localhost' },
});
