/**
 * Issue 17, class 7: every way an engine can die ends in EngineCrashedError (or
 * MemoryLimitError), never in a plain RuntimeError / TypeError or a script SyntaxError,
 * and stats().lastCrash says what happened. Attacks: a wasm abort from inside Python
 * (os.abort), junk written to the engine's device, and a worker that answers with
 * malformed frames (a far side that lies, driven through the real worker placement and
 * the real engine on the host).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/channel/endpoint.js';
import { EngineCrashedError, createEngine, type ScriptEngine } from '../../src/index.js';
import type { CoreInit } from '../../src/core.js';
import { coreLimits, resolveOptions } from '../../src/options.js';
import { connectWorker } from '../../src/placement/worker.js';
import { Engine } from '../../src/engine/engine.js';
import { decode, encode } from '../../src/values.js';
import { answers, rejects } from './settle.js';

describe.each(['worker', 'process'] as const)('a Python core that dies (%s placement)', (placement) => {
  let engine: ScriptEngine;
  beforeAll(async () => {
    engine = await createEngine('python', { placement, limits: { timeoutMs: 5000, graceMs: 300 } });
  }, 120_000);
  afterAll(async () => {
    if (engine) await answers(engine.dispose(), 'dispose');
  });

  it('a wasm abort (os.abort) is EngineCrashedError, recorded in stats(), and the engine answers after', async () => {
    const before = await engine.stats();
    const r = await answers(engine.exec('import os\nos.abort()'), 'exec that aborts');
    expect(r.success).toBe(false);
    expect(r.timedOut).toBe(false);
    expect(r.error?.type).toBe('EngineCrashedError');
    expect(engine.lastError).toBeInstanceOf(EngineCrashedError);
    expect((await answers(engine.exec('1 + 1'), 'exec after the crash')).value).toBe(2);
    const s = await engine.stats();
    expect(s.restarts).toBe(before.restarts + 1);
    expect(s.lastCrash?.kind).toMatch(/^(crashed|died)$/);
    expect(s.lastCrash?.during).toBe('exec');
  }, 60_000);

  it('junk written to the engine device fails the write (OSError), not the engine, and never passes for a SyntaxError', async () => {
    const before = await engine.stats();
    const junk = [
      String.raw`b'\xff{not json'`,
      `b'["call", 5, 7]'`,
      `b'["sleep"]'`,
      `b'{"t": "done"}'`,
      `b'["astart", "log", "not a list"]'`,
      // Well-formed marshal (the device's own format) that is no request, or holds a forged handle.
      `__import__('marshal').dumps(['call', 5, 7], 2)`,
      `__import__('marshal').dumps(['sleep'], 2)`,
      `__import__('marshal').dumps(['call', 'log', [('h', 1, 'Obj')]], 2)`,
      `__import__('marshal').dumps(['call', 'log', [()]], 2)`,
    ];
    for (const bytes of junk) {
      const r = await answers(
        engine.exec(
          `import os\ntry:\n    fd = os.open('/dev/scriptbox', os.O_RDWR)\nexcept OSError as e:\n    raise OSError('no device') from e\nos.write(fd, ${bytes})`,
        ),
        `exec writing ${bytes}`,
      );
      expect(r.success).toBe(false);
      expect(r.error?.type).not.toBe('SyntaxError');
      expect(r.error?.type).not.toBe('EngineCrashedError');
      expect(['OSError', 'PermissionError', 'FileNotFoundError']).toContain(r.error?.type);
    }
    expect((await answers(engine.exec('2 + 2'), 'exec after the junk')).value).toBe(4);
    expect((await engine.stats()).restarts).toBe(before.restarts);
  }, 60_000);
});

/** What the fake worker answers to an exec, by attack. */
const LIES: Record<string, (send: (m: unknown) => void) => void> = {
  'a value that is not bytes': (send) => send({ t: 'done', value: 1 }),
  'bytes that are not MessagePack': (send) => send(new Uint8Array([0xc1, 0xc1, 0xc1])),
  'a reply whose text is a number': (send) => send(encode({ t: 'output', stream: 'stdout', text: 42 })),
  'a failure without fields': (send) => send(encode({ t: 'failed', failure: { kind: 'script' }, out: {} })),
  'an unknown message type': (send) => send(encode({ t: 'includes', text: 1 })),
  'a stats answer to an exec': (send) => send(encode({ t: 'stats', memoryBytes: 1, handles: 0 })),
};

/**
 * A worker endpoint whose far side lies: it boots properly, answers stats() properly, and
 * answers exec with `lie` (only on its first core; a restarted core tells the truth).
 */
function lyingWorker(lie: (send: (m: unknown) => void) => void): { spawn: () => Endpoint; spawned: () => number } {
  let count = 0;
  return {
    spawned: () => count,
    spawn: () => {
      const n = ++count;
      let listener: ((m: unknown) => void) | undefined;
      const send = (m: unknown) => queueMicrotask(() => listener?.(m));
      return {
        post(message: unknown) {
          if (!(message instanceof Uint8Array)) return send(encode({ t: 'ready' }));
          const msg = decode(message) as { t: string };
          if (msg.t === 'stats') return send(encode({ t: 'stats', memoryBytes: 1024, handles: 0 }));
          if (n === 1) return lie(send);
          send(encode({ t: 'done', value: 'truth', defined: true, out: { stdout: '', stderr: '', truncated: false } }));
        },
        onMessage(cb) {
          listener = cb;
        },
        onExit() {},
        async terminate() {
          listener = undefined;
        },
      };
    },
  };
}

describe('a worker that sends malformed frames', () => {
  it.each(Object.keys(LIES))('%s: EngineCrashedError, the worker is replaced, stats() says malformed', async (name) => {
    const fake = lyingWorker(LIES[name]!);
    const engine = new Engine(resolveOptions('python', {}), (init) => connectWorker(init, fake.spawn, { sharedMemory: false }));
    await engine.start();
    try {
      const r = await answers(engine.exec('1'), 'exec answered with a lie');
      expect(r.success).toBe(false);
      expect(r.error?.type).toBe('EngineCrashedError');
      expect(r.error?.message).not.toMatch(/is not a function|Cannot read properties/);
      expect(engine.lastError).toBeInstanceOf(EngineCrashedError);
      const s = await answers(engine.stats(), 'stats after the lie');
      expect(s.lastCrash?.kind).toBe('malformed');
      expect(s.restarts).toBe(1);
      expect(fake.spawned()).toBe(2);
      expect((await answers(engine.exec('1'), 'exec on the new worker')).value).toBe('truth');
    } finally {
      await answers(engine.dispose(), 'dispose');
    }
  });

  it('a malformed boot message is EngineCrashedError, not a TypeError', async () => {
    for (const first of [{ t: 'ready' }, 'not bytes', new Uint8Array([0xc1])]) {
      const spawn = (): Endpoint => {
        let listener: ((m: unknown) => void) | undefined;
        return {
          post: () => queueMicrotask(() => listener?.(first)),
          onMessage: (cb) => void (listener = cb),
          onExit() {},
          terminate: async () => {},
        };
      };
      const init: CoreInit = {
        language: 'python',
        engineId: 'fake-1',
        limits: coreLimits(resolveOptions('python', {}).limits),
        hostFunctions: [],
        config: {},
      };
      const err = await rejects(connectWorker(init, spawn, { sharedMemory: false }), 'a boot with junk');
      expect(err).toBeInstanceOf(EngineCrashedError);
    }
  });
});
