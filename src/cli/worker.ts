/**
 * `scriptbox worker`: a distributed-pool worker (src/distributed/worker.ts) until SIGINT or
 * SIGTERM, which stop it gracefully (running jobs finish).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Language } from '../engine/types.js';
import { ScriptBoxError } from '../errors.js';
import type { WorkerOptions } from '../distributed/worker.js';

export const WORKER_USAGE = `usage: scriptbox worker --redis URL [--lang python,lua] [--concurrency N] [--config FILE] [--prefix P] [--id ID]

  --redis URL        Redis of the deployment, e.g. redis://127.0.0.1:6379 (or "redis" in the config)
  --lang LANGS       languages to serve, comma-separated (default python,lua)
  --concurrency N    engines per language (default 1)
  --config FILE      JSON: engine (placement, capabilities, limits, allowedHosts, mounts),
                     scripts ({ "python": "rules.py" }: files loaded into every engine),
                     state, maxSessions, sessionIdleMs, lockMs, stalledCheckMs, heartbeatMs
  --prefix P         key prefix shared with the callers (default scriptbox)
  --id ID            this worker's id (default: host name and a random suffix)

Jobs may narrow the configured capabilities, never widen them. See docs/distributed.md.`;

function usageError(message: string): number {
  process.stderr.write(`scriptbox worker: ${message}\n\n${WORKER_USAGE}\n`);
  return 2;
}

/** Reads the config file: the worker options, with `scripts` as file paths relative to it. */
async function readConfig(file: string): Promise<Partial<WorkerOptions>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the config ${file}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`the config ${file} must hold a JSON object`);
  const config = parsed as Record<string, unknown>;
  if (config.scripts !== undefined) {
    if (typeof config.scripts !== 'object' || config.scripts === null)
      throw new Error(`${file}: scripts must be { "python": "file.py", "lua": "file.lua" }`);
    const code: Partial<Record<Language, string>> = {};
    for (const [lang, path] of Object.entries(config.scripts)) {
      if (typeof path !== 'string') throw new Error(`${file}: scripts.${lang} must be a file path`);
      code[lang as Language] = await readFile(resolve(dirname(file), path), 'utf8');
    }
    config.scripts = code;
  }
  return config as Partial<WorkerOptions>;
}

export async function workerMain(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        redis: { type: 'string' },
        lang: { type: 'string' },
        concurrency: { type: 'string' },
        config: { type: 'string' },
        prefix: { type: 'string' },
        id: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  let options: Partial<WorkerOptions>;
  try {
    options = values.config ? await readConfig(values.config) : {};
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.redis) options.redis = values.redis;
  if (values.lang) options.languages = values.lang.split(',').map((s) => s.trim()) as Language[];
  if (values.concurrency) {
    const n = Number(values.concurrency);
    if (!Number.isInteger(n) || n < 1) return usageError(`--concurrency must be a positive integer, got ${values.concurrency}`);
    options.concurrency = n;
  }
  if (values.prefix) options.prefix = values.prefix;
  if (values.id) options.id = values.id;
  if (options.redis === undefined) return usageError('--redis URL is required (or "redis" in the config)');
  const { startWorker } = await import('../index.js');
  let worker;
  try {
    worker = await startWorker(options as WorkerOptions);
  } catch (e) {
    process.stderr.write(`scriptbox worker: ${e instanceof ScriptBoxError ? `${e.code}: ` : ''}${(e as Error).message}\n`);
    return 2;
  }
  process.stderr.write(`scriptbox worker ${worker.id} ready (pid ${process.pid})\n`);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await worker.dispose();
  process.stderr.write(`scriptbox worker ${worker.id} stopped\n`);
  return 0;
}
