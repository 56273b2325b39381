/**
 * "Save session" in the playground (issue 23), in real Chromium on the cross-origin
 * isolated page: a session's names, imports and files are saved in IndexedDB, and after a
 * page reload the saved session reopens with them; Lua too; deleting removes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SHOTS, drive, openSite, type Opened } from './harness.js';

let o: Opened;
let page: Page;
let pg: ReturnType<typeof drive>;

type El = { saveSession(name?: string): Promise<string>; savedSessions(): Promise<string[]> };

beforeAll(async () => {
  o = await openSite();
  page = o.page;
  pg = drive(page);
  await pg.ready();
}, 180_000);

afterAll(() => o?.close());

describe('saved sessions in the playground', () => {
  it('saves a Python session, and reopens it with its names and files after a reload', async () => {
    await pg.setCode(
      'import json\nsaved_x = 41\ndef inc(n):\n    return n + 1\nopen("/tmp/kept.txt", "w").write("from before the reload")\nsaved_x',
    );
    await pg.run();
    expect(await pg.pane('result')).toBe('41');
    await pg.el.locator('button.save').click();
    await expect.poll(() => pg.pane('notes'), { timeout: 30_000 }).toMatch(/^Saved this Python session as "python-[\d-]+T[\d-]+"/);
    const name = /as "([^"]+)"/.exec(await pg.pane('notes'))![1]!;
    await page.screenshot({ path: `${SHOTS}playground-session-saved-1280.png` });

    await page.reload();
    await pg.ready();
    await expect.poll(() => pg.el.locator('select.saved option').allTextContents()).toContain(name);
    await pg.el.locator('select.saved').selectOption(`open:${name}`);
    await expect.poll(() => pg.pane('notes'), { timeout: 60_000 }).toMatch(new RegExp(`^Opened "${name}"`));
    await pg.setCode('(inc(saved_x), open("/tmp/kept.txt").read(), json.dumps([1]))');
    await pg.run();
    expect(await pg.pane('result')).toBe('[42, "from before the reload", "[1]"]');
    expect(o.errors).toEqual([]);
  }, 180_000);

  it('saves and reopens a Lua session, and deletes saved sessions', async () => {
    await page.locator('scriptbox-playground').evaluate((e) => ((e as unknown as { language: string }).language = 'lua'));
    await pg.ready();
    await pg.setCode(
      'lua_kept = { 1, 2, 3 }\nfunction total() local s = 0 for _, v in ipairs(lua_kept) do s = s + v end return s end\nreturn total()',
    );
    await pg.run();
    expect(await pg.pane('result')).toBe('6');
    const name = await pg.el.evaluate((e) => (e as unknown as El).saveSession('lua-test'));
    expect(name).toBe('lua-test');
    await pg.el.locator('button.reset').click();
    await pg.ready();
    await pg.el.locator('select.saved').selectOption('open:lua-test');
    await expect.poll(() => pg.pane('notes'), { timeout: 30_000 }).toMatch(/^Opened "lua-test"/);
    await pg.setCode('return total() + #lua_kept');
    await pg.run();
    expect(await pg.pane('result')).toBe('9');
    await pg.el.locator('select.saved').selectOption('delete:lua-test');
    await expect.poll(() => pg.el.evaluate((e) => (e as unknown as El).savedSessions())).not.toContain('lua-test');
    expect(o.errors).toEqual([]);
  }, 120_000);
});
