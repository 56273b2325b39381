/**
 * The playground page in real Chromium, served as `npm start` serves it (cross-origin
 * isolated): typing and running, REPL state, Stop, capabilities, the kv inspector, the
 * examples menu, and the phone layout. Screenshots go to test-results/playground.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SHOTS, drive, openSite, pageErrors, type Opened } from './harness.js';

let o: Opened;
let page: Page;
let pg: ReturnType<typeof drive>;

beforeAll(async () => {
  o = await openSite();
  page = o.page;
  pg = drive(page);
  await pg.ready();
}, 180_000);

afterAll(() => o?.close());

describe('the playground page (cross-origin isolated)', () => {
  it('boots Python in a worker over shared memory and says so in the status line', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(await pg.status.getAttribute('data-state')).toBe('ready');
    expect(await pg.status.innerText()).toMatch(/Python ready.*booted in .*shared memory/s);
    expect(await pg.el.locator('.isolation').isVisible()).toBe(false);
    await page.screenshot({ path: `${SHOTS}playground-ready-1280.png` });
    // The page's own example: output, result, host.log and the kv inspector at once.
    await pg.run();
    expect(await pg.pane('stdout')).toBe('Hello, playground!\n');
    expect(await pg.pane('log')).toBe('[info] greeting someone\n');
    await expect.poll(() => pg.kv()).toEqual({ greeted: '1' });
    await page.screenshot({ path: `${SHOTS}playground-run-1280.png` });
  });

  it('runs typed code with Ctrl+Enter, shows stdout and the result, and keeps names between runs', async () => {
    await pg.setCode('x = 21; print("hi", x * 2); x', { type: true });
    await pg.run({ keys: true });
    expect(await pg.pane('stdout')).toBe('hi 42\n');
    expect(await pg.pane('result')).toBe('21');
    expect(await pg.status.innerText()).toMatch(/ran in .* · heap \d/);
    await pg.setCode('x + 1');
    await pg.run();
    expect(await pg.pane('result')).toBe('22');
    expect(await pg.pane('stdout')).toBe('');
  });

  it('shows a failure with its traceback in the error pane', async () => {
    await pg.setCode('def f(values):\n    return sum(values) / len(values)\n\nf([])\n');
    await pg.run();
    const err = await pg.pane('error');
    expect(err).toContain('Traceback (most recent call last)');
    expect(err).toContain('ZeroDivisionError: division by zero');
    expect(await pg.status.getAttribute('data-state')).toBe('error');
    await page.screenshot({ path: `${SHOTS}playground-error-1280.png` });
  });

  it('Stop ends an endless loop in place, and the next run still has the session', async () => {
    await pg.runAndStop('while True:\n    pass\n', 400);
    expect(await pg.pane('error')).toContain('Interrupted');
    await pg.setCode('x * 2');
    await pg.run();
    expect(await pg.pane('result')).toBe('42');
    expect(await pg.pane('notes')).toBe('');
  });

  it('shows rich outputs: images and SVG as img, HTML in a script-less sandboxed iframe, markdown as text', async () => {
    await pg.setCode(
      [
        'import host',
        'host.display(\'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="red"/></svg>\', \'image/svg+xml\')',
        "host.display('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'image/png')",
        'class Page:',
        '    def _repr_html_(self): return \'<p id="p">hello</p><script>parent.document.title = "pwned"</script>\'',
        'display(Page())',
        "host.display('# title', 'text/markdown')",
      ].join('\n'),
    );
    await pg.run();
    expect(await pg.pane('error')).toBe('');
    const items = pg.el.locator('.pane.outputs figure.output');
    expect(await items.count()).toBe(4);
    expect(await items.evaluateAll((fs) => fs.map((f) => (f as HTMLElement).dataset.mime))).toEqual([
      'image/svg+xml',
      'image/png',
      'text/html',
      'text/markdown',
    ]);
    // Both images decode (an <img>, never inline SVG DOM).
    await expect
      .poll(() => items.locator('img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth)))
      .toEqual([40, 1]);
    const frame = items.nth(2).locator('iframe');
    expect(await frame.getAttribute('sandbox')).toBe('');
    expect(await page.frameLocator('scriptbox-playground iframe').locator('#p').innerText()).toBe('hello');
    // The HTML's script never ran.
    expect(await page.title()).not.toBe('pwned');
    expect(await items.nth(3).locator('pre').innerText()).toBe('# title');
    await page.screenshot({ path: `${SHOTS}playground-outputs-1280.png` });
  });

  it('input() shows a prompt row; Enter answers it', async () => {
    await pg.setCode("name = input('Your name? ')\nprint('hello', name)");
    const done = pg.run();
    const row = pg.el.locator('.input-row');
    await row.waitFor({ state: 'visible' });
    expect(await row.locator('.prompt').innerText()).toBe('Your name?');
    await row.locator('input').fill('Ada');
    await row.locator('input').press('Enter');
    await done;
    expect(await pg.pane('stdout')).toBe('Your name? hello Ada\n');
    expect(await row.isVisible()).toBe(false);
  });

  it('a capability that is off gives PermissionError; turning it on starts a new session where the call works', async () => {
    await page.locator('scriptbox-playground input[name="kv"]').uncheck();
    await pg.setCode('import host\nhost.kv.get("visits", 0)\n');
    await pg.run();
    expect(await pg.pane('error')).toMatch(/PermissionError: .*host\.kv\.get.*kv\.read/);
    await page.screenshot({ path: `${SHOTS}playground-denied-1280.png` });
    await page.locator('scriptbox-playground input[name="kv"]').check();
    await pg.run();
    expect(await pg.pane('error')).toBe('');
    expect(await pg.pane('result')).toBe('0');
  });

  it("fetch and config: host.fetch reaches the page's own origin only when both are on", async () => {
    await page.selectOption('scriptbox-playground select.examples', 'fetch.py');
    expect(await pg.pane('notes')).toContain('This example needs fetch, config');
    await pg.run();
    expect(await pg.pane('error')).toMatch(/PermissionError: .*host\.config\.get.*config\.read/);
    await page.locator('scriptbox-playground input[name="fetch"]').check();
    await page.locator('scriptbox-playground input[name="config"]').check();
    await pg.run();
    expect(await pg.pane('stdout')).toBe('200 text/html\n');
    expect(await pg.pane('result')).toBe('True');
    await pg.setCode('import host\nhost.fetch("https://example.com/")\n');
    await pg.run();
    expect(await pg.pane('error')).toContain('example.com is not in this engine');
    await page.locator('scriptbox-playground input[name="fetch"]').uncheck();
    await page.locator('scriptbox-playground input[name="config"]').uncheck();
  });

  it('the kv inspector shows writes while the script still runs, from both languages', async () => {
    await pg.setCode('import host, time\nhost.kv.set("live", {"step": 1})\ntime.sleep(60)\n');
    const done = pg.run();
    await expect.poll(() => pg.kv(), { timeout: 30_000 }).toMatchObject({ live: '{"step": 1}' });
    // Still running: the inspector showed the write before the script ended.
    expect(await page.locator('scriptbox-playground button.stop').isEnabled()).toBe(true);
    await page.locator('scriptbox-playground button.stop').click();
    await done;
    expect(await pg.pane('error')).toContain('Interrupted');
    await page.selectOption('scriptbox-playground select.examples', 'counter.py');
    await pg.run();
    expect(await pg.pane('stdout')).toBe('visit number 1\n');
    await expect.poll(() => pg.kv()).toMatchObject({ visits: '1' });
    // Lua shares the element's store: its counter continues Python's.
    await page.selectOption('scriptbox-playground select.lang', 'lua');
    await pg.ready();
    await page.selectOption('scriptbox-playground select.examples', 'counter.lua');
    await pg.run();
    expect(await pg.pane('result')).toBe('2');
    await expect.poll(() => pg.kv()).toMatchObject({ visits: '2' });
    expect((await pg.kv()).last).toContain('"by": "lua"');
    await page.screenshot({ path: `${SHOTS}playground-kv-1280.png` });
    await page.locator('scriptbox-playground button.kv-clear').click();
    await expect.poll(() => pg.kv()).toEqual({});
  });

  it('Lua: Stop ends an endless loop, a denied call says PermissionError, Reset forgets names', async () => {
    await pg.setCode('counter = 41');
    await pg.run();
    await pg.runAndStop('while true do end', 300);
    expect(await pg.pane('error')).toContain('Interrupted');
    await pg.setCode('return counter + 1');
    await pg.run();
    expect(await pg.pane('result')).toBe('42');
    await pg.setCode('host.channel.send("c", 1)');
    await pg.run();
    expect(await pg.pane('error')).toMatch(/PermissionError.*host\.channel\.send.*channel\.send/);
    await pg.el.locator('button.reset').click();
    await pg.ready();
    await pg.setCode('return counter');
    await pg.run();
    expect(await pg.pane('result')).toBe('');
    expect(await pg.pane('error')).toBe('');
  });

  it('is usable on a 390-wide phone screen', async () => {
    const phone = await o.browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const phoneErrors = pageErrors(phone);
    try {
      await phone.goto(`${o.site.url}?lang=lua`);
      const m = drive(phone);
      await m.ready();
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      for (const b of ['run', 'stop', 'reset']) {
        const box = (await m.el.locator(`button.${b}`).boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(390);
      }
      await m.el.locator('button.run').tap();
      await phone.waitForFunction(() => (document.querySelector('scriptbox-playground') as unknown as { runs: number }).runs > 0);
      expect(await m.pane('result')).toBe('3');
      await phone.screenshot({ path: `${SHOTS}playground-390.png`, fullPage: true });
      await phone.goto(`${o.site.url}embed.html`);
      await drive(phone).ready();
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await phone.screenshot({ path: `${SHOTS}embed-390.png`, fullPage: true });
      expect(phoneErrors).toEqual([]);
    } finally {
      await phone.close();
    }
  });

  it('left no uncaught errors on the page', () => {
    expect(o.errors).toEqual([]);
  });
});
