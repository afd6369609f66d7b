//! AdjointDPM (Pan et al., 2023): gradients of a loss on a diffusion
//! model's samples with respect to its conditioning, by the adjoint of the
//! probability-flow ODE instead of backpropagation through the sampler.
//!
//! The model is class-conditional: a noise predictor
//! `eps(x, t, c) = s(t) x + F([x / sqrt(a^2 + s^2), time features, c])` on
//! the VP schedule of [`crate::diffusion`], where `c` in `R^K` is the
//! condition. Classes enter as one-hot vectors, so the first layer's
//! weights on `c` hold one learned embedding per class and any other
//! vector of `R^K` is a new embedding.
//!
//! In the exponential-integrator variables `y = x / a`, `rho = s / a` the
//! probability-flow ODE is `dy/drho = eps(a y, t(rho), c)`, and Euler steps
//! in `rho` are DDIM. Sampling runs from `rho_T` (noise) down to `rho_0`
//! (data). For a loss `L(x_0)` the adjoint `a(rho) = dL/dy(rho)` starts at
//! `a(rho_0) = a_0 dL/dx_0` and runs back up to `rho_T`:
//!
//! * `da/drho = -a^T d eps/dy`,
//! * `dL/dc = -∫_{rho_0}^{rho_T} a^T d eps/dc drho` (the integral over the
//!   sampling direction, from `rho_T` down to `rho_0`, taken with its sign),
//! * `dL/dy(rho_T) = a(rho_T)`, the gradient for the initial noise.
//!
//! [`adjoint_gradient`] integrates these with the sampler's own steps, in
//! reverse, carrying only the current state: the trajectory is not stored
//! but re-solved backwards alongside the adjoint (each step's start
//! recovered from its end, optionally refined by fixed-point iterations),
//! so memory does not grow with the number of steps. [`backprop_gradient`]
//! records the whole sampler on one tape, whose size grows with the steps.
//! Both report the largest tape they recorded, in operations.

use odeon_autodiff::{Tape, Var};
use odeon_nn::{Activation, Mlp, Module};
use odeon_tensor::{Backend, Cpu, SeedStream, Tensor};

use crate::diffusion::{T_MIN, VpSchedule, WEIGHT_AVERAGE_DECAY};
use crate::gmm::Gmm;
use crate::rectified_flow::{TIME_FEATURES, TrainConfig, TrainReport, time_features};
use crate::training::{Batch, BatchSource, Regression, Trainer, run_and_apply, set_mlp_parameters};
use crate::{MethodError, Monitor};

/// A class-conditional noise predictor.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionalDiffusion {
    /// The MLP on `[scaled x, time features, c]`.
    pub net: Mlp,
    /// Data dimension.
    pub dim: usize,
    /// Number of classes (the length of `c`).
    pub classes: usize,
    /// The VP schedule.
    pub schedule: VpSchedule,
}

/// A time grid for the sampler: `steps + 1` times from 1 down to
/// [`T_MIN`], equally spaced in `log rho`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Times, decreasing.
    pub ts: Vec<f64>,
    /// `rho = s / a` at each time.
    pub rhos: Vec<f64>,
    /// `a` at each time.
    pub alphas: Vec<f64>,
}

impl Grid {
    /// `steps` steps of the schedule.
    ///
    /// # Errors
    ///
    /// `steps` outside `1..=10000`.
    pub fn new(schedule: &VpSchedule, steps: usize) -> Result<Grid, MethodError> {
        if steps == 0 || steps > 10_000 {
            return Err(MethodError::Config(format!("sampling steps must be in 1..=10000; got {steps}")));
        }
        let (hi, lo) = (-schedule.lambda(1.0), -schedule.lambda(T_MIN));
        let ts: Vec<f64> = (0..=steps)
            .map(|i| {
                let log_rho = hi + (lo - hi) * i as f64 / steps as f64;
                if i == 0 {
                    1.0
                } else if i == steps {
                    T_MIN
                } else {
                    schedule.t_of_lambda(-log_rho)
                }
            })
            .collect();
        Ok(Grid {
            rhos: ts.iter().map(|&t| schedule.sigma(t) / schedule.alpha(t)).collect(),
            alphas: ts.iter().map(|&t| schedule.alpha(t)).collect(),
            ts,
        })
    }

    /// Number of steps.
    pub fn steps(&self) -> usize {
        self.ts.len() - 1
    }
}

/// A gradient of the sample loss with respect to the condition and the
/// initial noise, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleGradient {
    /// The loss.
    pub loss: f64,
    /// `dL/dc`.
    pub condition: Vec<f64>,
    /// `dL/dx_T`, flat.
    pub noise: Vec<f64>,
    /// Network evaluations (a vector-Jacobian product counts as one).
    pub nfe: usize,
    /// The largest tape recorded, in operations: the memory that grows.
    pub peak_tape: usize,
}

impl ConditionalDiffusion {
    /// An MLP with `layers` hidden layers of `hidden` units.
    ///
    /// # Errors
    ///
    /// Sizes out of range.
    pub fn new(dim: usize, classes: usize, hidden: usize, layers: usize, activation: Activation, seed: u64) -> Result<Self, MethodError> {
        if dim == 0 || classes == 0 || classes > 64 || hidden == 0 || hidden > 4096 || layers == 0 || layers > 16 {
            return Err(MethodError::Config(format!(
                "model sizes out of range: dim {dim}, classes {classes} (1..=64), hidden {hidden} (1..=4096), layers {layers} (1..=16)"
            )));
        }
        let mut sizes = vec![dim + TIME_FEATURES + classes];
        sizes.extend(std::iter::repeat_n(hidden, layers));
        sizes.push(dim);
        let mut rng = SeedStream::new(seed, "adjoint-dpm/init");
        Ok(ConditionalDiffusion { net: Mlp::new(&sizes, activation, &mut rng)?, dim, classes, schedule: VpSchedule::default() })
    }

    /// The one-hot condition of class `k`.
    pub fn one_hot(&self, k: usize) -> Vec<f64> {
        (0..self.classes).map(|j| if j == k { 1.0 } else { 0.0 }).collect()
    }

    fn check(&self, x: &[usize], c: &[f64]) -> Result<(), MethodError> {
        if x.len() != 2 || x[1] != self.dim || c.len() != self.classes {
            return Err(MethodError::Config(format!(
                "the model works on {}-D points with a condition of {} numbers; got points of shape {x:?} and a condition of {}",
                self.dim,
                self.classes,
                c.len()
            )));
        }
        Ok(())
    }

    /// `eps(x, t, c)` recorded on `tape` (`x` is `[n, dim]`, `c` is `[1, classes]`).
    fn eps_var(&self, tape: &std::rc::Rc<Tape>, params: &[Var], x: &Var, t: f64, c: &Var) -> Result<Var, MethodError> {
        let n = x.value().shape()[0];
        let (a, s) = (self.schedule.alpha(t), self.schedule.sigma(t));
        let scaled = x.scale(1.0 / (a * a + s * s).sqrt())?;
        let times = tape.constant(time_features(&vec![t as f32; n])?);
        let condition = c.broadcast_to(&[n, self.classes])?;
        let input = Var::concat(&[&scaled, &times, &condition], 1)?;
        let residual = self.net.apply(params, &input)?;
        Ok(x.scale(s)?.add(&residual)?)
    }

    /// `eps(x, t, c)` for a batch `x` (`[n, dim]`) and one condition `c`.
    ///
    /// # Errors
    ///
    /// Shapes that do not fit the model.
    pub fn eps(&self, x: &Tensor, t: f64, c: &[f64]) -> Result<Tensor, MethodError> {
        self.check(x.shape(), c)?;
        let tape = Tape::new();
        let params: Vec<Var> = self.net.parameters().into_iter().map(|p| tape.constant(p)).collect();
        let c = tape.constant(condition_tensor(c)?);
        Ok(self.eps_var(&tape, &params, &tape.constant(x.clone()), t, &c)?.value().clone())
    }
}

fn condition_tensor(c: &[f64]) -> Result<Tensor, MethodError> {
    Ok(Tensor::from_shape_vec(&[1, c.len()], c.iter().map(|&v| v as f32).collect())?)
}

/// The batches of a conditional run: labelled data, noise and times; the
/// network sees the scaled point, the time features and the one-hot class.
struct ConditionalBatches {
    schedule: VpSchedule,
    dim: usize,
    classes: usize,
    data: Gmm,
    batch: usize,
    noise_rng: SeedStream,
    data_rng: SeedStream,
    time_rng: SeedStream,
}

impl BatchSource for ConditionalBatches {
    fn batch(&mut self, _step: usize) -> Result<Batch, MethodError> {
        let (n, d, k, sc) = (self.batch, self.dim, self.classes, self.schedule);
        let (x0, labels) = self.data.sample_labelled(n, &mut self.data_rng)?;
        let eps = self.noise_rng.normal_tensor(&[n, d]);
        let t: Vec<f64> = (0..n).map(|_| T_MIN + (1.0 - T_MIN) * self.time_rng.uniform_f64()).collect();
        let column = |f: &dyn Fn(f64) -> f64| Tensor::from_shape_vec(&[n, 1], t.iter().map(|&ti| f(ti) as f32).collect());
        let (a, s) = (column(&|ti| sc.alpha(ti))?, column(&|ti| sc.sigma(ti))?);
        let xt = a.mul(&x0)?.add(&s.mul(&eps)?)?;
        let scale = column(&|ti| 1.0 / (sc.alpha(ti).powi(2) + sc.sigma(ti).powi(2)).sqrt())?;
        let one_hot: Vec<f32> = labels.iter().flat_map(|&l| (0..k).map(move |j| if j == l { 1.0 } else { 0.0 })).collect();
        let t32: Vec<f32> = t.iter().map(|&ti| ti as f32).collect();
        let input = Tensor::concat(&[&xt.mul(&scale)?, &time_features(&t32)?, &Tensor::from_shape_vec(&[n, k], one_hot)?], 1)?;
        // eps = s x_t + F: F regresses eps - s x_t.
        Ok(Batch { input, target: eps.sub(&s.mul(&xt)?)?, output_scale: None })
    }
}

/// A training run of the conditional noise predictor on labelled draws from
/// `data` (class = mixture component), on any backend, a step at a time:
/// `t ~ U(T_MIN, 1)`, `x_t = a x_0 + s eps`, squared error on the noise;
/// Adam with the cosine-decayed learning rate and a moving average of the
/// weights, as the diffusion notebook's models.
///
/// # Errors
///
/// Mismatched sizes or bad settings.
pub fn trainer<B: Backend>(backend: &B, model: &ConditionalDiffusion, data: &Gmm, config: &TrainConfig) -> Result<Trainer<B>, MethodError> {
    let (d, k) = (model.dim, model.classes);
    if data.dim() != d || data.components() != k {
        return Err(MethodError::Config(format!(
            "the data are {}-D with {} classes but the model is {d}-D with {k}",
            data.dim(),
            data.components()
        )));
    }
    let source = ConditionalBatches {
        schedule: model.schedule,
        dim: d,
        classes: k,
        data: data.clone(),
        batch: config.batch,
        noise_rng: SeedStream::new(config.seed, "adjoint-dpm/noise"),
        data_rng: SeedStream::new(config.seed, "adjoint-dpm/data"),
        time_rng: SeedStream::new(config.seed, "adjoint-dpm/time"),
    };
    Trainer::new(backend, &model.net, config, Some(WEIGHT_AVERAGE_DECAY), Box::new(source), Regression::Squared)
}

/// Trains the model on the CPU ([`trainer`]); it ends with the moving
/// average of its weights, also when stopped early.
///
/// # Errors
///
/// Mismatched sizes, bad settings, divergence, or a stop.
pub fn train(model: &mut ConditionalDiffusion, data: &Gmm, config: &TrainConfig, monitor: &mut Monitor<'_>) -> Result<TrainReport, MethodError> {
    let mut run = trainer(&Cpu, model, data, config)?;
    run_and_apply(&mut run, monitor, &mut |values| set_mlp_parameters(&mut model.net, values))
}

impl ConditionalDiffusion {
    /// Replaces the network's parameters (W0, b0, W1, ..., flattened).
    ///
    /// # Errors
    ///
    /// When the count or a length does not match the network.
    pub fn set_parameters(&mut self, values: &[Vec<f32>]) -> Result<(), MethodError> {
        set_mlp_parameters(&mut self.net, values)
    }
}

/// DDIM from `noise` (`x_T`, `[n, dim]`) under condition `c`: Euler steps
/// of `dy/drho = eps` on `grid`. Returns `x_0`.
///
/// # Errors
///
/// Shapes that do not fit the model.
pub fn sample(model: &ConditionalDiffusion, noise: &Tensor, c: &[f64], grid: &Grid) -> Result<Tensor, MethodError> {
    model.check(noise.shape(), c)?;
    let mut y = noise.scale(1.0 / grid.alphas[0])?;
    for i in 0..grid.steps() {
        let eps = model.eps(&y.scale(grid.alphas[i])?, grid.ts[i], c)?;
        y = y.add(&eps.scale(grid.rhos[i + 1] - grid.rhos[i])?)?;
    }
    Ok(y.scale(grid.alphas[grid.steps()])?)
}

/// The sample loss: the mean over samples of `|x_0 - target|^2`.
fn loss_and_grad(x0: &Tensor, target: &[f64]) -> Result<(f64, Tensor), MethodError> {
    let values = x0.to_f64_vec()?;
    let n = x0.shape()[0].max(1) as f64;
    let d = target.len();
    let diff: Vec<f64> = values.iter().enumerate().map(|(i, v)| v - target[i % d]).collect();
    let loss = diff.iter().map(|v| v * v).sum::<f64>() / n;
    let grad = Tensor::from_f64(x0.shape(), diff.iter().map(|v| 2.0 * v / n).collect())?.cast(odeon_tensor::DType::F32)?;
    Ok((loss, grad))
}

fn check_target(model: &ConditionalDiffusion, target: &[f64]) -> Result<(), MethodError> {
    if target.len() != model.dim {
        return Err(MethodError::Config(format!("the target point has {} coordinates but the model is {}-D", target.len(), model.dim)));
    }
    Ok(())
}

/// `dL/dc` and `dL/dx_T` for `L = mean |x_0 - target|^2` by
/// backpropagation through the whole sampler, recorded on one tape.
///
/// # Errors
///
/// Shapes that do not fit the model.
pub fn backprop_gradient(model: &ConditionalDiffusion, noise: &Tensor, c: &[f64], grid: &Grid, target: &[f64]) -> Result<SampleGradient, MethodError> {
    model.check(noise.shape(), c)?;
    check_target(model, target)?;
    let tape = Tape::new();
    let params: Vec<Var> = model.net.parameters().into_iter().map(|p| tape.constant(p)).collect();
    let c_var = tape.leaf(condition_tensor(c)?);
    let x_t = tape.leaf(noise.clone());
    let mut y = x_t.scale(1.0 / grid.alphas[0])?;
    for i in 0..grid.steps() {
        let eps = model.eps_var(&tape, &params, &y.scale(grid.alphas[i])?, grid.ts[i], &c_var)?;
        y = y.add(&eps.scale(grid.rhos[i + 1] - grid.rhos[i])?)?;
    }
    let x0 = y.scale(grid.alphas[grid.steps()])?;
    let target_row = tape.constant(Tensor::from_f64(&[1, target.len()], target.to_vec())?.cast(odeon_tensor::DType::F32)?);
    let diff = x0.sub(&target_row.broadcast_to(x0.value().shape())?)?;
    let n = noise.shape()[0].max(1) as f64;
    let loss = diff.unary(odeon_tensor::UnaryOp::Square)?.sum()?.scale(1.0 / n)?;
    let grads = tape.grad(&loss, &[&c_var, &x_t], false)?;
    Ok(SampleGradient {
        loss: loss.value().item()?,
        condition: grads[0].value().to_f64_vec()?,
        noise: grads[1].value().to_f64_vec()?,
        nfe: grid.steps(),
        peak_tape: tape.len(),
    })
}

/// `dL/dc` and `dL/dx_T` by the adjoint method (see the module docs):
/// one sampling pass keeping only the end, then the adjoint and the
/// trajectory integrated back together with the same steps. Each step's
/// start `y_i` is recovered from its end by one Euler step backwards
/// (`inversion_iterations = 0`: the adjoint ODE solved with Euler), then
/// refined by `inversion_iterations` fixed-point iterations of
/// `y_i = y_{i+1} - h eps(y_i)` (which invert the DDIM step exactly in the
/// limit). Memory does not grow with the number of steps.
///
/// # Errors
///
/// Shapes that do not fit the model, or more than 10 iterations.
pub fn adjoint_gradient(
    model: &ConditionalDiffusion,
    noise: &Tensor,
    c: &[f64],
    grid: &Grid,
    target: &[f64],
    inversion_iterations: usize,
) -> Result<SampleGradient, MethodError> {
    check_target(model, target)?;
    if inversion_iterations > 10 {
        return Err(MethodError::Config(format!("at most 10 inversion iterations; got {inversion_iterations}")));
    }
    let steps = grid.steps();
    let x0 = sample(model, noise, c, grid)?;
    let (loss, dx0) = loss_and_grad(&x0, target)?;
    let mut nfe = steps;
    let mut peak_tape = 0;
    let mut y = x0.scale(1.0 / grid.alphas[steps])?;
    let mut adjoint = dx0.scale(grid.alphas[steps])?;
    let mut condition = vec![0.0; c.len()];
    for i in (0..steps).rev() {
        let h = grid.rhos[i + 1] - grid.rhos[i];
        // Recover y_i from y_{i+1}: one Euler step back, then refinements.
        let end = y.clone();
        let mut start = end.sub(&model.eps(&end.scale(grid.alphas[i + 1])?, grid.ts[i + 1], c)?.scale(h)?)?;
        nfe += 1;
        for _ in 0..inversion_iterations {
            start = end.sub(&model.eps(&start.scale(grid.alphas[i])?, grid.ts[i], c)?.scale(h)?)?;
            nfe += 1;
        }
        // Vector-Jacobian products of eps at the step's start.
        let tape = Tape::new();
        let params: Vec<Var> = model.net.parameters().into_iter().map(|p| tape.constant(p)).collect();
        let c_var = tape.leaf(condition_tensor(c)?);
        let y_var = tape.leaf(start.clone());
        let eps = model.eps_var(&tape, &params, &y_var.scale(grid.alphas[i])?, grid.ts[i], &c_var)?;
        let products = tape.vjp(&eps, &[&y_var, &c_var], &tape.constant(adjoint.clone()), false)?;
        nfe += 1;
        peak_tape = peak_tape.max(tape.len());
        for (g, v) in condition.iter_mut().zip(products[1].value().to_f64_vec()?) {
            *g += h * v;
        }
        adjoint = adjoint.add(&products[0].value().scale(h)?)?;
        y = start;
    }
    Ok(SampleGradient { loss, condition, noise: adjoint.scale(1.0 / grid.alphas[0])?.to_f64_vec()?, nfe, peak_tape })
}

pub use crate::metrics::cosine;

/// What [`optimise_condition`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimised {
    /// The condition after the last step.
    pub condition: Vec<f64>,
    /// The sample loss at every step.
    pub losses: Vec<f64>,
}

/// Optimises a condition so that samples land near `target`: Adam on `c`
/// with adjoint gradients (one inversion iteration), a fresh batch of
/// `batch` noise points per step from `seed`.
///
/// # Errors
///
/// Bad settings or shapes, a non-finite loss, or a stop from the monitor.
pub fn optimise_condition(
    model: &ConditionalDiffusion,
    start: &[f64],
    target: &[f64],
    grid: &Grid,
    config: &TrainConfig,
    monitor: &mut Monitor<'_>,
) -> Result<Optimised, MethodError> {
    crate::training::check_config(config)?;
    if start.len() != model.classes {
        return Err(MethodError::Config(format!("the condition needs {} numbers; got {}", model.classes, start.len())));
    }
    let mut opt = odeon_nn::Adam::new(odeon_nn::AdamConfig { lr: f64::from(config.lr), ..odeon_nn::AdamConfig::default() });
    let mut params = vec![condition_tensor(start)?];
    let mut rng = SeedStream::new(config.seed, "adjoint-dpm/optimise");
    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let noise = rng.normal_tensor(&[config.batch, model.dim]);
        let c = params[0].to_f64_vec()?;
        let g = adjoint_gradient(model, &noise, &c, grid, target, 1)?;
        if !g.loss.is_finite() {
            return Err(MethodError::Diverged { step, loss: g.loss as f32 });
        }
        losses.push(g.loss);
        odeon_nn::Optimizer::step(&mut opt, &mut params, &[condition_tensor(&g.condition)?])?;
        if !monitor(step + 1, config.steps, g.loss as f32) {
            return Err(MethodError::Stopped { step: step + 1, total: config.steps });
        }
    }
    Ok(Optimised { condition: params[0].to_f64_vec()?, losses })
}

/// The fraction of `points` whose most probable component of `data` is `k`.
///
/// # Errors
///
/// Points of the wrong dimension.
pub fn fraction_in(data: &Gmm, points: &Tensor, k: usize) -> Result<f64, MethodError> {
    let d = data.dim();
    let values = points.to_f64_vec()?;
    let mut hits = 0usize;
    for p in values.chunks(d) {
        if data.component_of(p)? == k {
            hits += 1;
        }
    }
    Ok(hits as f64 / (values.len() / d).max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_model() -> (ConditionalDiffusion, Gmm) {
        let data = Gmm::ring(4, 3.0, 0.3).expect("ring");
        let mut model = ConditionalDiffusion::new(2, 4, 32, 2, Activation::Silu, 1).expect("sizes");
        let config = TrainConfig { steps: 150, batch: 64, lr: 3e-3, seed: 2 };
        train(&mut model, &data, &config, &mut |_, _, _| true).expect("trains");
        (model, data)
    }

    /// The backprop gradient is the derivative: central differences of the
    /// sample loss along the condition.
    #[test]
    fn backprop_through_the_sampler_matches_finite_differences() {
        let (model, _) = small_model();
        let grid = Grid::new(&model.schedule, 8).expect("grid");
        let noise = SeedStream::new(3, "test/noise").normal_tensor(&[32, 2]);
        let c = vec![0.2, 0.5, -0.1, 0.3];
        let target = [1.0, -2.0];
        let g = backprop_gradient(&model, &noise, &c, &grid, &target).expect("backprop");
        let loss_at = |c: &[f64]| loss_and_grad(&sample(&model, &noise, c, &grid).expect("sample"), &target).expect("loss").0;
        assert!((loss_at(&c) - g.loss).abs() < 1e-4 * g.loss.abs().max(1.0));
        let h = 1e-2;
        for j in 0..4 {
            let (mut up, mut down) = (c.clone(), c.clone());
            up[j] += h;
            down[j] -= h;
            let fd = (loss_at(&up) - loss_at(&down)) / (2.0 * h);
            assert!((fd - g.condition[j]).abs() < 2e-2 * (1.0 + fd.abs()), "component {j}: {fd} vs {}", g.condition[j]);
        }
    }

    /// The adjoint agrees with backprop through the same steps, for the
    /// condition and the initial noise, and its tape does not grow with the
    /// number of steps while backprop's does.
    #[test]
    fn adjoint_matches_backprop_with_flat_memory() {
        let (model, _) = small_model();
        let noise = SeedStream::new(4, "test/noise").normal_tensor(&[64, 2]);
        let c = model.one_hot(1);
        let target = [0.0, 3.0];
        let mut tapes = Vec::new();
        for steps in [10, 20, 40] {
            let grid = Grid::new(&model.schedule, steps).expect("grid");
            let bp = backprop_gradient(&model, &noise, &c, &grid, &target).expect("backprop");
            let adj = adjoint_gradient(&model, &noise, &c, &grid, &target, 2).expect("adjoint");
            let (cos_c, cos_x) = (cosine(&bp.condition, &adj.condition), cosine(&bp.noise, &adj.noise));
            assert!(cos_c > 0.999 && cos_x > 0.999, "{steps} steps: cosine {cos_c} (condition), {cos_x} (noise)");
            // The tape sums the loss in f32, the adjoint in f64.
            assert!((bp.loss - adj.loss).abs() < 1e-5 * bp.loss.max(1.0), "{} vs {}", bp.loss, adj.loss);
            let euler = adjoint_gradient(&model, &noise, &c, &grid, &target, 0).expect("adjoint");
            eprintln!(
                "{steps} steps: cosine {cos_c:.8} / {cos_x:.8} with 2 inversion iterations, {:.8} / {:.8} with none; tapes {} vs {}",
                cosine(&bp.condition, &euler.condition),
                cosine(&bp.noise, &euler.noise),
                bp.peak_tape,
                adj.peak_tape
            );
            tapes.push((bp.peak_tape, adj.peak_tape));
        }
        assert!(tapes[0].1 == tapes[1].1 && tapes[1].1 == tapes[2].1, "adjoint tapes {tapes:?}");
        assert!(tapes[2].0 > 3 * tapes[0].0, "backprop tapes grow with the steps: {tapes:?}");
    }

    #[test]
    fn bad_shapes_and_settings_are_reported() {
        let model = ConditionalDiffusion::new(2, 4, 8, 1, Activation::Silu, 0).expect("sizes");
        let grid = Grid::new(&model.schedule, 4).expect("grid");
        assert!(sample(&model, &Tensor::zeros(&[3, 2]), &[1.0, 0.0], &grid).is_err());
        assert!(sample(&model, &Tensor::zeros(&[3, 3]), &model.one_hot(0), &grid).is_err());
        assert!(backprop_gradient(&model, &Tensor::zeros(&[3, 2]), &model.one_hot(0), &grid, &[1.0]).is_err());
        assert!(adjoint_gradient(&model, &Tensor::zeros(&[3, 2]), &model.one_hot(0), &grid, &[1.0, 1.0], 11).is_err());
        assert!(Grid::new(&model.schedule, 0).is_err());
        let data = Gmm::ring(8, 4.0, 0.3).expect("ring");
        let mut m = model.clone();
        assert!(train(&mut m, &data, &TrainConfig { steps: 1, batch: 4, lr: 1e-3, seed: 0 }, &mut |_, _, _| true).is_err());
    }
}
