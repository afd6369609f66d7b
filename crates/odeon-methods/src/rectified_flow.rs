//! Rectified flow (Liu et al., 2022; training improvements from Lee et al., 2024).
//!
//! A velocity field `v(x, t)` is regressed on the straight-line direction
//! `x1 - x0` between a noise sample `x0 ~ N(0, I)` and a data sample `x1`, at
//! the interpolant `x_t = (1 - t) x0 + t x1` with `t ~ U(0, 1)`. Sampling
//! integrates `dx/dt = v(x, t)` from `t = 0` (noise) to `t = 1` (data).
//!
//! Reflow ([`Coupling::Pairs`]) trains again on pairs `(z, ODE(z))`
//! produced by a trained flow ([`reflow_pairs`]): the pairs no longer
//! cross, so the new flow's paths are straighter ([`straightness`]) and
//! few-step sampling improves. The "++" choices of Lee et al. are
//! [`TimeSampling::UShaped`] (more training near both ends, where one- and
//! two-step samplers evaluate the field) and [`FlowLoss::PseudoHuber`].

use odeon_nn::{Activation, Mlp};
use odeon_tensor::{Backend, Cpu, SeedStream, Tensor};
use std::rc::Rc;

use crate::data::RingMixture;
use crate::training::{Batch, BatchSource, Regression, Trainer, run_and_apply, set_mlp_parameters};
use crate::{MethodError, Monitor};

/// Number of sinusoidal frequencies in the time embedding.
pub const TIME_FREQUENCIES: usize = 4;

/// Width of the time embedding: `t` itself plus a sine and a cosine per frequency.
pub const TIME_FEATURES: usize = 1 + 2 * TIME_FREQUENCIES;

/// Sinusoidal features of `t`: `[t, sin(2^k pi t), cos(2^k pi t)]` for `k < TIME_FREQUENCIES`.
pub fn time_features(t: &[f32]) -> Result<Tensor, MethodError> {
    let mut data = Vec::with_capacity(t.len() * TIME_FEATURES);
    for &ti in t {
        data.push(ti);
        for k in 0..TIME_FREQUENCIES {
            let w = std::f32::consts::PI * (1u32 << k) as f32;
            data.push(odeon_tensor::UnaryOp::Sin.eval(w * ti));
            data.push(odeon_tensor::UnaryOp::Cos.eval(w * ti));
        }
    }
    Ok(Tensor::from_shape_vec(&[t.len(), TIME_FEATURES], data)?)
}

/// A velocity model: an MLP on `[x, time_features(t)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VelocityModel {
    /// The network.
    pub net: Mlp,
    /// Data dimension.
    pub dim: usize,
}

impl VelocityModel {
    /// An MLP with `layers` hidden layers of `hidden` units.
    pub fn new(dim: usize, hidden: usize, layers: usize, activation: Activation, seed: u64) -> Result<Self, MethodError> {
        if dim == 0 || hidden == 0 || layers == 0 || layers > 16 || hidden > 4096 {
            return Err(MethodError::Config(format!(
                "model sizes out of range: dim {dim}, hidden {hidden} (1..=4096), layers {layers} (1..=16)"
            )));
        }
        let mut sizes = vec![dim + TIME_FEATURES];
        sizes.extend(std::iter::repeat_n(hidden, layers));
        sizes.push(dim);
        let mut rng = SeedStream::new(seed, "rectified-flow/init");
        Ok(Self { net: Mlp::new(&sizes, activation, &mut rng)?, dim })
    }

    /// The network input `[x, time_features(t)]` for a batch with one time per row.
    pub fn input(&self, x: &Tensor, t: &[f32]) -> Result<Tensor, MethodError> {
        if x.shape().len() != 2 || x.shape()[1] != self.dim {
            return Err(MethodError::Config(format!(
                "the model works on {}-D points, but got points of shape {:?} ({} per point)",
                self.dim,
                x.shape(),
                x.shape().get(1).map_or("no coordinates".to_string(), |d| format!("{d} coordinates"))
            )));
        }
        Ok(Tensor::concat(&[x, &time_features(t)?], 1)?)
    }

    /// `v(x, t)` for a batch `x` of shape `[n, dim]` at one time `t`.
    pub fn velocity(&self, x: &Tensor, t: f32) -> Result<Tensor, MethodError> {
        let n = x.shape().first().copied().unwrap_or(0);
        Ok(self.net.predict(&self.input(x, &vec![t; n])?)?)
    }
}

/// Where training times `t` come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeSampling {
    /// `t ~ U(0, 1)`.
    Uniform,
    /// The U-shaped density of rectified flow++,
    /// `p(t) = a (e^{a t} + e^{a (1 - t)}) / (2 (e^a - 1))`: drawn as
    /// `t = ln(1 + U (e^a - 1)) / a` and flipped to `1 - t` with
    /// probability 1/2. The paper uses `a = 4`.
    UShaped {
        /// Concentration `a > 0` (larger puts more mass near 0 and 1).
        a: f32,
    },
}

impl TimeSampling {
    /// Draws one time.
    pub fn sample(&self, rng: &mut SeedStream) -> f32 {
        match *self {
            TimeSampling::Uniform => rng.uniform(),
            TimeSampling::UShaped { a } => {
                let a = f64::from(a);
                let u = rng.uniform_f64();
                let t = (u * a.exp_m1()).ln_1p() / a;
                let flip = rng.uniform() < 0.5;
                (if flip { 1.0 - t } else { t }) as f32
            }
        }
    }

    /// The density `p(t)` on `[0, 1]`.
    pub fn density(&self, t: f64) -> f64 {
        match *self {
            TimeSampling::Uniform => 1.0,
            TimeSampling::UShaped { a } => {
                let a = f64::from(a);
                a * ((a * t).exp() + (a * (1.0 - t)).exp()) / (2.0 * a.exp_m1())
            }
        }
    }

    /// The distribution function `P(T <= t)` on `[0, 1]`.
    pub fn cdf(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match *self {
            TimeSampling::Uniform => t,
            TimeSampling::UShaped { a } => {
                let a = f64::from(a);
                ((a * t).exp_m1() + a.exp() - (a * (1.0 - t)).exp()) / (2.0 * a.exp_m1())
            }
        }
    }

    fn check(&self) -> Result<(), MethodError> {
        match *self {
            TimeSampling::UShaped { a } if !(a > 0.0 && a <= 50.0) => {
                Err(MethodError::Config(format!("the U-shaped time density needs 0 < a <= 50; got {a}")))
            }
            _ => Ok(()),
        }
    }
}

/// The regression loss on `v(x_t, t) - (x1 - x0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowLoss {
    /// Mean squared error (over samples and coordinates).
    Squared,
    /// Pseudo-Huber per sample, `(sqrt(|d|^2 + c^2) - c) / dim` with
    /// `c = 0.00054 dim` (rectified flow++ without LPIPS, so unweighted in
    /// `t`): about `|d| / dim`, which grows linearly in the error rather
    /// than quadratically, so rare large errors pull less.
    PseudoHuber,
}

/// Which times and which loss a run trains with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// Time density.
    pub time: TimeSampling,
    /// Loss.
    pub loss: FlowLoss,
}

impl Default for Objective {
    /// The original rectified flow: uniform times, squared error.
    fn default() -> Self {
        Objective { time: TimeSampling::Uniform, loss: FlowLoss::Squared }
    }
}

impl Objective {
    /// Rectified flow++ without LPIPS: U-shaped times (a = 4), pseudo-Huber.
    pub fn plus_plus() -> Self {
        Objective { time: TimeSampling::UShaped { a: 4.0 }, loss: FlowLoss::PseudoHuber }
    }
}

/// Noise-data pairs for reflow: row `i` of `noise` flows to row `i` of `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pairs {
    noise: Rc<Vec<f32>>,
    data: Rc<Vec<f32>>,
    dim: usize,
}

impl Pairs {
    /// Pairs from two `[n, dim]` point sets.
    ///
    /// # Errors
    ///
    /// Different shapes, no points, or non-finite values.
    pub fn new(noise: &Tensor, data: &Tensor) -> Result<Self, MethodError> {
        if noise.shape().len() != 2 || noise.shape() != data.shape() || noise.shape()[0] == 0 {
            return Err(MethodError::Config(format!(
                "reflow pairs need noise and data of the same shape [n, dim] with n >= 1; got {:?} and {:?}",
                noise.shape(),
                data.shape()
            )));
        }
        let (noise_v, data_v) = (noise.to_f32_vec()?, data.to_f32_vec()?);
        if !noise_v.iter().chain(&data_v).all(|v| v.is_finite()) {
            return Err(MethodError::Config("reflow pairs contain NaN or infinite values (did the flow diverge?)".into()));
        }
        Ok(Pairs { noise: Rc::new(noise_v), data: Rc::new(data_v), dim: noise.shape()[1] })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.noise.len() / self.dim
    }

    /// Whether there are no pairs (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.noise.is_empty()
    }

    /// Dimension of the points.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The noise ends, `[n, dim]`.
    pub fn noise(&self) -> Result<Tensor, MethodError> {
        Ok(Tensor::from_shape_vec(&[self.len(), self.dim], self.noise.to_vec())?)
    }

    /// The data ends, `[n, dim]`.
    pub fn data(&self) -> Result<Tensor, MethodError> {
        Ok(Tensor::from_shape_vec(&[self.len(), self.dim], self.data.to_vec())?)
    }

    /// A batch of `batch` pairs drawn uniformly with replacement.
    fn batch(&self, batch: usize, rng: &mut SeedStream) -> Result<(Tensor, Tensor), MethodError> {
        let (mut x0, mut x1) = (Vec::with_capacity(batch * self.dim), Vec::with_capacity(batch * self.dim));
        for _ in 0..batch {
            let i = rng.below(self.len()) * self.dim;
            x0.extend_from_slice(&self.noise[i..i + self.dim]);
            x1.extend_from_slice(&self.data[i..i + self.dim]);
        }
        Ok((Tensor::from_shape_vec(&[batch, self.dim], x0)?, Tensor::from_shape_vec(&[batch, self.dim], x1)?))
    }
}

/// What a flow is trained to connect.
#[derive(Debug, Clone, PartialEq)]
pub enum Coupling {
    /// Independent noise `N(0, I)` and target draws (1-rectified flow).
    Independent(RingMixture),
    /// Fixed pairs from a trained flow (reflow: 2-rectified flow and up).
    Pairs(Pairs),
}

impl From<RingMixture> for Coupling {
    fn from(target: RingMixture) -> Self {
        Coupling::Independent(target)
    }
}

impl Coupling {
    fn check(&self, dim: usize) -> Result<(), MethodError> {
        let data_dim = match self {
            Coupling::Independent(target) => {
                target.validate()?;
                2
            }
            Coupling::Pairs(pairs) => pairs.dim(),
        };
        if data_dim != dim {
            return Err(MethodError::Config(format!("the data are {data_dim}-D but the model is {dim}-D")));
        }
        Ok(())
    }
}

/// Reflow pairs: `noise` and where the flow `model` takes it with `steps`
/// Euler steps.
///
/// # Errors
///
/// Bad step counts or shapes, or a flow that diverges.
pub fn reflow_pairs(model: &VelocityModel, noise: &Tensor, steps: usize) -> Result<Pairs, MethodError> {
    Pairs::new(noise, &sample(model, noise, steps)?)
}

/// The straightness error of the flow's paths from `x0`,
/// `S = E ∫_0^1 |(X_1 - X_0) - v(X_t, t)|^2 dt` (Liu et al., 2022),
/// along an Euler solve with `steps` steps (the integral is the mean over
/// the steps). Zero exactly when every path is a straight line travelled
/// at constant speed, which is when one Euler step is exact.
///
/// # Errors
///
/// Bad step counts or shapes.
pub fn straightness(model: &VelocityModel, x0: &Tensor, steps: usize) -> Result<f64, MethodError> {
    if steps == 0 || steps > 10_000 {
        return Err(MethodError::Config(format!("straightness needs 1..=10000 steps; got {steps}")));
    }
    let dt = 1.0 / steps as f32;
    let mut x = x0.clone();
    let mut velocities = Vec::with_capacity(steps);
    for i in 0..steps {
        let v = model.velocity(&x, i as f32 * dt)?;
        x = x.add(&v.scale(f64::from(dt))?)?;
        velocities.push(v.to_f64_vec()?);
    }
    let chord: Vec<f64> = x.to_f64_vec()?.iter().zip(x0.to_f64_vec()?).map(|(a, b)| a - b).collect();
    let n = x0.shape()[0].max(1) as f64;
    let total: f64 = velocities.iter().map(|v| v.iter().zip(&chord).map(|(v, c)| (c - v) * (c - v)).sum::<f64>()).sum();
    Ok(total / (steps as f64 * n))
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Pairs per step.
    pub batch: usize,
    /// Adam learning rate (cosine-decayed to 10% over the run).
    pub lr: f32,
    /// Seed for noise, data and time draws.
    pub seed: u64,
}

/// What training produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Loss at every step.
    pub losses: Vec<f32>,
}

/// The batches of a rectified-flow run: pairs from the coupling, times from
/// the objective's density, the straight-line point and direction.
struct FlowBatches {
    model: VelocityModel,
    coupling: Coupling,
    time: TimeSampling,
    batch: usize,
    noise_rng: SeedStream,
    data_rng: SeedStream,
    time_rng: SeedStream,
}

impl BatchSource for FlowBatches {
    fn batch(&mut self, _step: usize) -> Result<Batch, MethodError> {
        let n = self.batch;
        let (x0, x1) = match &self.coupling {
            Coupling::Independent(target) => (self.noise_rng.normal_tensor(&[n, 2]), target.sample(n, &mut self.data_rng)?),
            Coupling::Pairs(pairs) => pairs.batch(n, &mut self.data_rng)?,
        };
        let t: Vec<f32> = (0..n).map(|_| self.time.sample(&mut self.time_rng)).collect();
        let t_col = Tensor::from_shape_vec(&[n, 1], t.clone())?;
        let xt = x0.add(&t_col.mul(&x1.sub(&x0)?)?)?;
        Ok(Batch { input: self.model.input(&xt, &t)?, target: x1.sub(&x0)?, output_scale: None })
    }
}

/// A rectified-flow training run of `model` on `coupling` with
/// `objective`, on any backend, a step at a time ([`Trainer`]).
///
/// # Errors
///
/// A bad coupling, objective, model or setting, or a backend that cannot
/// hold the model (e.g. `f64` on a GPU).
pub fn trainer<B: Backend>(backend: &B, model: &VelocityModel, coupling: &Coupling, objective: &Objective, config: &TrainConfig) -> Result<Trainer<B>, MethodError> {
    coupling.check(model.dim)?;
    objective.time.check()?;
    let source = FlowBatches {
        model: model.clone(),
        coupling: coupling.clone(),
        time: objective.time,
        batch: config.batch,
        noise_rng: SeedStream::new(config.seed, "rectified-flow/noise"),
        data_rng: SeedStream::new(config.seed, "rectified-flow/data"),
        time_rng: SeedStream::new(config.seed, "rectified-flow/time"),
    };
    let regression = match objective.loss {
        FlowLoss::Squared => Regression::Squared,
        FlowLoss::PseudoHuber => Regression::PseudoHuber(0.00054 * model.dim as f64),
    };
    Trainer::new(backend, &model.net, config, None, Box::new(source), regression)
}

impl VelocityModel {
    /// Replaces the network's parameters with `values` (W0, b0, W1, ...,
    /// each flattened row-major), e.g. read back from a GPU.
    ///
    /// # Errors
    ///
    /// When the count or a length does not match the network.
    pub fn set_parameters(&mut self, values: &[Vec<f32>]) -> Result<(), MethodError> {
        set_mlp_parameters(&mut self.net, values)
    }
}

/// Trains `model` as a rectified flow on `coupling` (1-rectified flow
/// from `N(0, I)` to a target, or reflow on pairs) on the CPU.
pub fn train(
    model: &mut VelocityModel,
    coupling: &Coupling,
    objective: &Objective,
    config: &TrainConfig,
    monitor: &mut Monitor<'_>,
) -> Result<TrainReport, MethodError> {
    train_on(&Cpu, model, coupling, objective, config, monitor)
}

/// [`train`] on any backend, reading each step's loss as it goes (a
/// blocking read on a GPU: native runs; the browser drives a [`Trainer`]
/// asynchronously instead). The trained parameters are copied back into
/// `model` on the CPU, also when the run stops early.
pub fn train_on<B: Backend>(
    backend: &B,
    model: &mut VelocityModel,
    coupling: &Coupling,
    objective: &Objective,
    config: &TrainConfig,
    monitor: &mut Monitor<'_>,
) -> Result<TrainReport, MethodError> {
    let mut run = trainer(backend, model, coupling, objective, config)?;
    run_and_apply(&mut run, monitor, &mut |values| model.set_parameters(values))
}

/// Integrates the learned ODE from `x0` (noise, `t = 0`) to `t = 1` with
/// `steps` Euler steps. `steps = 1` is the one-step generator.
pub fn sample(model: &VelocityModel, x0: &Tensor, steps: usize) -> Result<Tensor, MethodError> {
    if steps == 0 || steps > 10_000 {
        return Err(MethodError::Config(format!("sampling steps must be in 1..=10000; got {steps}")));
    }
    let dt = 1.0 / steps as f32;
    let mut x = x0.clone();
    for i in 0..steps {
        let v = model.velocity(&x, i as f32 * dt)?;
        x = x.add(&v.scale(f64::from(dt))?)?;
    }
    Ok(x)
}

/// The result of [`sample_adaptive`]: samples and the solver's statistics.
#[derive(Debug, Clone)]
pub struct AdaptiveSamples {
    /// Samples at `t = 1`.
    pub samples: Tensor,
    /// Step-by-step statistics of the solve (NFE, accepted and rejected
    /// steps, step sizes, error and stiffness estimates).
    pub stats: odeon_solve::ode::OdeStats,
}

/// Integrates the learned ODE from `x0` to `t = 1` with an adaptive solver
/// (the whole batch is one state, so the step sizes are those the hardest
/// sample needs). Returns the samples and the solver statistics.
pub fn sample_adaptive(model: &VelocityModel, x0: &Tensor, solver: odeon_solve::ode::Solver, rtol: f64, atol: f64) -> Result<AdaptiveSamples, MethodError> {
    use odeon_solve::ode::{Controller, OdeOptions, PidController, SolveError, solve_ode};
    if !(rtol > 0.0 && atol > 0.0) {
        return Err(MethodError::Config(format!("tolerances must be positive; got rtol {rtol}, atol {atol}")));
    }
    let shape = x0.shape().to_vec();
    let field = |t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        let x = Tensor::from_f64(&shape, y.clone())?.cast(odeon_tensor::DType::F32)?;
        let v = model.velocity(&x, t as f32).map_err(|e| SolveError::VectorField(e.to_string()))?;
        Ok(v.to_f64_vec()?)
    };
    let options = OdeOptions { controller: Controller::Pid(PidController::new(rtol, atol)), max_steps: 4096, ..OdeOptions::default() };
    let solution = solve_ode(field, solver, 0.0, 1.0, None, &x0.to_f64_vec()?, &options)?;
    let last = solution.ys.last().cloned().unwrap_or_default();
    let samples = Tensor::from_f64(&shape, last)?.cast(odeon_tensor::DType::F32)?;
    Ok(AdaptiveSamples { samples, stats: solution.stats })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sliced_w2;
    use odeon_nn::Module;

    /// The skeleton's success criterion: 1-RF on 8 Gaussians covers every mode
    /// and its samples are far closer to the target than the noise is.
    #[test]
    fn one_rectified_flow_learns_eight_gaussians() {
        for seed in [0u64, 1, 2] {
            let target = RingMixture::eight_gaussians();
            let mut model = VelocityModel::new(2, 64, 3, Activation::Silu, seed).expect("sizes");
            let config = TrainConfig { steps: 1500, batch: 256, lr: 3e-3, seed };
            let report = train(&mut model, &target.into(), &Objective::default(), &config, &mut |_, _, _| true).expect("trains");
            assert!(report.losses.iter().all(|l| l.is_finite()));

            let mut rng = SeedStream::new(seed, "test/eval");
            let n = 2000;
            let x0 = rng.normal_tensor(&[n, 2]);
            let xs = sample(&model, &x0, 50).expect("samples");
            let reference = target.sample(n, &mut rng).expect("target");
            let sw_model = sliced_w2(&xs, &reference, 64, &mut rng).expect("metric");
            let sw_noise = sliced_w2(&x0, &reference, 64, &mut rng).expect("metric");
            let fresh = target.sample(n, &mut rng).expect("target");
            let sw_fresh = sliced_w2(&fresh, &reference, 64, &mut rng).expect("metric");
            let mut counts = [0usize; 8];
            target.nearest_mode(&xs).expect("modes").into_iter().for_each(|k| counts[k] += 1);
            eprintln!("seed {seed}: SW model {sw_model:.3}, noise {sw_noise:.3}, fresh {sw_fresh:.3}; modes {counts:?}");
            // The catalogue's rule: at the level of a fresh target draw.
            assert!(sw_model <= 1.5 * sw_fresh, "SW model {sw_model} vs fresh draw {sw_fresh}");
            assert!(sw_model < 0.2 * sw_noise, "SW model {sw_model} vs noise {sw_noise}");
            assert!(counts.iter().all(|&c| c > n / 16 && c < 3 * n / 16), "mode counts {counts:?}");
        }
    }

    #[test]
    fn adaptive_sampling_matches_fine_euler_and_reports_stats() {
        let target = RingMixture::eight_gaussians();
        let mut model = VelocityModel::new(2, 32, 2, Activation::Silu, 0).expect("sizes");
        let config = TrainConfig { steps: 200, batch: 128, lr: 3e-3, seed: 0 };
        train(&mut model, &target.into(), &Objective::default(), &config, &mut |_, _, _| true).expect("trains");
        let x0 = SeedStream::new(1, "test/x0").normal_tensor(&[64, 2]);
        let fine = sample(&model, &x0, 2000).expect("euler");
        let adaptive = sample_adaptive(&model, &x0, odeon_solve::ode::Solver::Dopri5, 1e-6, 1e-6).expect("dopri5");
        let diff = adaptive.samples.sub(&fine).expect("sub").unary(odeon_tensor::UnaryOp::Abs).expect("abs");
        let worst = diff.to_f32_vec().expect("read").into_iter().fold(0.0f32, f32::max);
        assert!(worst < 2e-2, "adaptive vs 2000 Euler steps: {worst}");
        assert!(adaptive.stats.accepted > 0 && adaptive.stats.nfe >= 6 * adaptive.stats.accepted);
        assert_eq!(adaptive.stats.steps.len(), adaptive.stats.accepted);
        assert!(sample_adaptive(&model, &x0, odeon_solve::ode::Solver::Dopri5, 0.0, 1e-3).is_err());
    }

    #[test]
    fn u_shaped_times_follow_their_density() {
        let time = TimeSampling::UShaped { a: 4.0 };
        // The density integrates to one and is its distribution's derivative.
        let n = 4000;
        let integral: f64 = (0..n).map(|i| time.density((i as f64 + 0.5) / n as f64) / n as f64).sum();
        assert!((integral - 1.0).abs() < 1e-6, "{integral}");
        for t in [0.1, 0.37, 0.8] {
            let h = 1e-5;
            let slope = (time.cdf(t + h) - time.cdf(t - h)) / (2.0 * h);
            assert!((slope - time.density(t)).abs() < 1e-6, "at {t}: {slope} vs {}", time.density(t));
        }
        assert_eq!((time.cdf(0.0), time.cdf(1.0)), (0.0, 1.0));
        // Ends are e^4 / (e^4 + 1) / 2 * 4 / ... heavier than the middle: p(0) / p(1/2) = (1 + e^4) / (2 e^2).
        assert!((time.density(0.0) / time.density(0.5) - (1.0 + 4f64.exp()) / (2.0 * 2f64.exp())).abs() < 1e-12);
        for seed in [0u64, 1, 2] {
            let mut rng = SeedStream::new(seed, "test/times");
            let draws: Vec<f64> = (0..20_000).map(|_| f64::from(time.sample(&mut rng))).collect();
            let ks = odeon_solve::metrics::ks_test(&draws, |t| time.cdf(t)).expect("ks");
            assert!(ks.p_value > 1e-3, "seed {seed}: KS {ks:?}");
            let uniform = odeon_solve::metrics::ks_test(&draws, |t| t.clamp(0.0, 1.0)).expect("ks");
            assert!(uniform.p_value < 1e-6, "the U shape is visible: {uniform:?}");
        }
        assert!(TimeSampling::UShaped { a: 0.0 }.check().is_err());
    }

    /// A flow whose field is one constant vector moves every point along a
    /// straight line at constant speed: straightness zero (up to rounding).
    #[test]
    fn a_constant_field_is_perfectly_straight() {
        let mut model = VelocityModel::new(2, 8, 2, Activation::Silu, 0).expect("sizes");
        let mut values: Vec<Vec<f32>> = model.net.parameters().iter().map(|p| vec![0.0; p.len()]).collect();
        *values.last_mut().expect("bias") = vec![1.5, -0.5];
        model.set_parameters(&values).expect("shapes");
        let x0 = SeedStream::new(0, "test/x0").normal_tensor(&[50, 2]);
        let s = straightness(&model, &x0, 10).expect("runs");
        assert!(s < 1e-12, "only f32 rounding of the Euler sums: {s}");
        let moved = sample(&model, &x0, 1).expect("one step").sub(&x0).expect("sub").to_f32_vec().expect("read");
        assert!(moved.chunks(2).all(|d| (d[0] - 1.5).abs() < 1e-6 && (d[1] + 0.5).abs() < 1e-6));
        assert!(straightness(&model, &x0, 0).is_err());
    }

    /// Reflow on pairs `(z, z + c)`: the regression target is the constant
    /// `c` wherever the lines pass, so a flow trained with the ++ objective
    /// on them is straight and one step lands on the pair's data end.
    #[test]
    fn reflow_on_straight_pairs_learns_the_straight_map() {
        let mut rng = SeedStream::new(4, "test/pairs");
        let noise = rng.normal_tensor(&[2000, 2]);
        let shift = Tensor::from_shape_vec(&[1, 2], vec![2.0, -1.0]).expect("shape");
        let pairs = Pairs::new(&noise, &noise.add(&shift).expect("add")).expect("pairs");
        assert_eq!((pairs.len(), pairs.dim()), (2000, 2));
        for objective in [Objective::default(), Objective::plus_plus()] {
            let mut model = VelocityModel::new(2, 32, 2, Activation::Silu, 1).expect("sizes");
            let config = TrainConfig { steps: 400, batch: 128, lr: 3e-3, seed: 5 };
            let report = train(&mut model, &Coupling::Pairs(pairs.clone()), &objective, &config, &mut |_, _, _| true).expect("trains");
            assert!(report.losses.last().expect("losses") < &0.02, "{objective:?}: final loss {:?}", report.losses.last());
            let z = rng.normal_tensor(&[500, 2]);
            let s = straightness(&model, &z, 20).expect("runs");
            let one = sample(&model, &z, 1).expect("one step").sub(&z.add(&shift).expect("add")).expect("sub");
            let worst = one.to_f32_vec().expect("read").into_iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(s < 1e-3 && worst < 0.1, "{objective:?}: straightness {s}, one-step error {worst}");
        }
    }

    #[test]
    fn bad_pairs_and_mismatched_models_are_reported() {
        let a = Tensor::zeros(&[4, 2]);
        assert!(Pairs::new(&a, &Tensor::zeros(&[5, 2])).is_err());
        assert!(Pairs::new(&Tensor::zeros(&[0, 2]), &Tensor::zeros(&[0, 2])).is_err());
        let nan = Tensor::from_shape_vec(&[1, 2], vec![f32::NAN, 0.0]).expect("shape");
        assert!(Pairs::new(&nan, &Tensor::zeros(&[1, 2])).expect_err("NaN").to_string().contains("NaN"));
        let pairs3 = Pairs::new(&Tensor::zeros(&[4, 3]), &Tensor::zeros(&[4, 3])).expect("3-D pairs");
        let mut model = VelocityModel::new(2, 8, 1, Activation::Silu, 0).expect("sizes");
        let config = TrainConfig { steps: 2, batch: 4, lr: 1e-3, seed: 0 };
        let err = train(&mut model, &Coupling::Pairs(pairs3), &Objective::default(), &config, &mut |_, _, _| true).expect_err("3-D");
        assert!(err.to_string().contains("3-D"), "{err}");
    }

    #[test]
    fn stop_and_bad_settings_are_reported() {
        let target = RingMixture::eight_gaussians();
        let mut model = VelocityModel::new(2, 8, 1, Activation::Silu, 0).expect("sizes");
        let config = TrainConfig { steps: 10, batch: 8, lr: 1e-3, seed: 0 };
        let err = train(&mut model, &target.into(), &Objective::default(), &config, &mut |step, _, _| step < 3).expect_err("stopped");
        assert_eq!(err, MethodError::Stopped { step: 3, total: 10 });
        let bad = TrainConfig { lr: f32::NAN, ..config };
        assert!(matches!(train(&mut model, &target.into(), &Objective::default(), &bad, &mut |_, _, _| true), Err(MethodError::Config(_))));
        let far = RingMixture { radius: 1e30, ..target };
        assert!(matches!(train(&mut model, &far.into(), &Objective::default(), &config, &mut |_, _, _| true), Err(MethodError::Diverged { step: 0, .. })));
        assert!(sample(&model, &Tensor::zeros(&[4, 2]), 0).is_err());
    }
}

