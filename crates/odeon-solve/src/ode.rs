//! # Ordinary differential equations
//!
//! One entry point, [`solve_ode`]`(f, solver, t0, t1, dt0, y0, options)`,
//! in the spirit of diffrax's `diffeqsolve`: the method ([`Solver`]), the
//! step-size controller ([`Controller`]) and what to save ([`SaveAt`]) are
//! separate, swappable values, and the returned [`OdeSolution`] carries the
//! saved points and statistics a notebook can plot ([`OdeStats`]: function
//! evaluations, accepted and rejected steps, and per accepted step its size,
//! local error estimate and stiffness estimate).
//!
//! ## Methods
//! Explicit Runge-Kutta methods, stored as Butcher tableaux
//! ([`ButcherTableau`]):
//!
//! | [`Solver`] | order | error estimate | stages | reference |
//! |---|---|---|---|---|
//! | `Euler` | 1 | none | 1 | |
//! | `Heun` | 2 | none | 2 | |
//! | `Rk4` | 4 | none | 4 | |
//! | `Bosh3` | 3 | embedded 2, FSAL | 4 | Bogacki & Shampine (1989), *Appl. Math. Lett.* 2(4) |
//! | `Dopri5` | 5 | embedded 4, FSAL | 7 | Dormand & Prince (1980), *J. Comput. Appl. Math.* 6(1) |
//! | `Tsit5` | 5 | embedded 4, FSAL | 7 | Tsitouras (2011), *Comput. Math. Appl.* 62(2) |
//!
//! The fixed-step methods need [`Controller::Constant`]; the embedded pairs
//! run with either controller (with a constant step they are plain
//! fifth/third-order methods). Integration runs backwards when `t1 < t0`
//! (then `dt0` must be negative), which the adjoints use.
//!
//! ## Step-size control
//! The local error estimate `err = dt * sum_i b_err_i k_i` is measured by the
//! scaled RMS norm ([`error_norm`]):
//!
//! ```text
//! E = sqrt( mean_i ( err_i / (atol + rtol * max(|y_prev_i|, |y_new_i|)) )^2 )
//! ```
//!
//! A step is accepted when `E <= 1`. The next step is `dt * factor` with the
//! PI rule of Hairer, Nørsett & Wanner (*Solving ODEs I*, II.4, and
//! Gustafsson's PI control in *Solving ODEs II*, IV.2):
//!
//! ```text
//! factor = safety * E_n^(-(pcoeff + icoeff)/k) * E_{n-1}^(pcoeff/k),   k = embedded order + 1
//! ```
//!
//! clipped to `[factor_min, factor_max]` and to at most 1 just after a
//! rejection; a rejected step is retried with the pure I rule
//! `max(factor_min, safety * E^(-1/k))`. The defaults (`pcoeff = 0.4`,
//! `icoeff = 0.3`, i.e. Hairer's `beta = 0.4/k`, `alpha = 0.7/k`) give smooth
//! step sequences; `pcoeff = 0, icoeff = 1` is plain I control (diffrax's
//! default). Error control reads values only and is never differentiated.
//! When `dt0` is `None` the first step is chosen by Hairer's algorithm
//! (*Solving ODEs I*, II.4), at the cost of one extra evaluation.
//!
//! **Choosing tolerances.** `rtol` sets the number of correct digits (`1e-3`
//! for plots, `1e-6` for training a neural ODE, `1e-10` and below for
//! gradient checks and references); `atol` is the size below which a
//! component counts as zero, so set it well below the smallest magnitude you
//! care about (components near zero are otherwise controlled only by
//! `atol`). Global errors are typically 1-100x the tolerance; the
//! fifth-order pairs are the efficient choice below about `1e-4`, `Bosh3`
//! above it. Very tight tolerances (below about `1e-13`) hit round-off.
//!
//! ## Stiffness
//! Each accepted step records `|dt| * rho` with Hairer's estimate of the
//! spectral radius of the Jacobian (*Solving ODEs II*, IV.2),
//! `rho = ||k_s - k_{s-1}|| / ||g_s - g_{s-1}||` over the last two stage
//! arguments `g` and derivatives `k` (RMS norms). Here the end-point
//! derivative `f(t + dt, y_new)` always counts as the last stage (it is the
//! FSAL stage of the embedded pairs, and is computed anyway for dense output
//! by the others). For an explicit method the estimate sits near the edge of
//! the stability region (about 3.3 for `Dopri5`) when the step size is
//! limited by stability instead of accuracy: the sign of a stiff problem,
//! which wants an implicit method. The estimate is Hairer's for `Dopri5`
//! and `Tsit5`, whose last two stages both sit at `c = 1`. For `Bosh3` and
//! the fixed-step methods the two evaluations are at different times, so the
//! difference also carries the change of `f` along the solution: there the
//! value is only a rough indicator (it stays small on Robertson's problem).
//!
//! ## Solver regularisers
//! Error control reads plain values, but the error and stiffness estimates
//! are themselves smooth functions of the stages, so they can be penalised
//! in a loss to train a neural ODE that is cheap to solve (Pal, Ma, Shah &
//! Rackauckas 2021, "Opening the Blackbox"; Pal et al. 2022, local
//! regularisation). With [`OdeOptions::regularizers`] set, a solve over
//! [`Var`](odeon_autodiff::Var) states also builds, for every accepted step
//! `j`, the differentiable values
//!
//! ```text
//! error_j     = E_j * |dt_j|      (E_j the scaled RMS norm above, from the stage Vars)
//! stiffness_j = rho_j * |dt_j|    (Hairer's spectral-radius estimate, as above)
//! ```
//!
//! returned in [`OdeSolution::regularizers`]; their means over the accepted
//! steps ([`Regularizers::error_mean`], [`Regularizers::stiffness_mean`]) are
//! the ERNODE and SRNODE penalties. The values equal those in [`OdeStats`]
//! (`error * |dt|` and `stiffness`). The step sizes are constants (the
//! penalty's gradient is the one for the step sequence actually taken); the
//! scale `atol + rtol * max(|y_prev|, |y_new|)` *is* differentiated, as in the
//! official implementation, which evaluates the same expression on its
//! autodiff arrays. Plain solves pay nothing: the option is off by default,
//! and with `Vec<f64>` states the values are plain numbers.
//! [`single_step`] takes one step from any `(t, y)` and returns the same
//! differentiable `E * |dt|`: the local regulariser, whose gradient needs
//! only that one step on the tape.
//!
//! ## Dense output
//! A cubic Hermite interpolant on each accepted step, built from `y` and `f`
//! at both ends ([`hermite`]): third order (local interpolation error
//! `O(dt^4)`), continuously differentiable, and differentiable with respect
//! to the states when they are [`Var`](odeon_autodiff::Var)s. It serves
//! [`SaveAt::Times`] and, with [`OdeOptions::dense`], [`DenseOutput`].
//!
//! ## States
//! Anything implementing [`OdeState`]: `Vec<f64>`, or an autodiff
//! [`Var`](odeon_autodiff::Var) on any backend, in which case every step
//! taken is recorded on the tape and `tape.grad` differentiates through the
//! solve (discretise-then-optimise, see [`crate::adjoint`]). Rejected trial
//! steps are recorded too; they do not reach the output, so they cost tape
//! memory but do not change gradients. Step sizes are constants for the
//! gradient.

mod state;
mod tableau;

use serde::{Deserialize, Serialize};

pub use state::OdeState;
pub use tableau::{BOSH3, ButcherTableau, DOPRI5, EULER, HEUN, RK4, TSIT5};

/// Why a solve failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// The step budget ran out.
    #[error(
        "gave up after {max_steps} steps at t = {t}: the problem may be stiff (look at the stiffness estimates), \
         the tolerances too tight, or the interval too long; raise max_steps or loosen rtol/atol"
    )]
    MaxSteps {
        /// The budget ([`OdeOptions::max_steps`]).
        max_steps: usize,
        /// How far the solve got.
        t: f64,
    },
    /// The controller asked for a step too small to advance `t`.
    #[error(
        "the step size fell to {dt:e} at t = {t}, too small to make progress: the solution may blow up here \
         (a singularity) or the tolerances are below round-off"
    )]
    StepSizeUnderflow {
        /// Where it happened.
        t: f64,
        /// The step size asked for.
        dt: f64,
    },
    /// The state became NaN or infinite.
    #[error(
        "the solution became NaN or infinite at t = {t}: the vector field may blow up there, or the step is too large \
         for a fixed-step method"
    )]
    NonFinite {
        /// The time of the first non-finite value.
        t: f64,
    },
    /// Invalid arguments.
    #[error("{0}")]
    BadArgument(String),
    /// The vector field failed (its own message).
    #[error("the vector field failed: {0}")]
    VectorField(String),
    /// A differentiable operation failed.
    #[error(transparent)]
    Autodiff(#[from] odeon_autodiff::AutodiffError),
}

impl From<odeon_tensor::TensorError> for SolveError {
    fn from(e: odeon_tensor::TensorError) -> Self {
        SolveError::Autodiff(e.into())
    }
}

/// The integration method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Solver {
    /// Forward Euler, order 1, fixed step.
    Euler,
    /// Heun (explicit trapezoid), order 2, fixed step.
    Heun,
    /// Classical Runge-Kutta, order 4, fixed step.
    Rk4,
    /// Bogacki-Shampine 3(2), adaptive, FSAL.
    Bosh3,
    /// Dormand-Prince 5(4), adaptive, FSAL.
    Dopri5,
    /// Tsitouras 5(4), adaptive, FSAL.
    Tsit5,
}

impl Solver {
    /// Every method.
    pub const ALL: [Solver; 6] = [
        Solver::Euler,
        Solver::Heun,
        Solver::Rk4,
        Solver::Bosh3,
        Solver::Dopri5,
        Solver::Tsit5,
    ];

    /// The Butcher tableau.
    pub fn tableau(self) -> &'static ButcherTableau {
        match self {
            Solver::Euler => &EULER,
            Solver::Heun => &HEUN,
            Solver::Rk4 => &RK4,
            Solver::Bosh3 => &BOSH3,
            Solver::Dopri5 => &DOPRI5,
            Solver::Tsit5 => &TSIT5,
        }
    }

    /// True when the method has an embedded error estimate (can adapt its step).
    pub fn is_adaptive(self) -> bool {
        self.tableau().b_err.is_some()
    }

    /// Order of the propagated solution.
    pub fn order(self) -> u32 {
        self.tableau().order
    }
}

/// PI step-size controller (see the module docs for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PidController {
    /// Relative tolerance (> 0).
    pub rtol: f64,
    /// Absolute tolerance (> 0).
    pub atol: f64,
    /// Proportional coefficient (0.4 by default; 0 for I control).
    pub pcoeff: f64,
    /// Integral coefficient (0.3 by default; 1 for I control).
    pub icoeff: f64,
    /// Safety factor (0.9).
    pub safety: f64,
    /// Smallest step-size factor (0.2).
    pub factor_min: f64,
    /// Largest step-size factor (10).
    pub factor_max: f64,
}

impl PidController {
    /// The default PI controller with these tolerances.
    pub fn new(rtol: f64, atol: f64) -> Self {
        PidController {
            rtol,
            atol,
            pcoeff: 0.4,
            icoeff: 0.3,
            safety: 0.9,
            factor_min: 0.2,
            factor_max: 10.0,
        }
    }
}

impl Default for PidController {
    /// `rtol = atol = 1e-6`.
    fn default() -> Self {
        PidController::new(1e-6, 1e-6)
    }
}

/// How the step size is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Controller {
    /// Every step is `dt0` (the last one is shortened to end at `t1`).
    Constant,
    /// Adaptive steps from the embedded error estimate.
    Pid(PidController),
}

impl Default for Controller {
    fn default() -> Self {
        Controller::Pid(PidController::default())
    }
}

/// Which points the solution keeps.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum SaveAt {
    /// Only `y(t1)`.
    #[default]
    Final,
    /// These times (between `t0` and `t1`, in the direction of integration),
    /// from the dense output; a time hit by a step gives the step's value.
    Times(Vec<f64>),
    /// `t0` and the end of every accepted step.
    Steps,
}

/// Options of [`solve_ode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdeOptions {
    /// Step-size control (PI with `rtol = atol = 1e-6` by default).
    pub controller: Controller,
    /// What to save (the final state by default).
    pub save_at: SaveAt,
    /// Most steps attempted, accepted plus rejected (16384).
    pub max_steps: usize,
    /// Largest step size magnitude (unbounded by default).
    pub dt_max: f64,
    /// Keep the dense output of every step ([`OdeSolution::dense`]).
    pub dense: bool,
    /// Build the differentiable error and stiffness regularisers of every
    /// accepted step ([`OdeSolution::regularizers`]; off by default). Needs
    /// the adaptive controller (the error estimate is scaled by its
    /// tolerances).
    #[serde(default)]
    pub regularizers: bool,
}

impl Default for OdeOptions {
    fn default() -> Self {
        OdeOptions {
            controller: Controller::default(),
            save_at: SaveAt::Final,
            max_steps: 16384,
            dt_max: f64::INFINITY,
            dense: false,
            regularizers: false,
        }
    }
}

impl OdeOptions {
    /// Default options with a PI controller at these tolerances.
    pub fn tolerances(rtol: f64, atol: f64) -> Self {
        OdeOptions {
            controller: Controller::Pid(PidController::new(rtol, atol)),
            ..OdeOptions::default()
        }
    }

    /// Default options with constant steps.
    pub fn constant() -> Self {
        OdeOptions {
            controller: Controller::Constant,
            ..OdeOptions::default()
        }
    }

    /// The same options saving at `save_at`.
    pub fn with_save_at(mut self, save_at: SaveAt) -> Self {
        self.save_at = save_at;
        self
    }
}

/// Statistics of one accepted step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Start of the step.
    pub t: f64,
    /// Signed step size.
    pub dt: f64,
    /// Scaled RMS local error estimate ([`error_norm`]); `None` with a
    /// constant step size or a method without an error estimate.
    pub error: Option<f64>,
    /// Stiffness estimate `|dt| * rho` (see the module docs).
    pub stiffness: f64,
}

/// Statistics of a solve.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OdeStats {
    /// Number of vector-field evaluations.
    pub nfe: usize,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
    /// One entry per accepted step.
    pub steps: Vec<StepStats>,
}

/// The piecewise cubic Hermite interpolant of a solve: `y` and `f` at the
/// ends of every accepted step.
#[derive(Debug, Clone)]
pub struct DenseOutput<S> {
    /// Step end points, `t0` first.
    pub ts: Vec<f64>,
    /// States at `ts`.
    pub ys: Vec<S>,
    /// Derivatives at `ts`.
    pub fs: Vec<S>,
}

impl<S: OdeState> DenseOutput<S> {
    /// The interpolated state at `t` (within the solved interval).
    pub fn evaluate(&self, t: f64) -> Result<S, SolveError> {
        let (Some(&first), Some(&last)) = (self.ts.first(), self.ts.last()) else {
            return Err(SolveError::BadArgument("the dense output is empty".into()));
        };
        let dir = if last >= first { 1.0 } else { -1.0 };
        if !t.is_finite() || (t - first) * dir < 0.0 || (t - last) * dir > 0.0 {
            return Err(SolveError::BadArgument(format!(
                "t = {t} is outside the solved interval [{first}, {last}]"
            )));
        }
        // First step end at or beyond t.
        let i = self
            .ts
            .partition_point(|&s| (s - t) * dir < 0.0)
            .clamp(1, self.ts.len().max(2) - 1);
        if self.ts.len() == 1 {
            return Ok(self.ys[0].clone());
        }
        let (t0, t1) = (self.ts[i - 1], self.ts[i]);
        hermite(
            t0,
            t1 - t0,
            &self.ys[i - 1],
            &self.fs[i - 1],
            &self.ys[i],
            &self.fs[i],
            t,
        )
    }
}

/// The result of [`solve_ode`].
#[derive(Debug, Clone)]
pub struct OdeSolution<S> {
    /// Saved times.
    pub ts: Vec<f64>,
    /// Saved states.
    pub ys: Vec<S>,
    /// Statistics.
    pub stats: OdeStats,
    /// The dense output, when [`OdeOptions::dense`] was set.
    pub dense: Option<DenseOutput<S>>,
    /// The differentiable regularisers of the accepted steps, when
    /// [`OdeOptions::regularizers`] was set.
    pub regularizers: Option<Regularizers<S>>,
}

/// The differentiable per-step regularisers of a solve (see the module
/// docs), one entry per accepted step, in the order of
/// [`OdeStats::steps`]. Each entry is a one-element state (a scalar `Var`).
#[derive(Debug, Clone)]
pub struct Regularizers<S> {
    /// `E_j * |dt_j|`: the scaled RMS error estimate times the step size.
    pub error: Vec<S>,
    /// `rho_j * |dt_j|`: the stiffness estimate ([`StepStats::stiffness`]).
    pub stiffness: Vec<S>,
}

impl<S: OdeState> Regularizers<S> {
    /// `mean_j E_j * |dt_j|`, the error regulariser (ERNODE).
    pub fn error_mean(&self) -> Result<S, SolveError> {
        mean_of(&self.error)
    }

    /// `mean_j rho_j * |dt_j|`, the stiffness regulariser (SRNODE).
    pub fn stiffness_mean(&self) -> Result<S, SolveError> {
        mean_of(&self.stiffness)
    }
}

fn mean_of<S: OdeState>(terms: &[S]) -> Result<S, SolveError> {
    let Some((first, rest)) = terms.split_first() else {
        return Err(SolveError::BadArgument(
            "no accepted step to average over".into(),
        ));
    };
    let rest: Vec<(f64, &S)> = rest.iter().map(|t| (1.0, t)).collect();
    first.lincomb(&rest)?.scaled_by(1.0 / terms.len() as f64)
}

impl<S> OdeSolution<S> {
    /// The last saved state (`y(t1)` unless saving at times before `t1`).
    pub fn last(&self) -> Option<&S> {
        self.ys.last()
    }
}

/// The scaled RMS error norm used for step acceptance:
/// `sqrt(mean_i (err_i / (atol + rtol * max(|y_prev_i|, |y_new_i|)))^2)`
/// (0 for an empty state).
pub fn error_norm(err: &[f64], y_prev: &[f64], y_new: &[f64], rtol: f64, atol: f64) -> f64 {
    if err.is_empty() {
        return 0.0;
    }
    let sum: f64 = err
        .iter()
        .zip(y_prev.iter().zip(y_new))
        .map(|(e, (a, b))| {
            let r = e / (atol + rtol * a.abs().max(b.abs()));
            r * r
        })
        .sum();
    libm::sqrt(sum / err.len() as f64)
}

/// Cubic Hermite interpolation on the step from `t0` to `t0 + dt` with
/// states `y0`, `y1` and derivatives `f0`, `f1`, evaluated at `t`.
pub fn hermite<S: OdeState>(
    t0: f64,
    dt: f64,
    y0: &S,
    f0: &S,
    y1: &S,
    f1: &S,
    t: f64,
) -> Result<S, SolveError> {
    if dt == 0.0 {
        return Ok(y0.clone());
    }
    let s = (t - t0) / dt;
    let (s2, s3) = (s * s, s * s * s);
    let h01 = 3.0 * s2 - 2.0 * s3;
    let h10 = s3 - 2.0 * s2 + s;
    let h11 = s3 - s2;
    y0.lincomb(&[(-h01, y0), (h01, y1), (h10 * dt, f0), (h11 * dt, f1)])
}

fn rms(v: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in v {
        sum += x * x;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        libm::sqrt(sum / n as f64)
    }
}

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Counts evaluations of the vector field.
struct Counted<F> {
    f: F,
    nfe: usize,
}

impl<F> Counted<F> {
    fn call<S>(&mut self, t: f64, y: &S) -> Result<S, SolveError>
    where
        F: FnMut(f64, &S) -> Result<S, SolveError>,
    {
        self.nfe += 1;
        (self.f)(t, y)
    }
}

/// Collects the saved points as steps are accepted.
struct Saver<S> {
    mode: SaveAt,
    /// +1 forwards, -1 backwards (`t1 < t0`): which side of a step's end
    /// a requested time must be on to be saved (a step of `dt == 0` has no
    /// direction of its own).
    direction: f64,
    next: usize,
    ts: Vec<f64>,
    ys: Vec<S>,
}

impl<S: OdeState> Saver<S> {
    /// Saves every requested time in `(t, t + dt]` (or at `t` itself when `dt == 0`).
    fn step(&mut self, t: f64, dt: f64, y0: &S, f0: &S, y1: &S, f1: &S) -> Result<(), SolveError> {
        let t_end = t + dt;
        match &self.mode {
            SaveAt::Steps => {
                self.ts.push(t_end);
                self.ys.push(y1.clone());
            }
            SaveAt::Times(times) => {
                while let Some(&ts) = times.get(self.next) {
                    if (ts - t_end) * self.direction > 0.0 {
                        break;
                    }
                    let y = if ts == t_end {
                        y1.clone()
                    } else {
                        hermite(t, dt, y0, f0, y1, f1, ts)?
                    };
                    self.ts.push(ts);
                    self.ys.push(y);
                    self.next += 1;
                }
            }
            SaveAt::Final => {}
        }
        Ok(())
    }
}

fn check_args(
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    options: &OdeOptions,
) -> Result<(), SolveError> {
    let bad = |m: String| Err(SolveError::BadArgument(m));
    if !t0.is_finite() || !t1.is_finite() {
        return bad(format!("t0 = {t0} and t1 = {t1} must be finite"));
    }
    if t0 == t1 {
        return bad(format!(
            "t0 and t1 are both {t0}: there is nothing to integrate"
        ));
    }
    if let Some(dt) = dt0 {
        if !dt.is_finite() || dt == 0.0 {
            return bad(format!("dt0 = {dt} must be a finite, non-zero step"));
        }
        if dt.signum() != (t1 - t0).signum() {
            return bad(format!(
                "dt0 = {dt} points away from t1 = {t1} (from t0 = {t0}); its sign must be that of t1 - t0"
            ));
        }
    }
    if options.dt_max.is_nan() || options.dt_max <= 0.0 {
        return bad(format!("dt_max = {} must be positive", options.dt_max));
    }
    match options.controller {
        Controller::Constant => {
            if dt0.is_none() {
                return bad("a constant step size needs dt0".into());
            }
            if options.regularizers {
                return bad(
                    "the regularisers need the adaptive controller: the error estimate is scaled by its tolerances"
                        .into(),
                );
            }
        }
        Controller::Pid(c) => {
            if !solver.is_adaptive() {
                return bad(format!(
                    "{:?} has no error estimate and cannot adapt its step: use Controller::Constant, or Bosh3/Dopri5/Tsit5",
                    solver
                ));
            }
            if !(c.rtol > 0.0 && c.atol > 0.0 && c.rtol.is_finite() && c.atol.is_finite()) {
                return bad(format!(
                    "the tolerances must be positive, got rtol = {} and atol = {}",
                    c.rtol, c.atol
                ));
            }
            if !(c.safety > 0.0 && c.factor_min > 0.0 && c.factor_min <= 1.0 && c.factor_max >= 1.0)
            {
                return bad(
                    "the controller needs safety > 0 and 0 < factor_min <= 1 <= factor_max".into(),
                );
            }
        }
    }
    if options.max_steps == 0 {
        return bad("max_steps must be at least 1".into());
    }
    if let SaveAt::Times(times) = &options.save_at {
        let dir = (t1 - t0).signum();
        let mut prev = t0;
        for &s in times {
            if !s.is_finite() || (s - t0) * dir < 0.0 || (s - t1) * dir > 0.0 {
                return bad(format!("save time {s} is outside [{t0}, {t1}]"));
            }
            if (s - prev) * dir < 0.0 {
                return bad("save times must be sorted in the direction of integration".into());
            }
            prev = s;
        }
    }
    Ok(())
}

/// Hairer's starting step size (*Solving ODEs I*, II.4).
#[allow(clippy::too_many_arguments)]
fn initial_step<S: OdeState, F: FnMut(f64, &S) -> Result<S, SolveError>>(
    f: &mut Counted<F>,
    t0: f64,
    dir: f64,
    span: f64,
    y0: &S,
    f0: &S,
    order: u32,
    c: &PidController,
    dt_max: f64,
) -> Result<f64, SolveError> {
    let yv = y0.values()?;
    let fv = f0.values()?;
    let sc: Vec<f64> = yv.iter().map(|y| c.atol + c.rtol * y.abs()).collect();
    let d0 = rms(yv.iter().zip(&sc).map(|(y, s)| y / s));
    let d1 = rms(fv.iter().zip(&sc).map(|(y, s)| y / s));
    let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    h0 = h0.min(span).min(dt_max);
    let y1 = y0.lincomb(&[(dir * h0, f0)])?;
    let f1 = f.call(t0 + dir * h0, &y1)?.values()?;
    let d2 = rms(f1.iter().zip(&fv).zip(&sc).map(|((a, b), s)| (a - b) / s)) / h0;
    let dmax = d1.max(d2);
    let h1 = if !dmax.is_finite() {
        h0 * 1e-3
    } else if dmax <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        libm::pow(0.01 / dmax, 1.0 / f64::from(order + 1))
    };
    Ok((100.0 * h0).min(h1).min(span).min(dt_max))
}

/// Solves `dy/dt = f(t, y)` from `y(t0) = y0` to `t1`.
///
/// * `solver`: the method ([`Solver`]).
/// * `dt0`: the (signed) first step size; required for
///   [`Controller::Constant`], chosen automatically for the adaptive
///   controller when `None`. Its sign must be that of `t1 - t0`.
/// * `f`: the vector field; for [`Var`](odeon_autodiff::Var) states it
///   builds `Var` operations (any `AutodiffError` converts with `?`).
///
/// Returns the saved points and statistics, or a [`SolveError`] that says
/// what went wrong (too many steps, step-size underflow, a non-finite
/// state, bad arguments). Never panics.
pub fn solve_ode<S, F>(
    f: F,
    solver: Solver,
    t0: f64,
    t1: f64,
    dt0: Option<f64>,
    y0: &S,
    options: &OdeOptions,
) -> Result<OdeSolution<S>, SolveError>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S, SolveError>,
{
    check_args(solver, t0, t1, dt0, options)?;
    let tab = solver.tableau();
    let s = tab.stages();
    let dir = if t1 > t0 { 1.0 } else { -1.0 };
    let span = (t1 - t0).abs();
    let mut f = Counted { f, nfe: 0 };
    let mut stats = OdeStats::default();

    let mut y = y0.clone();
    let mut yv = y.values()?;
    if !all_finite(&yv) {
        return Err(SolveError::NonFinite { t: t0 });
    }
    let mut k1 = f.call(t0, &y)?;
    let mut saver = Saver {
        mode: options.save_at.clone(),
        direction: if t1 < t0 { -1.0 } else { 1.0 },
        next: 0,
        ts: Vec::new(),
        ys: Vec::new(),
    };
    match &options.save_at {
        SaveAt::Steps => {
            saver.ts.push(t0);
            saver.ys.push(y.clone());
        }
        SaveAt::Times(_) => saver.step(t0, 0.0, &y, &k1, &y, &k1)?,
        SaveAt::Final => {}
    }
    let mut dense = options.dense.then(|| DenseOutput {
        ts: vec![t0],
        ys: vec![y.clone()],
        fs: vec![k1.clone()],
    });

    let pid = match options.controller {
        Controller::Pid(c) => Some(c),
        Controller::Constant => None,
    };
    let mut dt = match (dt0, pid) {
        (Some(dt), _) => dt,
        (None, Some(c)) => {
            dir * initial_step(
                &mut f,
                t0,
                dir,
                span,
                &y,
                &k1,
                tab.order,
                &c,
                options.dt_max,
            )?
        }
        (None, None) => {
            return Err(SolveError::BadArgument(
                "a constant step size needs dt0".into(),
            ));
        }
    };
    // Constant steps: step `i` starts at `t0 + i * dt0` (no accumulated round-off).
    let n_const = if pid.is_none() {
        (libm::ceil(span / dt.abs() - 1e-9) as usize).max(1)
    } else {
        0
    };
    let k_exp = f64::from(tab.embedded_order + 1);
    let mut regularizers = options.regularizers.then(|| Regularizers {
        error: Vec::new(),
        stiffness: Vec::new(),
    });

    let mut t = t0;
    let mut attempts = 0usize;
    let mut e_prev = 1.0f64;
    let mut after_reject = false;
    let mut nonfinite_reject = false;
    loop {
        let done = if pid.is_some() {
            (t1 - t) * dir <= 0.0
        } else {
            stats.accepted >= n_const
        };
        if done {
            break;
        }
        if attempts >= options.max_steps {
            return Err(SolveError::MaxSteps {
                max_steps: options.max_steps,
                t,
            });
        }
        attempts += 1;
        // The step to try.
        let (h, last) = if pid.is_some() {
            let mut h = dir * dt.abs().min(options.dt_max);
            let last = (t1 - t).abs() <= h.abs() * (1.0 + 1e-9);
            if last {
                h = t1 - t;
            }
            if t + h == t || h.abs() <= 4.0 * f64::EPSILON * t.abs() {
                return Err(if nonfinite_reject {
                    SolveError::NonFinite { t }
                } else {
                    SolveError::StepSizeUnderflow { t, dt: h }
                });
            }
            (h, last)
        } else {
            let i = stats.accepted;
            let start = t0 + i as f64 * dt;
            t = start;
            let last = i + 1 == n_const;
            (if last { t1 - start } else { dt }, last)
        };

        let Stages { ks, gs, y_new } = take_stages(&mut f, tab, t, h, &y, &k1)?;
        let ynv = y_new.values()?;
        let finite = all_finite(&ynv) && (!tab.fsal || all_finite(&ks[s - 1].values()?));

        // Error control.
        let mut error = None;
        if let (Some(c), Some(b_err)) = (pid, tab.b_err) {
            let e = if finite {
                let mut err = vec![0.0; ynv.len()];
                for (&be, k) in b_err.iter().zip(&ks) {
                    if be != 0.0 {
                        for (e, kv) in err.iter_mut().zip(k.values()?) {
                            *e += be * h * kv;
                        }
                    }
                }
                error_norm(&err, &yv, &ynv, c.rtol, c.atol)
            } else {
                f64::INFINITY
            };
            if !e.is_finite() || e > 1.0 {
                stats.rejected += 1;
                nonfinite_reject = !e.is_finite();
                let factor = if e.is_finite() {
                    c.factor_min.max(c.safety * libm::pow(e, -1.0 / k_exp))
                } else {
                    c.factor_min
                };
                dt = h * factor.min(1.0);
                after_reject = true;
                continue;
            }
            error = Some(e);
            let mut factor = if e == 0.0 {
                c.factor_max
            } else {
                c.safety
                    * libm::pow(e, -(c.pcoeff + c.icoeff) / k_exp)
                    * libm::pow(e_prev, c.pcoeff / k_exp)
            };
            factor = factor.clamp(c.factor_min, c.factor_max);
            if after_reject {
                factor = factor.min(1.0);
            }
            e_prev = e.max(1e-4);
            after_reject = false;
            nonfinite_reject = false;
            if !last {
                dt = h * factor;
            }
        } else if !finite {
            return Err(SolveError::NonFinite { t: t + h });
        }

        // Accept.
        let f_end = if tab.fsal {
            ks[s - 1].clone()
        } else {
            f.call(t + h, &y_new)?
        };
        let f_end_v = f_end.values()?;
        let (g_prev, k_prev) = if tab.fsal {
            (&gs[s - 2], &ks[s - 2])
        } else {
            (&gs[s - 1], &ks[s - 1])
        };
        let (gpv, kpv) = (g_prev.values()?, k_prev.values()?);
        let num = rms(f_end_v.iter().zip(&kpv).map(|(a, b)| a - b));
        let den = rms(ynv.iter().zip(&gpv).map(|(a, b)| a - b));
        let stiffness = if den > 0.0 && num.is_finite() {
            h.abs() * num / den
        } else {
            0.0
        };
        if let (Some(regs), Some(c), Some(b_err)) = (regularizers.as_mut(), pid, tab.b_err) {
            let (e, st) =
                differentiable_estimates(b_err, h, &ks, &y, &y_new, &f_end, g_prev, k_prev, &c)?;
            regs.error.push(e);
            regs.stiffness.push(st);
        }
        stats.accepted += 1;
        stats.steps.push(StepStats {
            t,
            dt: h,
            error,
            stiffness,
        });
        let t_new = if last { t1 } else { t + h };
        saver.step(t, t_new - t, &y, &k1, &y_new, &f_end)?;
        if let Some(d) = dense.as_mut() {
            d.ts.push(t_new);
            d.ys.push(y_new.clone());
            d.fs.push(f_end.clone());
        }
        t = t_new;
        y = y_new;
        yv = ynv;
        k1 = f_end;
        if pid.is_none() && !all_finite(&f_end_v) {
            return Err(SolveError::NonFinite { t });
        }
    }
    if let SaveAt::Final = options.save_at {
        saver.ts.push(t1);
        saver.ys.push(y);
    }
    stats.nfe = f.nfe;
    Ok(OdeSolution {
        ts: saver.ts,
        ys: saver.ys,
        stats,
        dense,
        regularizers,
    })
}

/// The stages of one Runge-Kutta step.
struct Stages<S> {
    /// Stage derivatives `k_i`.
    ks: Vec<S>,
    /// Stage arguments `g_i` (`g_1 = y`).
    gs: Vec<S>,
    /// The propagated solution.
    y_new: S,
}

/// Evaluates the stages of a step of size `h` from `(t, y)` with
/// `k1 = f(t, y)` given.
fn take_stages<S, F>(
    f: &mut Counted<F>,
    tab: &ButcherTableau,
    t: f64,
    h: f64,
    y: &S,
    k1: &S,
) -> Result<Stages<S>, SolveError>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S, SolveError>,
{
    let s = tab.stages();
    let mut ks: Vec<S> = Vec::with_capacity(s);
    let mut gs: Vec<S> = Vec::with_capacity(s);
    ks.push(k1.clone());
    gs.push(y.clone());
    for i in 1..s {
        let terms: Vec<(f64, &S)> = tab.a[i].iter().zip(&ks).map(|(&a, k)| (a * h, k)).collect();
        let g = y.lincomb(&terms)?;
        let k = f.call(t + tab.c[i] * h, &g)?;
        gs.push(g);
        ks.push(k);
    }
    let y_new = if tab.fsal {
        gs[s - 1].clone()
    } else {
        let terms: Vec<(f64, &S)> = tab.b.iter().zip(&ks).map(|(&b, k)| (b * h, k)).collect();
        y.lincomb(&terms)?
    };
    Ok(Stages { ks, gs, y_new })
}

/// The differentiable `(E * |h|, rho * |h|)` of a step: the local error
/// `h * sum_i b_err_i k_i` in the scaled RMS norm, and Hairer's stiffness
/// ratio over the last two stages (`f_end` and `k_prev` at `y_new` and
/// `g_prev`).
#[allow(clippy::too_many_arguments)]
fn differentiable_estimates<S: OdeState>(
    b_err: &[f64],
    h: f64,
    ks: &[S],
    y: &S,
    y_new: &S,
    f_end: &S,
    g_prev: &S,
    k_prev: &S,
    c: &PidController,
) -> Result<(S, S), SolveError> {
    let mut terms = b_err.iter().zip(ks).filter(|(be, _)| **be != 0.0);
    let Some((&b0, k0)) = terms.next() else {
        return Err(SolveError::BadArgument(
            "the method has no error estimate".into(),
        ));
    };
    let rest: Vec<(f64, &S)> = terms.map(|(&be, k)| (be * h, k)).collect();
    let err = k0.scaled_by(b0 * h)?.lincomb(&rest)?;
    let error = err
        .scaled_rms(y, y_new, c.rtol, c.atol)?
        .scaled_by(h.abs())?;
    let dk = f_end.lincomb(&[(-1.0, k_prev)])?;
    let dg = y_new.lincomb(&[(-1.0, g_prev)])?;
    let stiffness = dk.rms_ratio(&dg)?.scaled_by(h.abs())?;
    Ok((error, stiffness))
}

/// One step of [`single_step`], differentiable when the states are `Var`s.
#[derive(Debug, Clone)]
pub struct SingleStep<S> {
    /// The state at the end of the step.
    pub y: S,
    /// `E * |dt|`: the scaled RMS local error estimate times the step size
    /// (one-element state), the local regulariser.
    pub error: S,
    /// `rho * |dt|`: the stiffness estimate (one-element state).
    pub stiffness: S,
    /// The plain value of `E` (a solve accepts the step when it is <= 1;
    /// [`single_step`] takes it whatever its value).
    pub eest: f64,
    /// The signed step size taken.
    pub dt: f64,
    /// Vector-field evaluations: `f(t, y)`, one for the automatic first
    /// step when `dt` was `None`, and the remaining stages (8 in all for
    /// `Tsit5` with the automatic step).
    pub nfe: usize,
}

/// Takes one step of the embedded pair `solver` from `(t, y)`, as a fresh
/// solve towards `t_end` would, and returns the new state with the
/// differentiable error and stiffness estimates of the step (the local
/// regulariser of Pal et al. 2022).
///
/// * `dt`: the signed step size, or `None` for the controller's automatic
///   first step (Hairer's algorithm, the one [`solve_ode`] uses, capped by
///   `|t_end - t|` and the controller's tolerances).
/// * `t_end`: sets the direction (the sign of `dt` must match) and caps the
///   automatic step; the step itself is not shortened to end there.
///
/// The step is taken whatever its error: nothing is rejected or retried.
/// The step size is a constant for the gradient; only this step's
/// operations are recorded, so any way of differentiating the main solve
/// can be combined with it.
pub fn single_step<S, F>(
    f: F,
    solver: Solver,
    t: f64,
    t_end: f64,
    dt: Option<f64>,
    y: &S,
    controller: &PidController,
) -> Result<SingleStep<S>, SolveError>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S, SolveError>,
{
    let options = OdeOptions {
        controller: Controller::Pid(*controller),
        ..OdeOptions::default()
    };
    check_args(solver, t, t_end, dt, &options)?;
    let tab = solver.tableau();
    let Some(b_err) = tab.b_err else {
        return Err(SolveError::BadArgument(format!(
            "{solver:?} has no error estimate"
        )));
    };
    let dir = if t_end > t { 1.0 } else { -1.0 };
    let mut f = Counted { f, nfe: 0 };
    if !all_finite(&y.values()?) {
        return Err(SolveError::NonFinite { t });
    }
    let k1 = f.call(t, y)?;
    let h = match dt {
        Some(h) => h,
        None => {
            dir * initial_step(
                &mut f,
                t,
                dir,
                (t_end - t).abs(),
                y,
                &k1,
                tab.order,
                controller,
                f64::INFINITY,
            )?
        }
    };
    let Stages { ks, gs, y_new } = take_stages(&mut f, tab, t, h, y, &k1)?;
    let s = tab.stages();
    let f_end = if tab.fsal {
        ks[s - 1].clone()
    } else {
        f.call(t + h, &y_new)?
    };
    let (g_prev, k_prev) = if tab.fsal {
        (&gs[s - 2], &ks[s - 2])
    } else {
        (&gs[s - 1], &ks[s - 1])
    };
    let (error, stiffness) =
        differentiable_estimates(b_err, h, &ks, y, &y_new, &f_end, g_prev, k_prev, controller)?;
    let ev = error.values()?;
    let eest = ev.first().copied().unwrap_or(f64::NAN) / h.abs();
    if !eest.is_finite() || !all_finite(&y_new.values()?) {
        return Err(SolveError::NonFinite { t: t + h });
    }
    Ok(SingleStep {
        y: y_new,
        error,
        stiffness,
        eest,
        dt: h,
        nfe: f.nfe,
    })
}
