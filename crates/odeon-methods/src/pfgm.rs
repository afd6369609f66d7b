//! PFGM++ (Xu et al., 2023): diffusion models and Poisson flow generative
//! models as one family, indexed by the number `D` of augmented dimensions.
//!
//! The `N`-dimensional data live in `R^{N+D}`, and a data point `y` is
//! perturbed by the kernel
//! `p_r(x | y) ∝ (|x - y|^2 + r^2)^{-(N+D)/2}`, where `r` is the norm of the
//! augmented coordinates. With `r = sigma sqrt(D)` the kernel tends to
//! `N(y, sigma^2 I)` as `D -> inf`: EDM is the limit, and every EDM setting
//! (noise levels, preconditioning, sampler) carries over through `sigma`.
//!
//! **Training** (the official recipe): `sigma` from EDM's log-normal,
//! `r = sigma sqrt(D)`, `B ~ Beta(N/2, D/2)`, radius `R = r sqrt(B/(1-B))`,
//! direction uniform on the sphere, and EDM's preconditioned denoiser loss
//! with the network conditioned on `sigma`. The Beta draw is made as
//! `B = |z|^2 / (|z|^2 + chi2_D)` from the same standard Gaussian `z` whose
//! direction is used, with `chi2_D` from its own stream: `|z|^2 ~ chi2_N` and
//! `z/|z|` are independent, so this is exactly the Beta law and a uniform
//! direction, and it makes the perturbation `sigma z sqrt(D / chi2_D)` — the
//! multivariate Student-t with `D` degrees of freedom. Runs with different
//! `D` and the same seed then share every draw except `chi2_D`, whose factor
//! `D / chi2_D` tends to 1: a large-`D` run can be compared point by point
//! with the EDM run (`D = inf`, plain Gaussian noise, a separate code path),
//! which is how the notebook shows `D -> inf` recovering EDM.
//!
//! **Sampling**: the prior is the same kernel at `sigma_max` around the
//! origin, then EDM's deterministic Heun sampler on
//! `dx/dsigma = (x - D_theta(x, sigma)) / sigma` (the PFGM++ ODE in `r` is
//! the same equation since `r ∝ sigma`). For the robustness experiment the
//! sampler can add `alpha sigma_{i+1} eps` after every step, the noise
//! injection of the paper's robustness study.

use odeon_solve::special;
use odeon_tensor::{Backend, Cpu, SeedStream, Tensor};

use crate::gmm::Gmm;
use crate::rectified_flow::{TrainConfig, TrainReport, VelocityModel};
use crate::training::{Batch, BatchSource, Regression, Trainer, run_and_apply};
use crate::{MethodError, Monitor};

/// The number `D` of augmented dimensions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Augmentation {
    /// A finite `D > 0` (real values are allowed, as in the paper).
    Finite(f64),
    /// `D -> inf`: Gaussian noise, EDM.
    Infinite,
}

impl Augmentation {
    /// `D`, with `f64::INFINITY` for EDM.
    ///
    /// # Errors
    ///
    /// `D` not positive (or NaN).
    pub fn new(d: f64) -> Result<Augmentation, MethodError> {
        if d == f64::INFINITY {
            Ok(Augmentation::Infinite)
        } else if d.is_finite() && d > 0.0 {
            Ok(Augmentation::Finite(d))
        } else {
            Err(MethodError::Config(format!("D, the number of augmented dimensions, must be positive (or infinite for EDM); got {d}")))
        }
    }

    /// `D` as a number (`inf` for EDM).
    pub fn value(self) -> f64 {
        match self {
            Augmentation::Finite(d) => d,
            Augmentation::Infinite => f64::INFINITY,
        }
    }
}

/// EDM's noise levels and preconditioning (Karras et al., 2022).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edm {
    /// Standard deviation of the data per coordinate.
    pub sigma_data: f64,
    /// Smallest noise level of the sampler.
    pub sigma_min: f64,
    /// Largest noise level: the prior.
    pub sigma_max: f64,
    /// Mean of `ln sigma` in training.
    pub p_mean: f64,
    /// Standard deviation of `ln sigma` in training.
    pub p_std: f64,
    /// Exponent of the sampler's noise-level spacing.
    pub rho: f64,
}

/// The data standard deviation EDM's settings were tuned for.
const EDM_SIGMA_DATA: f64 = 0.5;

impl Edm {
    /// EDM's settings — `sigma` in `[0.002, 80]`, `ln sigma ~ N(-1.2, 1.2^2)`,
    /// `rho = 7` — tuned for data of standard deviation 0.5, with every noise
    /// level scaled by `sigma_data / 0.5` to fit data of another scale.
    ///
    /// # Errors
    ///
    /// `sigma_data` not positive.
    pub fn scaled_to(sigma_data: f64) -> Result<Edm, MethodError> {
        if !(sigma_data.is_finite() && sigma_data > 0.0) {
            return Err(MethodError::Config(format!("the data's standard deviation must be positive; got {sigma_data}")));
        }
        let k = sigma_data / EDM_SIGMA_DATA;
        Ok(Edm { sigma_data, sigma_min: 0.002 * k, sigma_max: 80.0 * k, p_mean: -1.2 + libm::log(k), p_std: 1.2, rho: 7.0 })
    }

    /// Skip weight `c_skip = sd^2 / (sigma^2 + sd^2)`.
    pub fn c_skip(&self, sigma: f64) -> f64 {
        let sd2 = self.sigma_data * self.sigma_data;
        sd2 / (sigma * sigma + sd2)
    }

    /// Output scale `c_out = sigma sd / sqrt(sigma^2 + sd^2)`.
    pub fn c_out(&self, sigma: f64) -> f64 {
        sigma * self.sigma_data / (sigma * sigma + self.sigma_data * self.sigma_data).sqrt()
    }

    /// Input scale `c_in = 1 / sqrt(sigma^2 + sd^2)`.
    pub fn c_in(&self, sigma: f64) -> f64 {
        1.0 / (sigma * sigma + self.sigma_data * self.sigma_data).sqrt()
    }

    /// The noise condition the network sees, `ln(sigma / scale) / 4`
    /// (EDM's `ln(sigma)/4` in the units it was tuned for).
    pub fn c_noise(&self, sigma: f64) -> f64 {
        libm::log(sigma * EDM_SIGMA_DATA / self.sigma_data) / 4.0
    }

    /// The sampler's `steps` noise levels from `sigma_max` down to
    /// `sigma_min`, spaced uniformly in `sigma^(1/rho)`, then 0.
    pub fn levels(&self, steps: usize) -> Vec<f64> {
        let (a, b) = (self.sigma_max.powf(1.0 / self.rho), self.sigma_min.powf(1.0 / self.rho));
        let mut levels: Vec<f64> = (0..steps)
            .map(|i| {
                let f = if steps > 1 { i as f64 / (steps - 1) as f64 } else { 0.0 };
                (a + f * (b - a)).powf(self.rho)
            })
            .collect();
        levels.push(0.0);
        levels
    }
}

/// The CDF of the perturbation's radius `R = |x - y|` in `n` data
/// dimensions at noise level `sigma`: `I_{R^2/(R^2+r^2)}(n/2, D/2)` with
/// `r = sigma sqrt(D)` for finite `D` (for `n = 2` this is
/// `1 - (r^2/(R^2+r^2))^{D/2}`), and the chi law `P(chi2_n <= R^2/sigma^2)`
/// for `D = inf`.
///
/// # Errors
///
/// Bad arguments (non-positive `sigma`, `n = 0`).
pub fn radius_cdf(n: usize, augmentation: Augmentation, sigma: f64, radius: f64) -> Result<f64, MethodError> {
    if n == 0 || !(sigma.is_finite() && sigma > 0.0) {
        return Err(MethodError::Config(format!("the radius law needs a dimension and a positive sigma; got {n} and {sigma}")));
    }
    if radius <= 0.0 {
        return Ok(0.0);
    }
    let special_error = |e: special::SpecialError| MethodError::Config(e.to_string());
    match augmentation {
        Augmentation::Finite(d) => {
            let r2 = sigma * sigma * d;
            let x = radius * radius / (radius * radius + r2);
            special::regularized_incomplete_beta(n as f64 / 2.0, d / 2.0, x).map_err(special_error)
        }
        Augmentation::Infinite => special::chi_squared_cdf(radius * radius / (sigma * sigma), n as f64).map_err(special_error),
    }
}

/// Perturbations for rows `z` (standard Gaussians, `[n, dim]` flat) at the
/// noise levels `sigmas` (one per row): `sigma z` for `D = inf`; for finite
/// `D` the PFGM++ kernel's draw with radius `sigma sqrt(D) sqrt(B/(1-B))`,
/// `B = |z|^2 / (|z|^2 + chi2_D)` and direction `z/|z|`, `chi2_D` from `radial`.
fn perturb(augmentation: Augmentation, z: &[f64], dim: usize, sigmas: &[f64], radial: &mut SeedStream) -> Result<Vec<f64>, MethodError> {
    let mut out = Vec::with_capacity(z.len());
    for (row, &sigma) in z.chunks(dim).zip(sigmas) {
        match augmentation {
            Augmentation::Infinite => out.extend(row.iter().map(|v| sigma * v)),
            Augmentation::Finite(d) => {
                // R = r sqrt(B / (1 - B)) with B = |z|^2 / (|z|^2 + chi2): B / (1 - B) = |z|^2 / chi2,
                // so R z / |z| = sigma sqrt(D / chi2) z, computed without forming B (no 1 - B cancellation).
                let chi2 = radial.gamma(d / 2.0, 2.0).map_err(|e| MethodError::Config(e.to_string()))?;
                let factor = sigma * (d / chi2.max(f64::MIN_POSITIVE)).sqrt();
                out.extend(row.iter().map(|v| factor * v));
            }
        }
    }
    Ok(out)
}

/// Draws of the perturbation radius at noise level `sigma` (for the KS
/// test against [`radius_cdf`]), through the training code's own sampler.
///
/// # Errors
///
/// `count` or `dim` zero, or a bad `sigma`.
pub fn sample_radii(augmentation: Augmentation, dim: usize, sigma: f64, count: usize, seed: u64) -> Result<Vec<f64>, MethodError> {
    if dim == 0 || count == 0 || !(sigma.is_finite() && sigma > 0.0) {
        return Err(MethodError::Config(format!("sample_radii needs a dimension, a count and a positive sigma; got {dim}, {count}, {sigma}")));
    }
    let mut noise = SeedStream::new(seed, "pfgm/noise");
    let mut radial = SeedStream::new(seed, "pfgm/radial");
    let z: Vec<f64> = (0..count * dim).map(|_| noise.normal_f64()).collect();
    let n = perturb(augmentation, &z, dim, &vec![sigma; count], &mut radial)?;
    Ok(n.chunks(dim).map(|row| row.iter().map(|v| v * v).sum::<f64>().sqrt()).collect())
}

/// A PFGM++ model: EDM's preconditioned denoiser around an MLP on
/// `[c_in x, time_features(c_noise(sigma))]`, for one `D`.
#[derive(Debug, Clone, PartialEq)]
pub struct PfgmModel {
    /// The network.
    pub net: VelocityModel,
    /// `D`.
    pub augmentation: Augmentation,
    /// Noise levels and preconditioning.
    pub edm: Edm,
}

impl PfgmModel {
    /// A model for data of standard deviation `sigma_data` (EDM's settings
    /// scaled to it).
    ///
    /// # Errors
    ///
    /// A bad `sigma_data`.
    pub fn new(net: VelocityModel, augmentation: Augmentation, sigma_data: f64) -> Result<PfgmModel, MethodError> {
        Ok(PfgmModel { net, augmentation, edm: Edm::scaled_to(sigma_data)? })
    }

    /// The denoiser `D(x, sigma) = c_skip x + c_out F(c_in x, c_noise)` on a
    /// flat batch.
    ///
    /// # Errors
    ///
    /// A batch that does not match the model.
    pub fn denoise(&self, x: &[f64], sigma: f64) -> Result<Vec<f64>, MethodError> {
        let d = self.net.dim;
        let e = &self.edm;
        let c_in = e.c_in(sigma);
        let batch = Tensor::from_shape_vec(&[x.len() / d, d], x.iter().map(|&v| (v * c_in) as f32).collect())?;
        let f = self.net.velocity(&batch, e.c_noise(sigma) as f32)?.to_f64_vec()?;
        let (skip, out) = (e.c_skip(sigma), e.c_out(sigma));
        Ok(f.iter().zip(x).map(|(fi, xi)| skip * xi + out * fi).collect())
    }

    /// Replaces the network's parameters (W0, b0, ... flattened).
    ///
    /// # Errors
    ///
    /// When the count or a length does not match the network.
    pub fn set_parameters(&mut self, values: &[Vec<f32>]) -> Result<(), MethodError> {
        self.net.set_parameters(values)
    }
}

/// The batches of a PFGM++ run: data, `sigma`, the Gaussian `z` and (finite
/// `D`) the radial `chi2_D`, each from its own stream.
struct PfgmBatches {
    model: PfgmModel,
    data: Gmm,
    batch: usize,
    data_rng: SeedStream,
    sigma_rng: SeedStream,
    noise_rng: SeedStream,
    radial_rng: SeedStream,
}

impl BatchSource for PfgmBatches {
    fn batch(&mut self, _step: usize) -> Result<Batch, MethodError> {
        let (n, d, e) = (self.batch, self.model.net.dim, self.model.edm);
        let y = self.data.sample(n, &mut self.data_rng)?.to_f64_vec()?;
        let sigmas: Vec<f64> = (0..n).map(|_| libm::exp(e.p_mean + e.p_std * self.sigma_rng.normal_f64())).collect();
        let z: Vec<f64> = (0..n * d).map(|_| self.noise_rng.normal_f64()).collect();
        let perturbation = perturb(self.model.augmentation, &z, d, &sigmas, &mut self.radial_rng)?;
        let mut scaled = Vec::with_capacity(n * d);
        let mut target = Vec::with_capacity(n * d);
        for i in 0..n {
            let s = sigmas[i];
            let (c_in, c_skip, c_out) = (e.c_in(s), e.c_skip(s), e.c_out(s));
            for j in 0..d {
                let x = y[i * d + j] + perturbation[i * d + j];
                scaled.push((c_in * x) as f32);
                // lambda(sigma) |D - y|^2 = |F - (y - c_skip x) / c_out|^2 with EDM's weight.
                target.push(((y[i * d + j] - c_skip * x) / c_out) as f32);
            }
        }
        let noise_condition: Vec<f32> = sigmas.iter().map(|&s| e.c_noise(s) as f32).collect();
        let input = self.model.net.input(&Tensor::from_shape_vec(&[n, d], scaled)?, &noise_condition)?;
        Ok(Batch { input, target: Tensor::from_shape_vec(&[n, d], target)?, output_scale: None })
    }
}

/// A PFGM++ training run of `model` on draws from `data`, on any backend, a
/// step at a time: the official recipe (see the module docs), Adam with the
/// learning rate cosine-decayed to 10%, and a moving average of the weights
/// ([`crate::diffusion::WEIGHT_AVERAGE_DECAY`]) as the result.
///
/// # Errors
///
/// Mismatched sizes or bad settings.
pub fn trainer<B: Backend>(backend: &B, model: &PfgmModel, data: &Gmm, config: &TrainConfig) -> Result<Trainer<B>, MethodError> {
    let d = model.net.dim;
    if data.dim() != d {
        return Err(MethodError::Config(format!("the data are {}-D but the model is {d}-D", data.dim())));
    }
    let source = PfgmBatches {
        model: model.clone(),
        data: data.clone(),
        batch: config.batch,
        data_rng: SeedStream::new(config.seed, "pfgm/data"),
        sigma_rng: SeedStream::new(config.seed, "pfgm/sigma"),
        noise_rng: SeedStream::new(config.seed, "pfgm/noise"),
        radial_rng: SeedStream::new(config.seed, "pfgm/radial"),
    };
    Trainer::new(backend, &model.net.net, config, Some(crate::diffusion::WEIGHT_AVERAGE_DECAY), Box::new(source), Regression::Squared)
}

/// Trains `model` on the CPU ([`trainer`]); it ends with the moving average
/// of its weights, also when stopped early.
///
/// # Errors
///
/// Bad settings, a stop or divergence.
pub fn train(model: &mut PfgmModel, data: &Gmm, config: &TrainConfig, monitor: &mut Monitor<'_>) -> Result<TrainReport, MethodError> {
    let mut run = trainer(&Cpu, model, data, config)?;
    run_and_apply(&mut run, monitor, &mut |values| model.set_parameters(values))
}

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleConfig {
    /// Heun steps (the function evaluations are `2 steps - 1`).
    pub steps: usize,
    /// Noise injected after every step: `x += alpha sigma_{i+1} eps`
    /// (0 for the plain sampler).
    pub alpha: f64,
    /// Seed of the prior's radial draws and of the injected noise.
    pub seed: u64,
}

/// Samples from the prior (the kernel at `sigma_max` around the origin,
/// its direction and Gaussian part from `z`, `[n, dim]`) with EDM's Heun
/// sampler. Rows that leave the finite numbers stay NaN; the caller's
/// metrics report them.
///
/// # Errors
///
/// A batch that does not match the model, or zero steps.
pub fn sample(model: &PfgmModel, z: &Tensor, config: &SampleConfig) -> Result<Tensor, MethodError> {
    let d = model.net.dim;
    if z.shape().len() != 2 || z.shape()[1] != d {
        return Err(MethodError::Config(format!("the model samples {d}-D points, but the noise has shape {:?}", z.shape())));
    }
    if config.steps == 0 || config.steps > 10_000 || !(config.alpha >= 0.0 && config.alpha.is_finite()) {
        return Err(MethodError::Config(format!(
            "sampling needs 1 to 10000 steps and a noise level alpha >= 0; got {} and {}",
            config.steps, config.alpha
        )));
    }
    let n = z.shape()[0];
    let levels = model.edm.levels(config.steps);
    let mut radial = SeedStream::new(config.seed, "pfgm/prior-radial");
    let mut injection = SeedStream::new(config.seed, "pfgm/injection");
    let mut x = perturb(model.augmentation, &z.to_f64_vec()?, d, &vec![levels[0]; n], &mut radial)?;
    for w in levels.windows(2) {
        let (s, s_next) = (w[0], w[1]);
        let denoised = model.denoise(&x, s)?;
        let slope: Vec<f64> = x.iter().zip(&denoised).map(|(xi, di)| (xi - di) / s).collect();
        let mut next: Vec<f64> = x.iter().zip(&slope).map(|(xi, k)| xi + (s_next - s) * k).collect();
        if s_next > 0.0 {
            let denoised = model.denoise(&next, s_next)?;
            next = x
                .iter()
                .zip(&slope)
                .zip(next.iter().zip(&denoised))
                .map(|((xi, k1), (xn, dn))| xi + (s_next - s) * 0.5 * (k1 + (xn - dn) / s_next))
                .collect();
            if config.alpha > 0.0 {
                for v in &mut next {
                    *v += config.alpha * s_next * injection.normal_f64();
                }
            }
        }
        x = next;
    }
    Ok(Tensor::from_shape_vec(&[n, d], x.iter().map(|&v| v as f32).collect())?)
}

/// Root-mean-square distance between paired rows of two point sets.
///
/// # Errors
///
/// Mismatched shapes.
pub fn paired_rms(a: &Tensor, b: &Tensor) -> Result<f64, MethodError> {
    if a.shape() != b.shape() || a.shape().len() != 2 || a.shape()[0] == 0 {
        return Err(MethodError::Config(format!("paired distances need two point sets of one shape; got {:?} and {:?}", a.shape(), b.shape())));
    }
    let rows = a.shape()[0] as f64;
    let (a, b) = (a.to_f64_vec()?, b.to_f64_vec()?);
    let sum: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum();
    Ok((sum / rows).sqrt())
}

/// The fraction of `points` within `within` standard deviations of the
/// nearest mean of `data` (finite points only count as near).
///
/// # Errors
///
/// Points of another dimension.
pub fn fraction_near_modes(data: &Gmm, points: &Tensor, within: f64) -> Result<f64, MethodError> {
    let d = data.dim();
    if points.shape().len() != 2 || points.shape()[1] != d {
        return Err(MethodError::Config(format!("the mixture is {d}-D but the points have shape {:?}", points.shape())));
    }
    let values = points.to_f64_vec()?;
    let rows = values.len() / d;
    let mut near = 0usize;
    for p in values.chunks(d) {
        let hit = (0..data.components()).any(|k| match (data.mean(k), data.std(k)) {
            (Some(mean), Some(std)) => mean.iter().zip(p).map(|(m, x)| (m - x).powi(2)).sum::<f64>().sqrt() <= within * std,
            _ => false,
        });
        near += usize::from(hit);
    }
    Ok(near as f64 / rows.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use odeon_nn::{Activation, Module};
    use odeon_solve::metrics::ks_test;

    /// The sampled radii follow the analytic law for every `D`, at several
    /// noise levels, and the two-dimensional closed form agrees with the
    /// incomplete-beta form.
    #[test]
    fn radii_follow_the_analytic_law() {
        for d in [1.0, 4.0, 16.0, 128.0, 2048.0, 1e5, f64::INFINITY] {
            let aug = Augmentation::new(d).expect("D");
            for sigma in [0.01, 1.0, 455.0] {
                let radii = sample_radii(aug, 2, sigma, 4000, 7).expect("radii");
                let ks = ks_test(&radii, |r| radius_cdf(2, aug, sigma, r).unwrap_or(f64::NAN)).expect("ks");
                assert!(ks.p_value > 0.001, "D {d} sigma {sigma}: KS {ks:?}");
            }
            if d.is_finite() {
                for (sigma, r) in [(1.0, 0.5), (2.0, 7.0), (0.3, 0.01)] {
                    let closed = 1.0 - (sigma * sigma * d / (r * r + sigma * sigma * d)).powf(d / 2.0);
                    let general = radius_cdf(2, aug, sigma, r).expect("cdf");
                    assert!((closed - general).abs() < 1e-9, "D {d}: {closed} vs {general}");
                }
            }
        }
        // A wrong law is rejected: the D = 4 radii against the Gaussian's.
        let radii = sample_radii(Augmentation::Finite(4.0), 2, 1.0, 4000, 7).expect("radii");
        let ks = ks_test(&radii, |r| radius_cdf(2, Augmentation::Infinite, 1.0, r).unwrap_or(f64::NAN)).expect("ks");
        assert!(ks.p_value < 1e-6, "{ks:?}");
        assert!(Augmentation::new(0.0).is_err() && Augmentation::new(f64::NAN).is_err());
    }

    /// The preconditioning makes EDM's weighted loss a plain regression:
    /// `lambda c_out^2 = 1`, and `D(x, sigma)` at `F = 0` is `c_skip x`.
    #[test]
    fn preconditioning_is_edms() {
        let e = Edm::scaled_to(0.5).expect("edm");
        assert_eq!((e.sigma_min, e.sigma_max, e.p_mean), (0.002, 80.0, -1.2));
        for s in [0.01, 0.5, 3.0, 80.0] {
            let lambda = (s * s + 0.25) / (s * 0.5_f64).powi(2);
            assert!((lambda * e.c_out(s).powi(2) - 1.0).abs() < 1e-12);
            assert!((e.c_skip(s) + e.c_out(s).powi(2) / 0.25 - 1.0).abs() < 1e-12);
        }
        let levels = e.levels(18);
        assert_eq!(levels.len(), 19);
        assert!((levels[0] - 80.0).abs() < 1e-9 && (levels[17] - 0.002).abs() < 1e-12 && levels[18] == 0.0);
        assert!(levels.windows(2).all(|w| w[0] > w[1]));
        let k = Edm::scaled_to(2.0).expect("edm");
        assert!((k.sigma_max - 320.0).abs() < 1e-9 && (k.c_noise(8.0) - e.c_noise(2.0)).abs() < 1e-12);
    }

    fn ring() -> Gmm {
        Gmm::ring(8, 4.0, 0.3).expect("ring")
    }

    /// The ring's per-coordinate standard deviation, `sqrt(R^2/2 + s^2)`.
    #[test]
    fn the_data_scale_is_the_rings() {
        assert!((ring().coordinate_std() - (8.0 + 0.09_f64).sqrt()).abs() < 1e-12);
    }

    fn data_std(g: &Gmm) -> f64 {
        g.coordinate_std()
    }

    /// Experiments (run by hand): `cargo test --release -p odeon-methods pfgm::tests::explore -- --ignored --nocapture`.
    #[test]
    #[ignore = "an exploration, prints numbers"]
    fn explore() {
        let data = ring();
        let steps: usize = std::env::var("PFGM_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
        let hidden: usize = std::env::var("PFGM_HIDDEN").ok().and_then(|s| s.parse().ok()).unwrap_or(128);
        let seed: u64 = std::env::var("PFGM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        let config = TrainConfig { steps, batch: 256, lr: 2e-3, seed: seed + 3 };
        let z = SeedStream::new(seed + 9, "z").normal_tensor(&[2000, 2]);
        let mut refs = SeedStream::new(seed + 11, "ref");
        let mut models = Vec::new();
        for d in [1.0, 4.0, 16.0, 128.0, 2048.0, 1e5, f64::INFINITY] {
            let net = VelocityModel::new(2, hidden, 3, Activation::Silu, seed + 2).expect("net");
            let mut model = PfgmModel::new(net, Augmentation::new(d).expect("D"), data_std(&data)).expect("model");
            let t = std::time::Instant::now();
            train(&mut model, &data, &config, &mut |_, _, _| true).expect("train");
            eprintln!("D {d}: trained in {:.1}s", t.elapsed().as_secs_f64());
            models.push((d, model));
        }
        let quality = |s: &Tensor, refs: &mut SeedStream| {
            let mut draw = |n: usize| data.sample(n, refs);
            crate::metrics::sliced_w2_with_floor(s, &mut draw, 4, 1).expect("w")
        };
        let alphas: Vec<f64> = std::env::var("PFGM_ALPHAS").ok().map(|s| s.split(',').map(|v| v.parse().expect("alpha")).collect()).unwrap_or(vec![0.0, 1.0, 2.0, 3.0]);
        let stepss: Vec<usize> = std::env::var("PFGM_STEPSS").ok().map(|s| s.split(',').map(|v| v.parse().expect("steps")).collect()).unwrap_or(vec![18, 3, 5]);
        for &steps in &stepss {
            for &alpha in &alphas {
                let mut line = format!("steps {steps:3} alpha {alpha:4}:");
                for (d, m) in &models {
                    let s = sample(m, &z, &SampleConfig { steps, alpha, seed: 5 }).expect("s");
                    let (w, floor) = quality(&s, &mut refs);
                    let inlier = fraction_near_modes(&data, &s, 3.0).expect("f");
                    line += &format!("  D{d}: {:.3} ({inlier:.2})", w / floor);
                }
                eprintln!("{line}");
            }
        }
        // Weight noise: every parameter plus beta * std(tensor) * eps.
        for beta in [0.02, 0.05, 0.1] {
            let mut line = format!("weight noise {beta}:");
            for (d, m) in &models {
                let mut noisy = m.clone();
                let mut rng = SeedStream::new(77, "weights");
                let params: Vec<Vec<f32>> = noisy.net.net.parameters().iter().map(|p| {
                    let v = p.to_f32_vec().expect("p");
                    let mean = v.iter().sum::<f32>() / v.len() as f32;
                    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt();
                    v.iter().map(|x| x + beta as f32 * std * rng.normal()).collect()
                }).collect();
                noisy.set_parameters(&params).expect("set");
                let s = sample(&noisy, &z, &SampleConfig { steps: 18, alpha: 0.0, seed: 5 }).expect("s");
                let (w, floor) = quality(&s, &mut refs);
                line += &format!("  D{d}: {:.3}", w / floor);
            }
            eprintln!("{line}");
        }
    }
}
