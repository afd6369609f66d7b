//! Least-squares line fits, in particular log-log slopes for convergence
//! orders.

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_finite};

/// A fitted line `y ≈ slope · x + intercept` with its coefficient of
/// determination.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    /// The slope (for [`loglog_slope`]: the exponent `k` in `y ≈ C x^k`).
    pub slope: f64,
    /// The intercept (for [`loglog_slope`]: `ln C`, natural logarithm).
    pub intercept: f64,
    /// `R² = 1 − SS_res / SS_tot` (1 for a perfect fit; defined as 1 when
    /// all `y` are equal, since the horizontal line then fits exactly).
    pub r2: f64,
}

/// Ordinary least squares of `ys` on `xs` (equal lengths, at least two
/// points, at least two distinct `x`, all finite). Centred two-pass sums
/// in index order.
pub fn linear_fit(xs: &[f64], ys: &[f64]) -> Result<LinearFit, MetricsError> {
    if xs.len() != ys.len() {
        return Err(MetricsError::SizeMismatch { what: "a line fit (xs and ys)", left: xs.len(), right: ys.len() });
    }
    if xs.len() < 2 {
        return Err(MetricsError::TooFew { which: "a line fit", needed: 2, got: xs.len() });
    }
    check_finite("xs", xs)?;
    check_finite("ys", ys)?;
    let n = xs.len() as f64;
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = ys.iter().sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(MetricsError::DegenerateFit { count: xs.len() });
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let ss_res: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| {
            let r = y - (slope * x + intercept);
            r * r
        })
        .sum();
    let r2 = if syy == 0.0 { 1.0 } else { 1.0 - ss_res / syy };
    Ok(LinearFit { slope, intercept, r2 })
}

/// The slope of `ln y` against `ln x` by least squares: the order `k` of a
/// power law `y ≈ C x^k` (e.g. error against step size for a convergence
/// order, where `k ≈ 4` for RK4; or iterations against dimension).
///
/// Needs equal lengths, at least two points with two distinct `x`, and
/// every value positive and finite (an error names the first offender).
/// The intercept is `ln C` (natural log); `r2` is computed on the logs.
pub fn loglog_slope(xs: &[f64], ys: &[f64]) -> Result<LinearFit, MetricsError> {
    if xs.len() != ys.len() {
        return Err(MetricsError::SizeMismatch { what: "a log-log fit (xs and ys)", left: xs.len(), right: ys.len() });
    }
    let logs = |which: &'static str, values: &[f64]| -> Result<Vec<f64>, MetricsError> {
        check_finite(which, values)?;
        values
            .iter()
            .enumerate()
            .map(|(index, &value)| {
                if value > 0.0 { Ok(libm::log(value)) } else { Err(MetricsError::NotPositive { which, index, value }) }
            })
            .collect()
    };
    linear_fit(&logs("xs", xs)?, &logs("ys", ys)?)
}
