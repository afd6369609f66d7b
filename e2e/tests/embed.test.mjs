// Embedding: the example documentation page (public/examples/docs.html) with
// its two widgets, used as a reader would: the inline one from the
// @odeon/widget npm package (dist/npm/odeon-widget/) and the <odeon-widget>
// element of widget.js, an iframe of the app's embed view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser, openPage, screenshot, closePage, assertNoErrors, baseUrl, noIsolationUrl,
} from '../lib.mjs';

const DOCS = 'examples/docs.html';
const RUN_TIMEOUT = 180_000;

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function openDocs(url = baseUrl()) {
  const page = await openPage(browser, DOCS, { waitReady: false, url });
  page.__workers = [];
  page.on('worker', (worker) => page.__workers.push(worker.url()));
  try {
    await page.waitForSelector('#train-widget .odeon-widget-run', { timeout: 30_000 });
  } catch (err) {
    const slot = await page.locator('#train-widget').innerText().catch(() => '?');
    throw new Error(`the inline widget did not appear (slot: ${JSON.stringify(slot)}; page errors: ` +
      `${JSON.stringify(page.__pageErrors)}; console: ${JSON.stringify(page.__console.slice(-10))})\n${err.message}`);
  }
  return page;
}

/** Starts a timer heartbeat in the page; `stopHeartbeat` returns the longest gap (ms). */
async function startHeartbeat(page) {
  await page.evaluate(() => {
    const beat = { last: performance.now(), worst: 0, ticks: 0, on: true };
    window.__heartbeat = beat;
    const tick = () => {
      const now = performance.now();
      beat.worst = Math.max(beat.worst, now - beat.last);
      beat.last = now;
      beat.ticks += 1;
      if (beat.on) setTimeout(tick, 16);
    };
    setTimeout(tick, 16);
  });
}

async function stopHeartbeat(page) {
  return page.evaluate(() => {
    window.__heartbeat.on = false;
    return { worst: window.__heartbeat.worst, ticks: window.__heartbeat.ticks };
  });
}

async function runInline(page) {
  const widget = page.locator('#train-widget');
  assert.equal(await widget.getAttribute('data-status'), 'idle');
  assert.match(await widget.innerText(), /data → train/, 'the widget says what Run computes');
  await widget.getByRole('button', { name: 'Run' }).click();
  await page.waitForFunction(() => {
    const el = document.querySelector('#train-widget');
    const bar = el.querySelector('progress');
    return el.dataset.status !== 'running' ||
      (bar.hasAttribute('value') && bar.value > 0 && bar.value < bar.max);
  }, null, { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector('#train-widget').dataset.status !== 'running', null, { timeout: RUN_TIMEOUT });
  const status = await widget.getAttribute('data-status');
  assert.equal(status, 'done', `inline widget ended ${status}: ${await widget.innerText()}`);
}

async function checkInline(page) {
  const widget = page.locator('#train-widget');
  const loss = widget.locator('.odeon-widget-plot[data-key=loss] svg.plot-svg');
  assert.equal(await loss.count(), 1, 'the training loss is plotted');
  assert.ok(await loss.locator('path[data-series=loss]').count() === 1, 'with its loss curve');
  const metrics = await widget.evaluate((el) => el.odeonMetrics);
  const finalLoss = metrics['final loss'];
  assert.ok(Number.isFinite(finalLoss) && finalLoss > 0 && finalLoss < 10, `final loss ${finalLoss}`);
  assert.match(await widget.locator('tr[data-metric="final loss"]').innerText(), /final loss/);
  const bar = widget.locator('progress');
  assert.equal(await bar.getAttribute('value'), '1', 'the bar is full at the end');
  assert.match(await widget.locator('.odeon-widget-status').innerText(), /^Done in /);
  assert.ok(page.__workers.some((url) => url.endsWith('/npm/odeon-widget/worker.js')),
    `the cells ran in the package's worker; workers: ${JSON.stringify(page.__workers)}`);
}

test('embed: the inline widget (npm package) runs in a worker and the page stays responsive', async () => {
  // Documentation sites rarely send COOP/COEP: the server without them.
  const page = await openDocs(noIsolationUrl());
  assert.equal(await page.evaluate(() => window.crossOriginIsolated), false);
  await startHeartbeat(page);
  await runInline(page);
  const beat = await stopHeartbeat(page);
  assert.ok(beat.ticks > 20, `heartbeat ran (${beat.ticks} ticks)`);
  assert.ok(beat.worst < 500, `the page never stalled for 500 ms during the run (longest gap ${beat.worst.toFixed(0)} ms)`);
  await checkInline(page);
  const open = page.locator('#train-widget a.odeon-widget-open');
  assert.match(await open.getAttribute('href'), /^\.\.\/#\/nb\/rectified-flow\?s=v\d+\./, 'Open in Odeon carries the ci profile');
  await screenshot(page, 'embed-inline');
  assertNoErrors(page);
  await closePage(page);
});

test('embed: both widgets of the docs page run; the iframe takes its content height', async () => {
  const page = await openDocs();
  const host = page.locator('odeon-widget');
  const iframe = host.locator('iframe');
  assert.equal(await iframe.getAttribute('loading'), 'lazy');
  assert.match(await iframe.getAttribute('src'), /#\/embed\/rectified-flow\/sample\?profile=ci$/);
  await host.scrollIntoViewIfNeeded();
  const frame = page.frameLocator('odeon-widget iframe');
  const run = frame.getByRole('button', { name: /^Run\b/ }).filter({ hasNotText: /WebGPU/ }).first();
  await run.waitFor({ timeout: 60_000 }).catch((err) => {
    throw new Error(`the embed view (${DOCS} -> #/embed/rectified-flow/sample) shows no Run button; ` +
      `does the app have its embed route?\n${err.message}`);
  });

  await startHeartbeat(page);
  await run.click();
  await runInline(page);
  const embedded = page.frames().find((f) => f.url().includes('#/embed/'));
  assert.ok(embedded, `an embed frame: ${page.frames().map((f) => f.url())}`);
  await embedded.waitForFunction(() => window.__odeon?.lastRun?.done === true, null, { timeout: RUN_TIMEOUT });
  const beat = await stopHeartbeat(page);
  assert.ok(beat.worst < 500, `the host page never stalled for 500 ms (longest gap ${beat.worst.toFixed(0)} ms)`);
  await checkInline(page);

  // The embed view: the sample cell's plot and finite metrics.
  assert.ok(await frame.locator('svg g[data-series=samples] circle').count() > 1000, 'samples are drawn in the iframe');
  const metrics = await embedded.evaluate(() => JSON.parse(JSON.stringify(window.__odeon.metrics.sample)));
  const w2 = metrics['sliced W2 (samples)'];
  assert.ok(Number.isFinite(w2) && w2 > 0, `sliced W2 ${w2}`);
  assert.ok(Number.isFinite(metrics['sliced W2 (fresh target draw)']), JSON.stringify(metrics));

  // The size messages: the iframe ends as tall as its content, with nothing cut off.
  await page.waitForFunction(() => {
    const f = document.querySelector('odeon-widget iframe');
    const inner = f.contentDocument?.documentElement;
    return inner && f.style.height !== '560px' && Math.abs(f.clientHeight - inner.scrollHeight) <= 2;
  }, null, { timeout: 10_000 }).catch(() => {});
  const sizes = await page.evaluate(() => {
    const f = document.querySelector('odeon-widget iframe');
    const doc = f.contentDocument;
    const svgs = [...doc.querySelectorAll('svg')].map((s) => s.getBoundingClientRect().bottom);
    return { style: f.style.height, client: f.clientHeight, content: doc.documentElement.scrollHeight, lowest: Math.max(...svgs) };
  });
  assert.notEqual(sizes.style, '560px', `a size message arrived: ${JSON.stringify(sizes)}`);
  assert.ok(sizes.client > 300, `the iframe fits a plot: ${JSON.stringify(sizes)}`);
  assert.ok(Math.abs(sizes.client - sizes.content) <= 2, `the iframe is as tall as its content: ${JSON.stringify(sizes)}`);
  assert.ok(sizes.lowest <= sizes.client + 1, `the plot is not cut off: ${JSON.stringify(sizes)}`);

  await host.scrollIntoViewIfNeeded();
  await screenshot(page, 'embed-docs-page');
  assertNoErrors(page);
  await closePage(page);
});

test('embed: widget.js builds the iframe, re-renders on attribute changes, applies size messages', async () => {
  // As a classic script this time (the docs page loads it as a module).
  const page = await openPage(browser, 'npm/odeon-widget/README.md', { waitReady: false });
  await page.addScriptTag({ url: `${baseUrl()}widget.js` });
  const src = () => page.evaluate(() => document.querySelector('odeon-widget iframe')?.src);
  await page.evaluate(() => {
    const el = document.createElement('odeon-widget');
    el.setAttribute('notebook', 'rectified-flow');
    el.setAttribute('cell', 'train');
    el.setAttribute('autorun', '');
    document.body.replaceChildren(el);
  });
  assert.equal(await src(), `${baseUrl()}#/embed/rectified-flow/train?autorun=1`, 'the base URL is the script\'s folder');
  const frame = await page.evaluate(() => {
    const f = document.querySelector('odeon-widget iframe');
    return { title: f.title, loading: f.loading, border: getComputedStyle(f).borderStyle, height: f.style.height };
  });
  assert.deepEqual(frame, { title: 'Odeon: rectified-flow, cell train', loading: 'lazy', border: 'none', height: '420px' });

  await page.evaluate(() => {
    const el = document.querySelector('odeon-widget');
    el.setAttribute('cell', 'sample');
    el.setAttribute('profile', 'ci');
    el.removeAttribute('autorun');
    el.setAttribute('src', 'https://odeon.example/app/');
  });
  assert.equal(await src(), 'https://odeon.example/app/#/embed/rectified-flow/sample?profile=ci');
  // Point the frame at a page without the app, so that only this test's
  // messages arrive (the real embed view posts its own height at once).
  await page.evaluate((base) => document.querySelector('odeon-widget').setAttribute('src', `${base}npm/odeon-widget/`), baseUrl());

  // Size messages count only from the widget's own frame.
  const height = () => page.evaluate(() => document.querySelector('odeon-widget iframe').style.height);
  await page.evaluate(() => new Promise((done) => {
    window.postMessage({ type: 'odeon:size', height: 99 }, '*');
    setTimeout(done, 100);
  }));
  assert.equal(await height(), '420px', 'a message from elsewhere is ignored');
  const inner = page.frames().find((f) => f !== page.mainFrame());
  await inner.evaluate(() => parent.postMessage({ type: 'odeon:size', height: 333.2 }, '*'));
  await page.waitForFunction(() => document.querySelector('odeon-widget iframe').style.height !== '420px');
  assert.equal(await height(), '334px');
  assertNoErrors(page);
  await closePage(page);
});

test('embed: the npm package API: stop, destroy, and mistakes in words', async () => {
  const page = await openDocs(noIsolationUrl());
  const result = await page.evaluate(async () => {
    const { mount } = await import('../npm/odeon-widget/index.js'); // init() already ran on this page
    const el = document.createElement('div');
    document.querySelector('main').append(el);
    const widget = mount(el, { notebook: 'rectified-flow', cell: 'train', autorun: true }); // default: 2000 steps
    const statusAtStart = widget.status;
    await new Promise((done) => {
      const poll = () => (el.querySelector('progress').value > 0 ? done() : setTimeout(poll, 20));
      poll();
    });
    const started = performance.now();
    el.querySelector('.odeon-widget-stop').click();
    const stopped = { status: el.dataset.status, text: el.querySelector('.odeon-widget-status').textContent, ms: performance.now() - started };
    widget.destroy();
    const destroyed = { html: el.innerHTML, status: el.dataset.status ?? null, metrics: 'odeonMetrics' in el };
    const bad = document.createElement('div');
    document.querySelector('main').append(bad);
    let thrown = null;
    try { mount(bad, { notebook: 'rectified-flow', cell: 'nope' }); } catch (err) { thrown = err.message; }
    return { statusAtStart, stopped, destroyed, thrown, badStatus: bad.dataset.status, badText: bad.textContent };
  });
  assert.equal(result.statusAtStart, 'running');
  assert.deepEqual({ status: result.stopped.status, text: result.stopped.text }, { status: 'idle', text: 'Stopped.' });
  assert.ok(result.stopped.ms < 100, `Stop is immediate (${result.stopped.ms} ms)`);
  assert.deepEqual(result.destroyed, { html: '', status: null, metrics: false });
  assert.match(result.thrown, /no cell named "nope"; its cells are data, train/);
  assert.equal(result.badStatus, 'error');
  assert.equal(result.badText, result.thrown);
  assertNoErrors(page);
  await closePage(page);
});
