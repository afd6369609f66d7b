//! The Odeon side of every benchmark, shared by the native binary and the
//! wasm entry. This is the only module that touches the Odeon API: when the
//! tensor / autodiff / nn API changes, adapt [`MlpStep::new`],
//! [`MlpStep::step`] and [`Matmul`] here and nothing else.
//!
//! The MLP step is written exactly like a training step in
//! `odeon_methods::rectified_flow::train`: a fresh tape, `Mlp::forward`,
//! `odeon_nn::mse`, `Tape::backward`, `Adam::step`, `Mlp::set_parameters`.

use odeon_autodiff::Tape;
use odeon_nn::{Activation, Adam, AdamConfig, Mlp, Module, Optimizer};
use odeon_tensor::{Cpu, SeedStream, Tensor};

/// Layer sizes of the benchmark MLP (input 2, three hidden layers of 256, output 2).
pub const MLP_SIZES: [usize; 5] = [2, 256, 256, 256, 2];
/// Batch size of the benchmark MLP step.
pub const MLP_BATCH: usize = 1024;
/// Adam learning rate of the benchmark MLP step.
pub const MLP_LR: f32 = 1e-3;
/// Side of the square matmul benchmark.
pub const MATMUL_N: usize = 512;

/// One Adam training step of an MLP with SiLU, MSE against fixed random
/// targets on a fixed random batch, f32.
pub struct MlpStep {
    model: Mlp,
    params: Vec<Tensor>,
    opt: Adam<Cpu>,
    x: Tensor,
    y: Tensor,
}

impl MlpStep {
    /// The benchmark configuration ([`MLP_SIZES`], [`MLP_BATCH`], [`MLP_LR`]).
    pub fn standard(seed: u64) -> Result<Self, String> {
        Self::new(&MLP_SIZES, MLP_BATCH, MLP_LR, seed)
    }

    /// An MLP of `sizes` (PyTorch's uniform init), Adam at `lr`, a fixed
    /// N(0, 1) batch of `batch` inputs and fixed N(0, 1) targets.
    pub fn new(sizes: &[usize], batch: usize, lr: f32, seed: u64) -> Result<Self, String> {
        let (Some(&inputs), Some(&outputs)) = (sizes.first(), sizes.last()) else {
            return Err("an MLP needs sizes".into());
        };
        let mut init = SeedStream::new(seed, "bench/init");
        let model = Mlp::new(sizes, Activation::Silu, &mut init).map_err(|e| e.to_string())?;
        let params = model.parameters();
        let mut data = SeedStream::new(seed, "bench/data");
        let x = data.normal_tensor(&[batch, inputs]);
        let y = data.normal_tensor(&[batch, outputs]);
        let opt = Adam::new(AdamConfig { lr: f64::from(lr), ..AdamConfig::default() });
        Ok(Self { model, params, opt, x, y })
    }

    /// One training step; returns the loss before the update.
    pub fn step(&mut self) -> Result<f32, String> {
        let tape = Tape::new();
        let input = tape.constant(self.x.clone());
        let (pred, leaves) = self.model.forward(&tape, &input).map_err(|e| e.to_string())?;
        let loss = odeon_nn::mse(&pred, &tape.constant(self.y.clone())).map_err(|e| e.to_string())?;
        let loss_value = loss.value().item().map_err(|e| e.to_string())? as f32;
        let grads = tape.backward(&loss).map_err(|e| e.to_string())?;
        let grads: Vec<Tensor> = leaves.iter().map(|l| grads.get(l)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
        self.opt.step(&mut self.params, &grads).map_err(|e| e.to_string())?;
        self.model.set_parameters(&self.params).map_err(|e| e.to_string())?;
        Ok(loss_value)
    }
}

/// `C = A B` for two fixed random `n x n` f32 matrices.
pub struct Matmul {
    a: Tensor,
    b: Tensor,
}

impl Matmul {
    /// Random N(0, 1) operands of side `n`.
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = SeedStream::new(seed, "bench/matmul");
        Self { a: rng.normal_tensor(&[n, n]), b: rng.normal_tensor(&[n, n]) }
    }

    /// One product; returns one element so the work cannot be skipped.
    pub fn run(&self) -> Result<f32, String> {
        let c = self.a.matmul(&self.b).map_err(|e| e.to_string())?;
        Ok(c.slice_axis(0, 0, 1).and_then(|r| r.to_f32_vec()).map_err(|e| e.to_string())?.first().copied().unwrap_or(0.0))
    }
}

/// Runs `f` `warmup` times untimed, then `runs` times, returning each timed
/// run's duration in milliseconds as measured by `now` (a millisecond clock).
pub fn time_runs<E>(
    warmup: usize,
    runs: usize,
    now: impl Fn() -> f64,
    mut f: impl FnMut() -> Result<f32, E>,
) -> Result<Vec<f64>, E> {
    let mut sink = 0.0f32;
    for _ in 0..warmup {
        sink += f()?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = now();
        sink += f()?;
        times.push(now() - start);
    }
    std::hint::black_box(sink);
    Ok(times)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { 0.5 * (sorted[mid - 1] + sorted[mid]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_mlp_step_lowers_the_loss() {
        let mut step = MlpStep::new(&[2, 16, 16, 2], 64, 1e-2, 0).expect("builds");
        let first = step.step().expect("steps");
        let mut last = first;
        for _ in 0..30 {
            last = step.step().expect("steps");
        }
        assert!(first.is_finite() && last < first, "loss {first} -> {last}");
    }

    #[test]
    fn matmul_and_timing_helpers_work() {
        let mm = Matmul::new(8, 0);
        let mut clock = 0.0;
        let times = time_runs(1, 3, || 1.0, || mm.run()).expect("runs");
        clock += times.iter().sum::<f64>();
        assert_eq!(times.len(), 3);
        assert_eq!(clock, 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
