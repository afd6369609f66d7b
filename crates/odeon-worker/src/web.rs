//! The wasm-bindgen surface: one small handle the worker script drives.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use odeon_gpu::policy::{AdapterFacts, BackendKind, Requested, WorkSize, choose};
use odeon_gpu::{GpuContext, Wgpu, matmul_cpu_reference};
use odeon_notebook::protocol::{FromWorker, ToWorker};
use odeon_notebook::events::Event;
use odeon_notebook::runtime::{CellState, Compute, Host, Job, JobOutput, RunError, Session, is_device_failure, run_on};
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

/// Resolves after `ms` milliseconds (the worker's `setTimeout`).
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// The WebGPU probe started with the worker.
enum Probe {
    /// Still waiting for an adapter and device.
    Pending,
    /// A device, what the policy knows about its adapter, and its summary
    /// for the page; the tensor backend on it is made on first use.
    Ready { ctx: Arc<GpuContext>, facts: AdapterFacts, summary: String, backend: Option<Wgpu> },
    /// Why there is no WebGPU.
    Failed(String),
}

/// The worker's state, driven by `web/worker.js`.
#[wasm_bindgen]
pub struct WorkerHandle {
    session: Rc<RefCell<Option<Session>>>,
    stop_flag: Rc<RefCell<Option<js_sys::Int32Array>>>,
    gpu: Rc<RefCell<Probe>>,
    runs: Rc<RefCell<VecDeque<PendingRun>>>,
    running: Rc<Cell<bool>>,
}

/// A `ToWorker::Run` waiting its turn.
struct PendingRun {
    run_id: u32,
    cells: Vec<odeon_notebook::Cell>,
    seed: u64,
    profile: String,
    fresh: bool,
    backend: String,
}

/// Tells the page what `auto` would choose for a notebook-sized workload.
fn post_policy(adapter: Result<&AdapterFacts, &str>) {
    let choice = choose(Requested::Auto, adapter, WorkSize::notebook_default());
    post(&FromWorker::BackendPolicy { backend: choice.backend.id().to_owned(), reason: choice.reason });
}

#[wasm_bindgen]
impl WorkerHandle {
    /// Starts the worker and probes WebGPU in the background.
    /// `adapter_label` is what the browser tells JavaScript about the
    /// adapter (vendor, architecture), shown when wgpu sees no name.
    #[wasm_bindgen(constructor)]
    pub fn new(adapter_label: Option<String>) -> WorkerHandle {
        console_error_panic_hook::set_once();
        let handle = WorkerHandle {
            session: Rc::default(),
            stop_flag: Rc::new(RefCell::new(None)),
            gpu: Rc::new(RefCell::new(Probe::Pending)),
            runs: Rc::default(),
            running: Rc::default(),
        };
        let gpu = Rc::clone(&handle.gpu);
        wasm_bindgen_futures::spawn_local(async move {
            match GpuContext::new().await {
                Ok(ctx) => {
                    let summary = ctx.adapter_summary();
                    let summary = match &adapter_label {
                        Some(label) if ctx.adapter_info.name.trim().is_empty() => format!("{label} ({summary})"),
                        _ => summary,
                    };
                    let facts = AdapterFacts::from_context(&ctx, adapter_label.as_deref());
                    post(&FromWorker::Gpu { adapter: Some(summary.clone()), reason: None });
                    post_policy(Ok(&facts));
                    // wgpu's WebGPU handles are not Send; Arc is what `Wgpu::new` takes.
                    #[allow(clippy::arc_with_non_send_sync)]
                    let ctx = Arc::new(ctx);
                    *gpu.borrow_mut() = Probe::Ready { ctx, facts, summary, backend: None };
                }
                Err(err) => {
                    let reason = err.to_string();
                    post(&FromWorker::Gpu { adapter: None, reason: Some(reason.clone()) });
                    post_policy(Err(&reason));
                    *gpu.borrow_mut() = Probe::Failed(reason);
                }
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
            ToWorker::Run { run_id, cells, seed, profile, fresh, backend } => {
                self.runs.borrow_mut().push_back(PendingRun { run_id, cells, seed, profile, fresh, backend });
                if !self.running.replace(true) {
                    let (session, runs, running) = (Rc::clone(&self.session), Rc::clone(&self.runs), Rc::clone(&self.running));
                    let (gpu, stop_flag) = (Rc::clone(&self.gpu), Rc::clone(&self.stop_flag));
                    wasm_bindgen_futures::spawn_local(async move {
                        // One run at a time, in the order they came.
                        loop {
                            let next = runs.borrow_mut().pop_front();
                            let Some(run) = next else { break };
                            run_cells(&session, &gpu, &stop_flag, run).await;
                        }
                        running.set(false);
                    });
                }
            }
            ToWorker::LoseDevice => {
                if let Probe::Ready { ctx, .. } = &*self.gpu.borrow() {
                    ctx.device.destroy();
                }
            }
            ToWorker::Allocate { bytes } => {
                // `with_capacity` aborts the instance when the memory cannot
                // grow, exactly as an out-of-memory cell would.
                let block: Vec<u8> = Vec::with_capacity(bytes.clamp(0.0, usize::MAX as f64) as usize);
                drop(block);
            }
            ToWorker::BackendCheck { backend, steps } => {
                let gpu = Rc::clone(&self.gpu);
                wasm_bindgen_futures::spawn_local(async move {
                    post(&backend_check(&backend, steps, gpu).await);
                });
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
                let gpu = match &*self.gpu.borrow() {
                    Probe::Ready { ctx, .. } => Some(Arc::clone(ctx)),
                    _ => None,
                };
                wasm_bindgen_futures::spawn_local(async move {
                    let ctx = match gpu {
                        Some(ctx) => ctx,
                        None => match GpuContext::new().await {
                            #[allow(clippy::arc_with_non_send_sync)] // see the probe
                            Ok(ctx) => Arc::new(ctx),
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

/// The host of one cell pass: outputs go to the page, stop reads the flag.
fn cell_host(run_id: u32, cell: &str, stop_flag: &Rc<RefCell<Option<js_sys::Int32Array>>>) -> Host {
    let name = cell.to_owned();
    let flag = stop_flag.borrow().clone();
    Host {
        emit: Box::new(move |event| post(&FromWorker::Output { run_id, cell: name.clone(), event })),
        should_stop: Box::new(move || stop_requested(flag.as_ref())),
    }
}

fn stop_requested(flag: Option<&js_sys::Int32Array>) -> bool {
    flag.is_some_and(|f| js_sys::Atomics::load(f, 0).unwrap_or(0) != 0)
}

/// Runs the cells of one `Run` in order, stopping at the first failure.
/// With a GPU possible, training calls suspend their cell
/// ([`Compute::Deferred`]): the job runs here, asynchronously, and the cell
/// resumes with its output.
async fn run_cells(
    session: &Rc<RefCell<Option<Session>>>,
    gpu: &Rc<RefCell<Probe>>,
    stop_flag: &Rc<RefCell<Option<js_sys::Int32Array>>>,
    run: PendingRun,
) {
    let PendingRun { run_id, cells, seed, profile, fresh, backend } = run;
    let requested = Requested::parse(&backend).unwrap_or(Requested::Auto);
    {
        let mut session = session.borrow_mut();
        if fresh || session.is_none() {
            *session = Some(Session::new(seed, &profile));
        }
        if let Some(session) = session.as_mut() {
            session.set_compute(if requested == Requested::Cpu { Compute::Cpu } else { Compute::Deferred });
        }
    }
    for cell in cells {
        post(&FromWorker::CellStarted { run_id, cell: cell.name.clone() });
        let start = now_ms();
        let no_session = || RunError { message: "the notebook session is gone".into(), line: None, stopped: false };
        let mut state = session
            .borrow_mut()
            .as_mut()
            .map_or_else(|| Err(no_session()), |s| s.start_cell(&cell.source, cell_host(run_id, &cell.name, stop_flag)));
        let result = loop {
            match state {
                Ok(CellState::Finished) => break Ok(()),
                Err(err) => break Err(err),
                Ok(CellState::NeedsJob(job)) => {
                    let name = cell.name.clone();
                    let mut sink = move |event: Event| post(&FromWorker::Output { run_id, cell: name.clone(), event });
                    let flag = stop_flag.borrow().clone();
                    let should_stop = move || stop_requested(flag.as_ref());
                    let output = run_job(&job, requested, gpu, &mut sink, &should_stop).await;
                    let mut session = session.borrow_mut();
                    let Some(session) = session.as_mut() else { break Err(no_session()) };
                    // A failed job fails its call, at the call's line.
                    let output = output.unwrap_or_else(JobOutput::Failed);
                    state = session.resume_cell(&cell.source, cell_host(run_id, &cell.name, stop_flag), *job, output);
                }
            }
        };
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
    post(&FromWorker::RunFinished { run_id });
}

/// Waits (up to 30 s) for the WebGPU probe started with the worker.
async fn probe_settled(gpu: &Rc<RefCell<Probe>>) {
    for _ in 0..600 {
        if !matches!(*gpu.borrow(), Probe::Pending) {
            break;
        }
        sleep_ms(50).await;
    }
}

/// The tensor backend on the probed device, made on first use.
fn gpu_backend(gpu: &Rc<RefCell<Probe>>) -> Result<(Wgpu, String), String> {
    let mut probe = gpu.borrow_mut();
    let Probe::Ready { ctx, summary, backend, .. } = &mut *probe else {
        return Err("WebGPU is not ready".into());
    };
    let made = match backend {
        Some(b) => Ok(b.clone()),
        None => Wgpu::new(Arc::clone(ctx)).inspect(|b| *backend = Some(b.clone())).map_err(|e| e.to_string()),
    };
    made.map(|b| (b, summary.clone()))
}

/// Runs a cell's job where the policy says: on WebGPU through the async
/// driver, or on the CPU. A device that fails (lost, out of memory) is
/// reported in the cell and to the page, never used again in this worker,
/// and the job runs again on the CPU.
async fn run_job(
    job: &Job,
    requested: Requested,
    gpu: &Rc<RefCell<Probe>>,
    sink: &mut dyn FnMut(Event),
    should_stop: &dyn Fn() -> bool,
) -> Result<JobOutput, odeon_methods::MethodError> {
    if requested != Requested::Cpu {
        probe_settled(gpu).await;
    }
    let (sizes, batch) = job.mlp_work();
    let work = WorkSize::mlp_step(&sizes, batch);
    let choice = match &*gpu.borrow() {
        Probe::Ready { facts, .. } => choose(requested, Ok(facts), work),
        Probe::Failed(why) => choose(requested, Err(why), work),
        Probe::Pending => choose(requested, Err("the WebGPU probe did not finish within 30 s"), work),
    };
    let on_cpu = |sink: &mut dyn FnMut(Event)| {
        let mut progress = odeon_notebook::runtime::TrainingProgress::new(job.steps());
        run_on(&odeon_tensor::Cpu, job, &mut |step, total, loss| {
            progress.observe(step, total, loss, sink);
            !should_stop()
        })
    };
    if choice.backend == BackendKind::Cpu {
        sink(Event::Log { text: format!("Training on the CPU: {}", choice.reason) });
        return on_cpu(sink);
    }
    let failure = match gpu_backend(gpu) {
        Ok((backend, summary)) => {
            sink(Event::Log { text: format!("Training on WebGPU ({summary}): {}", choice.reason) });
            let reader = backend.clone();
            let read = move |t: odeon_tensor::Tensor<Wgpu>| {
                let reader = reader.clone();
                async move { reader.read_f32_async(t.storage()).await }
            };
            match crate::jobs::drive_job(&backend, job, read, sink, should_stop).await {
                Err(err) if is_device_failure(&err) => err.to_string(),
                other => return other,
            }
        }
        Err(why) => why,
    };
    let reason = format!("the WebGPU device failed ({failure})");
    *gpu.borrow_mut() = Probe::Failed(reason.clone());
    post(&FromWorker::Gpu { adapter: None, reason: Some(reason.clone()) });
    post_policy(Err(&reason));
    sink(Event::Log { text: format!("WebGPU stopped working: {reason}. This training ran again on the CPU; the notebook keeps going on the CPU.") });
    on_cpu(sink)
}

/// Trains the reference workload on the backend the policy picks for
/// `requested` (see [`ToWorker::BackendCheck`]).
async fn backend_check(requested: &str, steps: u32, gpu: Rc<RefCell<Probe>>) -> FromWorker {
    let start = now_ms();
    let failed = |backend: &str, adapter: String, reason: String, error: String| FromWorker::BackendCheckResult {
        backend: backend.to_owned(),
        adapter,
        reason,
        losses: vec![],
        params: vec![],
        millis: 0.0,
        error: Some(error),
    };
    let requested = match Requested::parse(requested) {
        Ok(r) => r,
        Err(err) => return failed("", String::new(), String::new(), err),
    };
    // A check sent right after the page loads may beat the probe.
    probe_settled(&gpu).await;
    let work = WorkSize::mlp_step(&odeon_nn::reference::MLP_SIZES, odeon_nn::reference::MLP_BATCH);
    let choice = match &*gpu.borrow() {
        Probe::Ready { facts, .. } => choose(requested, Ok(facts), work),
        Probe::Failed(why) => choose(requested, Err(why), work),
        Probe::Pending => choose(requested, Err("the WebGPU probe did not finish within 30 s"), work),
    };
    let steps = steps as usize;
    match choice.backend {
        BackendKind::Cpu => {
            // The same loop as on the GPU (the browser test compares it with
            // the engine check, i.e. MlpStep::step, bit for bit).
            let run = || -> Result<(Vec<f64>, Vec<f64>), odeon_nn::NnError> {
                let mut training = crate::reference_training(&odeon_tensor::Cpu, 0)?;
                let losses = (0..steps).map(|_| training.step_deferred()).collect::<Result<Vec<_>, _>>()?;
                let values = crate::readout(&training, &losses)?.to_f32_vec()?;
                Ok(crate::split_readout(&values, steps))
            };
            match run() {
                Ok((losses, params)) => FromWorker::BackendCheckResult {
                    backend: choice.backend.id().to_owned(),
                    adapter: String::new(),
                    reason: choice.reason,
                    losses,
                    params,
                    millis: now_ms() - start,
                    error: None,
                },
                Err(err) => failed(choice.backend.id(), String::new(), choice.reason, err.to_string()),
            }
        }
        BackendKind::WebGpu => {
            // The policy picks WebGPU only with a ready probe.
            let (backend, summary) = match gpu_backend(&gpu) {
                Ok(made) => made,
                Err(err) => return failed("webgpu", String::new(), choice.reason, err),
            };
            // Queue every step without reading anything back, then read the
            // losses and parameters once, asynchronously.
            let queued = || -> Result<odeon_tensor::Tensor<Wgpu>, odeon_nn::NnError> {
                let mut training = crate::reference_training(&backend, 0)?;
                let losses = (0..steps).map(|_| training.step_deferred()).collect::<Result<Vec<_>, _>>()?;
                crate::readout(&training, &losses)
            };
            let values = match queued() {
                Ok(all) => backend.read_f32_async(all.storage()).await.map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            };
            match values {
                Ok(values) => {
                    let (losses, params) = crate::split_readout(&values, steps);
                    FromWorker::BackendCheckResult {
                        backend: choice.backend.id().to_owned(),
                        adapter: summary,
                        reason: choice.reason,
                        losses,
                        params,
                        millis: now_ms() - start,
                        error: None,
                    }
                }
                Err(err) => failed("webgpu", summary, choice.reason, err),
            }
        }
    }
}
