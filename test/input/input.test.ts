/** input() (issue 21): onInput answers Python's input() / sys.stdin and Lua's io.read, in every placement. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, createEngine, createPool, type ScriptEngine } from '../../src/index.js';
import { nativeAvailable } from '../../src/node/native-libs.js';

/** An onInput that answers these lines in turn, then null (end of input), and records the prompts. */
function lines(...ls: string[]): { onInput: (prompt: string) => string | null; prompts: string[] } {
  const prompts: string[] = [];
  return {
    prompts,
    onInput: (prompt) => {
      prompts.push(prompt);
      return ls.length > 0 ? ls.shift()! : null;
    },
  };
}

describe('Python input() in the worker placement', () => {
  let feed = lines();
  let py: ScriptEngine;
  beforeAll(async () => {
    py = await createEngine('python', { onInput: (p) => feed.onInput(p) });
  });
  afterAll(() => py?.dispose());

  it('several input() calls in one exec: prompts go to stdout and to onInput', async () => {
    feed = lines('Ada', 'Lovelace\n');
    const r = await py.exec("a = input('first? ')\nb = input('last? ')\nprint(f'[{a}] [{b}]')\n(a, b)");
    expect(r.success, JSON.stringify(r.error)).toBe(true);
    expect(r.value).toEqual(['Ada', 'Lovelace']);
    expect(r.stdout).toBe('first? last? [Ada] [Lovelace]\n');
    expect(feed.prompts).toEqual(['first? ', 'last? ']);
  });

  it('sys.stdin.readline / read / iteration read the same lines; end of input is EOFError for input()', async () => {
    feed = lines('one', 'two', 'three', 'four');
    const r = await py.exec(
      'import sys\nfirst = sys.stdin.readline()\nrest = [l for l in sys.stdin]\nempty = sys.stdin.readline()\n' +
        'try:\n    input()\n    eof = None\nexcept EOFError as e:\n    eof = str(e)\n(first, rest, empty, eof)',
    );
    expect(r.success, JSON.stringify(r.error)).toBe(true);
    expect(r.value).toEqual(['one\n', ['two\n', 'three\n', 'four\n'], '', 'EOF when reading a line']);
    feed = lines('a', 'b');
    expect((await py.exec('import sys\nsys.stdin.read()')).value).toBe('a\nb\n');
  });

  it('an async onInput is awaited, also in a function called with call()', async () => {
    const slow = await createEngine('python', {
      onInput: async (p) => {
        await new Promise((r) => setTimeout(r, 20));
        return `async:${p}`;
      },
    });
    try {
      await slow.load('def ask(q):\n    return input(q)', 'ask');
      expect(await slow.call('ask', ['q1'])).toBe('async:q1');
      expect((await slow.exec("[input('x'), input('y')]")).value).toEqual(['async:x', 'async:y']);
    } finally {
      await slow.dispose();
    }
  });

  it('a timeout while waiting for input ends the exec with timedOut, and the engine answers afterwards', async () => {
    const stuck = await createEngine('python', { onInput: () => new Promise<string>(() => {}) });
    try {
      const r = await stuck.exec("input('never? ')", { timeoutMs: 500 });
      expect(r.success).toBe(false);
      expect(r.timedOut).toBe(true);
      expect((await stuck.exec('1 + 1')).value).toBe(2);
    } finally {
      await stuck.dispose();
    }
  });

  it('interrupt() while waiting for input ends the wait', async () => {
    let asked!: () => void;
    const waiting = new Promise<void>((r) => (asked = r));
    const stuck = await createEngine('python', {
      onInput: () => {
        asked();
        return new Promise<string>(() => {});
      },
    });
    try {
      const run = stuck.exec("input('wait? ')");
      await waiting;
      stuck.interrupt();
      const r = await run;
      expect(r.success).toBe(false);
      expect(r.error?.type).toBe('Interrupted');
      expect((await stuck.exec('2 + 2')).value).toBe(4);
    } finally {
      await stuck.dispose();
    }
  });

  it('native CPython: input() and sys.stdin are routed to the engine running on the thread', async () => {
    if (!nativeAvailable('python')) return;
    const native = await createEngine('python', { backend: 'native', trusted: true, onInput: (p) => `n:${p}` });
    try {
      expect((await native.exec("input('?')")).value).toBe('n:?');
      expect((await native.exec('import sys\nsys.stdin.readline()')).value).toBe('n:\n');
    } finally {
      await native.dispose();
    }
  });

  it('without onInput, input() raises EOFError naming the onInput option', async () => {
    const none = await createEngine('python', {});
    try {
      const r = await none.exec('input()');
      expect(r.error?.type).toBe('EOFError');
      expect(r.error?.message).toMatch(/no onInput option/);
      expect((await none.exec('import sys\nsys.stdin.readline()')).value).toBe('');
    } finally {
      await none.dispose();
    }
  });
});

describe('the process placement, inline, pools and options', () => {
  it('Python in a child process reads a sync and an async onInput', async () => {
    const e = await createEngine('python', {
      placement: 'process',
      onInput: (p) => (p === 'sync>' ? 'now' : Promise.resolve(`later ${p}`)),
    });
    try {
      const r = await e.exec("print(input('sync>'))\nprint(input('async>'))");
      expect(r.stdout).toBe('sync>now\nasync>later async>\n');
    } finally {
      await e.dispose();
    }
  });

  it('inline serves a synchronous onInput and refuses an async one with a message saying why', async () => {
    const sync = await createEngine('lua', { placement: 'inline', trusted: true, onInput: () => 'inline line' });
    const async_ = await createEngine('lua', { placement: 'inline', trusted: true, onInput: () => Promise.resolve('x') });
    try {
      expect((await sync.exec('return io.read()')).value).toBe('inline line');
      const r = await async_.exec('return io.read()');
      expect(r.success).toBe(false);
      expect(r.error?.message).toMatch(/onInput returned a Promise, and the inline placement cannot wait/);
    } finally {
      await sync.dispose();
      await async_.dispose();
    }
  });

  it('onInput must be a function; a pool passes it to its engines', async () => {
    await expect(createEngine('lua', { onInput: 'yes' as never })).rejects.toThrow(InvalidInputError);
    await expect(createEngine('lua', { onInput: 'yes' as never })).rejects.toThrow('onInput must be a function');
    const pool = await createPool('lua', { min: 1, max: 1, onInput: () => 'pooled' });
    try {
      expect(await pool.run((e) => e.exec('return io.read()')).then((r) => r.value)).toBe('pooled');
    } finally {
      await pool.dispose();
    }
  });
});

describe('Lua io.read', () => {
  let feed = lines();
  let lua: ScriptEngine;
  beforeAll(async () => {
    lua = await createEngine('lua', { onInput: (p) => feed.onInput(p) });
  });
  afterAll(() => lua?.dispose());

  it('reads the formats l, L, n, a and byte counts, and returns nil at end of input', async () => {
    feed = lines('first', 'second', '  42 -7.5e1', 'abcdef', 'tail1', 'tail2');
    const r = await lua.exec(
      'local l = io.read()\nlocal L = io.read("L")\nlocal n1, n2 = io.read("n", "*n")\nio.read("l")\n' +
        'local three = io.read(3)\nlocal restline = io.read("l")\nlocal all = io.read("a")\nlocal eof = io.read()\n' +
        'return { l, L, n1, n2, three, restline, all, eof == nil, io.read("a") }',
    );
    expect(r.success, JSON.stringify(r.error)).toBe(true);
    expect(r.value).toEqual(['first', 'second\n', 42, -75, 'abc', 'def', 'tail1\ntail2\n', true, '']);
  });

  it('a loop reading until nil sees every line; without onInput there is no io (nothing to read)', async () => {
    feed = lines('a', 'b', 'c');
    const r = await lua.exec(
      'local t = {}\nwhile true do\n  local line = io.read()\n  if not line then break end\n  t[#t + 1] = line\nend\nreturn t',
    );
    expect(r.value).toEqual(['a', 'b', 'c']);
    const none = await createEngine('lua', {});
    try {
      expect((await none.exec('return type(io)')).value).toBe('nil');
    } finally {
      await none.dispose();
    }
  });
});

describe('scriptbox run reads input() from its stdin', () => {
  it('lines piped into the CLI answer input() in turn', async () => {
    const child = spawn(process.execPath, [
      'dist/src/cli/main.js',
      'run',
      '-c',
      "print(input('a? ') + '|' + input('b? '))",
      '--lang',
      'python',
    ]);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stdin.end('one\ntwo\nthree\n');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(stdout).toBe('a? b? one|two\n');
  });
});
