// The guest Python (runtime, CPython hub and watchdog) is linted like any code: pyflakes
// finds misspelled names and unused imports that would otherwise fail only when Python runs.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, guestFiles } from './guest-files.js';

describe('guest Python', () => {
  const files = guestFiles('.py');

  it('exists as real .py files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('is clean under pyflakes', () => {
    const run = spawnSync(process.env.SCRIPTBOX_PYFLAKES ?? 'pyflakes3', files, { cwd: ROOT, encoding: 'utf8' });
    expect(run.error).toBeUndefined();
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
