/**
 * Build step: copies the example scripts next to the compiled playground, which reads them
 * with Vite `?raw` imports (dist/web/playground/examples.js -> dist/examples/*).
 */
import { cpSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../../examples/', import.meta.url));
const to = fileURLToPath(new URL('../examples/', import.meta.url));
for (const f of readdirSync(from)) if (/\.(py|lua)$/.test(f)) cpSync(from + f, to + f);
