//! Root finding, fixed points and implicit differentiation.
#![cfg(feature = "implicit")]

#![allow(clippy::unwrap_used)]

use odeon_autodiff::Var;
use odeon_solve::implicit::{
    Anderson, FixedPointOptions, NewtonOptions, fixed_point, fixed_point_vjp, implicit_vjp, newton, newton_krylov,
};
use odeon_solve::linalg::{Cholesky, KrylovOptions, Matrix};
use odeon_tensor::{Tensor, UnaryOp};

fn pseudo_random(rows: usize, cols: usize, seed: f64) -> Matrix {
    Matrix::from_fn(rows, cols, |i, j| (seed * (i as f64 + 1.3) * (j as f64 + 0.7) + 0.37 * i as f64).sin())
}

#[test]
fn ridge_implicit_gradient_matches_closed_form() {
    let (m, n) = (9, 5);
    let a = pseudo_random(m, n, 1.21);
    let b: Vec<f64> = (0..m).map(|i| (i as f64 * 0.4).cos()).collect();
    let c: Vec<f64> = (0..n).map(|i| 0.1 * i as f64).collect();
    let ata = a.transpose().matmul(&a).unwrap();
    let atb = a.transpose().matvec(&b).unwrap();
    for lambda in [0.05, 0.7, 3.0] {
        // x*(λ) by any solver: here a Cholesky solve.
        let system = Matrix::from_fn(n, n, |i, j| ata.get(i, j).unwrap() + if i == j { lambda } else { 0.0 });
        let chol = Cholesky::new(&system).unwrap();
        let x_star = chol.solve(&atb).unwrap();
        // L = |x* - c|², v = 2 (x* - c).
        let v: Vec<f64> = x_star.iter().zip(&c).map(|(x, c)| 2.0 * (x - c)).collect();
        // Closed form: dx*/dλ = -(AᵀA + λI)⁻¹ x*.
        let dx = chol.solve(&x_star).unwrap();
        let closed: f64 = -v.iter().zip(&dx).map(|(v, d)| v * d).sum::<f64>();

        let ata_t = Tensor::from_f64(&[n, n], ata.data().to_vec()).unwrap();
        let atb_t = Tensor::from_f64(&[n, 1], atb.clone()).unwrap();
        let residual = |x: &Var, p: &[Var]| {
            let tape = x.tape();
            let ata_v = tape.constant(ata_t.clone());
            let atb_v = tape.constant(atb_t.clone());
            ata_v.matmul(x)?.add(&x.mul(&p[0])?)?.sub(&atb_v)
        };
        let opts = KrylovOptions { tol: 1e-13, ..KrylovOptions::default() };
        let out = implicit_vjp(
            residual,
            &Tensor::from_f64(&[n, 1], x_star.clone()).unwrap(),
            &[Tensor::from_f64(&[1], vec![lambda]).unwrap()],
            &Tensor::from_f64(&[n, 1], v).unwrap(),
            &opts,
        )
        .unwrap();
        let implicit = out.grads[0].item().unwrap();
        let rel = (implicit - closed).abs() / closed.abs();
        assert!(rel < 1e-8, "λ = {lambda}: implicit {implicit}, closed form {closed}, relative error {rel:e}");
        assert!(out.iterations <= n + 1);
    }
}

/// x = tanh(W x + θ) with |W| < 1 (a contraction).
fn deq_setup(n: usize) -> (Matrix, Vec<f64>) {
    let w = Matrix::from_fn(n, n, |i, j| 0.45 * pseudo_random(n, n, 0.77).get(i, j).unwrap() / n as f64 * 2.0);
    let theta: Vec<f64> = (0..n).map(|i| 0.3 * (i as f64) - 0.5).collect();
    (w, theta)
}

fn deq_map(w: &Matrix, theta: &[f64]) -> impl Fn(&[f64]) -> Vec<f64> {
    let w = w.clone();
    let theta = theta.to_vec();
    move |x: &[f64]| w.matvec(x).unwrap().iter().zip(&theta).map(|(a, t)| (a + t).tanh()).collect()
}

fn solve_deq(w: &Matrix, theta: &[f64]) -> Vec<f64> {
    let opts = FixedPointOptions { tol: 1e-15, max_iter: 500, anderson: Some(Anderson::default()) };
    let sol = fixed_point(deq_map(w, theta), &vec![0.0; theta.len()], &opts).unwrap();
    assert!(sol.converged);
    sol.x
}

#[test]
fn nonlinear_fixed_point_gradient_matches_finite_differences() {
    let n = 6;
    let (w, theta) = deq_setup(n);
    let c: Vec<f64> = (0..n).map(|i| 1.0 + 0.5 * i as f64).collect();
    let x_star = solve_deq(&w, &theta);
    let w_t = Tensor::from_f64(&[n, n], w.data().to_vec()).unwrap();
    let g = |x: &Var, p: &[Var]| x.tape().constant(w_t.clone()).matmul(x)?.add(&p[0])?.unary(UnaryOp::Tanh);
    // L = cᵀ x*, so v = c.
    let out = fixed_point_vjp(
        g,
        &Tensor::from_f64(&[n, 1], x_star).unwrap(),
        &[Tensor::from_f64(&[n, 1], theta.clone()).unwrap()],
        &Tensor::from_f64(&[n, 1], c.clone()).unwrap(),
        &KrylovOptions { tol: 1e-13, ..KrylovOptions::default() },
    )
    .unwrap();
    let grad = out.grads[0].to_f64_vec().unwrap();
    let loss = |theta: &[f64]| solve_deq(&w, theta).iter().zip(&c).map(|(x, c)| x * c).sum::<f64>();
    let h = 1e-6;
    for k in 0..n {
        let mut plus = theta.clone();
        plus[k] += h;
        let mut minus = theta.clone();
        minus[k] -= h;
        let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
        assert!(
            (fd - grad[k]).abs() < 1e-7 * (1.0 + fd.abs()),
            "θ[{k}]: implicit {}, finite differences {fd}",
            grad[k]
        );
    }
}

#[test]
fn anderson_beats_plain_iteration() {
    // A slowly contracting linear map x = M x + b (spectral radius 0.95).
    let n = 20;
    let g = |x: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let rate = 0.95 - 0.9 * i as f64 / n as f64;
                let coupling = if i + 1 < n { 0.02 * x[i + 1] } else { 0.0 };
                rate * x[i] + coupling + 1.0
            })
            .collect()
    };
    let plain =
        fixed_point(g, &vec![0.0; n], &FixedPointOptions { tol: 1e-10, max_iter: 5000, anderson: None }).unwrap();
    let accel = fixed_point(
        g,
        &vec![0.0; n],
        &FixedPointOptions { tol: 1e-10, max_iter: 5000, ..FixedPointOptions::default() },
    )
    .unwrap();
    assert!(plain.converged && accel.converged);
    assert!(accel.iterations * 5 < plain.iterations, "Anderson {} vs plain {}", accel.iterations, plain.iterations);
    let diff = plain.x.iter().zip(&accel.x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff < 1e-8);
    // Also on the nonlinear map.
    let (w, theta) = deq_setup(8);
    let p = fixed_point(
        deq_map(&w, &theta),
        &[0.0; 8],
        &FixedPointOptions { tol: 1e-12, anderson: None, ..Default::default() },
    )
    .unwrap();
    let a =
        fixed_point(deq_map(&w, &theta), &[0.0; 8], &FixedPointOptions { tol: 1e-12, ..Default::default() }).unwrap();
    assert!(a.iterations < p.iterations, "Anderson {} vs plain {}", a.iterations, p.iterations);
    assert_eq!(p.residuals.len(), p.iterations);
}

#[test]
fn newton_dense_and_matrix_free() {
    // Circle ∩ diagonal: x² + y² = 4, x = y → (√2, √2).
    let f = |x: &[f64]| vec![x[0] * x[0] + x[1] * x[1] - 4.0, x[0] - x[1]];
    let jac = |x: &[f64]| Matrix::from_rows(&[vec![2.0 * x[0], 2.0 * x[1]], vec![1.0, -1.0]]).unwrap();
    let jvp = |x: &[f64], v: &[f64]| vec![2.0 * x[0] * v[0] + 2.0 * x[1] * v[1], v[0] - v[1]];
    let opts = NewtonOptions::default();
    let s = std::f64::consts::SQRT_2;
    let dense = newton(f, jac, &[1.0, 3.0], &opts).unwrap();
    assert!(dense.converged && (dense.x[0] - s).abs() < 1e-12 && (dense.x[1] - s).abs() < 1e-12, "{dense:?}");
    // Quadratic convergence: few steps.
    assert!(dense.iterations <= 7, "{}", dense.iterations);
    let free = newton_krylov(f, jvp, &[1.0, 3.0], &opts).unwrap();
    assert!(free.converged && (free.x[0] - s).abs() < 1e-10, "{free:?}");
}

#[test]
fn damping_rescues_newton() {
    // atan(x) = 0 from x0 = 3: undamped Newton diverges, damped converges.
    let f = |x: &[f64]| vec![x[0].atan()];
    let jac = |x: &[f64]| Matrix::new(1, 1, vec![1.0 / (1.0 + x[0] * x[0])]).unwrap();
    let damped = newton(f, jac, &[3.0], &NewtonOptions::default()).unwrap();
    assert!(damped.converged && damped.x[0].abs() < 1e-10, "{damped:?}");
    assert!(damped.step_sizes.iter().any(|&t| t < 1.0));
    let undamped = newton(f, jac, &[3.0], &NewtonOptions { line_search: false, max_iter: 8, ..Default::default() });
    // Either it stops unconverged or it overflows to a non-finite value (an error).
    if let Ok(sol) = undamped {
        assert!(!sol.converged, "{sol:?}");
    }
}
