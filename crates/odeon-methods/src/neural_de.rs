//! Neural differential equations (after P. Kidger, *On Neural Differential
//! Equations*, PhD thesis, Oxford 2021), in three parts.
//!
//! **(a) Neural ODE.** A vector field `dy/dt = MLP_theta(y)` is fitted to a
//! 2-D spiral (the damped rotation `dy/dt = [[-a, w], [-w, -a]] y`, whose
//! exact solution [`spiral`] gives in closed form) by Adam. The loss is the
//! mean squared error between the solve and the observations of short
//! windows of the trajectory (each window starts from its observed first
//! point, as in the torchdiffeq spiral demo), so early training does not
//! have to unroll the whole spiral. The gradient comes either from
//! *discretise-then-optimise* (the steps of the solver are recorded on one
//! tape and backpropagated: the exact gradient of the discrete solution,
//! memory growing with the number of steps) or from the *continuous adjoint*
//! (the adjoint ODE solved backwards, [`odeon_solve::adjoint`]: the
//! gradient of the exact solution up to the solver tolerance, with memory
//! independent of the number of steps). A loss over several observation
//! times is handled by solving the adjoint backwards segment by segment and
//! adding the observation's `dL/dy` to the adjoint state at each
//! observation. [`compare_ode_gradients`] computes one gradient both ways
//! and reports their agreement and the peak tape length, the number of
//! recorded operations (our memory proxy).
//!
//! **(b) Neural CDE.** A controlled differential equation
//! `dz = f_theta(z) dX(t)` classifies irregularly sampled 2-D spirals as
//! clockwise or counter-clockwise. Each series is observed at 70% of its
//! times (30% dropped at random per series); its control path `X` is the
//! natural cubic spline ([`NaturalCubicSpline`]) through
//! `(t_i, (t_i, x_i, y_i))` (time is a channel, so `X` is never constant and
//! the speed of the spiral is visible). The hidden state starts at
//! `z(0) = linear(X(0))`, follows `dz/dt = f_theta(z) dX/dt` with `f_theta`
//! an MLP (tanh at the end, as in Kidger et al.) whose output is read as a
//! `hidden × channels` matrix, and the logit is `linear(z(1))`. The whole
//! batch is one `[series, hidden]` state, solved with classical RK4 at a
//! fixed step ([`CdeConfig::solver_steps`]) on the time `[0, 1]`, and trained
//! by backpropagating through the solver's steps (fixed steps keep one
//! training step's cost constant, and the dynamics are smooth, so adaptive
//! steps would buy nothing here). Where a series' first or last observation
//! was dropped the spline continues as a straight line, so every series is
//! solved over the same interval.
//!
//! **(c) Neural SDE tools.** [`reversible_heun_roundtrip`] integrates an SDE
//! with a small random neural drift and diffusion by reversible Heun on a
//! [`BrownianInterval`], then runs the solver backwards with
//! [`reverse_reversible_heun`] from the final solver state and reports how
//! exactly the initial condition comes back (reversible Heun is
//! algebraically reversible: one drift and one diffusion evaluation a step,
//! and the reverse pass needs no stored trajectory).
//! [`brownian_query_orders`] queries one Brownian interval in forward,
//! reverse and random order and checks that the values are bit-identical;
//! [`brownian_bridge_variance`] measures, over many seeds, the variance of
//! `W(s)` given `W(a)` and `W(b)`, which must be `(s-a)(b-s)/(b-a)`.
//!
//! References: R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud,
//! "Neural Ordinary Differential Equations", NeurIPS 2018; P. Kidger,
//! J. Morrill, J. Foster, T. Lyons, "Neural Controlled Differential
//! Equations for Irregular Time Series", NeurIPS 2020; P. Kidger, J. Foster,
//! X. Li, T. Lyons, "Efficient and Accurate Gradients for Neural SDEs",
//! NeurIPS 2021.

use std::cell::Cell;
use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_nn::{Activation, Adam, AdamConfig, Linear, Mlp, Module, Optimizer};
use odeon_solve::adjoint::{backsolve_adjoint, interpolating_adjoint};
use odeon_solve::interpolate::NaturalCubicSpline;
use odeon_solve::ode::{OdeOptions, SaveAt, SolveError, Solver, solve_ode};
use odeon_solve::sde::{BrownianInterval, BrownianPath, SdeOptions, SdeSolver, SdeStats, reverse_reversible_heun, solve_sde};
use odeon_tensor::{Cpu, DType, SeedStream, Tensor, UnaryOp};
use serde::{Deserialize, Serialize};

use crate::{MethodError, Monitor};

fn config_error(message: String) -> MethodError {
    MethodError::Config(message)
}

fn f64_vector(values: &[f64]) -> Result<Tensor, MethodError> {
    Ok(Tensor::from_f64(&[values.len()], values.to_vec())?)
}

pub use crate::metrics::{cosine, relative_difference};

/// The learning rate of `step` of `steps`: cosine-decayed from `lr` to 10%.
fn cosine_lr(lr: f64, step: usize, steps: usize) -> f64 {
    let progress = step as f64 / steps.max(1) as f64;
    lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

// ---------------------------------------------------------------------------
// (a) Neural ODE on a spiral
// ---------------------------------------------------------------------------

/// The spiral a neural ODE is fitted to: the damped rotation
/// `dy/dt = [[-damping, frequency], [-frequency, -damping]] y` from `y0`,
/// observed at `points` equally spaced times on `[0, t_end]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpiralConfig {
    /// Number of observations (>= 2). Default 40.
    pub points: usize,
    /// End time (> 0). Default 10 (about 1.6 turns).
    pub t_end: f64,
    /// Decay rate `a` (>= 0). Default 0.1.
    pub damping: f64,
    /// Angular frequency `w` (clockwise for `w > 0`). Default 1.
    pub frequency: f64,
    /// Initial point. Default `[2, 0]`.
    pub y0: [f64; 2],
}

impl Default for SpiralConfig {
    fn default() -> Self {
        Self { points: 40, t_end: 10.0, damping: 0.1, frequency: 1.0, y0: [2.0, 0.0] }
    }
}

/// Observations of a 2-D trajectory at equally spaced times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spiral {
    /// Observation times, `ts[0] = 0`, equally spaced.
    pub ts: Vec<f64>,
    /// The states at those times.
    pub ys: Vec<[f64; 2]>,
}

/// The exact spiral of `config` (closed form,
/// `y(t) = e^{-a t} R(w t) y0` with `R` the clockwise rotation).
pub fn spiral(config: &SpiralConfig) -> Result<Spiral, MethodError> {
    let c = config;
    if c.points < 2 || c.points > 100_000 {
        return Err(config_error(format!("the spiral needs 2 to 100000 points; got {}", c.points)));
    }
    let finite_start = c.y0.iter().all(|v| v.is_finite());
    if !(c.t_end > 0.0 && c.t_end.is_finite() && c.damping >= 0.0 && c.damping.is_finite() && c.frequency.is_finite() && finite_start) {
        return Err(config_error(format!(
            "the spiral needs a positive end time, a non-negative damping and finite frequency and start; got t_end {}, damping {}, frequency {}, y0 {:?}",
            c.t_end, c.damping, c.frequency, c.y0
        )));
    }
    let ts: Vec<f64> = (0..c.points).map(|i| c.t_end * i as f64 / (c.points - 1) as f64).collect();
    let ys = ts
        .iter()
        .map(|&t| {
            let (s, co) = (c.frequency * t).sin_cos();
            let decay = (-c.damping * t).exp();
            [decay * (co * c.y0[0] + s * c.y0[1]), decay * (-s * c.y0[0] + co * c.y0[1])]
        })
        .collect();
    Ok(Spiral { ts, ys })
}

/// How a solve takes its steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Stepping {
    /// Adaptive steps (needs an adaptive solver) at these tolerances.
    Adaptive {
        /// Relative tolerance.
        rtol: f64,
        /// Absolute tolerance.
        atol: f64,
    },
    /// Constant steps of this size (the last one of each segment shortened).
    Fixed {
        /// Step size (> 0).
        dt: f64,
    },
}

/// The solver and its stepping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SolveConfig {
    /// The Runge-Kutta method.
    pub solver: Solver,
    /// Adaptive or fixed steps.
    pub stepping: Stepping,
}

impl SolveConfig {
    /// Tsit5 with adaptive steps at `rtol = atol = tol`.
    pub fn adaptive(tol: f64) -> Self {
        Self { solver: Solver::Tsit5, stepping: Stepping::Adaptive { rtol: tol, atol: tol } }
    }

    /// RK4 with constant steps of `dt`.
    pub fn fixed(dt: f64) -> Self {
        Self { solver: Solver::Rk4, stepping: Stepping::Fixed { dt } }
    }

    /// The solver options and first step.
    fn options(&self) -> Result<(OdeOptions, Option<f64>), MethodError> {
        match self.stepping {
            Stepping::Adaptive { rtol, atol } => {
                if !self.solver.is_adaptive() {
                    return Err(config_error(format!("{:?} has no error estimate; use Tsit5, Dopri5 or Bosh3 for adaptive steps", self.solver)));
                }
                if !(rtol > 0.0 && atol > 0.0 && rtol.is_finite() && atol.is_finite()) {
                    return Err(config_error(format!("tolerances must be positive; got rtol {rtol}, atol {atol}")));
                }
                Ok((OdeOptions::tolerances(rtol, atol), None))
            }
            Stepping::Fixed { dt } => {
                if !(dt > 0.0 && dt.is_finite()) {
                    return Err(config_error(format!("the fixed step must be positive; got {dt}")));
                }
                Ok((OdeOptions::constant(), Some(dt)))
            }
        }
    }
}

/// A neural ODE `dy/dt = MLP(y)` on `R^2`: one tanh hidden layer, `f64`
/// (the continuous adjoints work in `f64`).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralOde {
    /// The vector field, `[2, width, 2]`.
    pub net: Mlp,
}

/// The vector field on a flat batch of 2-D states (`[2k]`).
fn ode_field(net: &Mlp, y: &Var, params: &[Var]) -> Result<Var, SolveError> {
    let n = y.value().len();
    if n % 2 != 0 {
        return Err(SolveError::BadArgument(format!("the state holds 2-D points, so its length must be even; got {n}")));
    }
    let out = net.apply(params, &y.reshape(&[n / 2, 2])?).map_err(|e| SolveError::VectorField(e.to_string()))?;
    Ok(out.reshape(&[n])?)
}

/// Plain (untracked) evaluation of [`ode_field`].
fn ode_field_plain(net: &Mlp, params: &[Tensor], y: &[f64]) -> Result<Vec<f64>, SolveError> {
    let tape = Tape::new();
    let yv = tape.constant(Tensor::from_f64(&[y.len()], y.to_vec())?);
    let pv: Vec<Var> = params.iter().map(|p| tape.constant(p.clone())).collect();
    Ok(ode_field(net, &yv, &pv)?.value().to_f64_vec()?)
}

impl NeuralOde {
    /// A fresh model with `width` hidden units, initialised from `seed`.
    pub fn new(width: usize, seed: u64) -> Result<Self, MethodError> {
        if width == 0 || width > 4096 {
            return Err(config_error(format!("the hidden width must be in 1..=4096; got {width}")));
        }
        let mut rng = SeedStream::new(seed, "neural-de/ode-init");
        Ok(Self { net: Mlp::new_in(&Cpu, &[2, width, 2], Activation::Tanh, DType::F64, &mut rng)? })
    }

    /// The parameters (`f64`), in the MLP's order.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.net.parameters()
    }

    /// Solves from `y0` at `ts[0]` and returns the states at every time of
    /// `ts` (increasing), restarting the solver at each.
    pub fn rollout(&self, y0: [f64; 2], ts: &[f64], solve: &SolveConfig) -> Result<Vec<[f64; 2]>, MethodError> {
        let (opts, dt0) = solve.options()?;
        let params = self.parameters();
        let mut y = y0.to_vec();
        let mut out = vec![y0];
        for w in ts.windows(2) {
            let sol = solve_ode(|_t, y: &Vec<f64>| ode_field_plain(&self.net, &params, y), solve.solver, w[0], w[1], dt0, &y, &opts)?;
            y = sol.last().cloned().ok_or_else(|| config_error("the solve saved nothing".into()))?;
            out.push([y[0], y[1]]);
        }
        Ok(out)
    }
}

/// How the gradient of a neural-ODE loss is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GradientMethod {
    /// Discretise-then-optimise: backpropagation through the solver's steps.
    Backprop,
    /// Continuous adjoint, `y` recomputed backwards with the adjoint.
    BacksolveAdjoint,
    /// Continuous adjoint, `y` read from the forward solve's dense output.
    InterpolatingAdjoint,
}

/// One gradient of a windowed trajectory loss.
#[derive(Debug, Clone, PartialEq)]
pub struct OdeGradient {
    /// The loss (mean squared error over windows, times and coordinates).
    pub loss: f64,
    /// `dL/dtheta`, shaped like [`NeuralOde::parameters`] (`f64`).
    pub grads: Vec<Tensor>,
    /// The same, flattened.
    pub flat: Vec<f64>,
    /// Largest tape length (recorded operations) seen: the whole solve for
    /// backprop, one vector-field evaluation for the adjoints.
    pub peak_tape: usize,
    /// Vector-field evaluations of the forward solves (for the adjoints,
    /// both the first forward pass and the one each segment repeats).
    pub nfe_forward: usize,
    /// Vector-field evaluations of the backward (adjoint) solves (each is
    /// one value and one vector-Jacobian product).
    pub nfe_backward: usize,
    /// Accepted steps of the forward solve.
    pub steps: usize,
}

/// The windows of a loss: start states (flattened), observation offsets and
/// targets per offset (flattened over windows).
type WindowProblem = (Vec<f64>, Vec<f64>, Vec<Vec<f64>>);

fn windows(spiral: &Spiral, starts: &[usize], window: usize) -> Result<WindowProblem, MethodError> {
    let n = spiral.ts.len();
    if spiral.ys.len() != n || n < 2 {
        return Err(config_error(format!("the spiral needs at least 2 points and one state per time; got {} times and {} states", n, spiral.ys.len())));
    }
    if window < 2 || window > n {
        return Err(config_error(format!("a window spans 2 to {n} observations; got {window}")));
    }
    if starts.is_empty() || starts.iter().any(|&s| s + window > n) {
        return Err(config_error(format!("window starts must be in 0..={} and at least one; got {starts:?}", n - window)));
    }
    let offsets: Vec<f64> = spiral.ts[..window].iter().map(|t| t - spiral.ts[0]).collect();
    let scale = spiral.ts[n - 1].abs().max(1.0);
    for &s in starts {
        for (j, off) in offsets.iter().enumerate() {
            if (spiral.ts[s + j] - spiral.ts[s] - off).abs() > 1e-9 * scale {
                return Err(config_error("windows need equally spaced observation times".into()));
            }
        }
    }
    let y0 = starts.iter().flat_map(|&s| spiral.ys[s]).collect();
    let targets = (0..window).map(|j| starts.iter().flat_map(|&s| spiral.ys[s + j]).collect()).collect();
    Ok((y0, offsets, targets))
}

/// The gradient of the mean squared error between the model's solves and
/// the spiral over the windows `spiral[s .. s + window]`, `s` in `starts`
/// (each solved from its observed first point), by `method`.
pub fn ode_loss_gradient(
    model: &NeuralOde,
    spiral: &Spiral,
    starts: &[usize],
    window: usize,
    method: GradientMethod,
    solve: &SolveConfig,
) -> Result<OdeGradient, MethodError> {
    let (y0, offsets, targets) = windows(spiral, starts, window)?;
    let (opts, dt0) = solve.options()?;
    let opts = opts.with_save_at(SaveAt::Final);
    let params = model.parameters();
    let count = (y0.len() * (window - 1)) as f64;
    let net = &model.net;
    match method {
        GradientMethod::Backprop => {
            let tape = Tape::new();
            let pv: Vec<Var> = params.iter().map(|p| tape.leaf(p.clone())).collect();
            let mut y = tape.constant(f64_vector(&y0)?);
            let (mut nfe, mut steps) = (0, 0);
            let mut total: Option<Var> = None;
            for j in 1..window {
                let sol = solve_ode(|_t, y: &Var| ode_field(net, y, &pv), solve.solver, offsets[j - 1], offsets[j], dt0, &y, &opts)?;
                nfe += sol.stats.nfe;
                steps += sol.stats.accepted;
                y = sol.last().cloned().ok_or_else(|| config_error("the solve saved nothing".into()))?;
                let term = y.sub(&tape.constant(f64_vector(&targets[j])?))?.unary(UnaryOp::Square)?.sum()?;
                total = Some(match total {
                    None => term,
                    Some(acc) => acc.add(&term)?,
                });
            }
            let loss = total.ok_or_else(|| config_error("the window has no observation after its start".into()))?.scale(1.0 / count)?;
            let wrt: Vec<&Var> = pv.iter().collect();
            let grads: Vec<Tensor> = tape.grad(&loss, &wrt, false)?.into_iter().map(|g| g.value().clone()).collect();
            let mut flat = Vec::new();
            for g in &grads {
                flat.extend(g.to_f64_vec()?);
            }
            Ok(OdeGradient { loss: loss.value().item()?, grads, flat, peak_tape: tape.len(), nfe_forward: nfe, nfe_backward: 0, steps })
        }
        GradientMethod::BacksolveAdjoint | GradientMethod::InterpolatingAdjoint => {
            // Forward pass, keeping the state at every observation.
            let (mut nfe_forward, mut nfe_backward, mut steps) = (0, 0, 0);
            let mut ys = vec![y0.clone()];
            for j in 1..window {
                let sol = solve_ode(|_t, y: &Vec<f64>| ode_field_plain(net, &params, y), solve.solver, offsets[j - 1], offsets[j], dt0, &ys[j - 1], &opts)?;
                nfe_forward += sol.stats.nfe;
                steps += sol.stats.accepted;
                ys.push(sol.last().cloned().ok_or_else(|| config_error("the solve saved nothing".into()))?);
            }
            let mut loss = 0.0;
            for j in 1..window {
                loss += ys[j].iter().zip(&targets[j]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
            }
            loss /= count;
            // Backward, segment by segment: the adjoint state picks up each
            // observation's dL/dy as the solve passes it.
            let peak = Cell::new(0usize);
            let field = |_t: f64, y: &Var, p: &[Var]| -> Result<Var, SolveError> {
                let out = ode_field(net, y, p)?;
                peak.set(peak.get().max(y.tape().len()));
                Ok(out)
            };
            let n_params: usize = params.iter().map(Tensor::len).sum();
            let mut flat = vec![0.0; n_params];
            let mut adjoint = vec![0.0; y0.len()];
            for j in (1..window).rev() {
                let cot: Vec<f64> = adjoint.iter().zip(ys[j].iter().zip(&targets[j])).map(|(a, (y, t))| a + 2.0 * (y - t) / count).collect();
                let segment_loss = |y: &Var| -> Result<Var, SolveError> {
                    let c = y.tape().constant(Tensor::from_f64(&[cot.len()], cot.clone())?);
                    Ok(y.mul(&c)?.sum()?)
                };
                let run = if method == GradientMethod::BacksolveAdjoint { backsolve_adjoint } else { interpolating_adjoint };
                let g = run(&field, &params, &segment_loss, solve.solver, offsets[j - 1], offsets[j], dt0, &ys[j - 1], &opts)?;
                nfe_forward += g.forward.nfe;
                nfe_backward += g.backward.as_ref().map_or(0, |b| b.nfe);
                adjoint = g.grad_y0;
                let mut at = 0;
                for gp in &g.grad_params {
                    for v in gp.to_f64_vec()? {
                        flat[at] += v;
                        at += 1;
                    }
                }
            }
            let mut grads = Vec::with_capacity(params.len());
            let mut at = 0;
            for p in &params {
                grads.push(Tensor::from_f64(p.shape(), flat[at..at + p.len()].to_vec())?);
                at += p.len();
            }
            Ok(OdeGradient { loss, grads, flat, peak_tape: peak.get(), nfe_forward, nfe_backward, steps })
        }
    }
}

/// Settings of [`compare_ode_gradients`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GradientCheckConfig {
    /// The adjoint compared with backprop. Default interpolating.
    pub adjoint: GradientMethod,
    /// The solver of both. Default Tsit5 at `rtol = atol = 1e-9`.
    pub solve: SolveConfig,
    /// Observations per window; the loss uses one window from the start.
    /// Default 40 (the whole default spiral).
    pub window: usize,
}

impl Default for GradientCheckConfig {
    fn default() -> Self {
        Self { adjoint: GradientMethod::InterpolatingAdjoint, solve: SolveConfig::adaptive(1e-9), window: 40 }
    }
}

/// One gradient computed by backprop and by an adjoint, side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientComparison {
    /// Discretise-then-optimise.
    pub backprop: OdeGradient,
    /// The continuous adjoint.
    pub adjoint: OdeGradient,
    /// `|g_adjoint - g_backprop| / |g_backprop|`.
    pub relative_difference: f64,
    /// Cosine between the two gradients.
    pub cosine: f64,
}

/// The gradient of the trajectory loss over the first `config.window`
/// observations, by backprop and by `config.adjoint`, at the same
/// parameters.
pub fn compare_ode_gradients(model: &NeuralOde, spiral: &Spiral, config: &GradientCheckConfig) -> Result<GradientComparison, MethodError> {
    if config.adjoint == GradientMethod::Backprop {
        return Err(config_error("compare backprop with BacksolveAdjoint or InterpolatingAdjoint".into()));
    }
    let backprop = ode_loss_gradient(model, spiral, &[0], config.window, GradientMethod::Backprop, &config.solve)?;
    let adjoint = ode_loss_gradient(model, spiral, &[0], config.window, config.adjoint, &config.solve)?;
    Ok(GradientComparison {
        relative_difference: relative_difference(&adjoint.flat, &backprop.flat),
        cosine: cosine(&adjoint.flat, &backprop.flat),
        backprop,
        adjoint,
    })
}

/// Settings of [`train_neural_ode`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OdeTrainConfig {
    /// Adam steps. Default 300.
    pub steps: usize,
    /// Peak learning rate (cosine-decayed to 10%). Default 0.02.
    pub lr: f64,
    /// Windows per step. Default 16.
    pub batch: usize,
    /// Observations per window. Default 10.
    pub window: usize,
    /// How gradients are computed. Default backprop.
    pub method: GradientMethod,
    /// Solver for training and the fit error. Default RK4, `dt = 0.05`.
    pub solve: SolveConfig,
    /// The fit error is measured every this many steps (and at the end).
    /// Default 25.
    pub eval_every: usize,
    /// Seed of the window draws.
    pub seed: u64,
}

impl Default for OdeTrainConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            lr: 0.02,
            batch: 16,
            window: 10,
            method: GradientMethod::Backprop,
            solve: SolveConfig::fixed(0.05),
            eval_every: 25,
            seed: 0,
        }
    }
}

/// What [`train_neural_ode`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct OdeTrainReport {
    /// The loss of every step.
    pub losses: Vec<f64>,
    /// `(step, fit error)`: root-mean-square distance between the model's
    /// solve of the whole trajectory from `y0` and the observations.
    pub fit_errors: Vec<(usize, f64)>,
    /// Fit error before training.
    pub initial_fit_error: f64,
    /// Fit error after training.
    pub final_fit_error: f64,
    /// The fitted trajectory at the observation times.
    pub fitted: Vec<[f64; 2]>,
    /// Largest tape length over the run.
    pub peak_tape: usize,
    /// Mean vector-field evaluations per step (forward plus backward).
    pub nfe_per_step: f64,
}

/// Root-mean-square distance between the model's solve from the first
/// observation and all observations, and the solve itself.
pub fn ode_fit_error(model: &NeuralOde, spiral: &Spiral, solve: &SolveConfig) -> Result<(f64, Vec<[f64; 2]>), MethodError> {
    let y0 = *spiral.ys.first().ok_or_else(|| config_error("the spiral is empty".into()))?;
    let fitted = model.rollout(y0, &spiral.ts, solve)?;
    let sq: f64 = fitted.iter().zip(&spiral.ys).map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sum();
    Ok(((sq / fitted.len() as f64).sqrt(), fitted))
}

/// Fits `model` to `spiral` with Adam on random windows (see the module
/// docs).
pub fn train_neural_ode(model: &mut NeuralOde, spiral: &Spiral, config: &OdeTrainConfig, monitor: &mut Monitor<'_>) -> Result<OdeTrainReport, MethodError> {
    let c = config;
    if c.steps == 0 || c.batch == 0 || c.batch > 4096 || !(c.lr > 0.0 && c.lr.is_finite()) || c.eval_every == 0 {
        return Err(config_error(format!(
            "training needs steps >= 1, batch in 1..=4096, a positive learning rate and eval_every >= 1; got steps {}, batch {}, lr {}, eval_every {}",
            c.steps, c.batch, c.lr, c.eval_every
        )));
    }
    let n = spiral.ts.len();
    if c.window < 2 || c.window > n {
        return Err(config_error(format!("a window spans 2 to {n} observations; got {}", c.window)));
    }
    let (initial, _) = ode_fit_error(model, spiral, &c.solve)?;
    let mut fit_errors = vec![(0, initial)];
    let mut rng = SeedStream::new(c.seed, "neural-de/ode-windows");
    let mut opt = Adam::new(AdamConfig { lr: c.lr, ..AdamConfig::default() });
    let mut params = model.parameters();
    let (mut losses, mut peak_tape, mut nfe) = (Vec::with_capacity(c.steps), 0, 0usize);
    for step in 0..c.steps {
        let starts: Vec<usize> = (0..c.batch).map(|_| rng.below(n - c.window + 1)).collect();
        let g = ode_loss_gradient(model, spiral, &starts, c.window, c.method, &c.solve)?;
        if !g.loss.is_finite() {
            return Err(MethodError::Diverged { step, loss: g.loss as f32 });
        }
        peak_tape = peak_tape.max(g.peak_tape);
        nfe += g.nfe_forward + g.nfe_backward;
        losses.push(g.loss);
        opt.set_lr(cosine_lr(c.lr, step, c.steps));
        opt.step(&mut params, &g.grads)?;
        model.net.set_parameters(&params)?;
        if (step + 1) % c.eval_every == 0 && step + 1 < c.steps {
            fit_errors.push((step + 1, ode_fit_error(model, spiral, &c.solve)?.0));
        }
        if !monitor(step, c.steps, g.loss as f32) {
            return Err(MethodError::Stopped { step: step + 1, total: c.steps });
        }
    }
    let (final_fit_error, fitted) = ode_fit_error(model, spiral, &c.solve)?;
    fit_errors.push((c.steps, final_fit_error));
    Ok(OdeTrainReport {
        losses,
        fit_errors,
        initial_fit_error: initial,
        final_fit_error,
        fitted,
        peak_tape,
        nfe_per_step: nfe as f64 / c.steps as f64,
    })
}

// ---------------------------------------------------------------------------
// (b) Neural CDE on irregularly sampled spirals
// ---------------------------------------------------------------------------

/// Channels of the control path: time, x, y.
const CDE_CHANNELS: usize = 3;

/// One irregularly sampled spiral and its control path.
#[derive(Debug, Clone, PartialEq)]
pub struct CdeSeries {
    /// The kept observation times (increasing, in `[0, 1]`).
    pub times: Vec<f64>,
    /// The kept observations.
    pub points: Vec<[f64; 2]>,
    /// The class: `true` for counter-clockwise.
    pub counter_clockwise: bool,
    /// The natural cubic spline through `(t, x, y)` at the kept times.
    pub path: NaturalCubicSpline,
}

/// Draws `count` spirals, half of each direction in random order: radius
/// `r0 e^{-b t}` with `r0 ~ U(0.6, 1.4)`, `b ~ U(0.2, 1)`, phase uniform,
/// `0.75` to `1.25` turns over `t ∈ [0, 1]`, observed at `points` equally
/// spaced times with Gaussian noise of standard deviation `noise`; a random
/// `drop` fraction of each series' observations is removed (at least two
/// kept).
pub fn cde_spirals(count: usize, points: usize, drop: f64, noise: f64, rng: &mut SeedStream) -> Result<Vec<CdeSeries>, MethodError> {
    if count == 0 || points < 4 || !(0.0..1.0).contains(&drop) || !(noise >= 0.0 && noise.is_finite()) {
        return Err(config_error(format!(
            "spirals need count >= 1, points >= 4, drop in [0, 1) and a non-negative noise; got count {count}, points {points}, drop {drop}, noise {noise}"
        )));
    }
    let keep = ((points as f64 * (1.0 - drop)).round() as usize).clamp(2, points);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let ccw = i % 2 == 0;
        let r0 = 0.6 + 0.8 * rng.uniform_f64();
        let b = 0.2 + 0.8 * rng.uniform_f64();
        let phase = std::f64::consts::TAU * rng.uniform_f64();
        let omega = std::f64::consts::TAU * (0.75 + 0.5 * rng.uniform_f64()) * if ccw { 1.0 } else { -1.0 };
        let mut idx = rng.permutation(points);
        idx.truncate(keep);
        idx.sort_unstable();
        let mut times = Vec::with_capacity(keep);
        let mut pts = Vec::with_capacity(keep);
        let mut values = Vec::with_capacity(keep * CDE_CHANNELS);
        for &k in &idx {
            let t = k as f64 / (points - 1) as f64;
            let r = r0 * (-b * t).exp();
            let (s, c) = (omega * t + phase).sin_cos();
            let p = [r * c + noise * rng.normal_f64(), r * s + noise * rng.normal_f64()];
            times.push(t);
            pts.push(p);
            values.extend([t, p[0], p[1]]);
        }
        let path = NaturalCubicSpline::new(&times, &values, CDE_CHANNELS)?;
        out.push(CdeSeries { times, points: pts, counter_clockwise: ccw, path });
    }
    // Shuffle so batches mix the classes.
    rng.shuffle(&mut out);
    Ok(out)
}

/// A neural CDE classifier: `z(0) = linear(X(0))`,
/// `dz/dt = tanh(MLP(z)) dX/dt` (the MLP's output read as `hidden ×
/// channels`), logit `linear(z(1))`; `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralCde {
    init: Linear,
    field: Mlp,
    readout: Linear,
    hidden: usize,
}

impl NeuralCde {
    /// A fresh model with `hidden` channels and an MLP of `width` units.
    pub fn new(hidden: usize, width: usize, seed: u64) -> Result<Self, MethodError> {
        if hidden == 0 || hidden > 512 || width == 0 || width > 4096 {
            return Err(config_error(format!("hidden must be in 1..=512 and width in 1..=4096; got {hidden} and {width}")));
        }
        let mut rng = SeedStream::new(seed, "neural-de/cde-init");
        Ok(Self {
            init: Linear::new(&Cpu, CDE_CHANNELS, hidden, DType::F32, &mut rng)?,
            field: Mlp::new_in(&Cpu, &[hidden, width, hidden * CDE_CHANNELS], Activation::Tanh, DType::F32, &mut rng)?,
            readout: Linear::new(&Cpu, hidden, 1, DType::F32, &mut rng)?,
            hidden,
        })
    }

    /// All parameters: the initial map, the vector field, the readout.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut p = self.init.parameters();
        p.extend(self.field.parameters());
        p.extend(self.readout.parameters());
        p
    }

    fn set_parameters(&mut self, params: &[Tensor]) -> Result<(), MethodError> {
        let f = self.field.parameters().len();
        if params.len() != f + 4 {
            return Err(config_error(format!("the CDE takes {} parameter tensors, got {}", f + 4, params.len())));
        }
        self.init.set_parameters(&params[..2])?;
        self.field.set_parameters(&params[2..2 + f])?;
        self.readout.set_parameters(&params[2 + f..])?;
        Ok(())
    }

    /// Logits `[series, 1]` on `tape` with parameters `params`, and the
    /// number of vector-field evaluations.
    fn logits_var(&self, tape: &Rc<Tape>, params: &[Var], series: &[CdeSeries], solver_steps: usize) -> Result<(Var, usize), MethodError> {
        let b = series.len();
        let (h, c) = (self.hidden, CDE_CHANNELS);
        let f = params.len() - 4;
        let x0: Vec<f64> = series.iter().flat_map(|s| s.path.value(0.0)).collect();
        let x0 = tape.constant(Tensor::from_f64_in(&Cpu, &[b, c], &x0, DType::F32)?);
        let z0 = self.init.apply(&params[..2], &x0)?;
        let field_params = &params[2..2 + f];
        let mut dx = vec![0.0; b * c];
        let field = |t: f64, z: &Var| -> Result<Var, SolveError> {
            let m = self.field.apply(field_params, z).map_err(|e| SolveError::VectorField(e.to_string()))?;
            let m = m.unary(UnaryOp::Tanh)?.reshape(&[b, h, c])?;
            for (s, out) in series.iter().zip(dx.chunks_mut(c)) {
                s.path.derivative_into(t, out).map_err(|e| SolveError::VectorField(e.to_string()))?;
            }
            let dxv = tape.constant(Tensor::from_f64_in(&Cpu, &[b, 1, c], &dx, DType::F32)?);
            Ok(m.mul(&dxv)?.sum_keep(&[2])?.reshape(&[b, h])?)
        };
        let dt = 1.0 / solver_steps as f64;
        let sol = solve_ode(field, Solver::Rk4, 0.0, 1.0, Some(dt), &z0, &OdeOptions::constant())?;
        let z1 = sol.last().ok_or_else(|| config_error("the CDE solve saved nothing".into()))?;
        Ok((self.readout.apply(&params[2 + f..], z1)?, sol.stats.nfe))
    }

    /// The logit of each series (positive: counter-clockwise).
    pub fn logits(&self, series: &[CdeSeries], solver_steps: usize) -> Result<Vec<f64>, MethodError> {
        if series.is_empty() || solver_steps == 0 {
            return Err(config_error("logits need at least one series and one solver step".into()));
        }
        let tape = Tape::new();
        let params: Vec<Var> = self.parameters().into_iter().map(|p| tape.constant(p)).collect();
        Ok(self.logits_var(&tape, &params, series, solver_steps)?.0.value().to_f64_vec()?)
    }

    /// The fraction of `series` classified correctly.
    pub fn accuracy(&self, series: &[CdeSeries], solver_steps: usize) -> Result<f64, MethodError> {
        let logits = self.logits(series, solver_steps)?;
        let right = logits.iter().zip(series).filter(|(l, s)| (**l > 0.0) == s.counter_clockwise).count();
        Ok(right as f64 / series.len() as f64)
    }
}

/// Settings of [`train_neural_cde`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CdeConfig {
    /// Training series (one full batch per step). Default 128.
    pub train_series: usize,
    /// Held-out series for the accuracy. Default 256.
    pub test_series: usize,
    /// Observation times per series before dropping. Default 40.
    pub points: usize,
    /// Fraction of observations dropped per series. Default 0.3.
    pub drop: f64,
    /// Observation noise. Default 0.05.
    pub noise: f64,
    /// Hidden channels of `z`. Default 8.
    pub hidden: usize,
    /// Width of the vector field's MLP. Default 32.
    pub width: usize,
    /// RK4 steps over `[0, 1]`. Default 10.
    pub solver_steps: usize,
    /// Adam steps. Default 150.
    pub steps: usize,
    /// Peak learning rate (cosine-decayed to 10%). Default 0.02.
    pub lr: f64,
    /// Seed of data and initialisation.
    pub seed: u64,
}

impl Default for CdeConfig {
    fn default() -> Self {
        Self {
            train_series: 128,
            test_series: 256,
            points: 40,
            drop: 0.3,
            noise: 0.05,
            hidden: 8,
            width: 32,
            solver_steps: 10,
            steps: 150,
            lr: 0.02,
            seed: 0,
        }
    }
}

/// What [`train_neural_cde`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CdeReport {
    /// Binary cross-entropy of every step.
    pub losses: Vec<f32>,
    /// `(step, test accuracy)` at the start and the end.
    pub accuracy_curve: Vec<(usize, f64)>,
    /// Accuracy on the training series.
    pub train_accuracy: f64,
    /// Accuracy on the held-out series.
    pub test_accuracy: f64,
    /// Observations kept per series (of [`CdeConfig::points`]).
    pub kept_points: usize,
    /// Vector-field evaluations per solve.
    pub nfe_per_solve: usize,
    /// Peak tape length of a training step.
    pub peak_tape: usize,
}

/// Draws the data, trains a [`NeuralCde`] by Adam on the full training
/// batch and measures its accuracy on held-out series.
pub fn train_neural_cde(config: &CdeConfig, monitor: &mut Monitor<'_>) -> Result<(NeuralCde, CdeReport), MethodError> {
    let c = config;
    if c.train_series == 0 || c.test_series == 0 || c.steps == 0 || c.solver_steps == 0 || c.solver_steps > 1000 || !(c.lr > 0.0 && c.lr.is_finite()) {
        return Err(config_error(format!(
            "the CDE needs training and test series, steps >= 1, 1..=1000 solver steps and a positive learning rate; got {} / {} series, {} steps, {} solver steps, lr {}",
            c.train_series, c.test_series, c.steps, c.solver_steps, c.lr
        )));
    }
    let mut rng = SeedStream::new(c.seed, "neural-de/cde-data");
    let train = cde_spirals(c.train_series, c.points, c.drop, c.noise, &mut rng)?;
    let test = cde_spirals(c.test_series, c.points, c.drop, c.noise, &mut rng)?;
    let mut model = NeuralCde::new(c.hidden, c.width, c.seed)?;
    let labels: Vec<f64> = train.iter().map(|s| if s.counter_clockwise { 1.0 } else { 0.0 }).collect();
    let labels = Tensor::from_f64_in(&Cpu, &[train.len(), 1], &labels, DType::F32)?;
    let mut accuracy_curve = vec![(0, model.accuracy(&test, c.solver_steps)?)];
    let mut opt = Adam::new(AdamConfig { lr: c.lr, ..AdamConfig::default() });
    let mut params = model.parameters();
    let (mut losses, mut peak_tape, mut nfe_per_solve) = (Vec::with_capacity(c.steps), 0, 0);
    for step in 0..c.steps {
        let tape = Tape::new();
        let leaves: Vec<Var> = params.iter().map(|p| tape.leaf(p.clone())).collect();
        let (logits, nfe) = model.logits_var(&tape, &leaves, &train, c.solver_steps)?;
        nfe_per_solve = nfe;
        // Binary cross-entropy with logits: softplus(l) - y l.
        let y = tape.constant(labels.clone());
        let loss = logits.unary(UnaryOp::Softplus)?.sub(&logits.mul(&y)?)?.mean()?;
        let value = loss.value().item()? as f32;
        if !value.is_finite() {
            return Err(MethodError::Diverged { step, loss: value });
        }
        let wrt: Vec<&Var> = leaves.iter().collect();
        let grads: Vec<Tensor> = tape.grad(&loss, &wrt, false)?.into_iter().map(|g| g.value().clone()).collect();
        peak_tape = peak_tape.max(tape.len());
        opt.set_lr(cosine_lr(c.lr, step, c.steps));
        opt.step(&mut params, &grads)?;
        model.set_parameters(&params)?;
        losses.push(value);
        if !monitor(step, c.steps, value) {
            return Err(MethodError::Stopped { step: step + 1, total: c.steps });
        }
    }
    let test_accuracy = model.accuracy(&test, c.solver_steps)?;
    accuracy_curve.push((c.steps, test_accuracy));
    let report = CdeReport {
        losses,
        accuracy_curve,
        train_accuracy: model.accuracy(&train, c.solver_steps)?,
        test_accuracy,
        kept_points: train.first().map_or(0, |s| s.times.len()),
        nfe_per_solve,
        peak_tape,
    };
    Ok((model, report))
}

// ---------------------------------------------------------------------------
// (c) Neural SDE: reversible Heun and the Brownian interval
// ---------------------------------------------------------------------------

/// A small MLP evaluated on plain `f64` slices (tanh between layers).
struct PlainMlp {
    /// `(weights [in, out] row-major, bias, in, out)` per layer.
    layers: Vec<(Vec<f64>, Vec<f64>, usize, usize)>,
}

impl PlainMlp {
    fn random(sizes: &[usize], rng: &mut SeedStream) -> Result<Self, MethodError> {
        let net = Mlp::new_in(&Cpu, sizes, Activation::Tanh, DType::F64, rng)?;
        let params = net.parameters();
        let mut layers = Vec::new();
        for (pair, w) in params.chunks(2).zip(sizes.windows(2)) {
            layers.push((pair[0].to_f64_vec()?, pair[1].to_f64_vec()?, w[0], w[1]));
        }
        Ok(Self { layers })
    }

    fn eval(&self, x: &[f64]) -> Vec<f64> {
        let mut h = x.to_vec();
        let last = self.layers.len().saturating_sub(1);
        for (l, (w, b, n_in, n_out)) in self.layers.iter().enumerate() {
            let mut out = b.clone();
            for i in 0..*n_in {
                let xi = h.get(i).copied().unwrap_or(0.0);
                for (o, wij) in out.iter_mut().zip(&w[i * n_out..(i + 1) * n_out]) {
                    *o += xi * wij;
                }
            }
            if l < last {
                out.iter_mut().for_each(|v| *v = v.tanh());
            }
            h = out;
        }
        h
    }
}

/// Settings of [`reversible_heun_roundtrip`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SdeDemoConfig {
    /// State dimension `d`. Default 2.
    pub dim: usize,
    /// Brownian dimension `m`. Default 2.
    pub noise_dim: usize,
    /// Hidden width of the drift and diffusion MLPs. Default 16.
    pub width: usize,
    /// End time. Default 1.
    pub t_end: f64,
    /// Steps. Default 1000.
    pub steps: usize,
    /// The diffusion is `scale * tanh(MLP(y, t))`. Default 0.5.
    pub diffusion_scale: f64,
    /// Seed of the networks, the start and the Brownian path.
    pub seed: u64,
}

impl Default for SdeDemoConfig {
    fn default() -> Self {
        Self { dim: 2, noise_dim: 2, width: 16, t_end: 1.0, steps: 1000, diffusion_scale: 0.5, seed: 0 }
    }
}

/// A forward reversible-Heun solve and its reverse reconstruction.
#[derive(Debug, Clone, PartialEq)]
pub struct ReversibilityReport {
    /// Times of the forward trajectory.
    pub ts: Vec<f64>,
    /// The forward trajectory (one state per time).
    pub path: Vec<Vec<f64>>,
    /// The initial state.
    pub y0: Vec<f64>,
    /// The final state.
    pub y1: Vec<f64>,
    /// The initial state recovered by the reverse pass.
    pub y0_reconstructed: Vec<f64>,
    /// `max_i |y0_rec_i - y0_i|`.
    pub abs_error: f64,
    /// `abs_error / max_i |y0_i|`.
    pub rel_error: f64,
    /// Counts of the forward solve.
    pub forward: SdeStats,
    /// Counts of the reverse pass.
    pub reverse: SdeStats,
    /// Drift evaluations per step of the forward solve (1 plus the initial
    /// evaluation spread over the steps).
    pub drift_evals_per_step: f64,
    /// Diffusion evaluations per step of the forward solve.
    pub diffusion_evals_per_step: f64,
}

/// Integrates `dy = f(y, t) dt + g(y, t) ∘ dW` with random neural `f`
/// (`MLP(y, t)`) and `g` (`scale * tanh(MLP(y, t))`, `d × m`) by reversible
/// Heun on a [`BrownianInterval`], then reverses the solve from its final
/// solver state and compares the recovered start with the true one.
pub fn reversible_heun_roundtrip(config: &SdeDemoConfig) -> Result<ReversibilityReport, MethodError> {
    let c = config;
    if c.dim == 0 || c.noise_dim == 0 || c.width == 0 || c.steps == 0 || c.steps > 10_000_000 || !(c.t_end > 0.0 && c.t_end.is_finite()) || !c.diffusion_scale.is_finite() {
        return Err(config_error(format!(
            "the SDE demo needs positive dimensions, width and steps (at most 1e7), a positive end time and a finite diffusion scale; got {c:?}"
        )));
    }
    let (d, m) = (c.dim, c.noise_dim);
    let mut rng = SeedStream::new(c.seed, "neural-de/sde");
    let drift_net = PlainMlp::random(&[d + 1, c.width, d], &mut rng)?;
    let diffusion_net = PlainMlp::random(&[d + 1, c.width, d * m], &mut rng)?;
    let y0: Vec<f64> = (0..d).map(|_| rng.normal_f64()).collect();
    let mut brownian = BrownianInterval::new(0.0, c.t_end, m, rng.next_u64())?;
    let with_time = |t: f64, y: &[f64]| {
        let mut x = y.to_vec();
        x.push(t);
        x
    };
    let drift = |t: f64, y: &[f64]| drift_net.eval(&with_time(t, y));
    let diffusion = |t: f64, y: &[f64]| diffusion_net.eval(&with_time(t, y)).into_iter().map(|v| c.diffusion_scale * v.tanh()).collect::<Vec<f64>>();
    let dt = c.t_end / c.steps as f64;
    let sol = solve_sde(drift, diffusion, SdeSolver::ReversibleHeun, 0.0, c.t_end, dt, &y0, &mut brownian, &SdeOptions::default())?;
    let end = sol.reversible_state.as_ref().ok_or_else(|| config_error("reversible Heun returned no solver state".into()))?;
    let back = reverse_reversible_heun(drift, diffusion, &sol.grid, end, &mut brownian)?;
    let abs_error = back.state.y.iter().zip(&y0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let scale = y0.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let steps = sol.stats.steps.max(1) as f64;
    Ok(ReversibilityReport {
        y1: sol.final_state().to_vec(),
        ts: sol.ts.clone(),
        path: sol.ys.clone(),
        y0_reconstructed: back.state.y.clone(),
        abs_error,
        rel_error: if scale > 0.0 { abs_error / scale } else { abs_error },
        forward: sol.stats,
        reverse: back.stats,
        drift_evals_per_step: sol.stats.drift_evals as f64 / steps,
        diffusion_evals_per_step: sol.stats.diffusion_evals as f64 / steps,
        y0,
    })
}

/// One Brownian interval queried in three orders.
#[derive(Debug, Clone, PartialEq)]
pub struct BrownianOrderReport {
    /// The query times (increasing).
    pub times: Vec<f64>,
    /// `W(t)` at each time, from the forward-order queries.
    pub values: Vec<Vec<f64>>,
    /// The reverse-order queries gave the same bits.
    pub reverse_identical: bool,
    /// The random-order queries gave the same bits.
    pub random_identical: bool,
    /// Increments read walking backwards equal the differences of values.
    pub increments_identical: bool,
    /// Largest absolute difference between any two orders (0 when all
    /// identical).
    pub max_difference: f64,
}

/// Queries `W` on `[0, t_end]` (dimension `dim`, seed `seed`) at `queries`
/// random times in forward, reverse and random order, each on a fresh
/// interval, and compares the values bit for bit.
pub fn brownian_query_orders(queries: usize, dim: usize, t_end: f64, seed: u64) -> Result<BrownianOrderReport, MethodError> {
    if queries == 0 || queries > 1_000_000 || dim == 0 || !(t_end > 0.0 && t_end.is_finite()) {
        return Err(config_error(format!("need 1..=1e6 queries, dim >= 1 and a positive end time; got {queries}, {dim}, {t_end}")));
    }
    let mut rng = SeedStream::new(seed, "neural-de/brownian-orders");
    let mut times: Vec<f64> = (0..queries).map(|_| t_end * rng.uniform_f64()).collect();
    times.sort_by(f64::total_cmp);
    let run = |order: &[usize]| -> Result<Vec<Vec<f64>>, MethodError> {
        let mut w = BrownianInterval::new(0.0, t_end, dim, seed)?;
        let mut out = vec![Vec::new(); times.len()];
        for &i in order {
            out[i] = w.value(times[i])?;
        }
        Ok(out)
    };
    let forward_order: Vec<usize> = (0..queries).collect();
    let reverse_order: Vec<usize> = (0..queries).rev().collect();
    let random_order = rng.permutation(queries);
    let values = run(&forward_order)?;
    let reverse = run(&reverse_order)?;
    let random = run(&random_order)?;
    let same = |a: &[Vec<f64>], b: &[Vec<f64>]| a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| x.to_bits() == y.to_bits());
    let diff = |a: &[Vec<f64>], b: &[Vec<f64>]| a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    // Increments walking backwards on a fresh interval.
    let mut w = BrownianInterval::new(0.0, t_end, dim, seed)?;
    let mut increments_identical = true;
    for k in (1..queries).rev() {
        let inc = w.increment(times[k - 1], times[k])?;
        for ((i, a), b) in inc.iter().zip(&values[k]).zip(&values[k - 1]) {
            increments_identical &= i.to_bits() == (a - b).to_bits();
        }
    }
    Ok(BrownianOrderReport {
        reverse_identical: same(&values, &reverse),
        random_identical: same(&values, &random),
        increments_identical,
        max_difference: diff(&values, &reverse).max(diff(&values, &random)),
        times,
        values,
    })
}

/// Settings of [`brownian_bridge_variance`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BridgeConfig {
    /// The path's interval is `[0, t_end]`. Default 2.
    pub t_end: f64,
    /// Left end of the bridge. Default 0.3.
    pub a: f64,
    /// Right end of the bridge. Default 1.7.
    pub b: f64,
    /// Number of interior times `s`, equally spaced in `(a, b)`. Default 7.
    pub points: usize,
    /// Independent paths (seeds). Default 4000.
    pub samples: usize,
    /// Seed of the seeds.
    pub seed: u64,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self { t_end: 2.0, a: 0.3, b: 1.7, points: 7, samples: 4000, seed: 0 }
    }
}

/// The measured and exact variance of the Brownian bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeReport {
    /// The interior times.
    pub s: Vec<f64>,
    /// Mean of `r(s)^2` over the samples, with
    /// `r(s) = W(s) - W(a) - (s-a)/(b-a) (W(b) - W(a))`.
    pub empirical: Vec<f64>,
    /// `(s-a)(b-s)/(b-a)`.
    pub theoretical: Vec<f64>,
    /// Standard error of each empirical variance.
    pub standard_error: Vec<f64>,
    /// Mean of `r(s)` (zero in expectation).
    pub mean: Vec<f64>,
    /// Largest `|empirical - theoretical| / standard_error`.
    pub max_z: f64,
    /// Paths used.
    pub samples: usize,
}

/// Estimates the variance of `W(s)` given `W(a)` and `W(b)` from
/// `config.samples` independent Brownian intervals (queried in the order
/// `s` descending, then `b`, then `a`, which must not matter).
pub fn brownian_bridge_variance(config: &BridgeConfig) -> Result<BridgeReport, MethodError> {
    let c = config;
    if !(c.t_end > 0.0 && c.t_end.is_finite() && 0.0 <= c.a && c.a < c.b && c.b <= c.t_end) || c.points == 0 || c.samples < 2 || c.samples > 10_000_000 {
        return Err(config_error(format!("the bridge needs 0 <= a < b <= t_end, points >= 1 and 2..=1e7 samples; got {c:?}")));
    }
    let s: Vec<f64> = (1..=c.points).map(|k| c.a + (c.b - c.a) * k as f64 / (c.points + 1) as f64).collect();
    let mut seeds = SeedStream::new(c.seed, "neural-de/bridge");
    let (mut sum, mut sum2, mut sum4) = (vec![0.0; c.points], vec![0.0; c.points], vec![0.0; c.points]);
    for _ in 0..c.samples {
        let mut w = BrownianInterval::new(0.0, c.t_end, 1, seeds.next_u64())?;
        let ws: Vec<f64> = s.iter().rev().map(|&t| w.value(t).map(|v| v[0])).collect::<Result<Vec<_>, _>>()?;
        let wb = w.value(c.b)?[0];
        let wa = w.value(c.a)?[0];
        for (k, (&t, &v)) in s.iter().zip(ws.iter().rev()).enumerate() {
            let r = v - wa - (t - c.a) / (c.b - c.a) * (wb - wa);
            sum[k] += r;
            sum2[k] += r * r;
            sum4[k] += r * r * r * r;
        }
    }
    let n = c.samples as f64;
    let empirical: Vec<f64> = sum2.iter().map(|v| v / n).collect();
    let theoretical: Vec<f64> = s.iter().map(|t| (t - c.a) * (c.b - t) / (c.b - c.a)).collect();
    let standard_error: Vec<f64> = sum4.iter().zip(&empirical).map(|(q, e)| ((q / n - e * e) / (n - 1.0)).max(0.0).sqrt()).collect();
    let max_z = empirical.iter().zip(&theoretical).zip(&standard_error).map(|((e, t), se)| if *se > 0.0 { (e - t).abs() / se } else { f64::INFINITY }).fold(0.0, f64::max);
    Ok(BridgeReport { s, empirical, theoretical, standard_error, mean: sum.iter().map(|v| v / n).collect(), max_z, samples: c.samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep_going(_: usize, _: usize, _: f32) -> bool {
        true
    }

    #[test]
    fn adjoint_gradients_agree_with_backprop_at_tight_tolerances() {
        let data = spiral(&SpiralConfig::default()).expect("spiral");
        let model = NeuralOde::new(16, 1).expect("model");
        for adjoint in [GradientMethod::InterpolatingAdjoint, GradientMethod::BacksolveAdjoint] {
            let cmp = compare_ode_gradients(&model, &data, &GradientCheckConfig { adjoint, ..GradientCheckConfig::default() }).expect("gradients");
            eprintln!(
                "{adjoint:?}: rel diff {:.3e}, cosine {:.12}, loss {} vs {}, tape {} vs {}, nfe {}+{} vs {}",
                cmp.relative_difference, cmp.cosine, cmp.backprop.loss, cmp.adjoint.loss, cmp.backprop.peak_tape, cmp.adjoint.peak_tape,
                cmp.adjoint.nfe_forward, cmp.adjoint.nfe_backward, cmp.backprop.nfe_forward
            );
            assert!(cmp.relative_difference < 1e-6, "{adjoint:?}: {:e}", cmp.relative_difference);
            assert!(cmp.cosine > 1.0 - 1e-10);
            assert!((cmp.backprop.loss - cmp.adjoint.loss).abs() <= 1e-9 * cmp.backprop.loss);
        }
    }

    #[test]
    fn adjoint_memory_is_flat_in_the_number_of_steps_and_backprop_grows() {
        let data = spiral(&SpiralConfig::default()).expect("spiral");
        let model = NeuralOde::new(16, 2).expect("model");
        let mut tapes = Vec::new();
        for dt in [0.1, 0.025] {
            let config = GradientCheckConfig { adjoint: GradientMethod::BacksolveAdjoint, solve: SolveConfig::fixed(dt), window: 40 };
            let cmp = compare_ode_gradients(&model, &data, &config).expect("gradients");
            eprintln!("dt {dt}: steps {}, tape backprop {}, adjoint {}, rel diff {:.3e}", cmp.backprop.steps, cmp.backprop.peak_tape, cmp.adjoint.peak_tape, cmp.relative_difference);
            tapes.push((cmp.backprop.peak_tape, cmp.adjoint.peak_tape, cmp.backprop.steps));
        }
        let ((bp1, adj1, s1), (bp2, adj2, s2)) = (tapes[0], tapes[1]);
        assert!(s2 >= 3 * s1, "steps {s1} -> {s2}");
        assert!(bp2 as f64 > 3.0 * bp1 as f64, "backprop tape {bp1} -> {bp2}");
        assert_eq!(adj1, adj2, "the adjoint's tape must not depend on the steps");
        assert!(adj1 * 100 < bp1, "adjoint {adj1} vs backprop {bp1}");
    }

    #[test]
    fn training_fits_the_spiral() {
        let data = spiral(&SpiralConfig::default()).expect("spiral");
        let mut model = NeuralOde::new(32, 0).expect("model");
        let report = train_neural_ode(&mut model, &data, &OdeTrainConfig::default(), &mut keep_going).expect("training");
        eprintln!("fit error {:.4} -> {:.4}; curve {:?}", report.initial_fit_error, report.final_fit_error, report.fit_errors);
        assert!(report.final_fit_error < report.initial_fit_error / 10.0);
        assert!(report.final_fit_error < 0.1, "{}", report.final_fit_error);
    }

    #[test]
    fn adjoint_training_also_fits() {
        let data = spiral(&SpiralConfig::default()).expect("spiral");
        let mut model = NeuralOde::new(32, 0).expect("model");
        let config = OdeTrainConfig { steps: 100, method: GradientMethod::InterpolatingAdjoint, solve: SolveConfig::adaptive(1e-5), ..OdeTrainConfig::default() };
        let report = train_neural_ode(&mut model, &data, &config, &mut keep_going).expect("training");
        eprintln!("adjoint training: fit error {:.4} -> {:.4}, tape {}", report.initial_fit_error, report.final_fit_error, report.peak_tape);
        assert!(report.final_fit_error < report.initial_fit_error / 3.0);
    }

    #[test]
    fn neural_cde_classifies_irregular_spirals_with_30_percent_dropped() {
        for seed in 0..3 {
            let config = CdeConfig { seed, ..CdeConfig::default() };
            let (_, report) = train_neural_cde(&config, &mut keep_going).expect("training");
            eprintln!(
                "seed {seed}: test {:.3}, train {:.3}, kept {} of {}, loss {:.4} -> {:.4}, tape {}",
                report.test_accuracy, report.train_accuracy, report.kept_points, config.points,
                report.losses[0], report.losses[report.losses.len() - 1], report.peak_tape
            );
            assert_eq!(report.kept_points, 28);
            assert!(report.test_accuracy >= 0.95, "seed {seed}: {}", report.test_accuracy);
        }
    }

    #[test]
    fn cde_data_is_irregular_balanced_and_reproducible() {
        let mut rng = SeedStream::new(5, "t");
        let a = cde_spirals(20, 40, 0.3, 0.05, &mut rng).expect("data");
        let b = cde_spirals(20, 40, 0.3, 0.05, &mut SeedStream::new(5, "t")).expect("data");
        assert_eq!(a, b);
        assert_eq!(a.iter().filter(|s| s.counter_clockwise).count(), 10);
        assert!(a.iter().all(|s| s.times.len() == 28 && s.times.windows(2).all(|w| w[1] > w[0])));
        assert!(a.iter().any(|s| s.times != a[0].times));
    }

    #[test]
    fn reversible_heun_reconstructs_the_start_with_one_evaluation_a_step() {
        for seed in 0..3 {
            let report = reversible_heun_roundtrip(&SdeDemoConfig { seed, ..SdeDemoConfig::default() }).expect("roundtrip");
            eprintln!(
                "seed {seed}: rel error {:.3e}, abs {:.3e}, drift/step {}, diffusion/step {}, reverse {:?}",
                report.rel_error, report.abs_error, report.drift_evals_per_step, report.diffusion_evals_per_step, report.reverse
            );
            assert!(report.rel_error <= 1e-12, "{}", report.rel_error);
            assert!(report.drift_evals_per_step <= 1.0 + 1.5 / 1000.0 && report.diffusion_evals_per_step <= 1.0 + 1.5 / 1000.0);
            assert_eq!(report.reverse.drift_evals, 1000);
            assert_eq!(report.path.len(), 1001);
            assert!(report.y0.iter().zip(&report.y1).any(|(a, b)| (a - b).abs() > 1e-3), "the state must move");
        }
    }

    #[test]
    fn brownian_values_do_not_depend_on_the_query_order() {
        let report = brownian_query_orders(200, 3, 2.5, 11).expect("queries");
        assert!(report.reverse_identical && report.random_identical && report.increments_identical);
        assert_eq!(report.max_difference, 0.0);
        assert_eq!(report.values.len(), 200);
    }

    #[test]
    fn brownian_bridge_has_the_right_variance() {
        let report = brownian_bridge_variance(&BridgeConfig::default()).expect("bridge");
        for k in 0..report.s.len() {
            eprintln!("s {:.3}: {:.4} vs {:.4} (se {:.4}), mean {:.4}", report.s[k], report.empirical[k], report.theoretical[k], report.standard_error[k], report.mean[k]);
            assert!(report.mean[k].abs() < 5.0 * (report.theoretical[k] / report.samples as f64).sqrt());
        }
        assert!(report.max_z < 4.5, "{}", report.max_z);
    }

    #[test]
    fn bad_settings_are_reported() {
        assert!(spiral(&SpiralConfig { points: 1, ..SpiralConfig::default() }).is_err());
        assert!(NeuralOde::new(0, 0).is_err());
        let data = spiral(&SpiralConfig::default()).expect("spiral");
        let model = NeuralOde::new(4, 0).expect("model");
        let adaptive_rk4 = SolveConfig { solver: Solver::Rk4, stepping: Stepping::Adaptive { rtol: 1e-6, atol: 1e-6 } };
        assert!(ode_loss_gradient(&model, &data, &[0], 5, GradientMethod::Backprop, &adaptive_rk4).is_err());
        assert!(ode_loss_gradient(&model, &data, &[38], 5, GradientMethod::Backprop, &SolveConfig::fixed(0.1)).is_err());
        assert!(ode_loss_gradient(&model, &data, &[0], 1, GradientMethod::Backprop, &SolveConfig::fixed(0.1)).is_err());
        let backprop_only = GradientCheckConfig { adjoint: GradientMethod::Backprop, ..GradientCheckConfig::default() };
        assert!(compare_ode_gradients(&model, &data, &backprop_only).is_err());
        assert!(train_neural_cde(&CdeConfig { drop: 1.0, ..CdeConfig::default() }, &mut keep_going).is_err());
        assert!(reversible_heun_roundtrip(&SdeDemoConfig { steps: 0, ..SdeDemoConfig::default() }).is_err());
        assert!(brownian_bridge_variance(&BridgeConfig { a: 1.0, b: 0.5, ..BridgeConfig::default() }).is_err());
        let mut stop = |_: usize, _: usize, _: f32| false;
        let mut m = NeuralOde::new(4, 0).expect("model");
        assert!(matches!(
            train_neural_ode(&mut m, &data, &OdeTrainConfig { steps: 3, ..OdeTrainConfig::default() }, &mut stop),
            Err(MethodError::Stopped { step: 1, total: 3 })
        ));
    }

    /// Native timings of the default configurations (release):
    /// `cargo test --release -p odeon-methods neural_de::tests::timings -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timings() {
        let data = spiral(&SpiralConfig::default()).expect("spiral");
        let model = NeuralOde::new(32, 0).expect("model");
        for adjoint in [GradientMethod::Backprop, GradientMethod::BacksolveAdjoint, GradientMethod::InterpolatingAdjoint] {
            let start = std::time::Instant::now();
            let g = ode_loss_gradient(&model, &data, &[0], 40, adjoint, &SolveConfig::adaptive(1e-9)).expect("gradient");
            eprintln!("gradient {adjoint:?} (Tsit5 1e-9, full spiral): {:.3} s, tape {}, nfe {}+{}", start.elapsed().as_secs_f64(), g.peak_tape, g.nfe_forward, g.nfe_backward);
        }
        let start = std::time::Instant::now();
        let mut m = NeuralOde::new(32, 0).expect("model");
        let r = train_neural_ode(&mut m, &data, &OdeTrainConfig::default(), &mut keep_going).expect("train");
        eprintln!("train_neural_ode default: {:.3} s, fit {:.4} -> {:.4}", start.elapsed().as_secs_f64(), r.initial_fit_error, r.final_fit_error);
        let start = std::time::Instant::now();
        let (_, r) = train_neural_cde(&CdeConfig::default(), &mut keep_going).expect("cde");
        eprintln!("train_neural_cde default: {:.3} s, test accuracy {:.3}", start.elapsed().as_secs_f64(), r.test_accuracy);
        let start = std::time::Instant::now();
        let r = reversible_heun_roundtrip(&SdeDemoConfig::default()).expect("sde");
        eprintln!("reversible_heun_roundtrip default: {:.4} s, rel error {:.2e}", start.elapsed().as_secs_f64(), r.rel_error);
        let start = std::time::Instant::now();
        brownian_query_orders(200, 3, 2.5, 11).expect("orders");
        eprintln!("brownian_query_orders(200): {:.4} s", start.elapsed().as_secs_f64());
        let start = std::time::Instant::now();
        brownian_bridge_variance(&BridgeConfig::default()).expect("bridge");
        eprintln!("brownian_bridge_variance default: {:.4} s", start.elapsed().as_secs_f64());
    }
}
