// The guest Lua (the prelude and its per-version shims) is linted with luacheck, using the
// project's .luacheckrc (which names the globals the sandbox provides).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, guestFiles } from './guest-files.js';

describe('guest Lua', () => {
  const files = guestFiles('.lua');

  it('exists as real .lua files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('is clean under luacheck', () => {
    const run = spawnSync(process.env.SCRIPTBOX_LUACHECK ?? 'luacheck', ['--no-color', '--formatter', 'plain', ...files], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(run.error).toBeUndefined();
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
