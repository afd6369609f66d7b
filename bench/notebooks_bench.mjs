// Notebook benchmark: how long each shipped notebook takes at its `default`
// profile in headless Chromium on the CPU backend (the compute worker's
// wasm), with the native CLI (`odeon run <id> --backend cpu`) as the peer in
// the same run. Project goal: a notebook's defaults finish in under a minute
// in a browser on a laptop CPU.
//
// usage: node bench/notebooks_bench.mjs [URL] [--odeon PATH] [--runs 1] [--only ID] [--json FILE]
//   URL      a served dist/ (default: $ODEON_URL), e.g. after `cargo xtask build`
//            and, in another shell, `cargo xtask serve --no-build --port 8000`
//            -> http://127.0.0.1:8000/
//   --odeon  the native CLI (default: target/release/odeon; build it with
//            `cargo build --release -p odeon-cli`); its `list` gives the notebooks
//   --only   one notebook id instead of every shipped one
//   or simply `cargo xtask bench notebooks`, which builds the CLI and serves
//   dist/ itself.
//
// Per notebook and run, one after the other (never two at once):
//  - browser: a fresh context opens `#/nb/<id>`, waits for
//    `window.__odeonReady`, sets the profile select to `default` and the
//    Compute select to `cpu`, waits until Run all is enabled (the compute
//    worker is up), then times from the click on Run all until
//    `window.__odeon.lastRun.done`; it records the success criteria
//    (`window.__odeon.criteria`), each cell's final status and the
//    "finished in N s" each cell reports;
//  - native: the wall time of `odeon run <id> --profile default --backend cpu
//    --no-plots`, its exit status and its "success criteria" summary.
// Prints a markdown table (medians over --runs) and one JSON line (also to
// --json FILE). Exits with status 1 when a run could not finish (a timeout,
// a page error, the CLI failing without a criteria summary); a criterion
// that is not met is reported, not fatal.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, CHROMIUM_ARGS } from '../e2e/chromium.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOAL_S = 60;
const READY_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 10 * 60_000;

function parseArgs(argv) {
  const o = { url: process.env.ODEON_URL, odeon: join(ROOT, 'target/release/odeon'), runs: 1, only: null, json: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--runs') o.runs = Number(argv[(i += 1)]);
    else if (arg === '--odeon') o.odeon = argv[(i += 1)];
    else if (arg === '--only') o.only = argv[(i += 1)];
    else if (arg === '--json') o.json = argv[(i += 1)];
    else if (!arg.startsWith('--')) o.url = arg;
    else throw new Error(`unknown option ${arg} (see the header of notebooks_bench.mjs)`);
  }
  if (!o.url) throw new Error('no URL: pass one or set ODEON_URL (see the header of notebooks_bench.mjs)');
  if (!(Number.isInteger(o.runs) && o.runs >= 1)) throw new Error('--runs needs a positive integer');
  if (!o.url.endsWith('/')) o.url += '/';
  return o;
}

/** The shipped notebook ids, from `odeon list` (first word of each line). */
function shippedIds(odeon) {
  const out = execFileSync(odeon, ['list'], { encoding: 'utf8' });
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

const seconds = (ms) => ms / 1000;

function stats(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, min: s[0], max: s[s.length - 1], all: values };
}

/** One browser run of notebook `id` at the default profile on the CPU. */
async function browserRun(browser, url, id) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(String(err?.stack ?? err)));
  page.on('console', (msg) => { if (msg.text().includes('panicked')) problems.push(msg.text()); });
  page.on('worker', (worker) => {
    worker.on('console', (msg) => { if (msg.text().includes('panicked')) problems.push(`[worker] ${msg.text()}`); });
  });
  try {
    await page.goto(`${url}#/nb/${id}`, { waitUntil: 'domcontentloaded', timeout: READY_TIMEOUT_MS });
    await page.waitForFunction(() => window.__odeonReady === true, null, { timeout: READY_TIMEOUT_MS });
    await page.selectOption('#profile', 'default');
    await page.selectOption('#compute', 'cpu');
    const chosen = [await page.inputValue('#profile'), await page.inputValue('#compute')];
    if (chosen[0] !== 'default' || chosen[1] !== 'cpu') throw new Error(`profile/compute are ${chosen.join('/')}`);
    // Run all is enabled once the compute worker is ready: not part of the run.
    await page.waitForSelector('#run-all:not([disabled])', { timeout: READY_TIMEOUT_MS });
    const start = process.hrtime.bigint();
    await page.click('#run-all');
    await page.waitForFunction(() => window.__odeon.lastRun && window.__odeon.lastRun.done === true, null,
      { timeout: RUN_TIMEOUT_MS, polling: 50 });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const criteria = await page.evaluate(() => JSON.parse(JSON.stringify(window.__odeon.criteria ?? {})));
    const cells = await page.$$eval('section.cell', (sections) => sections.map((s) => ({
      cell: s.dataset.cell,
      status: s.dataset.status,
      message: s.querySelector('.cell-message')?.textContent ?? '',
    })));
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    if (problems.length) throw new Error(`page errors:\n${problems.join('\n---\n')}`);
    return { ms, criteria, cells, isolated };
  } finally {
    await context.close();
  }
}

/** One native run: wall time, exit status, per-cell times and criteria. */
function nativeRun(odeon, id) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e6;
    const child = spawn(odeon, ['run', id, '--profile', 'default', '--backend', 'cpu', '--no-plots'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const starts = []; // [cell, ms since start] when "== cell <name>" arrives
    const summary = [];
    let inSummary = false;
    let rest = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        const cell = line.match(/^== cell (\S+)/);
        if (cell) starts.push([cell[1], elapsed()]);
        if (line.trim() === 'success criteria:') inSummary = true;
        else if (inSummary && /criterion (PASS|FAIL):/.test(line)) summary.push(line.trim());
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = elapsed();
      const cellMs = starts.map(([cell, t], i) => [cell, (starts[i + 1]?.[1] ?? ms) - t]);
      resolve({
        ms,
        code,
        cellSeconds: Object.fromEntries(cellMs.map(([c, t]) => [c, Number(seconds(t).toFixed(2))])),
        passed: summary.filter((l) => l.includes('criterion PASS:')).length,
        failed: summary.filter((l) => l.includes('criterion FAIL:')),
        stderr: stderr.trim(),
      });
    });
  });
}

/** Per-cell seconds from the page's "finished in N s" messages. */
function browserCellSeconds(cells) {
  return Object.fromEntries(cells.map((c) => {
    const m = c.message.match(/finished in ([\d.]+) s/);
    return [c.cell, m ? Number(m[1]) : null];
  }));
}

function countCriteria(criteria) {
  const failed = [];
  let passed = 0;
  for (const [cell, byName] of Object.entries(criteria)) {
    for (const [name, ok] of Object.entries(byName)) {
      if (ok === true) passed += 1;
      else failed.push(`${cell} / ${name}`);
    }
  }
  return { passed, failed };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let ids = shippedIds(opts.odeon);
  if (opts.only) {
    if (!ids.includes(opts.only)) throw new Error(`--only ${opts.only}: not a shipped notebook (${ids.join(', ')})`);
    ids = [opts.only];
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const chromiumVersion = browser.version();
  const results = [];
  let isolated = null;
  try {
    for (const id of ids) {
      const r = { id, browser_s: null, native_s: null, errors: [] };
      const browserMs = [];
      const nativeMs = [];
      for (let i = 0; i < opts.runs; i += 1) {
        const tag = `${id} run ${i + 1}/${opts.runs}`;
        try {
          const b = await browserRun(browser, opts.url, id);
          isolated = b.isolated;
          browserMs.push(b.ms);
          const crit = countCriteria(b.criteria);
          // The last run's details are the ones reported.
          r.criteria = { passed: crit.passed, failed: crit.failed.length, failed_names: crit.failed };
          r.cells_not_done = b.cells.filter((c) => c.status !== 'done')
            .map((c) => ({ cell: c.cell, status: c.status, message: c.message }));
          r.browser_cell_s = browserCellSeconds(b.cells);
          console.error(`${tag}: browser ${seconds(b.ms).toFixed(1)} s, criteria ${crit.passed} met, ${crit.failed.length} not`
            + (r.cells_not_done.length ? `, cells not done: ${r.cells_not_done.map((c) => `${c.cell} (${c.status})`).join(', ')}` : ''));
        } catch (err) {
          r.errors.push(`browser: ${err.message}`);
          console.error(`${tag}: browser failed: ${err.message}`);
        }
        try {
          const n = await nativeRun(opts.odeon, id);
          nativeMs.push(n.ms);
          r.native_exit = n.code;
          r.native_criteria = { passed: n.passed, failed: n.failed.length, failed_lines: n.failed };
          r.native_cell_s = n.cellSeconds;
          if (n.code !== 0 && n.failed.length === 0) r.errors.push(`native: exit ${n.code}: ${n.stderr}`);
          console.error(`${tag}: native ${seconds(n.ms).toFixed(1)} s, exit ${n.code}, criteria ${n.passed} met, ${n.failed.length} not`);
        } catch (err) {
          r.errors.push(`native: ${err.message}`);
          console.error(`${tag}: native failed: ${err.message}`);
        }
      }
      r.browser_s = stats(browserMs.map(seconds));
      r.native_s = stats(nativeMs.map(seconds));
      r.ratio = r.browser_s && r.native_s ? r.browser_s.median / r.native_s.median : null;
      r.under_a_minute = r.browser_s ? r.browser_s.median < GOAL_S : null;
      results.push(r);
    }
  } finally {
    await browser.close();
  }

  const result = {
    bench: 'notebooks',
    profile: 'default',
    backend: 'cpu',
    url: opts.url,
    runs: opts.runs,
    chromium: chromiumVersion,
    crossOriginIsolated: isolated,
    cores: availableParallelism(),
    matmul_threads_env: process.env.MATMUL_NUM_THREADS ?? null,
    notebooks: results,
  };
  const s = (x) => (x ? (opts.runs > 1 ? `${x.median.toFixed(1)} (${x.min.toFixed(1)}-${x.max.toFixed(1)})` : x.median.toFixed(1)) : 'error');
  const criteria = (r) => {
    if (!r.criteria) return 'n/a';
    const total = r.criteria.passed + r.criteria.failed;
    const notDone = r.cells_not_done?.length ? `; cells not done: ${r.cells_not_done.map((c) => `${c.cell} (${c.status})`).join(', ')}` : '';
    const native = r.native_criteria && (r.native_criteria.passed !== r.criteria.passed || r.native_criteria.failed !== r.criteria.failed)
      ? `; native ${r.native_criteria.passed}/${r.native_criteria.passed + r.native_criteria.failed}` : '';
    return `${r.criteria.passed}/${total}${r.criteria.failed ? ` (not met: ${r.criteria.failed_names.join('; ')})` : ''}${native}${notDone}`;
  };
  const lines = [
    `## Notebooks at the default profile, CPU backend (${opts.url}, ${opts.runs === 1 ? '1 run' : `median of ${opts.runs} runs`})`,
    '',
    '| notebook | browser default (s) | native (s) | ratio | criteria met | under a minute? |',
    '|---|---:|---:|---:|---|---|',
    ...results.map((r) => `| ${r.id} | ${s(r.browser_s)} | ${s(r.native_s)} | ${r.ratio ? `${r.ratio.toFixed(1)}x` : 'n/a'} | ${criteria(r)} | ${r.under_a_minute === null ? 'n/a' : r.under_a_minute ? 'yes' : '**no**'} |`),
    '',
    `(ratio: browser / native. Chromium ${result.chromium}, cross-origin isolated: ${isolated}, ${result.cores} cores.)`,
    ...results.filter((r) => r.errors.length).map((r) => `\n${r.id}: ${r.errors.join('\n')}`),
    '',
  ];
  console.log(lines.join('\n'));
  const json = JSON.stringify(result);
  console.log(json);
  if (opts.json) writeFileSync(opts.json, json + '\n');
  if (results.some((r) => r.errors.length)) process.exit(1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
