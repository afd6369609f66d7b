//! Gaussian mixtures with exact scores, noised marginals and denoisers: the
//! shared ground truth of the generative-model notebooks.
//!
//! A mixture of isotropic Gaussians stays one under the affine noising
//! `x_t = a x + s z` (`z ~ N(0, I)`) that diffusion models, flow matching and
//! stochastic interpolants all use: component `k` becomes
//! `N(a mu_k, (a^2 sigma_k^2 + s^2) I)` with the same weight. So the exact
//! log-density, score `grad log p_t`, denoiser `E[x | x_t]` and the
//! interpolant velocity `E[a' x + s' z | x_t]` have closed forms, and learned
//! fields can be compared with the truth point by point.
//!
//! Everything is f64 with libm's transcendentals (the same bits natively and
//! in the browser); log-sum-exp keeps far-away points finite.

use odeon_tensor::{SeedStream, Tensor};

use crate::MethodError;

/// A mixture of isotropic Gaussians in `dim` dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Gmm {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    stds: Vec<f64>,
    dim: usize,
}

impl Gmm {
    /// Weights (normalised here), means (all of one dimension) and standard
    /// deviations (positive) of the components.
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: Vec<f64>) -> Result<Gmm, MethodError> {
        let k = weights.len();
        let dim = means.first().map_or(0, Vec::len);
        let total: f64 = weights.iter().sum();
        if k == 0 || means.len() != k || stds.len() != k || dim == 0 {
            return Err(MethodError::Config(format!(
                "a Gaussian mixture needs as many weights, means and stds (at least one each); got {k}, {} and {}",
                means.len(),
                stds.len()
            )));
        }
        if means.iter().any(|m| m.len() != dim || m.iter().any(|v| !v.is_finite())) {
            return Err(MethodError::Config(format!("every mean must have {dim} finite coordinates")));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || stds.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(MethodError::Config("weights must be non-negative with a positive sum, and stds positive".into()));
        }
        Ok(Gmm { weights: weights.iter().map(|w| w / total).collect(), means, stds, dim })
    }

    /// `modes` equal components with standard deviation `std` on a circle of
    /// `radius` (2-D): the 8-Gaussians toy with `(8, 4.0, 0.3)`.
    pub fn ring(modes: usize, radius: f64, std: f64) -> Result<Gmm, MethodError> {
        let means = (0..modes)
            .map(|k| {
                let angle = 2.0 * std::f64::consts::PI * k as f64 / modes.max(1) as f64;
                vec![radius * libm::cos(angle), radius * libm::sin(angle)]
            })
            .collect();
        Gmm::new(vec![1.0; modes], means, vec![std; modes])
    }

    /// Dimension of the points.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The standard deviation per coordinate, `sqrt(E|x - E x|^2 / dim)`:
    /// the data scale EDM-style preconditioning uses.
    pub fn coordinate_std(&self) -> f64 {
        let d = self.dim as f64;
        let centre: Vec<f64> = (0..self.dim).map(|j| self.weights.iter().zip(&self.means).map(|(w, m)| w * m[j]).sum()).collect();
        let variance: f64 = self
            .weights
            .iter()
            .zip(&self.means)
            .zip(&self.stds)
            .map(|((w, m), s)| w * (m.iter().zip(&centre).map(|(a, c)| (a - c).powi(2)).sum::<f64>() / d + s * s))
            .sum();
        variance.sqrt()
    }

    /// Number of components.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// `n` draws as an `[n, dim]` f32 tensor.
    pub fn sample(&self, n: usize, rng: &mut SeedStream) -> Result<Tensor, MethodError> {
        Ok(self.sample_labelled(n, rng)?.0)
    }

    /// `n` draws and the component each came from (the same draws as
    /// [`Gmm::sample`] with the same stream).
    pub fn sample_labelled(&self, n: usize, rng: &mut SeedStream) -> Result<(Tensor, Vec<usize>), MethodError> {
        let mut data = Vec::with_capacity(n * self.dim);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let k = rng.categorical(&self.weights).map_err(|e| MethodError::Config(e.to_string()))?;
            labels.push(k);
            for j in 0..self.dim {
                data.push((self.means[k][j] + self.stds[k] * rng.normal_f64()) as f32);
            }
        }
        Ok((Tensor::from_shape_vec(&[n, self.dim], data)?, labels))
    }

    /// The mean of component `k` (`None` past the last).
    pub fn mean(&self, k: usize) -> Option<&[f64]> {
        self.means.get(k).map(Vec::as_slice)
    }

    /// The weight of component `k` (`None` past the last).
    pub fn weight(&self, k: usize) -> Option<f64> {
        self.weights.get(k).copied()
    }

    /// The standard deviation of component `k` (`None` past the last).
    pub fn std(&self, k: usize) -> Option<f64> {
        self.stds.get(k).copied()
    }

    /// The most probable component for the point `y`.
    pub fn component_of(&self, y: &[f64]) -> Result<usize, MethodError> {
        self.check_point(y)?;
        let (r, _) = self.responsibilities(y);
        Ok(r.iter().enumerate().fold((0, f64::NEG_INFINITY), |best, (k, &v)| if v > best.1 { (k, v) } else { best }).0)
    }

    /// The law of `a x + s z` for `x` from this mixture and `z ~ N(0, I)`.
    pub fn noised(&self, a: f64, s: f64) -> Gmm {
        Gmm {
            weights: self.weights.clone(),
            means: self.means.iter().map(|m| m.iter().map(|v| a * v).collect()).collect(),
            stds: self.stds.iter().map(|sd| (a * a * sd * sd + s * s).sqrt()).collect(),
            dim: self.dim,
        }
    }

    fn check_point(&self, y: &[f64]) -> Result<(), MethodError> {
        if y.len() == self.dim {
            Ok(())
        } else {
            Err(MethodError::Config(format!("the mixture is {}-D but the point has {} coordinates", self.dim, y.len())))
        }
    }

    /// Log of each component's weighted density at `y` (up to nothing: exact).
    fn log_terms(&self, y: &[f64]) -> Vec<f64> {
        let d = self.dim as f64;
        (0..self.components())
            .map(|k| {
                let var = self.stds[k] * self.stds[k];
                let d2: f64 = y.iter().zip(&self.means[k]).map(|(a, b)| (a - b) * (a - b)).sum();
                libm::log(self.weights[k]) - 0.5 * d * libm::log(2.0 * std::f64::consts::PI * var) - 0.5 * d2 / var
            })
            .collect()
    }

    /// Posterior probabilities of the components given `y`, and `log p(y)`.
    fn responsibilities(&self, y: &[f64]) -> (Vec<f64>, f64) {
        let terms = self.log_terms(y);
        let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = terms.iter().map(|t| libm::exp(t - top)).sum();
        let log_p = top + libm::log(sum);
        (terms.iter().map(|t| libm::exp(t - log_p)).collect(), log_p)
    }

    /// `log p(y)`.
    pub fn log_density(&self, y: &[f64]) -> Result<f64, MethodError> {
        self.check_point(y)?;
        Ok(self.responsibilities(y).1)
    }

    /// The score `grad log p(y)`.
    pub fn score(&self, y: &[f64]) -> Result<Vec<f64>, MethodError> {
        self.check_point(y)?;
        let (r, _) = self.responsibilities(y);
        Ok((0..self.dim)
            .map(|j| (0..self.components()).map(|k| r[k] * (self.means[k][j] - y[j]) / (self.stds[k] * self.stds[k])).sum())
            .collect())
    }

    /// The Laplacian of the log-density, `tr(grad^2 log p(y))` (the
    /// divergence of the score), in closed form.
    pub fn laplacian_log_density(&self, y: &[f64]) -> Result<f64, MethodError> {
        self.check_point(y)?;
        let (r, _) = self.responsibilities(y);
        let d = self.dim as f64;
        let mut mean_g = vec![0.0; self.dim];
        let mut total = 0.0;
        for ((rk, mean), sd) in r.iter().zip(&self.means).zip(&self.stds) {
            let var = sd * sd;
            let g: Vec<f64> = mean.iter().zip(y).map(|(m, yj)| (m - yj) / var).collect();
            total += rk * (-d / var + g.iter().map(|v| v * v).sum::<f64>());
            for (acc, gj) in mean_g.iter_mut().zip(&g) {
                *acc += rk * gj;
            }
        }
        Ok(total - mean_g.iter().map(|v| v * v).sum::<f64>())
    }

    /// The exact denoiser `E[x | a x + s z = y]` for `x` from this mixture.
    pub fn denoise(&self, a: f64, s: f64, y: &[f64]) -> Result<Vec<f64>, MethodError> {
        self.check_point(y)?;
        let noised = self.noised(a, s);
        let (r, _) = noised.responsibilities(y);
        // Within component k, x | y is Gaussian with mean
        // mu_k + a sigma_k^2 / (a^2 sigma_k^2 + s^2) (y - a mu_k).
        Ok((0..self.dim)
            .map(|j| {
                (0..self.components())
                    .map(|k| {
                        let var = self.stds[k] * self.stds[k];
                        let gain = a * var / (a * a * var + s * s);
                        r[k] * (self.means[k][j] + gain * (y[j] - a * self.means[k][j]))
                    })
                    .sum()
            })
            .collect())
    }

    /// The velocity of the interpolant `x_t = a(t) x + s(t) z` at `y`:
    /// `E[a' x + s' z | x_t = y]` with `(a, s, da, ds) = (a(t), s(t), a'(t), s'(t))`
    /// (`s > 0`). For rectified flow from noise to data, `a = t`, `s = 1 - t`.
    pub fn interpolant_velocity(&self, a: f64, s: f64, da: f64, ds: f64, y: &[f64]) -> Result<Vec<f64>, MethodError> {
        if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(MethodError::Config(format!("the noise scale must be positive; got {s}")));
        }
        let x_hat = self.denoise(a, s, y)?;
        Ok(y.iter().zip(&x_hat).map(|(yj, xj)| da * xj + ds * (yj - a * xj) / s).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixture() -> Gmm {
        Gmm::new(vec![0.2, 0.5, 0.3], vec![vec![-2.0, 0.5], vec![1.5, 1.0], vec![0.0, -2.0]], vec![0.4, 0.7, 0.5]).expect("valid")
    }

    #[test]
    fn density_integrates_to_one() {
        let g = mixture().noised(0.8, 0.3);
        let (n, half) = (300usize, 7.0f64);
        let h = 2.0 * half / n as f64;
        let mut mass = 0.0;
        for i in 0..n {
            for j in 0..n {
                let y = [-half + h * (i as f64 + 0.5), -half + h * (j as f64 + 0.5)];
                mass += g.log_density(&y).expect("point").exp() * h * h;
            }
        }
        assert!((mass - 1.0).abs() < 1e-6, "mass {mass}");
    }

    #[test]
    fn score_is_the_gradient_of_the_log_density() {
        let g = mixture().noised(0.6, 0.5);
        for y in [[0.3, -0.7], [-2.5, 1.0], [9.0, 9.0]] {
            let score = g.score(&y).expect("score");
            for j in 0..2 {
                let eps = 1e-5;
                let (mut up, mut down) = (y, y);
                up[j] += eps;
                down[j] -= eps;
                let fd = (g.log_density(&up).expect("up") - g.log_density(&down).expect("down")) / (2.0 * eps);
                assert!((fd - score[j]).abs() < 1e-6 * (1.0 + fd.abs()), "{y:?}[{j}]: {fd} vs {}", score[j]);
            }
        }
    }

    #[test]
    fn laplacian_matches_finite_differences_of_the_score() {
        let g = mixture().noised(0.9, 0.4);
        for y in [[0.3, -0.7], [-2.0, 0.4], [5.0, -5.0]] {
            let eps = 1e-5;
            let fd: f64 = (0..2)
                .map(|j| {
                    let (mut up, mut down) = (y, y);
                    up[j] += eps;
                    down[j] -= eps;
                    (g.score(&up).expect("up")[j] - g.score(&down).expect("down")[j]) / (2.0 * eps)
                })
                .sum();
            let exact = g.laplacian_log_density(&y).expect("laplacian");
            assert!((fd - exact).abs() < 1e-5 * (1.0 + exact.abs()), "{y:?}: {fd} vs {exact}");
        }
    }

    /// Tweedie's formula: `E[x | a x + s z = y] = (y + s^2 grad log p_t(y)) / a`.
    #[test]
    fn the_denoiser_satisfies_tweedie() {
        let g = mixture();
        for (a, s) in [(1.0, 0.5), (0.7, 0.9), (0.2, 2.0)] {
            let noised = g.noised(a, s);
            for y in [[0.0, 0.0], [1.2, -0.4], [-3.0, 2.5]] {
                let denoised = g.denoise(a, s, &y).expect("denoise");
                let score = noised.score(&y).expect("score");
                for j in 0..2 {
                    let tweedie = (y[j] + s * s * score[j]) / a;
                    assert!((denoised[j] - tweedie).abs() < 1e-10 * (1.0 + tweedie.abs()), "a {a} s {s} {y:?}: {} vs {tweedie}", denoised[j]);
                }
            }
        }
    }

    /// The velocity transports the marginals: the continuity equation
    /// `d/dt p_t + div(p_t v_t) = 0` holds at sample points (finite
    /// differences in t and y), for the straight interpolant a = t, s = 1 - t.
    #[test]
    fn the_interpolant_velocity_solves_the_continuity_equation() {
        let g = mixture();
        let p = |t: f64, y: &[f64]| g.noised(t, 1.0 - t).log_density(y).expect("density").exp();
        let v = |t: f64, y: &[f64]| g.interpolant_velocity(t, 1.0 - t, 1.0, -1.0, y).expect("velocity");
        let (dt, dy) = (1e-5, 1e-5);
        for t in [0.2, 0.5, 0.8] {
            for y in [[0.1, 0.2], [-1.0, 0.8], [1.0, -1.5]] {
                let dp_dt = (p(t + dt, &y) - p(t - dt, &y)) / (2.0 * dt);
                let mut div = 0.0;
                for j in 0..2 {
                    let (mut up, mut down) = (y, y);
                    up[j] += dy;
                    down[j] -= dy;
                    div += (p(t, &up) * v(t, &up)[j] - p(t, &down) * v(t, &down)[j]) / (2.0 * dy);
                }
                assert!((dp_dt + div).abs() < 1e-5 * (1.0 + dp_dt.abs()), "t {t} {y:?}: dp/dt {dp_dt} vs -div {}", -div);
            }
        }
    }

    #[test]
    fn samples_follow_the_weights_and_bad_input_is_refused() {
        let g = mixture();
        let mut rng = SeedStream::new(1, "test/gmm");
        let x = g.sample(20_000, &mut rng).expect("samples").to_f32_vec().expect("data");
        let mean_x: f64 = x.chunks(2).map(|p| f64::from(p[0])).sum::<f64>() / 20_000.0;
        let expected = 0.2 * -2.0 + 0.5 * 1.5;
        assert!((mean_x - expected).abs() < 0.05, "{mean_x} vs {expected}");
        assert!(Gmm::new(vec![1.0], vec![vec![0.0]], vec![0.0]).is_err());
        assert!(Gmm::new(vec![1.0, 1.0], vec![vec![0.0], vec![0.0, 1.0]], vec![1.0, 1.0]).is_err());
        assert!(g.score(&[1.0]).is_err());
        assert!(g.interpolant_velocity(1.0, 0.0, 1.0, -1.0, &[0.0, 0.0]).is_err());
        assert_eq!(Gmm::ring(8, 4.0, 0.3).expect("ring").components(), 8);
    }
}
