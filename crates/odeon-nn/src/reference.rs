//! Reference workloads: fixed, seeded training runs that every backend and
//! every build must reproduce. The benchmark times [`MlpStep`]; the browser
//! test runs it in the worker and compares the parameters with a native run;
//! the WebGPU backend will be checked against the CPU with it.

use odeon_autodiff::Tape;
use odeon_tensor::{Backend, Cpu, DType, SeedStream, Tensor};

use crate::{Activation, Adam, AdamConfig, Mlp, Module, NnError, Optimizer};

/// Layer sizes of the benchmark MLP (input 2, three hidden layers of 256, output 2).
pub const MLP_SIZES: [usize; 5] = [2, 256, 256, 256, 2];
/// Batch size of the benchmark MLP step.
pub const MLP_BATCH: usize = 1024;
/// Adam learning rate of the benchmark MLP step.
pub const MLP_LR: f64 = 1e-3;

/// One Adam training step of a SiLU MLP with MSE against fixed random
/// targets on a fixed random batch.
pub struct MlpStep<B: Backend = Cpu> {
    model: Mlp<B>,
    params: Vec<Tensor<B>>,
    opt: Adam<B>,
    x: Tensor<B>,
    y: Tensor<B>,
}

impl MlpStep<Cpu> {
    /// The benchmark configuration on the CPU in `f32`.
    pub fn standard(seed: u64) -> Result<Self, NnError> {
        Self::new(&Cpu, &MLP_SIZES, MLP_BATCH, MLP_LR, DType::F32, seed)
    }
}

impl<B: Backend> MlpStep<B> {
    /// An MLP of `sizes` (PyTorch's uniform init), Adam at `lr`, a fixed
    /// N(0, 1) batch of `batch` inputs and fixed N(0, 1) targets.
    pub fn new(backend: &B, sizes: &[usize], batch: usize, lr: f64, dtype: DType, seed: u64) -> Result<Self, NnError> {
        let (Some(&inputs), Some(&outputs)) = (sizes.first(), sizes.last()) else {
            return Err(NnError::Config("an MLP needs sizes".into()));
        };
        let mut init = SeedStream::new(seed, "bench/init");
        let model = Mlp::new_in(backend, sizes, Activation::Silu, dtype, &mut init)?;
        let params = model.parameters();
        let mut data = SeedStream::new(seed, "bench/data");
        let draw = |rng: &mut SeedStream, n: usize| (0..n).map(|_| rng.normal_f64()).collect::<Vec<f64>>();
        let x = Tensor::from_f64_in(backend, &[batch, inputs], &draw(&mut data, batch * inputs), dtype)?;
        let y = Tensor::from_f64_in(backend, &[batch, outputs], &draw(&mut data, batch * outputs), dtype)?;
        Ok(Self { model, params, opt: Adam::new(AdamConfig { lr, ..AdamConfig::default() }), x, y })
    }

    /// One training step; returns the loss before the update.
    pub fn step(&mut self) -> Result<f64, NnError> {
        Ok(self.step_deferred()?.item()?)
    }

    /// One training step that leaves the loss on the device (a scalar
    /// tensor): nothing is read back, so on a GPU the steps queue without a
    /// round trip and the caller reads losses when it needs them.
    pub fn step_deferred(&mut self) -> Result<Tensor<B>, NnError> {
        let tape = Tape::new();
        let (pred, leaves) = self.model.forward(&tape, &tape.constant(self.x.clone()))?;
        let loss = crate::mse(&pred, &tape.constant(self.y.clone()))?;
        let loss_value = loss.value().clone();
        let grads = tape.backward(&loss)?;
        let grads: Vec<Tensor<B>> = leaves.iter().map(|l| grads.get(l)).collect::<Result<_, _>>()?;
        self.opt.step(&mut self.params, &grads)?;
        self.model.set_parameters(&self.params)?;
        Ok(loss_value)
    }

    /// The parameters (on the backend's device).
    pub fn parameters(&self) -> &[Tensor<B>] {
        &self.params
    }

    /// Every parameter, flattened in order (W0, b0, W1, ...).
    pub fn flat_parameters(&self) -> Result<Vec<f64>, NnError> {
        let mut out = Vec::new();
        for p in &self.params {
            out.extend(p.to_f64_vec()?);
        }
        Ok(out)
    }
}

/// Draws from every sampler of [`SeedStream`], in a fixed order: the browser
/// test requires the worker to reproduce them bit for bit.
pub fn sampler_draws(n: usize) -> Result<Vec<f64>, NnError> {
    let sampler = |e: odeon_tensor::SamplerError| NnError::Config(e.to_string());
    let mut rng = SeedStream::new(2026, "reference/samplers");
    let mut out = Vec::with_capacity(n * 16);
    for _ in 0..n {
        out.push(rng.uniform_f64());
        out.push(f64::from(rng.uniform()));
        out.push(rng.normal_f64());
        out.push(f64::from(rng.normal()));
        out.push(rng.rademacher_f64());
        out.push(rng.below(1000) as f64);
        out.push(rng.categorical(&[0.1, 0.2, 0.7]).map_err(sampler)? as f64);
        out.push(rng.gamma(0.4, 1.0).map_err(sampler)?);
        out.push(rng.gamma(3.0, 2.0).map_err(sampler)?);
        out.push(rng.beta(0.5, 2.0).map_err(sampler)?);
        out.extend(rng.unit_sphere(3).map_err(sampler)?);
        out.extend(rng.permutation(3).into_iter().map(|i| i as f64));
    }
    Ok(out)
}

/// The largest relative difference between two parameter vectors,
/// `|a - b| / max(|b|, floor)` (the floor keeps parameters near zero from
/// dominating).
pub fn max_relative_difference(a: &[f64], b: &[f64], floor: f64) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(floor)).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_bit_identical_runs() {
        let run = || {
            let mut step = MlpStep::new(&Cpu, &[2, 32, 32, 2], 64, 1e-3, DType::F32, 7).expect("builds");
            let losses: Vec<u64> = (0..10).map(|_| step.step().expect("steps").to_bits()).collect();
            (losses, step.flat_parameters().expect("params"))
        };
        let (l1, p1) = run();
        let (l2, p2) = run();
        assert_eq!(l1, l2);
        assert_eq!(p1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), p2.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert_eq!(max_relative_difference(&p1, &p2, 1e-3), 0.0);
    }

    #[test]
    fn f32_training_follows_the_f64_reference() {
        let mut a = MlpStep::new(&Cpu, &[2, 16, 2], 32, 1e-2, DType::F32, 3).expect("builds");
        let mut b = MlpStep::new(&Cpu, &[2, 16, 2], 32, 1e-2, DType::F64, 3).expect("builds");
        for _ in 0..5 {
            let (la, lb) = (a.step().expect("f32"), b.step().expect("f64"));
            assert!((la - lb).abs() < 1e-5 * lb.abs().max(1.0), "{la} vs {lb}");
        }
    }
}
