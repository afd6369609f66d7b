// Browser benchmarks: Odeon wasm vs tf.js (wasm backend) vs jax-js (wasm
// device) in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core, launched with the shared flags of e2e/chromium.mjs, which
// enable WebGPU). Serves bench/web, bench/node_modules and the
// wasm-bindgen output of odeon-bench (bench/pkg) with a tiny HTTP server,
// once cross-origin isolated (COOP/COEP: SharedArrayBuffer, so tf.js and
// jax-js may use threads) and once without (every impl single-threaded),
// loads one fresh browser (playwright gives each a fresh temporary
// profile) per (impl, page) and prints one JSON line per
// result on stdout.
//
// The WebGPU implementations (odeon-webgpu, tfjs-webgpu, jaxjs-webgpu; not
// run by default) use their own counts and matmul size (--gpu-*: a software
// adapter such as SwiftShader is slow), and are reported, not gated: a
// failure prints a JSON line with `error` and does not fail the run.
//
// usage: node bench/browser_bench.mjs [--steps 50] [--warmup 10]
//          [--mmruns 50] [--mmwarmup 5] [--impls odeon,tfjs,jaxjs]
//          [--pages isolated,plain] [--pkg bench/pkg] [--timeout 1200]
//          [--gpu-steps 10] [--gpu-warmup 2] [--gpu-mmruns 10]
//          [--gpu-mmwarmup 2] [--gpu-n 512]
// e.g. node bench/browser_bench.mjs --impls odeon-webgpu,tfjs-webgpu,jaxjs-webgpu --pages isolated
import { createServer } from "node:http";
import { readFileSync, statSync } from "node:fs";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS } from "../e2e/chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const o = {
    steps: 50,
    warmup: 10,
    mmruns: 50,
    mmwarmup: 5,
    impls: "odeon,tfjs,jaxjs",
    pages: "isolated,plain",
    pkg: join(here, "pkg"),
    timeout: 1200,
    "gpu-steps": 10,
    "gpu-warmup": 2,
    "gpu-mmruns": 10,
    "gpu-mmwarmup": 2,
    "gpu-n": 512,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in o) || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]} (see the header of browser_bench.mjs)`);
    o[key] = typeof o[key] === "number" ? Number(argv[i + 1]) : argv[i + 1];
  }
  o.pkg = resolve(o.pkg);
  return o;
}

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".map": "application/json",
  ".css": "text/css",
};

/** Serves `/pkg/` from `pkg`, `/node_modules/` from bench/node_modules, the rest from bench/web. */
function serve(pkg, isolated) {
  const roots = [
    ["/pkg/", pkg],
    ["/node_modules/", join(here, "node_modules")],
    ["/", join(here, "web")],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const [prefix, root] = roots.find(([p]) => path.startsWith(p));
    let file = normalize(join(root, path.slice(prefix.length)));
    if (!file.startsWith(root + sep) && file !== root) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      const body = readFileSync(file);
      const headers = { "Content-Type": MIME[extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" };
      if (isolated) {
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Embedder-Policy"] = "require-corp";
      }
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

async function runPage(url, timeoutMs) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? CHROMIUM,
    headless: true,
    args: ["--headless=new", ...CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding"],
  });
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on("console", (m) => logs.push(`[console.${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.__benchResult || window.__benchError, null, { timeout: timeoutMs, polling: 250 });
    const error = await page.evaluate(() => window.__benchError);
    if (error) throw new Error(`${url}: ${error}\n${logs.join("\n")}`);
    return {
      lines: await page.evaluate(() => window.__benchResult),
      chromium: browser.version(),
    };
  } finally {
    await browser.close();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const servers = {};
  for (const p of o.pages.split(",")) servers[p] = await serve(o.pkg, p === "isolated");
  let failed = false;
  try {
    for (const p of o.pages.split(",")) {
      for (const impl of o.impls.split(",")) {
        const gpu = impl.endsWith("-webgpu");
        const counts = gpu
          ? `steps=${o["gpu-steps"]}&warmup=${o["gpu-warmup"]}&mmruns=${o["gpu-mmruns"]}&mmwarmup=${o["gpu-mmwarmup"]}&n=${o["gpu-n"]}`
          : `steps=${o.steps}&warmup=${o.warmup}&mmruns=${o.mmruns}&mmwarmup=${o.mmwarmup}`;
        const url = `http://127.0.0.1:${servers[p].address().port}/index.html?impl=${impl}&${counts}`;
        process.stderr.write(`browser_bench: ${impl} (${p} page)\n`);
        const started = performance.now();
        try {
          const { lines, chromium: version } = await runPage(url, o.timeout * 1000);
          for (const line of lines) console.log(JSON.stringify({ ...JSON.parse(line), page: p, chromium: version }));
        } catch (e) {
          process.stderr.write(`browser_bench: ${impl} (${p} page) failed: ${e.message}\n`);
          if (gpu) console.log(JSON.stringify({ impl, bench: "page", error: e.message.split("\n")[0], page: p }));
          else failed = true;
        }
        process.stderr.write(`browser_bench: ${impl} (${p} page) took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.close();
  }
  if (failed) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
