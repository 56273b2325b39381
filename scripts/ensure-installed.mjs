// `npm start` / `npm test` on a fresh clone: install the locked dependencies first, once.
// Plain JavaScript, because it runs before TypeScript (or anything else) is installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../node_modules/.package-lock.json', import.meta.url))) {
  console.error('scriptbox: no node_modules yet; running `npm ci` once…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
