//! Newton's method for `F(x) = 0`, damped by backtracking.

use crate::linalg::{KrylovOptions, Lu, Matrix, norm2, try_gmres};

use super::{ImplicitError, check_value};

/// Options for [`newton`] and [`newton_krylov`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewtonOptions {
    /// Stop when `|F(x)|₂ ≤ tol`.
    pub tol: f64,
    /// Maximum number of Newton steps.
    pub max_iter: usize,
    /// Damp steps by backtracking: halve the step `t` until
    /// `|F(x + t Δx)| ≤ (1 - armijo t) |F(x)|`.
    pub line_search: bool,
    /// Sufficient-decrease constant of the line search.
    pub armijo: f64,
    /// Smallest step the line search tries before giving up (the search then
    /// stops with `converged: false`).
    pub min_step: f64,
    /// Options of the inner GMRES solve of [`newton_krylov`].
    pub linear: KrylovOptions,
}

impl Default for NewtonOptions {
    fn default() -> Self {
        NewtonOptions {
            tol: 1e-10,
            max_iter: 50,
            line_search: true,
            armijo: 1e-4,
            min_step: 1e-10,
            linear: KrylovOptions { tol: 1e-8, ..KrylovOptions::default() },
        }
    }
}

/// The result of a root search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RootSolution {
    /// The last iterate.
    pub x: Vec<f64>,
    /// Newton steps taken.
    pub iterations: usize,
    /// `|F(x)|₂` at the start and after each step.
    pub residuals: Vec<f64>,
    /// The step length `t` accepted at each step (1 = full Newton step).
    pub step_sizes: Vec<f64>,
    /// Evaluations of `F`.
    pub function_evals: usize,
    /// Whether `|F(x)| ≤ tol` was reached.
    pub converged: bool,
}

fn check_options(options: &NewtonOptions) -> Result<(), ImplicitError> {
    if !(options.tol.is_finite() && options.tol >= 0.0) {
        return Err(ImplicitError::Parameter("the Newton tolerance must be finite and nonnegative".into()));
    }
    if !(options.min_step > 0.0 && options.min_step <= 1.0 && options.armijo >= 0.0 && options.armijo < 1.0) {
        return Err(ImplicitError::Parameter("the line search needs 0 < min_step ≤ 1 and 0 ≤ armijo < 1".into()));
    }
    Ok(())
}

/// The common Newton loop; `step(x, fx)` returns `Δx` with `J(x) Δx = -F(x)`.
fn newton_loop(
    mut f: impl FnMut(&[f64]) -> Vec<f64>,
    mut step: impl FnMut(&[f64], &[f64]) -> Result<Vec<f64>, ImplicitError>,
    x0: &[f64],
    options: &NewtonOptions,
) -> Result<RootSolution, ImplicitError> {
    check_options(options)?;
    let n = x0.len();
    check_value(x0, n, "initial guess")?;
    let mut x = x0.to_vec();
    let mut fx = f(&x);
    check_value(&fx, n, "F")?;
    let mut function_evals = 1;
    let mut norm = norm2(&fx);
    let mut residuals = vec![norm];
    let mut step_sizes = Vec::new();
    let mut iterations = 0;
    while norm > options.tol && iterations < options.max_iter {
        let dx = step(&x, &fx)?;
        check_value(&dx, n, "Newton step")?;
        let mut t = 1.0;
        let (x_new, f_new, norm_new) = loop {
            let trial: Vec<f64> = x.iter().zip(&dx).map(|(xi, di)| xi + t * di).collect();
            let ft = f(&trial);
            function_evals += 1;
            let ok = ft.len() == n && ft.iter().all(|v| v.is_finite());
            let nt = if ok { norm2(&ft) } else { f64::INFINITY };
            if !options.line_search {
                check_value(&ft, n, "F")?;
                break (trial, ft, nt);
            }
            if nt <= (1.0 - options.armijo * t) * norm {
                break (trial, ft, nt);
            }
            t *= 0.5;
            if t < options.min_step {
                // No acceptable step: stop here without converging.
                return Ok(RootSolution { x, iterations, residuals, step_sizes, function_evals, converged: false });
            }
        };
        iterations += 1;
        step_sizes.push(t);
        x = x_new;
        fx = f_new;
        norm = norm_new;
        residuals.push(norm);
    }
    Ok(RootSolution { x, iterations, residuals, step_sizes, function_evals, converged: norm <= options.tol })
}

/// Newton's method with a dense Jacobian: `jacobian(x)` returns the `n × n`
/// matrix `∂F/∂x`, each step is an LU solve. A singular Jacobian is an error.
pub fn newton(
    f: impl FnMut(&[f64]) -> Vec<f64>,
    mut jacobian: impl FnMut(&[f64]) -> Matrix,
    x0: &[f64],
    options: &NewtonOptions,
) -> Result<RootSolution, ImplicitError> {
    let n = x0.len();
    newton_loop(
        f,
        |x, fx| {
            let jac = jacobian(x);
            if jac.rows() != n || jac.cols() != n {
                return Err(ImplicitError::Function(format!(
                    "jacobian returned a {}x{} matrix for an input of length {n}",
                    jac.rows(),
                    jac.cols()
                )));
            }
            let neg: Vec<f64> = fx.iter().map(|v| -v).collect();
            Ok(Lu::new(&jac)?.solve(&neg)?)
        },
        x0,
        options,
    )
}

/// Matrix-free Newton-Krylov: `jvp(x, v)` returns `J(x) v`; each step is a
/// GMRES solve with `options.linear` (an inexact Newton method).
pub fn newton_krylov(
    f: impl FnMut(&[f64]) -> Vec<f64>,
    mut jvp: impl FnMut(&[f64], &[f64]) -> Vec<f64>,
    x0: &[f64],
    options: &NewtonOptions,
) -> Result<RootSolution, ImplicitError> {
    let linear = options.linear;
    newton_loop(
        f,
        |x, fx| {
            let neg: Vec<f64> = fx.iter().map(|v| -v).collect();
            let sol = try_gmres(|v| Ok::<_, ImplicitError>(jvp(x, v)), &neg, None, &linear)?;
            Ok(sol.x)
        },
        x0,
        options,
    )
}
