// Offline: after one visit the service worker (web/sw.js) has the whole
// build, so with the network off the gallery loads, a notebook opens and runs,
// and the page is still cross-origin isolated (COOP/COEP come back with the
// cached navigation response).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser, openPage, screenshot, closePage, assertNoErrors, baseUrl,
} from '../lib.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Waits until the service worker is active and controls the page. */
async function waitForServiceWorker(page) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
}

test('offline after one visit: gallery, notebook and a ci run from the service worker cache', async () => {
  const page = await openPage(browser, '');
  const context = page.context();
  try {
    await waitForServiceWorker(page);
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), true, 'isolated online');
    const build = await page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('odeon-')));
    assert.equal(build.length, 1, `one odeon cache: ${build}`);

    await context.setOffline(true);
    // The network is really gone, for the service worker too: a file that is
    // not in the cache cannot be fetched.
    const probe = await page.evaluate(() =>
      fetch(`./not-in-the-cache-${Date.now()}.txt`).then((r) => `status ${r.status}`, (e) => `failed: ${e.name}`));
    assert.match(probe, /^failed/, `offline fetch of an uncached file: ${probe}`);

    const responses = [];
    page.on('response', (r) => responses.push(r));
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => window.__odeonReady === true, null, { timeout: 60_000 });
    const card = page.locator('[data-testid=gallery-card][data-id=rectified-flow]');
    await card.waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => navigator.onLine), false, 'the page knows it is offline');
    assert.equal(
      await page.evaluate(() => window.crossOriginIsolated), true,
      'still cross-origin isolated when the page comes from the service worker cache',
    );
    const origin = new URL(baseUrl()).origin;
    const ours = responses.filter((r) => r.url().startsWith(origin));
    assert.ok(ours.some((r) => r.request().isNavigationRequest()), 'the reload was seen');
    const fromNetwork = ours.filter((r) => !r.fromServiceWorker()).map((r) => r.url());
    assert.deepEqual(fromNetwork, [], 'every response came from the service worker');
    assert.ok(ours.some((r) => r.url().endsWith('.wasm')), 'the app wasm came from the cache');

    // Open the notebook as a person would and run it at the small ci profile.
    await card.click();
    await page.waitForSelector('[data-cell=train]');
    assert.match(page.url(), /#\/nb\/rectified-flow$/);
    await page.selectOption('#profile', 'ci');
    await page.click('#run-all');
    await page.waitForFunction(() => window.__odeon.lastRun && window.__odeon.lastRun.done === true, null, { timeout: 180_000 });
    for (const cell of ['data', 'train', 'sample']) {
      assert.equal(await page.locator(`[data-cell=${cell}]`).getAttribute('data-status'), 'done', `${cell} cell`);
    }
    const sliced = await page.evaluate(() => window.__odeon.metrics.sample['sliced W2 (samples)']);
    assert.ok(Number.isFinite(sliced) && sliced > 0, `sliced W2 ${sliced}`);
    await page.locator('.plot[data-key="Samples over the target"]').waitFor();
    await screenshot(page, 'offline-notebook');
    assertNoErrors(page);
  } finally {
    await context.setOffline(false).catch(() => {});
    await closePage(page);
  }
});
