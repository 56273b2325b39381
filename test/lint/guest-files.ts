// The guest-language files the lint tests read: every .py / .lua under src/lang/.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

export function guestFiles(ext: '.py' | '.lua'): string[] {
  return walk(join(ROOT, 'src/lang')).filter((f) => f.endsWith(ext));
}
