// The rectified-flow notebook end to end, as a person would use it:
// gallery -> notebook -> edit -> run -> plots and metrics -> share link ->
// identical numbers in a fresh page; broken links; Stop; the WebGPU check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser, openPage, screenshot, closePage, assertNoErrors, noIsolationUrl,
} from '../lib.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const TRAIN = '[data-cell=train] textarea';

/** Replaces the default training steps (2000) in the train cell. */
async function setTrainingSteps(page, steps) {
  const editor = page.locator(TRAIN);
  const source = await editor.inputValue();
  assert.match(source, /\b2000\b/, 'the shipped train cell sets 2000 steps');
  await editor.fill(source.replace(/\b2000\b/, String(steps)));
}

async function runAllAndWait(page, timeout = 180_000) {
  await page.click('#run-all');
  await page.waitForFunction(() => window.__odeon.lastRun && window.__odeon.lastRun.done === true, null, { timeout });
}

async function metrics(page) {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.__odeon.metrics)));
}

async function shippedTrainSource(page) {
  // The page's own shipped copy: open the notebook fresh and read the cell.
  const fresh = await openPage(browser, '#/nb/rectified-flow');
  const source = await fresh.locator(TRAIN).inputValue();
  await closePage(fresh);
  return source;
}

test('gallery -> edit -> run -> share link reproduces the numbers', async () => {
  const page = await openPage(browser, '');
  const card = page.locator('[data-testid=gallery-card][data-id=rectified-flow]');
  await card.waitFor();
  assert.match(await card.innerText(), /Rectified flow/);
  await card.click();
  await page.waitForSelector(TRAIN);
  // Prose math is MathML rendered by Rust.
  assert.ok(await page.locator('.prose math').count() > 3, 'prose math renders as MathML');
  assert.equal(await page.locator('.prose merror').count(), 0, 'no LaTeX errors in the prose');

  await setTrainingSteps(page, 400);
  await page.click('#run-all');
  // The progress bar moves: seen part-way, then full.
  await page.waitForFunction(() => {
    const bar = document.querySelector('[data-cell=train] progress');
    return bar && bar.value > 0 && bar.value < bar.max;
  }, null, { timeout: 60_000 });
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 180_000 });
  const bar = page.locator('[data-cell=train] progress');
  assert.equal(await bar.getAttribute('value'), '400');

  // Samples plot over the target, a live loss curve, metrics in the table.
  const samples = page.locator('.plot[data-key="Samples over the target"]');
  await samples.waitFor();
  assert.ok(await samples.locator('g[data-series=samples] circle').count() > 1000, 'samples are drawn');
  assert.ok(await page.locator('.plot[data-key=loss] path').count() >= 1, 'loss curve is drawn');
  const first = await metrics(page);
  const sw = first.sample['sliced W2 (samples)'];
  const floor = first.sample['sliced W2 (fresh target draw)'];
  assert.ok(Number.isFinite(sw) && sw > 0, `sliced W2 ${sw}`);
  assert.ok(sw < 4 * floor, `400 steps already put samples near the target: ${sw} vs floor ${floor}`);
  assert.equal(await page.locator('[data-cell=sample]').getAttribute('data-status'), 'done');
  // Solver statistics from a cell: Dopri5's step sizes along t, and its NFE.
  assert.ok(await page.locator('.plot[data-key="Dopri5 step size along t"] path').count() >= 1, 'step-size plot');
  assert.ok(first.adaptive['adaptive NFE'] >= 6, `adaptive NFE ${first.adaptive['adaptive NFE']}`);
  await screenshot(page, 'notebook-after-run');

  // Share link, opened in a fresh page, restores the edit and the numbers.
  await page.click('#share');
  const url = await page.locator('#share-url').inputValue();
  assert.match(url, /#\/nb\/rectified-flow\?s=v1\./);
  assertNoErrors(page);
  await closePage(page);

  const shared = await openPage(browser, url.slice(url.indexOf('#')));
  await shared.waitForSelector('[data-testid=from-link]');
  assert.match(await shared.locator(TRAIN).inputValue(), /\b400\b/, 'the edit travels in the link');
  await runAllAndWait(shared);
  assert.deepEqual(await metrics(shared), first, 'same link, same seeds, same numbers');
  await screenshot(shared, 'notebook-from-share-link');
  assertNoErrors(shared);
  await closePage(shared);
});

test('broken share links show a clear message and the shipped notebook', async () => {
  const shipped = await shippedTrainSource();
  const good = await openPage(browser, '#/nb/rectified-flow');
  await good.click('#share');
  const link = (await good.locator('#share-url').inputValue()).split('?s=')[1];
  await closePage(good);
  const cases = {
    garbage: 'not-a-link',
    truncated: link.slice(0, Math.floor(link.length / 2)),
    'wrong version': link.replace(/^v1\./, 'v7.'),
    'bad characters': 'v1.@@@@',
  };
  for (const [name, payload] of Object.entries(cases)) {
    const page = await openPage(browser, `#/nb/rectified-flow?s=${payload}`);
    const banner = page.locator('[data-testid=link-error]');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.match(text, /could not be opened/, `${name}: ${text}`);
    assert.match(text, /shipped notebook/, `${name}: ${text}`);
    if (name === 'wrong version') assert.match(text, /version 7/);
    assert.equal(await page.locator(TRAIN).inputValue(), shipped, `${name}: shipped cell shown`);
    if (name === 'truncated') await screenshot(page, 'broken-link');
    assertNoErrors(page);
    await closePage(page);
  }
});

test('script errors name the line; the page keeps working', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  await page.locator('[data-cell=data] textarea').fill('let target = eight_gaussians();\nlet x = no_such_function(3);');
  await page.click('[data-cell=data] .run-cell');
  const message = page.locator('[data-cell=data] .cell-message.error');
  await message.waitFor();
  const text = await message.innerText();
  assert.match(text, /line 2/);
  assert.match(text, /no_such_function/);
  assert.equal(await page.locator('[data-cell=data]').getAttribute('data-status'), 'failed');
  assertNoErrors(page);
  await closePage(page);
});

for (const isolated of [true, false]) {
  test(`Stop ends a long run quickly (${isolated ? 'shared-memory flag' : 'worker restart'})`, async () => {
    const page = await openPage(browser, '#/nb/rectified-flow', isolated ? {} : { url: noIsolationUrl() });
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), isolated);
    await setTrainingSteps(page, 200000);
    await page.click('#run-all');
    await page.waitForFunction(() => {
      const bar = document.querySelector('[data-cell=train] progress');
      return bar && bar.value > 2;
    }, null, { timeout: 60_000 });
    const started = Date.now();
    await page.click('#stop');
    await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 10_000 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `Stop took ${elapsed} ms`);
    assert.equal(await page.locator('[data-cell=train]').getAttribute('data-status'), 'stopped');
    if (!isolated) {
      await page.locator('[data-testid=kernel-note]').waitFor();
    }
    // The kernel still works after a stop.
    await page.locator('[data-cell=data] .run-cell').click();
    await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 30_000 });
    assert.equal(await page.locator('[data-cell=data]').getAttribute('data-status'), 'done');
    await screenshot(page, `stopped-${isolated ? 'isolated' : 'restarted'}`);
    assertNoErrors(page);
    await closePage(page);
  });
}

test('WebGPU compute from the worker matches the CPU', async () => {
  const page = await openPage(browser, '');
  await page.waitForFunction(() => window.__odeon.gpu !== undefined, null, { timeout: 30_000 });
  const adapter = await page.evaluate(() => window.__odeon.gpu);
  assert.ok(adapter, 'Chromium with --enable-unsafe-webgpu exposes an adapter (SwiftShader)');
  assert.match(await page.locator('#backend').innerText(), /Backend: CPU \(wasm\)[\s\S]*WebGPU adapter/);
  await page.click('#gpu-check');
  await page.waitForFunction(() => window.__odeon.gpuCheck && window.__odeon.gpuCheck.message, null, { timeout: 60_000 });
  const check = await page.evaluate(() => window.__odeon.gpuCheck);
  assert.equal(check.ok, true, check.message);
  assert.ok(check.maxAbsError < 1e-3);
  await screenshot(page, 'gpu-check');
  assertNoErrors(page);
  await closePage(page);
});

test('the ci profile shrinks the run; Reset restores the shipped cells', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  const shipped = await page.locator(TRAIN).inputValue();
  await page.selectOption('#profile', 'ci');
  await runAllAndWait(page);
  assert.equal(await page.locator('[data-cell=train] progress').getAttribute('max'), '150', 'ci profile trains 150 steps');
  assert.equal(await page.locator('[data-cell=sample]').getAttribute('data-status'), 'done');

  await page.locator(TRAIN).fill('let steps = 7;');
  await page.click('#reset');
  await page.waitForFunction((s) => document.querySelector('[data-cell=train] textarea').value === s, shipped);
  assert.equal(await page.locator('#profile').inputValue(), 'default');
  assertNoErrors(page);
  await closePage(page);
});

test('keyboard runs cells; edits survive a reload and a bad link', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  const shipped = await page.locator(TRAIN).inputValue();
  // Ctrl+Enter runs the focused cell; Shift+Enter runs it and moves on.
  await page.locator('[data-cell=data] textarea').focus();
  await page.keyboard.press('Control+Enter');
  await page.waitForFunction(() => document.querySelector('[data-cell=data]').dataset.status === 'done', null, { timeout: 30_000 });
  await page.locator('[data-cell=data] textarea').focus();
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(() => document.activeElement && document.activeElement.closest('[data-cell=train]'), null, { timeout: 10_000 });
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 30_000 });

  // Edits are saved as you type and restored after a reload.
  await setTrainingSteps(page, 321);
  await page.reload();
  await page.waitForFunction(() => window.__odeonReady === true);
  await page.locator('[data-testid=restored-edits]').waitFor();
  assert.match(await page.locator(TRAIN).inputValue(), /\b321\b/, 'the edit survived the reload');

  // A bad link shows the shipped notebook but keeps the saved edits.
  await page.goto(new URL('#/nb/rectified-flow?s=v1.@@@', page.url()).toString());
  const banner = page.locator('[data-testid=link-error]');
  await banner.waitFor();
  assert.match(await banner.innerText(), /Your own edits are kept/);
  assert.equal(await page.locator(TRAIN).inputValue(), shipped);
  await banner.locator('a').click();
  await page.locator('[data-testid=restored-edits]').waitFor();
  assert.match(await page.locator(TRAIN).inputValue(), /\b321\b/, 'edits are back');
  await screenshot(page, 'restored-edits');

  // Reset forgets them.
  await page.click('#reset');
  await page.reload();
  await page.waitForFunction(() => window.__odeonReady === true);
  assert.equal(await page.locator(TRAIN).inputValue(), shipped);
  assert.equal(await page.locator('[data-testid=restored-edits]').count(), 0);
  assertNoErrors(page);
  await closePage(page);
});
