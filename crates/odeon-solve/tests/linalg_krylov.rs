//! Matrix-free Krylov solvers and the tridiagonal solver.
#![cfg(feature = "linalg")]

#![allow(clippy::unwrap_used)]

use odeon_solve::linalg::{KrylovOptions, LinalgError, Matrix, cg, gmres, lu_solve, solve_tridiagonal};

fn laplacian_1d(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    (0..n)
        .map(|i| {
            let left = if i > 0 { v[i - 1] } else { 0.0 };
            let right = if i + 1 < n { v[i + 1] } else { 0.0 };
            2.0 * v[i] - left - right
        })
        .collect()
}

/// A non-symmetric convection-diffusion matrix.
fn convection(n: usize) -> Matrix {
    Matrix::from_fn(n, n, |i, j| {
        if i == j {
            3.0
        } else if j == i + 1 {
            -1.6
        } else if i == j + 1 {
            -0.4
        } else if j == (i + 3) % n {
            0.3
        } else {
            0.0
        }
    })
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn cg_spd_converges_within_n() {
    let n = 40;
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.3).sin() + 0.1).collect();
    let opts = KrylovOptions { tol: 1e-12, ..KrylovOptions::default() };
    let sol = cg(laplacian_1d, &b, None, &opts).unwrap();
    assert!(sol.converged);
    assert!(sol.iterations <= n, "{} iterations", sol.iterations);
    let r: Vec<f64> = laplacian_1d(&sol.x).iter().zip(&b).map(|(a, b)| a - b).collect();
    let rn = r.iter().map(|x| x * x).sum::<f64>().sqrt();
    let bn = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(rn <= 1e-12 * bn * 10.0, "true residual {rn}");
    assert_eq!(sol.residuals.len(), sol.iterations + 1);
    // A warm start at the answer needs no iterations.
    let again = cg(laplacian_1d, &b, Some(&sol.x), &KrylovOptions { tol: 1e-10, ..opts }).unwrap();
    assert_eq!(again.iterations, 0);
}

#[test]
fn cg_rejects_indefinite() {
    let err = cg(|v| v.iter().map(|x| -x).collect(), &[1.0, 2.0], None, &KrylovOptions::default()).unwrap_err();
    assert!(matches!(err, LinalgError::Breakdown(_)), "{err}");
    assert!(err.to_string().contains("positive definite"));
    let err = cg(|v| v[..1].to_vec(), &[1.0, 2.0], None, &KrylovOptions::default()).unwrap_err();
    assert!(matches!(err, LinalgError::Operator(_)), "{err}");
}

#[test]
fn gmres_nonsymmetric_full_and_restarted() {
    let n = 60;
    let a = convection(n);
    let b: Vec<f64> = (0..n).map(|i| 1.0 + (i as f64).cos()).collect();
    let exact = lu_solve(&a, &b).unwrap();
    for restart in [n, 20, 5] {
        let opts = KrylovOptions { tol: 1e-12, restart, max_iter: 2000, ..KrylovOptions::default() };
        let sol = gmres(|v| a.matvec(v).unwrap(), &b, None, &opts).unwrap();
        assert!(sol.converged, "restart {restart}: {:?}", sol.residuals.last());
        assert!(max_abs_diff(&sol.x, &exact) < 1e-10, "restart {restart}");
        assert!(sol.residuals.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12) || w[1] < 1e-10));
    }
    let capped =
        gmres(|v| a.matvec(v).unwrap(), &b, None, &KrylovOptions { max_iter: 3, ..KrylovOptions::default() }).unwrap();
    assert!(!capped.converged);
    assert_eq!(capped.iterations, 3);
}

#[test]
fn tridiagonal_matches_dense() {
    let n = 9;
    let lower: Vec<f64> = (0..n - 1).map(|i| -1.0 + 0.1 * i as f64).collect();
    let diag: Vec<f64> = (0..n).map(|i| 4.0 + (i as f64).sin()).collect();
    let upper: Vec<f64> = (0..n - 1).map(|i| -0.5 - 0.05 * i as f64).collect();
    let rhs: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
    let x = solve_tridiagonal(&lower, &diag, &upper, &rhs).unwrap();
    let dense = Matrix::from_fn(n, n, |i, j| {
        if i == j {
            diag[i]
        } else if j == i + 1 {
            upper[i]
        } else if i == j + 1 {
            lower[j]
        } else {
            0.0
        }
    });
    assert!(max_abs_diff(&dense.matvec(&x).unwrap(), &rhs) < 1e-13);
    let err = solve_tridiagonal(&[1.0], &[1.0, 1.0], &[1.0], &[1.0, 2.0]).unwrap_err();
    assert!(matches!(err, LinalgError::Singular { index: 1 }), "{err}");
    assert!(matches!(solve_tridiagonal(&[1.0], &[1.0], &[], &[1.0]).unwrap_err(), LinalgError::Dimension(_)));
}
