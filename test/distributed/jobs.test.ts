/** The job format and the grant narrowing of the distributed pool, without Redis. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { covered, jobGrants } from '../../src/distributed/grants.js';
import { errorFromWire, errorToWire, execFromWire, execToWire, packValue, parseJob, unpackValue } from '../../src/distributed/jobs.js';
import { InvalidInputError, MemoryLimitError, PermissionDeniedError, ScriptError, TimeoutError } from '../../src/errors.js';
import { checkWorkerOptions } from '../../src/distributed/worker.js';

const run = promisify(execFile);

describe('what a job may ask of its worker', () => {
  it('covers only patterns inside the grants', () => {
    expect(covered(['kv.*'], 'kv.read')).toBe(true);
    expect(covered(['kv.*'], 'kv.*')).toBe(true);
    expect(covered(['kv.read'], 'kv.*')).toBe(false);
    expect(covered(['kv.*'], '*')).toBe(false);
    expect(covered(['*'], '*')).toBe(true);
    expect(covered(['a.*'], 'a.b.*')).toBe(true);
    expect(covered(['a.b.*'], 'a.*')).toBe(false);
    expect(covered([], 'log')).toBe(false);
  });

  it('refuses more than the worker grants, naming both', () => {
    expect(jobGrants(['kv.*', 'log'], undefined, 'w1')).toEqual(['kv.*', 'log']);
    expect(jobGrants(['kv.*', 'log'], ['kv.read'], 'w1')).toEqual(['kv.read']);
    expect(() => jobGrants(['kv.read'], ['kv.*', 'net.fetch'], 'w1')).toThrow(PermissionDeniedError);
    expect(() => jobGrants([], ['log'], 'w1')).toThrow(/asks for 'log', which worker w1 does not grant \(it grants nothing\)/);
  });
});

describe('job data read from Redis is untrusted', () => {
  it('is checked field by field', () => {
    expect(parseJob({ v: 1, op: 'exec', code: 'return 1' }, 100)).toEqual({ v: 1, op: 'exec', code: 'return 1' });
    const bad: [unknown, RegExp][] = [
      [null, /must be an object/],
      [{ v: 2, op: 'exec', code: '' }, /job format 2 is not this worker's \(1\)/],
      [{ v: 1, op: 'rm -rf', code: '' }, /op must be one of exec, call, open, close/],
      [{ v: 1, op: 'exec' }, /an exec job needs code/],
      [{ v: 1, op: 'exec', code: 'x'.repeat(101) }, /101 bytes, over the worker's limits.maxCodeBytes \(100\)/],
      [{ v: 1, op: 'call', fn: 'os.execute("x")' }, /fn must be a function name/],
      [{ v: 1, op: 'exec', code: '1', capabilities: ['bad pattern'] }, /not a capability pattern/],
      [{ v: 1, op: 'exec', code: '1', session: '../x' }, /session must be a session id/],
      [{ v: 1, op: 'close' }, /a close job needs its session id/],
      [{ v: 1, op: 'exec', code: '1', timeoutMs: -1 }, /timeoutMs must be a positive number/],
    ];
    for (const [data, message] of bad) {
      expect(() => parseJob(data, 100)).toThrow(InvalidInputError);
      expect(() => parseJob(data, 100)).toThrow(message);
    }
  });

  it('values and errors cross the JSON queue unchanged in kind', () => {
    const v = { n: 2n ** 70n, b: new Uint8Array([0, 255]), m: new Map([[1, 'a']]) };
    expect(unpackValue(packValue(v, 'value'))).toEqual(v);
    const r = execFromWire(
      JSON.parse(
        JSON.stringify(
          execToWire({ success: true, value: v, stdout: 'x', stderr: '', truncated: false, durationMs: 1, timedOut: false, outputs: [] }),
        ),
      ),
    );
    expect(r.value).toEqual(v);
    const script = errorFromWire(JSON.parse(JSON.stringify(errorToWire(new ScriptError({ type: 'ValueError', message: 'bad', line: 3 })))));
    expect(script).toBeInstanceOf(ScriptError);
    expect(script).toMatchObject({ type: 'ValueError', line: 3, message: 'ValueError: bad' });
    expect(errorFromWire(errorToWire(new TimeoutError('slow', 'restarted')))).toMatchObject({ code: 'TIMEOUT', escalation: 'restarted' });
    expect(errorFromWire(errorToWire(new MemoryLimitError('big')))).toBeInstanceOf(MemoryLimitError);
  });
});

describe('worker options', () => {
  it('are checked at the entry with messages naming the fix', () => {
    expect(() => checkWorkerOptions({})).toThrow(/redis must be a Redis URL like redis:\/\/127.0.0.1:6379/);
    expect(() => checkWorkerOptions({ redis: 'redis://x', nope: 1 })).toThrow(/startWorker has no option 'nope'/);
    expect(() => checkWorkerOptions({ redis: 'redis://x', languages: ['js'] })).toThrow(
      /languages must be a non-empty list of python, lua/,
    );
    expect(() => checkWorkerOptions({ redis: 'redis://x', engine: { hostFunctions: {} } })).toThrow(
      /engine option 'hostFunctions' cannot come from a worker's configuration/,
    );
    expect(() => checkWorkerOptions({ redis: 'redis://x', concurrency: 0 })).toThrow(/concurrency must be an integer from 1 to 256/);
    expect(checkWorkerOptions({ redis: 'redis://x' }, 'my.host').id).toMatch(/^my-host-[0-9a-f]{8}$/);
  });

  it('scriptbox worker: bad usage and an unreachable Redis exit 2 with the reason', async () => {
    const cli = 'dist/src/cli/main.js';
    const fail = (args: string[]) =>
      run(process.execPath, [cli, 'worker', ...args]).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
    expect(await fail([])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--redis URL is required/) });
    expect(await fail(['--redis', 'redis://127.0.0.1:1', '--concurrency', 'x'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--concurrency must be a positive integer/),
    });
    const e = await fail(['--redis', 'redis://127.0.0.1:1']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/UNAVAILABLE: could not reach Redis at redis:\/\/127.0.0.1:1/);
  }, 60_000);
});
