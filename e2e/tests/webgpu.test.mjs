// Training on WebGPU in the browser agrees with the CPU backend: the
// reference workload (odeon_nn::reference::MlpStep's network, data and seed,
// f32) trained for 10 Adam steps in the worker on the WebGPU backend
// (forced: `auto` rightly keeps the CPU on SwiftShader, a software adapter)
// and on the CPU backend in the same page gives the same losses and
// parameters to 1e-4 relative (the largest parameter difference over the
// largest parameter, as engine.test.mjs measures). The GPU's matrix
// products and reductions sum in a different order from the CPU's, so the
// two round differently; a wrong kernel gives differences of order 1e-2.
// The worker trains with a copy of MlpStep's loop that never reads back
// mid-training (MlpStep::step reads the loss synchronously, which a GPU
// tensor refuses on the web); on the CPU that copy reproduces the engine
// check (MlpStep itself) bit for bit, which pins it to MlpStep.
// The badge shows what `auto` picks for a notebook's training and why.
// SwiftShader runs the 0.8 GFLOP step at about 5 s (the whole test takes
// about 90 s here), so there is one WebGPU run only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, closePage, assertNoErrors, screenshot } from '../lib.mjs';

const STEPS = 10;
const TOLERANCE = 1e-4;

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function backendCheck(page, backend, steps) {
  await page.evaluate(([b, n]) => window.__odeonDebug.backendCheck(b, n), [backend, steps]);
  await page.waitForFunction(() => window.__odeon.backendCheck && window.__odeon.backendCheck.done, null, { timeout: 240_000 });
  return page.evaluate(() => {
    const r = window.__odeon.backendCheck;
    return {
      backend: r.backend,
      adapter: r.adapter,
      reason: r.reason,
      losses: Array.from(r.losses),
      params: Array.from(r.params),
      millis: r.millis,
      error: r.error,
    };
  });
}

function compare(a, b) {
  assert.equal(a.length, b.length);
  let maxDiff = 0;
  let maxMagnitude = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    maxMagnitude = Math.max(maxMagnitude, Math.abs(b[i]));
  }
  return { maxDiff, relative: maxDiff / maxMagnitude };
}

test('WebGPU training matches the CPU backend in the browser', { timeout: 600_000 }, async () => {
  const page = await openPage(browser, '');
  await page.waitForFunction(() => window.__odeon.gpu !== undefined, null, { timeout: 30_000 });
  assert.ok(await page.evaluate(() => window.__odeon.gpu), 'Chromium with --enable-unsafe-webgpu exposes an adapter (SwiftShader)');

  // The badge: CPU for cells, and what auto would choose and why.
  await page.waitForFunction(() => window.__odeon.backendPolicy && window.__odeon.backendPolicy.reason, null, { timeout: 30_000 });
  const policy = await page.evaluate(() => window.__odeon.backendPolicy);
  assert.equal(policy.backend, 'cpu', 'auto keeps the CPU on a software adapter');
  assert.match(policy.reason, /software fallback \(SwiftShader\)/);
  const badge = await page.locator('#backend').innerText();
  assert.match(badge, /Compute: CPU \(wasm/);
  assert.match(badge, /auto picks: CPU — The adapter is a software fallback \(SwiftShader\)/);

  const gpu = await backendCheck(page, 'webgpu', STEPS);
  assert.equal(gpu.error, null, `WebGPU run failed: ${gpu.error}`);
  assert.equal(gpu.backend, 'webgpu', `forced WebGPU ran on ${gpu.backend}: ${gpu.reason}`);
  assert.match(gpu.adapter, /swiftshader/i);
  assert.match(gpu.reason, /WebGPU was requested.*SwiftShader/);
  const cpu = await backendCheck(page, 'cpu', STEPS);
  assert.equal(cpu.error, null, `CPU run failed: ${cpu.error}`);
  assert.equal(cpu.backend, 'cpu');
  assert.equal(gpu.losses.length, STEPS);
  assert.ok(gpu.params.length > 100_000, `${gpu.params.length} parameters`);

  const params = compare(gpu.params, cpu.params);
  let worstLoss = 0;
  for (let i = 0; i < STEPS; i++) {
    worstLoss = Math.max(worstLoss, Math.abs(gpu.losses[i] - cpu.losses[i]) / Math.abs(cpu.losses[i]));
  }
  console.log(
    `WebGPU (${gpu.adapter}) vs CPU after ${STEPS} steps: max |gpu - cpu| = ${params.maxDiff.toExponential(3)}, ` +
      `relative to the largest parameter ${params.relative.toExponential(3)}; ` +
      `worst relative loss difference ${worstLoss.toExponential(3)}; ` +
      `WebGPU ${gpu.millis.toFixed(0)} ms, CPU ${cpu.millis.toFixed(0)} ms`,
  );
  assert.ok(params.relative <= TOLERANCE, `WebGPU and CPU parameters differ by ${params.relative} relative`);
  assert.ok(worstLoss <= TOLERANCE, `WebGPU and CPU losses differ by ${worstLoss} relative`);

  // The worker's loop on the CPU gives MlpStep's bits (the engine check).
  await page.evaluate((n) => window.__odeonDebug.engineCheck(n), STEPS);
  await page.waitForFunction(() => window.__odeon.engineCheck && window.__odeon.engineCheck.params, null, { timeout: 120_000 });
  const engine = await page.evaluate(() => Array.from(window.__odeon.engineCheck.params));
  assert.deepEqual(cpu.params, engine, 'the CPU backend check reproduces the engine check (MlpStep) bit for bit');

  await screenshot(page, 'webgpu-backend');
  assertNoErrors(page);
  await closePage(page);
});

test('asking for an unknown backend says which ones exist', async () => {
  const page = await openPage(browser, '');
  const result = await backendCheck(page, 'cuda', 1);
  assert.match(result.error, /unknown backend "cuda"; choose auto, cpu or webgpu/);
  assertNoErrors(page);
  await closePage(page);
});
