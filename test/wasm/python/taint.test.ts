/**
 * The Python runtime's taint (issue 20): a script that reaches for the runtime's globals
 * through an audited step (a frame, a gc walk) makes the core restore the runtime before
 * every later entry; the runtime's own error texts, which read the traceback's frames, do
 * not, so one script error does not make every later call slower. Real Pyodide, no
 * placement in between (the taint flag is the core's own).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreEnv, CoreInit, RunContext } from '../../../src/core.js';
import { PythonCore } from '../../../wasm/python/core.js';

const run: RunContext = { timeoutMs: 5000, stream: false };

const init = (engineId: string): CoreInit => ({
  language: 'python',
  engineId,
  limits: { memoryBytes: 512 * 1024 * 1024, maxOutputBytes: 65536, maxValueDepth: 64, maxValueBytes: 8 << 20 },
  hostFunctions: [],
  config: {},
});

const env = (): CoreEnv => ({
  interruptWord: new Int32Array(new SharedArrayBuffer(4)),
  hostCall: () => null,
  hostStart: () => 0,
  hostWait: () => [],
  output() {},
});

const tainted = (core: PythonCore) => (core as unknown as { tainted: boolean }).tainted;

describe('the Python runtime taint (wasm core)', () => {
  let core: PythonCore;
  beforeAll(async () => {
    core = await PythonCore.create(init('taint'), env());
  }, 120_000);
  afterAll(() => core?.dispose());

  it("the runtime's own error texts do not taint the engine", () => {
    const o = core.exec('def f():\n    raise ValueError("x")\nf()', run) as { ok: boolean; failure?: { traceback?: string } };
    expect(o.ok).toBe(false);
    // The traceback still names the script's frames and source lines.
    expect(o.failure?.traceback).toMatch(/line 2, in f\n +raise ValueError\("x"\)/);
    expect(tainted(core)).toBe(false);
  });

  it('a str subclass as a code file name cannot use the traceback read to reach a frame unseen', () => {
    // Its __hash__ would run inside the runtime's traceback read, where frame reads are not
    // reported; the runtime only hashes exact strs there, so it never runs, and a frame read
    // the script makes itself is reported as always.
    const code = [
      'class Name(str):',
      '    def __hash__(self):',
      '        import sys',
      '        sys.last_seen = sys.exc_info()[2].tb_frame',
      '        return str.__hash__(self)',
      // compile() rather than g.__code__ (reading __code__ is itself an audited step).
      'exec(compile(\'def g():\\n    raise KeyError("k")\\ng()\', Name("<input>"), "exec"))',
    ].join('\n');
    const fresh = core.exec(code, run) as { ok: boolean; failure?: { type: string } };
    expect(fresh.failure?.type).toBe('KeyError');
    expect(tainted(core)).toBe(false);
    // The hash never ran inside the runtime's read.
    expect((core.exec('import sys\nhasattr(sys, "last_seen")', run) as { value?: unknown }).value).toBe(false);
    const peek = core.exec('import sys\nsys._getframe() is not None', run) as { ok: boolean; value?: unknown };
    expect(peek.value).toBe(true);
    expect(tainted(core)).toBe(true);
  });

  it('a reset forgets the taint (a new tenant holds nothing of the last)', async () => {
    await core.reset();
    expect(tainted(core)).toBe(false);
    await core.exec('import gc\nlen(gc.get_objects()) > 0', run);
    expect(tainted(core)).toBe(true);
  });
});
