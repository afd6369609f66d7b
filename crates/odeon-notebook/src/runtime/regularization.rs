//! Script functions for solver regularisation of neural ODEs: the
//! concentric circles, an augmented neural ODE classifier trained vanilla
//! or with a global (error or stiffness) or local (unbiased or biased)
//! regulariser, and its decision function on a grid.
//!
//! The models are small and their solves adaptive, step by step on the
//! CPU, so training runs inside the call (not as a job) with live
//! progress, and Stop ends it within a step.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::regularization::{self, AugmentedNode, RegConfig, RegMode};
use rhai::{Array, Dynamic, Engine, Map};

use super::jobs::TrainingProgress;
use super::{Fallible, Points, check_keys, emit, float_array, get_float, get_int, grid_map, grid_points, method_error, script_error, should_stop, to_seed};

/// A trained augmented neural ODE classifier in scripts (shared, so later
/// cells can plot what an earlier cell trained).
#[derive(Debug, Clone)]
pub struct Classifier(Rc<RefCell<AugmentedNode>>, f64);

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &Dynamic) -> Option<super::Restore> {
    value.read_lock::<Classifier>().map(|m| super::restore_of(&m.0))
}

const MODES: &str = "\"vanilla\", \"global-error\", \"global-stiffness\", \"local-unbiased\" or \"local-biased\"";

fn mode(options: &Map) -> Fallible<RegMode> {
    let Some(value) = options.get("mode") else {
        return Err(script_error(format!("train_augmented_node: give the regulariser, mode: {MODES}")));
    };
    Ok(match value.to_string().as_str() {
        "vanilla" => RegMode::Vanilla,
        "global-error" => RegMode::GlobalError,
        "global-stiffness" => RegMode::GlobalStiffness,
        "local-unbiased" => RegMode::LocalUnbiased,
        "local-biased" => RegMode::LocalBiased,
        other => return Err(script_error(format!("train_augmented_node: unknown mode \"{other}\"; choose {MODES}"))),
    })
}

fn number(value: &Dynamic) -> Option<f64> {
    value.as_float().ok().or_else(|| value.as_int().ok().map(|i| i as f64))
}

/// `lambda`: one number (a constant weight) or `[start, end]` (decayed
/// exponentially); absent for the mode's default.
fn lambda(options: &Map, mode: RegMode) -> Fallible<Option<(f64, f64)>> {
    let Some(value) = options.get("lambda") else { return Ok(None) };
    let bad = || script_error(format!("train_augmented_node: `lambda` must be a number or [start, end]; got {value}"));
    let pair = if let Some(l) = number(value) {
        (l, l)
    } else if let Some(array) = value.read_lock::<Array>() {
        match array.as_slice() {
            [a, b] => (number(a).ok_or_else(bad)?, number(b).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    } else {
        return Err(bad());
    };
    if mode == RegMode::Vanilla && pair != (0.0, 0.0) {
        return Err(script_error("train_augmented_node: vanilla training has no regulariser to weight; drop `lambda` or pick another mode"));
    }
    Ok(Some(pair))
}

const TRAIN_KEYS: &[&str] = &["mode", "lambda", "steps", "batch", "lr", "hidden", "tol", "train", "test", "eval_every", "seed"];

fn config(options: &Map) -> Fallible<RegConfig> {
    check_keys(options, TRAIN_KEYS, "train_augmented_node")?;
    let d = RegConfig::default();
    let mode = mode(options)?;
    let steps = get_int(options, "steps", d.steps as i64, 1, 100_000)?;
    Ok(RegConfig {
        mode,
        lambda: lambda(options, mode)?,
        steps: steps as usize,
        batch: get_int(options, "batch", d.batch as i64, 1, 65_536)? as usize,
        lr: get_float(options, "lr", d.lr)?,
        hidden: get_int(options, "hidden", d.hidden as i64, 1, 1024)? as usize,
        tol: get_float(options, "tol", d.tol)?,
        train_size: get_int(options, "train", d.train_size as i64, 2, 100_000)? as usize,
        test_size: get_int(options, "test", d.test_size as i64, 2, 100_000)? as usize,
        eval_every: get_int(options, "eval_every", 0, 0, steps)? as usize,
        seed: to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?),
    })
}

fn points(rows: Vec<f64>) -> Fallible<Points> {
    let n = rows.len() / 2;
    let tensor = odeon_tensor::Tensor::from_shape_vec(&[n, 2], rows.into_iter().map(|v| v as f32).collect()).map_err(|e| script_error(e.to_string()))?;
    Ok(Points(Rc::new(tensor)))
}

/// The circles split by class, as `#{ inner, outer }`.
fn by_class(data: &regularization::Circles, out: &mut Map, prefix: &str) -> Fallible<()> {
    let p = data.points.to_f64_vec().map_err(|e| script_error(e.to_string()))?;
    let (mut inner, mut outer) = (Vec::new(), Vec::new());
    for (i, &label) in data.labels.iter().enumerate() {
        let side = if label == 0 { &mut inner } else { &mut outer };
        side.extend_from_slice(&p[2 * i..2 * i + 2]);
    }
    out.insert(format!("{prefix}_inner").into(), Dynamic::from(points(inner)?));
    out.insert(format!("{prefix}_outer").into(), Dynamic::from(points(outer)?));
    Ok(())
}

fn int_array(values: impl IntoIterator<Item = usize>) -> Dynamic {
    Dynamic::from_array(values.into_iter().map(|v| Dynamic::from_int(v as i64)).collect())
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Classifier>("NodeClassifier");
    engine.register_fn("to_string", |m: &mut Classifier| {
        let m = m.0.borrow();
        let count = odeon_nn::Module::parameter_count(&m.field) + odeon_nn::Module::parameter_count(&m.readout);
        format!("NodeClassifier(augmented neural ODE, {count} parameters)")
    });

    engine.register_fn("circles_data", |options: Map| -> Fallible<Map> {
        check_keys(&options, &["train", "test", "seed"], "circles_data")?;
        let d = RegConfig::default();
        let config = RegConfig {
            train_size: get_int(&options, "train", d.train_size as i64, 2, 100_000)? as usize,
            test_size: get_int(&options, "test", d.test_size as i64, 2, 100_000)? as usize,
            seed: to_seed(get_int(&options, "seed", 0, i64::MIN, i64::MAX)?),
            ..d
        };
        let (train, test) = regularization::datasets(&config).map_err(method_error)?;
        let mut out = Map::new();
        by_class(&train, &mut out, "train")?;
        by_class(&test, &mut out, "test")?;
        Ok(out)
    });

    engine.register_fn("train_augmented_node", |options: Map| -> Fallible<Map> {
        let config = config(&options)?;
        let mut progress = TrainingProgress::new(config.steps);
        let mut sink = emit;
        let (model, report) = regularization::train(&config, &mut |step, total, loss| {
            progress.observe(step, total, loss, &mut sink);
            !should_stop()
        })
        .map_err(method_error)?;
        let (l0, l1) = config.lambda();
        let mut out = Map::new();
        out.insert("mode".into(), Dynamic::from(config.mode.name().to_string()));
        out.insert("lambda".into(), float_array([l0, l1]));
        out.insert("nfe".into(), int_array(report.nfe.iter().copied()));
        out.insert("train_nfe".into(), Dynamic::from_int(report.nfe.iter().sum::<usize>() as i64));
        out.insert("losses".into(), float_array(report.losses.iter().map(|&l| f64::from(l))));
        out.insert("penalties".into(), float_array(report.penalties.iter().copied()));
        out.insert("test_accuracy".into(), Dynamic::from_float(report.test_accuracy));
        out.insert("test_nfe".into(), Dynamic::from_float(report.test_nfe));
        let mut checkpoints = Map::new();
        checkpoints.insert("steps".into(), int_array(report.checkpoints.iter().map(|c| c.0)));
        checkpoints.insert("accuracy".into(), float_array(report.checkpoints.iter().map(|c| c.1)));
        checkpoints.insert("test_nfe".into(), float_array(report.checkpoints.iter().map(|c| c.2)));
        out.insert("checkpoints".into(), Dynamic::from_map(checkpoints));
        out.insert("model".into(), Dynamic::from(Classifier(Rc::new(RefCell::new(model)), config.tol)));
        Ok(out)
    });

    engine.register_fn("classifier_grid", |model: Classifier, options: Map| -> Fallible<Map> {
        check_keys(&options, &["extent", "n", "tol"], "classifier_grid")?;
        let extent = get_float(&options, "extent", 2.0)?;
        if !(extent > 0.0 && extent.is_finite()) {
            return Err(script_error(format!("classifier_grid: `extent` must be a positive number; got {extent}")));
        }
        let n = get_int(&options, "n", 40, 2, 128)? as usize;
        let tol = get_float(&options, "tol", model.1)?;
        if !(tol > 0.0 && tol < 1.0) {
            return Err(script_error(format!("classifier_grid: `tol` must be in (0, 1); got {tol}")));
        }
        let grid = grid_points(extent as f32, n);
        let (probabilities, nfe) = regularization::probabilities(&model.0.borrow(), &grid, tol).map_err(method_error)?;
        let rows: Array = probabilities.chunks(n).map(|row| float_array(row.iter().copied())).collect();
        let mut out = grid_map(rows, extent);
        out.insert("nfe".into(), Dynamic::from_int(nfe as i64));
        Ok(out)
    });
}
