//! Wasserstein distances between empirical measures (uniform weights):
//! exact in one dimension, sliced in many, and exact by assignment.

use odeon_tensor::SeedStream;
use serde::{Deserialize, Serialize};

use super::transport::hungarian;
use super::{MetricsError, abs_pow, check_finite, check_order, check_points, root, sq_dist};

/// The `p`-Wasserstein distance between two 1-D samples with uniform
/// weights, of any sizes `n` and `m` (both `>= 1`).
///
/// Computed exactly as `(∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt)^{1/p}` where `F⁻¹`,
/// `G⁻¹` are the step quantile functions of the two samples: after sorting,
/// the interval `[0, 1]` is cut at every `i/n` and `j/m` (in exact integer
/// arithmetic) and each piece pairs one value of each sample. For `n = m`
/// this is the familiar `((1/n) Σ |x₍ᵢ₎ − y₍ᵢ₎|^p)^{1/p}` of sorted samples.
/// `p` must be finite and `>= 1`.
pub fn wasserstein_1d(a: &[f64], b: &[f64], p: f64) -> Result<f64, MetricsError> {
    check_order(p)?;
    check_points("the first sample", a, 1)?;
    check_points("the second sample", b, 1)?;
    let mut xs = a.to_vec();
    let mut ys = b.to_vec();
    xs.sort_unstable_by(f64::total_cmp);
    ys.sort_unstable_by(f64::total_cmp);
    Ok(root(sorted_cost(&xs, &ys, p), p))
}

/// `∫₀¹ |F⁻¹ − G⁻¹|^p` for sorted, non-empty samples.
fn sorted_cost(xs: &[f64], ys: &[f64], p: f64) -> f64 {
    let (n, m) = (xs.len(), ys.len());
    if n == m {
        let sum: f64 = xs.iter().zip(ys).map(|(x, y)| abs_pow(x - y, p)).sum();
        return sum / n as f64;
    }
    // Breakpoints i*m and j*n on the grid of 1/(n*m).
    let (nn, mm) = (n as u128, m as u128);
    let (mut i, mut j) = (0usize, 0usize);
    let mut current: u128 = 0;
    let mut total = 0.0;
    while i < n && j < m {
        let next_i = (i as u128 + 1) * mm;
        let next_j = (j as u128 + 1) * nn;
        let next = next_i.min(next_j);
        total += (next - current) as f64 * abs_pow(xs[i] - ys[j], p);
        current = next;
        if next_i == next {
            i += 1;
        }
        if next_j == next {
            j += 1;
        }
    }
    total / (nn * mm) as f64
}

/// The sliced `p`-Wasserstein distance between two point sets in `R^d`
/// (row-major, see the [module docs](super)):
///
/// `SW_p(μ, ν) = ( E_θ W_p^p(θ·μ, θ·ν) )^{1/p}`, the expectation over
/// directions `θ` uniform on the unit sphere estimated with `projections`
/// directions drawn from `rng` (normalised Gaussian vectors).
///
/// Each 1-D distance is exact ([`wasserstein_1d`]), so the sets may have
/// different sizes. For a set and its shift by `v`, `W_p` of every
/// projection is `|θ·v|`, and for `p = 2` the result tends to `|v|/√d`
/// (since `E (θ·v)² = |v|²/d`). The Monte Carlo error shrinks like
/// `1/√projections`. Cost: `projections · (n + m)(d + log n)`.
pub fn sliced_wasserstein(
    a: &[f64],
    b: &[f64],
    d: usize,
    projections: usize,
    p: f64,
    rng: &mut SeedStream,
) -> Result<f64, MetricsError> {
    check_order(p)?;
    let n = check_points("the first point set", a, d)?;
    let m = check_points("the second point set", b, d)?;
    if projections == 0 {
        return Err(MetricsError::NoProjections);
    }
    let mut xs = vec![0.0; n];
    let mut ys = vec![0.0; m];
    let mut sum = 0.0;
    for _ in 0..projections {
        let theta = rng.unit_sphere(d).map_err(|_| MetricsError::ZeroDimension)?;
        project(a, &theta, &mut xs);
        project(b, &theta, &mut ys);
        xs.sort_unstable_by(f64::total_cmp);
        ys.sort_unstable_by(f64::total_cmp);
        sum += sorted_cost(&xs, &ys, p);
    }
    Ok(root(sum / projections as f64, p))
}

/// `out[i] = θ · point_i`, summed in coordinate order.
fn project(points: &[f64], theta: &[f64], out: &mut [f64]) {
    for (o, row) in out.iter_mut().zip(points.chunks_exact(theta.len())) {
        *o = row.iter().zip(theta).map(|(x, t)| x * t).sum();
    }
}

/// The exact optimal transport between two equally sized point sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactTransport {
    /// `W_p`: the `p`-th root of `cost`.
    pub distance: f64,
    /// The optimal mean transport cost `(1/n) Σ_i |a_i − b_{σ(i)}|^p`
    /// (`W_p^p`).
    pub cost: f64,
    /// The optimal matching `σ`: point `i` of `a` goes to point
    /// `assignment[i]` of `b`.
    pub assignment: Vec<usize>,
}

/// The exact `p`-Wasserstein distance between two point sets of equal
/// size `n` with uniform weights (row-major, see the [module docs](super)).
///
/// With equal sizes and uniform weights an optimal plan is a permutation
/// (Birkhoff–von Neumann), found here with [`hungarian`] on the cost
/// matrix `|a_i − b_j|^p` (Euclidean norm). Time O(n³), memory `8 n²`
/// bytes for the cost matrix (32 MB at n = 2000). `p` must be finite and
/// `>= 1`.
pub fn wasserstein_exact(a: &[f64], b: &[f64], d: usize, p: f64) -> Result<ExactTransport, MetricsError> {
    check_order(p)?;
    let n = check_points("the first point set", a, d)?;
    let m = check_points("the second point set", b, d)?;
    if n != m {
        return Err(MetricsError::SizeMismatch { what: "exact Wasserstein (assignment)", left: n, right: m });
    }
    let mut cost = Vec::with_capacity(n * n);
    for x in a.chunks_exact(d) {
        for y in b.chunks_exact(d) {
            let sq = sq_dist(x, y);
            cost.push(if p == 2.0 { sq } else { abs_pow(libm::sqrt(sq), p) });
        }
    }
    // Differences of finite values can overflow to infinity.
    check_finite("the pairwise cost matrix (values too large)", &cost)?;
    let assignment = hungarian(&cost, n)?;
    let mean = assignment.total / n as f64;
    Ok(ExactTransport { distance: root(mean, p), cost: mean, assignment: assignment.columns })
}
