/**
 * Issue 17, class 2 for Lua: what the script can reach of `host` and of the prelude's own
 * helpers does not change what the next request's `host.name(...)` does. Each test tries
 * the attack on a real engine (wasmoon in a worker, LuaJIT in a child process where the
 * library is present) and checks that the REAL host function ran: the host records every
 * call it answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { nativeAvailable } from '../../src/node/native-libs.js';

const TARGETS = [
  { name: 'wasm, worker placement', backend: 'wasm', placement: 'worker', native: false },
  { name: 'native LuaJIT, process placement', backend: 'native', placement: 'process', native: true },
] as const;
const targets = TARGETS.filter((t) => !t.native || nativeAvailable('lua'));

describe.each(targets)('Lua runtime internals, $name', (target) => {
  let engine: ScriptEngine;
  const answered: unknown[] = [];

  beforeAll(async () => {
    engine = await createEngine('lua', {
      backend: target.backend,
      placement: target.placement,
      capabilities: ['probe', 'ns.*'],
      hostFunctions: {
        probe: (n) => {
          answered.push(n);
          return ['real', n];
        },
      },
      limits: { timeoutMs: 10_000 },
    });
  }, 120_000);

  afterAll(async () => {
    await engine?.dispose();
  });

  async function reachesHost(): Promise<void> {
    const n = answered.length;
    const r = await engine.exec(`return host.probe(${n})`);
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual(['real', n]);
    expect(answered.at(-1)).toBe(n);
  }

  it('host and its namespaces refuse assignment and hide their metatable', async () => {
    const set = await engine.exec('host.other = 1');
    expect(set.error?.message).toMatch(/host is read-only/);
    const mt = await engine.exec('return getmetatable(host) == false');
    expect(mt.value).toBe(true);
    const setmt = await engine.exec('return pcall(setmetatable, host, {})');
    expect(setmt.value).not.toBe(true);
    await reachesHost();
  });

  it('helpers the prelude uses (string.find, string.sub, tostring, error, type, next) replaced: a new host function still works', async () => {
    await engine.exec(
      'string.find = function() return nil end\nstring.sub = function() return "evil" end\ntostring = function() return "evil" end\nerror = function() end\ntype = function() return "evil" end\nnext = function() return nil end',
    );
    const seen: unknown[] = [];
    engine.registerHostFunction('ns.late', (v) => {
      seen.push(v);
      return 'late real';
    });
    const r = await engine.exec('return host.ns.late(7)');
    expect(r.error).toBeUndefined();
    expect(r.value).toBe('late real');
    expect(seen).toEqual([7]);
    const ro = await engine.exec('host.ns.x = 1');
    expect(ro.error?.message).toMatch(/host\.ns is read-only \(cannot set 'x'\)/);
    await reachesHost();
  });

  // Last: in wasm it leaves the engine's host changed until core.ts rebuilds it per request.
  // wasmoon (Lua 5.4) has no userdata a script-side prelude can make, so `rawset` on the
  // host table works there; the fix is a new table per request (prelude `build()`), which
  // the shared Lua core's begin() calls (src/lang/lua/core.ts). LuaJIT's host is a userdata.
  it('rawset on host, or on a table pairs(host) shows, does not reach the next request', async () => {
    await engine.exec('pcall(rawset, host, "probe", function() return "evil" end)');
    await engine.exec(
      'local ok, f, s = pcall(pairs, host)\nif ok and type(s) == "table" then rawset(s, "probe", function() return "evil" end) end',
    );
    await reachesHost();
  });
});
