// jax-js (@jax-js/jax) side of the browser benchmarks: its wasm device
// (multi-threaded when SharedArrayBuffer is available) or its webgpu device,
// the whole training step under one jit(), Adam written out as in
// odeon_nn::Adam.
//
// Every timed run waits for the device: blockUntilReady on the new
// parameters and moments, then an async read of the loss; on WebGPU
// (`gpu: true`) the matmul run ends with an async read of element [0, 0] of
// the (fully computed, jit output) product.
import { blockUntilReady, defaultDevice, init, jit, nn, numpy as np, tree, valueAndGrad } from "@jax-js/jax";
import { BATCH, BETA1, BETA2, EPS, LR, MATMUL_N, SIZES, corner, makeData, timeRuns } from "./common.js";

export async function setup() {
  const devices = await init("wasm");
  defaultDevice("wasm");
  const isolated = typeof SharedArrayBuffer !== "undefined" && typeof Worker !== "undefined";
  const cores = (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 4;
  return { devices, threads: isolated ? cores : 1 };
}

/** The webgpu device; throws when jax-js cannot start it. */
export async function setupWebgpu() {
  const devices = await init("webgpu");
  if (!devices.includes("webgpu")) throw new Error(`jax-js init("webgpu") started no webgpu device (devices: ${JSON.stringify(devices)})`);
  defaultDevice("webgpu");
  return { devices };
}

function lossFn(params, x, y) {
  let h = x;
  params.forEach(([w, b], i) => {
    h = np.matmul(h, w).add(b);
    if (i + 1 < params.length) h = nn.silu(h);
  });
  return np.square(h.sub(y)).mean();
}

const trainStep = jit((params, m, v, c1, c2, x, y) => {
  const [loss, grads] = valueAndGrad(lossFn)(tree.ref(params), x, y);
  const m2 = tree.map((mi, g) => mi.mul(BETA1).add(g.ref.mul(1 - BETA1)), m, grads);
  const v2 = tree.map((vi, g) => vi.mul(BETA2).add(g.ref.mul(g).mul(1 - BETA2)), v, grads);
  const p2 = tree.map(
    (p, mi, vi) => p.sub(mi.ref.div(c1.ref).mul(LR).div(np.sqrt(vi.ref.div(c2.ref)).add(EPS))),
    params,
    m2,
    v2,
  );
  c1.dispose();
  c2.dispose();
  return [p2, m2, v2, loss];
});

export async function mlpStep({ steps, warmup }) {
  const data = makeData(0);
  let params = data.layers.map((l) => [np.array(l.w).reshape(l.shapeW), np.array(l.b).reshape([1, l.b.length])]);
  let m = tree.map((p) => np.zerosLike(p.ref), params);
  let v = tree.map((p) => np.zerosLike(p.ref), params);
  const x = np.array(data.x).reshape([BATCH, SIZES[0]]);
  const y = np.array(data.y).reshape([BATCH, SIZES[SIZES.length - 1]]);
  let t = 0;
  const losses = [];
  const step = async () => {
    t += 1;
    const c1 = np.array(1 - BETA1 ** t);
    const c2 = np.array(1 - BETA2 ** t);
    let loss;
    [params, m, v, loss] = trainStep(params, m, v, c1, c2, x.ref, y.ref);
    await blockUntilReady([params, m, v]);
    const value = (await loss.data())[0];
    losses.push(value);
    return value;
  };
  const times = await timeRuns(warmup, steps, step);
  tree.dispose([params, m, v, x, y]);
  return { times, loss_first: losses[0], loss_last: losses[losses.length - 1] };
}

export async function matmul({ runs, warmup, n = MATMUL_N, gpu = false }) {
  const data = makeData(0, n);
  const a = np.array(data.a).reshape([n, n]);
  const b = np.array(data.b).reshape([n, n]);
  const mm = jit((a, b) => np.matmul(a, b));
  let c00 = NaN;
  const times = await timeRuns(
    warmup,
    runs,
    gpu
      ? async () => {
          const c = mm(a.ref, b.ref);
          c00 = (await c.slice(0, 0).data())[0];
          return c00;
        }
      : async () => {
          const c = mm(a.ref, b.ref);
          await c.blockUntilReady();
          c.dispose();
          return 0;
        },
  );
  tree.dispose([a, b]);
  return gpu ? { times, c00, c00_ref: corner(data.a, data.b, n) } : { times };
}
