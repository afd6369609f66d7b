//! The wasm entry: timings of the [`crate::workload`] benchmarks in the
//! browser, each a list of per-run milliseconds from `performance.now()`.
//!
//! `run_*` time the CPU backend (synchronous). `gpu_*` time the same
//! workloads on `odeon_gpu::Wgpu` over the browser's WebGPU: they are async
//! because the browser can only read GPU results back asynchronously, and
//! every timed run ends with such a read (the loss, or one element of the
//! product), so it covers the GPU finishing the work, not just queueing it.

use std::cell::RefCell;

use odeon_gpu::Wgpu;
use odeon_nn::reference::{MLP_LR, MLP_SIZES};
use odeon_tensor::{DType, SeedStream, Tensor};
use wasm_bindgen::prelude::*;

use crate::workload::{MATMUL_N, Matmul, MlpStep, time_runs};

/// `performance.now()` of the current global (window or worker), in ms.
fn now() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .and_then(|perf| {
            let f: js_sys::Function = js_sys::Reflect::get(&perf, &JsValue::from_str("now")).ok()?.dyn_into().ok()?;
            f.call0(&perf).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// Times `steps` MLP training steps after `warmup` untimed ones (ms each).
#[wasm_bindgen]
pub fn run_mlp_step(steps: usize, warmup: usize) -> Result<Vec<f64>, JsError> {
    let mut bench = MlpStep::standard(0).map_err(|e| JsError::new(&e))?;
    time_runs(warmup, steps, now, || bench.step()).map_err(|e| JsError::new(&e))
}

/// Times `runs` products of two `n x n` matrices after `warmup` untimed ones
/// (ms each); `n = 0` means the standard 512.
#[wasm_bindgen]
pub fn run_matmul(n: usize, runs: usize, warmup: usize) -> Result<Vec<f64>, JsError> {
    let mm = Matmul::new(if n == 0 { MATMUL_N } else { n }, 0);
    time_runs(warmup, runs, now, || mm.run()).map_err(|e| JsError::new(&e))
}

/// The loss after each of `steps` MLP steps (a correctness check for the page).
#[wasm_bindgen]
pub fn mlp_losses(steps: usize) -> Result<Vec<f32>, JsError> {
    let mut bench = MlpStep::standard(0).map_err(|e| JsError::new(&e))?;
    (0..steps).map(|_| bench.step().map_err(|e| JsError::new(&e))).collect()
}

thread_local! {
    /// The WebGPU backend opened by [`gpu_init`].
    static GPU: RefCell<Option<Wgpu>> = const { RefCell::new(None) };
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn gpu() -> Result<Wgpu, JsError> {
    GPU.with(|g| g.borrow().clone()).ok_or_else(|| JsError::new("no WebGPU backend: await gpu_init() first"))
}

/// Reads a GPU tensor's first element (the browser's only way: async).
async fn read_first(backend: &Wgpu, t: &Tensor<Wgpu>) -> Result<f32, JsError> {
    let values = backend.read_f32_async(t.storage()).await.map_err(js_err)?;
    values.first().copied().ok_or_else(|| JsError::new("read an empty tensor from the GPU"))
}

/// `{ key: value, ... }` as a JS object.
fn object(entries: &[(&str, JsValue)]) -> Result<js_sys::Object, JsError> {
    let out = js_sys::Object::new();
    for (key, value) in entries {
        js_sys::Reflect::set(&out, &JsValue::from_str(key), value).map_err(|_| JsError::new("cannot build the result object"))?;
    }
    Ok(out)
}

/// Opens a WebGPU device through wgpu (`Wgpu::request`: high performance
/// adapter preferred, CPU fallback adapters such as SwiftShader accepted)
/// and keeps it for the `gpu_*` benchmarks; returns wgpu's adapter summary.
#[wasm_bindgen]
pub async fn gpu_init() -> Result<String, JsError> {
    let backend = Wgpu::request().await.map_err(js_err)?;
    let summary = backend.context().adapter_summary();
    GPU.with(|g| *g.borrow_mut() = Some(backend));
    Ok(summary)
}

/// Times `runs` products of two `n x n` f32 matrices on the GPU after
/// `warmup` untimed ones. Each run is the product, a 1x1 slice of it (one
/// more GPU kernel) and the async read of that element. Returns
/// `{ times, c00, c00_ref }`: per-run ms, and the element read against its
/// value computed on the CPU in f64 from the same operands.
#[wasm_bindgen]
pub async fn gpu_run_matmul(n: usize, runs: usize, warmup: usize) -> Result<js_sys::Object, JsError> {
    let backend = gpu()?;
    let n = if n == 0 { MATMUL_N } else { n };
    // The operands of workload::Matmul::new(n, 0), uploaded.
    let mut rng = SeedStream::new(0, "bench/matmul");
    let a_host = rng.normal_tensor(&[n, n]).to_f32_vec().map_err(js_err)?;
    let b_host = rng.normal_tensor(&[n, n]).to_f32_vec().map_err(js_err)?;
    let a = Tensor::from_f32_in(&backend, &[n, n], &a_host).map_err(js_err)?;
    let b = Tensor::from_f32_in(&backend, &[n, n], &b_host).map_err(js_err)?;
    let c00_ref: f64 = (0..n).map(|k| f64::from(a_host[k]) * f64::from(b_host[k * n])).sum();
    let mut times = Vec::with_capacity(runs);
    let mut c00 = f32::NAN;
    for i in 0..warmup + runs {
        let start = now();
        let c = a.matmul(&b).map_err(js_err)?;
        let corner = c.slice_axis(0, 0, 1).and_then(|r| r.slice_axis(1, 0, 1)).map_err(js_err)?;
        c00 = read_first(&backend, &corner).await?;
        let elapsed = now() - start;
        if i >= warmup {
            times.push(elapsed);
        }
    }
    object(&[
        ("times", js_sys::Float64Array::from(&times[..]).into()),
        ("c00", f64::from(c00).into()),
        ("c00_ref", c00_ref.into()),
    ])
}

/// Times `steps` training steps of the benchmark MLP
/// (`odeon_nn::reference::MlpStep` on the GPU backend, seed 0, batch
/// `batch`) after `warmup` untimed ones. Each step is
/// `MlpStep::step_deferred` (forward, loss, backward and the Adam update,
/// all queued) and the async read of its loss, which the queue orders after
/// every kernel of the step. Returns `{ times, loss_first, loss_last }`.
#[wasm_bindgen]
pub async fn gpu_run_mlp_step(batch: usize, steps: usize, warmup: usize) -> Result<js_sys::Object, JsError> {
    let backend = gpu()?;
    let batch = if batch == 0 { odeon_nn::reference::MLP_BATCH } else { batch };
    let mut training = odeon_nn::reference::MlpStep::new(&backend, &MLP_SIZES, batch, MLP_LR, DType::F32, 0).map_err(js_err)?;
    let mut times = Vec::with_capacity(steps);
    let (mut loss_first, mut loss_last) = (f32::NAN, f32::NAN);
    for i in 0..warmup + steps {
        let start = now();
        let loss = training.step_deferred().map_err(js_err)?;
        let value = read_first(&backend, &loss).await?;
        let elapsed = now() - start;
        if i == 0 {
            loss_first = value;
        }
        loss_last = value;
        if i >= warmup {
            times.push(elapsed);
        }
    }
    object(&[
        ("times", js_sys::Float64Array::from(&times[..]).into()),
        ("loss_first", f64::from(loss_first).into()),
        ("loss_last", f64::from(loss_last).into()),
    ])
}
