//! Solver tests on problems with known solutions (f64 states).
#![cfg(feature = "ode")]

// The state type is `Vec<f64>`, so vector fields take `&Vec<f64>`.
#![allow(clippy::ptr_arg)]

use odeon_solve::ode::{
    ButcherTableau, Controller, OdeOptions, OdeSolution, PidController, SaveAt, SolveError, Solver,
    solve_ode,
};

type R = Result<Vec<f64>, SolveError>;

const ADAPTIVE: [Solver; 3] = [Solver::Bosh3, Solver::Dopri5, Solver::Tsit5];

fn decay(_t: f64, y: &Vec<f64>) -> R {
    Ok(vec![-y[0]])
}

fn oscillator(_t: f64, y: &Vec<f64>) -> R {
    Ok(vec![y[1], -y[0]])
}

fn lotka_volterra(_t: f64, y: &Vec<f64>) -> R {
    Ok(vec![1.5 * y[0] - y[0] * y[1], y[0] * y[1] - 3.0 * y[1]])
}

fn robertson(_t: f64, y: &Vec<f64>) -> R {
    let (a, b, c) = (y[0], y[1], y[2]);
    Ok(vec![
        -0.04 * a + 1e4 * b * c,
        0.04 * a - 1e4 * b * c - 3e7 * b * b,
        3e7 * b * b,
    ])
}

fn last(sol: &OdeSolution<Vec<f64>>) -> Vec<f64> {
    sol.last().cloned().unwrap_or_default()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

// ---------------------------------------------------------------- tableaux

fn matvec(a: &[&[f64]], v: &[f64]) -> Vec<f64> {
    a.iter()
        .map(|row| row.iter().zip(v).map(|(x, y)| x * y).sum())
        .collect()
}

fn had(u: &[f64], v: &[f64]) -> Vec<f64> {
    u.iter().zip(v).map(|(x, y)| x * y).collect()
}

fn dot(u: &[f64], v: &[f64]) -> f64 {
    u.iter().zip(v).map(|(x, y)| x * y).sum()
}

/// The 17 order conditions up to order 5 (one per rooted tree): (order, residual).
fn order_conditions(tab: &ButcherTableau, b: &[f64]) -> Vec<(u32, f64)> {
    let a = tab.a;
    let s = b.len();
    let one = vec![1.0; s];
    let c = matvec(a, &one);
    let c2 = had(&c, &c);
    let c3 = had(&c2, &c);
    let ac = matvec(a, &c);
    let ac2 = matvec(a, &c2);
    let aac = matvec(a, &ac);
    let conds: Vec<(u32, f64, f64)> = vec![
        (1, dot(b, &one), 1.0),
        (2, dot(b, &c), 0.5),
        (3, dot(b, &c2), 1.0 / 3.0),
        (3, dot(b, &ac), 1.0 / 6.0),
        (4, dot(b, &c3), 0.25),
        (4, dot(b, &had(&c, &ac)), 1.0 / 8.0),
        (4, dot(b, &ac2), 1.0 / 12.0),
        (4, dot(b, &aac), 1.0 / 24.0),
        (5, dot(b, &had(&c3, &c)), 0.2),
        (5, dot(b, &had(&c2, &ac)), 0.1),
        (5, dot(b, &had(&ac, &ac)), 1.0 / 20.0),
        (5, dot(b, &had(&c, &ac2)), 1.0 / 15.0),
        (5, dot(b, &had(&c, &aac)), 1.0 / 30.0),
        (5, dot(b, &matvec(a, &c3)), 1.0 / 20.0),
        (5, dot(b, &matvec(a, &had(&c, &ac))), 1.0 / 40.0),
        (5, dot(b, &matvec(a, &ac2)), 1.0 / 60.0),
        (5, dot(b, &matvec(a, &aac)), 1.0 / 120.0),
    ];
    conds.into_iter().map(|(p, v, e)| (p, v - e)).collect()
}

#[test]
fn tableaux_satisfy_their_order_conditions() {
    for solver in Solver::ALL {
        let tab = solver.tableau();
        let s = tab.stages();
        assert_eq!(tab.a.len(), s);
        assert_eq!(tab.c.len(), s);
        for (i, row) in tab.a.iter().enumerate() {
            assert_eq!(row.len(), i, "{} row {i}", tab.name);
            let sum: f64 = row.iter().sum();
            assert!(
                (sum - tab.c[i]).abs() < 1e-14,
                "{} row sum {i}: {sum} vs {}",
                tab.name,
                tab.c[i]
            );
        }
        let conds = order_conditions(tab, tab.b);
        for &(p, r) in &conds {
            if p <= tab.order {
                assert!(
                    r.abs() < 1e-13,
                    "{}: order-{p} condition off by {r:e}",
                    tab.name
                );
            }
        }
        // It is not of a higher order than claimed (for order < 5).
        if tab.order < 5 {
            assert!(
                conds
                    .iter()
                    .any(|&(p, r)| p == tab.order + 1 && r.abs() > 1e-6),
                "{}",
                tab.name
            );
        }
        if let Some(b_err) = tab.b_err {
            let b_hat: Vec<f64> = tab.b.iter().zip(b_err).map(|(b, e)| b - e).collect();
            for (p, r) in order_conditions(tab, &b_hat) {
                if p <= tab.embedded_order {
                    assert!(
                        r.abs() < 1e-13,
                        "{} embedded: order-{p} condition off by {r:e}",
                        tab.name
                    );
                }
            }
            assert!(tab.fsal);
            assert_eq!(
                tab.a[s - 1],
                &tab.b[..s - 1],
                "{}: FSAL last row must equal b",
                tab.name
            );
            assert_eq!(tab.b[s - 1], 0.0);
            assert_eq!(tab.c[s - 1], 1.0);
        }
    }
}

// ---------------------------------------------------------------- convergence

fn pendulum(_t: f64, y: &Vec<f64>) -> R {
    Ok(vec![y[1], -libm::sin(y[0])])
}

const PENDULUM_T: f64 = 50.0;

/// Error at t = 50 of the pendulum from (1, 0) with `n` constant steps,
/// against Dopri5 with 40000 steps (checked against Tsit5).
fn pendulum_error(solver: Solver, n: usize, reference: &[f64]) -> f64 {
    let opts = OdeOptions {
        max_steps: 1_000_000,
        ..OdeOptions::constant()
    };
    let sol = solve_ode(
        pendulum,
        solver,
        0.0,
        PENDULUM_T,
        Some(PENDULUM_T / n as f64),
        &vec![1.0, 0.0],
        &opts,
    );
    let sol = sol.unwrap_or_else(|e| panic!("{solver:?}: {e}"));
    assert_eq!(sol.stats.accepted, n);
    let y = last(&sol);
    (y[0] - reference[0]).hypot(y[1] - reference[1])
}

/// Error at t = 3 of the logistic equation y' = 4 y (1 - y), y(0) = 0.01.
fn logistic_error(solver: Solver, n: usize) -> f64 {
    let t1 = 3.0;
    let sol = solve_ode(
        |_t, y: &Vec<f64>| Ok(vec![4.0 * y[0] * (1.0 - y[0])]),
        solver,
        0.0,
        t1,
        Some(t1 / n as f64),
        &vec![0.01],
        &OdeOptions::constant(),
    );
    let sol = sol.unwrap_or_else(|e| panic!("{solver:?}: {e}"));
    (last(&sol)[0] - 1.0 / (1.0 + 99.0 * libm::exp(-4.0 * t1))).abs()
}

/// Least-squares slope of log(error) against log(dt).
fn slope(points: &[(f64, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = points.iter().map(|&(h, e)| (h.ln(), e.ln())).collect();
    let m = pts.len() as f64;
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / m, sy / m);
    let num: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = pts.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    num / den
}

#[test]
fn every_tableau_shows_its_order() {
    let opts = OdeOptions {
        max_steps: 1_000_000,
        ..OdeOptions::constant()
    };
    let dt = PENDULUM_T / 40000.0;
    let reference = last(
        &solve_ode(
            pendulum,
            Solver::Dopri5,
            0.0,
            PENDULUM_T,
            Some(dt),
            &vec![1.0, 0.0],
            &opts,
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let check = last(
        &solve_ode(
            pendulum,
            Solver::Tsit5,
            0.0,
            PENDULUM_T,
            Some(dt),
            &vec![1.0, 0.0],
            &opts,
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(max_abs_diff(&reference, &check) < 1e-12);
    for solver in Solver::ALL {
        let points: Vec<(f64, f64)> = if solver == Solver::Euler {
            // Euler needs far more steps on the pendulum: the logistic equation instead.
            [40, 80, 160, 320]
                .iter()
                .map(|&n| (3.0 / n as f64, logistic_error(solver, n)))
                .collect()
        } else {
            [800, 1600, 3200]
                .iter()
                .map(|&n| (PENDULUM_T / n as f64, pendulum_error(solver, n, &reference)))
                .collect()
        };
        let p = slope(&points);
        eprintln!(
            "{solver:?}: observed order {p:.3} (theory {}), errors {:?}",
            solver.order(),
            points.iter().map(|p| p.1).collect::<Vec<_>>()
        );
        assert!(
            (p - f64::from(solver.order())).abs() < 0.3,
            "{solver:?}: observed order {p}"
        );
    }
}

// ---------------------------------------------------------------- accuracy

#[test]
fn exponential_decay_meets_tolerance_forwards_and_backwards() {
    for solver in ADAPTIVE {
        for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
            let opts = OdeOptions::tolerances(tol, tol);
            let sol = solve_ode(decay, solver, 0.0, 5.0, None, &vec![1.0], &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            let err = (last(&sol)[0] - libm::exp(-5.0)).abs();
            assert!(err <= 100.0 * tol, "{solver:?} tol {tol}: error {err:e}");
            // Backwards from t = 5 to t = 0.
            let back = solve_ode(
                decay,
                solver,
                5.0,
                0.0,
                Some(-0.1),
                &vec![libm::exp(-5.0)],
                &opts,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            // Backwards the solution grows by e^5 and so do the local errors
            // (each controlled relative to |y|): allow for the growth.
            let err = (last(&back)[0] - 1.0).abs();
            assert!(
                err <= 200.0 * tol,
                "{solver:?} backwards tol {tol}: error {err:e}"
            );
            assert!(back.stats.steps.iter().all(|s| s.dt < 0.0));
        }
    }
}

#[test]
fn harmonic_oscillator_meets_tolerance_and_conserves_energy() {
    let t1 = 10.0;
    for solver in ADAPTIVE {
        for tol in [1e-5, 1e-7, 1e-9] {
            let opts = OdeOptions::tolerances(tol, tol);
            let sol = solve_ode(oscillator, solver, 0.0, t1, None, &vec![1.0, 0.0], &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            let y = last(&sol);
            let err = max_abs_diff(&y, &[libm::cos(t1), -libm::sin(t1)]);
            assert!(err <= 100.0 * tol, "{solver:?} tol {tol}: error {err:e}");
            let drift = (0.5 * (y[0] * y[0] + y[1] * y[1]) - 0.5).abs();
            assert!(
                drift <= 100.0 * tol,
                "{solver:?} tol {tol}: energy drift {drift:e}"
            );
            // And back to the start.
            let back = solve_ode(oscillator, solver, t1, 0.0, None, &y, &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            let err = max_abs_diff(&last(&back), &[1.0, 0.0]);
            assert!(
                err <= 200.0 * tol,
                "{solver:?} tol {tol}: there and back error {err:e}"
            );
        }
    }
}

#[test]
fn dense_output_at_given_times() {
    let times: Vec<f64> = (0..=20).map(|i| 0.5 * i as f64).collect();
    for solver in ADAPTIVE {
        let opts = OdeOptions::tolerances(1e-8, 1e-8).with_save_at(SaveAt::Times(times.clone()));
        let sol = solve_ode(oscillator, solver, 0.0, 10.0, None, &vec![1.0, 0.0], &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sol.ts, times);
        let worst = sol
            .ts
            .iter()
            .zip(&sol.ys)
            .map(|(&t, y)| max_abs_diff(y, &[libm::cos(t), -libm::sin(t)]))
            .fold(0.0, f64::max);
        eprintln!("{solver:?}: dense output error {worst:e} at tol 1e-8");
        assert!(worst < 1e-5, "{solver:?}: dense output error {worst:e}");
        // Backwards, from t = 10 to 0, the same times in reverse order: each
        // is saved where requested (the first save used to take the
        // forward direction and record every time at t0 with y0).
        let back: Vec<f64> = times.iter().rev().copied().collect();
        let opts = OdeOptions::tolerances(1e-8, 1e-8).with_save_at(SaveAt::Times(back.clone()));
        let sol = solve_ode(oscillator, solver, 10.0, 0.0, None, &vec![libm::cos(10.0), -libm::sin(10.0)], &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sol.ts, back);
        let worst = sol.ts.iter().zip(&sol.ys).map(|(&t, y)| max_abs_diff(y, &[libm::cos(t), -libm::sin(t)])).fold(0.0, f64::max);
        assert!(worst < 1e-5, "{solver:?} backwards: dense output error {worst:e}");
    }
    // The stored dense output agrees with SaveAt::Times, also backwards.
    let opts = OdeOptions {
        dense: true,
        ..OdeOptions::tolerances(1e-9, 1e-9)
    };
    let sol = solve_ode(
        oscillator,
        Solver::Tsit5,
        10.0,
        0.0,
        None,
        &vec![libm::cos(10.0), -libm::sin(10.0)],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dense = sol
        .dense
        .as_ref()
        .unwrap_or_else(|| panic!("no dense output"));
    for t in [0.0, 0.3, 4.7, 9.99, 10.0] {
        let y = dense.evaluate(t).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            max_abs_diff(&y, &[libm::cos(t), -libm::sin(t)]) < 1e-6,
            "t = {t}"
        );
    }
    assert!(dense.evaluate(10.5).is_err());
}

#[test]
fn lotka_volterra_against_tight_reference() {
    let y0 = vec![1.0, 1.0];
    let tight = OdeOptions {
        max_steps: 1_000_000,
        ..OdeOptions::tolerances(1e-12, 1e-12)
    };
    let reference = last(
        &solve_ode(lotka_volterra, Solver::Dopri5, 0.0, 10.0, None, &y0, &tight)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let check = last(
        &solve_ode(lotka_volterra, Solver::Tsit5, 0.0, 10.0, None, &y0, &tight)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(
        max_abs_diff(&reference, &check) < 1e-9,
        "Dopri5 and Tsit5 references differ"
    );
    for solver in ADAPTIVE {
        for tol in [1e-5, 1e-7, 1e-9] {
            let opts = OdeOptions {
                max_steps: 1_000_000,
                ..OdeOptions::tolerances(tol, tol)
            };
            let sol = solve_ode(lotka_volterra, solver, 0.0, 10.0, None, &y0, &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            let err = max_abs_diff(&last(&sol), &reference);
            eprintln!(
                "{solver:?} tol {tol:e}: error {err:e}, {} steps, {} rejected, nfe {}",
                sol.stats.accepted, sol.stats.rejected, sol.stats.nfe
            );
            assert!(err <= 100.0 * tol, "{solver:?} tol {tol}: error {err:e}");
            for s in &sol.stats.steps {
                let e = s.error.unwrap_or(f64::NAN);
                assert!((0.0..=1.0).contains(&e), "accepted step with error {e}");
            }
        }
    }
}

// ---------------------------------------------------------------- stiffness

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// y' = -lambda(t) (y - cos t) - sin t with lambda(t) = e^t: y = cos t, and the
/// problem turns stiff as lambda grows to e^8 ~ 3000.
fn growing_stiffness(t: f64, y: &Vec<f64>) -> R {
    Ok(vec![-libm::exp(t) * (y[0] - libm::cos(t)) - libm::sin(t)])
}

#[test]
fn stiffness_estimate_rises_on_a_stiff_problem() {
    let opts = OdeOptions {
        max_steps: 100_000,
        ..OdeOptions::tolerances(1e-6, 1e-6)
    };
    let nonstiff = solve_ode(
        oscillator,
        Solver::Dopri5,
        0.0,
        10.0,
        None,
        &vec![1.0, 0.0],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let nonstiff_max = nonstiff
        .stats
        .steps
        .iter()
        .map(|s| s.stiffness)
        .fold(0.0, f64::max);
    assert!(nonstiff_max < 1.0, "oscillator stiffness {nonstiff_max}");
    // The two last stages of Dopri5 and Tsit5 sit at c = 1: Hairer's estimate.
    for solver in [Solver::Dopri5, Solver::Tsit5] {
        let sol = solve_ode(growing_stiffness, solver, 0.0, 8.0, None, &vec![1.0], &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        let steps = &sol.stats.steps;
        let early = steps
            .iter()
            .filter(|s| s.t < 1.0)
            .map(|s| s.stiffness)
            .fold(0.0, f64::max);
        let late = median(
            steps
                .iter()
                .filter(|s| s.t > 6.0)
                .map(|s| s.stiffness)
                .collect(),
        );
        let err = (sol.last().map_or(f64::NAN, |y| y[0]) - libm::cos(8.0)).abs();
        eprintln!(
            "{solver:?}, growing stiffness: {} steps, {} rejected, max on t < 1: {early:.3}, median on t > 6: {late:.3}, error {err:e}; oscillator max {nonstiff_max:.3}",
            sol.stats.accepted, sol.stats.rejected
        );
        assert!(early < 1.0, "{solver:?}: early stiffness {early}");
        assert!(late > 2.0, "{solver:?}: late stiffness {late}");
        assert!(err < 1e-4);

        let sol = solve_ode(
            robertson,
            solver,
            0.0,
            1.0,
            None,
            &vec![1.0, 0.0, 0.0],
            &OdeOptions {
                max_steps: 100_000,
                ..OdeOptions::tolerances(1e-4, 1e-8)
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let steps = &sol.stats.steps;
        let late = median(
            steps[steps.len() / 2..]
                .iter()
                .map(|s| s.stiffness)
                .collect(),
        );
        eprintln!(
            "{solver:?} on Robertson: {} steps, median stiffness over the second half {late:.3}",
            steps.len()
        );
        assert!(late > 2.0, "{solver:?}: Robertson stiffness {late}");
    }
}

// ---------------------------------------------------------------- stats and saving

#[test]
fn statistics_add_up() {
    let n = 37;
    for (solver, per_step) in [
        (Solver::Euler, 1),
        (Solver::Heun, 2),
        (Solver::Rk4, 4),
        (Solver::Bosh3, 3),
        (Solver::Dopri5, 6),
    ] {
        let sol = solve_ode(
            decay,
            solver,
            0.0,
            1.0,
            Some(1.0 / n as f64),
            &vec![1.0],
            &OdeOptions::constant(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sol.stats.nfe, 1 + per_step * n, "{solver:?}");
        assert_eq!(sol.stats.accepted, n);
        assert_eq!(sol.stats.rejected, 0);
        assert!(sol.stats.steps.iter().all(|s| s.error.is_none()));
        let total: f64 = sol.stats.steps.iter().map(|s| s.dt).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
    // Adaptive FSAL: first evaluation, starting-step probe, then six per attempt.
    let opts = OdeOptions::tolerances(1e-8, 1e-8).with_save_at(SaveAt::Steps);
    let sol = solve_ode(
        lotka_volterra,
        Solver::Dopri5,
        0.0,
        10.0,
        None,
        &vec![1.0, 1.0],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let st = &sol.stats;
    assert_eq!(st.nfe, 2 + 6 * (st.accepted + st.rejected));
    assert_eq!(sol.ts.len(), st.accepted + 1);
    assert_eq!(sol.ts.first(), Some(&0.0));
    assert_eq!(sol.ts.last(), Some(&10.0));
    assert!(sol.ts.windows(2).all(|w| w[1] > w[0]));
    for (w, s) in sol.ts.windows(2).zip(&st.steps) {
        assert_eq!(w[0], s.t);
        assert!((w[1] - w[0] - s.dt).abs() < 1e-12);
    }
    // A last step shorter than dt0 lands exactly on t1.
    let sol = solve_ode(
        decay,
        Solver::Rk4,
        0.0,
        1.0,
        Some(0.3),
        &vec![1.0],
        &OdeOptions::constant().with_save_at(SaveAt::Steps),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sol.ts, vec![0.0, 0.3, 0.6, 0.8999999999999999, 1.0]);
    // dt_max is respected; I control (pcoeff = 0, icoeff = 1) also works.
    let ctl = PidController {
        pcoeff: 0.0,
        icoeff: 1.0,
        ..PidController::new(1e-6, 1e-6)
    };
    let opts = OdeOptions {
        controller: Controller::Pid(ctl),
        dt_max: 0.05,
        ..OdeOptions::default()
    };
    let sol = solve_ode(
        oscillator,
        Solver::Tsit5,
        0.0,
        10.0,
        None,
        &vec![1.0, 0.0],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(sol.stats.steps.iter().all(|s| s.dt <= 0.05 + 1e-15));
    assert!(max_abs_diff(&last(&sol), &[libm::cos(10.0), -libm::sin(10.0)]) < 1e-5);
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_are_reported_not_panicked() {
    let y0 = vec![1.0];
    let pid = OdeOptions::default();
    let constant = OdeOptions::constant();
    let bad = |r: Result<OdeSolution<Vec<f64>>, SolveError>| match r {
        Err(SolveError::BadArgument(m)) => m,
        other => panic!("expected BadArgument, got {other:?}"),
    };
    eprintln!(
        "{}",
        bad(solve_ode(decay, Solver::Dopri5, 1.0, 1.0, None, &y0, &pid))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            0.0,
            1.0,
            Some(-0.1),
            &y0,
            &pid
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            1.0,
            0.0,
            Some(0.1),
            &y0,
            &pid
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Rk4,
            0.0,
            1.0,
            Some(0.0),
            &y0,
            &constant
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Rk4,
            0.0,
            1.0,
            None,
            &y0,
            &constant
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(decay, Solver::Euler, 0.0, 1.0, None, &y0, &pid))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &y0,
            &OdeOptions::tolerances(0.0, 1e-6)
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &y0,
            &OdeOptions::tolerances(1e-6, -1.0)
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            0.0,
            f64::NAN,
            None,
            &y0,
            &pid
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &y0,
            &pid.clone().with_save_at(SaveAt::Times(vec![0.5, 2.0]))
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            decay,
            Solver::Dopri5,
            0.0,
            1.0,
            None,
            &y0,
            &pid.clone().with_save_at(SaveAt::Times(vec![0.5, 0.2]))
        ))
    );
    eprintln!(
        "{}",
        bad(solve_ode(
            |_t, _y: &Vec<f64>| Ok(vec![1.0, 2.0]),
            Solver::Rk4,
            0.0,
            1.0,
            Some(0.1),
            &y0,
            &constant
        ))
    );

    // Step budget.
    let opts = OdeOptions {
        max_steps: 5,
        ..OdeOptions::tolerances(1e-10, 1e-10)
    };
    let r = solve_ode(
        oscillator,
        Solver::Dopri5,
        0.0,
        10.0,
        None,
        &vec![1.0, 0.0],
        &opts,
    );
    assert!(
        matches!(r, Err(SolveError::MaxSteps { max_steps: 5, .. })),
        "{r:?}"
    );
    let r = solve_ode(
        decay,
        Solver::Euler,
        0.0,
        1.0,
        Some(1e-3),
        &y0,
        &OdeOptions {
            max_steps: 10,
            ..OdeOptions::constant()
        },
    );
    assert!(matches!(r, Err(SolveError::MaxSteps { .. })), "{r:?}");

    // A vector field that turns NaN at t > 0.5.
    let nan_after =
        |t: f64, y: &Vec<f64>| -> R { Ok(vec![if t > 0.5 { f64::NAN } else { -y[0] }]) };
    match solve_ode(nan_after, Solver::Tsit5, 0.0, 1.0, None, &y0, &pid) {
        Err(e @ SolveError::NonFinite { t }) => {
            assert!((0.49..=0.6).contains(&t), "{t}");
            assert!(e.to_string().contains("NaN"));
            eprintln!("{e}");
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    match solve_ode(nan_after, Solver::Rk4, 0.0, 1.0, Some(0.1), &y0, &constant) {
        Err(SolveError::NonFinite { t }) => assert!((0.5..=0.7).contains(&t), "{t}"),
        other => panic!("expected NonFinite, got {other:?}"),
    }
    // Blow-up at t = 1 of y' = y^2, y(0) = 1.
    let r = solve_ode(
        |_t, y: &Vec<f64>| Ok(vec![y[0] * y[0]]),
        Solver::Dopri5,
        0.0,
        2.0,
        None,
        &y0,
        &pid,
    );
    match r {
        Err(
            e @ (SolveError::StepSizeUnderflow { .. }
            | SolveError::NonFinite { .. }
            | SolveError::MaxSteps { .. }),
        ) => eprintln!("{e}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    // A non-finite initial state.
    assert!(matches!(
        solve_ode(decay, Solver::Dopri5, 0.0, 1.0, None, &vec![f64::NAN], &pid),
        Err(SolveError::NonFinite { .. })
    ));
    // The vector field's own error comes through.
    let r = solve_ode(
        |_t, _y: &Vec<f64>| -> R { Err(SolveError::VectorField("boom".into())) },
        Solver::Dopri5,
        0.0,
        1.0,
        None,
        &y0,
        &pid,
    );
    assert!(matches!(r, Err(SolveError::VectorField(_))));
}
