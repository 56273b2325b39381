/**
 * What the playground tests share: the site served by Vite exactly as `npm start` serves
 * it (with or without COOP/COEP), Debian's Chromium driven by Playwright, and a folder for
 * screenshots (test-results/playground, kept by CI as artifacts).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type InlineConfig, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS } from '../../scripts/system-packages.mjs';

export const SHOTS = fileURLToPath(new URL('../../test-results/playground/', import.meta.url));
mkdirSync(SHOTS, { recursive: true });

export interface Site {
  url: string;
  close(): Promise<void>;
}

let servers = 0;

/** Serves web/ (or another Vite root given by `config`) on a free port. */
export async function serveSite(opts: { isolation?: boolean; config?: InlineConfig } = {}): Promise<Site> {
  // Its own dependency cache: servers of test files running at once would otherwise
  // rebuild one shared cache under each other ("504 Outdated Optimize Dep").
  const cacheDir = fileURLToPath(new URL(`../../node_modules/.vite-test/${process.pid}-${++servers}/`, import.meta.url));
  const before = process.env.SCRIPTBOX_ISOLATION;
  process.env.SCRIPTBOX_ISOLATION = opts.isolation === false ? 'off' : 'on';
  let server: ViteDevServer;
  try {
    server = await createServer({
      configFile: opts.config ? false : fileURLToPath(new URL('../../web/vite.config.ts', import.meta.url)),
      ...opts.config,
      server: { port: 0, host: '127.0.0.1', ...opts.config?.server },
      cacheDir,
      logLevel: 'warn',
      clearScreen: false,
    });
    await server.listen();
  } finally {
    if (before === undefined) delete process.env.SCRIPTBOX_ISOLATION;
    else process.env.SCRIPTBOX_ISOLATION = before;
  }
  const addr = server.httpServer!.address() as { port: number };
  return {
    url: `http://localhost:${addr.port}/`,
    async close() {
      await server.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
}

/** Collects the page's uncaught errors, so a test can assert there were none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Drives one `<scriptbox-playground>` on a page the way a user does. */
export function drive(page: Page, selector = 'scriptbox-playground') {
  const el = page.locator(selector);
  const status = el.locator('.status');
  return {
    el,
    status,
    /** Waits until the engine is up (or failed to start). */
    async ready(timeout = 120_000): Promise<void> {
      await el.locator('.status:is([data-state="ready"], [data-state="error"])').waitFor({ timeout });
    },
    /** Replaces the editor's code: typed key by key (`type`), else inserted at once (no auto-indent). */
    async setCode(code: string, opts: { type?: boolean } = {}): Promise<void> {
      await el.locator('.cm-content').click();
      await page.keyboard.press('ControlOrMeta+a');
      await page.keyboard.press('Delete');
      if (opts.type) await page.keyboard.type(code);
      else await page.keyboard.insertText(code);
    },
    /** Clicks Run (or presses Ctrl+Enter) and waits until the run is over. */
    async run(opts: { keys?: boolean } = {}): Promise<void> {
      const before = await el.evaluate((e) => (e as unknown as { runs: number }).runs);
      if (opts.keys) {
        await el.locator('.cm-content').click();
        await page.keyboard.press('Control+Enter');
      } else {
        await el.locator('button.run').click();
      }
      await page.waitForFunction(
        ([sel, n]) => (document.querySelector(sel as string) as unknown as { runs: number }).runs > (n as number),
        [selector, before] as const,
        { timeout: 0 },
      );
    },
    /** Runs `code` (an endless loop), presses Stop once it has run `afterMs`, and waits for the run to end. */
    async runAndStop(code: string, afterMs = 300): Promise<void> {
      await this.setCode(code);
      const done = this.run();
      await el.locator('button.stop:enabled').waitFor();
      await page.waitForTimeout(afterMs);
      await el.locator('button.stop').click();
      await done;
    },
    /** The text of an output pane ('' when it is hidden). */
    async pane(name: 'result' | 'error' | 'stdout' | 'stderr' | 'log' | 'notes'): Promise<string> {
      const pane = el.locator(`.pane.${name}`);
      return (await pane.isVisible()) ? pane.locator('pre').innerText() : '';
    },
    /** The kv inspector's rows as { key: shown value }. */
    async kv(): Promise<Record<string, string>> {
      const rows = await el.locator('.kv tbody tr').all();
      const out: Record<string, string> = {};
      for (const r of rows) out[await r.locator('td').nth(0).innerText()] = await r.locator('td').nth(1).innerText();
      return out;
    },
  };
}

export interface Opened {
  site: Site;
  browser: Browser;
  page: Page;
  /** Uncaught errors of the page so far. */
  errors: string[];
  close(): Promise<void>;
}

/** Serves a site, launches Chromium and opens the site's page at `path` (1280x800). */
export async function openSite(opts: Parameters<typeof serveSite>[0] & { path?: string } = {}): Promise<Opened> {
  const site = await serveSite(opts);
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = pageErrors(page);
  await page.goto(site.url + (opts.path ?? ''));
  return {
    site,
    browser,
    page,
    errors,
    async close() {
      await browser.close();
      await site.close();
    },
  };
}
