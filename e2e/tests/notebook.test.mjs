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

/** The text of a cell, as the page holds it. */
async function cellSource(page, cell) {
  await page.waitForFunction((c) => window.__odeon?.sources?.[c] !== undefined, cell);
  return page.evaluate((c) => window.__odeon.sources[c], cell);
}

/** Replaces a cell's text by typing into its editor, as a person would. */
async function setCellSource(page, cell, text) {
  const box = page.locator(`[data-cell=${cell}] .cell-editor .cm-content`);
  await box.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
  await page.waitForFunction(([c, t]) => window.__odeon.sources[c] === t, [cell, text]);
}

/** Replaces the training steps of a profile (default 2000, ci 150) in the train cell. */
async function setTrainingSteps(page, steps, shipped = 2000) {
  const source = await cellSource(page, 'train');
  const pattern = new RegExp(`\\b${shipped}\\b`);
  assert.match(source, pattern, `the shipped train cell sets ${shipped} steps`);
  await setCellSource(page, 'train', source.replace(pattern, String(steps)));
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
  const source = await cellSource(fresh, 'train');
  await closePage(fresh);
  return source;
}

/** Records the longest gap between animation frames from now on. */
async function startHeartbeat(page) {
  await page.evaluate(() => {
    window.__beat = { last: performance.now(), worst: 0, on: true };
    const tick = (now) => {
      const b = window.__beat;
      if (!b.on) return;
      b.worst = Math.max(b.worst, now - b.last);
      b.last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

async function stopHeartbeat(page) {
  return page.evaluate(() => { window.__beat.on = false; return window.__beat.worst; });
}

test('gallery -> edit -> run -> live plots -> downloads -> share link reproduces the numbers', async () => {
  const page = await openPage(browser, '');
  const card = page.locator('[data-testid=gallery-card][data-id=rectified-flow]');
  await card.waitFor();
  assert.match(await card.innerText(), /Rectified flow/);
  await card.click();
  await page.waitForSelector('[data-cell=train] .cm-content');
  // Prose math is MathML rendered by Rust.
  assert.ok(await page.locator('.prose math').count() > 3, 'prose math renders as MathML');
  assert.equal(await page.locator('.prose merror').count(), 0, 'no LaTeX errors in the prose');

  // The ci profile keeps the reflow cells small; its 150 training steps
  // become 400, enough to put samples near the target.
  await page.selectOption('#profile', 'ci');
  await setTrainingSteps(page, 400, 150);
  // The edited cell is marked; the others are not.
  assert.equal(await page.locator('[data-cell=train]').getAttribute('data-dirty'), 'true');
  assert.equal(await page.locator('[data-cell=sample]').getAttribute('data-dirty'), 'false');
  await startHeartbeat(page);
  await page.click('#run-all');
  // The progress bar moves (with an ETA) and the loss curve is drawn live,
  // before training ends.
  await page.waitForFunction(() => {
    const bar = document.querySelector('[data-cell=train] progress');
    return bar && bar.value > 0 && bar.value < bar.max
      && document.querySelector('[data-cell=train] .eta')
      && document.querySelector('[data-cell=train] .plot[data-key=loss] path');
  }, null, { timeout: 60_000 });
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 180_000 });
  const worstFrameGap = await stopHeartbeat(page);
  assert.ok(worstFrameGap < 500, `the page stayed responsive while training (worst frame gap ${worstFrameGap.toFixed(0)} ms)`);
  assert.equal(await page.locator('[data-cell=train] progress').getAttribute('value'), '400');

  // Samples over the target, heat map, vector field, table, metrics, criterion.
  const samples = page.locator('.plot[data-key="Samples over the target"]');
  await samples.waitFor();
  assert.ok(await samples.locator('g[data-series=samples] circle').count() > 1000, 'samples are drawn');
  assert.ok(await page.locator('[data-cell=data] .heatmap rect').count() > 100, 'density heat map');
  assert.ok(await page.locator('[data-cell=field] g[data-series=field] line').count() >= 200, 'velocity arrows');
  const table = page.locator('[data-cell=straightness] table.data-table');
  assert.equal(await table.locator('tbody tr').count(), 3, 'straightness table: 1-RF, 2-RF, 2-RF++');
  const oneStep = page.locator('.plot[data-key="One Euler step from the same noise"]');
  for (const series of ['1-RF', '2-RF', '2-RF++']) {
    assert.ok(await oneStep.locator(`g[data-series="${series}"] circle`).count() >= 300, `one-step samples of ${series}`);
  }
  assert.equal(await page.locator('[data-cell=one-step] tr.criterion').count(), 2, 'the ordering criteria');
  const criterion = page.locator('[data-cell=sample] tr.criterion');
  assert.match(await criterion.innerText(), /Criterion: sliced W2 at most 1\.5x/);
  assert.match(await criterion.getAttribute('data-passed'), /^(true|false)$/);
  const first = await metrics(page);
  const sw = first.sample['sliced W2 (samples)'];
  const floor = first.sample['sliced W2 (fresh target draw)'];
  assert.ok(Number.isFinite(sw) && sw > 0, `sliced W2 ${sw}`);
  assert.ok(sw < 4 * floor, `400 steps already put samples near the target: ${sw} vs floor ${floor}`);
  const passed = await page.evaluate(() => window.__odeon.criteria.sample);
  assert.equal(Object.values(passed)[0], sw <= 1.5 * floor, 'the verdict follows the numbers');
  assert.ok(await page.locator('.plot[data-key="Dopri5 step size along t"] path').count() >= 1, 'step-size plot');
  assert.ok(first.adaptive['adaptive NFE'] >= 6, `adaptive NFE ${first.adaptive['adaptive NFE']}`);
  await screenshot(page, 'notebook-after-run');

  // Every plot downloads as SVG, PNG and CSV.
  const plot = page.locator('[data-cell=sample] .plot').first();
  for (const [format, check] of [
    ['svg', (text) => assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)],
    ['csv', (text) => { assert.match(text, /^series,x,y\n/); assert.ok(text.split('\n').length > 4000, 'all points'); }],
    ['png', (_, bytes) => assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])],
  ]) {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      plot.locator(`button.download[data-format=${format}]`).click(),
    ]);
    assert.equal(download.suggestedFilename(), `sample-samples-over-the-target.${format}`);
    const stream = await download.createReadStream();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    check(bytes.toString('utf8'), bytes);
  }

  // Share link: the copy button confirms, the link is short, and a fresh page
  // restores the edit and the numbers.
  await page.click('#share');
  await page.locator('[data-testid=copied]').waitFor();
  assert.match(await page.locator('[data-testid=copied]').innerText(), /Link copied/);
  const url = await page.locator('#share-url').inputValue();
  assert.match(url, /#\/nb\/rectified-flow\?s=v2\./);
  assert.ok(url.length < 4096, `link is ${url.length} characters`);
  assertNoErrors(page);
  await closePage(page);

  const shared = await openPage(browser, url.slice(url.indexOf('#')));
  await shared.waitForSelector('[data-testid=from-link]');
  assert.match(await cellSource(shared, 'train'), /\b400\b/, 'the edit travels in the link');
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
    'future version': link.replace(/^v2\./, 'v7.'),
    'bad characters': 'v2.@@@@',
  };
  for (const [name, payload] of Object.entries(cases)) {
    const page = await openPage(browser, `#/nb/rectified-flow?s=${payload}`);
    const banner = page.locator('[data-testid=link-error]');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.match(text, /could not be opened/, `${name}: ${text}`);
    assert.match(text, /shipped notebook/, `${name}: ${text}`);
    if (name === 'future version') assert.match(text, /version 7.*newer Odeon/);
    assert.equal(await cellSource(page, 'train'), shipped, `${name}: shipped cell shown`);
    if (name === 'truncated') await screenshot(page, 'broken-link');
    assertNoErrors(page);
    await closePage(page);
  }
});

test('bad scripts get messages in words at their line; the page keeps working', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  const cases = [
    ['syntax error', 'let target = eight_gaussians();\nlet x = (1 + ;', /line 2/],
    ['unknown function', 'let target = eight_gaussians();\nlet x = no_such_function(3);', /line 2.*no function no_such_function/s],
    ['shape mismatch', 'let m = velocity_mlp(#{ hidden: 8, layers: 1 });\nlet x = sample_rectified_flow(m, gaussian_noise(10, 3, 0), 5);', /line 2.*2-D points, but got points of shape \[10, 3\]/s],
    ['NaN divergence', 'let m = velocity_mlp(#{ hidden: 8, layers: 1 });\nlet target = eight_gaussians();\ntrain_rectified_flow(m, ring_mixture(8, 1.0e30, 1.0), #{ steps: 5, batch: 8 });', /line 3.*diverged.*smaller learning rate/s],
  ];
  for (const [name, source, expected] of cases) {
    await setCellSource(page, 'data', source);
    await page.click('[data-cell=data] .run-cell');
    await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 30_000 });
    const message = page.locator('[data-cell=data] .cell-message.error');
    await message.waitFor();
    assert.match(await message.innerText(), expected, name);
    assert.equal(await page.locator('[data-cell=data]').getAttribute('data-status'), 'failed', name);
    assert.equal(await cellSource(page, 'data'), source, `${name}: the edit is kept`);
    if (name === 'shape mismatch') await screenshot(page, 'script-error');
  }
  // A runaway loop is stopped by the user; the edit and the kernel survive.
  const runaway = 'let i = 0;\nloop { i += 1; }';
  await setCellSource(page, 'data', runaway);
  await page.click('[data-cell=data] .run-cell');
  await page.waitForFunction(() => document.querySelector('[data-cell=data]').dataset.status === 'running');
  await page.waitForTimeout(500);
  await page.click('#stop');
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 5_000 });
  assert.equal(await page.locator('[data-cell=data]').getAttribute('data-status'), 'stopped');
  assert.equal(await cellSource(page, 'data'), runaway);
  // Reset cell brings back the shipped source, which runs.
  await page.click('[data-cell=data] .reset-cell');
  assert.equal(await page.locator('[data-cell=data]').getAttribute('data-dirty'), 'false');
  await page.click('[data-cell=data] .run-cell');
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 30_000 });
  assert.equal(await page.locator('[data-cell=data]').getAttribute('data-status'), 'done');
  assertNoErrors(page);
  await closePage(page);
});

for (const isolated of [true, false]) {
  test(`Stop ends a long run quickly (${isolated ? 'shared-memory flag' : 'worker restart'})`, async () => {
    const page = await openPage(browser, '#/nb/rectified-flow', isolated ? {} : { url: noIsolationUrl() });
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), isolated);
    await setTrainingSteps(page, 200000);
    await startHeartbeat(page);
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
    const worst = await stopHeartbeat(page);
    assert.ok(worst < 500, `the page stayed responsive (worst frame gap ${worst.toFixed(0)} ms)`);
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
  assert.match(await page.locator('#backend').innerText(), /Compute: CPU \(wasm[\s\S]*WebGPU adapter/);
  await page.click('#gpu-check');
  await page.waitForFunction(() => window.__odeon.gpuCheck && window.__odeon.gpuCheck.message, null, { timeout: 60_000 });
  const check = await page.evaluate(() => window.__odeon.gpuCheck);
  assert.equal(check.ok, true, check.message);
  assert.ok(check.maxAbsError < 1e-3);
  await screenshot(page, 'gpu-check');
  assertNoErrors(page);
  await closePage(page);
});

test('the ci profile shrinks the run; Reset all restores the shipped cells', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  const shipped = await cellSource(page, 'train');
  await page.selectOption('#profile', 'ci');
  await runAllAndWait(page);
  assert.equal(await page.locator('[data-cell=train] progress').getAttribute('max'), '150', 'ci profile trains 150 steps');
  assert.equal(await page.locator('[data-cell=sample]').getAttribute('data-status'), 'done');

  await setCellSource(page, 'train', 'let steps = 7;');
  await page.click('#reset');
  await page.waitForFunction((s) => window.__odeon.sources.train === s, shipped);
  assert.equal(await page.locator('[data-cell=train] .cm-content').innerText(), shipped, 'the editor shows it');
  assert.equal(await page.locator('#profile').inputValue(), 'default');
  assertNoErrors(page);
  await closePage(page);
});

test('keyboard runs cells; edits survive a reload and a bad link', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  const shipped = await cellSource(page, 'train');
  // Ctrl+Enter runs the focused cell; Shift+Enter runs it and moves on.
  await page.locator('[data-cell=data] .cm-content').click();
  await page.keyboard.press('Control+Enter');
  await page.waitForFunction(() => document.querySelector('[data-cell=data]').dataset.status === 'done', null, { timeout: 30_000 });
  assert.equal(await cellSource(page, 'data'), (await shippedDataSource()), 'Ctrl+Enter does not type a newline');
  await page.locator('[data-cell=data] .cm-content').click();
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(() => document.activeElement && document.activeElement.closest('[data-cell=train]'), null, { timeout: 10_000 });
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 30_000 });

  // Edits are saved as you type and restored after a reload.
  await setTrainingSteps(page, 321);
  await page.reload();
  await page.waitForFunction(() => window.__odeonReady === true);
  await page.locator('[data-testid=restored-edits]').waitFor();
  assert.match(await cellSource(page, 'train'), /\b321\b/, 'the edit survived the reload');

  // A bad link shows the shipped notebook but keeps the saved edits.
  await page.goto(new URL('#/nb/rectified-flow?s=v2.@@@', page.url()).toString());
  const banner = page.locator('[data-testid=link-error]');
  await banner.waitFor();
  assert.match(await banner.innerText(), /Your own edits are kept/);
  assert.equal(await cellSource(page, 'train'), shipped);
  await banner.locator('a').click();
  await page.locator('[data-testid=restored-edits]').waitFor();
  assert.match(await cellSource(page, 'train'), /\b321\b/, 'edits are back');
  await screenshot(page, 'restored-edits');

  // Reset forgets them.
  await page.click('#reset');
  await page.reload();
  await page.waitForFunction(() => window.__odeonReady === true);
  assert.equal(await cellSource(page, 'train'), shipped);
  assert.equal(await page.locator('[data-testid=restored-edits]').count(), 0);
  assertNoErrors(page);
  await closePage(page);
});

async function shippedDataSource() {
  const fresh = await openPage(browser, '#/nb/rectified-flow');
  const source = await cellSource(fresh, 'data');
  await closePage(fresh);
  return source;
}

test('embed code, the embed view and the script API page', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  await page.click('[data-cell=sample] .embed-cell');
  await page.locator('[data-testid=embed-code]').waitFor();
  const code = await page.evaluate(() => window.__odeon.embedCode);
  assert.match(code, /^<iframe src="[^"]*#\/embed\/rectified-flow\/sample"/);
  assert.match(await page.locator('[data-testid=copied]').innerText(), /Embed code for "sample" copied/);
  await closePage(page);

  // The embed view: minimal chrome, one cell's outputs, an open-in-Odeon link.
  const embed = await openPage(browser, '#/embed/rectified-flow/sample?profile=ci');
  assert.equal(await embed.locator('header.topbar').count(), 0, 'no app chrome');
  assert.match(await embed.locator('.open-in-odeon').getAttribute('href'), /#\/nb\/rectified-flow$/);
  await embed.click('#embed-run');
  await embed.waitForFunction(() => window.__odeon.lastRun?.done === true, null, { timeout: 120_000 });
  assert.ok(await embed.locator('.embed-cell .plot[data-key="Samples over the target"]').count() === 1);
  assert.equal(await embed.locator('.plot').count(), 1, 'only the sample cell is shown');
  assert.ok(Number.isFinite(await embed.evaluate(() => window.__odeon.metrics.sample['sliced W2 (samples)'])));
  assert.ok(await embed.evaluate(() => window.__odeon.embedHeight) > 300, 'the view reports its height');
  await screenshot(embed, 'embed-view');
  assertNoErrors(embed);
  await closePage(embed);

  const missing = await openPage(browser, '#/embed/rectified-flow/nope');
  assert.match(await missing.locator('[data-testid=unknown-cell]').innerText(), /no cell called "nope".*data, train/s);
  await closePage(missing);

  // The script API reference lists the functions with examples.
  const api = await openPage(browser, '');
  await api.click('a.nav[href="#/api"]');
  await api.locator('#fn-criterion').waitFor();
  assert.ok(await api.locator('.api-entry').count() >= 20);
  assert.match(await api.locator('#fn-heatmap').innerText(), /colour bar/);
  await screenshot(api, 'api-reference');
  assertNoErrors(api);
  await closePage(api);
});

test('a worker that runs out of memory is restarted; the page says so and keeps the edits', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  await setTrainingSteps(page, 77);
  // Ask the worker for 3.9 GB at once: WebAssembly cannot grow that far, so
  // the allocation fails for real and the worker's instance aborts.
  await page.evaluate(() => window.__odeonDebug.allocate(3.9e9));
  const note = page.locator('[data-testid=kernel-note]');
  await note.waitFor({ timeout: 30_000 });
  assert.match(await note.innerText(), /ran out of memory.*fresh worker was started.*edits are kept/s);
  assert.equal(await page.evaluate(() => window.__odeon.crashes), 1);
  assert.match(await cellSource(page, 'train'), /\b77\b/, 'the edit survived');
  await screenshot(page, 'worker-out-of-memory');
  // The fresh worker runs cells.
  await page.waitForFunction(() => !document.querySelector('#run-all').disabled, null, { timeout: 30_000 });
  await page.click('[data-cell=data] .run-cell');
  await page.waitForFunction(() => window.__odeon.lastRun.done === true, null, { timeout: 30_000 });
  assert.equal(await page.locator('[data-cell=data]').getAttribute('data-status'), 'done');
  await closePage(page);
});
