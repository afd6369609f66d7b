// TensorFlow.js side of the browser benchmarks: @tensorflow/tfjs with
// @tensorflow/tfjs-backend-wasm (XNNPACK; SIMD, and threads when the page is
// cross-origin isolated) or @tensorflow/tfjs-backend-webgpu. They are loaded
// as their UMD bundles (global `tf`) by the page before this module runs.
// tf.js has no jit: the step is `optimizer.minimize` over tf.variables, the
// idiomatic fast path.
//
// On wasm, results are read with dataSync(). On WebGPU (`gpu: true`) they
// are read with `await data()`, tf.js's non-blocking read, which submits
// every queued command first: each timed run ends when the GPU has finished
// it and one value (the loss, or element [0, 0] of the product) is back.
import { BATCH, BETA1, BETA2, EPS, LR, MATMUL_N, SIZES, corner, makeData, timeRuns } from "./common.js";

const tf = () => globalThis.tf;

export async function setup(wasmPath) {
  tf().wasm.setWasmPaths(wasmPath);
  // tf.js defaults to half the cores; give it all of them when threads work.
  if (globalThis.crossOriginIsolated) tf().wasm.setThreadsCount(navigator.hardwareConcurrency);
  const ok = await tf().setBackend("wasm");
  if (!ok) throw new Error("tf.setBackend('wasm') failed");
  await tf().ready();
  return {
    backend: tf().getBackend(),
    threads: tf().wasm.getThreadsCount(),
    simd: await tf().env().getAsync("WASM_HAS_SIMD_SUPPORT"),
    multithread: await tf().env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
    version: tf().version_core,
  };
}

/** The WebGPU backend (tfjs-backend-webgpu); throws when it cannot start. */
export async function setupWebgpu() {
  const ok = await tf().setBackend("webgpu");
  if (!ok || tf().getBackend() !== "webgpu") throw new Error(`tf.setBackend('webgpu') failed (backend is ${tf().getBackend()})`);
  await tf().ready();
  const info = tf().backend().adapterInfo;
  return {
    backend: tf().getBackend(),
    version: tf().version_core,
    tfjs_adapter: info ? { vendor: info.vendor, architecture: info.architecture } : null,
  };
}

export async function mlpStep({ steps, warmup, gpu = false }) {
  const t = tf();
  const data = makeData(0);
  const vars = [];
  const layers = data.layers.map((l) => {
    const w = t.variable(t.tensor2d(l.w, l.shapeW));
    const b = t.variable(t.tensor2d(l.b, [1, l.b.length]));
    vars.push(w, b);
    return [w, b];
  });
  const x = t.tensor2d(data.x, [BATCH, SIZES[0]]);
  const y = t.tensor2d(data.y, [BATCH, SIZES[SIZES.length - 1]]);
  const opt = t.train.adam(LR, BETA1, BETA2, EPS);
  const lossFn = () => {
    let h = x;
    layers.forEach(([w, b], i) => {
      h = t.add(t.matMul(h, w), b);
      if (i + 1 < layers.length) h = t.mul(h, t.sigmoid(h)); // SiLU
    });
    return t.mean(t.square(t.sub(h, y)));
  };
  const losses = [];
  const step = gpu
    ? async () => {
        const loss = opt.minimize(lossFn, true, vars);
        const value = (await loss.data())[0];
        loss.dispose();
        losses.push(value);
        return value;
      }
    : () => {
        const loss = opt.minimize(lossFn, true, vars);
        const value = loss.dataSync()[0];
        loss.dispose();
        losses.push(value);
        return value;
      };
  const times = await timeRuns(warmup, steps, step);
  opt.dispose();
  t.dispose([...vars, x, y]);
  return { times, loss_first: losses[0], loss_last: losses[losses.length - 1] };
}

export async function matmul({ runs, warmup, n = MATMUL_N, gpu = false }) {
  const t = tf();
  const data = makeData(0, n);
  const a = t.tensor2d(data.a, [n, n]);
  const b = t.tensor2d(data.b, [n, n]);
  let c00 = NaN;
  const times = await timeRuns(
    warmup,
    runs,
    gpu
      ? async () => {
          const c = t.matMul(a, b);
          const s = t.slice(c, [0, 0], [1, 1]);
          c00 = (await s.data())[0];
          t.dispose([c, s]);
          return c00;
        }
      : () => {
          const c = t.matMul(a, b);
          const v = c.dataSync()[0];
          c.dispose();
          return v;
        },
  );
  t.dispose([a, b]);
  return gpu ? { times, c00, c00_ref: corner(data.a, data.b, n) } : { times };
}
