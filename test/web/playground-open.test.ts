/**
 * The playground on a page served WITHOUT COOP/COEP (`npm start -- --no-isolation`): no
 * SharedArrayBuffer, so the engine runs over postMessage. It still runs code, says what it
 * cannot do, keeps host.aio working in Python, and Stop restarts the engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SHOTS, drive, openSite, type Opened } from './harness.js';

let o: Opened;
let page: Page;
let pg: ReturnType<typeof drive>;

beforeAll(async () => {
  o = await openSite({ isolation: false });
  page = o.page;
  pg = drive(page);
  await pg.ready();
}, 180_000);

afterAll(() => o?.close());

describe('the playground without cross-origin isolation', () => {
  it('runs Python over postMessage and says what it cannot do', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
    expect(await pg.status.innerText()).toMatch(/Python ready.*postMessage/s);
    const notice = await pg.el.locator('.isolation').innerText();
    expect(notice).toContain('not cross-origin isolated');
    expect(notice).toContain('UnavailableError');
    expect(notice).toContain('await host.aio');
    await pg.setCode('x = 20; print("over postMessage"); x + 1');
    await pg.run();
    expect(await pg.pane('stdout')).toBe('over postMessage\n');
    expect(await pg.pane('result')).toBe('21');
    await page.screenshot({ path: `${SHOTS}playground-not-isolated-1280.png` });
  });

  it('a blocking host call raises UnavailableError naming COOP/COEP; host.aio works', async () => {
    await pg.setCode('import host\nhost.kv.get("k", 0)\n');
    await pg.run();
    expect(await pg.pane('error')).toMatch(/UnavailableError[\s\S]*Cross-Origin-Opener-Policy/);
    await pg.setCode(
      'import asyncio, host\nawait host.aio.kv.set("k", 5)\nawait asyncio.gather(host.aio.kv.get("k"), host.aio.kv.get("none", 1))\n',
    );
    await pg.run();
    expect(await pg.pane('error')).toBe('');
    expect(await pg.pane('result')).toBe('[5, 1]');
    await expect.poll(() => pg.kv()).toEqual({ k: '5' });
  });

  it('a denied capability is a PermissionError here too', async () => {
    await page.locator('scriptbox-playground input[name="kv"]').uncheck();
    await pg.setCode('import host\nawait host.aio.kv.get("k")\n');
    await pg.run();
    expect(await pg.pane('error')).toMatch(/PermissionError: .*host\.kv\.get.*kv\.read/);
    await page.locator('scriptbox-playground input[name="kv"]').check();
  });

  it('Stop ends an endless loop by restarting the engine, says the session is gone, and the next run works', async () => {
    await pg.setCode('y = 1');
    await pg.run();
    await pg.runAndStop('while True:\n    pass\n', 300);
    expect(await pg.pane('error')).toContain('Interrupted');
    expect(await pg.pane('notes')).toContain('restarted');
    await pg.setCode('"y" in globals()');
    await pg.run();
    expect(await pg.pane('result')).toBe('False');
  });

  it('Lua runs over postMessage too, and Stop works there', async () => {
    await page.selectOption('scriptbox-playground select.lang', 'lua');
    await pg.ready();
    await pg.setCode('return 6 * 7');
    await pg.run();
    expect(await pg.pane('result')).toBe('42');
    await pg.runAndStop('while true do end', 300);
    expect(await pg.pane('error')).toContain('Interrupted');
    await pg.setCode('return "again"');
    await pg.run();
    expect(await pg.pane('result')).toBe('"again"');
    expect(o.errors).toEqual([]);
  });

  it('saves a Python session and opens it again over postMessage (no shared memory for the snapshot)', async () => {
    await page.locator('scriptbox-playground').evaluate((e) => ((e as unknown as { language: string }).language = 'python'));
    await pg.ready();
    await pg.setCode('import json\nopen_kept = {"n": 7}\nopen("/tmp/o.txt", "w").write("postMessage")\nopen_kept["n"]');
    await pg.run();
    expect(await pg.pane('result')).toBe('7');
    const el = pg.el as unknown as { evaluate<T>(f: (e: Element) => Promise<T>): Promise<T> };
    await el.evaluate((e) => (e as unknown as { saveSession(n: string): Promise<string> }).saveSession('over-postmessage'));
    await pg.el.locator('button.reset').click();
    await pg.ready();
    await el.evaluate((e) => (e as unknown as { openSession(n: string): Promise<void> }).openSession('over-postmessage'));
    await pg.setCode('(open_kept["n"], open("/tmp/o.txt").read())');
    await pg.run();
    expect(await pg.pane('result')).toBe('[7, "postMessage"]');
  }, 120_000);
});
