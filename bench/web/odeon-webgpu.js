// Odeon on WebGPU: the same wasm module as odeon.js (bench/pkg), its async
// `gpu_*` exports, which run the workload on odeon_gpu::Wgpu over the
// browser's WebGPU (through wgpu). Timed inside the wasm with
// performance.now(); each timed run ends with an async read of one value
// (the loss, or element [0, 0] of the product), so it includes the GPU
// finishing the work.
import init, { gpu_init, gpu_run_matmul, gpu_run_mlp_step } from "/pkg/odeon_bench.js";

export async function setup() {
  await init();
  return { wgpu_adapter: await gpu_init() };
}

export async function mlpStep({ steps, warmup }) {
  const r = await gpu_run_mlp_step(0, steps, warmup);
  return { times: Array.from(r.times), loss_first: r.loss_first, loss_last: r.loss_last };
}

export async function matmul({ runs, warmup, n }) {
  const r = await gpu_run_matmul(n, runs, warmup);
  return { times: Array.from(r.times), c00: r.c00, c00_ref: r.c00_ref };
}
