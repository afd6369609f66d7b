//! The Odeon side of every benchmark, shared by the native binary and the
//! wasm entry. This is the only module that touches the Odeon API: when the
//! tensor / autodiff / nn API changes, adapt [`MlpStep::new`],
//! [`MlpStep::step`] and [`Matmul`] here and nothing else.
//!
//! The MLP step is the reference workload `odeon_nn::reference::MlpStep`,
//! written like a training step in `odeon_methods::rectified_flow::train`.

use odeon_tensor::{SeedStream, Tensor};

pub use odeon_nn::reference::{MLP_BATCH, MLP_LR, MLP_SIZES};

/// Side of the square matmul benchmark.
pub const MATMUL_N: usize = 512;

/// The benchmark training step (see [`odeon_nn::reference::MlpStep`]).
pub struct MlpStep(odeon_nn::reference::MlpStep);

impl MlpStep {
    /// The benchmark configuration.
    pub fn standard(seed: u64) -> Result<Self, String> {
        odeon_nn::reference::MlpStep::standard(seed).map(MlpStep).map_err(|e| e.to_string())
    }

    /// A custom configuration (f32, CPU).
    pub fn new(sizes: &[usize], batch: usize, lr: f32, seed: u64) -> Result<Self, String> {
        odeon_nn::reference::MlpStep::new(&odeon_tensor::Cpu, sizes, batch, f64::from(lr), odeon_tensor::DType::F32, seed)
            .map(MlpStep)
            .map_err(|e| e.to_string())
    }

    /// One training step; returns the loss before the update.
    pub fn step(&mut self) -> Result<f32, String> {
        self.0.step().map(|l| l as f32).map_err(|e| e.to_string())
    }

    /// Every parameter, flattened.
    pub fn flat_parameters(&self) -> Result<Vec<f64>, String> {
        self.0.flat_parameters().map_err(|e| e.to_string())
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
