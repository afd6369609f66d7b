// TensorFlow.js side of the browser benchmarks: @tensorflow/tfjs with
// @tensorflow/tfjs-backend-wasm (XNNPACK; SIMD, and threads when the page is
// cross-origin isolated). Both are loaded as their UMD bundles (global `tf`)
// by the page before this module runs. tf.js has no jit: the step is
// `optimizer.minimize` over tf.variables, the idiomatic fast path.
import { BATCH, BETA1, BETA2, EPS, LR, MATMUL_N, SIZES, makeData, timeRuns } from "./common.js";

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

export async function mlpStep({ steps, warmup }) {
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
  const step = () => {
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

export async function matmul({ runs, warmup }) {
  const t = tf();
  const data = makeData(0);
  const a = t.tensor2d(data.a, [MATMUL_N, MATMUL_N]);
  const b = t.tensor2d(data.b, [MATMUL_N, MATMUL_N]);
  const times = await timeRuns(warmup, runs, () => {
    const c = t.matMul(a, b);
    const v = c.dataSync()[0];
    c.dispose();
    return v;
  });
  t.dispose([a, b]);
  return { times };
}
