//! SDE solvers: strong orders on geometric Brownian motion (same Brownian
//! path for every step size), reversible Heun's exact reverse, and errors.
#![cfg(feature = "sde")]

use odeon_solve::sde::{
    BrownianInterval, BrownianPath, SaveAt, SdeError, SdeGrid, SdeOptions, SdeSolver,
    reverse_reversible_heun, solve_sde,
};

const MU: f64 = 0.5;
const SIGMA: f64 = 0.8;
const Y0: f64 = 1.0;
const T: f64 = 1.0;
const PATHS: u64 = 200;

fn opts() -> SdeOptions {
    SdeOptions::default()
}

/// Mean |y_N − y(T)| over the paths for each `dt = 2^-k`, `k` in `ks`.
/// `ito` selects the Itô or the Stratonovich GBM (and its exact solution).
fn gbm_errors(solver: SdeSolver, ito: bool, ks: &[i32]) -> Vec<f64> {
    let mut errs = vec![0.0; ks.len()];
    for seed in 0..PATHS {
        let mut w = BrownianInterval::new(0.0, T, 1, 500 + seed).expect("valid");
        let wt = w.value(T).expect("in range")[0];
        let exact = if ito {
            Y0 * ((MU - 0.5 * SIGMA * SIGMA) * T + SIGMA * wt).exp()
        } else {
            Y0 * (MU * T + SIGMA * wt).exp()
        };
        for (e, &k) in errs.iter_mut().zip(ks) {
            let dt = 2f64.powi(-k);
            let sol = solve_sde(
                |_t, y: &[f64]| vec![MU * y[0]],
                |_t, y: &[f64]| vec![SIGMA * y[0]],
                solver,
                0.0,
                T,
                dt,
                &[Y0],
                &mut w,
                &SdeOptions {
                    save: SaveAt::Endpoints,
                    ..opts()
                },
            )
            .expect("solves");
            *e += (sol.final_state()[0] - exact).abs() / PATHS as f64;
        }
    }
    errs
}

/// Least-squares slope of log(err) against log(dt).
fn slope(ks: &[i32], errs: &[f64]) -> f64 {
    let xs: Vec<f64> = ks.iter().map(|&k| -(k as f64) * 2f64.ln()).collect();
    let ys: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    sxy / sxx
}

const KS: [i32; 6] = [3, 4, 5, 6, 7, 8];

#[test]
fn euler_maruyama_has_strong_order_one_half() {
    let errs = gbm_errors(SdeSolver::EulerMaruyama, true, &KS);
    let p = slope(&KS, &errs);
    eprintln!("Euler-Maruyama errors {errs:?}, order {p:.3}");
    assert!((p - 0.5).abs() < 0.15, "order {p}");
}

#[test]
fn stratonovich_heun_has_strong_order_one() {
    let errs = gbm_errors(SdeSolver::StratonovichHeun, false, &KS);
    let p = slope(&KS, &errs);
    eprintln!("Stratonovich Heun errors {errs:?}, order {p:.3}");
    assert!((p - 1.0).abs() < 0.15, "order {p}");
}

#[test]
fn reversible_heun_converges_to_the_stratonovich_solution() {
    let errs = gbm_errors(SdeSolver::ReversibleHeun, false, &KS);
    let p = slope(&KS, &errs);
    eprintln!("reversible Heun errors {errs:?}, order {p:.3}");
    assert!(
        errs.windows(2).all(|w| w[1] < w[0]),
        "errors must decrease: {errs:?}"
    );
    assert!(p > 0.4, "order {p}");
    // Additive noise (an Ornstein-Uhlenbeck-type SDE against a fine Heun
    // reference on the same path): the error decreases with dt too.
    let ks = [3, 5, 7];
    let mut errs = [0.0; 3];
    for seed in 0..50 {
        let mut w = BrownianInterval::new(0.0, 1.0, 1, 900 + seed).expect("valid");
        let mut run = |solver, dt| {
            solve_sde(
                |t: f64, y: &[f64]| vec![-2.0 * y[0] + t.sin()],
                |_t, _y: &[f64]| vec![0.7],
                solver,
                0.0,
                1.0,
                dt,
                &[0.3],
                &mut w,
                &SdeOptions {
                    save: SaveAt::Endpoints,
                    ..opts()
                },
            )
            .expect("solves")
            .final_state()[0]
        };
        let reference = run(SdeSolver::StratonovichHeun, 2f64.powi(-11));
        for (e, &k) in errs.iter_mut().zip(&ks) {
            *e += (run(SdeSolver::ReversibleHeun, 2f64.powi(-k)) - reference).abs() / 50.0;
        }
    }
    eprintln!(
        "reversible Heun, additive noise, dt 2^-3, 2^-5, 2^-7: mean errors {errs:?}, order {:.3}",
        slope(&ks, &errs)
    );
    assert!(
        errs.windows(2).all(|w| w[1] < w[0]),
        "errors must decrease: {errs:?}"
    );
}

/// A nonlinear 3-dimensional SDE with 2-dimensional, state-dependent noise.
fn nonlinear_drift(t: f64, y: &[f64]) -> Vec<f64> {
    vec![
        (0.8 * y[1] - 0.3 * y[0]).tanh() + 0.2 * t.sin(),
        (y[0] * y[2]).sin() - 0.1 * y[1],
        -(0.5 * y[0] + 0.4 * y[1] - y[2]).tanh() + 0.05 * t,
    ]
}

fn nonlinear_diffusion(_t: f64, y: &[f64]) -> Vec<f64> {
    vec![
        0.3 * y[0].tanh(),
        0.1,
        0.2 * y[1].cos(),
        0.15 * (y[0] - y[2]).sin(),
        0.05 * y[2],
        0.25 / (1.0 + y[1] * y[1]),
    ]
}

#[test]
fn reversible_heun_reconstructs_the_initial_state() {
    let y0 = [0.7, -1.2, 0.4];
    let mut worst: f64 = 0.0;
    // Dyadic steps (2^-10, 2048 steps) and a step that does not divide the
    // interval (0.013: 154 steps on a uniform grid).
    for (seed, dt, steps) in [
        (77, 2f64.powi(-10), 2048),
        (78, 2f64.powi(-10), 2048),
        (79, 0.013, 154),
    ] {
        let mut w = BrownianInterval::new(0.0, 2.0, 2, seed).expect("valid");
        let sol = solve_sde(
            nonlinear_drift,
            nonlinear_diffusion,
            SdeSolver::ReversibleHeun,
            0.0,
            2.0,
            dt,
            &y0,
            &mut w,
            &SdeOptions {
                save: SaveAt::Endpoints,
                ..opts()
            },
        )
        .expect("solves");
        assert_eq!(sol.stats.steps, steps);
        assert_eq!(
            sol.stats.drift_evals,
            steps + 1,
            "one drift evaluation a step"
        );
        assert_eq!(sol.stats.diffusion_evals, steps + 1);
        assert_eq!(sol.ts, vec![0.0, 2.0]);
        let end = sol
            .reversible_state
            .as_ref()
            .expect("reversible Heun keeps its state");
        assert_eq!(end.y.as_slice(), sol.final_state());
        // The path moved: reconstruction is not trivial.
        assert!((end.y[0] - y0[0]).abs() > 1e-3);
        // Reverse with a fresh path from the same seed (the path depends
        // only on the seed), querying it backwards.
        let mut w2 = BrownianInterval::new(0.0, 2.0, 2, seed).expect("valid");
        let back = reverse_reversible_heun(
            nonlinear_drift,
            nonlinear_diffusion,
            &sol.grid,
            end,
            &mut w2,
        )
        .expect("reverses");
        assert_eq!(back.stats.steps, steps);
        assert_eq!(back.stats.drift_evals, steps);
        assert_eq!(back.state.t, 0.0);
        let norm = y0.iter().map(|x| x * x).sum::<f64>().sqrt();
        for (field, got) in [("y", &back.state.y), ("z", &back.state.z)] {
            let err = got
                .iter()
                .zip(&y0)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
                / norm;
            worst = worst.max(err);
            assert!(
                err <= 1e-12,
                "seed {seed}: {field} reconstructed to {err:e}"
            );
        }
    }
    eprintln!("reversible Heun: worst relative reconstruction error {worst:e}");
}

#[test]
fn saving_and_stats() {
    let mut w = BrownianInterval::new(0.0, 1.0, 1, 3).expect("valid");
    let run = |w: &mut BrownianInterval, solver, save| {
        solve_sde(
            |_t, y: &[f64]| vec![-y[0], y[0]],
            |_t, y: &[f64]| vec![0.1 * y[1], 0.2],
            solver,
            0.0,
            1.0,
            0.1,
            &[1.0, 0.0],
            w,
            &SdeOptions { save, ..opts() },
        )
        .expect("solves")
    };
    let all = run(&mut w, SdeSolver::StratonovichHeun, SaveAt::Steps);
    assert_eq!(
        all.stats.steps, 10,
        "dt = 0.1 divides [0, 1] up to rounding"
    );
    assert_eq!(all.stats.drift_evals, 20);
    assert_eq!(all.stats.brownian_queries, 10);
    assert_eq!(all.ts.len(), 11);
    assert_eq!(all.ts[10], 1.0);
    assert!(all.ts.windows(2).all(|p| p[1] > p[0]));
    let every = run(&mut w, SdeSolver::StratonovichHeun, SaveAt::Every(3));
    assert_eq!(every.ts.len(), 5); // 0, 3, 6, 9, 10
    assert_eq!(every.ys[2], all.ys[6]);
    assert_eq!(every.ys[4], all.ys[10]);
    let ends = run(&mut w, SdeSolver::EulerMaruyama, SaveAt::Endpoints);
    assert_eq!(ends.ys.len(), 2);
    assert!(ends.reversible_state.is_none());
    assert_eq!(ends.stats.drift_evals, 10);
    // A dt that does not divide the interval: ceil, on a uniform grid.
    let grid = SdeGrid::new(0.0, 1.0, 0.3, 100).expect("valid");
    assert_eq!(grid.steps, 4);
    assert_eq!(grid.time(4), 1.0);
    assert_eq!(grid.time(2), 0.5);
    assert_eq!(SdeGrid::new(1.0, 1.0, 0.1, 10).expect("valid").steps, 0);
}

#[test]
fn errors_are_reported() {
    type Field = fn(f64, &[f64]) -> Vec<f64>;
    fn f(_t: f64, y: &[f64]) -> Vec<f64> {
        y.to_vec()
    }
    fn g(_t: f64, y: &[f64]) -> Vec<f64> {
        vec![0.1; y.len()]
    }
    let solve =
        |w: &mut BrownianInterval, t0: f64, t1: f64, dt: f64, y0: &[f64], f: Field, g: Field| {
            solve_sde(f, g, SdeSolver::ReversibleHeun, t0, t1, dt, y0, w, &opts())
        };
    let mut w = BrownianInterval::new(0.0, 1.0, 1, 3).expect("valid");
    for dt in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let err = solve(&mut w, 0.0, 1.0, dt, &[1.0], f, g);
        assert!(
            matches!(err, Err(SdeError::BadStep { .. })),
            "dt {dt}: {err:?}"
        );
    }
    assert!(matches!(
        solve(&mut w, 1.0, 0.0, 0.1, &[1.0], f, g),
        Err(SdeError::BadInterval { .. })
    ));
    assert!(matches!(
        solve(&mut w, 0.0, f64::NAN, 0.1, &[1.0], f, g),
        Err(SdeError::BadInterval { .. })
    ));
    assert!(matches!(
        solve(&mut w, 0.0, 1.0, 1e-9, &[1.0], f, g),
        Err(SdeError::TooManySteps { .. })
    ));
    assert!(matches!(
        solve(&mut w, 0.0, 1.0, 1e-300, &[1.0], f, g),
        Err(SdeError::TooManySteps { .. })
    ));
    assert!(matches!(
        solve(&mut w, 0.0, 2.0, 0.1, &[1.0], f, g),
        Err(SdeError::PathTooShort { .. })
    ));
    assert!(matches!(
        solve(&mut w, 0.0, 1.0, 0.1, &[], f, g),
        Err(SdeError::Empty { .. })
    ));
    assert_eq!(
        solve(&mut w, 0.0, 1.0, 0.1, &[f64::NAN], f, g).map(|_| ()),
        Err(SdeError::NonFinite { step: 0, t: 0.0 })
    );
    // Wrong output lengths.
    let bad_f: Field = |_t, _y| vec![1.0, 2.0];
    let bad_g: Field = |_t, _y| vec![1.0, 2.0];
    assert_eq!(
        solve(&mut w, 0.0, 1.0, 0.1, &[1.0], bad_f, g).map(|_| ()),
        Err(SdeError::DimensionMismatch {
            what: "drift output",
            expected: 1,
            got: 2
        })
    );
    let err = solve(&mut w, 0.0, 1.0, 0.1, &[1.0], f, bad_g);
    assert!(matches!(
        err,
        Err(SdeError::DimensionMismatch {
            expected: 1,
            got: 2,
            ..
        })
    ));
    // Blow-up: dy = y^3 dt from 10 reaches infinity in finite time.
    let cubic: Field = |_t, y| vec![y[0] * y[0] * y[0] * 1e100];
    for solver in [
        SdeSolver::EulerMaruyama,
        SdeSolver::StratonovichHeun,
        SdeSolver::ReversibleHeun,
    ] {
        let err = solve_sde(cubic, g, solver, 0.0, 1.0, 0.1, &[1e100], &mut w, &opts());
        assert!(
            matches!(err, Err(SdeError::NonFinite { .. })),
            "{solver:?}: {err:?}"
        );
    }
    let msg = solve(&mut w, 0.0, 1.0, -1.0, &[1.0], f, g)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        msg,
        Err("the SDE step size must be positive and finite; got dt -1".into())
    );
    assert!(matches!(
        solve_sde(
            f,
            g,
            SdeSolver::EulerMaruyama,
            0.0,
            1.0,
            0.1,
            &[1.0],
            &mut w,
            &SdeOptions {
                save: SaveAt::Every(0),
                ..opts()
            }
        ),
        Err(SdeError::BadOption(_))
    ));
    // Reverse: the state must sit at the grid's end and match in size.
    let sol = solve(&mut w, 0.0, 1.0, 0.25, &[1.0, 2.0], f, g).expect("solves");
    let grid = sol.grid;
    let mut end = sol.reversible_state.clone().expect("state");
    end.t = 0.5;
    assert!(matches!(
        reverse_reversible_heun(f, g, &grid, &end, &mut w),
        Err(SdeError::StateTime { .. })
    ));
    end.t = 1.0;
    end.z.pop();
    assert!(matches!(
        reverse_reversible_heun(f, g, &grid, &end, &mut w),
        Err(SdeError::DimensionMismatch { .. })
    ));
    // A Brownian path of the wrong dimension for the diffusion output.
    let mut w2 = BrownianInterval::new(0.0, 1.0, 2, 3).expect("valid");
    assert_eq!(w2.dim(), 2);
    let err = solve(&mut w2, 0.0, 1.0, 0.1, &[1.0], f, g);
    assert!(matches!(
        err,
        Err(SdeError::DimensionMismatch {
            expected: 2,
            got: 1,
            ..
        })
    ));
}
