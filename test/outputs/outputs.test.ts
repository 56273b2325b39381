/** Rich outputs (issue 21): display(), host.display(), the REPL's rich last value, the cap, the CLI's --outputs. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type ScriptEngine } from '../../src/index.js';
import { nativeAvailable } from '../../src/node/native-libs.js';
import { parseToHost, type ToHost } from '../../src/channel/protocol.js';
import { pumpRequest } from '../../src/placement/request-pump.js';
import { EngineCrashedError } from '../../src/errors.js';

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff];

const CLASSES = `
class Png:
    def _repr_png_(self): return bytes(${JSON.stringify(PNG)})
class Png64:
    def _repr_png_(self):
        import base64
        return base64.b64encode(bytes(${JSON.stringify(PNG)})).decode()
class Svg:
    def _repr_svg_(self): return '<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'
class Html:
    def _repr_html_(self): return '<b>bold</b>'
class Md:
    def _repr_markdown_(self): return '# title'
class Both:
    def _repr_html_(self): return '<i>html</i>'
    def _repr_png_(self): return bytes([1, 2, 3])
`;

describe('Python outputs', () => {
  let py: ScriptEngine;
  beforeAll(async () => {
    py = await createEngine('python', { limits: { maxOutputBytes: 4096 } });
    await py.load(CLASSES, 'classes');
  });
  afterAll(() => py?.dispose());

  it('display() picks the richest repr of each object, in call order with prints', async () => {
    const r = await py.exec(
      `print('one')\ndisplay(Png())\nprint('two')\ndisplay(Svg(), Html(), Md(), Png64(), Both(), 42)\nprint('three')`,
    );
    expect(r.success, JSON.stringify(r.error)).toBe(true);
    expect(r.stdout).toBe('one\ntwo\nthree\n');
    expect(r.outputs.map((o) => o.mime)).toEqual([
      'image/png',
      'image/svg+xml',
      'text/html',
      'text/markdown',
      'image/png',
      'image/png',
      'text/plain',
    ]);
    expect(r.outputs[0]!.data).toEqual(new Uint8Array(PNG));
    expect(r.outputs[1]!.data).toBe('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>');
    expect(r.outputs[2]!.data).toBe('<b>bold</b>');
    expect(r.outputs[3]!.data).toBe('# title');
    // A base64 string from _repr_png_ arrives as the bytes it encodes.
    expect(r.outputs[4]!.data).toEqual(new Uint8Array(PNG));
    expect(r.outputs[5]!.data).toEqual(new Uint8Array([1, 2, 3]));
    expect(r.outputs[6]).toEqual({ mime: 'text/plain', data: '42' });
    expect(r.truncated).toBe(false);
  });

  it("the REPL's last value with a rich repr becomes an output; its value stays what it was", async () => {
    const r = await py.exec('Html()');
    expect(r.outputs).toEqual([{ mime: 'text/html', data: '<b>bold</b>' }]);
    expect(r.value).toMatch(/^<classes\.Html object at|^<__main__\.Html object at/);
    // Plain values and classes are no outputs.
    expect((await py.exec('1 + 1')).outputs).toEqual([]);
    expect((await py.exec('Html')).outputs).toEqual([]);
  });

  it('host.display(data, mime) sends text as a string and binary types as bytes; display works from call() too', async () => {
    const r = await py.exec(
      `import host\nhost.display('<p>x</p>', 'text/html')\nhost.display(b'\\x00\\x01', 'image/png')\nhost.display(bytearray(b'{"a":1}'), 'application/json')\nhost.display(Md())`,
    );
    expect(r.success, JSON.stringify(r.error)).toBe(true);
    expect(r.outputs).toEqual([
      { mime: 'text/html', data: '<p>x</p>' },
      { mime: 'image/png', data: new Uint8Array([0, 1]) },
      { mime: 'application/json', data: '{"a":1}' },
      { mime: 'text/markdown', data: '# title' },
    ]);
    await py.load('def show():\n    display(Svg())\n    return 1', 'show');
    expect(await py.call('show')).toBe(1);
  });

  it('a bad media type or data type is a typed error the script can catch', async () => {
    const r = await py.exec("import host\nhost.display('x', 'not a type')");
    expect(r.success).toBe(false);
    expect(r.error?.type).toBe('ValueError');
    expect(r.error?.message).toMatch(/not a media type; use type\/subtype/);
    const caught = await py.exec("import host\ntry:\n    host.display('x', 'nope')\nexcept ValueError:\n    r = 'caught'\nr");
    expect(caught.value).toBe('caught');
    const t = await py.exec("import host\nhost.display(3, 'text/plain')");
    expect(t.error?.type).toBe('TypeError');
  });

  it('outputs count against limits.maxOutputBytes: one that does not fit is dropped whole and truncated set', async () => {
    const r = await py.exec("import host\nhost.display('a' * 5000, 'text/plain')\nhost.display('small', 'text/plain')\nprint('after')");
    expect(r.success).toBe(true);
    expect(r.truncated).toBe(true);
    expect(r.outputs).toEqual([{ mime: 'text/plain', data: 'small' }]);
    expect(r.stdout).toBe('after\n');
    // The next exec starts afresh.
    const next = await py.exec("import host\nhost.display('ok', 'text/plain')");
    expect(next).toMatchObject({ truncated: false, outputs: [{ mime: 'text/plain', data: 'ok' }] });
  });

  it('a failed or timed-out exec still has outputs (those made before it stopped)', async () => {
    const failed = await py.exec("display(Md())\nraise ValueError('x')");
    expect(failed.success).toBe(false);
    expect(failed.outputs).toEqual([{ mime: 'text/markdown', data: '# title' }]);
    const slow = await py.exec('while True: pass', { timeoutMs: 300 });
    expect(slow.timedOut).toBe(true);
    expect(slow.outputs).toEqual([]);
  });
});

describe('Lua outputs', () => {
  let lua: ScriptEngine;
  beforeAll(async () => {
    lua = await createEngine('lua', { limits: { maxOutputBytes: 100 } });
  });
  afterAll(() => lua?.dispose());

  it('host.display keeps order with print; Lua strings are bytes for binary types', async () => {
    const r = await lua.exec(
      'print("a")\nhost.display("<b>x</b>", "text/html")\nhost.display("\\137PNG\\255\\0", "image/png")\nprint("b")',
    );
    expect(r.success, JSON.stringify(r.error)).toBe(true);
    expect(r.stdout).toBe('a\nb\n');
    expect(r.outputs).toEqual([
      { mime: 'text/html', data: '<b>x</b>' },
      { mime: 'image/png', data: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0xff, 0]) },
    ]);
  });

  it('a bad media type raises; an output over the cap is dropped and truncated set', async () => {
    const bad = await lua.exec('host.display("x", "nope")');
    expect(bad.success).toBe(false);
    expect(bad.error?.message).toMatch(/InvalidInputError: display: mime type 'nope' is not a media type/);
    const caught = await lua.exec('return pcall(host.display, "x")');
    expect(caught.value).toEqual([false, expect.stringMatching(/mime must be a string/)]);
    const big = await lua.exec('host.display(string.rep("x", 500), "text/plain"); return 1');
    expect(big).toMatchObject({ success: true, truncated: true, outputs: [] });
  });
});

describe('scriptbox run --outputs', () => {
  it('writes each output to DIR/output-N.EXT and says where on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-outputs-'));
    const code = `${CLASSES}\ndisplay(Png())\nprint('printed')\nHtml()`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [
      'dist/src/cli/main.js',
      'run',
      '-c',
      code,
      '--lang',
      'python',
      '--outputs',
      dir,
    ]);
    expect(stdout).toBe('printed\n');
    expect((await readdir(dir)).sort()).toEqual(['output-1.png', 'output-2.html']);
    expect(new Uint8Array(await readFile(join(dir, 'output-1.png')))).toEqual(new Uint8Array(PNG));
    expect(await readFile(join(dir, 'output-2.html'), 'utf8')).toBe('<b>bold</b>');
    expect(stderr).toContain(`wrote ${join(dir, 'output-1.png')}`);
  });
});

describe.skipIf(!nativeAvailable('python') || !nativeAvailable('lua'))('native backends share the runtime and the prelude', () => {
  it('CPython: display(), host.display and a rich last value; LuaJIT: host.display', async () => {
    const py = await createEngine('python', { backend: 'native', trusted: true });
    const lua = await createEngine('lua', { backend: 'native', trusted: true });
    try {
      const r = await py.exec(`${CLASSES}\nimport host\nprint('x')\ndisplay(Png())\nhost.display('<p/>', 'text/html')\nMd()`);
      expect(r.success, JSON.stringify(r.error)).toBe(true);
      expect(r.stdout).toBe('x\n');
      expect(r.outputs).toEqual([
        { mime: 'image/png', data: new Uint8Array(PNG) },
        { mime: 'text/html', data: '<p/>' },
        { mime: 'text/markdown', data: '# title' },
      ]);
      expect((await lua.exec('host.display("# t", "text/markdown")')).outputs).toEqual([{ mime: 'text/markdown', data: '# t' }]);
    } finally {
      await py.dispose();
      await lua.dispose();
    }
  });
});

describe('outputs from an untrusted core', () => {
  const done = (outputs: unknown) => ({
    t: 'done',
    value: null,
    defined: true,
    out: { stdout: '', stderr: '', truncated: false, outputs },
  });

  it('are checked like the rest of its answer: a list of { mime, data } with string or byte data', () => {
    const ok = parseToHost(
      done([
        { mime: 'image/png', data: new Uint8Array([1]) },
        { mime: 'text/html', data: '<p/>' },
      ]),
    );
    expect(ok).toMatchObject({ out: { outputs: [{ mime: 'image/png' }, { mime: 'text/html', data: '<p/>' }] } });
    for (const bad of ['x', [{ mime: 'text/plain', data: 5 }], [{ data: 'x' }], [{ mime: 'a/b', data: new Uint16Array(2) }], [null]]) {
      expect(() => parseToHost(done(bad)), JSON.stringify(bad)).toThrow(EngineCrashedError);
    }
  });
});

describe('a lying core', () => {
  it('is held to maxOutputBytes for its outputs too: the host drops what does not fit and sets truncated', async () => {
    const outputs = [
      { mime: 'text/plain', data: 'x'.repeat(6) },
      { mime: 'image/png', data: new Uint8Array(8) },
      { mime: 'text/plain', data: 'ok' },
    ];
    const answer: ToHost = { t: 'done', value: null, defined: true, out: { stdout: 'ab', stderr: '', truncated: false, outputs } };
    const transport = { send: () => {}, receive: () => answer, concurrentCalls: false, broken: (e: Error) => e };
    const handlers = { hostCall: () => null, hostCallSync: () => null, output: () => {} };
    const got = await pumpRequest(transport, { t: 'exec', code: '', timeoutMs: 1000, stream: false }, handlers, {
      maxValueDepth: 16,
      maxOutputBytes: 10,
    });
    expect(got).toMatchObject({ out: { stdout: 'ab', truncated: true, outputs: [outputs[0], outputs[2]] } });
  });
});
