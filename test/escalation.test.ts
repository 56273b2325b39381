/**
 * Cancellation with AbortSignal (src/engine/escalation.ts, src/engine/supervisor.ts): a running call
 * is interrupted (then killed if it will not stop), a queued call is dropped without
 * running, the calls behind an aborted one still run, and the engine answers afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, createEngine, InvalidInputError, type Language, type RemoteObject, type ScriptEngine } from '../src/index.js';

const SCRIPTS: Record<Language, string> = {
  python: `
import time
count = 0
def bump():
    global count
    count += 1
    return count
def spin():
    while True:
        pass
def nap(s):
    time.sleep(s)
    return 'rested'
class Spinner:
    def run(self):
        spin()
def wait_host():
    import host
    return host.never()
`,
  lua: `
count = 0
function bump() count = count + 1 return count end
function spin() while true do end end
function nap(s) local t = os.clock() while os.clock() - t < s do end return 'rested' end
Spinner = {}
Spinner.__index = Spinner
function Spinner.new() return setmetatable({}, Spinner) end
function Spinner:run() spin() end
function wait_host() return host.never() end
`,
};

const SPIN: Record<Language, string> = { python: 'while True:\n    pass', lua: 'while true do end' };

/** Rejects with what the promise rejected with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

describe.each([
  ['python', 'worker'],
  ['python', 'process'],
  ['lua', 'worker'],
  ['lua', 'process'],
] as const)('AbortSignal, %s in %s', (language, placement) => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine(language, {
      placement,
      capabilities: ['never'],
      hostFunctions: { never: () => new Promise(() => {}) },
      limits: { timeoutMs: 20_000, graceMs: 500 },
    });
    await engine.load(SCRIPTS[language]);
  }, 120_000);
  afterAll(async () => {
    await engine?.dispose();
  });

  it('stops running code, rejects with an AbortError carrying the reason, and runs the calls queued behind', async () => {
    const ac = new AbortController();
    const running = engine.exec(SPIN[language], { signal: ac.signal });
    const behind = engine.call('bump');
    setTimeout(() => ac.abort(new Error('user closed the tab')), 100);
    const err = await rejection(running);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).name).toBe('AbortError');
    expect((err as AbortError).code).toBe('ABORTED');
    expect(((err as AbortError).reason as Error).message).toBe('user closed the tab');
    expect((err as Error).message).toMatch(/exec was aborted while it ran: user closed the tab/);
    const n = (await behind) as number;
    expect(await engine.call('bump')).toBe(n + 1);
    expect((await engine.stats()).lastEscalation).toBe('interrupted');
  });

  it('drops an aborted call that is still queued, without running it', async () => {
    const start = (await engine.call('bump')) as number;
    const ac = new AbortController();
    const first = engine.call('nap', [0.3]);
    const queued = engine.call('bump', [], { signal: ac.signal });
    let firstDone = false;
    void first.then(() => (firstDone = true));
    ac.abort();
    const err = await rejection(queued);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(/while it waited in the queue/);
    expect(firstDone).toBe(false); // rejected at once, not after the call ahead of it
    expect(await first).toBe('rested');
    expect(await engine.call('bump')).toBe(start + 1); // the dropped bump never ran
  });

  it('rejects at once for a signal that is already aborted', async () => {
    const err = await rejection(engine.call('bump', [], { signal: AbortSignal.abort('too late') }));
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).reason).toBe('too late');
    await expect(engine.exec('1', { signal: 'nope' as never })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('aborts a RemoteObject method and a call blocked on a host function', async () => {
    const spinner = (await engine.create('Spinner', [])) as RemoteObject;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect(await rejection(spinner.call('run', [], { signal: ac.signal }))).toBeInstanceOf(AbortError);
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 100);
    expect(await rejection(engine.call('wait_host', [], { signal: ac2.signal }))).toBeInstanceOf(AbortError);
    expect(await spinner.call('run', [], { signal: AbortSignal.timeout(100) }).catch((e: Error) => e.name)).toBe('AbortError');
    expect(await engine.exec('1 + 1').then((r) => r.value)).toBe(2);
    await spinner.dispose();
  });
});

describe('AbortSignal on code that ignores the interrupt', () => {
  it('kills and restarts the engine, then answers', async () => {
    await using engine = await createEngine('python', { limits: { graceMs: 300 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    // sum() over a huge range runs in C: it never looks at the interrupt.
    const err = await rejection(engine.exec('sum(range(10**15))', { signal: ac.signal }));
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(/killed because the code did not stop/);
    expect((await engine.exec('6 * 7')).value).toBe(42);
    const s = await engine.stats();
    expect(s.restarts).toBe(1);
    expect(s.lastEscalation).toBe('restarted');
    expect(s.lastRecovery?.boot).toBe('snapshot');
  }, 60_000);

  it('interrupt() escalates too: code stuck in C is killed after graceMs and the engine answers', async () => {
    await using engine = await createEngine('lua', { limits: { graceMs: 200, timeoutMs: 60_000 } });
    // A backtracking pattern match runs in C: the count hook never sees the interrupt.
    const running = engine.exec('return string.rep("a", 40000):find(".-.-.-.-.-.-b")');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    engine.interrupt();
    const r = await running;
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(r).toMatchObject({ success: false, timedOut: false, error: { type: 'Interrupted' } });
    expect(r.error?.message).toMatch(/did not stop within graceMs, so its worker was killed and restarted/);
    expect((await engine.exec('return 6 * 7')).value).toBe(42);
    expect((await engine.stats()).lastEscalation).toBe('cold-booted');
  }, 60_000);

  it('without a snapshot the ladder ends in a cold boot, and stats say so', async () => {
    await using engine = await createEngine('python', { snapshot: false, limits: { graceMs: 300 } });
    const r = await engine.exec('sum(range(10**15))', { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect((await engine.exec('6 * 7')).value).toBe(42);
    const s = await engine.stats();
    expect(s.lastEscalation).toBe('cold-booted');
    expect(s.lastRecovery?.boot).toBe('scratch');
    expect(s.lastRecovery!.ms).toBeGreaterThan(0);
  }, 90_000);
});
