import { describe, expect, it } from 'vitest';
import { apiTour } from '../examples/api-tour.js';
import { pythonTour } from '../examples/python-tour.js';
import { crossLanguage } from '../examples/cross-language.js';
import { nativeTour } from '../examples/native-tour.js';
import { objectsTour } from '../examples/objects-tour.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

describe('README examples', () => {
  it('the API tour does what README says', async () => {
    const { r, bad, area, name } = await apiTour();
    expect(r).toMatchObject({ success: true, value: 21, stdout: 'hi\n', stderr: '', truncated: false, timedOut: false });
    expect(bad.success).toBe(false);
    expect(bad.error).toMatchObject({ type: 'RuntimeError', message: 'input:1: nope', line: 1 });
    expect(area).toBe(12);
    expect(name).toBe('Ann');
  });

  it('the Python tour does what README says', async () => {
    expect(await pythonTour()).toEqual({ name: 'Ann', awaited: 'top-level await works', area: 12 });
  }, 60_000);

  it('the objects, async and cancellation tour does what README says', async () => {
    expect(await objectsTour()).toEqual({
      owner: 'ann',
      total: 140,
      hasKiwi: true,
      aborted: true,
      after: 42,
      area: 6,
      bigArea: 600,
      handles: 1,
    });
  }, 60_000);

  it('a Lua rule calls a Python function through a forwarding host function', async () => {
    expect(await crossLanguage()).toEqual({ big: { approved: true, score: 70 }, small: { approved: false, score: 20 } });
  }, 60_000);

  it('the native tour does what README says (an empty environment in the child process)', async () => {
    expect(await nativeTour()).toEqual({ fib: 196418, sum: 45, backend: 'native', isolated: true });
  }, 60_000);

  it.each(['examples/builtins.py', 'examples/builtins.lua'])(
    '%s runs with the built-ins granted, and is denied without',
    async (file) => {
      const run = promisify(execFile);
      const { stdout } = await run(process.execPath, ['dist/src/cli/main.js', 'run', file, '--allow', 'log,kv.*,channel.*', '--json']);
      expect(JSON.parse(stdout)).toMatchObject({ success: true, value: [1, { kind: 'visit' }, ['visits']] });
      const denied = await run(process.execPath, ['dist/src/cli/main.js', 'run', file, '--allow', 'log', '--json']).catch(
        (e: { stdout: string }) => e,
      );
      expect(JSON.parse(denied.stdout).error.message).toMatch(/host.kv.get needs capability 'kv.read'/);
    },
    60_000,
  );

  it.each([
    ['examples/counter.py', { success: true, value: 1, stdout: 'visit number 1\n' }],
    ['examples/counter.lua', { success: true, value: 1, stdout: 'visit number 1\n' }],
    ['examples/async-host.py', { success: true, value: 'hello, world!', stdout: 'hello world\n' }],
    ['examples/errors.py', { success: false, stdout: 'about to divide\n', error: { type: 'ZeroDivisionError', line: 3 } }],
  ])(
    'the playground example %s runs from the CLI as it does in the page',
    async (file, expected) => {
      const run = promisify(execFile);
      const out = await run(process.execPath, ['dist/src/cli/main.js', 'run', file, '--allow', 'kv.*', '--json']).catch(
        (e: { stdout: string }) => e,
      );
      expect(JSON.parse(out.stdout)).toMatchObject(expected);
    },
    60_000,
  );
});
