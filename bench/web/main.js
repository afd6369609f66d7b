// Runs one implementation's benchmarks (chosen by ?impl=) on this page's
// main thread and publishes JSON lines on window.__benchResult, or an error
// on window.__benchError.
//
// The WebGPU implementations (`*-webgpu`) are reported, not gated: when one
// cannot start or a benchmark fails, its line carries `error` (the message)
// instead of timings, and the page still publishes a result.
import { median } from "./common.js";

const q = new URLSearchParams(location.search);
const impl = q.get("impl") ?? "odeon";
const num = (key, fallback) => Number(q.get(key) ?? fallback);
const opts = { steps: num("steps", 50), warmup: num("warmup", 10), runs: num("mmruns", 50), mmwarmup: num("mmwarmup", 5), n: num("n", 512) };

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(s);
  });
}

/** What the browser says about its WebGPU adapter (independent of the peers). */
async function webgpuAdapter() {
  if (!navigator.gpu) throw new Error("navigator.gpu is undefined: WebGPU is not enabled in this browser");
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("navigator.gpu.requestAdapter() returned null (no WebGPU adapter)");
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    fallback: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
  };
}

const TF = "/node_modules/@tensorflow";

const IMPLS = {
  odeon: async () => {
    const m = await import("./odeon.js");
    return { m, info: await m.setup() };
  },
  tfjs: async () => {
    await loadScript(`${TF}/tfjs/dist/tf.min.js`);
    await loadScript(`${TF}/tfjs-backend-wasm/dist/tf-backend-wasm.min.js`);
    const m = await import("./tfjs.js");
    return { m, info: await m.setup(`${TF}/tfjs-backend-wasm/dist/`) };
  },
  jaxjs: async () => {
    const m = await import("./jaxjs.js");
    return { m, info: { ...(await m.setup()), jit: true } };
  },
  "odeon-webgpu": async () => {
    const m = await import("./odeon-webgpu.js");
    return { m, info: await m.setup() };
  },
  "tfjs-webgpu": async () => {
    await loadScript(`${TF}/tfjs/dist/tf.min.js`);
    await loadScript(`${TF}/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js`);
    const m = await import("./tfjs.js");
    return { m, info: await m.setupWebgpu() };
  },
  "jaxjs-webgpu": async () => {
    const m = await import("./jaxjs.js");
    return { m, info: { ...(await m.setupWebgpu()), jit: true } };
  },
};

/** The name in the JSON lines (e.g. "odeon-wasm", "jax-js-webgpu"). */
function implName(key) {
  const [base, device] = key.split("-");
  return `${base === "jaxjs" ? "jax-js" : base}-${device ?? "wasm"}`;
}

const message = (e) => String(e && e.message ? e.message : e);

async function main() {
  const out = document.getElementById("out");
  const lines = [];
  const name = implName(impl);
  const gpu = impl.endsWith("-webgpu");
  if (!IMPLS[impl]) throw new Error(`unknown impl ${impl}`);
  const common = { crossOriginIsolated: globalThis.crossOriginIsolated === true, cores: navigator.hardwareConcurrency };
  const publish = (line) => {
    lines.push(JSON.stringify(line));
    out.textContent = lines.join("\n");
  };
  const benches = [
    ["mlp_step", { batch: 1024 }, opts.warmup, (m) => m.mlpStep({ steps: opts.steps, warmup: opts.warmup, gpu })],
    ["matmul", { n: opts.n }, opts.mmwarmup, (m) => m.matmul({ runs: opts.runs, warmup: opts.mmwarmup, n: opts.n, gpu })],
  ];
  let loaded;
  if (gpu) {
    try {
      common.adapter = await webgpuAdapter();
      loaded = await IMPLS[impl]();
    } catch (e) {
      for (const [bench, extra] of benches) publish({ impl: name, bench, error: `setup: ${message(e)}`, ...common, ...extra });
      window.__benchResult = lines;
      return;
    }
  } else {
    loaded = await IMPLS[impl]();
  }
  const { m, info } = loaded;
  Object.assign(common, info);
  for (const [bench, extra, warmup, run] of benches) {
    let r;
    try {
      r = await run(m);
    } catch (e) {
      if (!gpu) throw e;
      publish({ impl: name, bench, error: message(e), warmup, ...common, ...extra });
      continue;
    }
    const { times, ...rest } = r;
    publish({
      impl: name,
      bench,
      median_ms: Number(median(times).toFixed(4)),
      min_ms: Number(Math.min(...times).toFixed(4)),
      runs: times.length,
      warmup,
      ...common,
      ...extra,
      ...rest,
    });
  }
  window.__benchResult = lines;
}

main().catch((e) => {
  window.__benchError = String(e && e.stack ? e.stack : e);
  document.getElementById("out").textContent = window.__benchError;
});
