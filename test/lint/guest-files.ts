// The guest-language files the lint tests read: every .py / .lua under src/lang/, src/state/, wasm/, native-bridge/.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

export function guestFiles(ext: '.py' | '.lua'): string[] {
  return ['src/lang', 'src/state', 'wasm', 'native-bridge'].flatMap((d) => walk(join(ROOT, d))).filter((f) => f.endsWith(ext));
}
