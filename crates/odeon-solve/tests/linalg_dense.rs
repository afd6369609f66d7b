//! Dense factorisations on known answers.
#![cfg(feature = "linalg")]

#![allow(clippy::unwrap_used)]

use odeon_solve::linalg::{Cholesky, LinalgError, Lu, Matrix, Qr, eig, eigh, lstsq, lu_solve, svd};

/// A deterministic, well-conditioned "random" matrix.
fn pseudo_random(rows: usize, cols: usize, seed: f64) -> Matrix {
    Matrix::from_fn(rows, cols, |i, j| (seed * (i as f64 + 1.3) * (j as f64 + 0.7) + 0.37 * i as f64).sin())
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn residual(a: &Matrix, x: &[f64], b: &[f64]) -> f64 {
    max_abs_diff(&a.matvec(x).unwrap(), b)
}

#[test]
fn lu_solves_to_1e12() {
    let a = Matrix::from_fn(6, 6, |i, j| pseudo_random(6, 6, 1.7).get(i, j).unwrap() + if i == j { 3.0 } else { 0.0 });
    let b: Vec<f64> = (0..6).map(|i| i as f64 - 2.5).collect();
    let x = lu_solve(&a, &b).unwrap();
    assert!(residual(&a, &x, &b) < 1e-12, "residual {}", residual(&a, &x, &b));
    let lu = Lu::new(&a).unwrap();
    let xt = lu.solve_transpose(&b).unwrap();
    assert!(residual(&a.transpose(), &xt, &b) < 1e-12);
}

#[test]
fn lu_determinant_and_singular() {
    let a = Matrix::from_rows(&[vec![2.0, 1.0], vec![1.0, 3.0]]).unwrap();
    assert!((Lu::new(&a).unwrap().determinant() - 5.0).abs() < 1e-14);
    let p = Matrix::from_rows(&[vec![0.0, 1.0], vec![1.0, 0.0]]).unwrap();
    assert!((Lu::new(&p).unwrap().determinant() + 1.0).abs() < 1e-14);
    let s = Matrix::from_rows(&[vec![1.0, 2.0], vec![2.0, 4.0]]).unwrap();
    let err = lu_solve(&s, &[1.0, 1.0]).unwrap_err();
    assert!(matches!(err, LinalgError::Singular { .. }), "{err}");
    assert!(err.to_string().contains("singular"));
    let err = lu_solve(&a, &[1.0]).unwrap_err();
    assert!(matches!(err, LinalgError::Dimension(_)), "{err}");
    let err = lu_solve(&a, &[1.0, f64::NAN]).unwrap_err();
    assert!(matches!(err, LinalgError::NonFinite(_)), "{err}");
}

#[test]
fn cholesky_solves_and_rejects_indefinite() {
    let m = pseudo_random(5, 5, 0.9);
    let a = Matrix::from_fn(5, 5, |i, j| {
        m.transpose().matmul(&m).unwrap().get(i, j).unwrap() + if i == j { 1.0 } else { 0.0 }
    });
    let b = vec![1.0, -2.0, 0.5, 3.0, 0.0];
    let c = Cholesky::new(&a).unwrap();
    let x = c.solve(&b).unwrap();
    assert!(residual(&a, &x, &b) < 1e-12);
    let l = c.l();
    let llt = l.matmul(&l.transpose()).unwrap();
    assert!(max_abs_diff(llt.data(), a.data()) < 1e-12);

    let indefinite = Matrix::from_rows(&[vec![1.0, 2.0], vec![2.0, 1.0]]).unwrap();
    let err = Cholesky::new(&indefinite).unwrap_err();
    assert!(matches!(err, LinalgError::NotPositiveDefinite { .. }), "{err}");
    assert!(err.to_string().contains("not symmetric positive definite"), "{err}");
    let nonsym = Matrix::from_rows(&[vec![2.0, 1.0], vec![0.0, 2.0]]).unwrap();
    assert!(matches!(Cholesky::new(&nonsym).unwrap_err(), LinalgError::NotSymmetric { i: 0, j: 1 }));
}

#[test]
fn qr_least_squares() {
    // Exact line: y = 2 - 3 t.
    let ts: Vec<f64> = (0..10).map(|i| i as f64 / 3.0).collect();
    let a = Matrix::from_fn(10, 2, |i, j| if j == 0 { 1.0 } else { ts[i] });
    let y: Vec<f64> = ts.iter().map(|t| 2.0 - 3.0 * t).collect();
    let coef = lstsq(&a, &y).unwrap();
    assert!(max_abs_diff(&coef, &[2.0, -3.0]) < 1e-12, "{coef:?}");
    // Noisy data: the normal equations hold.
    let noisy: Vec<f64> = y.iter().enumerate().map(|(i, v)| v + 0.1 * (i as f64 * 1.9).sin()).collect();
    let coef = lstsq(&a, &noisy).unwrap();
    let r: Vec<f64> = a.matvec(&coef).unwrap().iter().zip(&noisy).map(|(p, q)| p - q).collect();
    let normal = a.transpose().matvec(&r).unwrap();
    assert!(normal.iter().all(|v| v.abs() < 1e-12), "{normal:?}");
    // Square systems, Q orthonormal, QR = A.
    let m = pseudo_random(7, 4, 1.1);
    let qr = Qr::new(&m).unwrap();
    let q = qr.q();
    let qtq = q.transpose().matmul(&q).unwrap();
    assert!(max_abs_diff(qtq.data(), Matrix::identity(4).data()) < 1e-13);
    assert!(max_abs_diff(q.matmul(&qr.r()).unwrap().data(), m.data()) < 1e-13);
    let sq = pseudo_random(4, 4, 2.3);
    let b = vec![1.0, 2.0, 3.0, 4.0];
    assert!(residual(&sq, &lstsq(&sq, &b).unwrap(), &b) < 1e-12);
    assert!(matches!(Qr::new(&pseudo_random(2, 3, 1.0)).unwrap_err(), LinalgError::Dimension(_)));
}

#[test]
fn eigh_known_spectrum() {
    // The [-1, 2, -1] matrix: λ_k = 2 - 2 cos(kπ/(n+1)).
    let n = 8;
    let a = Matrix::from_fn(n, n, |i, j| match i.abs_diff(j) {
        0 => 2.0,
        1 => -1.0,
        _ => 0.0,
    });
    let e = eigh(&a).unwrap();
    let expected: Vec<f64> =
        (1..=n).map(|k| 2.0 - 2.0 * (k as f64 * std::f64::consts::PI / (n as f64 + 1.0)).cos()).collect();
    assert!(max_abs_diff(&e.values, &expected) < 1e-13, "{:?}", e.values);
    for k in 0..n {
        let v = e.vectors.column(k);
        let av = a.matvec(&v).unwrap();
        let lv: Vec<f64> = v.iter().map(|x| x * e.values[k]).collect();
        assert!(max_abs_diff(&av, &lv) < 1e-13);
    }
    let vtv = e.vectors.transpose().matmul(&e.vectors).unwrap();
    assert!(max_abs_diff(vtv.data(), Matrix::identity(n).data()) < 1e-13);
}

#[test]
fn eig_rotation_has_complex_pair() {
    let theta = 0.7_f64;
    let a = Matrix::from_rows(&[vec![theta.cos(), -theta.sin()], vec![theta.sin(), theta.cos()]]).unwrap();
    let e = eig(&a).unwrap();
    let mut ims: Vec<f64> = e.values.iter().map(|z| z.im).collect();
    ims.sort_by(f64::total_cmp);
    assert!((ims[0] + theta.sin()).abs() < 1e-14 && (ims[1] - theta.sin()).abs() < 1e-14, "{:?}", e.values);
    assert!(e.values.iter().all(|z| (z.re - theta.cos()).abs() < 1e-14));
    // A v = λ v for a general matrix.
    let g = pseudo_random(5, 5, 1.37);
    let e = eig(&g).unwrap();
    for k in 0..5 {
        let v = e.vector(k);
        for i in 0..5 {
            let av: odeon_solve::linalg::Complex64 = (0..5).map(|j| v[j] * g.get(i, j).unwrap()).sum();
            assert!((av - e.values[k] * v[i]).norm() < 1e-12);
        }
    }
}

#[test]
fn svd_known_and_reconstructs() {
    let a = Matrix::from_rows(&[vec![3.0, 0.0], vec![4.0, 5.0]]).unwrap();
    let d = svd(&a).unwrap();
    let expected = [3.0 * 5f64.sqrt(), 5f64.sqrt()];
    assert!(max_abs_diff(&d.s, &expected) < 1e-13, "{:?}", d.s);
    for (r, c) in [(5, 3), (3, 5), (4, 4)] {
        let m = pseudo_random(r, c, 0.83);
        let d = svd(&m).unwrap();
        assert_eq!(d.s.len(), r.min(c));
        assert!(d.s.windows(2).all(|w| w[0] >= w[1]));
        assert!(max_abs_diff(d.reconstruct().data(), m.data()) < 1e-13);
    }
}
