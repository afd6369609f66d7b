// Shared helpers for Odeon's browser end-to-end tests.
//
// Tests run under `node --test` and drive Debian's /usr/bin/chromium through
// playwright-core (never `npx playwright install`: it downloads a browser).
// WebGPU runs on SwiftShader (a CPU fallback adapter), see shared/BROWSER.md.

import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Folder where `screenshot()` writes PNGs (gitignored). */
export const SCREENSHOT_DIR = join(here, 'screenshots');

export { CHROMIUM };

/** Default timeout for the app to report `window.__odeonReady`. */
export const READY_TIMEOUT_MS = 60_000;

function envUrl(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set. Run the browser tests through \`cargo xtask test\` ` +
        `(or \`cargo xtask e2e\` after \`cargo xtask build\`), which serves dist/ ` +
        `and sets ODEON_URL / ODEON_URL_NO_ISOLATION.`,
    );
  }
  return value.endsWith('/') ? value : `${value}/`;
}

/** Base URL of the cross-origin-isolated server (COOP/COEP set), ends with '/'. */
export function baseUrl() {
  return envUrl('ODEON_URL');
}

/** Base URL of the server without COOP/COEP (non-isolated fallback), ends with '/'. */
export function noIsolationUrl() {
  return envUrl('ODEON_URL_NO_ISOLATION');
}

/** Launch headless Chromium with WebGPU enabled and networking quiet. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * Open `path` (relative to the base URL, e.g. '' or 'notebooks/intro') in a
 * fresh context and wait for `window.__odeonReady === true`.
 *
 * The returned page carries:
 *  - `page.__console`: every console message as `{ type, text }`;
 *  - `page.__consoleErrors`: texts of console messages of type 'error';
 *  - `page.__pageErrors`: uncaught exceptions (strings), including
 *    errors reported from workers;
 *  - `page.__panics`: console texts mentioning a Rust panic ("panicked").
 *
 * Options: `url` (base URL, default `baseUrl()`), `timeout` (ms, default 60 s),
 * `waitReady` (default true).
 */
export async function openPage(browser, path = '', options = {}) {
  const base = options.url ?? baseUrl();
  const timeout = options.timeout ?? READY_TIMEOUT_MS;
  const context = await browser.newContext();
  const page = await context.newPage();
  page.__console = [];
  page.__consoleErrors = [];
  page.__pageErrors = [];
  page.__panics = [];
  const record = (type, text) => {
    page.__console.push({ type, text });
    if (type === 'error') page.__consoleErrors.push(text);
    if (text.includes('panicked')) page.__panics.push(text);
  };
  page.on('console', (msg) => record(msg.type(), msg.text()));
  page.on('pageerror', (err) => {
    const text = String(err?.stack ?? err);
    page.__pageErrors.push(text);
    if (text.includes('panicked')) page.__panics.push(text);
  });
  page.on('worker', (worker) => {
    worker.on('console', (msg) => record(msg.type(), `[worker] ${msg.text()}`));
  });
  const target = new URL(path.replace(/^\//, ''), base).toString();
  await page.goto(target, { waitUntil: 'domcontentloaded', timeout });
  if (options.waitReady ?? true) {
    try {
      await page.waitForFunction(() => window.__odeonReady === true, null, { timeout });
    } catch (err) {
      throw new Error(
        `${target}: window.__odeonReady not set within ${timeout} ms.\n` +
          `page errors: ${JSON.stringify(page.__pageErrors)}\n` +
          `console: ${JSON.stringify(page.__console.slice(-20))}\n(${err.message})`,
      );
    }
  }
  return page;
}

/** Save a full-page PNG to e2e/screenshots/<name>.png; returns the path. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  // CodeMirror measures an editor's line heights only once it has been in
  // view; a full-page capture never scrolls, so cells below the fold would
  // show line numbers at estimated heights. Scroll through the page first,
  // as a reader would, then back to where it was.
  await page.evaluate(async () => {
    const start = window.scrollY;
    const frame = () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    for (let y = 0; y < document.documentElement.scrollHeight; y += Math.max(200, window.innerHeight - 100)) {
      window.scrollTo(0, y);
      await frame();
    }
    window.scrollTo(0, start);
    await frame();
  });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Close the page's context (and with it the page). */
export async function closePage(page) {
  await page.context().close();
}

/** Fail with a readable message when the page saw an uncaught error or a panic. */
export function assertNoErrors(page) {
  const problems = [...page.__pageErrors, ...page.__panics];
  if (problems.length > 0) {
    throw new Error(`page reported errors:\n${problems.join('\n---\n')}`);
  }
}
