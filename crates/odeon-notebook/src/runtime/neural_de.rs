//! Script functions for neural differential equations: a neural ODE on a
//! spiral (its gradient by backpropagation through the solver or by a
//! continuous adjoint, and its training), a neural CDE classifying
//! irregularly sampled spirals through natural cubic spline control paths,
//! and the neural-SDE tools (reversible Heun round trips, Brownian-interval
//! query orders and bridge variances).
//!
//! Everything here is `f64` on the CPU except the CDE (f32 tensors), and
//! runs inside the call (no GPU job): training reports progress and the
//! loss live and stops when the user presses Stop.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::neural_de::{
    self, BridgeConfig, CdeConfig, GradientMethod, NeuralOde, OdeTrainConfig, SdeDemoConfig, SolveConfig, Spiral, SpiralConfig,
};
use odeon_tensor::{SeedStream, Tensor};
use rhai::{Array, Dynamic, Engine, Map};

use super::jobs::TrainingProgress;
use super::outputs::numbers;
use super::{Fallible, Points, check_keys, emit, float_array, get_float, get_int, method_error, script_error, should_stop, to_seed};

/// Observations of a spiral in scripts.
#[derive(Debug, Clone)]
pub struct SpiralData(Rc<Spiral>);

/// A neural ODE in scripts (shared, so a later cell uses what an earlier
/// cell trained).
#[derive(Debug, Clone)]
pub struct OdeModel(Rc<RefCell<NeuralOde>>);

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &Dynamic) -> Option<super::Restore> {
    value.read_lock::<OdeModel>().map(|m| super::restore_of(&m.0))
}

fn float(map: &mut Map, key: &str, value: f64) {
    map.insert(key.into(), Dynamic::from_float(value));
}

fn int(map: &mut Map, key: &str, value: usize) {
    map.insert(key.into(), Dynamic::from_int(value as i64));
}

fn seed_of(options: &Map) -> Fallible<u64> {
    Ok(to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?))
}

/// The solver of an ODE call: `tol` for Tsit5 with adaptive steps at
/// `rtol = atol = tol`, `dt` for RK4 with constant steps, `default` when
/// neither is given.
fn solve_config(options: &Map, default: SolveConfig, what: &str) -> Fallible<SolveConfig> {
    match (options.contains_key("tol"), options.contains_key("dt")) {
        (true, true) => Err(script_error(format!("{what}: give either `tol` (adaptive Tsit5) or `dt` (RK4 with fixed steps), not both"))),
        (true, false) => {
            let tol = get_float(options, "tol", 0.0)?;
            if !(tol > 0.0 && tol < 1.0) {
                return Err(script_error(format!("{what}: `tol` must be between 0 and 1 (e.g. 1e-6); got {tol}")));
            }
            Ok(SolveConfig::adaptive(tol))
        }
        (false, true) => {
            let dt = get_float(options, "dt", 0.0)?;
            if !(dt > 0.0 && dt.is_finite()) {
                return Err(script_error(format!("{what}: the step `dt` must be a positive number; got {dt}")));
            }
            Ok(SolveConfig::fixed(dt))
        }
        (false, false) => Ok(default),
    }
}

fn gradient_method(options: &Map, default: GradientMethod, what: &str) -> Fallible<GradientMethod> {
    match options.get("method").map(|v| v.to_string().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("backprop") => Ok(GradientMethod::Backprop),
        Some("backsolve") => Ok(GradientMethod::BacksolveAdjoint),
        Some("interpolating") => Ok(GradientMethod::InterpolatingAdjoint),
        Some(other) => Err(script_error(format!("{what}: unknown method \"{other}\"; choose \"backprop\", \"backsolve\" or \"interpolating\""))),
    }
}

/// The number of observations a window spans, at most the whole spiral.
fn window(options: &Map, data: &Spiral, default: usize) -> Fallible<usize> {
    let n = data.ts.len();
    Ok(get_int(options, "window", default.min(n) as i64, 2, n as i64)? as usize)
}

fn xy_map(points: &[[f64; 2]]) -> Map {
    let mut out = Map::new();
    out.insert("x".into(), float_array(points.iter().map(|p| p[0])));
    out.insert("y".into(), float_array(points.iter().map(|p| p[1])));
    out
}

/// A live progress bar and loss curve for a loop in this call, stopped by
/// the user's Stop.
fn monitor(steps: usize) -> impl FnMut(usize, usize, f32) -> bool {
    let mut progress = TrainingProgress::new(steps);
    let mut sink = emit;
    move |step, total, loss| {
        progress.observe(step + 1, total, loss, &mut sink);
        !should_stop()
    }
}

fn register_ode(engine: &mut Engine) {
    engine.register_type_with_name::<SpiralData>("SpiralData");
    engine.register_type_with_name::<OdeModel>("NeuralOde");
    engine.register_fn("to_string", |d: &mut SpiralData| format!("SpiralData({} observations on [0, {}])", d.0.ts.len(), d.0.ts.last().copied().unwrap_or(0.0)));
    engine.register_fn("to_string", |m: &mut OdeModel| format!("NeuralOde({} parameters)", odeon_nn::Module::parameter_count(&m.0.borrow().net)));

    engine.register_fn("spiral_data", |options: Map| -> Fallible<SpiralData> {
        check_keys(&options, &["points", "t_end", "damping", "frequency", "y0"], "spiral_data")?;
        let d = SpiralConfig::default();
        let y0 = match options.get("y0") {
            None => d.y0,
            Some(v) => {
                let values = v.clone().try_cast::<Array>().map(|a| numbers(&a, "spiral_data: `y0`")).transpose()?;
                match values.as_deref() {
                    Some([a, b]) => [*a, *b],
                    _ => return Err(script_error("spiral_data: `y0` must be two numbers, e.g. [2.0, 0.0]")),
                }
            }
        };
        let config = SpiralConfig {
            points: get_int(&options, "points", d.points as i64, 2, 100_000)? as usize,
            t_end: get_float(&options, "t_end", d.t_end)?,
            damping: get_float(&options, "damping", d.damping)?,
            frequency: get_float(&options, "frequency", d.frequency)?,
            y0,
        };
        Ok(SpiralData(Rc::new(neural_de::spiral(&config).map_err(method_error)?)))
    });
    engine.register_get("times", |d: &mut SpiralData| float_array(d.0.ts.iter().copied()));
    engine.register_get("observations", |d: &mut SpiralData| {
        let mut out = xy_map(&d.0.ys);
        out.insert("t".into(), float_array(d.0.ts.iter().copied()));
        out
    });
    engine.register_get("points", |d: &mut SpiralData| -> Fallible<Points> {
        let values: Vec<f32> = d.0.ys.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect();
        let tensor = Tensor::from_shape_vec(&[d.0.ys.len(), 2], values).map_err(|e| script_error(e.to_string()))?;
        Ok(Points(Rc::new(tensor)))
    });

    engine.register_fn("neural_ode", |options: Map| -> Fallible<OdeModel> {
        check_keys(&options, &["width", "seed"], "neural_ode")?;
        let width = get_int(&options, "width", 32, 1, 4096)? as usize;
        Ok(OdeModel(Rc::new(RefCell::new(NeuralOde::new(width, seed_of(&options)?).map_err(method_error)?))))
    });

    engine.register_fn("ode_gradient", |model: OdeModel, data: SpiralData, options: Map| -> Fallible<Map> {
        check_keys(&options, &["method", "tol", "dt", "window"], "ode_gradient")?;
        let method = gradient_method(&options, GradientMethod::Backprop, "ode_gradient")?;
        let solve = solve_config(&options, SolveConfig::adaptive(1e-9), "ode_gradient")?;
        let window = window(&options, &data.0, usize::MAX)?;
        let g = neural_de::ode_loss_gradient(&model.0.borrow(), &data.0, &[0], window, method, &solve).map_err(method_error)?;
        let mut out = Map::new();
        float(&mut out, "loss", g.loss);
        out.insert("grad".into(), float_array(g.flat.iter().copied()));
        int(&mut out, "tape", g.peak_tape);
        int(&mut out, "nfe_forward", g.nfe_forward);
        int(&mut out, "nfe_backward", g.nfe_backward);
        int(&mut out, "nfe", g.nfe_forward + g.nfe_backward);
        int(&mut out, "steps", g.steps);
        Ok(out)
    });
    engine.register_fn("relative_difference", |a: Array, b: Array| -> Fallible<f64> {
        let (a, b) = (numbers(&a, "relative_difference")?, numbers(&b, "relative_difference")?);
        if a.len() != b.len() || a.is_empty() {
            return Err(script_error(format!("relative_difference needs two arrays of the same length; got {} and {}", a.len(), b.len())));
        }
        Ok(neural_de::relative_difference(&a, &b))
    });

    engine.register_fn("train_neural_ode", |model: OdeModel, data: SpiralData, options: Map| -> Fallible<Map> {
        check_keys(&options, &["steps", "lr", "batch", "window", "method", "tol", "dt", "eval_every", "seed"], "train_neural_ode")?;
        let d = OdeTrainConfig::default();
        let config = OdeTrainConfig {
            steps: get_int(&options, "steps", d.steps as i64, 1, 1_000_000)? as usize,
            lr: get_float(&options, "lr", d.lr)?,
            batch: get_int(&options, "batch", d.batch as i64, 1, 4096)? as usize,
            window: window(&options, &data.0, d.window)?,
            method: gradient_method(&options, d.method, "train_neural_ode")?,
            solve: solve_config(&options, d.solve, "train_neural_ode")?,
            eval_every: get_int(&options, "eval_every", d.eval_every as i64, 1, 1_000_000)? as usize,
            seed: seed_of(&options)?,
        };
        if !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(script_error(format!("train_neural_ode: the learning rate `lr` must be a positive number; got {}", config.lr)));
        }
        // Train a copy: a stopped or failed run leaves the model as it was.
        let mut trained = model.0.borrow().clone();
        let report = neural_de::train_neural_ode(&mut trained, &data.0, &config, &mut monitor(config.steps)).map_err(method_error)?;
        *model.0.borrow_mut() = trained;
        let mut out = Map::new();
        out.insert("losses".into(), float_array(report.losses.iter().copied()));
        out.insert("fit_steps".into(), float_array(report.fit_errors.iter().map(|(s, _)| *s as f64)));
        out.insert("fit_errors".into(), float_array(report.fit_errors.iter().map(|(_, e)| *e)));
        float(&mut out, "initial_fit_error", report.initial_fit_error);
        float(&mut out, "final_fit_error", report.final_fit_error);
        out.insert("fitted".into(), Dynamic::from_map(xy_map(&report.fitted)));
        int(&mut out, "tape", report.peak_tape);
        float(&mut out, "nfe_per_step", report.nfe_per_step);
        Ok(out)
    });

    engine.register_fn("ode_trajectory", |model: OdeModel, data: SpiralData, options: Map| -> Fallible<Map> {
        check_keys(&options, &["points", "tol", "dt"], "ode_trajectory")?;
        let points = get_int(&options, "points", 200, 2, 100_000)? as usize;
        let solve = solve_config(&options, SolveConfig::adaptive(1e-6), "ode_trajectory")?;
        let t_end = data.0.ts.last().copied().unwrap_or(0.0);
        let y0 = *data.0.ys.first().ok_or_else(|| script_error("ode_trajectory: the spiral is empty"))?;
        let ts: Vec<f64> = (0..points).map(|i| t_end * i as f64 / (points - 1) as f64).collect();
        let path = model.0.borrow().rollout(y0, &ts, &solve).map_err(method_error)?;
        let mut out = xy_map(&path);
        out.insert("t".into(), float_array(ts));
        Ok(out)
    });
}

fn register_cde(engine: &mut Engine) {
    engine.register_fn("cde_spirals", |options: Map| -> Fallible<Array> {
        check_keys(&options, &["series", "points", "drop", "noise", "path_points", "seed"], "cde_spirals")?;
        let d = CdeConfig::default();
        let count = get_int(&options, "series", d.train_series as i64, 1, 10_000)? as usize;
        let points = get_int(&options, "points", d.points as i64, 4, 10_000)? as usize;
        let drop = get_float(&options, "drop", d.drop)?;
        let noise = get_float(&options, "noise", d.noise)?;
        let path_points = get_int(&options, "path_points", 100, 2, 10_000)? as usize;
        let mut rng = SeedStream::new(seed_of(&options)?, "neural-de/cde-data");
        let series = neural_de::cde_spirals(count, points, drop, noise, &mut rng).map_err(method_error)?;
        let grid: Vec<f64> = (0..points).map(|k| k as f64 / (points - 1) as f64).collect();
        let dense: Vec<f64> = (0..path_points).map(|k| k as f64 / (path_points - 1) as f64).collect();
        let out = series
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("times".into(), float_array(s.times.iter().copied()));
                m.insert("x".into(), float_array(s.points.iter().map(|p| p[0])));
                m.insert("y".into(), float_array(s.points.iter().map(|p| p[1])));
                m.insert("counter_clockwise".into(), Dynamic::from_bool(s.counter_clockwise));
                // The grid times this series lost, and where its spline puts them.
                let dropped: Vec<f64> = grid.iter().copied().filter(|t| !s.times.iter().any(|k| (k - t).abs() < 1e-12)).collect();
                let at_dropped: Vec<Vec<f64>> = dropped.iter().map(|&t| s.path.value(t)).collect();
                m.insert("dropped_times".into(), float_array(dropped));
                m.insert("dropped_x".into(), float_array(at_dropped.iter().map(|v| v[1])));
                m.insert("dropped_y".into(), float_array(at_dropped.iter().map(|v| v[2])));
                let path: Vec<Vec<f64>> = dense.iter().map(|&t| s.path.value(t)).collect();
                m.insert("path_x".into(), float_array(path.iter().map(|v| v[1])));
                m.insert("path_y".into(), float_array(path.iter().map(|v| v[2])));
                Dynamic::from_map(m)
            })
            .collect();
        Ok(out)
    });

    engine.register_fn("train_neural_cde", |options: Map| -> Fallible<Map> {
        check_keys(
            &options,
            &["train_series", "test_series", "points", "drop", "noise", "hidden", "width", "solver_steps", "steps", "lr", "seed"],
            "train_neural_cde",
        )?;
        let d = CdeConfig::default();
        let config = CdeConfig {
            train_series: get_int(&options, "train_series", d.train_series as i64, 1, 10_000)? as usize,
            test_series: get_int(&options, "test_series", d.test_series as i64, 1, 10_000)? as usize,
            points: get_int(&options, "points", d.points as i64, 4, 10_000)? as usize,
            drop: get_float(&options, "drop", d.drop)?,
            noise: get_float(&options, "noise", d.noise)?,
            hidden: get_int(&options, "hidden", d.hidden as i64, 1, 512)? as usize,
            width: get_int(&options, "width", d.width as i64, 1, 4096)? as usize,
            solver_steps: get_int(&options, "solver_steps", d.solver_steps as i64, 1, 1000)? as usize,
            steps: get_int(&options, "steps", d.steps as i64, 1, 1_000_000)? as usize,
            lr: get_float(&options, "lr", d.lr)?,
            seed: seed_of(&options)?,
        };
        if !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(script_error(format!("train_neural_cde: the learning rate `lr` must be a positive number; got {}", config.lr)));
        }
        let (_, report) = neural_de::train_neural_cde(&config, &mut monitor(config.steps)).map_err(method_error)?;
        let mut out = Map::new();
        out.insert("losses".into(), float_array(report.losses.iter().map(|&l| f64::from(l))));
        float(&mut out, "initial_test_accuracy", report.accuracy_curve.first().map_or(f64::NAN, |(_, a)| *a));
        float(&mut out, "test_accuracy", report.test_accuracy);
        float(&mut out, "train_accuracy", report.train_accuracy);
        int(&mut out, "kept_points", report.kept_points);
        int(&mut out, "nfe_per_solve", report.nfe_per_solve);
        int(&mut out, "tape", report.peak_tape);
        Ok(out)
    });
}

fn register_sde(engine: &mut Engine) {
    engine.register_fn("reversible_heun", |options: Map| -> Fallible<Map> {
        check_keys(&options, &["dim", "noise_dim", "width", "t_end", "steps", "diffusion_scale", "seed"], "reversible_heun")?;
        let d = SdeDemoConfig::default();
        let config = SdeDemoConfig {
            dim: get_int(&options, "dim", d.dim as i64, 1, 64)? as usize,
            noise_dim: get_int(&options, "noise_dim", d.noise_dim as i64, 1, 64)? as usize,
            width: get_int(&options, "width", d.width as i64, 1, 1024)? as usize,
            t_end: get_float(&options, "t_end", d.t_end)?,
            steps: get_int(&options, "steps", d.steps as i64, 1, 1_000_000)? as usize,
            diffusion_scale: get_float(&options, "diffusion_scale", d.diffusion_scale)?,
            seed: seed_of(&options)?,
        };
        let r = neural_de::reversible_heun_roundtrip(&config).map_err(method_error)?;
        let mut out = Map::new();
        out.insert("times".into(), float_array(r.ts.iter().copied()));
        let components: Array = (0..config.dim).map(|i| float_array(r.path.iter().map(|y| y[i]))).collect();
        out.insert("path".into(), Dynamic::from_array(components));
        out.insert("y0".into(), float_array(r.y0.iter().copied()));
        out.insert("y1".into(), float_array(r.y1.iter().copied()));
        out.insert("y0_reconstructed".into(), float_array(r.y0_reconstructed.iter().copied()));
        float(&mut out, "abs_error", r.abs_error);
        float(&mut out, "rel_error", r.rel_error);
        float(&mut out, "drift_evals_per_step", r.drift_evals_per_step);
        float(&mut out, "diffusion_evals_per_step", r.diffusion_evals_per_step);
        int(&mut out, "steps", r.forward.steps);
        int(&mut out, "reverse_drift_evals", r.reverse.drift_evals);
        int(&mut out, "reverse_diffusion_evals", r.reverse.diffusion_evals);
        Ok(out)
    });

    engine.register_fn("brownian_orders", |options: Map| -> Fallible<Map> {
        check_keys(&options, &["queries", "dim", "t_end", "seed"], "brownian_orders")?;
        let queries = get_int(&options, "queries", 200, 1, 1_000_000)? as usize;
        let dim = get_int(&options, "dim", 1, 1, 64)? as usize;
        let t_end = get_float(&options, "t_end", 1.0)?;
        let r = neural_de::brownian_query_orders(queries, dim, t_end, seed_of(&options)?).map_err(method_error)?;
        let mut out = Map::new();
        out.insert("reverse_identical".into(), Dynamic::from_bool(r.reverse_identical));
        out.insert("random_identical".into(), Dynamic::from_bool(r.random_identical));
        out.insert("increments_identical".into(), Dynamic::from_bool(r.increments_identical));
        out.insert("identical".into(), Dynamic::from_bool(r.reverse_identical && r.random_identical && r.increments_identical));
        float(&mut out, "max_difference", r.max_difference);
        out.insert("times".into(), float_array(r.times.iter().copied()));
        let components: Array = (0..dim).map(|i| float_array(r.values.iter().map(|w| w[i]))).collect();
        out.insert("values".into(), Dynamic::from_array(components));
        Ok(out)
    });

    engine.register_fn("brownian_bridge", |options: Map| -> Fallible<Map> {
        check_keys(&options, &["t_end", "a", "b", "points", "samples", "seed"], "brownian_bridge")?;
        let d = BridgeConfig::default();
        let config = BridgeConfig {
            t_end: get_float(&options, "t_end", d.t_end)?,
            a: get_float(&options, "a", d.a)?,
            b: get_float(&options, "b", d.b)?,
            points: get_int(&options, "points", d.points as i64, 1, 1000)? as usize,
            samples: get_int(&options, "samples", d.samples as i64, 2, 1_000_000)? as usize,
            seed: seed_of(&options)?,
        };
        let r = neural_de::brownian_bridge_variance(&config).map_err(method_error)?;
        let mut out = Map::new();
        out.insert("s".into(), float_array(r.s.iter().copied()));
        out.insert("empirical".into(), float_array(r.empirical.iter().copied()));
        out.insert("theoretical".into(), float_array(r.theoretical.iter().copied()));
        out.insert("standard_error".into(), float_array(r.standard_error.iter().copied()));
        out.insert("mean".into(), float_array(r.mean.iter().copied()));
        float(&mut out, "max_z", r.max_z);
        int(&mut out, "samples", r.samples);
        Ok(out)
    });
}

pub(crate) fn register(engine: &mut Engine) {
    register_ode(engine);
    register_cde(engine);
    register_sde(engine);
}
