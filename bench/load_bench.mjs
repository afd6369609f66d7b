// Load benchmark: how fast the gallery becomes usable and how much a first
// visit downloads, in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core, launched with the flags of e2e/lib.mjs).
//
// usage: node bench/load_bench.mjs [URL] [--runs 7] [--json FILE]
//   URL   a served dist/ (default: $ODEON_URL), e.g. after
//         `cargo xtask build` and, in another shell,
//         `cargo xtask serve --no-build --port 8000` -> http://127.0.0.1:8000/
//   or simply `cargo xtask bench load`, which serves dist/ itself.
//
// Measures, each as the median over --runs runs (min and max too):
//  - cold: a fresh browser context (empty HTTP cache, no service worker):
//    time from navigation start to `window.__odeonReady === true` with a
//    visible [data-testid=gallery-card];
//  - warm: a second visit in the same context once the service worker
//    (web/sw.js) controls it, so everything comes from its cache;
// and for one cold visit:
//  - bytes on the wire: the sum of the encoded sizes (body and headers, from
//    CDP Network events through Playwright's request.sizes()) of the page's
//    and its worker's responses, and separately of what the service worker's
//    precache downloads in the background;
//  - per file, raw and gzip -9 size (node:zlib); the local server does not
//    compress, so the gzip column is what a compressing host would send.
// Prints a markdown report, and one JSON line (also to --json FILE).
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { CHROMIUM, CHROMIUM_ARGS } from '../e2e/chromium.mjs';

const GOAL_MS = 1500;
const GOAL_GZIP_BYTES = 1.5e6;
const TIMEOUT_MS = 60_000;

function parseArgs(argv) {
  const o = { url: process.env.ODEON_URL, runs: 7, json: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--runs') o.runs = Number(argv[(i += 1)]);
    else if (arg === '--json') o.json = argv[(i += 1)];
    else if (!arg.startsWith('--')) o.url = arg;
    else throw new Error(`unknown option ${arg} (see the header of load_bench.mjs)`);
  }
  if (!o.url) throw new Error('no URL: pass one or set ODEON_URL (see the header of load_bench.mjs)');
  if (!(o.runs >= 1)) throw new Error('--runs needs a positive number');
  if (!o.url.endsWith('/')) o.url += '/';
  return o;
}

// Runs in the page before any of its scripts: records the first moment
// (ms since navigation start) at which the gallery is ready and visible.
function watchInteractive() {
  const check = () => {
    if (window.__loadTti !== undefined || window.__odeonReady !== true) return;
    const card = document.querySelector('[data-testid=gallery-card]');
    if (!card) return;
    const box = card.getBoundingClientRect();
    const visible = box.width > 0 && box.height > 0
      && (typeof card.checkVisibility !== 'function' || card.checkVisibility());
    if (visible) window.__loadTti = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  const timer = setInterval(() => {
    check();
    if (window.__loadTti !== undefined) clearInterval(timer);
  }, 2);
}

async function timeToInteractive(page) {
  await page.waitForFunction(() => window.__loadTti !== undefined, null, { timeout: TIMEOUT_MS, polling: 20 });
  return page.evaluate(() => window.__loadTti);
}

/**
 * Records every finished response of the context: its URL, whether the
 * service worker made it, and its bytes on the wire. Playwright's
 * `request.sizes()` reads them from CDP (`Network.loadingFinished`'s
 * encodedDataLength for the body, the raw header text for the headers) and,
 * unlike a CDP session on the page, also sees the dedicated worker's fetches.
 */
function recordNetwork(context) {
  const pending = [];
  context.on('requestfinished', (request) => {
    pending.push((async () => {
      const sizes = await request.sizes();
      const response = await request.response();
      return {
        url: request.url(),
        sw: request.serviceWorker() !== null, // made by the service worker
        cached: Boolean(response?.fromServiceWorker()), // answered by it
        bytes: sizes.responseBodySize + sizes.responseHeadersSize,
      };
    })().catch(() => null));
  });
  return async () => (await Promise.all(pending)).filter(Boolean);
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;

async function coldAndWarm(browser, url, measureBytes) {
  const context = await browser.newContext();
  await context.addInitScript(watchInteractive);
  const network = measureBytes ? recordNetwork(context) : null;
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: 'commit', timeout: TIMEOUT_MS });
  const cold = await timeToInteractive(page);
  // Let the service worker finish installing and take control.
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: TIMEOUT_MS });
  await page.waitForLoadState('networkidle');
  const finished = network ? await network() : [];
  await page.close();

  const second = await context.newPage();
  second.on('pageerror', (e) => errors.push(String(e)));
  const fromNetwork = [];
  second.on('response', (r) => { if (!r.fromServiceWorker()) fromNetwork.push(r.url()); });
  await second.goto(url, { waitUntil: 'commit', timeout: TIMEOUT_MS });
  const warm = await timeToInteractive(second);
  await context.close();
  if (errors.length) throw new Error(`page errors: ${errors.join('\n')}`);
  return {
    cold,
    warm,
    // What the page and its worker asked for (some answered by the service
    // worker once it took control: those bytes are in its own requests).
    firstVisit: finished.filter((f) => !f.sw),
    swBytes: finished.filter((f) => f.sw),
    warmFromNetwork: fromNetwork,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const colds = [];
  const warms = [];
  let first = null;
  try {
    // One unmeasured visit first: Chromium's own start-up is not the app's.
    await coldAndWarm(browser, opts.url, false);
    for (let i = 0; i < opts.runs; i += 1) {
      const r = await coldAndWarm(browser, opts.url, i === 0);
      colds.push(r.cold);
      warms.push(r.warm);
      if (i === 0) first = r;
      console.error(`run ${i + 1}/${opts.runs}: cold ${r.cold.toFixed(0)} ms, warm ${r.warm.toFixed(0)} ms` +
        (r.warmFromNetwork.length ? ` (warm visit fetched from the network: ${r.warmFromNetwork.join(', ')})` : ''));
    }
  } finally {
    await browser.close();
  }

  // Per-file sizes of the first visit (each URL once, fragments dropped).
  const files = new Map();
  for (const f of first.firstVisit) {
    const url = f.url.split('#')[0];
    if (!url.startsWith(opts.url)) continue;
    const entry = files.get(url) ?? { url, wire: 0, requests: 0 };
    if (!f.cached) entry.wire += f.bytes;
    entry.requests += 1;
    files.set(url, entry);
  }
  for (const entry of files.values()) {
    const body = Buffer.from(await (await fetch(entry.url)).arrayBuffer());
    entry.raw = body.length;
    entry.gzip = gzipSync(body, { level: 9 }).length;
  }
  const list = [...files.values()].sort((a, b) => b.raw - a.raw);
  const total = (k) => list.reduce((s, f) => s + f[k], 0);
  const swTotal = first.swBytes.reduce((s, f) => s + f.bytes, 0);
  const answeredBySw = first.firstVisit.filter((f) => f.cached).map((f) => f.url.slice(opts.url.length));
  const result = {
    bench: 'load',
    url: opts.url,
    runs: opts.runs,
    cold_ms: { median: median(colds), min: Math.min(...colds), max: Math.max(...colds) },
    warm_ms: { median: median(warms), min: Math.min(...warms), max: Math.max(...warms) },
    first_visit_wire_bytes: total('wire'),
    first_visit_raw_bytes: total('raw'),
    first_visit_gzip_bytes: total('gzip'),
    sw_wire_bytes: swTotal,
    sw_requests: first.swBytes.length,
    sw_urls: first.swBytes.map((f) => f.url.slice(opts.url.length)),
    first_visit_all_wire_bytes: total('wire') + swTotal,
    answered_by_sw_in_first_visit: answeredBySw,
    files: list.map(({ url, raw, gzip, wire }) => ({ file: url.slice(opts.url.length) || '(index)', raw, gzip, wire })),
  };

  const ms = (o) => `${o.median.toFixed(0)} ms (min ${o.min.toFixed(0)}, max ${o.max.toFixed(0)})`;
  const met = (ok) => (ok ? 'met' : 'NOT met');
  const lines = [
    `## Load benchmark (${opts.url}, median of ${opts.runs} runs)`,
    '',
    '| measure | value | goal |',
    '|---|---|---|',
    `| gallery interactive, cold (empty cache) | ${ms(result.cold_ms)} | < ${GOAL_MS} ms: ${met(result.cold_ms.median < GOAL_MS)} |`,
    `| gallery interactive, warm (service worker) | ${ms(result.warm_ms)} | < ${GOAL_MS} ms: ${met(result.warm_ms.median < GOAL_MS)} |`,
    `| first visit: files the page and its worker load, raw | ${mb(result.first_visit_raw_bytes)} in ${list.length} files | |`,
    `| first visit: the same files, gzip -9 each | ${mb(result.first_visit_gzip_bytes)} | < 1.5 MB: ${met(result.first_visit_gzip_bytes < GOAL_GZIP_BYTES)} |`,
    `| first visit: page and worker requests on the wire | ${mb(result.first_visit_wire_bytes)} | |`,
    `| first visit: service worker requests on the wire (precache, in the background) | ${mb(swTotal)} in ${first.swBytes.length} requests | |`,
    '',
    ...(answeredBySw.length
      ? [`(In the first visit the service worker took control part-way and answered: ${answeredBySw.join(', ')}.)`, '']
      : []),
    '| file (first visit) | raw | gzip -9 |',
    '|---|---:|---:|',
    ...result.files.map((f) => `| ${f.file} | ${f.raw} (${kib(f.raw)}) | ${f.gzip} (${kib(f.gzip)}) |`),
    `| **total** | ${result.first_visit_raw_bytes} (${mb(result.first_visit_raw_bytes)}) | ${result.first_visit_gzip_bytes} (${mb(result.first_visit_gzip_bytes)}) |`,
    '',
  ];
  console.log(lines.join('\n'));
  const json = JSON.stringify(result);
  console.log(json);
  if (opts.json) writeFileSync(opts.json, json + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
