//! Solver regularisation of neural ODEs: train a model that is cheap to
//! solve by penalising what the adaptive solver itself measures.
//!
//! An adaptive Runge-Kutta solver takes small steps where its local error
//! estimate is large, so the number of function evaluations (NFE) a neural
//! ODE costs is set by how hard its learned dynamics are to integrate.
//! *Opening the Blackbox* (Pal, Ma, Shah & Rackauckas 2021) adds the
//! solver's own estimates to the loss:
//!
//! * **global error (ERNODE)**: `lambda * mean_j E_j |dt_j|` over the
//!   accepted steps, with `E_j` the scaled RMS error estimate the controller
//!   uses to accept a step (tolerance-scaled, so `E <= 1` on accepted steps);
//! * **global stiffness (SRNODE)**: `lambda * mean_j rho_j |dt_j|` with
//!   Hairer's spectral-radius estimate `rho` from the last two stages.
//!
//! Both are differentiated through the accepted steps (the step sizes are
//! constants), by backpropagation through the solve
//! ([`odeon_solve::ode::Regularizers`]).
//!
//! *Locally regularised neural DEs* (Pal et al. 2022) regularise a single
//! step instead: draw a time `t_reg`, read the state there from the solution
//! without gradient, start a fresh Tsit5 integrator there and penalise that
//! one step's `E |dt|` ([`odeon_solve::ode::single_step`], with the
//! controller's automatic first step). `t_reg` is uniform on `[t0, t1]`
//! ("unbiased", the state comes from the dense output) or uniform among the
//! accepted step times including both ends ("biased"). Only the extra step
//! is differentiated for the penalty, so it works with any adjoint; its
//! evaluations count in the NFE of training. As in the official code the
//! fresh integrator's automatic first step is capped by the whole interval's
//! length (it is not shortened near `t1`); the dynamics here do not depend
//! on `t`, so where the step starts in time does not matter.
//!
//! **The toy.** Concentric circles ([`concentric_circles`]): class 0 a disc
//! of radius 0.5, class 1 the annulus `1 <= r <= 1.5`, uniform in area. No
//! plane homeomorphism separates them linearly, so the classifier is an
//! *augmented* neural ODE: the state `[x, 0, 0]` in 4-D flows under
//! `dy/dt = MLP(y)` (4 -> 32 -> 32 -> 4, tanh, time-independent) for
//! `t in [0, 1]` with Tsit5 at `rtol = atol = 1e-5`, and a linear readout of
//! `y(1)` gives the logit (binary cross-entropy). Training is Adam with
//! backpropagation through the accepted steps (discretise-then-optimise);
//! `lambda` decays exponentially from `lambda.0` to `lambda.1` over the run
//! (defaults per mode in [`RegMode::default_lambda`]).
//!
//! **Evaluation.** [`evaluate`] classifies the test set in batches of the
//! training batch size (the error norm is an RMS over the whole batch, so a
//! batch is one solve) and reports the accuracy and the mean NFE per solve.

use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_nn::{Activation, Adam, AdamConfig, Mlp, Module, Optimizer};
use odeon_solve::ode::{OdeOptions, OdeSolution, PidController, SolveError, Solver, single_step, solve_ode};
use odeon_tensor::{SeedStream, Tensor, UnaryOp};
use serde::{Deserialize, Serialize};

use crate::{MethodError, Monitor};

/// Two-class points in the plane.
#[derive(Debug, Clone)]
pub struct Circles {
    /// Points, shape `[n, 2]` (f32).
    pub points: Tensor,
    /// Labels, 0 (inner disc) or 1 (outer annulus).
    pub labels: Vec<u8>,
}

impl Circles {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// `n` points, half in the disc `r <= 0.5` (label 0) and half in the
/// annulus `1 <= r <= 1.5` (label 1), uniform in area, in random order.
pub fn concentric_circles(n: usize, rng: &mut SeedStream) -> Result<Circles, MethodError> {
    if n < 2 {
        return Err(MethodError::Config(format!("the circles need at least 2 points, got {n}")));
    }
    let mut data = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = u8::from(i % 2 == 1);
        let (r0, r1) = if label == 0 { (0.0, 0.5) } else { (1.0, 1.5) };
        // Uniform in area: r^2 uniform between r0^2 and r1^2.
        let r = libm::sqrt(r0 * r0 + (r1 * r1 - r0 * r0) * rng.uniform_f64());
        let phi = 2.0 * std::f64::consts::PI * rng.uniform_f64();
        data.push(r * libm::cos(phi));
        data.push(r * libm::sin(phi));
        labels.push(label);
    }
    let order = rng.permutation(n);
    let points: Vec<f64> = order.iter().flat_map(|&i| [data[2 * i], data[2 * i + 1]]).collect();
    let labels = order.iter().map(|&i| labels[i]).collect();
    Ok(Circles { points: Tensor::from_f64(&[n, 2], points)?.cast(odeon_tensor::DType::F32)?, labels })
}

/// Which regulariser a run adds to the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegMode {
    /// No regulariser.
    Vanilla,
    /// `mean_j E_j |dt_j|` over the accepted steps (ERNODE).
    GlobalError,
    /// `mean_j rho_j |dt_j|` over the accepted steps (SRNODE).
    GlobalStiffness,
    /// One extra step's `E |dt|` at `t_reg ~ U(0, 1)`.
    LocalUnbiased,
    /// One extra step's `E |dt|` at a uniformly drawn accepted step time.
    LocalBiased,
}

impl RegMode {
    /// Every mode, vanilla first.
    pub const ALL: [RegMode; 5] =
        [RegMode::Vanilla, RegMode::GlobalError, RegMode::GlobalStiffness, RegMode::LocalUnbiased, RegMode::LocalBiased];

    /// The default `(start, end)` of the exponentially decayed weight.
    ///
    /// * global error: 100 -> 10, the official MNIST configuration, which
    ///   works here as is (test NFE about 0.4-0.5x vanilla at full accuracy);
    /// * global stiffness: 1 -> 0.1 (`rho |dt|` is of order 0.1-3, far
    ///   larger than `E |dt|`; 0.1 -> 0.01 barely moved the NFE);
    /// * local: 1e4 -> 1e3. The official MNIST value (5 -> 2.5) scales a
    ///   different problem; here the one step starts with the controller's
    ///   cautious automatic first step, whose `E |dt|` (of order `dt^6`) is
    ///   some 1e-5 to 1e-7, and 100 -> 10 or 1000 -> 100 left the test NFE
    ///   at 0.6-0.75x vanilla, 1.3-1.5x the global regulariser's.
    pub fn default_lambda(self) -> (f64, f64) {
        match self {
            RegMode::Vanilla => (0.0, 0.0),
            RegMode::GlobalError => (100.0, 10.0),
            RegMode::GlobalStiffness => (1.0, 0.1),
            RegMode::LocalUnbiased | RegMode::LocalBiased => (1e4, 1e3),
        }
    }

    /// A short name for tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            RegMode::Vanilla => "vanilla",
            RegMode::GlobalError => "global error",
            RegMode::GlobalStiffness => "global stiffness",
            RegMode::LocalUnbiased => "local unbiased",
            RegMode::LocalBiased => "local biased",
        }
    }
}

/// Settings of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegConfig {
    /// The regulariser.
    pub mode: RegMode,
    /// `(start, end)` of the exponentially decayed weight; `None` for
    /// [`RegMode::default_lambda`].
    pub lambda: Option<(f64, f64)>,
    /// Adam steps (200).
    pub steps: usize,
    /// Batch size (128).
    pub batch: usize,
    /// Adam learning rate (1e-2).
    pub lr: f64,
    /// Hidden width of the vector field (32).
    pub hidden: usize,
    /// Solver tolerance, `rtol = atol` (1e-5).
    pub tol: f64,
    /// Training points (1024).
    pub train_size: usize,
    /// Test points (512).
    pub test_size: usize,
    /// Seed of the data, the initialisation, the batches and `t_reg`.
    pub seed: u64,
    /// Evaluate on the test set every this many steps, and before the
    /// first one ([`RegReport::checkpoints`]); 0 (the default) only at
    /// the end. Evaluation draws nothing from the training's streams, so
    /// it does not change the run.
    pub eval_every: usize,
}

impl Default for RegConfig {
    fn default() -> Self {
        RegConfig {
            mode: RegMode::Vanilla,
            lambda: None,
            steps: 200,
            batch: 128,
            lr: 1e-2,
            hidden: 32,
            tol: 1e-5,
            train_size: 1024,
            test_size: 512,
            seed: 0,
            eval_every: 0,
        }
    }
}

impl RegConfig {
    /// The default settings with this mode and seed.
    pub fn new(mode: RegMode, seed: u64) -> Self {
        RegConfig { mode, seed, ..RegConfig::default() }
    }

    fn check(&self) -> Result<(), MethodError> {
        let (l0, l1) = self.lambda();
        let bad = |m: String| Err(MethodError::Config(m));
        if self.steps == 0 || self.batch == 0 || self.batch > 65_536 || self.hidden == 0 {
            return bad(format!(
                "steps, batch (at most 65536) and hidden must be positive; got {}, {} and {}",
                self.steps, self.batch, self.hidden
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite() && self.tol > 0.0 && self.tol < 1.0) {
            return bad(format!("lr must be positive and tol in (0, 1); got {} and {}", self.lr, self.tol));
        }
        if !(l0 >= 0.0 && l1 >= 0.0 && l0.is_finite() && l1.is_finite()) || ((l0 == 0.0) != (l1 == 0.0)) {
            return bad(format!("lambda must be two finite values >= 0, both zero or both positive; got ({l0}, {l1})"));
        }
        if self.train_size < 2 || self.test_size < 2 {
            return bad(format!("train_size and test_size must be at least 2; got {} and {}", self.train_size, self.test_size));
        }
        Ok(())
    }

    /// The weight's `(start, end)`.
    pub fn lambda(&self) -> (f64, f64) {
        self.lambda.unwrap_or(self.mode.default_lambda())
    }

    /// The weight at `step`: `start * (end / start)^(step / (steps - 1))`.
    pub fn lambda_at(&self, step: usize) -> f64 {
        let (l0, l1) = self.lambda();
        if l0 == 0.0 {
            return 0.0;
        }
        let progress = step as f64 / self.steps.saturating_sub(1).max(1) as f64;
        l0 * libm::pow(l1 / l0, progress.min(1.0))
    }
}

/// The augmented neural ODE classifier: a vector field on `[x, 0, 0]` and
/// a linear readout of the state at `t = 1`.
#[derive(Debug, Clone)]
pub struct AugmentedNode {
    /// `dy/dt = field(y)`, 4 -> hidden -> hidden -> 4, tanh.
    pub field: Mlp,
    /// 4 -> 1, the logit of class 1.
    pub readout: Mlp,
}

/// Augmented dimensions added to the 2-D input.
const AUGMENT: usize = 2;

impl AugmentedNode {
    /// A fresh model with `hidden` units per layer.
    pub fn new(hidden: usize, rng: &mut SeedStream) -> Result<AugmentedNode, MethodError> {
        let d = 2 + AUGMENT;
        Ok(AugmentedNode {
            field: Mlp::new(&[d, hidden, hidden, d], Activation::Tanh, rng)?,
            readout: Mlp::new(&[d, 1], Activation::Tanh, rng)?,
        })
    }

    fn parameters(&self) -> Vec<Tensor> {
        let mut p = self.field.parameters();
        p.extend(self.readout.parameters());
        p
    }

    fn set_parameters(&mut self, params: &[Tensor]) -> Result<(), MethodError> {
        let n = self.field.parameters().len();
        self.field.set_parameters(&params[..n.min(params.len())])?;
        self.readout.set_parameters(&params[n.min(params.len())..])?;
        Ok(())
    }
}

/// `[x, 0, 0]` rows for the given points.
fn augmented(points: &Tensor, rows: &[usize]) -> Result<Tensor, MethodError> {
    let p = points.to_f64_vec()?;
    let d = 2 + AUGMENT;
    let mut data = vec![0.0; rows.len() * d];
    for (r, &i) in rows.iter().enumerate() {
        data[r * d] = p[2 * i];
        data[r * d + 1] = p[2 * i + 1];
    }
    Ok(Tensor::from_f64(&[rows.len(), d], data)?.cast(points.dtype())?)
}

/// One forward solve: logits `[n, 1]`, the solution (for its statistics
/// and regularisers) and the mode's penalty with its extra evaluations.
struct Forward {
    logits: Var,
    solution: OdeSolution<Var>,
    penalty: Option<Var>,
    extra_nfe: usize,
}

fn forward(
    model: &AugmentedNode,
    params: &[Var],
    y0: &Var,
    mode: RegMode,
    tol: f64,
    rng: &mut SeedStream,
) -> Result<Forward, MethodError> {
    let n_field = model.field.parameters().len();
    let (fp, rp) = params.split_at(n_field);
    let field = |_t: f64, y: &Var| -> Result<Var, SolveError> {
        model.field.apply(fp, y).map_err(|e| SolveError::VectorField(e.to_string()))
    };
    let mut options = OdeOptions::tolerances(tol, tol);
    options.max_steps = 4096;
    options.regularizers = matches!(mode, RegMode::GlobalError | RegMode::GlobalStiffness);
    options.dense = matches!(mode, RegMode::LocalUnbiased | RegMode::LocalBiased);
    let solution = solve_ode(field, Solver::Tsit5, 0.0, 1.0, None, y0, &options)?;
    let last = solution.last().ok_or_else(|| MethodError::Config("the solve saved nothing".into()))?;
    let logits = model.readout.apply(rp, last)?;
    let (mut penalty, mut extra_nfe) = (None, 0);
    match mode {
        RegMode::Vanilla => {}
        RegMode::GlobalError | RegMode::GlobalStiffness => {
            if let Some(regs) = &solution.regularizers {
                penalty = Some(if mode == RegMode::GlobalError { regs.error_mean()? } else { regs.stiffness_mean()? });
            }
        }
        RegMode::LocalUnbiased | RegMode::LocalBiased => {
            if let Some(dense) = &solution.dense {
                let (t_reg, u) = if mode == RegMode::LocalUnbiased {
                    let t = rng.uniform_f64();
                    (t, dense.evaluate(t)?)
                } else {
                    let i = rng.below(dense.ts.len());
                    (dense.ts[i], dense.ys[i].clone())
                };
                let controller = PidController::new(tol, tol);
                let step = single_step(field, Solver::Tsit5, t_reg, t_reg + 1.0, None, &u.detach(), &controller)?;
                penalty = Some(step.error);
                extra_nfe = step.nfe;
            }
        }
    }
    Ok(Forward { logits, solution, penalty, extra_nfe })
}

/// Binary cross-entropy with logits: `mean(softplus(z) - y z)`.
fn bce(logits: &Var, labels: &Tensor) -> Result<Var, MethodError> {
    let y = logits.tape().constant(labels.clone());
    Ok(logits.unary(UnaryOp::Softplus)?.sub(&y.mul(logits)?)?.mean()?)
}

/// What a training run recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegReport {
    /// The mode trained.
    pub mode: RegMode,
    /// NFE of every training step's forward pass, extra local step included.
    pub nfe: Vec<usize>,
    /// Cross-entropy per step (without the penalty).
    pub losses: Vec<f32>,
    /// The penalty per step (before weighting; 0 for vanilla).
    pub penalties: Vec<f64>,
    /// Test accuracy at the end.
    pub test_accuracy: f64,
    /// Mean NFE per forward solve on the test set at the end.
    pub test_nfe: f64,
    /// `(step, test accuracy, test NFE)` before training and every
    /// [`RegConfig::eval_every`] steps (empty when that is 0).
    pub checkpoints: Vec<(usize, f64, f64)>,
}

/// The probability of class 1 (the sigmoid of the logit) at each of
/// `points` (`[n, 2]`), classified in one solve at `rtol = atol = tol`,
/// and that solve's NFE.
pub fn probabilities(model: &AugmentedNode, points: &Tensor, tol: f64) -> Result<(Vec<f64>, usize), MethodError> {
    let n = match points.shape() {
        [n, 2] if *n > 0 => *n,
        shape => return Err(MethodError::Config(format!("the classifier takes 2-D points, [n, 2]; got shape {shape:?}"))),
    };
    let tape = Tape::new();
    let mut params = model.field.bind_constant(&tape);
    params.extend(model.readout.bind_constant(&tape));
    let rows: Vec<usize> = (0..n).collect();
    let y0 = tape.constant(augmented(&points.cast(odeon_tensor::DType::F32)?, &rows)?);
    let out = forward(model, &params, &y0, RegMode::Vanilla, tol, &mut SeedStream::new(0, "regularization/logits"))?;
    let p = out.logits.value().to_f64_vec()?.into_iter().map(|z| 1.0 / (1.0 + libm::exp(-z))).collect();
    Ok((p, out.solution.stats.nfe))
}

/// Accuracy and mean NFE per solve of `model` on `data`, in batches of
/// `batch` points (the last one may be smaller).
pub fn evaluate(model: &AugmentedNode, data: &Circles, batch: usize, tol: f64) -> Result<(f64, f64), MethodError> {
    if batch == 0 || data.is_empty() {
        return Err(MethodError::Config("evaluation needs a positive batch and some data".into()));
    }
    let tape = Tape::new();
    let mut params = model.field.bind_constant(&tape);
    params.extend(model.readout.bind_constant(&tape));
    let mut rng = SeedStream::new(0, "regularization/evaluate");
    let (mut correct, mut nfe, mut solves) = (0usize, 0usize, 0usize);
    let rows: Vec<usize> = (0..data.len()).collect();
    for chunk in rows.chunks(batch) {
        let y0 = tape.constant(augmented(&data.points, chunk)?);
        let out = forward(model, &params, &y0, RegMode::Vanilla, tol, &mut rng)?;
        nfe += out.solution.stats.nfe;
        solves += 1;
        for (z, &i) in out.logits.value().to_f64_vec()?.iter().zip(chunk) {
            correct += usize::from((*z > 0.0) == (data.labels[i] == 1));
        }
    }
    Ok((correct as f64 / data.len() as f64, nfe as f64 / solves as f64))
}

/// The train and test sets of `config` (seeded by `config.seed`).
pub fn datasets(config: &RegConfig) -> Result<(Circles, Circles), MethodError> {
    let mut rng = SeedStream::new(config.seed, "regularization/data");
    Ok((concentric_circles(config.train_size, &mut rng)?, concentric_circles(config.test_size, &mut rng)?))
}

/// Trains a fresh model on the circles of `config` and evaluates it.
/// `monitor` sees `(step, steps, cross-entropy)` and can stop the run.
pub fn train(config: &RegConfig, monitor: &mut Monitor<'_>) -> Result<(AugmentedNode, RegReport), MethodError> {
    config.check()?;
    let (train_set, test_set) = datasets(config)?;
    let mut model = AugmentedNode::new(config.hidden, &mut SeedStream::new(config.seed, "regularization/init"))?;
    let mut batches = SeedStream::new(config.seed, "regularization/batches");
    let mut t_reg = SeedStream::new(config.seed, "regularization/t_reg");
    let mut opt: Adam<odeon_tensor::Cpu> = Adam::new(AdamConfig { lr: config.lr, ..AdamConfig::default() });
    let mut params = model.parameters();
    let mut report = RegReport {
        mode: config.mode,
        nfe: Vec::with_capacity(config.steps),
        losses: Vec::with_capacity(config.steps),
        penalties: Vec::with_capacity(config.steps),
        test_accuracy: 0.0,
        test_nfe: 0.0,
        checkpoints: Vec::new(),
    };
    if config.eval_every > 0 {
        let (acc, nfe) = evaluate(&model, &test_set, config.batch, config.tol)?;
        report.checkpoints.push((0, acc, nfe));
    }
    for step in 0..config.steps {
        let rows: Vec<usize> = (0..config.batch).map(|_| batches.below(train_set.len())).collect();
        let labels: Vec<f64> = rows.iter().map(|&i| f64::from(train_set.labels[i])).collect();
        let labels = Tensor::from_f64(&[rows.len(), 1], labels)?.cast(train_set.points.dtype())?;
        let tape: Rc<Tape> = Tape::new();
        let leaves: Vec<Var> = params.iter().map(|p| tape.leaf(p.clone())).collect();
        let y0 = tape.constant(augmented(&train_set.points, &rows)?);
        let out = forward(&model, &leaves, &y0, config.mode, config.tol, &mut t_reg)?;
        let ce = bce(&out.logits, &labels)?;
        let ce_value = ce.value().item()? as f32;
        if !ce_value.is_finite() {
            return Err(MethodError::Diverged { step, loss: ce_value });
        }
        let loss = match &out.penalty {
            Some(p) => {
                report.penalties.push(p.value().item()?);
                ce.add(&p.scale(config.lambda_at(step))?)?
            }
            None => {
                report.penalties.push(0.0);
                ce
            }
        };
        let grads = tape.backward(&loss)?;
        let grads: Vec<Tensor> = leaves.iter().map(|l| grads.get(l)).collect::<Result<_, _>>()?;
        opt.step(&mut params, &grads)?;
        model.set_parameters(&params)?;
        report.nfe.push(out.solution.stats.nfe + out.extra_nfe);
        report.losses.push(ce_value);
        if !monitor(step + 1, config.steps, ce_value) {
            return Err(MethodError::Stopped { step: step + 1, total: config.steps });
        }
        if config.eval_every > 0 && (step + 1) % config.eval_every == 0 && step + 1 < config.steps {
            let (acc, nfe) = evaluate(&model, &test_set, config.batch, config.tol)?;
            report.checkpoints.push((step + 1, acc, nfe));
        }
    }
    let (acc, nfe) = evaluate(&model, &test_set, config.batch, config.tol)?;
    report.test_accuracy = acc;
    report.test_nfe = nfe;
    if config.eval_every > 0 {
        report.checkpoints.push((config.steps, acc, nfe));
    }
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circles_are_balanced_and_in_their_rings() {
        let mut rng = SeedStream::new(3, "test");
        let c = concentric_circles(400, &mut rng).expect("data");
        let p = c.points.to_f64_vec().expect("values");
        let ones = c.labels.iter().filter(|&&l| l == 1).count();
        assert_eq!(ones, 200);
        for (i, &l) in c.labels.iter().enumerate() {
            let r = (p[2 * i] * p[2 * i] + p[2 * i + 1] * p[2 * i + 1]).sqrt();
            if l == 0 { assert!(r <= 0.5 + 1e-6) } else { assert!((1.0 - 1e-6..=1.5 + 1e-6).contains(&r)) }
        }
        assert!(concentric_circles(1, &mut rng).is_err());
        let bad = RegConfig { lambda: Some((1.0, 0.0)), ..RegConfig::default() };
        assert!(train(&bad, &mut |_, _, _| true).is_err());
    }

    #[test]
    fn lambda_decays_exponentially_from_start_to_end() {
        let c = RegConfig { mode: RegMode::GlobalError, steps: 11, ..RegConfig::default() };
        assert!((c.lambda_at(0) - 100.0).abs() < 1e-9);
        assert!((c.lambda_at(5) - 100.0 * 0.1f64.sqrt()).abs() < 1e-9);
        assert!((c.lambda_at(10) - 10.0).abs() < 1e-9);
        assert_eq!(RegConfig::default().lambda_at(7), 0.0);
    }

    /// The catalogue's criteria on three seeds (same data, architecture,
    /// steps and seeds for every mode): the global error regulariser solves
    /// the test set with at most 0.7x vanilla's NFE, the local ones with at
    /// most 0.65x and within 10% of the global one on average over the seeds
    /// (15% per seed: the test NFE moves in steps of 6 evaluations per solve,
    /// so one extra step in one of the four test batches is +12% at the
    /// global regulariser's 38), all within one point of
    /// vanilla's accuracy (which must itself be near perfect, so the
    /// comparison is with a trained model). Stiffness regularisation is
    /// reported and checked for accuracy and for not raising the NFE.
    #[test]
    fn regularisers_cut_the_test_nfe_at_the_same_accuracy() {
        let mut ratios = Vec::new();
        for seed in [0u64, 1, 2] {
            let mut runs = Vec::new();
            for mode in RegMode::ALL {
                let start = std::time::Instant::now();
                let (_, r) = train(&RegConfig::new(mode, seed), &mut |_, _, _| true).expect("trains");
                let secs = start.elapsed().as_secs_f64();
                let train_nfe: usize = r.nfe.iter().sum();
                eprintln!(
                    "seed {seed} {:16}: accuracy {:.4}, test NFE {:6.1}, training NFE {train_nfe} (first {}, last {}), {secs:.2} s",
                    mode.name(),
                    r.test_accuracy,
                    r.test_nfe,
                    r.nfe[0],
                    r.nfe[r.nfe.len() - 1]
                );
                assert!(r.losses.iter().all(|l| l.is_finite()));
                runs.push(r);
            }
            let (vanilla, global, stiff) = (&runs[0], &runs[1], &runs[2]);
            assert!(vanilla.test_accuracy >= 0.98, "vanilla is not trained: {}", vanilla.test_accuracy);
            for r in &runs[1..] {
                assert!(r.test_accuracy >= vanilla.test_accuracy - 0.01, "{:?}: accuracy {} vs {}", r.mode, r.test_accuracy, vanilla.test_accuracy);
            }
            assert!(global.test_nfe <= 0.7 * vanilla.test_nfe, "global {} vs vanilla {}", global.test_nfe, vanilla.test_nfe);
            assert!(stiff.test_nfe <= vanilla.test_nfe, "stiffness {} vs vanilla {}", stiff.test_nfe, vanilla.test_nfe);
            for local in &runs[3..] {
                assert!(local.test_nfe <= 0.65 * vanilla.test_nfe, "{:?} {} vs vanilla {}", local.mode, local.test_nfe, vanilla.test_nfe);
                assert!(local.test_nfe <= 1.15 * global.test_nfe, "{:?} {} vs global {}", local.mode, local.test_nfe, global.test_nfe);
            }
            ratios.push(runs.iter().map(|r| r.test_nfe / vanilla.test_nfe).collect::<Vec<_>>());
        }
        eprintln!("test NFE / vanilla per seed (vanilla, error, stiffness, local unbiased, local biased): {ratios:.3?}");
        for (k, name) in [(3, "local unbiased"), (4, "local biased")] {
            let local: f64 = ratios.iter().map(|r| r[k]).sum::<f64>();
            let global: f64 = ratios.iter().map(|r| r[1]).sum::<f64>();
            assert!(local <= 1.1 * global, "{name}: mean ratio {} vs global {}", local / 3.0, global / 3.0);
        }
    }
}
