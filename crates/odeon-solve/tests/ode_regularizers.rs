//! The differentiable solver regularisers: the per-step `E * |dt|` and
//! `rho * |dt|` built on the tape equal the plain statistics, their
//! gradients match finite differences with the step sequence held fixed,
//! and `single_step` reproduces a solve's first step.
#![cfg(feature = "ode")]

use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_solve::ode::{
    Controller, OdeOptions, PidController, SolveError, Solver, single_step, solve_ode,
};
use odeon_tensor::{Tensor, UnaryOp};

fn tensor(shape: &[usize], data: &[f64]) -> Tensor {
    Tensor::from_f64(shape, data.to_vec()).unwrap_or_else(|e| panic!("{e}"))
}

fn item(v: &Var) -> f64 {
    v.value().item().unwrap_or_else(|e| panic!("{e}"))
}

/// A small neural-ODE-like field on a `[1, 2]` state: `2 tanh(y W) - 0.3 y`.
fn field(y: &Var, w: &Var) -> Result<Var, SolveError> {
    Ok(y.matmul(w)?
        .unary(UnaryOp::Tanh)?
        .scale(2.0)?
        .sub(&y.scale(0.3)?)?)
}

const W: [f64; 4] = [0.4, -1.7, 1.9, 0.2];
const Y0: [f64; 2] = [1.0, -0.5];

fn options(rtol: f64) -> OdeOptions {
    OdeOptions {
        regularizers: true,
        ..OdeOptions::tolerances(rtol, rtol)
    }
}

/// The solve with `W` a tracked leaf; returns the tape, the leaf and the solution.
fn tracked_solve(rtol: f64) -> (Rc<Tape>, Var, odeon_solve::ode::OdeSolution<Var>) {
    let tape = Tape::new();
    let w = tape.leaf(tensor(&[2, 2], &W));
    let y0 = tape.constant(tensor(&[1, 2], &Y0));
    let sol = solve_ode(
        |_t, y: &Var| field(y, &w),
        Solver::Tsit5,
        0.0,
        3.0,
        None,
        &y0,
        &options(rtol),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (tape, w, sol)
}

#[test]
fn recorded_regularisers_equal_the_plain_statistics() {
    let (_tape, _w, sol) = tracked_solve(1e-4);
    let regs = sol.regularizers.as_ref().expect("recorded");
    let steps = &sol.stats.steps;
    assert!(steps.len() >= 5, "{} steps", steps.len());
    assert_eq!(regs.error.len(), steps.len());
    assert_eq!(regs.stiffness.len(), steps.len());
    for (j, st) in steps.iter().enumerate() {
        let want_e = st.error.expect("adaptive") * st.dt.abs();
        let got_e = item(&regs.error[j]);
        assert!(
            (got_e - want_e).abs() <= 1e-12 * want_e.abs().max(1e-300),
            "step {j}: {got_e} vs {want_e}"
        );
        let got_s = item(&regs.stiffness[j]);
        assert!(
            (got_s - st.stiffness).abs() <= 1e-12 * st.stiffness.abs().max(1e-300),
            "step {j}: {got_s} vs {}",
            st.stiffness
        );
    }
    let mean_e: f64 = steps
        .iter()
        .map(|s| s.error.unwrap_or(0.0) * s.dt.abs())
        .sum::<f64>()
        / steps.len() as f64;
    let got = item(&regs.error_mean().expect("mean"));
    assert!((got - mean_e).abs() <= 1e-12 * mean_e);

    // The same with plain states, and nothing recorded without the option.
    let plain = |_t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        let tape = Tape::new();
        let out = field(
            &tape.constant(tensor(&[1, 2], y)),
            &tape.constant(tensor(&[2, 2], &W)),
        )?;
        Ok(out.value().to_f64_vec()?)
    };
    let ps = solve_ode(
        plain,
        Solver::Tsit5,
        0.0,
        3.0,
        None,
        &Y0.to_vec(),
        &options(1e-4),
    )
    .expect("solves");
    assert_eq!(ps.stats, sol.stats);
    let pr = ps.regularizers.expect("recorded");
    for (a, b) in pr.error.iter().zip(&regs.error) {
        assert!((a[0] - item(b)).abs() <= 1e-12 * a[0].abs().max(1e-300));
    }
    let off = solve_ode(
        plain,
        Solver::Tsit5,
        0.0,
        3.0,
        None,
        &Y0.to_vec(),
        &OdeOptions::tolerances(1e-4, 1e-4),
    )
    .expect("solves");
    assert!(off.regularizers.is_none());
    assert_eq!(off.stats, ps.stats);
}

/// The regulariser means with the step sizes `dts` held fixed, replayed with
/// `single_step` on constants (plain values).
fn replay(w: &[f64], dts: &[f64], c: &PidController) -> (f64, f64) {
    let tape = Tape::new();
    let wv = tape.constant(tensor(&[2, 2], w));
    let mut y = tape.constant(tensor(&[1, 2], &Y0));
    let (mut t, mut e, mut s) = (0.0, 0.0, 0.0);
    for &dt in dts {
        let step = single_step(
            |_t, y: &Var| field(y, &wv),
            Solver::Tsit5,
            t,
            3.0,
            Some(dt),
            &y,
            c,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        e += item(&step.error);
        s += item(&step.stiffness);
        y = step.y;
        t += dt;
    }
    (e / dts.len() as f64, s / dts.len() as f64)
}

#[test]
fn regulariser_gradients_match_finite_differences_with_fixed_steps() {
    let rtol = 1e-4;
    let (tape, w, sol) = tracked_solve(rtol);
    let regs = sol.regularizers.as_ref().expect("recorded");
    let dts: Vec<f64> = sol.stats.steps.iter().map(|s| s.dt).collect();
    let c = PidController::new(rtol, rtol);
    // The replay reproduces the recorded values.
    let (e0, s0) = replay(&W, &dts, &c);
    let (em, sm) = (
        regs.error_mean().expect("mean"),
        regs.stiffness_mean().expect("mean"),
    );
    assert!(
        (e0 - item(&em)).abs() <= 1e-11 * e0,
        "{e0} vs {}",
        item(&em)
    );
    assert!(
        (s0 - item(&sm)).abs() <= 1e-11 * s0,
        "{s0} vs {}",
        item(&sm)
    );

    let ge = tape.grad(&em, &[&w], false).expect("grad")[0]
        .value()
        .to_f64_vec()
        .expect("values");
    let gs = tape.grad(&sm, &[&w], false).expect("grad")[0]
        .value()
        .to_f64_vec()
        .expect("values");
    let h = 1e-6;
    for i in 0..4 {
        let (mut wp, mut wm) = (W, W);
        wp[i] += h;
        wm[i] -= h;
        let (ep, sp) = replay(&wp, &dts, &c);
        let (emn, smn) = replay(&wm, &dts, &c);
        let (fe, fs) = ((ep - emn) / (2.0 * h), (sp - smn) / (2.0 * h));
        eprintln!(
            "W[{i}]: d error {:.6e} (fd {fe:.6e}), d stiffness {:.6e} (fd {fs:.6e})",
            ge[i], gs[i]
        );
        assert!(
            (ge[i] - fe).abs() <= 1e-5 * fe.abs().max(1e-2 * e0),
            "error grad W[{i}]: {} vs {fe}",
            ge[i]
        );
        assert!(
            (gs[i] - fs).abs() <= 1e-5 * fs.abs().max(1e-2 * s0),
            "stiffness grad W[{i}]: {} vs {fs}",
            gs[i]
        );
    }
}

#[test]
fn single_step_reproduces_the_first_step_of_a_solve() {
    let rtol = 1e-5;
    let c = PidController::new(rtol, rtol);
    let tape = Tape::new();
    let w = tape.leaf(tensor(&[2, 2], &W));
    let y0 = tape.constant(tensor(&[1, 2], &Y0));
    let sol = solve_ode(
        |_t, y: &Var| field(y, &w),
        Solver::Tsit5,
        0.0,
        3.0,
        None,
        &y0,
        &options(rtol),
    )
    .expect("solves");
    let step = single_step(
        |_t, y: &Var| field(y, &w),
        Solver::Tsit5,
        0.0,
        3.0,
        None,
        &y0,
        &c,
    )
    .expect("steps");
    let first = sol.stats.steps[0];
    // Hairer's first step is accepted here, so the solve's first step is this one.
    assert_eq!(step.dt, first.dt);
    assert!((step.eest - first.error.expect("adaptive")).abs() <= 1e-12 * step.eest);
    assert_eq!(step.nfe, 8, "f(t, y), the first-step probe and six stages");
    let regs = sol.regularizers.expect("recorded");
    assert!((item(&step.error) - item(&regs.error[0])).abs() <= 1e-14 * item(&step.error));
    // Its gradient reaches the parameters.
    let g = tape.grad(&step.error, &[&w], false).expect("grad")[0]
        .value()
        .to_f64_vec()
        .expect("values");
    assert!(g.iter().any(|x| *x != 0.0) && g.iter().all(|x| x.is_finite()));
    // A given step size is used as is, backwards too.
    let back = single_step(
        |_t, y: &Var| field(y, &w),
        Solver::Dopri5,
        1.0,
        0.0,
        Some(-0.05),
        &y0,
        &c,
    )
    .expect("steps");
    assert_eq!(back.dt, -0.05);
    assert_eq!(back.nfe, 7);
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let f = |_t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        Ok(y.iter().map(|v| -v).collect())
    };
    let constant = OdeOptions {
        regularizers: true,
        controller: Controller::Constant,
        ..OdeOptions::default()
    };
    let e = solve_ode(f, Solver::Tsit5, 0.0, 1.0, Some(0.1), &vec![1.0], &constant)
        .expect_err("refused");
    assert!(e.to_string().contains("adaptive controller"), "{e}");
    let c = PidController::default();
    let e = single_step(f, Solver::Rk4, 0.0, 1.0, Some(0.1), &vec![1.0], &c).expect_err("refused");
    assert!(e.to_string().contains("error estimate"), "{e}");
    let e =
        single_step(f, Solver::Tsit5, 0.0, 1.0, Some(-0.1), &vec![1.0], &c).expect_err("refused");
    assert!(e.to_string().contains("sign"), "{e}");
}
