// Smoke test: the gallery page loads, mounts and reports no errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, screenshot, closePage } from '../lib.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('gallery loads without errors', async () => {
  const page = await openPage(browser, '/');
  try {
    const title = await page.title();
    assert.match(title, /Odeon/, `page title was ${JSON.stringify(title)}`);
    await screenshot(page, 'gallery');
    assert.deepEqual(page.__pageErrors, [], 'uncaught page errors');
    assert.deepEqual(page.__panics, [], 'Rust panics in the console');
  } finally {
    await closePage(page);
  }
});
