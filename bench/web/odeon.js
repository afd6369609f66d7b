// Odeon side of the browser benchmarks: crates/odeon-bench built for
// wasm32 (+simd128, profile wasm-release) and bound with wasm-bindgen
// --target web into bench/pkg/ (served at /pkg/). Single-threaded; timed
// inside the wasm with performance.now().
import init, { mlp_losses, run_matmul, run_mlp_step } from "/pkg/odeon_bench.js";

export async function setup() {
  await init();
  return { threads: 1, simd128: true };
}

export async function mlpStep({ steps, warmup }) {
  const losses = mlp_losses(2);
  const times = Array.from(run_mlp_step(steps, warmup));
  return { times, loss_first: losses[0], loss_last: losses[1] };
}

export async function matmul({ runs, warmup, n }) {
  return { times: Array.from(run_matmul(n ?? 0, runs, warmup)) };
}
