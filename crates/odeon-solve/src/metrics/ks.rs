//! Kolmogorov–Smirnov tests, one- and two-sample.

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_points};

/// The outcome of a Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KsResult {
    /// The KS statistic `D`: the largest vertical gap between the two CDFs
    /// (empirical vs. model, or empirical vs. empirical).
    pub statistic: f64,
    /// The p-value: the probability, under the null hypothesis that the
    /// samples come from the model (or from one distribution), of a
    /// statistic at least this large. Small values (say `< 1e-3`) reject.
    pub p_value: f64,
}

/// The Kolmogorov distribution's survival function
/// `Q(λ) = P(K > λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2 j² λ²)`.
///
/// For `λ < 1.18` the alternating series converges slowly, so the
/// equivalent theta-function form
/// `P(K ≤ λ) = (√(2π)/λ) Σ_{j≥1} exp(−(2j−1)² π² / (8 λ²))` is used
/// instead (Numerical Recipes §6.14). Returns 1 for `λ ≤ 0`, NaN for NaN.
pub fn kolmogorov_survival(lambda: f64) -> f64 {
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        let pi = core::f64::consts::PI;
        let factor = -pi * pi / (8.0 * lambda * lambda);
        let mut sum = 0.0;
        for j in 1..=20u32 {
            let k = f64::from(2 * j - 1);
            let term = libm::exp(factor * k * k);
            sum += term;
            if term < 1e-17 * sum {
                break;
            }
        }
        // sqrt(2 pi), correctly rounded.
        const SQRT_TAU: f64 = 2.506_628_274_631_000_7;
        (1.0 - SQRT_TAU / lambda * sum).clamp(0.0, 1.0)
    } else {
        let factor = -2.0 * lambda * lambda;
        let mut sum = 0.0;
        let mut sign = 1.0;
        for j in 1..=100u32 {
            let jf = f64::from(j);
            let term = libm::exp(factor * jf * jf);
            sum += sign * term;
            sign = -sign;
            if term < 1e-17 * sum.abs() {
                break;
            }
        }
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

/// The p-value for statistic `d` at effective sample size `n_eff`, with
/// Stephens' correction `λ = (√n + 0.12 + 0.11/√n) D`.
fn p_value(d: f64, n_eff: f64) -> f64 {
    let sqrt_n = libm::sqrt(n_eff);
    kolmogorov_survival((sqrt_n + 0.12 + 0.11 / sqrt_n) * d)
}

/// The one-sample Kolmogorov–Smirnov test of `samples` against a model
/// CDF `cdf` (which must return values in `[0, 1]`).
///
/// `D = sup_x |F_n(x) − F(x)|` over the empirical CDF `F_n`; the p-value
/// uses Kolmogorov's limiting distribution with Stephens' small-sample
/// correction (accurate to a few percent for `n >= 5`, conservative in
/// practice). Assumes a continuous model CDF. Errors on an empty sample,
/// non-finite samples, or a CDF value outside `[0, 1]`.
///
/// For a Beta, Gamma or chi-squared model use
/// [`regularized_incomplete_beta`](crate::special::regularized_incomplete_beta),
/// [`regularized_lower_gamma`](crate::special::regularized_lower_gamma) or
/// [`chi_squared_cdf`](crate::special::chi_squared_cdf) inside the closure
/// (with `.unwrap_or(f64::NAN)`: a NaN is reported as an error here).
pub fn ks_test(samples: &[f64], cdf: impl Fn(f64) -> f64) -> Result<KsResult, MetricsError> {
    let n = check_points("the sample", samples, 1)?;
    let mut xs = samples.to_vec();
    xs.sort_unstable_by(f64::total_cmp);
    let nf = n as f64;
    let mut statistic: f64 = 0.0;
    for (i, &x) in xs.iter().enumerate() {
        let f = cdf(x);
        if !(0.0..=1.0).contains(&f) {
            return Err(MetricsError::InvalidCdf { x, value: f });
        }
        let below = f - i as f64 / nf;
        let above = (i + 1) as f64 / nf - f;
        statistic = statistic.max(below).max(above);
    }
    Ok(KsResult { statistic, p_value: p_value(statistic, nf) })
}

/// The two-sample Kolmogorov–Smirnov test: are `a` and `b` drawn from one
/// distribution?
///
/// `D = sup_x |F_a(x) − F_b(x)|` over the two empirical CDFs (ties handled
/// by stepping both CDFs past equal values together); the p-value uses
/// the effective size `n m / (n + m)` in the asymptotic formula of
/// [`ks_test`]. Errors on an empty or non-finite sample.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Result<KsResult, MetricsError> {
    let n = check_points("the first sample", a, 1)?;
    let m = check_points("the second sample", b, 1)?;
    let mut xs = a.to_vec();
    let mut ys = b.to_vec();
    xs.sort_unstable_by(f64::total_cmp);
    ys.sort_unstable_by(f64::total_cmp);
    let (nf, mf) = (n as f64, m as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut statistic: f64 = 0.0;
    while i < n && j < m {
        let x = xs[i].min(ys[j]);
        while i < n && xs[i] <= x {
            i += 1;
        }
        while j < m && ys[j] <= x {
            j += 1;
        }
        statistic = statistic.max((i as f64 / nf - j as f64 / mf).abs());
    }
    Ok(KsResult { statistic, p_value: p_value(statistic, nf * mf / (nf + mf)) })
}
