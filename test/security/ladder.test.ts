/**
 * Issue 17, class 1: every host request that can run script code goes through the
 * deadline -> interrupt -> kill-and-restart ladder, and dispose() always settles. Each test
 * is an attack: Python code that runs, and never stops, inside a request other than exec
 * (releasing a handle, stats(), registerHostFunction, the replay of loaded scripts after a
 * restart), then checks that every host promise settles, the engine answers again, and
 * stats() says which step of the ladder fired. "Polite" attacks loop in Python and stop
 * when interrupted (so the interrupt check must be on during the request); "stubborn" ones
 * are stuck in C, where no interrupt check runs (only the kill stops them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, createPool, DisposedError, EngineCrashedError, TimeoutError, type ScriptEngine } from '../../src/index.js';
import { answers, collectGarbage, rejects, settles } from './settle.js';

const LIMITS = { timeoutMs: 1500, graceMs: 300 };

const ATTACKS = `
import sys

def _forever():
    while True:
        pass

def _stubborn():
    # Stuck in C: the interrupt check never runs, so only the kill stops it.
    sum(range(10**15))

class Sticky:
    def __del__(self):
        _forever()

class Stubborn:
    def __del__(self):
        _stubborn()

def hook(name, stubborn):
    # Runs script code inside the runtime's own entry \`name\` (handle_count for stats(),
    # set_host_names for registerHostFunction, release for RemoteObject.dispose).
    # Fires once: a stopped request leaves the hook installed (a script's own hooks stay
    # until a reset), and the test then checks that the next request answers.
    fired = []
    def prof(frame, event, arg):
        if event == 'call' and frame.f_code.co_name == name and not fired:
            fired.append(1)
            (_stubborn if stubborn else _forever)()
    sys.setprofile(prof)
    return 'armed'

def ask_host():
    import host
    return host.ping()
`;

/** Code stuck in C inside exec: only the kill stops it (forces a restart). */
const STUBBORN_EXEC = 'sum(range(10**15))';

describe.each(['worker', 'process'] as const)('host requests that run script code (python, %s placement)', (placement) => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('python', { placement, limits: LIMITS, capabilities: ['ping'] });
    await engine.load(ATTACKS, 'attacks');
  }, 120_000);
  afterAll(async () => {
    if (engine) await answers(engine.dispose(), 'dispose');
  });

  it('RemoteObject.dispose() of an object whose __del__ loops is interrupted in place', async () => {
    const before = await engine.stats();
    const obj = await engine.create('Sticky');
    await answers(obj.dispose(), 'RemoteObject.dispose');
    expect((await answers(engine.exec('1 + 1'), 'exec after the release')).value).toBe(2);
    const after = await engine.stats();
    expect(after.lastEscalation).toBe('interrupted');
    expect(after.restarts).toBe(before.restarts);
    expect(after.handles).toBe(0);
  }, 60_000);

  it('RemoteObject.dispose() of an object whose __del__ is stuck in C kills and restarts the core', async () => {
    const before = await engine.stats();
    const obj = await engine.create('Stubborn');
    await answers(obj.dispose(), 'RemoteObject.dispose');
    expect((await answers(engine.exec('1 + 1'), 'exec after the kill')).value).toBe(2);
    const after = await engine.stats();
    expect(after.restarts).toBe(before.restarts + 1);
    expect(after.lastCrash).toMatchObject({ kind: 'killed', during: 'RemoteObject.dispose' });
    expect(engine.lastError).toBeInstanceOf(TimeoutError);
    // The loaded script came back with the new core.
    expect(await answers(engine.call('hook', ['nothing_runs_this', false]), 'call after restart')).toBe('armed');
    await engine.exec('import sys; sys.setprofile(None)');
  }, 60_000);

  it("stats() while a hook loops inside the runtime's handle count rejects with TimeoutError, then answers", async () => {
    expect(await engine.call('hook', ['handle_count', false])).toBe('armed');
    const err = await rejects(engine.stats(), 'stats with a looping hook');
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).escalation).toBe('interrupted');
    const s = await answers(engine.stats(), 'stats after the interrupt');
    expect(s.lastEscalation).toBe('interrupted');
  }, 60_000);

  it('stats() while a hook is stuck in C kills the core; the next stats() reports it', async () => {
    const before = await engine.stats();
    expect(await engine.call('hook', ['handle_count', true])).toBe('armed');
    const err = await rejects(engine.stats(), 'stats with a stubborn hook');
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).escalation).toBe('restarted');
    const s = await answers(engine.stats(), 'stats after the kill');
    expect(s.restarts).toBe(before.restarts + 1);
    expect(s.lastCrash).toMatchObject({ kind: 'killed', during: 'stats' });
  }, 60_000);

  // Between requests the worker puts the builtins and host back (the core's idle step,
  // issue 20): dropping what a script left there can run its __del__ with no request in
  // flight. The next request's deadline must still reach it.
  it('a __del__ that loops when the core puts the builtins back between requests is stopped by the next request', async () => {
    await answers(engine.exec('import builtins\nbuiltins.len = Sticky()'), 'exec leaving a looping finalizer in builtins');
    // The loop runs while the core waits; this call's deadline interrupts it (its own answer
    // may be that time-out), and the engine answers again afterwards, no restart needed.
    const r = await answers(engine.exec('2 + 2'), 'exec while the finalizer loops');
    expect(r.success ? r.value : r.timedOut).toBe(r.success ? 4 : true);
    expect((await answers(engine.exec('3 + 3'), 'exec after the finalizer')).value).toBe(6);
    expect((await engine.exec('len([1, 2])')).value).toBe(2);
  }, 60_000);

  it('a __del__ stuck in C when the core puts host back between requests: the core is killed and the engine answers', async () => {
    const before = await engine.stats();
    await answers(
      engine.exec('import host, types\ntypes.ModuleType.__setattr__(host, "x", Stubborn())'),
      'exec leaving a stubborn finalizer on host',
    );
    const r = await settles(engine.exec('5 + 5'), 'exec while the finalizer is stuck');
    if (r.ok) expect(r.value.success ? r.value.value : r.value.timedOut).toBe(r.value.success ? 10 : true);
    expect((await answers(engine.exec('6 + 6'), 'exec after the kill')).value).toBe(12);
    expect((await engine.stats()).restarts).toBe(before.restarts + 1);
  }, 60_000);

  it('registerHostFunction while a hook is stuck in C: the core is replaced and the new function works', async () => {
    expect(await engine.call('hook', ['set_host_names', true])).toBe('armed');
    engine.registerHostFunction('ping', () => 'pong');
    // Queued behind the stuck registration: answers once the ladder has killed it.
    expect(await answers(engine.call('ask_host'), 'call after registerHostFunction')).toBe('pong');
    const s = await engine.stats();
    expect(s.lastCrash?.during).toBe("registerHostFunction('ping')");
  }, 60_000);
});

describe('a handle the host garbage-collects (python, worker placement)', () => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('python', { limits: LIMITS });
    await engine.load(ATTACKS, 'attacks');
  }, 120_000);
  afterAll(async () => {
    if (engine) await answers(engine.dispose(), 'dispose');
  });

  it('is released under the ladder: a __del__ that is stuck in C is killed, and the engine answers', async () => {
    const before = await engine.stats();
    await (async () => {
      // Dropped at once: only the FinalizationRegistry can release it.
      await engine.create('Stubborn');
    })();
    const released = (async () => {
      for (;;) {
        collectGarbage();
        await new Promise((r) => setTimeout(r, 50));
        // Queued behind any release the registry sent: answers once the ladder has run.
        const s = await engine.stats();
        if (s.restarts > before.restarts) return s;
      }
    })();
    const s = await answers(released, "the collected handle's release");
    expect(s.lastCrash).toMatchObject({ kind: 'killed', during: 'RemoteObject.dispose' });
    expect((await answers(engine.exec('2 + 2'), 'exec after')).value).toBe(4);
  }, 120_000);
});

/** A script that loads fine the first time and gets stuck in C when replayed. */
const FLAKY = `
import host
if host.kv.get('flaky-loaded', False):
    sum(range(10**15))
host.kv.set('flaky-loaded', True)
def ok():
    return 'ok'
`;

describe('replay of loaded scripts after a restart (python, worker placement)', () => {
  it('a script stuck only on replay ends in EngineCrashedError naming it, and the engine gives up after a bounded number of tries', async () => {
    const engine = await createEngine('python', { limits: LIMITS, capabilities: ['kv.read', 'kv.write'] });
    try {
      await engine.load(FLAKY, 'flaky');
      expect(await engine.call('ok')).toBe('ok');
      const stuck = await answers(engine.exec(STUBBORN_EXEC), 'the exec that forces a restart');
      expect(stuck.timedOut).toBe(true);
      const seen: unknown[] = [];
      // Each call either tries a fresh restart (and fails) or, once the engine gave up, fails at once.
      for (let i = 0; i < 4; i++) seen.push(await rejects(engine.call('ok'), `call ${i + 1} after the restart`));
      for (const e of seen) {
        expect(e).toBeInstanceOf(EngineCrashedError);
        expect((e as Error).message).toContain("load('flaky')");
      }
      expect((seen[3] as Error).message).toMatch(/gave up/);
      expect(engine.lastError).toBe(seen[3]);
      await rejects(engine.stats(), 'stats of an engine that gave up');
    } finally {
      await answers(engine.dispose(), 'dispose after giving up');
    }
  }, 180_000);
});

describe.each(['worker', 'process'] as const)('dispose() during a stuck replay (python, %s placement)', (placement) => {
  it('settles, and the call waiting for the replay rejects', async () => {
    const engine = await createEngine('python', {
      placement,
      limits: { timeoutMs: 60_000, graceMs: 300 },
      capabilities: ['kv.read', 'kv.write'],
    });
    let waiting: Promise<unknown> | undefined;
    try {
      await engine.load(FLAKY, 'flaky');
      const ac = new AbortController();
      const forced = engine.exec(STUBBORN_EXEC, { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('force a kill')), 200);
      // Aborting a stubborn exec kills the core; the replay on the new one is stuck for 60 s.
      await settles(forced, 'the aborted exec');
      waiting = engine.call('ok');
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await answers(engine.dispose(), 'dispose during the replay');
    }
    const err = await rejects(waiting!, 'the call queued behind the replay');
    expect(err).toBeInstanceOf(DisposedError);
  }, 120_000);
});

describe('a reuse pool after a tenant wedged its engine (python, process placement)', () => {
  it("answers the next tenant's call", async () => {
    const pool = await createPool('python', { placement: 'process', min: 1, max: 1, reset: 'reuse', limits: LIMITS });
    try {
      // Tenant 1 leaves a release behind whose __del__ is stuck in C.
      await pool.run(async (engine) => {
        await engine.load(ATTACKS, 'attacks');
        const obj = await engine.create('Stubborn');
        void obj.dispose();
      });
      const r = await answers(
        pool.run((engine) => engine.exec('6 * 7')),
        "tenant 2's exec",
      );
      expect(r.value).toBe(42);
      const second = await answers(
        pool.run((engine) => engine.stats()),
        "tenant 3's stats",
      );
      expect(second.lastCrash).toMatchObject({ kind: 'killed', during: 'RemoteObject.dispose' });
    } finally {
      await answers(pool.close(), 'pool.close');
    }
  }, 180_000);
});
