//! The wasm entry: timings of the [`crate::workload`] benchmarks in the
//! browser, each a list of per-run milliseconds from `performance.now()`.

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
