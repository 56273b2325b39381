#!/usr/bin/env node
/**
 * The `scriptbox` command. `scriptbox run FILE [--timeout MS] [--allow CAP,...] [--json]`
 * runs a .py or .lua file in a sandboxed engine and prints what it printed; `bench` and
 * `snapshot` live in their own modules.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../index.js';
import { ScriptBoxError } from '../errors.js';

const USAGE = `usage: scriptbox run FILE [--timeout MS] [--allow CAP,...] [--json]
       scriptbox bench [--quick] [--json [FILE]] [--only WORKLOAD,...] [--targets PATTERN]
       scriptbox snapshot build|clear [--dir DIR]

  run FILE        run a .py or .lua file in a sandboxed engine (exit 1 on a script error)
  --timeout MS    stop the script after MS milliseconds (default 30000)
  --allow CAPS    grant capabilities, comma-separated (e.g. log,kv.*)
  --json          print the ExecResult as JSON instead of the script's output
  bench           run the benchmark harness (scriptbox bench --help)
  snapshot        build or clear the Python start-up snapshot cache (scriptbox snapshot --help)`;

const LANGS: Record<string, 'lua' | 'python'> = { '.lua': 'lua', '.py': 'python' };

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'bench') {
    const { benchMain } = await import('./bench.js');
    return benchMain(argv.slice(1));
  }
  if (argv[0] === 'snapshot') {
    const { snapshotMain } = await import('./snapshot.js');
    return snapshotMain(argv.slice(1));
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        timeout: { type: 'string' },
        allow: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    process.stderr.write(`scriptbox: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, file, ...rest] = positionals;
  if (command !== 'run' || !file || rest.length > 0) {
    process.stderr.write(`scriptbox: expected \`run FILE\`\n${USAGE}\n`);
    return 2;
  }
  const language = LANGS[extname(file)];
  if (!language) {
    process.stderr.write(`scriptbox: cannot tell the language of ${file}; name it .lua or .py\n`);
    return 2;
  }
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout);
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      process.stderr.write(`scriptbox: --timeout takes a positive number of milliseconds (got ${values.timeout})\n`);
      return 2;
    }
  }
  let code: string;
  try {
    code = await readFile(file, 'utf8');
  } catch (e) {
    process.stderr.write(`scriptbox: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}\n`);
    return 2;
  }
  const capabilities = values.allow ? values.allow.split(',').map((s) => s.trim()).filter(Boolean) : [];
  try {
    await using engine = await createEngine(language, {
      capabilities,
      // host.log goes to stderr, so stdout stays the script's own output (or the JSON).
      onLog: ({ level, message }) => void process.stderr.write(`[${level}] ${message}\n`),
      ...(timeoutMs ? { limits: { timeoutMs } } : {}),
      ...(values.json ? {} : { onOutput: ({ stream, text }) => (stream === 'stdout' ? process.stdout : process.stderr).write(text) }),
    });
    const result = await engine.exec(code);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Array.from(v) : v instanceof Map ? Object.fromEntries(v) : v), 2)}\n`);
    } else if (!result.success && result.error) {
      process.stderr.write(`${result.error.type}: ${result.error.message}\n${result.error.traceback ? `${result.error.traceback}\n` : ''}`);
    }
    return result.success ? 0 : 1;
  } catch (e) {
    const err = e as ScriptBoxError;
    process.stderr.write(`scriptbox: ${err.code ?? 'ERROR'}: ${err.message}\n`);
    return 2;
  }
}

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
