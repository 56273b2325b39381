/**
 * `<scriptbox-playground>` from the package export `scriptbox/playground` (the built
 * dist/web/playground) in a plain HTML page whose only setup is the `scriptbox/vite`
 * plugin: the text content is the code, attributes pick the language and grants, bad
 * attributes are reported in the element, and removing the element stops its engines.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { scriptbox } from '../../src/node/vite-plugin.js';
import { SHOTS, drive, openSite, type Opened } from './harness.js';

let o: Opened;
let page: Page;

beforeAll(async () => {
  o = await openSite({ config: { root: fileURLToPath(new URL('./fixtures/plain/', import.meta.url)), plugins: [scriptbox()] } });
  page = o.page;
}, 180_000);

afterAll(() => o?.close());

describe('<scriptbox-playground> in a plain page', () => {
  it('runs its text content in the language and with the grants its attributes name', async () => {
    const lua = drive(page, '#lua');
    await lua.ready();
    expect(await lua.el.locator('select.lang').inputValue()).toBe('lua');
    expect(await lua.el.locator('.cm-content').innerText()).toContain('local answer = 6 * 7');
    expect(await lua.el.locator('input[name="log"]').isChecked()).toBe(true);
    expect(await lua.el.locator('input[name="kv"]').isChecked()).toBe(true);
    expect(await lua.el.locator('input[name="fetch"]').isChecked()).toBe(false);
    await lua.run();
    expect(await lua.pane('result')).toBe('42');
    expect(await lua.pane('log')).toBe('[info] computed 42\n');
    await expect.poll(() => lua.kv()).toEqual({ answer: '42' });
    await page.screenshot({ path: `${SHOTS}element-plain-page.png`, fullPage: true });
  });

  it('says which attribute values it does not know and what it offers instead', async () => {
    const bad = drive(page, '#bad');
    // Far below the fold: it waits to be seen before it starts an engine.
    expect(await bad.status.getAttribute('data-state')).toBe('idle');
    expect(await bad.status.innerText()).toContain('starts when this comes into view or on Run');
    expect(page.workers().length).toBe(1);
    await bad.el.scrollIntoViewIfNeeded();
    await bad.ready();
    expect(page.workers().length).toBe(2);
    const notes = await bad.pane('notes');
    expect(notes).toContain('language="ruby" is not supported: use "python" or "lua"');
    expect(notes).toContain('capabilities: "teleport" unknown; the playground offers log, kv, channel, fetch, config');
    expect(await bad.el.locator('select.lang').inputValue()).toBe('python');
  });

  it('the element API: language and code properties, run() resolving with the outcome, and a run event', async () => {
    const out = await page.evaluate(async () => {
      const el = document.querySelector('#lua') as HTMLElement & {
        code: string;
        language: string;
        run(): Promise<{ result: { value: unknown } }>;
      };
      const seen: unknown[] = [];
      el.addEventListener('run', (e) => seen.push((e as CustomEvent).detail.result.value));
      el.code = 'return host.kv.get("answer") + 1';
      const r = await el.run();
      return { value: r.result.value, seen, language: el.language };
    });
    expect(out).toEqual({ value: 43, seen: [43], language: 'lua' });
  });

  it('removing the element disposes its engine workers', async () => {
    const workers = () => page.workers().length;
    const before = workers();
    expect(before).toBeGreaterThan(0);
    await page.evaluate(() => document.querySelector('#lua')!.remove());
    await expect.poll(workers, { timeout: 20_000 }).toBeLessThan(before);
    expect(o.errors).toEqual([]);
  });
});
