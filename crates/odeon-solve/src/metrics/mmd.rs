//! Maximum mean discrepancy with a Gaussian kernel.

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_points, sq_dist};

/// A positive-definite kernel for [`mmd2`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// The Gaussian (RBF) kernel `k(x, y) = exp(−|x − y|² / (2 σ²))` with
    /// bandwidth `σ > 0` (see [`median_bandwidth`] for a default).
    Gaussian {
        /// The bandwidth `σ`.
        bandwidth: f64,
    },
}

impl Kernel {
    fn check(self) -> Result<(), MetricsError> {
        match self {
            Kernel::Gaussian { bandwidth } if bandwidth.is_finite() && bandwidth > 0.0 => Ok(()),
            Kernel::Gaussian { bandwidth } => Err(MetricsError::InvalidBandwidth { bandwidth }),
        }
    }

    /// `k(x, x)`.
    fn diagonal(self) -> f64 {
        match self {
            Kernel::Gaussian { .. } => 1.0,
        }
    }

    /// `k(x, y)`.
    fn eval(self, x: &[f64], y: &[f64]) -> f64 {
        match self {
            Kernel::Gaussian { bandwidth } => libm::exp(-sq_dist(x, y) / (2.0 * bandwidth * bandwidth)),
        }
    }
}

/// Which estimate of `MMD²` to compute (Gretton et al. 2012, Eqs. 3 and 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MmdEstimator {
    /// The V-statistic `‖μ̂_a − μ̂_b‖²` in the kernel's feature space,
    /// including the `i = j` terms. Never negative (clamped at 0 against
    /// rounding), exactly 0 up to rounding for identical sets, but biased
    /// upwards by `O(1/n)` for two draws of one distribution.
    Biased,
    /// The U-statistic: within-set sums exclude `i = j`. Unbiased for the
    /// population `MMD²`, so it fluctuates around 0 (and can be slightly
    /// negative) for two draws of one distribution. Needs at least two
    /// points in each set.
    Unbiased,
}

/// The squared maximum mean discrepancy between two point sets in `R^d`
/// (row-major, see the [module docs](super)), which may differ in size.
///
/// `MMD² = E k(x, x') + E k(y, y') − 2 E k(x, y)`, estimated as chosen by
/// `estimator`. Time O((n + m)² d); sums run in a fixed order. For the
/// distance itself take the square root of the biased estimate.
pub fn mmd2(a: &[f64], b: &[f64], d: usize, kernel: Kernel, estimator: MmdEstimator) -> Result<f64, MetricsError> {
    kernel.check()?;
    let n = check_points("the first point set", a, d)?;
    let m = check_points("the second point set", b, d)?;
    if estimator == MmdEstimator::Unbiased {
        if n < 2 {
            return Err(MetricsError::TooFew { which: "the first point set (unbiased MMD)", needed: 2, got: n });
        }
        if m < 2 {
            return Err(MetricsError::TooFew { which: "the second point set (unbiased MMD)", needed: 2, got: m });
        }
    }
    let off_diagonal = |points: &[f64]| -> f64 {
        let mut sum = 0.0;
        for (i, x) in points.chunks_exact(d).enumerate() {
            for y in points.chunks_exact(d).skip(i + 1) {
                sum += kernel.eval(x, y);
            }
        }
        sum
    };
    let sxx = off_diagonal(a);
    let syy = off_diagonal(b);
    let mut sxy = 0.0;
    for x in a.chunks_exact(d) {
        for y in b.chunks_exact(d) {
            sxy += kernel.eval(x, y);
        }
    }
    let (nf, mf) = (n as f64, m as f64);
    let cross = 2.0 * sxy / (nf * mf);
    Ok(match estimator {
        MmdEstimator::Biased => {
            let kxx = (nf * kernel.diagonal() + 2.0 * sxx) / (nf * nf);
            let kyy = (mf * kernel.diagonal() + 2.0 * syy) / (mf * mf);
            (kxx + kyy - cross).max(0.0)
        }
        MmdEstimator::Unbiased => 2.0 * sxx / (nf * (nf - 1.0)) + 2.0 * syy / (mf * (mf - 1.0)) - cross,
    })
}

/// Points used at most by [`median_bandwidth`].
const MEDIAN_POINTS: usize = 1000;

/// The median heuristic for a Gaussian bandwidth: the median Euclidean
/// distance between distinct points of the pooled sample `a ∪ b`.
///
/// When the pool has more than 1000 points, 1000 of them are taken at
/// evenly spaced positions of the pool (`a` then `b`), with no randomness,
/// so the result is deterministic and costs at most ~500 000 distances.
/// With an even number of pairs the two middle distances are averaged.
/// Errors if all (selected) points coincide, where the median is 0.
pub fn median_bandwidth(a: &[f64], b: &[f64], d: usize) -> Result<f64, MetricsError> {
    let n = check_points("the first point set", a, d)?;
    let m = check_points("the second point set", b, d)?;
    let pool = n + m;
    if pool < 2 {
        return Err(MetricsError::TooFew { which: "the pooled sample (median bandwidth)", needed: 2, got: pool });
    }
    let point = |k: usize| -> &[f64] { if k < n { &a[k * d..(k + 1) * d] } else { &b[(k - n) * d..(k - n + 1) * d] } };
    let count = pool.min(MEDIAN_POINTS);
    // Evenly spaced positions floor(k * pool / count), all distinct.
    let chosen: Vec<&[f64]> = (0..count).map(|k| point((k as u128 * pool as u128 / count as u128) as usize)).collect();
    let mut distances = Vec::with_capacity(count * (count - 1) / 2);
    for (i, x) in chosen.iter().enumerate() {
        for y in &chosen[i + 1..] {
            distances.push(sq_dist(x, y));
        }
    }
    let len = distances.len();
    let mid = len / 2;
    let (_, &mut upper, _) = distances.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = libm::sqrt(upper);
    let bandwidth = if len % 2 == 1 {
        upper
    } else {
        let lower = distances[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (libm::sqrt(lower) + upper)
    };
    if bandwidth > 0.0 && bandwidth.is_finite() { Ok(bandwidth) } else { Err(MetricsError::InvalidBandwidth { bandwidth }) }
}
