/**
 * Built-in host functions (DESIGN §3) on real engines: off until granted, shared state
 * across languages, config, channels that block the script and not the host, quotas.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine, InvalidInputError, MemoryStore, type ScriptEngine } from '../../src/index.js';
import type { LogEntry } from '../../src/capabilities/builtins.js';

describe('built-in host functions, Lua and Python sharing one store', () => {
  const store = new MemoryStore();
  const logs: LogEntry[] = [];
  const events: { name: string; allowed: boolean }[] = [];
  let lua: ScriptEngine;
  let py: ScriptEngine;

  beforeAll(async () => {
    [lua, py] = await Promise.all([
      createEngine('lua', {
        state: store,
        capabilities: ['log', 'kv.*', 'config.read', 'channel.send'],
        config: { db: { host: 'localhost', port: 5432 } },
        onLog: (e) => logs.push(e),
        onHostCall: (e) => events.push({ name: e.name, allowed: e.allowed }),
      }),
      createEngine('python', {
        state: store,
        capabilities: ['kv.read', 'channel.receive', 'config.read'],
        limits: { timeoutMs: 5000 },
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([lua?.dispose(), py?.dispose()]);
    await store.dispose();
  });

  it('log goes to onLog with the engine id and level', async () => {
    await lua.exec('host.log("hello"); host.log("careful", "warn")');
    expect(logs).toEqual([
      { engineId: lua.id, level: 'info', message: 'hello' },
      { engineId: lua.id, level: 'warn', message: 'careful' },
    ]);
    const bad = await lua.exec('host.log("x", "loud")');
    expect(bad.error?.message).toMatch(/level must be one of debug, info, warn, error/);
  });

  it('kv written by Lua is read by Python; defaults, keys and delete work', async () => {
    await lua.exec('host.kv.set("user:1", { name = "ann", tags = { "a", "b" } }); host.kv.set("user:2", 7)');
    expect((await py.exec('import host\nhost.kv.get("user:1")')).value).toEqual({ name: 'ann', tags: ['a', 'b'] });
    expect((await py.exec('host.kv.get("missing", "dflt")')).value).toBe('dflt');
    expect((await py.exec('host.kv.keys("user:")')).value).toEqual(['user:1', 'user:2']);
    expect((await lua.exec('return host.kv.delete("user:2")')).value).toBe(true);
    expect(await store.get('user:2')).toBeUndefined();
  });

  it('a call without its capability is PermissionError naming function and capability, and audited', async () => {
    const r = await py.exec('host.kv.set("k", 1)');
    expect(r.error?.type).toBe('PermissionError');
    expect(r.error?.message).toContain("host.kv.set needs capability 'kv.write'");
    const l = await lua.exec('return host.channel.receive("jobs", 0)');
    expect(l.error?.message).toMatch(/^PermissionError: host.channel.receive needs capability 'channel.receive'/);
    expect(events).toContainEqual({ name: 'channel.receive', allowed: false });
    expect(await store.get('k')).toBeUndefined();
  });

  it('config.get reads dotted keys, and configure() replaces the config', async () => {
    expect((await lua.exec('return host.config.get("db.port")')).value).toBe(5432);
    expect((await lua.exec('return host.config.get("db.nope", "x")')).value).toBe('x');
    await py.configure({ feature: { on: true } });
    expect((await py.exec('host.config.get("feature.on")')).value).toBe(true);
  });

  it('a channel message sent by Lua is received by Python; receive blocks the script, not the host', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const waiting = py.exec('host.channel.receive("jobs", 2)');
    await new Promise((r) => setTimeout(r, 200));
    expect(ticks).toBeGreaterThan(5); // the host's event loop kept running
    await lua.exec('host.channel.send("jobs", { id = 1, kind = "resize" })');
    clearInterval(timer);
    expect((await waiting).value).toEqual({ id: 1, kind: 'resize' });
    expect((await py.exec('host.channel.receive("jobs", 0.05)')).value).toBe(null);
  });
});

describe('quotas, bad grants, clashes, hanging host functions', () => {
  it('limits.hostCalls: PermissionError once a capability quota is used up', async () => {
    await using e = await createEngine('lua', { capabilities: ['kv.*'], limits: { hostCalls: { 'kv.*': 2 } } });
    await e.exec('host.kv.set("a", 1)');
    await e.exec('host.kv.get("a")');
    const r = await e.exec('return host.kv.get("a")');
    expect(r.error?.message).toMatch(
      /PermissionError: host.kv.get is over its quota: limits.hostCalls\['kv.\*'\] allows 2 calls per engine/,
    );
  });

  it('warns about granted names that match nothing, listing the known ones', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await using e = await createEngine('lua', { capabilities: ['kv.raed', 'log'] });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(
        new RegExp(`${e.id} was granted 'kv.raed', which matches no capability it offers; known: .*kv.read`),
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses a user host function named like a built-in, and bad quota options', async () => {
    await expect(createEngine('lua', { hostFunctions: { log: () => 1 } })).rejects.toThrow(/'log' is a built-in host function/);
    await expect(createEngine('lua', { hostFunctions: { kv: () => 1 } })).rejects.toThrow(/clashes with the built-in 'kv.get'/);
    await expect(createEngine('lua', { limits: { hostCalls: { 'net.fetch': -1 } } })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(createEngine('lua', { state: {} as never })).rejects.toThrow(/state must be a StateStore .* lacks get, set/);
  });

  it('a host function that never answers still lets the script time out', async () => {
    await using e = await createEngine('python', {
      capabilities: ['hang'],
      hostFunctions: { hang: () => new Promise(() => {}) },
      limits: { timeoutMs: 300 },
    });
    const r = await e.exec('import host\nhost.hang()');
    expect(r.success).toBe(false);
    expect(r.timedOut || r.error?.type === 'TimeoutError').toBe(true);
    expect((await e.exec('1 + 1')).value).toBe(2);
  }, 60_000);
});

describe('bad input through the built-ins', () => {
  it('a kv value over the store limit, a closed store, and a host result with no value form are script errors', async () => {
    const store = new MemoryStore({ maxValueBytes: 1024 });
    await using e = await createEngine('python', {
      state: store,
      capabilities: ['kv.*', 'channel.*', 'weird'],
      hostFunctions: { weird: () => ({ when: new Date(0) }) },
    });
    const big = await e.exec('import host\nhost.kv.set("big", "x" * 5000)');
    expect(big.error?.message).toMatch(/over the store's maxValueBytes \(1024\)/);
    expect(await store.get('big')).toBeUndefined();
    const weird = await e.exec('host.weird()');
    expect(weird.error?.message).toMatch(/result of host.weird.*when/);
    await store.dispose();
    const closed = await e.exec('host.channel.receive("jobs", 0.1)');
    expect(closed.error?.message).toMatch(/DisposedError|closed/);
    expect((await e.exec('1 + 1')).value).toBe(2);
  }, 60_000);
});
