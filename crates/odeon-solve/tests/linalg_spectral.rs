//! DCTs and Neumann Helmholtz/Poisson solves.
#![cfg(feature = "linalg")]

#![allow(clippy::unwrap_used)]

use std::f64::consts::PI;

use odeon_solve::linalg::{
    apply_neumann_helmholtz_1d, apply_neumann_helmholtz_2d, dct2, dct2_2d, dct3, dct3_2d, helmholtz_neumann_1d,
    helmholtz_neumann_2d,
};

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn dct_matches_definition_and_inverts() {
    for n in [1usize, 2, 3, 7, 8, 16, 33] {
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.77).sin() + 0.2 * i as f64).collect();
        let direct: Vec<f64> = (0..n)
            .map(|k| (0..n).map(|m| x[m] * (PI * k as f64 * (2 * m + 1) as f64 / (2 * n) as f64).cos()).sum())
            .collect();
        let fast = dct2(&x).unwrap();
        assert!(max_abs_diff(&fast, &direct) < 1e-12, "n = {n}");
        assert!(max_abs_diff(&dct3(&fast).unwrap(), &x) < 1e-13, "n = {n}");
    }
    let (nx, ny) = (6, 5);
    let grid: Vec<f64> = (0..nx * ny).map(|i| (i as f64 * 1.3).cos()).collect();
    let round = dct3_2d(&dct2_2d(&grid, nx, ny).unwrap(), nx, ny).unwrap();
    assert!(max_abs_diff(&round, &grid) < 1e-13);
}

/// u = cos(πx) cos(πy) on the unit square; f = (α + 2π²) u.
fn manufactured(n: usize, alpha: f64) -> (f64, f64) {
    let h = 1.0 / n as f64;
    let centre = |i: usize| (i as f64 + 0.5) * h;
    let exact: Vec<f64> = (0..n * n).map(|k| (PI * centre(k % n)).cos() * (PI * centre(k / n)).cos()).collect();
    let f: Vec<f64> = exact.iter().map(|u| (alpha + 2.0 * PI * PI) * u).collect();
    let sol = helmholtz_neumann_2d(&f, n, n, h, h, alpha).unwrap();
    let error = max_abs_diff(&sol.u, &exact);
    // The discrete operator reproduces f (less its mean).
    let applied = apply_neumann_helmholtz_2d(&sol.u, n, n, h, h, alpha).unwrap();
    let target: Vec<f64> = f.iter().map(|v| v - sol.removed_mean).collect();
    (error, max_abs_diff(&applied, &target))
}

#[test]
fn helmholtz_2d_second_order_and_consistent() {
    for alpha in [0.0, 1.0, 25.0] {
        let mut errors = Vec::new();
        for n in [16, 32, 64, 128] {
            let (error, operator_residual) = manufactured(n, alpha);
            assert!(operator_residual < 1e-10, "alpha {alpha}, n {n}: {operator_residual}");
            errors.push(error);
        }
        for w in errors.windows(2) {
            let order = (w[0] / w[1]).log2();
            assert!((order - 2.0).abs() < 0.1, "alpha {alpha}: order {order}, errors {errors:?}");
        }
    }
}

#[test]
fn poisson_removes_the_mean() {
    let n = 20;
    let h = 0.05;
    let f: Vec<f64> = (0..n).map(|i| 3.0 + ((i as f64 + 0.5) * h * PI).cos()).collect();
    let sol = helmholtz_neumann_1d(&f, h, 0.0).unwrap();
    let mean_f = f.iter().sum::<f64>() / n as f64;
    assert!((sol.removed_mean - mean_f).abs() < 1e-13);
    assert!(sol.u.iter().sum::<f64>().abs() < 1e-12);
    let applied = apply_neumann_helmholtz_1d(&sol.u, h, 0.0).unwrap();
    let target: Vec<f64> = f.iter().map(|v| v - mean_f).collect();
    assert!(max_abs_diff(&applied, &target) < 1e-10);
    assert!(helmholtz_neumann_1d(&f, h, -1.0).is_err());
    assert!(helmholtz_neumann_2d(&f, 3, 3, h, h, 1.0).is_err());
}
