//! Fixed-point iteration, plain or Anderson-accelerated.

use std::collections::VecDeque;

use crate::linalg::{Matrix, dot, lu_solve, norm2};

use super::{ImplicitError, check_value};

/// Anderson acceleration settings (type II, Walker and Ni 2011).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Anderson {
    /// Number of past differences kept (`m`).
    pub memory: usize,
    /// Tikhonov regularisation of the least-squares step, relative to
    /// `|ΔF|²_F` (keeps the step defined when the history is nearly
    /// dependent).
    pub regularization: f64,
    /// Mixing (damping) parameter `β ∈ (0, 1]`; 1 is undamped.
    pub mixing: f64,
}

impl Default for Anderson {
    fn default() -> Self {
        Anderson { memory: 5, regularization: 1e-10, mixing: 1.0 }
    }
}

/// Options for [`fixed_point`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FixedPointOptions {
    /// Stop when `|g(x) - x|₂ ≤ tol`.
    pub tol: f64,
    /// Maximum number of evaluations of `g`.
    pub max_iter: usize,
    /// Anderson acceleration, or `None` for plain iteration `x ← g(x)`.
    pub anderson: Option<Anderson>,
}

impl Default for FixedPointOptions {
    fn default() -> Self {
        FixedPointOptions { tol: 1e-10, max_iter: 1000, anderson: Some(Anderson::default()) }
    }
}

/// The result of a fixed-point search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FixedPointSolution {
    /// The last iterate `x` (its residual is the last of `residuals`).
    pub x: Vec<f64>,
    /// Evaluations of `g`.
    pub iterations: usize,
    /// `|g(x_k) - x_k|₂` for each iterate.
    pub residuals: Vec<f64>,
    /// Whether the tolerance was met.
    pub converged: bool,
}

/// Iterates `x ← g(x)` from `x0` (with Anderson acceleration when
/// `options.anderson` is set) until `|g(x) - x| ≤ tol`.
pub fn fixed_point(
    mut g: impl FnMut(&[f64]) -> Vec<f64>,
    x0: &[f64],
    options: &FixedPointOptions,
) -> Result<FixedPointSolution, ImplicitError> {
    if !(options.tol.is_finite() && options.tol >= 0.0) {
        return Err(ImplicitError::Parameter("the fixed-point tolerance must be finite and nonnegative".into()));
    }
    let valid = |a: &Anderson| {
        a.memory > 0 && a.mixing > 0.0 && a.mixing <= 1.0 && a.regularization >= 0.0 && a.regularization.is_finite()
    };
    if options.anderson.is_some_and(|a| !valid(&a)) {
        return Err(ImplicitError::Parameter(
            "Anderson acceleration needs memory ≥ 1, 0 < mixing ≤ 1 and a finite nonnegative regularisation".into(),
        ));
    }
    let n = x0.len();
    check_value(x0, n, "initial guess")?;
    let mut x = x0.to_vec();
    let mut residuals = Vec::new();
    // Anderson history: differences of iterates and of residuals.
    let mut dx_hist: VecDeque<Vec<f64>> = VecDeque::new();
    let mut df_hist: VecDeque<Vec<f64>> = VecDeque::new();
    let mut prev: Option<(Vec<f64>, Vec<f64>)> = None;
    for iteration in 1..=options.max_iter {
        let gx = g(&x);
        check_value(&gx, n, "g")?;
        let f: Vec<f64> = gx.iter().zip(&x).map(|(a, b)| a - b).collect();
        let res = norm2(&f);
        residuals.push(res);
        if res <= options.tol {
            return Ok(FixedPointSolution { x, iterations: iteration, residuals, converged: true });
        }
        let Some(acc) = options.anderson else {
            x = gx;
            continue;
        };
        if let Some((xp, fp)) = prev.take() {
            dx_hist.push_back(x.iter().zip(&xp).map(|(a, b)| a - b).collect());
            df_hist.push_back(f.iter().zip(&fp).map(|(a, b)| a - b).collect());
            if dx_hist.len() > acc.memory {
                dx_hist.pop_front();
                df_hist.pop_front();
            }
        }
        let beta = acc.mixing;
        let mut next: Vec<f64> = x.iter().zip(&f).map(|(xi, fi)| xi + beta * fi).collect();
        if !df_hist.is_empty() {
            match anderson_weights(&df_hist, &f, acc.regularization) {
                Some(gamma) => {
                    for ((gi, dxi), dfi) in gamma.iter().zip(&dx_hist).zip(&df_hist) {
                        for ((nl, dxl), dfl) in next.iter_mut().zip(dxi).zip(dfi) {
                            *nl -= gi * (dxl + beta * dfl);
                        }
                    }
                }
                None => {
                    // Degenerate history: restart it and take a plain step.
                    dx_hist.clear();
                    df_hist.clear();
                }
            }
        }
        prev = Some((x, f));
        x = next;
    }
    Ok(FixedPointSolution { x, iterations: options.max_iter, residuals, converged: false })
}

/// `γ = argmin |f - ΔF γ|² + λ |ΔF|²_F |γ|²` via the normal equations.
fn anderson_weights(df: &VecDeque<Vec<f64>>, f: &[f64], regularization: f64) -> Option<Vec<f64>> {
    let m = df.len();
    let frob: f64 = df.iter().map(|d| dot(d, d)).sum();
    if !frob.is_finite() || frob <= 0.0 {
        return None;
    }
    let lambda = regularization * frob;
    let gram = Matrix::from_fn(m, m, |i, j| dot(&df[i], &df[j]) + if i == j { lambda } else { 0.0 });
    let rhs: Vec<f64> = df.iter().map(|d| dot(d, f)).collect();
    let gamma = lu_solve(&gram, &rhs).ok()?;
    gamma.iter().all(|g| g.is_finite()).then_some(gamma)
}
