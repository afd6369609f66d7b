// Runs one implementation's benchmarks (chosen by ?impl=) on this page's
// main thread and publishes JSON lines on window.__benchResult, or an error
// on window.__benchError.
import { median } from "./common.js";

const q = new URLSearchParams(location.search);
const impl = q.get("impl") ?? "odeon";
const num = (key, fallback) => Number(q.get(key) ?? fallback);
const opts = { steps: num("steps", 50), warmup: num("warmup", 10), runs: num("mmruns", 50), mmwarmup: num("mmwarmup", 5) };

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(s);
  });
}

async function load() {
  if (impl === "odeon") {
    const m = await import("./odeon.js");
    return { name: "odeon-wasm", m, info: await m.setup() };
  }
  if (impl === "tfjs") {
    await loadScript("/node_modules/@tensorflow/tfjs/dist/tf.min.js");
    await loadScript("/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js");
    const m = await import("./tfjs.js");
    return { name: "tfjs-wasm", m, info: await m.setup("/node_modules/@tensorflow/tfjs-backend-wasm/dist/") };
  }
  if (impl === "jaxjs") {
    const m = await import("./jaxjs.js");
    const info = await m.setup();
    return { name: "jax-js-wasm", m, info: { ...info, jit: true } };
  }
  throw new Error(`unknown impl ${impl}`);
}

async function main() {
  const out = document.getElementById("out");
  const lines = [];
  const { name, m, info } = await load();
  const common = { crossOriginIsolated: globalThis.crossOriginIsolated === true, cores: navigator.hardwareConcurrency, ...info };
  const emit = (bench, r, warmup, extra) => {
    const { times, ...rest } = r;
    const line = {
      impl: name,
      bench,
      median_ms: Number(median(times).toFixed(4)),
      min_ms: Number(Math.min(...times).toFixed(4)),
      runs: times.length,
      warmup,
      ...common,
      ...extra,
      ...rest,
    };
    lines.push(JSON.stringify(line));
    out.textContent = lines.join("\n");
  };
  emit("mlp_step", await m.mlpStep({ steps: opts.steps, warmup: opts.warmup }), opts.warmup, { batch: 1024 });
  emit("matmul", await m.matmul({ runs: opts.runs, warmup: opts.mmwarmup }), opts.mmwarmup, { n: 512 });
  window.__benchResult = lines;
}

main().catch((e) => {
  window.__benchError = String(e && e.stack ? e.stack : e);
  document.getElementById("out").textContent = window.__benchError;
});
