/**
 * `scriptbox run`: runs a script in a sandboxed engine and prints what it printed. The
 * script comes from a file (language from its extension), from stdin (`-`) or from `-c`.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { Language } from '../engine/types.js';
import { ScriptBoxError } from '../errors.js';
import { createEngine } from '../index.js';
import { lineReader, writeOutputs } from './terminal.js';

export const RUN_USAGE = `usage: scriptbox run FILE [--lang python|lua] [--timeout MS] [--allow CAP,...] [--outputs DIR] [--json]
       scriptbox run - --lang python|lua [...]       (the script from stdin)
       scriptbox run -c CODE --lang python|lua [...]  (the script as an argument)

  FILE            a .py or .lua file (--lang overrides the extension)
  -               read the script from standard input
  -c, --code CODE run CODE
  -l, --lang LANG python or lua (needed for - and -c)
  --timeout MS    stop the script after MS milliseconds (default 30000)
  --allow CAPS    grant capabilities, comma-separated (e.g. log,kv.*); none by default
  --packages P,.. Python packages to install before the script runs (docs/packages.md)
  --package-source DIR|URL  where --packages come from: a folder of wheels with its
                  pyodide-lock.json (scriptbox packages lock DIR), or an index URL;
                  default: the Pyodide package index (needs the network)
  --outputs DIR   write each rich output (display, host.display) to DIR/output-N.EXT
  --json          print the ExecResult as JSON instead of the script's output

input() / io.read() read lines from standard input (a terminal or a pipe; none left after -).

exit status: 0 the script succeeded, 1 it failed (error on stderr), 2 bad usage or no engine`;

const EXTENSIONS: Record<string, Language> = { '.lua': 'lua', '.py': 'python' };
const LANGUAGES: Record<string, Language> = { python: 'python', lua: 'lua' };

/** A usage mistake: the message, then the usage, on stderr; exit 2. */
function usageError(message: string): number {
  process.stderr.write(`scriptbox run: ${message}\n\n${RUN_USAGE}\n`);
  return 2;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        code: { type: 'string', short: 'c' },
        lang: { type: 'string', short: 'l' },
        timeout: { type: 'string' },
        allow: { type: 'string' },
        packages: { type: 'string' },
        'package-source': { type: 'string' },
        json: { type: 'boolean', default: false },
        outputs: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }

  if (positionals.length > 1) return usageError(`expected one script, got ${positionals.length}: ${positionals.join(' ')}`);
  const source = positionals[0];
  if (values.code !== undefined && source !== undefined) return usageError(`give either -c CODE or a script (${source}), not both`);
  if (values.code === undefined && source === undefined) return usageError('no script: give a FILE, - (stdin) or -c CODE');

  let language: Language | undefined;
  if (values.lang !== undefined) {
    language = LANGUAGES[values.lang.toLowerCase()];
    if (!language) return usageError(`--lang takes python or lua (got ${values.lang})`);
  } else if (source !== undefined && source !== '-') {
    language = EXTENSIONS[extname(source)];
    if (!language) return usageError(`cannot tell the language of ${source}; name it .lua or .py, or pass --lang python|lua`);
  } else {
    return usageError(`${source === '-' ? 'a script from stdin' : '-c CODE'} needs --lang python or --lang lua`);
  }

  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout);
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      return usageError(`--timeout takes a positive number of milliseconds (got ${values.timeout})`);
  }

  let code: string;
  if (values.code !== undefined) code = values.code;
  else if (source === '-') code = await readStdin();
  else {
    try {
      code = await readFile(source!, 'utf8');
    } catch (e) {
      process.stderr.write(`scriptbox: cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? e}\n`);
      return 2;
    }
  }

  const capabilities = values.allow ? splitList(values.allow) : [];
  // The script's input() reads the CLI's stdin (after `-`, it is at its end already).
  const stdin = lineReader(process.stdin);
  try {
    await using engine = await createEngine(language, {
      capabilities,
      onInput: stdin.onInput,
      // host.log goes to stderr, so stdout stays the script's own output (or the JSON).
      onLog: ({ level, message }) => void process.stderr.write(`[${level}] ${message}\n`),
      ...(timeoutMs ? { limits: { timeoutMs } } : {}),
      ...(values.packages !== undefined ? { packages: splitList(values.packages) } : {}),
      ...(values['package-source'] !== undefined ? { packageSource: values['package-source'] } : {}),
      ...(values.json ? {} : { onOutput: ({ stream, text }) => (stream === 'stdout' ? process.stdout : process.stderr).write(text) }),
    });
    const result = await engine.exec(code);
    if (values.outputs !== undefined && result.outputs.length > 0) {
      for (const path of await writeOutputs(values.outputs, result.outputs)) process.stderr.write(`scriptbox: wrote ${path}\n`);
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, jsonValue, 2)}\n`);
    } else if (!result.success && result.error) {
      process.stderr.write(`${result.error.type}: ${result.error.message}\n${result.error.traceback ? `${result.error.traceback}\n` : ''}`);
    }
    return result.success ? 0 : 1;
  } catch (e) {
    const err = e as ScriptBoxError;
    process.stderr.write(`scriptbox: ${err.code ?? 'ERROR'}: ${err.message}\n`);
    return 2;
  } finally {
    stdin.close();
  }
}

/** `a, b,c` -> ['a', 'b', 'c'] */
function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Script values JSON cannot hold as they are: bigints as strings, bytes as arrays, maps as objects. */
function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Array.from(v);
  if (v instanceof Map) return Object.fromEntries(v);
  return v;
}
