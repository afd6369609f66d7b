//! Gauge freedom, conservativity and intrinsic dimension (after Horvat &
//! Pfister, ICLR 2024).
//!
//! ## Gauge freedom
//! A diffusion model samples by the probability-flow ODE
//! `dx/dt = -beta(t)/2 (x + s(x, t))`. The score field `s` does not have to
//! be `grad log p_t` for the ODE to carry the right marginals: writing
//! `s = grad log p_t + r`, the continuity equation only sees `div(p_t r)`,
//! so any remainder with `div(p_t r) = 0` leaves every marginal, hence the
//! samples' law and the likelihoods, unchanged. What does change are the
//! individual paths and which noise ends where.
//!
//! The cleanest remainder is a constant antisymmetric `J`: with
//! `s' = (I + J) grad log p_t`, `div(p_t J grad log p_t) = div(J grad p_t) =
//! sum_ik J_ik d_i d_k p_t = 0`, and the likelihood integrand is untouched
//! too (`div(J grad log p_t) = tr(J H) = 0` for the symmetric Hessian `H`).
//! [`gauge_demo`] checks this with the exact score of a 2-D Gaussian
//! mixture: the same noise, pushed through both fields, lands at clearly
//! different points (mean paired distance), but the two sample sets agree
//! in law (MMD² at the level of its own sampling noise) and the exact
//! probability-flow likelihoods agree to solver precision.
//!
//! **The MMD criterion.** The unbiased MMD² of two finite samples of one law
//! fluctuates around 0. Its noise level here is measured directly: the
//! standard deviation of the unbiased MMD² between independent pairs of
//! data draws of the same size and the same kernel (RBF, median bandwidth
//! of the two sample sets). "MMD ~ 0" means `|MMD²| <= 3` such standard
//! deviations ([`GaugeDemo::mmd2_noise`]).
//!
//! ## Intrinsic dimension from the flow map
//! For data on a `k`-dimensional manifold in `R^D`, the probability-flow
//! map `phi_t` from noise at `t = 1` to time `t` stretches the `k` tangent
//! directions to an order-one size while squeezing the `D - k` normal ones
//! with the noise scale (`~ s(t)`, exactly so for data on a flat
//! manifold). So the singular values of the Jacobian `d phi_t(x) / dx`
//! along a trajectory split into `k` that level off and `D - k` that go to 0.
//! [`estimate_dimensions`] integrates the ODE from noise down to a small
//! `t_min` together with its variational equation `dJ/dt = (df/dx) J`
//! (`J(1) = I`, the network's Jacobian from automatic differentiation, f64
//! state) and reads the singular values at the end.
//!
//! **The gap rule (ours).** Sort the singular values `sigma_1 >= ... >=
//! sigma_D` and put `sigma_0 = 1`, the scale of the identity the map starts
//! from. The estimate is the `k` in `0..D` with the largest drop `log
//! sigma_k - log sigma_{k+1}`; when even that drop is below
//! `log(gap_ratio)`, nothing vanished and the estimate is `D`.
//! [`DimensionEstimate::mean_gap`] reports, as a margin, the drop at the
//! true dimension in decades.
//!
//! ## Conservative and free score models
//! A free network `F(x, t) -> R^D` need not be a gradient field: the
//! gauge freedom above means the denoising loss does not pin down its
//! rotational part, which can bend trajectories and blur the flow map's
//! spectrum. A conservative model is a gradient by construction:
//! `F = grad_x E(x, t)` with a scalar network `E`. Both are trained here by
//! the same denoising score matching on the same data, noise and time
//! draws, with the same widths, steps and seeds. The conservative model
//! trains through the shared [`Trainer`] with
//! [`Regression::Gradient`](crate::training): the input is a tracked leaf,
//! the energy's input gradient is recorded (`create_graph`), and the loss
//! on it is differentiated again for Adam. So it runs on every backend the
//! trainer does, WebGPU included.
//!
//! Both models predict like a [`DiffusionModel`](crate::diffusion::DiffusionModel)
//! (`skip(t) x + F(x scaled, t)`); the default parameterisation is the
//! noise (score `= -eps / s(t)`), whose network output stays of order one
//! as `t -> 0`, where the intrinsic dimension is read. The score is then a
//! gradient in `x` exactly when `F` is one (the skip and the factors
//! depend on `t` only).

use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_nn::{Activation, Mlp, Module};
use odeon_solve::linalg::{Matrix, svd};
use odeon_solve::metrics::{Kernel, MmdEstimator, median_bandwidth, mmd2};
use odeon_solve::ode::{OdeOptions, SaveAt, SolveError, Solver, solve_ode};
use odeon_tensor::{Backend, Cpu, SeedStream, Tensor};

use crate::diffusion::{Parameterisation, T_MIN, VpSchedule, WEIGHT_AVERAGE_DECAY, denoising_batch, input_scale, pf_ode_drift, pf_ode_log_likelihood_gauged};
use crate::gmm::Gmm;
use crate::rectified_flow::{TIME_FEATURES, TrainConfig, TrainReport, time_features};
use crate::training::{Batch, BatchSource, Regression, Trainer, run_and_apply, set_mlp_parameters};
use crate::{MethodError, Monitor};

// ---------------------------------------------------------------------------
// Part (a): the exact gauge demo.
// ---------------------------------------------------------------------------

/// Settings of [`gauge_demo`] and [`gauge_trajectories`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaugeDemoConfig {
    /// Modes of the 2-D ring mixture (8).
    pub modes: usize,
    /// Radius of the ring (4).
    pub radius: f64,
    /// Standard deviation of each mode (0.3).
    pub std: f64,
    /// Gauge strength `j` in `J = j [[0, -1], [1, 0]]` (2).
    pub strength: f64,
    /// Samples per field (500).
    pub samples: usize,
    /// Data points whose likelihood is computed under both fields (16).
    pub likelihood_points: usize,
    /// Independent pairs of data draws for the MMD² noise level (16).
    pub null_pairs: usize,
    /// Solver tolerance, `rtol = atol` (1e-8).
    pub tol: f64,
    /// Seed of the noise and data draws.
    pub seed: u64,
}

impl Default for GaugeDemoConfig {
    fn default() -> Self {
        GaugeDemoConfig { modes: 8, radius: 4.0, std: 0.3, strength: 2.0, samples: 500, likelihood_points: 16, null_pairs: 16, tol: 1e-8, seed: 0 }
    }
}

impl GaugeDemoConfig {
    fn check(&self) -> Result<(), MethodError> {
        if self.modes == 0 || !(self.radius.is_finite() && self.radius >= 0.0) || !(self.std > 0.0 && self.std.is_finite()) {
            return Err(MethodError::Config(format!("the ring needs at least one mode, a radius >= 0 and a positive std; got {}, {}, {}", self.modes, self.radius, self.std)));
        }
        if !self.strength.is_finite() {
            return Err(MethodError::Config(format!("the gauge strength must be finite; got {}", self.strength)));
        }
        if self.samples < 2 || self.samples > 20_000 || self.null_pairs < 2 || self.likelihood_points > 10_000 {
            return Err(MethodError::Config(format!(
                "samples must be in 2..=20000, null pairs at least 2 and likelihood points at most 10000; got {}, {}, {}",
                self.samples, self.null_pairs, self.likelihood_points
            )));
        }
        if !(self.tol > 0.0 && self.tol <= 1e-3) {
            return Err(MethodError::Config(format!("the solver tolerance must be in (0, 1e-3]; got {}", self.tol)));
        }
        Ok(())
    }

    /// The data law, a ring of Gaussians.
    pub fn data(&self) -> Result<Gmm, MethodError> {
        Gmm::ring(self.modes, self.radius, self.std)
    }

    /// The gauge `J = j [[0, -1], [1, 0]]`, row-major.
    pub fn gauge(&self) -> [f64; 4] {
        [0.0, -self.strength, self.strength, 0.0]
    }

    /// The shared prior draws at `t = 1` (flat `[samples, 2]`), from the
    /// exact noised marginal `p_1` (within `1e-4` of `N(0, I)` in scale).
    fn prior(&self, data: &Gmm, schedule: &VpSchedule) -> Result<Vec<f64>, MethodError> {
        let mut rng = SeedStream::new(self.seed, "gauge/prior");
        Ok(schedule.marginal(data, 1.0).sample(self.samples, &mut rng)?.to_f64_vec()?)
    }
}

/// What [`gauge_demo`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeDemo {
    /// Samples of the plain field `grad log p_t` (flat `[n, 2]`).
    pub plain: Vec<f64>,
    /// Samples of the gauged field from the same noise.
    pub gauged: Vec<f64>,
    /// Mean distance between the two endpoints of the same noise.
    pub mean_pair_distance: f64,
    /// Unbiased MMD² between the plain and gauged samples.
    pub mmd2: f64,
    /// Standard deviation of the unbiased MMD² between independent pairs of
    /// data draws of the same size (the noise level of `mmd2`).
    pub mmd2_noise: f64,
    /// Unbiased MMD² of the plain samples to a fresh data draw.
    pub mmd2_plain_to_data: f64,
    /// Unbiased MMD² of the gauged samples to the same data draw.
    pub mmd2_gauged_to_data: f64,
    /// The RBF bandwidth (median heuristic on the two sample sets).
    pub bandwidth: f64,
    /// Exact `log p_0` at the likelihood points.
    pub log_density: Vec<f64>,
    /// Probability-flow `log p_0` with the plain field.
    pub log_likelihood_plain: Vec<f64>,
    /// Probability-flow `log p_0` with the gauged field.
    pub log_likelihood_gauged: Vec<f64>,
    /// `max |NLL_plain - NLL_gauged|` over the likelihood points.
    pub max_dnll: f64,
    /// `max |log-likelihood - log p_0|` over both fields and the points.
    pub max_error_to_exact: f64,
    /// Mean vector-field evaluations per sample, plain field.
    pub nfe_plain: f64,
    /// Mean vector-field evaluations per sample, gauged field.
    pub nfe_gauged: f64,
}

impl GaugeDemo {
    /// The numbers as `(name, value)` rows for a metrics table.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("mean paired endpoint distance", self.mean_pair_distance),
            ("MMD² plain vs gauged", self.mmd2),
            ("MMD² noise level (std, data vs data)", self.mmd2_noise),
            ("MMD² plain vs data", self.mmd2_plain_to_data),
            ("MMD² gauged vs data", self.mmd2_gauged_to_data),
            ("max |dNLL|", self.max_dnll),
            ("max |log-lik - exact|", self.max_error_to_exact),
            ("NFE per sample, plain", self.nfe_plain),
            ("NFE per sample, gauged", self.nfe_gauged),
        ]
    }
}

/// Integrates the (optionally gauged) probability-flow ODE of one point
/// from `t = 1` to `t = 0`, saving at `save`.
fn flow_point(data: &Gmm, schedule: &VpSchedule, x1: &[f64], gauge: Option<&[f64]>, tol: f64, save: SaveAt) -> Result<(Vec<Vec<f64>>, usize), MethodError> {
    let mut failure: Option<MethodError> = None;
    let field = |t: f64, x: &Vec<f64>| -> Result<Vec<f64>, SolveError> { pf_ode_drift(data, schedule, x, t, gauge).map_err(|e| keep(&mut failure, e)) };
    let solution = solve_ode(field, Solver::Dopri5, 1.0, 0.0, None, &x1.to_vec(), &OdeOptions::tolerances(tol, tol).with_save_at(save));
    if let Some(err) = failure {
        return Err(err);
    }
    let solution = solution?;
    Ok((solution.ys, solution.stats.nfe))
}

/// Classical Runge-Kutta from `t = 1` down to `t_min` in `steps` equal
/// steps of `tau = -log t` (`dy/dtau = -t f(t, y)`), saving at
/// `trace_times` times geometric in `t` (uniform in `tau`, the first at
/// `t = 1`, the last at `t_min`; in between from the solver's dense
/// output). Times are returned in `t`.
fn solve_in_log_time(
    mut field: impl FnMut(f64, &Vec<f64>) -> Result<Vec<f64>, SolveError>,
    t_min: f64,
    steps: usize,
    y0: &Vec<f64>,
    trace_times: usize,
) -> Result<odeon_solve::ode::OdeSolution<Vec<f64>>, SolveError> {
    let end = -libm::log(t_min);
    let taus: Vec<f64> = (0..trace_times).map(|i| end * i as f64 / (trace_times - 1) as f64).collect();
    let options = OdeOptions::constant().with_save_at(SaveAt::Times(taus));
    let in_tau = |tau: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        let t = libm::exp(-tau);
        Ok(field(t, y)?.into_iter().map(|v| -t * v).collect())
    };
    let mut solution = solve_ode(in_tau, Solver::Rk4, 0.0, end, Some(end / steps as f64), y0, &options)?;
    let last = solution.ts.len().saturating_sub(1);
    for (i, t) in solution.ts.iter_mut().enumerate() {
        *t = if i == last { t_min } else { libm::exp(-*t) };
    }
    Ok(solution)
}

/// Keeps a vector-field error for the caller and hands the solver a copy.
fn keep(slot: &mut Option<MethodError>, e: MethodError) -> SolveError {
    let message = e.to_string();
    *slot = Some(e);
    SolveError::VectorField(message)
}

/// Pushes flat `[n, 2]` noise through the field; returns the endpoints
/// and the mean evaluations per point.
fn flow_all(data: &Gmm, schedule: &VpSchedule, x1: &[f64], gauge: Option<&[f64]>, tol: f64) -> Result<(Vec<f64>, f64), MethodError> {
    let d = data.dim();
    let mut out = Vec::with_capacity(x1.len());
    let mut nfe = 0usize;
    for point in x1.chunks(d) {
        let (ys, n) = flow_point(data, schedule, point, gauge, tol, SaveAt::Final)?;
        out.extend(ys.last().ok_or_else(|| MethodError::Config("the solve saved no state".into()))?);
        nfe += n;
    }
    Ok((out, nfe as f64 / (x1.len() / d).max(1) as f64))
}

/// The exact gauge demo (no training): samples and likelihoods of the
/// plain probability-flow field and of the gauged one
/// `s' = (I + J) grad log p_t` on a 2-D ring mixture, with the VP schedule
/// and the exact score, from the same noise (Dormand-Prince at `tol`).
///
/// # Errors
///
/// Bad settings or a failed solve.
pub fn gauge_demo(config: &GaugeDemoConfig) -> Result<GaugeDemo, MethodError> {
    config.check()?;
    let data = config.data()?;
    let schedule = VpSchedule::default();
    let gauge = config.gauge();
    let x1 = config.prior(&data, &schedule)?;
    let (plain, nfe_plain) = flow_all(&data, &schedule, &x1, None, config.tol)?;
    let (gauged, nfe_gauged) = flow_all(&data, &schedule, &x1, Some(&gauge), config.tol)?;
    let n = config.samples;
    let mean_pair_distance = plain.chunks(2).zip(gauged.chunks(2)).map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()).sum::<f64>() / n as f64;

    let bandwidth = median_bandwidth(&plain, &gauged, 2)?;
    let kernel = Kernel::Gaussian { bandwidth };
    let mmd = |a: &[f64], b: &[f64]| mmd2(a, b, 2, kernel, MmdEstimator::Unbiased);
    let mut rng = SeedStream::new(config.seed, "gauge/data");
    let draw = |rng: &mut SeedStream| -> Result<Vec<f64>, MethodError> { Ok(data.sample(n, rng)?.to_f64_vec()?) };
    let reference = draw(&mut rng)?;
    let null: Vec<f64> = (0..config.null_pairs).map(|_| Ok(mmd(&draw(&mut rng)?, &draw(&mut rng)?)?)).collect::<Result<_, MethodError>>()?;
    let null_mean = null.iter().sum::<f64>() / null.len() as f64;
    let mmd2_noise = (null.iter().map(|v| (v - null_mean).powi(2)).sum::<f64>() / (null.len() - 1) as f64).sqrt();

    let points = data.sample(config.likelihood_points, &mut rng)?.to_f64_vec()?;
    let (mut log_density, mut ll_plain, mut ll_gauged) = (Vec::new(), Vec::new(), Vec::new());
    for x0 in points.chunks(2) {
        log_density.push(data.log_density(x0)?);
        ll_plain.push(pf_ode_log_likelihood_gauged(&data, &schedule, x0, None, config.tol)?.log_likelihood);
        ll_gauged.push(pf_ode_log_likelihood_gauged(&data, &schedule, x0, Some(&gauge), config.tol)?.log_likelihood);
    }
    let max_dnll = ll_plain.iter().zip(&ll_gauged).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let max_error_to_exact = log_density.iter().zip(ll_plain.iter().zip(&ll_gauged)).map(|(e, (a, b))| (a - e).abs().max((b - e).abs())).fold(0.0, f64::max);
    Ok(GaugeDemo {
        mmd2: mmd(&plain, &gauged)?,
        mmd2_plain_to_data: mmd(&plain, &reference)?,
        mmd2_gauged_to_data: mmd(&gauged, &reference)?,
        plain,
        gauged,
        mean_pair_distance,
        mmd2_noise,
        bandwidth,
        log_density,
        log_likelihood_plain: ll_plain,
        log_likelihood_gauged: ll_gauged,
        max_dnll,
        max_error_to_exact,
        nfe_plain,
        nfe_gauged,
    })
}

/// Paired probability-flow trajectories for a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeTrajectories {
    /// The saved times, from 1 down to 0.
    pub times: Vec<f64>,
    /// Per point, the plain path (flat `[times, 2]`).
    pub plain: Vec<Vec<f64>>,
    /// Per point, the gauged path from the same noise.
    pub gauged: Vec<Vec<f64>>,
}

/// The paths of the first `points` noise draws of [`gauge_demo`] under
/// both fields, saved at `frames` times uniform in `[0, 1]`.
///
/// # Errors
///
/// Bad settings (`points` in `1..=samples`, `frames` in `2..=2000`) or a failed solve.
pub fn gauge_trajectories(config: &GaugeDemoConfig, points: usize, frames: usize) -> Result<GaugeTrajectories, MethodError> {
    config.check()?;
    if points == 0 || points > config.samples || !(2..=2000).contains(&frames) {
        return Err(MethodError::Config(format!("trajectories need 1..={} points and 2..=2000 frames; got {points} and {frames}", config.samples)));
    }
    let data = config.data()?;
    let schedule = VpSchedule::default();
    let gauge = config.gauge();
    let x1 = config.prior(&data, &schedule)?;
    let times: Vec<f64> = (0..frames).map(|i| 1.0 - i as f64 / (frames - 1) as f64).collect();
    let mut plain = Vec::with_capacity(points);
    let mut gauged = Vec::with_capacity(points);
    for point in x1.chunks(2).take(points) {
        for (g, out) in [(None, &mut plain), (Some(&gauge[..]), &mut gauged)] {
            let (ys, _) = flow_point(&data, &schedule, point, g, config.tol, SaveAt::Times(times.clone()))?;
            out.push(ys.concat());
        }
    }
    Ok(GaugeTrajectories { times, plain, gauged })
}

// ---------------------------------------------------------------------------
// Part (b): intrinsic dimension with a conservative and a free score model.
// ---------------------------------------------------------------------------

/// A manifold the data lie on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifold {
    /// A circle (intrinsic dimension 1).
    Circle,
    /// A 2-sphere (intrinsic dimension 2).
    Sphere,
}

impl Manifold {
    /// Parses `circle` or `sphere`.
    pub fn from_name(name: &str) -> Result<Manifold, MethodError> {
        match name.to_ascii_lowercase().as_str() {
            "circle" | "s1" => Ok(Manifold::Circle),
            "sphere" | "s2" => Ok(Manifold::Sphere),
            other => Err(MethodError::Config(format!("unknown manifold \"{other}\"; choose circle or sphere"))),
        }
    }

    /// The intrinsic dimension.
    pub fn dim(self) -> usize {
        match self {
            Manifold::Circle => 1,
            Manifold::Sphere => 2,
        }
    }
}

/// Points on a circle or sphere of `radius` in a random `(k + 1)`-plane of
/// `R^ambient`, plus optional isotropic Gaussian thickness.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifoldData {
    /// The manifold.
    pub manifold: Manifold,
    /// The ambient dimension `D`.
    pub ambient: usize,
    /// Radius.
    pub radius: f64,
    /// Standard deviation of the Gaussian noise added in every coordinate (0: none).
    pub thickness: f64,
    /// Orthonormal frame of the plane, `[ambient, k + 1]` row-major.
    frame: Vec<f64>,
}

impl ManifoldData {
    /// The manifold in a plane drawn from `seed` (Gram-Schmidt on Gaussian
    /// vectors). Needs `ambient > k + 1`, so that a normal direction exists,
    /// and at most 64.
    ///
    /// # Errors
    ///
    /// Bad sizes, radius or thickness.
    pub fn new(manifold: Manifold, ambient: usize, radius: f64, thickness: f64, seed: u64) -> Result<ManifoldData, MethodError> {
        let cols = manifold.dim() + 1;
        if ambient <= cols || ambient > 64 {
            return Err(MethodError::Config(format!(
                "a {}-D manifold sits in a {cols}-D plane, so the ambient dimension must be in {}..=64; got {ambient}",
                manifold.dim(),
                cols + 1
            )));
        }
        if !(radius > 0.0 && radius.is_finite() && thickness >= 0.0 && thickness.is_finite()) {
            return Err(MethodError::Config(format!("the radius must be positive and the thickness >= 0; got {radius} and {thickness}")));
        }
        let mut rng = SeedStream::new(seed, "gauge/frame");
        let mut columns: Vec<Vec<f64>> = Vec::with_capacity(cols);
        while columns.len() < cols {
            let mut v: Vec<f64> = (0..ambient).map(|_| rng.normal_f64()).collect();
            for c in &columns {
                let dot: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-6 {
                columns.push(v.iter().map(|a| a / norm).collect());
            }
        }
        let frame = (0..ambient).flat_map(|i| columns.iter().map(move |c| c[i])).collect::<Vec<_>>();
        Ok(ManifoldData { manifold, ambient, radius, thickness, frame })
    }

    /// The intrinsic dimension `k`.
    pub fn intrinsic_dim(&self) -> usize {
        self.manifold.dim()
    }

    /// The root mean square of a coordinate, `sqrt(radius^2 / D + thickness^2)`
    /// (the input scale of the models).
    pub fn coordinate_std(&self) -> f64 {
        (self.radius * self.radius / self.ambient as f64 + self.thickness * self.thickness).sqrt()
    }

    /// The coordinates of points (`[n, D]`) in the manifold's `(k + 1)`-plane
    /// (`[n, k + 1]`, the frame's columns as axes): a circle in `R^D`
    /// shows as a circle, whatever the embedding.
    ///
    /// # Errors
    ///
    /// Points of another dimension.
    pub fn plane_coordinates(&self, points: &Tensor) -> Result<Tensor, MethodError> {
        let shape = points.shape();
        if shape.len() != 2 || shape[1] != self.ambient {
            return Err(MethodError::Config(format!("the data are {}-D but the points have shape {shape:?}", self.ambient)));
        }
        let cols = self.intrinsic_dim() + 1;
        let values = points.to_f64_vec()?;
        let out = values.chunks(self.ambient).flat_map(|x| (0..cols).map(move |c| (0..self.ambient).map(|i| self.frame[i * cols + c] * x[i]).sum::<f64>() as f32)).collect();
        Ok(Tensor::from_shape_vec(&[shape[0], cols], out)?)
    }

    /// `n` points as an `[n, D]` f32 tensor.
    ///
    /// # Errors
    ///
    /// Never in practice (the sizes are checked at construction).
    pub fn sample(&self, n: usize, rng: &mut SeedStream) -> Result<Tensor, MethodError> {
        let cols = self.intrinsic_dim() + 1;
        let mut out = Vec::with_capacity(n * self.ambient);
        for _ in 0..n {
            let u = rng.unit_sphere(cols).map_err(|e| MethodError::Config(e.to_string()))?;
            for i in 0..self.ambient {
                let on: f64 = (0..cols).map(|c| self.frame[i * cols + c] * u[c]).sum();
                let noise = if self.thickness > 0.0 { self.thickness * rng.normal_f64() } else { 0.0 };
                out.push((self.radius * on + noise) as f32);
            }
        }
        Ok(Tensor::from_shape_vec(&[n, self.ambient], out)?)
    }
}

/// Whether a score model is a free vector field or a gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreKind {
    /// An MLP with one output per coordinate.
    Free,
    /// `grad_x E` of a scalar MLP `E` (conservative by construction).
    Conservative,
}

/// A time-conditioned score model on `R^D`: the prediction (noise or
/// score, see [`Parameterisation`]) is `skip(t) x + F(x c(t), t)` with
/// `c(t)` the input scale and `F` the network ([`ScoreKind::Free`]) or its
/// energy's input gradient ([`ScoreKind::Conservative`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreModel {
    /// Free or conservative.
    pub kind: ScoreKind,
    /// The MLP on `[x c(t), time features]`; `D` outputs, or 1 when conservative.
    pub net: Mlp,
    /// The dimension `D`.
    pub dim: usize,
    /// What the model predicts: the noise or the score.
    pub parameterisation: Parameterisation,
    /// The VP schedule.
    pub schedule: VpSchedule,
    /// Per-coordinate data scale of the input preconditioning.
    pub data_std: f64,
}

impl ScoreModel {
    /// A model with `layers` hidden layers of `hidden` units.
    ///
    /// # Errors
    ///
    /// Sizes out of range, a non-positive `data_std`, or the velocity
    /// parameterisation (only noise and score are supported).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: ScoreKind,
        dim: usize,
        hidden: usize,
        layers: usize,
        activation: Activation,
        parameterisation: Parameterisation,
        data_std: f64,
        seed: u64,
    ) -> Result<ScoreModel, MethodError> {
        if dim == 0 || dim > 64 || hidden == 0 || hidden > 4096 || layers == 0 || layers > 16 {
            return Err(MethodError::Config(format!("model sizes out of range: dim {dim} (1..=64), hidden {hidden} (1..=4096), layers {layers} (1..=16)")));
        }
        if parameterisation == Parameterisation::Velocity {
            return Err(MethodError::Config("the score models predict the noise or the score; choose eps or score".into()));
        }
        if !(data_std > 0.0 && data_std.is_finite()) {
            return Err(MethodError::Config(format!("data_std must be positive; got {data_std}")));
        }
        let mut sizes = vec![dim + TIME_FEATURES];
        sizes.extend(std::iter::repeat_n(hidden, layers));
        sizes.push(match kind {
            ScoreKind::Free => dim,
            ScoreKind::Conservative => 1,
        });
        let mut rng = SeedStream::new(seed, "gauge/init");
        Ok(ScoreModel { kind, net: Mlp::new(&sizes, activation, &mut rng)?, dim, parameterisation, schedule: VpSchedule::default(), data_std })
    }

    /// `F` and, when asked, `dF / d(scaled x)` per row (`[n, D, D]`, row
    /// `k` the gradient of output `k`) at `(x, t)`, `x` flat `[n, D]`.
    fn network(&self, x: &[f64], t: f64, jacobian: bool) -> Result<(Vec<f64>, Option<Vec<f64>>), MethodError> {
        let d = self.dim;
        if !x.len().is_multiple_of(d) {
            return Err(MethodError::Config(format!("the model works on {d}-D points but got {} numbers", x.len())));
        }
        let n = x.len() / d;
        let c = input_scale(&self.schedule, self.data_std, t);
        let scaled = Tensor::from_shape_vec(&[n, d], x.iter().map(|&v| (v * c) as f32).collect())?;
        let input = Tensor::concat(&[&scaled, &time_features(&vec![t as f32; n])?], 1)?;
        let tape: Rc<Tape> = Tape::new();
        let leaf = tape.leaf(input);
        let params = self.net.bind_constant(&tape);
        let out = self.net.apply(&params, &leaf)?;
        let f: Var = match self.kind {
            ScoreKind::Free => out,
            ScoreKind::Conservative => {
                let grad = tape.grad(&out.sum()?, &[&leaf], jacobian)?.into_iter().next();
                grad.ok_or_else(|| MethodError::Config("the energy gradient is missing".into()))?.slice_axis(1, 0, d)?
            }
        };
        let values = f.value().to_f64_vec()?;
        if !jacobian {
            return Ok((values, None));
        }
        let width = d + TIME_FEATURES;
        let mut jac = vec![0.0; n * d * d];
        for k in 0..d {
            let component = f.slice_axis(1, k, k + 1)?.sum()?;
            let grad = tape.grad(&component, &[&leaf], false)?.into_iter().next();
            let grad = grad.ok_or_else(|| MethodError::Config("a Jacobian row is missing".into()))?.value().to_f64_vec()?;
            for i in 0..n {
                for l in 0..d {
                    jac[i * d * d + k * d + l] = grad[i * width + l];
                }
            }
        }
        Ok((values, Some(jac)))
    }

    /// The score `grad log p_t` the model implies at `(x, t)` (flat `[n, D]`)
    /// and, when asked, its Jacobian in `x` (`[n, D, D]`).
    ///
    /// # Errors
    ///
    /// A point of the wrong size.
    pub fn score(&self, x: &[f64], t: f64, jacobian: bool) -> Result<(Vec<f64>, Option<Vec<f64>>), MethodError> {
        let d = self.dim;
        let (f, jac) = self.network(x, t, jacobian)?;
        let skip = self.parameterisation.skip(&self.schedule, t);
        let c = input_scale(&self.schedule, self.data_std, t);
        // score = factor * prediction: -1/s for a noise prediction.
        let factor = match self.parameterisation {
            Parameterisation::Eps => -1.0 / self.schedule.sigma(t),
            Parameterisation::Score | Parameterisation::Velocity => 1.0,
        };
        let score = f.iter().zip(x).map(|(fi, xi)| factor * (skip * xi + fi)).collect();
        let jac = jac.map(|mut j| {
            for (idx, v) in j.iter_mut().enumerate() {
                let (k, l) = ((idx / d) % d, idx % d);
                *v = factor * (c * *v + if k == l { skip } else { 0.0 });
            }
            j
        });
        Ok((score, jac))
    }

    /// Replaces the network's parameters (W0, b0, W1, ..., flattened).
    ///
    /// # Errors
    ///
    /// When the count or a length does not match the network.
    pub fn set_parameters(&mut self, values: &[Vec<f32>]) -> Result<(), MethodError> {
        set_mlp_parameters(&mut self.net, values)
    }
}

/// The batches of a manifold run: the same draws for every model with the
/// same seed (data, noise and times from their own streams).
struct ManifoldBatches {
    data: ManifoldData,
    parameterisation: Parameterisation,
    schedule: VpSchedule,
    data_std: f64,
    batch: usize,
    noise_rng: SeedStream,
    data_rng: SeedStream,
    time_rng: SeedStream,
}

impl BatchSource for ManifoldBatches {
    fn batch(&mut self, _step: usize) -> Result<Batch, MethodError> {
        let (n, d) = (self.batch, self.data.ambient);
        let x0 = self.data.sample(n, &mut self.data_rng)?;
        let eps = self.noise_rng.normal_tensor(&[n, d]);
        let t: Vec<f64> = (0..n).map(|_| T_MIN + (1.0 - T_MIN) * self.time_rng.uniform_f64()).collect();
        denoising_batch(self.parameterisation, &self.schedule, self.data_std, &x0, &eps, &t)
    }
}

/// A denoising score-matching run of `model` on `data`, on any backend, a
/// step at a time (`t ~ U(T_MIN, 1)`, the parameterisation's loss as in
/// [`diffusion::trainer`](crate::diffusion::trainer), the moving average of
/// the weights as the result). A conservative model trains with the
/// gradient regression (grad-of-grad); the draws depend only on the seed,
/// so both kinds see the same batches.
///
/// # Errors
///
/// Mismatched dimensions or bad settings.
pub fn trainer<B: Backend>(backend: &B, model: &ScoreModel, data: &ManifoldData, config: &TrainConfig) -> Result<Trainer<B>, MethodError> {
    if data.ambient != model.dim {
        return Err(MethodError::Config(format!("the data are {}-D but the model is {}-D", data.ambient, model.dim)));
    }
    let source = ManifoldBatches {
        data: data.clone(),
        parameterisation: model.parameterisation,
        schedule: model.schedule,
        data_std: model.data_std,
        batch: config.batch,
        noise_rng: SeedStream::new(config.seed, "gauge/noise"),
        data_rng: SeedStream::new(config.seed, "gauge/data"),
        time_rng: SeedStream::new(config.seed, "gauge/time"),
    };
    let regression = match model.kind {
        ScoreKind::Free => Regression::Squared,
        ScoreKind::Conservative => Regression::Gradient { dim: model.dim },
    };
    Trainer::new(backend, &model.net, config, Some(WEIGHT_AVERAGE_DECAY), Box::new(source), regression)
}

/// Trains `model` on the CPU ([`trainer`]); it ends with the moving average
/// of its weights, also when stopped early.
///
/// # Errors
///
/// Bad settings, a stop or divergence.
pub fn train(model: &mut ScoreModel, data: &ManifoldData, config: &TrainConfig, monitor: &mut Monitor<'_>) -> Result<TrainReport, MethodError> {
    let mut run = trainer(&Cpu, model, data, config)?;
    run_and_apply(&mut run, monitor, &mut |values| model.set_parameters(values))
}

/// Settings of [`estimate_dimensions`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowJacobianConfig {
    /// End time of the flow (the PF-ODE runs from 1 down to it; 1e-3).
    pub t_min: f64,
    /// Solver tolerance, `rtol`; `atol` is a hundredth of it (1e-5).
    pub tol: f64,
    /// Smallest drop ratio between consecutive singular values that counts
    /// as a gap (4; see the module docs).
    pub gap_ratio: f64,
    /// Saved times of the spectrum trace, geometric from 1 to `t_min` (24).
    pub trace_times: usize,
    /// Points whose spectra are traced (4).
    pub trace_points: usize,
    /// 0 (the default): adaptive Dormand-Prince at `tol`. `n > 0`: `n`
    /// classical Runge-Kutta steps of equal size in `log t` (the normal
    /// directions contract at a rate ~ `1/(2t)`, which is constant in
    /// `log t`), a fixed amount of work whose results move smoothly with
    /// the network: no step is accepted or rejected by an error estimate.
    pub steps: usize,
}

impl Default for FlowJacobianConfig {
    fn default() -> Self {
        FlowJacobianConfig { t_min: T_MIN, tol: 1e-5, gap_ratio: 4.0, trace_times: 24, trace_points: 4, steps: 0 }
    }
}

impl FlowJacobianConfig {
    fn check(&self) -> Result<(), MethodError> {
        let valid = self.t_min > 0.0 && self.t_min < 0.5 && self.tol > 0.0 && self.tol <= 1e-2 && self.gap_ratio > 1.0 && self.gap_ratio.is_finite();
        if !valid || !(2..=1000).contains(&self.trace_times) || self.steps > 100_000 {
            return Err(MethodError::Config(format!(
                "need 0 < t_min < 0.5, 0 < tol <= 1e-2, gap ratio > 1, 2..=1000 trace times and at most 100000 steps; got {}, {}, {}, {}, {}",
                self.t_min, self.tol, self.gap_ratio, self.trace_times, self.steps
            )));
        }
        Ok(())
    }
}

/// Singular values of the flow-map Jacobian along some trajectories.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumTrace {
    /// Saved times, from 1 down to `t_min`.
    pub times: Vec<f64>,
    /// `[point][time]` -> singular values, descending.
    pub singular_values: Vec<Vec<Vec<f64>>>,
}

/// A model's intrinsic-dimension estimates.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionEstimate {
    /// Per point, the singular values of `d phi_{t_min} / dx`, descending.
    pub singular_values: Vec<Vec<f64>>,
    /// Per point, the estimated dimension (gap rule).
    pub dims: Vec<usize>,
    /// The true intrinsic dimension.
    pub true_dim: usize,
    /// Fraction of points whose estimate is the true dimension.
    pub fraction_correct: f64,
    /// Mean drop `log10 sigma_k - log10 sigma_{k+1}` at the true dimension
    /// `k` (decades; with `sigma_0 = 1`): the margin of the estimate.
    pub mean_gap: f64,
    /// Mean `log10` of the largest vanishing singular value `sigma_{k+1}`.
    pub mean_log10_normal: f64,
    /// Mean `log10` of the smallest on-manifold singular value `sigma_k`
    /// (0 when `k = 0`).
    pub mean_log10_tangent: f64,
    /// The spectra along the first trajectories.
    pub trace: SpectrumTrace,
    /// Vector-field evaluations of the solve.
    pub nfe: usize,
}

/// The gap-rule dimension of descending singular values (module docs).
pub fn dimension_from_spectrum(singular_values: &[f64], gap_ratio: f64) -> usize {
    let mut best = (singular_values.len(), libm::log(gap_ratio));
    let mut previous = 1.0f64;
    for (k, &s) in singular_values.iter().enumerate() {
        let drop = libm::log(previous.max(1e-300)) - libm::log(s.max(1e-300));
        if drop >= best.1 {
            best = (k, drop);
        }
        previous = s;
    }
    best.0
}

/// Singular values of each `D x D` block of `jac` (flat `[n, D, D]`).
fn spectra(jac: &[f64], d: usize) -> Result<Vec<Vec<f64>>, MethodError> {
    jac.chunks(d * d)
        .map(|block| {
            let m = Matrix::new(d, d, block.to_vec()).map_err(|e| MethodError::Config(e.to_string()))?;
            Ok(svd(&m).map_err(|e| MethodError::Config(e.to_string()))?.s)
        })
        .collect()
}

/// Integrates the model's probability-flow ODE from `noise` (flat `[n, D]`
/// at `t = 1`) down to `t_min` with its variational equation, and reads the
/// intrinsic dimension of every trajectory off the singular values of the
/// flow-map Jacobian (all points form one state: adaptive Dormand-Prince,
/// or fixed Runge-Kutta steps in `log t`, see [`FlowJacobianConfig::steps`]).
///
/// # Errors
///
/// Bad settings, mismatched sizes or a failed solve.
pub fn estimate_dimensions(model: &ScoreModel, noise: &[f64], true_dim: usize, config: &FlowJacobianConfig) -> Result<DimensionEstimate, MethodError> {
    config.check()?;
    let d = model.dim;
    if noise.is_empty() || !noise.len().is_multiple_of(d) || true_dim > d {
        return Err(MethodError::Config(format!("need at least one {d}-D noise point and a true dimension <= {d}; got {} numbers and {true_dim}", noise.len())));
    }
    let n = noise.len() / d;
    let schedule = model.schedule;
    let mut failure: Option<MethodError> = None;
    let field = |t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        let (x, jm) = y.split_at(n * d);
        let (score, ds) = model.score(x, t, true).map_err(|e| keep(&mut failure, e))?;
        let ds = ds.ok_or_else(|| SolveError::VectorField("the score Jacobian is missing".into()))?;
        let half = -0.5 * schedule.beta(t);
        let mut out = Vec::with_capacity(y.len());
        out.extend(x.iter().zip(&score).map(|(xi, si)| half * (xi + si)));
        for i in 0..n {
            let (a, j) = (&ds[i * d * d..(i + 1) * d * d], &jm[i * d * d..(i + 1) * d * d]);
            for k in 0..d {
                for l in 0..d {
                    // (A J)_kl with A = -beta/2 (I + dscore/dx).
                    let aj: f64 = (0..d).map(|m| a[k * d + m] * j[m * d + l]).sum::<f64>() + j[k * d + l];
                    out.push(half * aj);
                }
            }
        }
        Ok(out)
    };
    let mut y0 = noise.to_vec();
    for _ in 0..n {
        y0.extend((0..d * d).map(|idx| if idx / d == idx % d { 1.0 } else { 0.0 }));
    }
    let ratio = libm::log(config.t_min);
    let times: Vec<f64> = (0..config.trace_times).map(|i| libm::exp(ratio * i as f64 / (config.trace_times - 1) as f64)).collect();
    let mut times = times;
    if let Some(last) = times.last_mut() {
        *last = config.t_min;
    }
    let solution = if config.steps == 0 {
        let options = OdeOptions::tolerances(config.tol, 0.01 * config.tol).with_save_at(SaveAt::Times(times.clone()));
        solve_ode(field, Solver::Dopri5, 1.0, config.t_min, None, &y0, &options)
    } else {
        solve_in_log_time(field, config.t_min, config.steps, &y0, config.trace_times)
    };
    if let Some(err) = failure {
        return Err(err);
    }
    let solution = solution?;
    let end = solution.ys.last().ok_or_else(|| MethodError::Config("the solve saved no state".into()))?;
    let singular_values = spectra(&end[n * d..], d)?;
    let dims: Vec<usize> = singular_values.iter().map(|s| dimension_from_spectrum(s, config.gap_ratio)).collect();
    let fraction_correct = dims.iter().filter(|&&k| k == true_dim).count() as f64 / n as f64;
    let log10 = |v: f64| libm::log10(v.max(1e-300));
    let at = |s: &[f64], k: usize| if k == 0 { 1.0 } else { s[k - 1] };
    let mean = |f: &dyn Fn(&[f64]) -> f64| singular_values.iter().map(|s| f(s)).sum::<f64>() / n as f64;
    let (mean_gap, mean_log10_normal, mean_log10_tangent) = if true_dim < d {
        (
            mean(&|s| log10(at(s, true_dim)) - log10(s[true_dim])),
            mean(&|s| log10(s[true_dim])),
            mean(&|s| if true_dim == 0 { 0.0 } else { log10(s[true_dim - 1]) }),
        )
    } else {
        (0.0, f64::NEG_INFINITY, mean(&|s| log10(s[d - 1])))
    };
    let traced = config.trace_points.min(n);
    let mut trace = vec![Vec::with_capacity(times.len()); traced];
    for y in &solution.ys {
        let blocks = spectra(&y[n * d..n * d + traced * d * d], d)?;
        for (p, s) in blocks.into_iter().enumerate() {
            trace[p].push(s);
        }
    }
    Ok(DimensionEstimate {
        singular_values,
        dims,
        true_dim,
        fraction_correct,
        mean_gap,
        mean_log10_normal,
        mean_log10_tangent,
        trace: SpectrumTrace { times: solution.ts.clone(), singular_values: trace },
        nfe: solution.stats.nfe,
    })
}

/// Settings of [`intrinsic_dimension`]: the data, both models (same
/// architecture), their shared training and the flow-map read-out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntrinsicDimConfig {
    /// The manifold (a circle).
    pub manifold: Manifold,
    /// Ambient dimension (3).
    pub ambient: usize,
    /// Radius (1).
    pub radius: f64,
    /// Gaussian thickness (0: exactly on the manifold).
    pub thickness: f64,
    /// What both models predict (the noise).
    pub parameterisation: Parameterisation,
    /// Hidden width (64).
    pub hidden: usize,
    /// Hidden layers (3).
    pub layers: usize,
    /// Activation; smooth, since the conservative score is a gradient (SiLU).
    pub activation: Activation,
    /// Training of each model (1500 steps of 256, lr 3e-3).
    pub train: TrainConfig,
    /// Noise points whose dimension is estimated (128).
    pub points: usize,
    /// The flow-map read-out.
    pub flow: FlowJacobianConfig,
    /// Seed of the embedding, the initial weights and the evaluation noise
    /// (the training draws use `train.seed`).
    pub seed: u64,
}

impl Default for IntrinsicDimConfig {
    fn default() -> Self {
        IntrinsicDimConfig {
            manifold: Manifold::Circle,
            ambient: 3,
            radius: 1.0,
            thickness: 0.0,
            parameterisation: Parameterisation::Eps,
            hidden: 64,
            layers: 3,
            activation: Activation::Silu,
            train: TrainConfig { steps: 1500, batch: 256, lr: 3e-3, seed: 0 },
            points: 128,
            flow: FlowJacobianConfig::default(),
            seed: 0,
        }
    }
}

impl IntrinsicDimConfig {
    /// The default with every seed set to `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let mut config = IntrinsicDimConfig { seed, ..IntrinsicDimConfig::default() };
        config.train.seed = seed;
        config
    }

    /// The data law.
    ///
    /// # Errors
    ///
    /// Bad sizes, radius or thickness.
    pub fn data(&self) -> Result<ManifoldData, MethodError> {
        ManifoldData::new(self.manifold, self.ambient, self.radius, self.thickness, self.seed)
    }

    /// An untrained model of `kind`.
    ///
    /// # Errors
    ///
    /// Bad sizes.
    pub fn model(&self, kind: ScoreKind, data: &ManifoldData) -> Result<ScoreModel, MethodError> {
        ScoreModel::new(kind, self.ambient, self.hidden, self.layers, self.activation, self.parameterisation, data.coordinate_std(), self.seed)
    }

    /// The evaluation noise, flat `[points, D]`.
    pub fn noise(&self) -> Vec<f64> {
        let mut rng = SeedStream::new(self.seed, "gauge/evaluation");
        (0..self.points * self.ambient).map(|_| rng.normal_f64()).collect()
    }
}

/// What [`intrinsic_dimension`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct IntrinsicDimReport {
    /// The free model, trained.
    pub free_model: ScoreModel,
    /// The conservative model, trained.
    pub conservative_model: ScoreModel,
    /// Training losses of the free model.
    pub free_losses: Vec<f32>,
    /// Training losses of the conservative model.
    pub conservative_losses: Vec<f32>,
    /// The free model's estimates.
    pub free: DimensionEstimate,
    /// The conservative model's estimates.
    pub conservative: DimensionEstimate,
}

/// Trains a free and a conservative score model on the same manifold data
/// with the same draws and budget, then estimates the intrinsic dimension
/// of the same noise points with each. `monitor` sees both runs in turn
/// (steps counted over the two).
///
/// # Errors
///
/// Bad settings, a stop or divergence, or a failed solve.
pub fn intrinsic_dimension(config: &IntrinsicDimConfig, monitor: &mut Monitor<'_>) -> Result<IntrinsicDimReport, MethodError> {
    if config.points == 0 || config.points > 10_000 {
        return Err(MethodError::Config(format!("points must be in 1..=10000; got {}", config.points)));
    }
    config.flow.check()?;
    let data = config.data()?;
    let steps = config.train.steps;
    let mut models = Vec::with_capacity(2);
    for (i, kind) in [ScoreKind::Free, ScoreKind::Conservative].into_iter().enumerate() {
        let mut model = config.model(kind, &data)?;
        let mut inner = |step: usize, _total: usize, loss: f32| monitor(i * steps + step, 2 * steps, loss);
        let report = train(&mut model, &data, &config.train, &mut inner)?;
        models.push((model, report.losses));
    }
    let noise = config.noise();
    let k = data.intrinsic_dim();
    let (conservative_model, conservative_losses) = models.pop().ok_or_else(|| MethodError::Config("no conservative model".into()))?;
    let (free_model, free_losses) = models.pop().ok_or_else(|| MethodError::Config("no free model".into()))?;
    let free = estimate_dimensions(&free_model, &noise, k, &config.flow)?;
    let conservative = estimate_dimensions(&conservative_model, &noise, k, &config.flow)?;
    Ok(IntrinsicDimReport { free_model, conservative_model, free_losses, conservative_losses, free, conservative })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_matrices_are_checked() {
        use crate::diffusion::check_gauge;
        assert!(check_gauge(2, &[0.0, -2.0, 2.0, 0.0]).is_ok());
        assert!(check_gauge(2, &[1.0, -2.0, 2.0, 0.0]).is_err());
        assert!(check_gauge(2, &[0.0, 1.0, 1.0, 0.0]).is_err());
        assert!(check_gauge(3, &[0.0; 4]).is_err());
        let data = Gmm::ring(8, 4.0, 0.3).expect("ring");
        assert!(pf_ode_log_likelihood_gauged(&data, &VpSchedule::default(), &[1.0, 0.0], Some(&[0.0, 1.0, 1.0, 0.0]), 1e-6).is_err());
    }

    #[test]
    fn the_gap_rule_counts_the_levelled_off_values() {
        assert_eq!(dimension_from_spectrum(&[0.9, 0.02, 0.01], 4.0), 1);
        assert_eq!(dimension_from_spectrum(&[2.0, 0.7, 0.01, 0.008, 0.005], 4.0), 2);
        assert_eq!(dimension_from_spectrum(&[1.2, 0.9, 0.8], 4.0), 3);
        assert_eq!(dimension_from_spectrum(&[0.01, 0.01], 4.0), 0);
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(ManifoldData::new(Manifold::Circle, 2, 1.0, 0.0, 0).is_err());
        assert!(ManifoldData::new(Manifold::Sphere, 3, 1.0, 0.0, 0).is_err());
        assert!(ManifoldData::new(Manifold::Circle, 3, 0.0, 0.0, 0).is_err());
        assert!(ManifoldData::new(Manifold::Circle, 3, 1.0, -0.1, 0).is_err());
        assert!(Manifold::from_name("torus").is_err());
        assert!(ScoreModel::new(ScoreKind::Free, 3, 8, 1, Activation::Silu, Parameterisation::Velocity, 1.0, 0).is_err());
        assert!(ScoreModel::new(ScoreKind::Free, 0, 8, 1, Activation::Silu, Parameterisation::Eps, 1.0, 0).is_err());
        let config = IntrinsicDimConfig { points: 0, ..IntrinsicDimConfig::default() };
        assert!(intrinsic_dimension(&config, &mut |_, _, _| true).is_err());
        let config = IntrinsicDimConfig { ambient: 5, ..IntrinsicDimConfig::default() };
        let data = config.data().expect("data");
        let model = IntrinsicDimConfig::default().model(ScoreKind::Free, &IntrinsicDimConfig::default().data().expect("data")).expect("model");
        assert!(trainer(&Cpu, &model, &data, &config.train).is_err());
        assert!(gauge_demo(&GaugeDemoConfig { samples: 0, ..GaugeDemoConfig::default() }).is_err());
        assert!(gauge_demo(&GaugeDemoConfig { std: 0.0, ..GaugeDemoConfig::default() }).is_err());
        assert!(gauge_trajectories(&GaugeDemoConfig::default(), 0, 10).is_err());
    }

    #[test]
    fn manifold_points_lie_on_the_manifold() {
        for (manifold, ambient) in [(Manifold::Circle, 3), (Manifold::Sphere, 5)] {
            let data = ManifoldData::new(manifold, ambient, 2.0, 0.0, 3).expect("data");
            let points = data.sample(200, &mut SeedStream::new(1, "test")).expect("sample").to_f64_vec().expect("f64");
            for p in points.chunks(ambient) {
                let r = p.iter().map(|v| v * v).sum::<f64>().sqrt();
                assert!((r - 2.0).abs() < 1e-5, "{manifold:?}: radius {r}");
            }
            // The points span exactly k + 1 directions: the frame is orthonormal.
            let cols = manifold.dim() + 1;
            for a in 0..cols {
                for b in 0..cols {
                    let dot: f64 = (0..ambient).map(|i| data.frame[i * cols + a] * data.frame[i * cols + b]).sum();
                    assert!((dot - if a == b { 1.0 } else { 0.0 }).abs() < 1e-12);
                }
            }
        }
    }

    /// The model's score Jacobian matches central differences of its
    /// score, for both kinds and parameterisations; the conservative one is
    /// symmetric (a Hessian), the free one is not.
    #[test]
    fn score_jacobians_match_finite_differences() {
        let d = 3;
        let x = [0.3, -0.7, 1.1, -0.2, 0.5, 0.9];
        for kind in [ScoreKind::Free, ScoreKind::Conservative] {
            for p in [Parameterisation::Eps, Parameterisation::Score] {
                let model = ScoreModel::new(kind, d, 16, 2, Activation::Silu, p, 0.8, 5).expect("model");
                let t = 0.3;
                let (_, jac) = model.score(&x, t, true).expect("score");
                let jac = jac.expect("jacobian");
                let h = 1e-2;
                let mut asymmetry = 0.0f64;
                for i in 0..2 {
                    for l in 0..d {
                        let (mut up, mut down) = (x.to_vec(), x.to_vec());
                        up[i * d + l] += h;
                        down[i * d + l] -= h;
                        let (su, _) = model.score(&up, t, false).expect("score");
                        let (sd, _) = model.score(&down, t, false).expect("score");
                        for k in 0..d {
                            let fd = (su[i * d + k] - sd[i * d + k]) / (2.0 * h);
                            let ad = jac[i * d * d + k * d + l];
                            assert!((fd - ad).abs() < 2e-2 * (1.0 + ad.abs()), "{kind:?} {p:?}: d s_{k}/d x_{l}: {fd} vs {ad}");
                            asymmetry = asymmetry.max((jac[i * d * d + k * d + l] - jac[i * d * d + l * d + k]).abs());
                        }
                    }
                }
                match kind {
                    ScoreKind::Conservative => assert!(asymmetry < 1e-4, "{p:?}: {asymmetry}"),
                    ScoreKind::Free => assert!(asymmetry > 1e-3, "{p:?}: {asymmetry}"),
                }
            }
        }
    }

    /// Fixed Runge-Kutta steps in `log t` give the adaptive solve's
    /// spectra (to the accuracy of the steps) and trace times.
    #[test]
    fn fixed_steps_in_log_time_match_the_adaptive_solve() {
        let data = ManifoldData::new(Manifold::Circle, 3, 1.0, 0.0, 2).expect("data");
        let model = ScoreModel::new(ScoreKind::Conservative, 3, 16, 2, Activation::Silu, Parameterisation::Eps, data.coordinate_std(), 4).expect("model");
        let noise: Vec<f64> = {
            let mut rng = SeedStream::new(1, "test");
            (0..12).map(|_| rng.normal_f64()).collect()
        };
        let adaptive = FlowJacobianConfig { tol: 1e-8, trace_times: 5, ..FlowJacobianConfig::default() };
        let fixed = FlowJacobianConfig { steps: 96, ..adaptive };
        let a = estimate_dimensions(&model, &noise, 1, &adaptive).expect("adaptive");
        let b = estimate_dimensions(&model, &noise, 1, &fixed).expect("fixed");
        assert_eq!(b.nfe, 4 * 96 + 1);
        for (ta, tb) in a.trace.times.iter().zip(&b.trace.times) {
            assert!((ta - tb).abs() < 1e-12 * (1.0 + ta.abs()), "{ta} vs {tb}");
        }
        for (sa, sb) in a.singular_values.iter().flatten().zip(b.singular_values.iter().flatten()) {
            assert!((sa - sb).abs() < 1e-3 * sa.abs(), "{sa} vs {sb}");
        }
        assert!(estimate_dimensions(&model, &noise, 1, &FlowJacobianConfig { steps: 1_000_000, ..adaptive }).is_err());
    }

    /// The shared trainer's gradient regression (grad-of-grad) runs and
    /// lowers the loss of a small conservative model.
    #[test]
    fn the_gradient_regression_trains() {
        let config = IntrinsicDimConfig { train: TrainConfig { steps: 60, batch: 64, lr: 3e-3, seed: 1 }, hidden: 16, layers: 2, ..IntrinsicDimConfig::default() };
        let data = config.data().expect("data");
        let mut model = config.model(ScoreKind::Conservative, &data).expect("model");
        let losses = train(&mut model, &data, &config.train, &mut |_, _, _| true).expect("trains").losses;
        assert_eq!(losses.len(), 60);
        assert!(losses.iter().all(|l| l.is_finite()));
        let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len() as f32;
        assert!(mean(&losses[50..]) < mean(&losses[..10]), "{} -> {}", mean(&losses[..10]), mean(&losses[50..]));
    }

    /// Part (a) at the default setting on seeds 0, 1, 2: the gauged field
    /// moves the endpoints (mean paired distance > 0.5, the ring's modes
    /// have std 0.3) but not their law (|MMD²| within 3 noise standard
    /// deviations) nor the likelihoods (max |dNLL| < 0.01, and both within
    /// 1e-3 of the exact log-density). Measured: paired distance 4.50 /
    /// 4.58 / 4.75, MMD² -5.9e-4 / 6.6e-4 / -1.0e-3 against noise levels
    /// 1.9e-3 / 1.1e-3 / 1.3e-3, max |dNLL| ~ 3e-8.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "slow in debug: run with --release")]
    fn the_gauge_changes_paths_but_not_samples_or_likelihoods() {
        for seed in [0u64, 1, 2] {
            let demo = gauge_demo(&GaugeDemoConfig { seed, ..GaugeDemoConfig::default() }).expect("demo");
            eprintln!(
                "seed {seed}: pair distance {:.3}, MMD² {:.2e} (noise {:.2e}; plain/gauged vs data {:.2e}/{:.2e}), max |dNLL| {:.2e}, max error {:.2e}, NFE {:.0}/{:.0}",
                demo.mean_pair_distance, demo.mmd2, demo.mmd2_noise, demo.mmd2_plain_to_data, demo.mmd2_gauged_to_data, demo.max_dnll, demo.max_error_to_exact, demo.nfe_plain, demo.nfe_gauged
            );
            assert!(demo.mean_pair_distance > 0.5, "seed {seed}: {}", demo.mean_pair_distance);
            assert!(demo.mmd2.abs() <= 3.0 * demo.mmd2_noise, "seed {seed}: {} vs noise {}", demo.mmd2, demo.mmd2_noise);
            assert!(demo.mmd2_plain_to_data.abs() <= 3.0 * demo.mmd2_noise && demo.mmd2_gauged_to_data.abs() <= 3.0 * demo.mmd2_noise, "seed {seed}");
            assert!(demo.max_dnll < 0.01, "seed {seed}: {}", demo.max_dnll);
            assert!(demo.max_error_to_exact < 1e-3, "seed {seed}: {}", demo.max_error_to_exact);
        }
        let paths = gauge_trajectories(&GaugeDemoConfig::default(), 3, 11).expect("paths");
        assert_eq!((paths.times.len(), paths.plain.len(), paths.gauged[2].len()), (11, 3, 22));
        assert_eq!(&paths.plain[0][..2], &paths.gauged[0][..2]);
        // The paths end where the demo's samples do, and part on the way.
        let demo = gauge_demo(&GaugeDemoConfig::default()).expect("demo");
        assert!((paths.plain[0][20] - demo.plain[0]).abs() < 1e-9 && (paths.gauged[0][21] - demo.gauged[1]).abs() < 1e-9);
        assert!((paths.plain[0][10] - paths.gauged[0][10]).abs() + (paths.plain[0][11] - paths.gauged[0][11]).abs() > 1e-3);
    }

    /// Part (b) at the default setting on seeds 0, 1, 2: the conservative
    /// model finds the circle's dimension on at least 90% of the points, at
    /// least as often as the free one and with a wider mean gap. Measured
    /// (128 points): conservative 0.945 / 0.992 / 0.953 (gap 1.32 / 1.37 /
    /// 1.31 decades), free 0.773 / 0.797 / 0.789 (gap 0.97 / 0.91 / 0.91),
    /// the free model's misses mostly reading dimension 2.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "training: run with --release")]
    fn a_conservative_model_recovers_the_intrinsic_dimension() {
        for seed in [0u64, 1, 2] {
            let start = std::time::Instant::now();
            let report = intrinsic_dimension(&IntrinsicDimConfig::with_seed(seed), &mut |_, _, _| true).expect("runs");
            let (f, c) = (&report.free, &report.conservative);
            eprintln!(
                "seed {seed}: free {:.3} (gap {:.2} dec, tangent {:.2}, normal {:.2}, NFE {}), conservative {:.3} (gap {:.2} dec, tangent {:.2}, normal {:.2}, NFE {}); final losses {:.4}/{:.4}; {:.1} s",
                f.fraction_correct, f.mean_gap, f.mean_log10_tangent, f.mean_log10_normal, f.nfe,
                c.fraction_correct, c.mean_gap, c.mean_log10_tangent, c.mean_log10_normal, c.nfe,
                report.free_losses.last().copied().unwrap_or(f32::NAN), report.conservative_losses.last().copied().unwrap_or(f32::NAN),
                start.elapsed().as_secs_f64()
            );
            assert!(c.fraction_correct >= 0.9, "seed {seed}: {}", c.fraction_correct);
            assert!(c.fraction_correct >= f.fraction_correct, "seed {seed}: {} vs {}", c.fraction_correct, f.fraction_correct);
            assert!(c.mean_gap > f.mean_gap, "seed {seed}: {} vs {}", c.mean_gap, f.mean_gap);
        }
    }
    /// The sphere option (a 2-sphere in R^5, otherwise the defaults) on
    /// seeds 0, 1, 2: harder at this budget, but the conservative model is
    /// again the more reliable one, in the fraction and in the gap.
    /// Measured: conservative 0.938 / 0.781 / 0.898 (gap 1.10 / 0.89 /
    /// 1.08 decades), free 0.398 / 0.117 / 0.188 (gap 0.57 / 0.42 / 0.43).
    #[test]
    #[cfg_attr(debug_assertions, ignore = "training: run with --release")]
    fn on_a_sphere_the_conservative_model_is_more_reliable() {
        for seed in [0u64, 1, 2] {
            let config = IntrinsicDimConfig { manifold: Manifold::Sphere, ambient: 5, ..IntrinsicDimConfig::with_seed(seed) };
            let report = intrinsic_dimension(&config, &mut |_, _, _| true).expect("runs");
            let (f, c) = (&report.free, &report.conservative);
            eprintln!("sphere seed {seed}: free {:.3} (gap {:.2}), conservative {:.3} (gap {:.2})", f.fraction_correct, f.mean_gap, c.fraction_correct, c.mean_gap);
            assert!(c.fraction_correct >= 0.7 && c.fraction_correct > f.fraction_correct, "seed {seed}: {} vs {}", c.fraction_correct, f.fraction_correct);
            assert!(c.mean_gap > f.mean_gap, "seed {seed}: {} vs {}", c.mean_gap, f.mean_gap);
            assert_eq!(c.trace.singular_values[0].len(), c.trace.times.len());
        }
    }
}
