//! Matrix-free Krylov solvers: conjugate gradients and restarted GMRES.
//!
//! Both only need the action `v ↦ A v`. Convergence is declared when the
//! residual norm `|b - A x|` is at most `max(tol |b|, atol)`. Running out of
//! iterations is not an error: the result says `converged: false` and keeps
//! the residual history so a notebook can plot it. Errors are reserved for
//! invalid input (wrong lengths, NaN), an operator that fails, and
//! breakdowns (CG on an operator that is not positive definite, GMRES on a
//! singular one).

use super::{LinalgError, check_finite, dot, norm2};

/// Options for [`cg`] and [`gmres`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KrylovOptions {
    /// Relative tolerance on the residual norm, `|r| ≤ tol |b|`.
    pub tol: f64,
    /// Absolute tolerance on the residual norm (used when larger).
    pub atol: f64,
    /// Maximum number of operator applications (Krylov iterations).
    pub max_iter: usize,
    /// GMRES restart length `m` (ignored by CG).
    pub restart: usize,
}

impl Default for KrylovOptions {
    fn default() -> Self {
        KrylovOptions { tol: 1e-10, atol: 0.0, max_iter: 1000, restart: 30 }
    }
}

/// The result of a Krylov solve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KrylovSolution {
    /// The approximate solution.
    pub x: Vec<f64>,
    /// Operator applications spent on iterations (initial residuals not counted).
    pub iterations: usize,
    /// Residual norm `|b - A x|` before the first iteration and after each
    /// iteration (for GMRES, the minimised residual that the iteration
    /// tracks through its Givens rotations).
    pub residuals: Vec<f64>,
    /// Whether the tolerance was met within `max_iter`.
    pub converged: bool,
}

fn check_options(options: &KrylovOptions) -> Result<(), LinalgError> {
    if !(options.tol >= 0.0 && options.atol >= 0.0 && options.tol.is_finite() && options.atol.is_finite()) {
        return Err(LinalgError::Parameter("Krylov tolerances must be finite and nonnegative".into()));
    }
    Ok(())
}

fn start(b: &[f64], x0: Option<&[f64]>) -> Result<Vec<f64>, LinalgError> {
    check_finite(b, "right-hand side")?;
    match x0 {
        Some(x0) if x0.len() != b.len() => Err(LinalgError::Dimension(format!(
            "the initial guess has length {} but the right-hand side has length {}",
            x0.len(),
            b.len()
        ))),
        Some(x0) => {
            check_finite(x0, "initial guess")?;
            Ok(x0.to_vec())
        }
        None => Ok(vec![0.0; b.len()]),
    }
}

fn apply_checked<E: From<LinalgError>>(
    apply: &mut impl FnMut(&[f64]) -> Result<Vec<f64>, E>,
    v: &[f64],
) -> Result<Vec<f64>, E> {
    let out = apply(v)?;
    if out.len() != v.len() {
        return Err(LinalgError::Operator(format!(
            "it returned {} values for a vector of length {}",
            out.len(),
            v.len()
        ))
        .into());
    }
    if !out.iter().all(|x| x.is_finite()) {
        return Err(LinalgError::Operator("it returned NaN or infinite values".into()).into());
    }
    Ok(out)
}

fn residual<E: From<LinalgError>>(
    apply: &mut impl FnMut(&[f64]) -> Result<Vec<f64>, E>,
    b: &[f64],
    x: &[f64],
) -> Result<Vec<f64>, E> {
    let ax = apply_checked(apply, x)?;
    Ok(b.iter().zip(&ax).map(|(b, a)| b - a).collect())
}

/// Conjugate gradients for a symmetric positive definite operator `A`.
///
/// `apply_a(v)` returns `A v`; `x0` defaults to zero. Converges in at most
/// `n` iterations in exact arithmetic.
pub fn cg(
    mut apply_a: impl FnMut(&[f64]) -> Vec<f64>,
    b: &[f64],
    x0: Option<&[f64]>,
    options: &KrylovOptions,
) -> Result<KrylovSolution, LinalgError> {
    try_cg(|v| Ok::<_, LinalgError>(apply_a(v)), b, x0, options)
}

/// [`cg`] with a fallible operator; its errors are passed through.
pub fn try_cg<E: From<LinalgError>>(
    mut apply_a: impl FnMut(&[f64]) -> Result<Vec<f64>, E>,
    b: &[f64],
    x0: Option<&[f64]>,
    options: &KrylovOptions,
) -> Result<KrylovSolution, E> {
    check_options(options)?;
    let mut x = start(b, x0)?;
    let threshold = (options.tol * norm2(b)).max(options.atol);
    let mut r = if x0.is_some() { residual(&mut apply_a, b, &x)? } else { b.to_vec() };
    let mut rs = dot(&r, &r);
    let mut residuals = vec![rs.sqrt()];
    let mut p = r.clone();
    let mut iterations = 0;
    let mut converged = rs.sqrt() <= threshold;
    while !converged && iterations < options.max_iter {
        let ap = apply_checked(&mut apply_a, &p)?;
        iterations += 1;
        let pap = dot(&p, &ap);
        if pap.is_nan() || pap <= 0.0 {
            return Err(LinalgError::Breakdown(format!(
                "conjugate gradients needs a symmetric positive definite operator, but pᵀAp = {pap:e} at iteration {iterations}"
            ))
            .into());
        }
        let alpha = rs / pap;
        for ((xi, ri), (pi, api)) in x.iter_mut().zip(r.iter_mut()).zip(p.iter().zip(&ap)) {
            *xi += alpha * pi;
            *ri -= alpha * api;
        }
        let rs_new = dot(&r, &r);
        residuals.push(rs_new.sqrt());
        converged = rs_new.sqrt() <= threshold;
        let beta = rs_new / rs;
        rs = rs_new;
        for (pi, ri) in p.iter_mut().zip(&r) {
            *pi = ri + beta * *pi;
        }
    }
    Ok(KrylovSolution { x, iterations, residuals, converged })
}

/// Restarted GMRES(m) for a general (non-symmetric) nonsingular operator.
///
/// `apply_a(v)` returns `A v`; `x0` defaults to zero; `options.restart` is
/// `m`. Arnoldi uses modified Gram-Schmidt with one reorthogonalisation
/// pass; the least-squares problem is updated with Givens rotations.
pub fn gmres(
    mut apply_a: impl FnMut(&[f64]) -> Vec<f64>,
    b: &[f64],
    x0: Option<&[f64]>,
    options: &KrylovOptions,
) -> Result<KrylovSolution, LinalgError> {
    try_gmres(|v| Ok::<_, LinalgError>(apply_a(v)), b, x0, options)
}

/// [`gmres`] with a fallible operator; its errors are passed through.
pub fn try_gmres<E: From<LinalgError>>(
    mut apply_a: impl FnMut(&[f64]) -> Result<Vec<f64>, E>,
    b: &[f64],
    x0: Option<&[f64]>,
    options: &KrylovOptions,
) -> Result<KrylovSolution, E> {
    check_options(options)?;
    if options.restart == 0 {
        return Err(LinalgError::Parameter("the GMRES restart length must be at least 1".into()).into());
    }
    let n = b.len();
    let mut x = start(b, x0)?;
    let threshold = (options.tol * norm2(b)).max(options.atol);
    let m = options.restart.min(n.max(1));
    let mut iterations = 0;
    let mut residuals = Vec::new();
    let mut converged = false;
    loop {
        let r = if x0.is_none() && iterations == 0 { b.to_vec() } else { residual(&mut apply_a, b, &x)? };
        let beta = norm2(&r);
        if residuals.is_empty() {
            residuals.push(beta);
        }
        if beta <= threshold {
            converged = true;
            break;
        }
        if iterations >= options.max_iter {
            break;
        }
        let mut basis: Vec<Vec<f64>> = Vec::with_capacity(m + 1);
        basis.push(r.iter().map(|v| v / beta).collect());
        // Column-major Hessenberg: h[j] holds column j (length j + 2).
        let mut h: Vec<Vec<f64>> = Vec::with_capacity(m);
        let mut cs: Vec<f64> = Vec::with_capacity(m);
        let mut sn: Vec<f64> = Vec::with_capacity(m);
        let mut g = vec![0.0; m + 1];
        g[0] = beta;
        let mut k = 0;
        while k < m && iterations < options.max_iter {
            let mut w = apply_checked(&mut apply_a, &basis[k])?;
            iterations += 1;
            let mut col = vec![0.0; k + 2];
            for _pass in 0..2 {
                for (i, v) in basis.iter().enumerate() {
                    let hij = dot(&w, v);
                    col[i] += hij;
                    for (wl, vl) in w.iter_mut().zip(v) {
                        *wl -= hij * vl;
                    }
                }
            }
            let hnext = norm2(&w);
            col[k + 1] = hnext;
            for i in 0..k {
                let (a, bb) = (col[i], col[i + 1]);
                col[i] = cs[i] * a + sn[i] * bb;
                col[i + 1] = -sn[i] * a + cs[i] * bb;
            }
            let (a, bb) = (col[k], col[k + 1]);
            let rho = a.hypot(bb);
            let (c, s) = if rho == 0.0 { (1.0, 0.0) } else { (a / rho, bb / rho) };
            cs.push(c);
            sn.push(s);
            col[k] = rho;
            col[k + 1] = 0.0;
            g[k + 1] = -s * g[k];
            g[k] *= c;
            h.push(col);
            k += 1;
            let estimate = g[k].abs();
            residuals.push(estimate);
            if estimate <= threshold || hnext <= f64::EPSILON * beta {
                break;
            }
            basis.push(w.iter().map(|v| v / hnext).collect());
        }
        // Back substitution: R y = g.
        let mut y = vec![0.0; k];
        for i in (0..k).rev() {
            let mut s = g[i];
            for j in (i + 1)..k {
                s -= h[j][i] * y[j];
            }
            let d = h[i][i];
            if d.abs() <= f64::EPSILON * beta.max(f64::MIN_POSITIVE) * 1e-3 {
                return Err(LinalgError::Breakdown(
                    "GMRES broke down: the operator is singular on the Krylov space".into(),
                )
                .into());
            }
            y[i] = s / d;
        }
        for (j, yj) in y.iter().enumerate() {
            for (xl, vl) in x.iter_mut().zip(&basis[j]) {
                *xl += yj * vl;
            }
        }
    }
    Ok(KrylovSolution { x, iterations, residuals, converged })
}
