//! Messages between the page and the compute worker (sent with
//! serde-wasm-bindgen), shared so both sides agree by construction.

use serde::{Deserialize, Serialize};

use crate::Cell;
use crate::events::Event;

/// Page to worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Run cells in order, stopping at the first error.
    Run {
        /// Identifies the run in replies.
        run_id: u32,
        /// Cells to run.
        cells: Vec<Cell>,
        /// Notebook seed.
        seed: u64,
        /// Profile: `ci`, `default` or `big`.
        profile: String,
        /// Start from a fresh scope (Run all) instead of the current one.
        fresh: bool,
        /// Where training runs: `auto`, `cpu` or `webgpu` (the page's
        /// setting, else the notebook's `backend:`).
        #[serde(default = "auto")]
        backend: String,
    },
    /// Compare a WebGPU matmul against the CPU.
    GpuCheck,
    /// Diagnostics: destroy the worker's WebGPU device, as a driver reset or
    /// a removed GPU would, so tests can check that the next GPU training
    /// says so and finishes on the CPU.
    LoseDevice,
    /// Allocate `bytes` in the worker and free them again. Diagnostics: an
    /// impossible size makes the worker run out of memory for real, which is
    /// how tests check that the page survives a crashed worker.
    Allocate {
        /// Bytes to allocate.
        bytes: f64,
    },
    /// Run the reference training workload (`odeon_nn::reference::MlpStep`)
    /// for `steps` steps, so tests can compare the browser with native runs.
    EngineCheck {
        /// Training steps.
        steps: u32,
    },
    /// Train the reference workload (the same network, data and seed as
    /// [`ToWorker::EngineCheck`], `f32`) for `steps` Adam steps on a chosen
    /// backend, as an async task, and reply with
    /// [`FromWorker::BackendCheckResult`]. Tests compare the backends with it.
    BackendCheck {
        /// `"cpu"`, `"webgpu"` (forced: never `auto`'s choice) or `"auto"`.
        backend: String,
        /// Training steps.
        steps: u32,
    },
}

/// Worker to page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker has loaded.
    Ready,
    /// Result of the WebGPU probe.
    Gpu {
        /// Adapter summary when WebGPU works.
        adapter: Option<String>,
        /// Why not, when it does not.
        reason: Option<String>,
    },
    /// A cell began.
    CellStarted {
        /// Run id.
        run_id: u32,
        /// Cell name.
        cell: String,
    },
    /// An output of a running cell.
    Output {
        /// Run id.
        run_id: u32,
        /// Cell name.
        cell: String,
        /// The output.
        event: Event,
    },
    /// A cell ended.
    CellFinished {
        /// Run id.
        run_id: u32,
        /// Cell name.
        cell: String,
        /// The error, for the user, when it failed.
        error: Option<String>,
        /// True when the user stopped it.
        stopped: bool,
        /// Wall time in milliseconds.
        millis: f64,
    },
    /// The whole run ended.
    RunFinished {
        /// Run id.
        run_id: u32,
    },
    /// Result of [`ToWorker::EngineCheck`].
    EngineCheckResult {
        /// Loss before each step.
        losses: Vec<f64>,
        /// Every parameter after the last step, flattened.
        params: Vec<f64>,
        /// `odeon_nn::reference::sampler_draws(200)`.
        samples: Vec<f64>,
        /// Wall time in milliseconds.
        millis: f64,
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// Result of [`ToWorker::BackendCheck`].
    BackendCheckResult {
        /// The backend that ran: `"cpu"` or `"webgpu"` (the CPU when WebGPU
        /// was asked for but is unavailable; `reason` says why).
        backend: String,
        /// Adapter summary when the run was on WebGPU, else empty.
        adapter: String,
        /// Why this backend ran, a sentence for the page.
        reason: String,
        /// Loss before each step.
        losses: Vec<f64>,
        /// Every parameter after the last step, flattened (W0, b0, W1, ...).
        params: Vec<f64>,
        /// Wall time in milliseconds, including the final readback.
        millis: f64,
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// What the `auto` backend policy would pick for a notebook-sized
    /// workload on this browser's adapter (sent once the WebGPU probe ends).
    BackendPolicy {
        /// `"cpu"` or `"webgpu"`.
        backend: String,
        /// Why, a sentence for the page.
        reason: String,
    },
    /// Result of [`ToWorker::GpuCheck`].
    GpuCheckResult {
        /// True when the GPU result matched the CPU within tolerance.
        ok: bool,
        /// Adapter used.
        adapter: String,
        /// Largest absolute difference from the CPU result.
        max_abs_error: f64,
        /// A sentence for the page.
        message: String,
    },
}

fn auto() -> String {
    "auto".into()
}
