//! # odeon-worker
//!
//! The compute side of the playground, loaded in a dedicated Web Worker by
//! `web/worker.js`. It receives [`ToWorker`] messages, runs cells in a Rhai
//! [`Session`] and streams [`FromWorker`] messages back while it works, so
//! the page never blocks.
//!
//! **Stop.** A busy worker reads no messages, so Stop cannot be a message.
//! When the page is cross-origin isolated it hands the worker a
//! `SharedArrayBuffer`; Stop writes 1 into it and the running cell sees it at
//! its next check (Rhai's progress callback, every training step). Elsewhere
//! the page terminates and restarts the worker.
//!
//! **GPU.** WebGPU readback completes only when the worker returns to its
//! event loop, so GPU work runs as async tasks between messages, never
//! inside a synchronous cell. Runs are async tasks too, one at a time: a
//! cell's training call suspends the cell (`Compute::Deferred`), the worker
//! picks the backend with the `auto` policy (`odeon_gpu::policy`) or the
//! page's forced choice, trains with [`jobs::drive_job`] (steps queue on the
//! device, losses are read in batches, asynchronously), and resumes the cell
//! with the result (ARCHITECTURE.md, "The hard problem"). A device that fails
//! is reported and dropped, and the job runs again on the CPU. The worker
//! probes WebGPU once at start, keeps the device, tells the page what `auto`
//! picks for a notebook-sized workload, and trains the reference workload
//! on a chosen backend on request (`ToWorker::BackendCheck`, with
//! [`reference_training`] and [`readout`]).
//!
//! Native builds compile this crate to an empty library, so `cargo test
//! --workspace` needs no wasm toolchain.
//!
//! [`ToWorker`]: odeon_notebook::protocol::ToWorker
//! [`FromWorker`]: odeon_notebook::protocol::FromWorker
//! [`Session`]: odeon_notebook::runtime::Session

pub mod jobs;
#[cfg(target_arch = "wasm32")]
mod web;

use odeon_nn::NnError;
use odeon_nn::reference::{MLP_BATCH, MLP_LR, MLP_SIZES, MlpStep};
use odeon_tensor::{Backend, DType, SeedStream, Tensor};

/// The matrices of the GPU self-check: `(a, b, m, k, n)`, seeded.
pub fn gpu_check_operands() -> (Vec<f32>, Vec<f32>, usize, usize, usize) {
    let (m, k, n) = (33, 47, 29);
    let mut rng = SeedStream::new(0, "gpu-check");
    let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
    (a, b, m, k, n)
}

/// The reference workload (`odeon_nn::reference::MlpStep::standard`: the
/// benchmark MLP, its data, Adam, `f32`) on any backend. Train it with
/// `MlpStep::step_deferred`, which leaves each loss on the device, and read
/// everything back once with [`readout`].
///
/// # Errors
///
/// When the backend refuses an upload.
pub fn reference_training<B: Backend>(backend: &B, seed: u64) -> Result<MlpStep<B>, NnError> {
    MlpStep::new(backend, &MLP_SIZES, MLP_BATCH, MLP_LR, DType::F32, seed)
}

/// `losses` followed by every parameter of `training`, flattened, as one
/// 1-D tensor, so one (on the web: asynchronous) read brings everything
/// back. Split it with [`split_readout`].
///
/// # Errors
///
/// When a kernel is refused.
pub fn readout<B: Backend>(training: &MlpStep<B>, losses: &[Tensor<B>]) -> Result<Tensor<B>, NnError> {
    let flat = losses
        .iter()
        .chain(training.parameters())
        .map(|t| t.reshape(&[t.len()]))
        .collect::<Result<Vec<_>, _>>()?;
    let parts: Vec<&Tensor<B>> = flat.iter().collect();
    Ok(Tensor::concat(&parts, 0)?)
}

/// Splits what [`readout`] gathered into
/// `(losses, params)`, widened to `f64`.
pub fn split_readout(values: &[f32], steps: usize) -> (Vec<f64>, Vec<f64>) {
    let steps = steps.min(values.len());
    let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    (widen(&values[..steps]), widen(&values[steps..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use odeon_tensor::Cpu;

    #[test]
    fn deferred_training_and_one_readout_match_mlp_step_bit_for_bit() {
        let steps = 3;
        let mut reference = odeon_nn::reference::MlpStep::standard(0).expect("builds");
        let want_losses: Vec<f64> = (0..steps).map(|_| reference.step().expect("steps")).collect();
        let want_params = reference.flat_parameters().expect("reads");

        let mut training = reference_training(&Cpu, 0).expect("builds");
        let losses: Vec<Tensor> = (0..steps).map(|_| training.step_deferred().expect("steps")).collect();
        let values = readout(&training, &losses).expect("gathers").to_f32_vec().expect("reads");
        let (got_losses, got_params) = split_readout(&values, steps);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got_losses), bits(&want_losses));
        assert_eq!(bits(&got_params), bits(&want_params));
    }
}
