//! Script functions for gauge freedom and intrinsic dimension: the exact
//! gauge demo (samples, paths, MMD², likelihoods under `(I + J) grad log
//! p_t`), data on a circle or sphere in `R^D`, free and conservative score
//! models, their training (a job, so WebGPU can run it) and the intrinsic
//! dimension read off the flow-map Jacobian.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::diffusion::{Parameterisation, T_MIN};
use odeon_methods::gauge::{self, FlowJacobianConfig, GaugeDemoConfig, Manifold, ManifoldData, ScoreKind, ScoreModel};
use odeon_tensor::{SeedStream, Tensor};
use rhai::{Array, Dynamic, Engine, Map};

use super::jobs::{self, Job};
use super::{Fallible, MAX_POINT_VALUES, Points, check_keys, float_array, get_float, get_int, method_error, mlp_settings, script_error, to_seed, train_config};

/// Data on a manifold in scripts.
#[derive(Debug, Clone)]
pub struct ManifoldSet(Rc<ManifoldData>);

/// A free or conservative score model in scripts (shared, so later cells
/// use what an earlier cell trained).
#[derive(Debug, Clone)]
pub struct Score(Rc<RefCell<ScoreModel>>);

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &Dynamic) -> Option<super::Restore> {
    value.read_lock::<Score>().map(|m| super::restore_of(&m.0))
}

fn kind_name(kind: ScoreKind) -> &'static str {
    match kind {
        ScoreKind::Free => "free",
        ScoreKind::Conservative => "conservative",
    }
}

const DEMO_KEYS: &[&str] = &["strength", "samples", "likelihood_points", "null_pairs", "modes", "radius", "std", "tol", "seed"];

/// The settings of `gauge_demo` and `gauge_paths` (keys already checked).
fn demo_config(options: &Map) -> Fallible<GaugeDemoConfig> {
    let d = GaugeDemoConfig::default();
    Ok(GaugeDemoConfig {
        modes: get_int(options, "modes", d.modes as i64, 1, 64)? as usize,
        radius: get_float(options, "radius", d.radius)?,
        std: get_float(options, "std", d.std)?,
        strength: get_float(options, "strength", d.strength)?,
        samples: get_int(options, "samples", d.samples as i64, 2, 20_000)? as usize,
        likelihood_points: get_int(options, "likelihood_points", d.likelihood_points as i64, 0, 10_000)? as usize,
        null_pairs: get_int(options, "null_pairs", d.null_pairs as i64, 2, 1000)? as usize,
        tol: get_float(options, "tol", d.tol)?,
        seed: to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?),
    })
}

fn points_2d(values: Vec<f64>) -> Fallible<Points> {
    let n = values.len() / 2;
    let tensor = Tensor::from_shape_vec(&[n, 2], values.into_iter().map(|v| v as f32).collect()).map_err(|e| script_error(e.to_string()))?;
    Ok(Points(Rc::new(tensor)))
}

/// A path, flat `[times, 2]`, as `#{ x, y }`.
fn path_map(path: &[f64]) -> Map {
    let mut out = Map::new();
    out.insert("x".into(), float_array(path.chunks(2).map(|p| p[0])));
    out.insert("y".into(), float_array(path.chunks(2).map(|p| p[1])));
    out
}

fn float(map: &mut Map, key: &str, value: f64) {
    map.insert(key.into(), Dynamic::from_float(value));
}

/// The settings of `intrinsic_dimensions`.
fn flow_config(options: &Map) -> Fallible<(FlowJacobianConfig, usize, u64)> {
    check_keys(options, &["points", "seed", "t_min", "gap_ratio", "steps", "tol", "trace_points", "trace_times"], "intrinsic_dimensions")?;
    let d = FlowJacobianConfig::default();
    let config = FlowJacobianConfig {
        t_min: get_float(options, "t_min", T_MIN)?,
        tol: get_float(options, "tol", d.tol)?,
        gap_ratio: get_float(options, "gap_ratio", d.gap_ratio)?,
        trace_times: get_int(options, "trace_times", d.trace_times as i64, 2, 1000)? as usize,
        trace_points: get_int(options, "trace_points", d.trace_points as i64, 0, 64)? as usize,
        steps: get_int(options, "steps", 64, 0, 100_000)? as usize,
    };
    let points = get_int(options, "points", 128, 1, 10_000)? as usize;
    let seed = to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?);
    Ok((config, points, seed))
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ManifoldSet>("ManifoldData");
    engine.register_type_with_name::<Score>("ScoreModel");
    engine.register_fn("to_string", |m: &mut ManifoldSet| {
        let m = &m.0;
        format!("ManifoldData({:?} of radius {} in R^{}, thickness {})", m.manifold, m.radius, m.ambient, m.thickness)
    });
    engine.register_fn("to_string", |m: &mut Score| {
        let m = m.0.borrow();
        format!("ScoreModel({} in R^{}, {} parameters)", kind_name(m.kind), m.dim, odeon_nn::Module::parameter_count(&m.net))
    });

    engine.register_fn("gauge_demo", |options: Map| -> Fallible<Map> {
        check_keys(&options, DEMO_KEYS, "gauge_demo")?;
        let demo = gauge::gauge_demo(&demo_config(&options)?).map_err(method_error)?;
        let mut out = Map::new();
        let rows: Array = demo.rows().into_iter().map(|(name, value)| Dynamic::from_array(vec![Dynamic::from(name.to_string()), Dynamic::from_float(value)])).collect();
        out.insert("rows".into(), Dynamic::from_array(rows));
        float(&mut out, "mean_pair_distance", demo.mean_pair_distance);
        float(&mut out, "mmd2", demo.mmd2);
        float(&mut out, "mmd2_noise", demo.mmd2_noise);
        float(&mut out, "mmd2_plain_to_data", demo.mmd2_plain_to_data);
        float(&mut out, "mmd2_gauged_to_data", demo.mmd2_gauged_to_data);
        float(&mut out, "bandwidth", demo.bandwidth);
        float(&mut out, "max_dnll", demo.max_dnll);
        float(&mut out, "max_error_to_exact", demo.max_error_to_exact);
        float(&mut out, "nfe_plain", demo.nfe_plain);
        float(&mut out, "nfe_gauged", demo.nfe_gauged);
        out.insert("log_density".into(), float_array(demo.log_density.iter().copied()));
        out.insert("log_likelihood_plain".into(), float_array(demo.log_likelihood_plain.iter().copied()));
        out.insert("log_likelihood_gauged".into(), float_array(demo.log_likelihood_gauged.iter().copied()));
        out.insert("plain".into(), Dynamic::from(points_2d(demo.plain)?));
        out.insert("gauged".into(), Dynamic::from(points_2d(demo.gauged)?));
        Ok(out)
    });
    engine.register_fn("gauge_paths", |options: Map| -> Fallible<Map> {
        let keys: Vec<&str> = DEMO_KEYS.iter().chain(&["points", "frames"]).copied().collect();
        check_keys(&options, &keys, "gauge_paths")?;
        let config = demo_config(&options)?;
        let points = get_int(&options, "points", 4, 1, 100)? as usize;
        let frames = get_int(&options, "frames", 101, 2, 2000)? as usize;
        let paths = gauge::gauge_trajectories(&config, points, frames).map_err(method_error)?;
        let mut out = Map::new();
        out.insert("times".into(), float_array(paths.times.iter().copied()));
        out.insert("plain".into(), Dynamic::from_array(paths.plain.iter().map(|p| Dynamic::from_map(path_map(p))).collect()));
        out.insert("gauged".into(), Dynamic::from_array(paths.gauged.iter().map(|p| Dynamic::from_map(path_map(p))).collect()));
        Ok(out)
    });

    engine.register_fn("manifold_data", |options: Map| -> Fallible<ManifoldSet> {
        check_keys(&options, &["manifold", "ambient", "radius", "thickness", "seed"], "manifold_data")?;
        let manifold = match options.get("manifold") {
            None => Manifold::Circle,
            Some(name) => Manifold::from_name(&name.to_string()).map_err(method_error)?,
        };
        let ambient = get_int(&options, "ambient", 3, 1, 64)? as usize;
        let radius = get_float(&options, "radius", 1.0)?;
        let thickness = get_float(&options, "thickness", 0.0)?;
        let seed = to_seed(get_int(&options, "seed", 0, i64::MIN, i64::MAX)?);
        Ok(ManifoldSet(Rc::new(ManifoldData::new(manifold, ambient, radius, thickness, seed).map_err(method_error)?)))
    });
    engine.register_fn("sample", |data: &mut ManifoldSet, n: i64, seed: i64| -> Fallible<Points> {
        let n = usize::try_from(n).ok().filter(|&n| (1..=1_000_000).contains(&n))
            .ok_or_else(|| script_error("the number of samples must be between 1 and 1000000"))?;
        if n * data.0.ambient > MAX_POINT_VALUES {
            return Err(script_error(format!("sample: {n} points in R^{} are more numbers than one set of points may hold ({MAX_POINT_VALUES})", data.0.ambient)));
        }
        let mut rng = SeedStream::new(to_seed(seed), "manifold/sample");
        Ok(Points(Rc::new(data.0.sample(n, &mut rng).map_err(method_error)?)))
    });
    engine.register_fn("plane_coordinates", |data: &mut ManifoldSet, points: Points| -> Fallible<Points> {
        Ok(Points(Rc::new(data.0.plane_coordinates(points.tensor()).map_err(method_error)?)))
    });
    engine.register_get("intrinsic_dim", |data: &mut ManifoldSet| data.0.intrinsic_dim() as i64);
    engine.register_get("ambient", |data: &mut ManifoldSet| data.0.ambient as i64);

    engine.register_fn("score_mlp", |data: ManifoldSet, options: Map| -> Fallible<Score> {
        check_keys(&options, &["kind", "parameterisation", "hidden", "layers", "activation", "seed"], "score_mlp")?;
        let kind = match options.get("kind").map(|k| k.to_string().to_ascii_lowercase()) {
            Some(k) if k == "free" => ScoreKind::Free,
            Some(k) if k == "conservative" => ScoreKind::Conservative,
            Some(other) => return Err(script_error(format!("score_mlp: unknown kind \"{other}\"; choose \"free\" or \"conservative\""))),
            None => return Err(script_error("score_mlp: give the model's kind, \"free\" (any vector field) or \"conservative\" (the gradient of a scalar network)")),
        };
        let parameterisation = match options.get("parameterisation") {
            None => Parameterisation::Eps,
            Some(name) => Parameterisation::from_name(&name.to_string()).map_err(method_error)?,
        };
        let (hidden, layers, activation, seed) = mlp_settings(&options)?;
        let model = ScoreModel::new(kind, data.0.ambient, hidden, layers, activation, parameterisation, data.0.coordinate_std(), seed).map_err(method_error)?;
        Ok(Score(Rc::new(RefCell::new(model))))
    });
    engine.register_get("kind", |m: &mut Score| kind_name(m.0.borrow().kind).to_string());
    engine.register_fn("train_score", |model: Score, data: ManifoldSet, options: Map| -> Fallible<Array> {
        let config = train_config(&options, "train_score", 1500, &[])?;
        let job = Job::TrainScore { model: model.0.borrow().clone(), data: (*data.0).clone(), config };
        jobs::train(job, |values| model.0.borrow_mut().set_parameters(values))
    });
    engine.register_fn("intrinsic_dimensions", |model: Score, data: ManifoldSet, options: Map| -> Fallible<Map> {
        let (config, points, seed) = flow_config(&options)?;
        let model = model.0.borrow();
        if model.dim != data.0.ambient {
            return Err(script_error(format!("intrinsic_dimensions: the model is {}-D but the data are {}-D", model.dim, data.0.ambient)));
        }
        let mut rng = SeedStream::new(seed, "gauge/evaluation");
        let noise: Vec<f64> = (0..points * model.dim).map(|_| rng.normal_f64()).collect();
        let estimate = gauge::estimate_dimensions(&model, &noise, data.0.intrinsic_dim(), &config).map_err(method_error)?;
        let d = model.dim;
        let mut counts = vec![0i64; d + 1];
        estimate.dims.iter().for_each(|&k| counts[k] += 1);
        let mut out = Map::new();
        out.insert("dims".into(), Dynamic::from_array(estimate.dims.iter().map(|&k| Dynamic::from_int(k as i64)).collect()));
        out.insert("counts".into(), Dynamic::from_array(counts.into_iter().map(Dynamic::from_int).collect()));
        out.insert("true_dim".into(), Dynamic::from_int(estimate.true_dim as i64));
        float(&mut out, "fraction_correct", estimate.fraction_correct);
        float(&mut out, "mean_gap", estimate.mean_gap);
        float(&mut out, "mean_log10_normal", estimate.mean_log10_normal);
        float(&mut out, "mean_log10_tangent", estimate.mean_log10_tangent);
        out.insert("nfe".into(), Dynamic::from_int(estimate.nfe as i64));
        out.insert("singular_values".into(), Dynamic::from_array(estimate.singular_values.iter().map(|s| float_array(s.iter().copied())).collect()));
        out.insert("times".into(), float_array(estimate.trace.times.iter().copied()));
        // trace[point][i] = sigma_i along the saved times.
        let trace: Array = estimate
            .trace
            .singular_values
            .iter()
            .map(|per_time| Dynamic::from_array((0..d).map(|i| float_array(per_time.iter().map(|s| s[i]))).collect()))
            .collect();
        out.insert("trace".into(), Dynamic::from_array(trace));
        Ok(out)
    });
}
