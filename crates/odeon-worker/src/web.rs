//! The wasm-bindgen surface: one small handle the worker script drives.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_gpu::{GpuContext, matmul_cpu_reference};
use odeon_notebook::protocol::{FromWorker, ToWorker};
use odeon_notebook::runtime::{Host, Session};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn post(message: &FromWorker) {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    if let Ok(value) = message.serialize(&serializer) {
        let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.post_message(&value);
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The worker's state, driven by `web/worker.js`.
#[wasm_bindgen]
pub struct WorkerHandle {
    session: Option<Session>,
    stop_flag: Rc<RefCell<Option<js_sys::Int32Array>>>,
    gpu: Rc<RefCell<Option<Rc<GpuContext>>>>,
}

#[wasm_bindgen]
impl WorkerHandle {
    /// Starts the worker and probes WebGPU in the background.
    /// `adapter_label` is what the browser tells JavaScript about the
    /// adapter (vendor, architecture), shown when wgpu sees no name.
    #[wasm_bindgen(constructor)]
    pub fn new(adapter_label: Option<String>) -> WorkerHandle {
        console_error_panic_hook::set_once();
        let handle = WorkerHandle { session: None, stop_flag: Rc::new(RefCell::new(None)), gpu: Rc::new(RefCell::new(None)) };
        let gpu = Rc::clone(&handle.gpu);
        wasm_bindgen_futures::spawn_local(async move {
            match GpuContext::new().await {
                Ok(ctx) => {
                    let summary = ctx.adapter_summary();
                    let summary = match adapter_label {
                        Some(label) if ctx.adapter_info.name.trim().is_empty() => format!("{label} ({summary})"),
                        _ => summary,
                    };
                    post(&FromWorker::Gpu { adapter: Some(summary), reason: None });
                    *gpu.borrow_mut() = Some(Rc::new(ctx));
                }
                Err(err) => post(&FromWorker::Gpu { adapter: None, reason: Some(err.to_string()) }),
            }
        });
        post(&FromWorker::Ready);
        handle
    }

    /// Hands over the shared stop flag (cross-origin isolated pages only).
    pub fn set_stop_buffer(&mut self, buffer: js_sys::SharedArrayBuffer) {
        *self.stop_flag.borrow_mut() = Some(js_sys::Int32Array::new(&buffer));
    }

    /// Handles one message from the page.
    pub fn on_message(&mut self, message: JsValue) {
        let message: ToWorker = match serde_wasm_bindgen::from_value(message) {
            Ok(m) => m,
            Err(err) => {
                web_sys::console::error_1(&format!("odeon worker: unreadable message: {err}").into());
                return;
            }
        };
        match message {
            ToWorker::Run { run_id, cells, seed, profile, fresh } => {
                if fresh || self.session.is_none() {
                    self.session = Some(Session::new(seed, &profile));
                }
                if let Some(session) = self.session.as_mut() {
                    for cell in cells {
                        post(&FromWorker::CellStarted { run_id, cell: cell.name.clone() });
                        let start = now_ms();
                        let name = cell.name.clone();
                        let flag = self.stop_flag.borrow().clone();
                        let host = Host {
                            emit: Box::new(move |event| post(&FromWorker::Output { run_id, cell: name.clone(), event })),
                            should_stop: Box::new(move || {
                                flag.as_ref().is_some_and(|f| js_sys::Atomics::load(f, 0).unwrap_or(0) != 0)
                            }),
                        };
                        let result = session.run_cell(&cell.source, host);
                        let failed = result.is_err();
                        let (error, stopped) = match result {
                            Ok(()) => (None, false),
                            Err(err) => (Some(err.to_string()), err.stopped),
                        };
                        post(&FromWorker::CellFinished { run_id, cell: cell.name, error, stopped, millis: now_ms() - start });
                        if failed {
                            break;
                        }
                    }
                }
                post(&FromWorker::RunFinished { run_id });
            }
            ToWorker::Allocate { bytes } => {
                // `with_capacity` aborts the instance when the memory cannot
                // grow, exactly as an out-of-memory cell would.
                let block: Vec<u8> = Vec::with_capacity(bytes.clamp(0.0, usize::MAX as f64) as usize);
                drop(block);
            }
            ToWorker::EngineCheck { steps } => {
                let start = now_ms();
                let run = || -> Result<FromWorker, odeon_nn::NnError> {
                    let mut bench = odeon_nn::reference::MlpStep::standard(0)?;
                    let losses = (0..steps).map(|_| bench.step()).collect::<Result<Vec<_>, _>>()?;
                    let params = bench.flat_parameters()?;
                    let samples = odeon_nn::reference::sampler_draws(200)?;
                    Ok(FromWorker::EngineCheckResult { losses, params, samples, millis: now_ms() - start, error: None })
                };
                let message = run().unwrap_or_else(|err| FromWorker::EngineCheckResult {
                    losses: vec![],
                    params: vec![],
                    samples: vec![],
                    millis: 0.0,
                    error: Some(err.to_string()),
                });
                post(&message);
            }
            ToWorker::GpuCheck => {
                let gpu = self.gpu.borrow().clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let ctx = match gpu {
                        Some(ctx) => ctx,
                        None => match GpuContext::new().await {
                            Ok(ctx) => Rc::new(ctx),
                            Err(err) => {
                                post(&FromWorker::GpuCheckResult { ok: false, adapter: String::new(), max_abs_error: f64::NAN, message: err.to_string() });
                                return;
                            }
                        },
                    };
                    let (a, b, m, k, n) = crate::gpu_check_operands();
                    let reference = matmul_cpu_reference(&a, &b, m, k, n);
                    let result = match ctx.matmul(&a, &b, m, k, n).await {
                        Ok(gpu) => {
                            let err = gpu.iter().zip(&reference).map(|(g, c)| f64::from((g - c).abs())).fold(0.0, f64::max);
                            let ok = err < 1e-3;
                            FromWorker::GpuCheckResult {
                                ok,
                                adapter: ctx.adapter_summary(),
                                max_abs_error: err,
                                message: format!(
                                    "WebGPU matmul {m}x{k}x{n} {} the CPU (largest difference {err:.2e})",
                                    if ok { "matches" } else { "DOES NOT match" }
                                ),
                            }
                        }
                        Err(err) => FromWorker::GpuCheckResult { ok: false, adapter: ctx.adapter_summary(), max_abs_error: f64::NAN, message: err.to_string() },
                    };
                    post(&result);
                });
            }
        }
    }
}

