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
//! inside a synchronous cell. The worker probes WebGPU once at start, keeps
//! the device, tells the page what the `auto` backend policy
//! (`odeon_gpu::policy`) would pick for a notebook-sized workload, and trains
//! the reference workload on a chosen backend on request
//! (`ToWorker::BackendCheck`, with [`ReferenceTraining`]: the losses stay on
//! the device and everything is read back once, asynchronously, at the end).
//!
//! Native builds compile this crate to an empty library, so `cargo test
//! --workspace` needs no wasm toolchain.
//!
//! [`ToWorker`]: odeon_notebook::protocol::ToWorker
//! [`FromWorker`]: odeon_notebook::protocol::FromWorker
//! [`Session`]: odeon_notebook::runtime::Session

#[cfg(target_arch = "wasm32")]
mod web;

use odeon_autodiff::Tape;
use odeon_nn::reference::{MLP_BATCH, MLP_LR, MLP_SIZES};
use odeon_nn::{Activation, Adam, AdamConfig, Mlp, Module, NnError, Optimizer};
use odeon_tensor::{Backend, DType, SeedStream, Tensor};

/// The matrices of the GPU self-check: `(a, b, m, k, n)`, seeded.
pub fn gpu_check_operands() -> (Vec<f32>, Vec<f32>, usize, usize, usize) {
    let (m, k, n) = (33, 47, 29);
    let mut rng = SeedStream::new(0, "gpu-check");
    let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
    (a, b, m, k, n)
}

/// `odeon_nn::reference::MlpStep::standard(seed)` (the benchmark MLP, its
/// data, Adam, `f32`) written so that nothing reads back during training:
/// [`ReferenceTraining::step`] returns the loss as a device tensor, and
/// [`ReferenceTraining::readout`] gathers every loss and parameter into one
/// tensor for a single (on the web: asynchronous) read.
///
/// `MlpStep::step` reads the loss with `item()`, a synchronous read, which a
/// GPU tensor refuses in the browser; this mirrors it op for op instead
/// (same seed streams, same ops in the same order), so on the CPU it gives
/// the same bits as `MlpStep` (tested natively below; the browser test also
/// compares the two).
pub struct ReferenceTraining<B: Backend> {
    model: Mlp<B>,
    params: Vec<Tensor<B>>,
    opt: Adam<B>,
    x: Tensor<B>,
    y: Tensor<B>,
}

impl<B: Backend> ReferenceTraining<B> {
    /// The benchmark configuration on `backend` in `f32`.
    ///
    /// # Errors
    ///
    /// When the backend refuses an upload.
    pub fn standard(backend: &B, seed: u64) -> Result<Self, NnError> {
        let dtype = DType::F32;
        let mut init = SeedStream::new(seed, "bench/init");
        let model = Mlp::new_in(backend, &MLP_SIZES, Activation::Silu, dtype, &mut init)?;
        let params = model.parameters();
        let mut data = SeedStream::new(seed, "bench/data");
        let draw = |rng: &mut SeedStream, n: usize| (0..n).map(|_| rng.normal_f64()).collect::<Vec<f64>>();
        let (inputs, outputs) = (MLP_SIZES[0], MLP_SIZES[MLP_SIZES.len() - 1]);
        let x = Tensor::from_f64_in(backend, &[MLP_BATCH, inputs], &draw(&mut data, MLP_BATCH * inputs), dtype)?;
        let y = Tensor::from_f64_in(backend, &[MLP_BATCH, outputs], &draw(&mut data, MLP_BATCH * outputs), dtype)?;
        let opt = Adam::new(AdamConfig { lr: MLP_LR, ..AdamConfig::default() });
        Ok(Self { model, params, opt, x, y })
    }

    /// One Adam step; returns the loss before the update, unread (rank 0).
    ///
    /// # Errors
    ///
    /// When a kernel is refused (shapes, device limits).
    pub fn step(&mut self) -> Result<Tensor<B>, NnError> {
        let tape = Tape::new();
        let (pred, leaves) = self.model.forward(&tape, &tape.constant(self.x.clone()))?;
        let loss = odeon_nn::mse(&pred, &tape.constant(self.y.clone()))?;
        let value = loss.value().clone();
        let grads = tape.backward(&loss)?;
        let grads: Vec<Tensor<B>> = leaves.iter().map(|l| grads.get(l)).collect::<Result<_, _>>()?;
        self.opt.step(&mut self.params, &grads)?;
        self.model.set_parameters(&self.params)?;
        Ok(value)
    }

    /// The current parameters (W0, b0, W1, ...).
    pub fn parameters(&self) -> &[Tensor<B>] {
        &self.params
    }

    /// `losses` followed by every parameter, flattened, as one 1-D tensor,
    /// so one read brings everything back. Split it with
    /// [`split_readout`].
    ///
    /// # Errors
    ///
    /// When a kernel is refused.
    pub fn readout(&self, losses: &[Tensor<B>]) -> Result<Tensor<B>, NnError> {
        let flat = losses
            .iter()
            .chain(&self.params)
            .map(|t| t.reshape(&[t.len()]))
            .collect::<Result<Vec<_>, _>>()?;
        let parts: Vec<&Tensor<B>> = flat.iter().collect();
        Ok(Tensor::concat(&parts, 0)?)
    }
}

/// Splits what [`ReferenceTraining::readout`] gathered into
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
    fn reference_training_is_mlp_step_bit_for_bit() {
        let steps = 3;
        let mut reference = odeon_nn::reference::MlpStep::standard(0).expect("builds");
        let want_losses: Vec<f64> = (0..steps).map(|_| reference.step().expect("steps")).collect();
        let want_params = reference.flat_parameters().expect("reads");

        let mut training = ReferenceTraining::standard(&Cpu, 0).expect("builds");
        let losses: Vec<Tensor> = (0..steps).map(|_| training.step().expect("steps")).collect();
        let values = training.readout(&losses).expect("gathers").to_f32_vec().expect("reads");
        let (got_losses, got_params) = split_readout(&values, steps);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got_losses), bits(&want_losses));
        assert_eq!(bits(&got_params), bits(&want_params));
    }
}
