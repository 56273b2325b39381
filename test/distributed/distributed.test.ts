/**
 * The distributed pool against a real redis-server and three `scriptbox worker` processes
 * (standing in for machines), through real BullMQ: mixed jobs answered exactly once, a
 * SIGKILLed worker's job finished elsewhere, cancellation reaching a remote worker, a job
 * asking for more than its worker grants refused, sessions pinned to a worker, the escape
 * corpus through a worker, and a Redis restart mid-run. The built CLI runs the workers
 * (`npm test` builds first).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  EngineCrashedError,
  InvalidInputError,
  PermissionDeniedError,
  ScriptError,
  UnavailableError,
} from '../../src/errors.js';
import { createDistributedPool, type DistributedPool } from '../../src/index.js';
import { loadCorpus } from '../security/breach.js';
import { startRedis, type RedisServer } from '../../src/node/redis-server.js';
import { startWorkerProcess, type WorkerProcess } from '../../src/node/worker-process.js';

const CANARY_ENV = 'CANARY_ENV_7f3a9c';
const CANARY_FILE = '/tmp/sandbox_canary_secret.txt';
const CANARY_CONTENT = 'CANARY_FILE_51d2e8';
const BREACH_DIR = '/tmp/sandbox_breach';

let redis: RedisServer;
let dir: string;
let workers: WorkerProcess[] = [];
let lua: DistributedPool;
let python: DistributedPool;

const LIB_LUA = `function add(a, b) return a + b end
function whoami() return 'lua' end`;
const LIB_PY = `def add(a, b):
    return a + b
`;

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(join(tmpdir(), 'sb-dist-'));
  writeFileSync(join(dir, 'lib.lua'), LIB_LUA);
  writeFileSync(join(dir, 'lib.py'), LIB_PY);
  writeFileSync(
    join(dir, 'worker.json'),
    JSON.stringify({
      engine: { capabilities: ['kv.*', 'log'], limits: { timeoutMs: 20_000, memoryBytes: 128 * 1024 * 1024 } },
      scripts: { lua: 'lib.lua', python: 'lib.py' },
      // Quick failover for the tests: a dead worker's job is taken again within ~2 s.
      lockMs: 2000,
      stalledCheckMs: 500,
      heartbeatMs: 300,
    }),
  );
  const args = ['--redis', redis.url, '--lang', 'lua,python', '--config', join(dir, 'worker.json')];
  // One at a time: three Python boots at once would share two cores.
  for (const id of ['w1', 'w2', 'w3']) workers.push(await startWorkerProcess(args, id, { SANDBOX_CANARY_ENV: CANARY_ENV }));
  // A burst of 500 jobs on three engines queues for a while: the slack covers the queueing.
  lua = await createDistributedPool('lua', { redis: redis.url, answerSlackMs: 120_000 });
  python = await createDistributedPool('python', { redis: redis.url, answerSlackMs: 120_000 });
}, 240_000);

afterAll(async () => {
  await lua?.dispose();
  await python?.dispose();
  for (const w of workers) await w.stop();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('distributed pool on BullMQ + Redis, three worker processes', () => {
  it('runs Lua and Python, and calls the functions the workers loaded', async () => {
    const r = await lua.exec('return 6 * 7');
    expect(r.success).toBe(true);
    expect(r.value).toBe(42);
    expect(['w1', 'w2', 'w3']).toContain(r.worker);
    const p = await python.exec('print("hi")\nsum(range(10))');
    expect(p).toMatchObject({ success: true, value: 45, stdout: 'hi\n' });
    expect(await lua.call('add', [2, 3])).toBe(5);
    expect(await python.call('add', [2, 3])).toBe(5);
    await expect(python.call('nope', [])).rejects.toBeInstanceOf(InvalidInputError);
    await expect(python.call('add', [1, 'x'])).rejects.toBeInstanceOf(ScriptError);
    // Rich outputs come back too, binary ones as bytes.
    const shown = await python.exec(
      "import host\nhost.display(b'\\x89PNG-not-really', 'image/png')\nhost.display('<b>hi</b>', 'text/html')",
    );
    expect(shown.outputs).toEqual([
      { mime: 'image/png', data: new Uint8Array([0x89, ...Buffer.from('PNG-not-really')]) },
      { mime: 'text/html', data: '<b>hi</b>' },
    ]);
    // Values cross as MessagePack: bytes and big integers survive the JSON queue.
    expect(await python.call('add', [new Uint8Array([1, 2]), new Uint8Array([3])])).toEqual(new Uint8Array([1, 2, 3]));
  }, 60_000);

  it('500 mixed jobs (ok, script errors, timeouts, memory limits) are each answered exactly once', async () => {
    const kinds = ['ok', 'error', 'timeout', 'memory'] as const;
    const kindOf = (i: number) => (i % 25 === 0 ? 'timeout' : i % 50 === 1 ? 'memory' : i % 3 === 0 ? 'error' : 'ok');
    const code = (i: number) => {
      switch (kindOf(i)) {
        case 'ok':
          return `return ${i}`;
        case 'error':
          return `error('job ${i} failed')`;
        case 'timeout':
          return 'while true do end';
        default:
          return "local t = {} for i = 1, 1e6 do t[i] = string.rep('x', 1048576) .. i end";
      }
    };
    const counts = new Map<number, number>();
    const outcomes = await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        const kind = kindOf(i);
        try {
          const r = await lua.exec(code(i), kind === 'timeout' ? { timeoutMs: 200 } : {});
          counts.set(i, (counts.get(i) ?? 0) + 1);
          if (r.success) return r.value === i ? 'ok' : `wrong value ${String(r.value)}`;
          if (r.timedOut) return 'timeout';
          if (/memory/i.test(`${r.error?.type} ${r.error?.message}`)) return 'memory';
          return r.error?.message.includes(`job ${i} failed`) ? 'error' : `other: ${r.error?.type} ${r.error?.message}`;
        } catch (e) {
          counts.set(i, (counts.get(i) ?? 0) + 1);
          return /memory/i.test((e as Error).message) ? 'memory' : `threw ${(e as Error).name}: ${(e as Error).message}`;
        }
      }),
    );
    for (let i = 0; i < 500; i++) expect(outcomes[i], `job ${i}`).toBe(kindOf(i));
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(counts.size).toBe(500);
    for (const k of kinds) expect(outcomes.filter((o) => o === k).length).toBeGreaterThan(0);
    // The queue agrees: every job completed once, none failed or retried.
    const queue = new Queue('lua', { connection: { host: '127.0.0.1', port: redis.port }, prefix: 'scriptbox' });
    try {
      const c = await queue.getJobCounts('completed', 'failed', 'active', 'wait');
      expect(c.failed).toBe(0);
      expect((c.active ?? 0) + (c.wait ?? 0)).toBe(0);
    } finally {
      await queue.close();
    }
  }, 240_000);

  it('a job asking for a capability its worker does not grant is refused; a subset narrows what the script may do', async () => {
    await expect(lua.exec('return 1', { capabilities: ['net.fetch'] })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(lua.exec('return 1', { capabilities: ['*'] })).rejects.toThrow(/asks for '\*', which worker w\d does not grant/);
    await lua.exec("host.kv.set('shared', 7)");
    const narrowed = await lua.exec("local v = host.kv.get('shared'); host.kv.set('shared', 8); return v", { capabilities: ['kv.read'] });
    expect(narrowed.success).toBe(false);
    expect(narrowed.error?.message).toMatch(/host\.kv\.set was denied/);
    // kv lives in Redis: every worker sees the same value.
    for (let i = 0; i < 6; i++) expect((await lua.exec("return host.kv.get('shared')")).value).toBe(7);
    await expect(lua.exec('return 1', { capabilities: ['not a pattern'] })).rejects.toBeInstanceOf(InvalidInputError);
  }, 60_000);

  it('streams output to callers that ask for it', async () => {
    const chunks: string[] = [];
    const r = await python.exec('for i in range(3):\n    print("line", i, flush=True)', { onOutput: (c) => chunks.push(c.text) });
    expect(r.success).toBe(true);
    expect(chunks.join('')).toBe('line 0\nline 1\nline 2\n');
  }, 60_000);

  it('a session keeps its globals on one worker; cancellation reaches it and the engine answers afterwards', async () => {
    await using s = await python.session();
    expect(['w1', 'w2', 'w3']).toContain(s.worker);
    await s.exec('counter = 41');
    expect((await s.exec('counter += 1\ncounter')).value).toBe(42);
    const ac = new AbortController();
    const t = Date.now();
    const running = s.exec('while True:\n    pass', { signal: ac.signal, timeoutMs: 60_000 });
    setTimeout(() => ac.abort(), 500);
    await expect(running).rejects.toBeInstanceOf(AbortError);
    // The remote engine was interrupted (not left to its 60 s limit) and kept its state.
    const after = await s.exec('counter');
    expect(after.value).toBe(42);
    expect(Date.now() - t).toBeLessThan(20_000);
    // A queued call that is cancelled before any worker takes it never runs.
    await expect(lua.exec('return 1', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  }, 60_000);

  it('the escape corpus through a worker is contained', async () => {
    const attacks = loadCorpus();
    writeFileSync(CANARY_FILE, CANARY_CONTENT);
    for (const attack of attacks) {
      rmSync(BREACH_DIR, { recursive: true, force: true });
      mkdirSync(BREACH_DIR, { recursive: true });
      const pool = attack.language === 'lua' ? lua : python;
      let output: string;
      try {
        const r = await pool.exec(attack.code, { timeoutMs: 5000 });
        output = `${r.stdout}\n${r.stderr}\n${JSON.stringify(r.value ?? null, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n${r.error?.message ?? ''}`;
        if (attack.expect === 'error') expect(r.success, attack.id).toBe(false);
      } catch (e) {
        output = String((e as Error).message);
      }
      expect(output, attack.id).not.toContain(CANARY_ENV);
      expect(output, attack.id).not.toContain(CANARY_CONTENT);
      expect(output, attack.id).not.toContain('root:x:0:0');
      expect(output, attack.id).not.toContain('SANDBOX_BREACH');
      expect(existsSync(BREACH_DIR) && readdirSync(BREACH_DIR).length, attack.id).toBe(0);
      expect(readFileSync(CANARY_FILE, 'utf8'), attack.id).toBe(CANARY_CONTENT);
      for (const w of workers) expect(w.child.exitCode, `${attack.id}: worker ${w.id} still runs`).toBeNull();
    }
    expect((await lua.exec('return 1')).value).toBe(1);
    expect((await python.exec('1')).value).toBe(1);
  }, 300_000);

  it("a SIGKILLed worker's job finishes on another worker, answered once; its sessions fail with EngineCrashedError", async () => {
    // A session on some worker, then a slow job; the worker running the job is killed.
    const s = await lua.session();
    const job = python.exec('import time\ntime.sleep(3)\n"done"');
    const queue = new Queue('python', { connection: { host: '127.0.0.1', port: redis.port }, prefix: 'scriptbox' });
    let victim: WorkerProcess | undefined;
    try {
      for (let i = 0; i < 100 && !victim; i++) {
        const [active] = await queue.getActive();
        const by = (active as { processedBy?: string } | undefined)?.processedBy;
        victim = workers.find((w) => w.id === by);
        if (!victim) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await queue.close();
    }
    expect(victim, 'the job became active on some worker').toBeDefined();
    await victim!.kill();
    const r = await job;
    expect(r).toMatchObject({ success: true, value: 'done' });
    expect(r.worker).not.toBe(victim!.id);
    workers = workers.filter((w) => w !== victim);
    if (s.worker === victim!.id) {
      await expect(s.exec('return 1')).rejects.toBeInstanceOf(EngineCrashedError);
    } else {
      expect((await s.exec('return 1')).value).toBe(1);
      await s.dispose();
    }
  }, 120_000);

  it('Redis restarted mid-run: waiting callers get answers or typed errors, workers reconnect, later jobs run', async () => {
    const inflight = Array.from({ length: 10 }, () =>
      lua.exec("local t = os.clock() while os.clock() - t < 0.5 do end return 'slow'").then(
        (r) => r.value,
        (e: unknown) => e,
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    await redis.restart();
    const settled = await Promise.all(inflight);
    for (const x of settled) {
      if (x === 'slow') continue;
      expect(x).toBeInstanceOf(UnavailableError);
    }
    // Workers and the pool reconnect on their own.
    let value: unknown;
    for (let i = 0; i < 60 && value !== 7; i++) {
      try {
        value = (await lua.exec('return 7')).value;
      } catch (e) {
        expect(e).toBeInstanceOf(UnavailableError);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(value).toBe(7);
  }, 180_000);
});
