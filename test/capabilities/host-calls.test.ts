/**
 * The host side of every host call (src/capabilities/host-calls.ts), without an engine:
 * lookup, the grant check, quotas (counting and refusal), the authorize hook, the audit
 * events onHostCall hears, and the result check. Every refusal reaches the script as a
 * HostCallError carrying plain data.
 */
import { describe, expect, it } from 'vitest';
import { HostCalls, type HostCallSettings } from '../../src/capabilities/host-calls.js';
import { HostFunctionRegistry, type HostCallEvent, type HostCallInfo } from '../../src/capabilities/registry.js';
import { HostCallError } from '../../src/core.js';
import { PermissionDeniedError } from '../../src/errors.js';
import { RequestStop } from '../../src/engine/request-stop.js';

interface Setup {
  capabilities?: string[];
  quotas?: [string, number][];
  authorize?: (call: HostCallInfo) => boolean | Promise<boolean>;
  onHostCall?: (event: HostCallEvent) => void;
}

/** HostCalls over a registry of a few functions, recording audit events and counted calls. */
function serve(s: Setup = {}) {
  const registry = new HostFunctionRegistry();
  const ran: string[] = [];
  registry.add('users.get', (id: number) => (ran.push('users.get'), { id }), 'users.read');
  registry.add('users.delete', () => (ran.push('users.delete'), true), 'users.admin');
  registry.add('net.get', async () => (ran.push('net.get'), 'body'), 'net.fetch');
  registry.add('boom', () => {
    throw new PermissionDeniedError('no entry');
  });
  registry.add('fn', () => () => 1);
  const events: HostCallEvent[] = [];
  let counted = 0;
  const settings: HostCallSettings = {
    engineId: 'e1',
    registry,
    capabilities: s.capabilities ?? ['*'],
    quotas: s.quotas ?? [],
    maxValueDepth: 8,
    options: {
      ...(s.authorize ? { authorize: s.authorize } : {}),
      onHostCall: s.onHostCall ?? ((e) => events.push(e)),
    },
    counted: () => counted++,
  };
  const handlers = new HostCalls(settings).handlers();
  return { handlers, events, ran, counted: () => counted };
}

/** The failure a host call reached the script with (a refusal may throw before there is a promise). */
async function failure(call: () => unknown): Promise<{ type: string; message: string }> {
  try {
    await call();
  } catch (e) {
    expect(e).toBeInstanceOf(HostCallError);
    return (e as HostCallError).failure;
  }
  throw new Error('expected the host call to fail');
}

const brief = (events: HostCallEvent[]) =>
  events.map(({ name, capability, allowed, error }) => ({ name, capability, allowed, ...(error ? { error } : {}) }));

describe('grants', () => {
  it('a granted call runs and is audited as allowed, with the engine id and a duration', async () => {
    const { handlers, events, ran, counted } = serve({ capabilities: ['users.read'] });
    expect(await handlers.hostCall('users.get', [7])).toEqual({ id: 7 });
    expect(ran).toEqual(['users.get']);
    expect(counted()).toBe(1);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ engineId: 'e1', name: 'users.get', capability: 'users.read', allowed: true });
    expect(events[0]!.ms).toBeGreaterThanOrEqual(0);
    expect(events[0]).not.toHaveProperty('error');
  });

  it('a call without its capability is a PermissionError naming function and capability; the function never runs', async () => {
    const { handlers, events, ran, counted } = serve({ capabilities: ['users.read'] });
    expect(await failure(() => handlers.hostCall('users.delete', []))).toEqual({
      type: 'PermissionError',
      message: "host.users.delete needs capability 'users.admin', which this engine was not granted",
    });
    expect(ran).toEqual([]);
    expect(counted()).toBe(1); // refused calls count too
    expect(brief(events)).toEqual([{ name: 'users.delete', capability: 'users.admin', allowed: false }]);
  });

  it('a family grant covers its members only', async () => {
    const { handlers, ran } = serve({ capabilities: ['users.*'] });
    await handlers.hostCall('users.get', [1]);
    await handlers.hostCall('users.delete', []);
    expect((await failure(() => handlers.hostCall('net.get', []))).type).toBe('PermissionError');
    expect(ran).toEqual(['users.get', 'users.delete']);
  });

  it('an unknown function is a NameError and is not audited (there is no capability to name)', async () => {
    const { handlers, events, counted } = serve();
    expect(await failure(() => handlers.hostCall('nope', []))).toEqual({
      type: 'NameError',
      message: 'host.nope is not a registered host function',
    });
    expect(events).toEqual([]);
    expect(counted()).toBe(1);
  });
});

describe('quotas', () => {
  it('counts calls per pattern and refuses once the quota is used up, auditing the refusal', async () => {
    const { handlers, events, ran } = serve({ quotas: [['users.*', 2]] });
    await handlers.hostCall('users.get', [1]);
    await handlers.hostCall('users.delete', []);
    expect(await failure(() => handlers.hostCall('users.get', [2]))).toEqual({
      type: 'PermissionError',
      message: "host.users.get is over its quota: limits.hostCalls['users.*'] allows 2 calls per engine",
    });
    expect(ran).toEqual(['users.get', 'users.delete']);
    expect(brief(events).at(-1)).toEqual({ name: 'users.get', capability: 'users.read', allowed: false, error: 'quota used up' });
    // Calls outside the pattern are not counted against it.
    expect(await handlers.hostCall('net.get', [])).toBe('body');
  });

  it('says "1 call" for a quota of one, and a quota of 0 refuses the first call', async () => {
    const one = serve({ quotas: [['net.fetch', 1]] });
    await one.handlers.hostCall('net.get', []);
    expect((await failure(() => one.handlers.hostCall('net.get', []))).message).toBe(
      "host.net.get is over its quota: limits.hostCalls['net.fetch'] allows 1 call per engine",
    );
    const none = serve({ quotas: [['*', 0]] });
    expect((await failure(() => none.handlers.hostCall('users.get', [1]))).message).toBe(
      "host.users.get is over its quota: limits.hostCalls['*'] allows 0 calls per engine",
    );
    expect(none.ran).toEqual([]);
  });

  it('every matching quota counts the call; the first used up refuses it', async () => {
    const { handlers } = serve({
      quotas: [
        ['*', 3],
        ['users.read', 1],
      ],
    });
    await handlers.hostCall('users.get', [1]); // * 1, users.read 1
    expect((await failure(() => handlers.hostCall('users.get', [2]))).message).toMatch(/limits\.hostCalls\['users\.read'\] allows 1 call /);
    await handlers.hostCall('net.get', []); // * 3 (the refused call above counted against *)
    expect((await failure(() => handlers.hostCall('net.get', []))).message).toMatch(/limits\.hostCalls\['\*'\] allows 3 calls/);
  });

  it('a call refused for its capability uses no quota', async () => {
    const { handlers } = serve({ capabilities: ['users.read'], quotas: [['*', 1]] });
    await failure(() => handlers.hostCall('net.get', []));
    expect(await handlers.hostCall('users.get', [1])).toEqual({ id: 1 });
  });

  it('quotas are per HostCalls (per engine), and the same across request handlers', async () => {
    const registry = new HostFunctionRegistry();
    registry.add('f', () => 1);
    const make = () =>
      new HostCalls({ engineId: 'e', registry, capabilities: ['*'], quotas: [['f', 1]], maxValueDepth: 8, options: {}, counted: () => {} });
    const engine = make();
    await engine.handlers().hostCall('f', []);
    expect((await failure(() => engine.handlers().hostCall('f', []))).type).toBe('PermissionError');
    expect(await make().handlers().hostCall('f', [])).toBe(1);
  });
});

describe('the authorize hook', () => {
  it('sees the call, and may refuse it (audited as denied) or allow it', async () => {
    const seen: HostCallInfo[] = [];
    const { handlers, events, ran } = serve({ authorize: (c) => (seen.push(c), c.args[0] !== 13) });
    expect(await handlers.hostCall('users.get', [12])).toEqual({ id: 12 });
    expect(await failure(() => handlers.hostCall('users.get', [13]))).toEqual({
      type: 'PermissionError',
      message: 'host.users.get was denied by the authorize hook',
    });
    expect(seen).toEqual([
      { engineId: 'e1', name: 'users.get', capability: 'users.read', args: [12] },
      { engineId: 'e1', name: 'users.get', capability: 'users.read', args: [13] },
    ]);
    expect(ran).toEqual(['users.get']);
    expect(brief(events).map((e) => e.allowed)).toEqual([true, false]);
  });

  it('may answer asynchronously', async () => {
    const { handlers, ran } = serve({ authorize: async (c) => c.name !== 'users.delete' });
    expect(await handlers.hostCall('users.get', [1])).toEqual({ id: 1 });
    expect((await failure(() => handlers.hostCall('users.delete', []))).message).toBe('host.users.delete was denied by the authorize hook');
    expect(ran).toEqual(['users.get']);
  });

  it('is not asked about a call the grants already refused', async () => {
    let asked = 0;
    const { handlers } = serve({ capabilities: [], authorize: () => (asked++, true) });
    await failure(() => handlers.hostCall('users.get', [1]));
    expect(asked).toBe(0);
  });

  it('a hook that throws fails the call as a plain error, audited', async () => {
    const { handlers, events } = serve({
      authorize: () => {
        throw new TypeError('hook bug');
      },
    });
    expect(await failure(() => handlers.hostCall('users.get', [1]))).toEqual({ type: 'TypeError', message: 'hook bug' });
    expect(brief(events)).toEqual([{ name: 'users.get', capability: 'users.read', allowed: true, error: 'hook bug' }]);
  });
});

describe('failures and results', () => {
  it("a host function's ScriptBoxError reaches the script by its script-side type, and is audited with its message", async () => {
    const { handlers, events } = serve();
    expect(await failure(() => handlers.hostCall('boom', []))).toEqual({ type: 'PermissionError', message: 'no entry' });
    expect(brief(events)).toEqual([{ name: 'boom', capability: 'boom', allowed: true, error: 'no entry' }]);
  });

  it('a result with no value form is an InvalidInputError for the script', async () => {
    const { handlers } = serve();
    const f = await failure(() => handlers.hostCall('fn', []));
    expect(f.type).toBe('InvalidInputError');
    expect(f.message).toMatch(/result of host\.fn/);
  });

  it('an audit hook that throws does not change the result', async () => {
    const { handlers } = serve({
      onHostCall: () => {
        throw new Error('audit bug');
      },
    });
    expect(await handlers.hostCall('users.get', [5])).toEqual({ id: 5 });
    expect((await failure(() => handlers.hostCall('nope', []))).type).toBe('NameError');
  });

  it('hostCallSync: runs synchronous functions, and refuses one that returns a promise', async () => {
    const { handlers, events } = serve();
    expect(handlers.hostCallSync('users.get', [3])).toEqual({ id: 3 });
    expect(await failure(() => handlers.hostCallSync('net.get', []))).toEqual({
      type: 'UnavailableError',
      message:
        "host.net.get returned a Promise, and the inline placement cannot wait for one; make it synchronous or use placement 'worker'",
    });
    expect(brief(events).map((e) => e.name)).toEqual(['users.get', 'net.get']);
  });

  it('a stop rejection releases a call waiting on a slow host function', async () => {
    const registry = new HostFunctionRegistry();
    registry.add('slow', () => new Promise(() => {}));
    const calls = new HostCalls({
      engineId: 'e',
      registry,
      capabilities: ['*'],
      quotas: [],
      maxValueDepth: 8,
      options: {},
      counted: () => {},
    });
    const stop = new RequestStop();
    const pending = calls.handlers(stop).hostCall('slow', []);
    stop.stop(new Error('timed out'));
    await expect(pending).rejects.toThrow('timed out');
  });
});
