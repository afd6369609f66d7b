// Every shipped notebook at the `ci` profile in Chromium, as a person would
// run it (open it, pick the ci profile, Run all): every cell finishes, the
// expected plots and tables appear, a share link reproduces the numbers,
// the key plot's cell embeds, and every metric equals the native
// CLI's run of the same notebook, profile and seed (`cargo xtask e2e` runs
// `odeon run <id> --profile ci --backend cpu --metrics-json` first and
// points ODEON_CLI_METRICS at the files). The CPU backend is meant to be
// deterministic across targets (seeded streams, odeon-tensor's own exp,
// libm everywhere else): the first rectified flow's training is
// bit-identical (1e-12 allows for the JSON round trip; the `exact` metrics).
// Other training is not: some final losses differ in the last f32 bit
// between the wasm and the native build (measured 9e-8 relative after 150
// diffusion steps, 1.5e-7 for the reflow), most likely the documented
// exception (ARCHITECTURE.md, Determinism: native matrix products use FMA
// kernels, wasm ones do not), so those metrics are held to 1e-5 relative.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, openPage, closePage, assertNoErrors, screenshot } from '../lib.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// Per notebook: the plots (by key) and tables each cell must show.
const NOTEBOOKS = {
  'rectified-flow': {
    // The 1-RF training stays bit-identical (`exact` below); the reflow
    // pairs come from Euler steps whose last f32 bits differ natively.
    tolerance: 1e-5,
    exact: ['train / final loss', 'sample / sliced W2 (samples)'],
    plots: {
      data: ['Target', 'Target density'],
      train: ['loss'],
      sample: ['Samples over the target'],
      reflow: ['loss'],
      'reflow-pp': ['Training time densities', 'loss'],
      'one-step': ['One Euler step from the same noise'],
    },
    tables: { straightness: 1 },
    embed: { cell: 'one-step', plot: 'One Euler step from the same noise' },
  },
  'diffusion-principles': {
    tolerance: 1e-5,
    plots: {
      data: ['Target density'],
      samplers: ['NFE vs sliced W2, exact score'],
      'train-eps': ['loss'],
      'train-score': ['loss'],
      'train-velocity': ['loss'],
      sample: ['Samples of the three models over the target'],
    },
    tables: { likelihood: 1, 'learned-nfe': 1 },
    embed: { cell: 'samplers', plot: 'NFE vs sliced W2, exact score' },
  },
  'stochastic-interpolants': {
    tolerance: 1e-5,
    plots: {
      data: ['Target'],
      'train-velocity': ['loss'],
      'train-denoiser': ['loss'],
      fields: ['Learned velocity b at t = 0.5', 'Exact velocity b at t = 0.5', 'Relative error of the learned fields'],
      sample: ['Learned ODE and SDE samples'],
      bridge: ['loss', 'Bridge from four to eight Gaussians', 'Exact bridge velocity at t = 0.5'],
    },
    tables: { exact: 1, sample: 1 },
    embed: { cell: 'sample', plot: 'Learned ODE and SDE samples' },
  },
  'adjoint-dpm': {
    tolerance: 1e-5,
    plots: {
      data: ['Target: eight classes'],
      train: ['loss', 'Samples of each class (DDIM, 20 steps)'],
      gradients: ['Largest tape vs sampling steps'],
      optimise: ['loss', 'Before and after optimising the embedding'],
    },
    tables: { gradients: 1, optimise: 1 },
    embed: { cell: 'optimise', plot: 'Before and after optimising the embedding' },
  },
  'pfgm-pp': {
    tolerance: 1e-5,
    plots: {
      data: ['Target'],
      kernel: ['Tail of the radius law at sigma = 1'],
      train: ['loss'],
      samples: ['Samples, D = 16 and EDM'],
      trend: ['Distance to the EDM samples'],
      robustness: ['Sample quality vs injected noise', 'Sample quality vs network evaluations'],
    },
    tables: { kernel: 1, train: 1, samples: 1, trend: 1 },
    embed: { cell: 'trend', plot: 'Distance to the EDM samples' },
  },
  'gauge-freedom': {
    tolerance: 1e-5,
    plots: {
      paths: ['Paths from the same noise, plain and gauged'],
      demo: ['Samples of the plain and the gauged field'],
      data: ['Circle data in its plane'],
      train: ['loss'],
      spectra: ['Flow-map singular values, free model', 'Flow-map singular values, conservative model'],
    },
    tables: { demo: 1, train: 1, dimensions: 1 },
    embed: { cell: 'spectra', plot: 'Flow-map singular values, conservative model' },
  },
  'solver-regularization': {
    // The model is f32 (odeon-tensor matrix products): losses and test
    // NFE follow the native run unless a last-bit difference flips a step.
    tolerance: 1e-5,
    plots: {
      data: ['Concentric circles (training set)'],
      train: ['loss', 'NFE per training step'],
      results: ['Test NFE vs accuracy during training'],
      boundary: ['Vanilla: P(ring)', 'Error-regularised: P(ring)'],
    },
    tables: { train: 1, results: 1 },
    embed: { cell: 'results', plot: 'Test NFE vs accuracy during training' },
  },
  'local-regularization': {
    tolerance: 1e-5,
    plots: {
      data: ['Concentric circles (training set)'],
      train: ['loss', 'NFE per training step'],
      results: ['Test NFE vs accuracy during training'],
    },
    tables: { train: 1, results: 1 },
    embed: { cell: 'results', plot: 'Test NFE vs accuracy during training' },
  },
  'neural-de': {
    // f64 on the CPU except the CDE (f32): its accuracy is a fraction of
    // 64 test series, so one flipped prediction would show.
    tolerance: 1e-5,
    plots: {
      data: ['The spiral: 40 observations'],
      memory: ['Peak tape vs number of solver steps', 'Adjoint vs backprop: gradient gap vs step size'],
      train: ['loss', 'Fit error during training', 'Fitted trajectories from y0'],
      'cde-data': ['Two irregularly sampled spirals and their control paths'],
      'cde-train': ['loss'],
      reversible: ['A reversible Heun path and its reconstructed start'],
      brownian: ['One Brownian path, queried in three orders', 'Brownian bridge variance between a = 0.3 and b = 1.7'],
    },
    tables: { gradients: 1, memory: 1, train: 1, 'cde-train': 1, reversible: 1, brownian: 1, summary: 1 },
    embed: { cell: 'memory', plot: 'Peak tape vs number of solver steps' },
  },
};

function cliMetrics(id) {
  const dir = process.env.ODEON_CLI_METRICS;
  assert.ok(dir, 'ODEON_CLI_METRICS is set by cargo xtask e2e');
  return JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8'));
}

for (const [id, expected] of Object.entries(NOTEBOOKS)) {
  test(`${id} at the ci profile matches the native CLI and shows its plots`, { timeout: 300_000 }, async () => {
    const page = await openPage(browser, `#/nb/${id}`);
    await page.selectOption('#profile', 'ci');
    await page.click('#run-all');
    await page.waitForFunction(() => window.__odeon.lastRun && window.__odeon.lastRun.done === true, null, { timeout: 280_000 });
    const statuses = await page.$$eval('section.cell', (cells) => cells.map((c) => [c.dataset.cell, c.dataset.status]));
    for (const [cell, status] of statuses) {
      assert.equal(status, 'done', `${id}: cell ${cell} ended ${status}`);
    }
    for (const [cell, keys] of Object.entries(expected.plots)) {
      for (const key of keys) {
        const svg = page.locator(`[data-cell="${cell}"] figure.plot[data-key="${key}"] svg`);
        assert.ok(await svg.count() > 0, `${id}: cell ${cell} shows plot ${key}`);
      }
    }
    for (const [cell, count] of Object.entries(expected.tables)) {
      assert.ok(await page.locator(`[data-cell="${cell}"] table`).count() >= count, `${id}: cell ${cell} shows a table`);
    }
    const browserMetrics = await page.evaluate(() => JSON.parse(JSON.stringify(window.__odeon.metrics)));
    const native = cliMetrics(id);
    let compared = 0;
    const mismatches = [];
    for (const [cell, metrics] of Object.entries(native)) {
      for (const [name, value] of Object.entries(metrics)) {
        const got = browserMetrics[cell]?.[name];
        const tolerance = (expected.exact ?? []).includes(`${cell} / ${name}`) ? 1e-12 : expected.tolerance;
        if (!(Number.isFinite(got) && Math.abs(got - value) <= tolerance * Math.max(1, Math.abs(value)))) {
          mismatches.push(`${cell} / ${name}: browser ${got}, native ${value}`);
        }
        compared++;
      }
    }
    assert.deepEqual(mismatches, [], `${id}: metrics differ from the native CLI`);
    assert.ok(compared >= 3, `${id}: only ${compared} metrics compared`);
    await screenshot(page, `notebook-${id}-ci`);

    // Reproducible from a share link: a fresh page opened from the link runs
    // to the same numbers.
    await page.click('#share');
    const url = await page.locator('#share-url').inputValue();
    assert.match(url, new RegExp(`#/nb/${id}\\?s=v2\\.`));
    assertNoErrors(page);
    await closePage(page);
    const shared = await openPage(browser, url.slice(url.indexOf('#')));
    assert.equal(await shared.locator('#profile').inputValue(), 'ci', `${id}: the link carries the profile`);
    await shared.click('#run-all');
    await shared.waitForFunction(() => window.__odeon.lastRun && window.__odeon.lastRun.done === true, null, { timeout: 280_000 });
    assert.deepEqual(await shared.evaluate(() => JSON.parse(JSON.stringify(window.__odeon.metrics))), browserMetrics, `${id}: same link, same numbers`);
    assertNoErrors(shared);
    await closePage(shared);

    // The key plot's cell embeds: the embed view runs the notebook and shows
    // that cell's outputs only.
    const { cell, plot } = expected.embed;
    const embed = await openPage(browser, `#/embed/${id}/${cell}?profile=ci`);
    await embed.click('#embed-run');
    await embed.waitForFunction(() => window.__odeon.lastRun?.done === true, null, { timeout: 280_000 });
    assert.ok(await embed.locator(`.embed-cell[data-cell="${cell}"] .plot[data-key="${plot}"] svg`).count() >= 1, `${id}: embedded ${cell} shows ${plot}`);
    assert.equal(await embed.locator('.embed-cell').count(), 1, `${id}: the embed shows only ${cell}`);
    // Legend names, measured by the browser, end inside the plot.
    const clipped = await embed.locator(`.embed-cell[data-cell="${cell}"] svg.plot-svg`).evaluateAll((svgs) => svgs.flatMap((svg) =>
      [...svg.querySelectorAll('text.plot-legend')].filter((t) => { const b = t.getBBox(); return b.x + b.width > svg.viewBox.baseVal.width; }).map((t) => t.textContent)));
    assert.deepEqual(clipped, [], `${id}: legend names cut off at the plot's edge`);
    await screenshot(embed, `embed-${id}-${cell}`);
    assertNoErrors(embed);
    await closePage(embed);
  });
}
