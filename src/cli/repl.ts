/**
 * `scriptbox repl`: an interactive prompt on one sandboxed engine. node:readline gives line
 * editing and history (kept in ~/.scriptbox_history on a terminal); a block continues
 * until the engine's own compiler says it is complete (Python's codeop, Lua's load()
 * failing at `<eof>`); the value of the last expression is printed; Ctrl-C interrupts
 * running code and keeps the session; Ctrl-D or `.exit` leaves.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { inspect, parseArgs } from 'node:util';
import type { ExecResult, Language, Placement, ScriptEngine } from '../engine/types.js';
import { ScriptBoxError } from '../errors.js';
import { createEngine } from '../index.js';

export const REPL_USAGE = `usage: scriptbox repl [--lang python|lua] [--allow CAPS] [--placement worker|process] [--timeout MS]

  -l, --lang LANG   python (default) or lua
  --allow CAPS      grant capabilities, comma-separated (e.g. log,kv.*); none by default
  --placement P     worker (default) or process
  --timeout MS      stop a statement after MS milliseconds (default 30000); Ctrl-C stops it sooner

at the prompt:
  .exit (or Ctrl-D)  leave          .reset      a fresh engine (every global is gone)
  .load FILE         run a file     .help       this list
  Ctrl-C             interrupt running code (the session keeps its state), or drop the lines typed so far`;

const HELP = `.exit       leave (also Ctrl-D)
.reset      start a fresh engine: every global is gone
.load FILE  run FILE in this session
Ctrl-C      interrupt running code (state is kept) or drop the lines typed so far`;

function usageError(message: string): number {
  process.stderr.write(`scriptbox repl: ${message}\n\n${REPL_USAGE}\n`);
  return 2;
}

/** A Lua long-bracket string literal holding `s` exactly. */
function luaLiteral(s: string): string {
  let eq = '';
  while (s.includes(`]${eq}]`)) eq += '=';
  // A newline right after the opening bracket is dropped by Lua: add one so `s` keeps its own.
  return `[${eq}[\n${s}]${eq}]`;
}

/**
 * Asks the engine whether `src` is a complete statement. Python: codeop (the stdlib's own
 * interactive-console test; None means "more input"); Lua: load() of the chunk, or of
 * `return <chunk>`, failing with an error at `<eof>` means "more input". A syntax error
 * counts as complete: running it reports the error.
 */
async function isComplete(engine: ScriptEngine, language: Language, src: string): Promise<boolean> {
  const probe =
    language === 'python'
      ? `__import__('codeop').compile_command(${JSON.stringify(src)}, '<input>', 'single') is not None`
      : `local s = ${luaLiteral(src)}
local f, e = load(s, '=input')
if f or load('return ' .. s, '=input') then return true end
return not tostring(e):find('<eof>$')`;
  const r = await engine.exec(probe, { timeoutMs: 5000 });
  return !r.success || r.value !== false;
}

function formatValue(v: unknown, colors: boolean): string {
  return inspect(v, { colors, depth: 6, breakLength: 100 });
}

interface ReplState {
  engine: ScriptEngine;
  running: boolean;
}

function report(r: ExecResult, colors: boolean): void {
  if (r.success) {
    if (r.value !== undefined && r.value !== null) process.stdout.write(`${formatValue(r.value, colors)}\n`);
  } else if (r.error) {
    const e = r.error;
    const text = e.traceback && e.traceback.includes(e.message) ? e.traceback.replace(/\n$/, '') : `${e.type}: ${e.message}`;
    process.stderr.write(`${text}\n`);
  }
  if (r.truncated) process.stderr.write('(output truncated)\n');
}

function historyFile(): string {
  return process.env.SCRIPTBOX_REPL_HISTORY ?? join(homedir(), '.scriptbox_history');
}

function loadHistory(): string[] {
  try {
    return readFileSync(historyFile(), 'utf8').split('\n').filter(Boolean).reverse().slice(0, 1000);
  } catch {
    // No history yet (or unreadable): start with none.
    return [];
  }
}

export async function replMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        lang: { type: 'string', short: 'l', default: 'python' },
        allow: { type: 'string' },
        placement: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${REPL_USAGE}\n`);
    return 0;
  }
  const language = v.lang.toLowerCase();
  if (language !== 'python' && language !== 'lua') return usageError(`--lang takes python or lua (got ${v.lang})`);
  if (v.placement !== undefined && v.placement !== 'worker' && v.placement !== 'process') {
    return usageError(`--placement takes worker or process (got ${v.placement})`);
  }
  let timeoutMs: number | undefined;
  if (v.timeout !== undefined) {
    timeoutMs = Number(v.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
      return usageError(`--timeout takes a positive number of milliseconds (got ${v.timeout})`);
  }
  const capabilities = (v.allow ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const start = () =>
    createEngine(language, {
      capabilities,
      ...(v.placement ? { placement: v.placement as Placement } : {}),
      ...(timeoutMs ? { limits: { timeoutMs } } : {}),
      onLog: ({ level, message }) => void process.stderr.write(`[${level}] ${message}\n`),
      onOutput: ({ stream, text }) => (stream === 'stdout' ? process.stdout : process.stderr).write(text),
    });

  let state: ReplState;
  try {
    state = { engine: await start(), running: false };
  } catch (e) {
    process.stderr.write(`scriptbox repl: ${(e as ScriptBoxError).code ?? 'ERROR'}: ${(e as Error).message}\n`);
    return 2;
  }

  const terminal = !!(process.stdin.isTTY && process.stdout.isTTY);
  const rl: Interface = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal,
    historySize: 1000,
    ...(terminal ? { history: loadHistory() } : {}),
  });
  const PS1 = language === 'python' ? '>>> ' : '> ';
  const PS2 = language === 'python' ? '... ' : '>> ';
  let buffer: string[] = [];

  const interrupt = (): void => {
    if (state.running) {
      state.engine.interrupt();
    } else if (buffer.length) {
      buffer = [];
      process.stdout.write('\nKeyboardInterrupt\n');
      rl.setPrompt(PS1);
      rl.prompt();
    } else {
      process.stdout.write('\n(To exit, press Ctrl-D or type .exit)\n');
      rl.prompt();
    }
  };
  // On a terminal readline turns Ctrl-C into its SIGINT event; piped, the signal comes to the process.
  rl.on('SIGINT', interrupt);
  process.on('SIGINT', interrupt);

  const run = async (code: string): Promise<void> => {
    state.running = true;
    try {
      report(await state.engine.exec(code), terminal);
    } catch (e) {
      process.stderr.write(`${(e as ScriptBoxError).code ?? 'ERROR'}: ${(e as Error).message}\n`);
    } finally {
      state.running = false;
    }
  };

  process.stdout.write(
    `ScriptBox ${language === 'python' ? 'Python' : 'Lua'} (sandboxed, ${state.engine.placement}). .help for help, Ctrl-D to leave.\n`,
  );
  rl.setPrompt(PS1);
  rl.prompt();
  try {
    for await (const line of rl) {
      if (buffer.length === 0 && line.trim().startsWith('.')) {
        const [cmd, ...rest] = line.trim().split(/\s+/);
        if (cmd === '.exit') break;
        if (cmd === '.help') process.stdout.write(`${HELP}\n`);
        else if (cmd === '.reset') {
          await state.engine.dispose();
          state.engine = await start();
          process.stdout.write('(a fresh engine)\n');
        } else if (cmd === '.load') {
          const file = rest.join(' ');
          if (!file) process.stderr.write('.load needs a file: .load script.py\n');
          else {
            let code: string | undefined;
            try {
              code = await readFile(file, 'utf8');
            } catch (e) {
              process.stderr.write(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
            }
            if (code !== undefined) await run(code);
          }
        } else process.stderr.write(`unknown command ${cmd}; .help lists them\n`);
        rl.setPrompt(PS1);
        rl.prompt();
        continue;
      }
      buffer.push(line);
      const src = buffer.join('\n');
      if (src.trim() === '') {
        buffer = [];
      } else if (await isComplete(state.engine, language, src)) {
        buffer = [];
        await run(src);
      }
      rl.setPrompt(buffer.length ? PS2 : PS1);
      rl.prompt();
    }
  } finally {
    process.off('SIGINT', interrupt);
    if (terminal) {
      try {
        // readline keeps the newest first.
        writeFileSync(historyFile(), `${[...(rl as unknown as { history: string[] }).history].reverse().join('\n')}\n`);
      } catch {
        // A read-only home must not fail the session's end.
      }
    }
    rl.close();
    await state.engine.dispose();
  }
  process.stdout.write('\n');
  return 0;
}
