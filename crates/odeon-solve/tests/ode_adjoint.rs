//! Gradients through ODE solves: autodiff through the solver
//! (discretise-then-optimise), backsolve and interpolating adjoints, against
//! exact gradients and finite differences.
#![cfg(feature = "ode")]

// The state type is `Vec<f64>`, so vector fields take `&Vec<f64>`.
#![allow(clippy::ptr_arg)]

use odeon_autodiff::{Tape, Var};
use odeon_solve::adjoint::{
    AdjointGradients, backsolve_adjoint, discretise_then_optimise, interpolating_adjoint,
};
use odeon_solve::ode::{OdeOptions, SolveError, Solver, solve_ode};
use odeon_tensor::{Tensor, UnaryOp};

type VarResult = Result<Var, SolveError>;

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap_or_else(|e| panic!("{e}"))
}

fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale
}

fn sum_squares(y: &Var) -> VarResult {
    Ok(y.unary(UnaryOp::Square)?.sum()?)
}

/// y' = -theta * y (elementwise): y(T) = y0 exp(-theta T).
fn decay(_t: f64, y: &Var, p: &[Var]) -> VarResult {
    Ok(p[0].mul(y)?.scale(-1.0)?)
}

/// Lotka-Volterra with parameters (alpha, beta, delta, gamma) in one tensor.
fn lotka_volterra(_t: f64, y: &Var, p: &[Var]) -> VarResult {
    let (x, v) = (y.slice_axis(0, 0, 1)?, y.slice_axis(0, 1, 2)?);
    let th = &p[0];
    let (a, b, d, g) = (
        th.slice_axis(0, 0, 1)?,
        th.slice_axis(0, 1, 2)?,
        th.slice_axis(0, 2, 3)?,
        th.slice_axis(0, 3, 4)?,
    );
    let xv = x.mul(&v)?;
    let dx = a.mul(&x)?.sub(&b.mul(&xv)?)?;
    let dv = d.mul(&xv)?.sub(&g.mul(&v)?)?;
    Ok(Var::concat(&[&dx, &dv], 0)?)
}

/// A small neural vector field y' = tanh(y W1 + b1) W2 + c with a
/// conditioning input c.
fn neural(_t: f64, y: &Var, p: &[Var]) -> VarResult {
    let n = y.value().len();
    let h = y
        .reshape(&[1, n])?
        .matmul(&p[0])?
        .add(&p[1])?
        .unary(UnaryOp::Tanh)?;
    Ok(h.matmul(&p[2])?.reshape(&[n])?.add(&p[3])?)
}

fn tensor(shape: &[usize], data: Vec<f64>) -> Tensor {
    Tensor::from_f64(shape, data).unwrap_or_else(|e| panic!("{e}"))
}

type Field = fn(f64, &Var, &[Var]) -> VarResult;

/// Loss `sum(y(T)^2)` with Dopri5 at 1000 constant steps on plain vectors:
/// a smooth function of y0 and the parameters, accurate to about 1e-13, for
/// finite differences.
fn reference_loss(f: Field, params: &[Tensor], t1: f64, y0: &[f64]) -> f64 {
    let field = |t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        let tape = Tape::new();
        let yv = tape.constant(tensor(&[y.len()], y.clone()));
        let pv: Vec<Var> = params.iter().map(|p| tape.constant(p.clone())).collect();
        Ok(f(t, &yv, &pv)?.value().to_f64_vec()?)
    };
    let sol = solve_ode(
        field,
        Solver::Dopri5,
        0.0,
        t1,
        Some(t1 / 1000.0),
        &y0.to_vec(),
        &OdeOptions::constant(),
    );
    sol.unwrap_or_else(|e| panic!("{e}"))
        .last()
        .map_or(f64::NAN, |y| y.iter().map(|v| v * v).sum())
}

/// Central finite differences of [`reference_loss`]: (d/dy0, d/dparams flattened).
fn finite_differences(f: Field, params: &[Tensor], t1: f64, y0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let eps = 1e-5;
    let mut gy = Vec::new();
    for i in 0..y0.len() {
        let (mut up, mut down) = (y0.to_vec(), y0.to_vec());
        up[i] += eps;
        down[i] -= eps;
        gy.push(
            (reference_loss(f, params, t1, &up) - reference_loss(f, params, t1, &down))
                / (2.0 * eps),
        );
    }
    let mut gp = Vec::new();
    for (k, p) in params.iter().enumerate() {
        let base = vals(p);
        for i in 0..base.len() {
            let shifted = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let mut ps = params.to_vec();
                ps[k] = tensor(p.shape(), v);
                reference_loss(f, &ps, t1, y0)
            };
            gp.push((shifted(eps) - shifted(-eps)) / (2.0 * eps));
        }
    }
    (gy, gp)
}

fn flat_params(g: &AdjointGradients) -> Vec<f64> {
    g.grad_params.iter().flat_map(vals).collect()
}

fn check_all_methods(
    name: &str,
    f: Field,
    params: &[Tensor],
    t1: f64,
    y0: &[f64],
    fd: &(Vec<f64>, Vec<f64>),
) {
    let opts = OdeOptions {
        max_steps: 100_000,
        ..OdeOptions::tolerances(1e-10, 1e-10)
    };
    let dto = discretise_then_optimise(
        &f,
        params,
        &sum_squares,
        Solver::Dopri5,
        0.0,
        t1,
        None,
        y0,
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let back = backsolve_adjoint(
        &f,
        params,
        &sum_squares,
        Solver::Dopri5,
        0.0,
        t1,
        None,
        y0,
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let interp = interpolating_adjoint(
        &f,
        params,
        &sum_squares,
        Solver::Tsit5,
        0.0,
        t1,
        None,
        y0,
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (method, g) in [
        ("autodiff through the solver", &dto),
        ("backsolve", &back),
        ("interpolating", &interp),
    ] {
        let ey = rel_err(&g.grad_y0, &fd.0);
        let ep = rel_err(&flat_params(g), &fd.1);
        let ed = (
            rel_err(&g.grad_y0, &dto.grad_y0),
            rel_err(&flat_params(g), &flat_params(&dto)),
        );
        eprintln!(
            "{name}, {method}: rel. error vs FD dy0 {ey:.2e}, dtheta {ep:.2e}; vs autodiff {:.2e}, {:.2e}",
            ed.0, ed.1
        );
        assert!(ey < 1e-6 && ep < 1e-6, "{name}, {method}: {ey:e} {ep:e}");
        assert!(
            ed.0 < 1e-6 && ed.1 < 1e-6,
            "{name}, {method} vs autodiff: {ed:?}"
        );
        assert_eq!(g.grad_params.len(), params.len());
        for (gp, p) in g.grad_params.iter().zip(params) {
            assert_eq!(gp.shape(), p.shape());
        }
    }
    assert!(back.backward.is_some() && interp.backward.is_some() && dto.backward.is_none());
}

#[test]
fn exponential_decay_gradients_are_exact() {
    let (t1, y0, th) = (2.0, vec![1.0, -0.5], vec![0.7, 1.3]);
    let params = [tensor(&[2], th.clone())];
    let y1: Vec<f64> = y0
        .iter()
        .zip(&th)
        .map(|(y, k)| y * libm::exp(-k * t1))
        .collect();
    let exact_y0: Vec<f64> = y1
        .iter()
        .zip(&th)
        .map(|(y, k)| 2.0 * y * libm::exp(-k * t1))
        .collect();
    let exact_th: Vec<f64> = y1.iter().map(|y| -2.0 * t1 * y * y).collect();
    check_all_methods(
        "decay",
        decay,
        &params,
        t1,
        &y0,
        &(exact_y0.clone(), exact_th.clone()),
    );
    let fd = finite_differences(decay, &params, t1, &y0);
    assert!(
        rel_err(&fd.0, &exact_y0) < 1e-8 && rel_err(&fd.1, &exact_th) < 1e-8,
        "finite differences: {fd:?}"
    );
}

#[test]
fn lotka_volterra_gradients_match_finite_differences() {
    let (t1, y0) = (3.0, vec![1.0, 1.0]);
    let params = [tensor(&[4], vec![1.5, 1.0, 1.0, 3.0])];
    let fd = finite_differences(lotka_volterra, &params, t1, &y0);
    check_all_methods("Lotka-Volterra", lotka_volterra, &params, t1, &y0, &fd);
}

#[test]
fn neural_field_gradients_including_conditioning_input() {
    let (t1, y0) = (1.0, vec![0.5, -0.3]);
    let params = [
        tensor(&[2, 3], vec![0.3, -0.8, 0.5, 1.1, 0.2, -0.4]),
        tensor(&[1, 3], vec![0.1, -0.2, 0.05]),
        tensor(&[3, 2], vec![-0.6, 0.4, 0.9, -0.3, 0.2, 0.7]),
        tensor(&[2], vec![0.2, -0.1]), // conditioning input
    ];
    let fd = finite_differences(neural, &params, t1, &y0);
    check_all_methods("neural", neural, &params, t1, &y0, &fd);
}

/// Var states through `solve_ode` directly: the same numbers as `Vec<f64>`,
/// and the tape's gradient is that of the discrete map.
#[test]
fn var_states_record_the_steps() {
    let th = 0.8;
    let f64_field = |_t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        Ok(vec![y[1], -th * libm::sin(y[0])])
    };
    let loss_of = |y0: &[f64], th: f64| -> f64 {
        let f = |_t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
            Ok(vec![y[1], -th * libm::sin(y[0])])
        };
        let s = solve_ode(
            f,
            Solver::Rk4,
            0.0,
            2.0,
            Some(0.1),
            &y0.to_vec(),
            &OdeOptions::constant(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.last().map_or(f64::NAN, |y| y.iter().map(|v| v * v).sum())
    };
    for (solver, opts, dt0) in [
        (Solver::Rk4, OdeOptions::constant(), Some(0.1)),
        (Solver::Tsit5, OdeOptions::tolerances(1e-8, 1e-8), None),
    ] {
        let tape = Tape::new();
        let y0 = tape.leaf(tensor(&[2], vec![1.0, 0.2]));
        let p = tape.leaf(Tensor::scalar_f64(th));
        let field = |_t: f64, y: &Var| -> VarResult {
            let (a, b) = (y.slice_axis(0, 0, 1)?, y.slice_axis(0, 1, 2)?);
            let db = a.unary(UnaryOp::Sin)?.mul(&p)?.scale(-1.0)?;
            Ok(Var::concat(&[&b, &db], 0)?)
        };
        let sol =
            solve_ode(field, solver, 0.0, 2.0, dt0, &y0, &opts).unwrap_or_else(|e| panic!("{e}"));
        let plain = solve_ode(f64_field, solver, 0.0, 2.0, dt0, &vec![1.0, 0.2], &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        let y1 = sol.last().unwrap_or_else(|| panic!("nothing saved"));
        let y1v = vals(y1.value());
        assert!(
            rel_err(
                &y1v,
                plain.last().unwrap_or_else(|| panic!("nothing saved"))
            ) < 1e-14
        );
        assert_eq!(sol.stats, plain.stats);
        if solver == Solver::Rk4 {
            let loss = sum_squares(y1).unwrap_or_else(|e| panic!("{e}"));
            let g = tape
                .grad(&loss, &[&y0, &p], false)
                .unwrap_or_else(|e| panic!("{e}"));
            let eps = 1e-6;
            let fd_y = [
                (loss_of(&[1.0 + eps, 0.2], th) - loss_of(&[1.0 - eps, 0.2], th)) / (2.0 * eps),
                (loss_of(&[1.0, 0.2 + eps], th) - loss_of(&[1.0, 0.2 - eps], th)) / (2.0 * eps),
            ];
            let fd_p =
                (loss_of(&[1.0, 0.2], th + eps) - loss_of(&[1.0, 0.2], th - eps)) / (2.0 * eps);
            let gy = vals(g[0].value());
            let gp = vals(g[1].value());
            assert!(rel_err(&gy, &fd_y) < 1e-6, "{gy:?} vs {fd_y:?}");
            assert!(rel_err(&gp, &[fd_p]) < 1e-6, "{gp:?} vs {fd_p}");
        }
    }
}

#[test]
fn adjoint_errors_are_reported() {
    let params = [tensor(&[2], vec![1.0, 1.0])];
    let opts = OdeOptions::tolerances(1e-6, 1e-6);
    let wrong_shape = |_t: f64, y: &Var, _p: &[Var]| -> VarResult { Ok(y.sum()?) };
    for r in [
        backsolve_adjoint(
            &wrong_shape,
            &params,
            &sum_squares,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &[1.0, 2.0],
            &opts,
        ),
        interpolating_adjoint(
            &decay,
            &params,
            &sum_squares,
            Solver::Dopri5,
            0.0,
            0.0,
            None,
            &[1.0, 2.0],
            &opts,
        ),
        discretise_then_optimise(
            &decay,
            &params,
            &sum_squares,
            Solver::Euler,
            0.0,
            1.0,
            None,
            &[1.0, 2.0],
            &opts,
        ),
        backsolve_adjoint(
            &decay,
            &params,
            &sum_squares,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &[],
            &opts,
        ),
    ] {
        match r {
            Err(e) => eprintln!("{e}"),
            Ok(_) => panic!("expected an error"),
        }
    }
    // A loss that is not a single number.
    let not_scalar = |y: &Var| -> VarResult { Ok(y.clone()) };
    assert!(
        backsolve_adjoint(
            &decay,
            &params,
            &not_scalar,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &[1.0, 2.0],
            &opts
        )
        .is_err()
    );
}
