#!/usr/bin/env node
/**
 * The `scriptbox` command: `run` (src/cli/run.ts), `bench`, `snapshot`, `help`, and
 * `--help` / `--version`. Usage goes to stdout when asked for (exit 0), to stderr with a
 * usage mistake (exit 2). Each command loads only its own module.
 */
import { readFileSync } from 'node:fs';
import { closest } from './closest.js';

const USAGE = `usage: scriptbox <command> [options]

commands:
  run FILE|-|-c CODE   run a Python or Lua script in a sandboxed engine (scriptbox run --help)
  bench                run the benchmark harness (scriptbox bench --help)
  snapshot build|clear build or clear the Python start-up snapshot cache (scriptbox snapshot --help)
  worker --redis URL   serve a distributed pool's jobs from Redis (scriptbox worker --help)
  packages lock DIR    write DIR/pyodide-lock.json for a folder of wheels (scriptbox packages --help)
  mcp                  serve sandboxed Python and Lua to MCP clients (scriptbox mcp --help)
  repl                 an interactive Python or Lua prompt (scriptbox repl --help)
  help [COMMAND]       print this help, or a command's

options:
  -h, --help           print this help
  -v, --version        print the version

examples:
  scriptbox run examples/hello.py
  echo 'print("hi")' | scriptbox run - --lang python
  scriptbox run -c 'return 6 * 7' --lang lua --json`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  run: async (argv) => (await import('./run.js')).runMain(argv),
  bench: async (argv) => (await import('./bench.js')).benchMain(argv),
  snapshot: async (argv) => (await import('./snapshot.js')).snapshotMain(argv),
  worker: async (argv) => (await import('./worker.js')).workerMain(argv),
  packages: async (argv) => (await import('./packages.js')).packagesMain(argv),
  mcp: async (argv) => (await import('./mcp.js')).mcpMain(argv),
  repl: async (argv) => (await import('./repl.js')).replMain(argv),
};

/** The package's version, from the package.json two folders above dist/src/cli. */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(manifest.version);
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (first === '--help' || first === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (COMMANDS[topic]) return COMMANDS[topic](['--help']);
    return unknown(topic);
  }
  const command = COMMANDS[first];
  if (command) return command(rest);
  return unknown(first);
}

function unknown(word: string): number {
  const what = word.startsWith('-') ? 'option' : 'command';
  process.stderr.write(
    `scriptbox: unknown ${what} '${word}'; did you mean '${closest(word.replace(/^-+/, ''), word.startsWith('-') ? ['help', 'version'] : [...Object.keys(COMMANDS), 'help'])}'? (scriptbox --help lists them)\n`,
  );
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
