//! Tridiagonal solves by the Thomas algorithm.

use super::{LinalgError, check_finite};

/// Solves the tridiagonal system `T x = rhs` with the Thomas algorithm
/// (Gaussian elimination without pivoting, O(n)).
///
/// Row `i` of `T` is `lower[i-1] x[i-1] + diag[i] x[i] + upper[i] x[i+1]`:
/// `diag` has length `n`, `lower` and `upper` length `n - 1`. No pivoting is
/// done, which is stable for diagonally dominant or symmetric positive
/// definite matrices; a zero (or tiny) pivot is an error rather than a
/// division by zero.
pub fn solve_tridiagonal(lower: &[f64], diag: &[f64], upper: &[f64], rhs: &[f64]) -> Result<Vec<f64>, LinalgError> {
    let n = diag.len();
    let off = n.saturating_sub(1);
    if lower.len() != off || upper.len() != off || rhs.len() != n {
        return Err(LinalgError::Dimension(format!(
            "a tridiagonal system of size {n} needs sub- and super-diagonals of length {off} and a right-hand side of length {n}; got {}, {} and {}",
            lower.len(),
            upper.len(),
            rhs.len()
        )));
    }
    check_finite(lower, "sub-diagonal")?;
    check_finite(diag, "diagonal")?;
    check_finite(upper, "super-diagonal")?;
    check_finite(rhs, "right-hand side")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let scale = diag.iter().chain(lower).chain(upper).fold(0.0_f64, |m, v| m.max(v.abs()));
    let tol = f64::EPSILON * scale;
    let mut c = vec![0.0; n];
    let mut d = vec![0.0; n];
    let mut pivot = diag[0];
    if pivot.is_nan() || pivot.abs() <= tol {
        return Err(LinalgError::Singular { index: 0 });
    }
    if n > 1 {
        c[0] = upper[0] / pivot;
    }
    d[0] = rhs[0] / pivot;
    for i in 1..n {
        pivot = diag[i] - lower[i - 1] * c[i - 1];
        if pivot.is_nan() || pivot.abs() <= tol {
            return Err(LinalgError::Singular { index: i });
        }
        if i < n - 1 {
            c[i] = upper[i] / pivot;
        }
        d[i] = (rhs[i] - lower[i - 1] * d[i - 1]) / pivot;
    }
    for i in (0..n - 1).rev() {
        d[i] -= c[i] * d[i + 1];
    }
    Ok(d)
}
