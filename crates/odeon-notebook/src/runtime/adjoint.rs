//! Script functions for AdjointDPM: a class-conditional diffusion model,
//! gradients of a loss on its samples by backpropagation or by the adjoint
//! method, and the optimisation of a new condition.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::adjoint_dpm::{self, ConditionalDiffusion, Grid};
use rhai::{Array, Dynamic, Engine, Map};

use super::diffusion::Mixture;
use super::outputs::numbers;
use super::jobs::{self, Job, TrainingProgress};
use super::{Fallible, Points, check_keys, emit, float_array, get_int, method_error, mlp_settings, script_error, should_stop, train_config};

/// A conditional diffusion model in scripts (shared between cells).
#[derive(Debug, Clone)]
pub struct Conditional(Rc<RefCell<ConditionalDiffusion>>);

/// The numbers of an array given as a script value.
fn numbers_of(value: &Dynamic, what: &str) -> Fallible<Vec<f64>> {
    let values = value.clone().into_array().map_err(|_| script_error(format!("{what} must be an array of numbers")))?;
    numbers(&values, what)
}

fn target_point(options: &Map, what: &str) -> Fallible<Vec<f64>> {
    let value = options.get("target").ok_or_else(|| script_error(format!("{what}: give the `target` point, e.g. target: data.mean(3)")))?;
    numbers_of(value, &format!("{what}: `target`"))
}

fn sampler_grid(model: &ConditionalDiffusion, options: &Map, key: &str, default: i64) -> Fallible<Grid> {
    let steps = get_int(options, key, default, 1, 10_000)? as usize;
    Grid::new(&model.schedule, steps).map_err(method_error)
}

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &rhai::Dynamic) -> Option<super::Restore> {
    value.read_lock::<Conditional>().map(|m| super::restore_of(&m.0))
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Conditional>("ConditionalModel");
    engine.register_fn("to_string", |m: &mut Conditional| {
        let m = m.0.borrow();
        format!("ConditionalModel({} classes, {} parameters)", m.classes, odeon_nn::Module::parameter_count(&m.net))
    });
    engine.register_fn("conditional_diffusion_mlp", |options: Map| -> Fallible<Conditional> {
        check_keys(&options, &["classes", "hidden", "layers", "activation", "seed"], "conditional_diffusion_mlp")?;
        let classes = get_int(&options, "classes", 8, 1, 64)? as usize;
        let (hidden, layers, activation, seed) = mlp_settings(&options)?;
        let model = ConditionalDiffusion::new(2, classes, hidden, layers, activation, seed).map_err(method_error)?;
        Ok(Conditional(Rc::new(RefCell::new(model))))
    });
    engine.register_fn("train_conditional_diffusion", |model: Conditional, data: Mixture, options: Map| -> Fallible<Array> {
        let config = train_config(&options, "train_conditional_diffusion", 2000, &[])?;
        let job = Job::TrainConditional { model: model.0.borrow().clone(), data: data.gmm().clone(), config };
        jobs::train(job, |values| model.0.borrow_mut().set_parameters(values))
    });
    engine.register_fn("class_condition", |model: &mut Conditional, k: i64| -> Fallible<Array> {
        let m = model.0.borrow();
        let k = usize::try_from(k).ok().filter(|&k| k < m.classes).ok_or_else(|| script_error(format!("class_condition: the classes are 0 to {}", m.classes - 1)))?;
        Ok(m.one_hot(k).into_iter().map(Dynamic::from_float).collect())
    });
    engine.register_fn("mean", |data: &mut Mixture, k: i64| -> Fallible<Array> {
        let mean = usize::try_from(k).ok().and_then(|k| data.gmm().mean(k)).ok_or_else(|| {
            script_error(format!("mean: the components are 0 to {}", data.gmm().components().saturating_sub(1)))
        })?;
        Ok(mean.iter().copied().map(Dynamic::from_float).collect())
    });
    engine.register_fn("sample_conditional", |model: Conditional, noise: Points, condition: Array, options: Map| -> Fallible<Points> {
        check_keys(&options, &["steps"], "sample_conditional")?;
        let m = model.0.borrow();
        let grid = sampler_grid(&m, &options, "steps", 20)?;
        let c = numbers(&condition, "sample_conditional: the condition")?;
        Ok(Points(Rc::new(adjoint_dpm::sample(&m, noise.tensor(), &c, &grid).map_err(method_error)?)))
    });
    engine.register_fn("sample_gradient", |model: Conditional, noise: Points, condition: Array, options: Map| -> Fallible<Map> {
        check_keys(&options, &["steps", "target", "method", "iterations"], "sample_gradient")?;
        let m = model.0.borrow();
        let grid = sampler_grid(&m, &options, "steps", 20)?;
        let c = numbers(&condition, "sample_gradient: the condition")?;
        let target = target_point(&options, "sample_gradient")?;
        let g = match options.get("method").map(|v| v.to_string()).as_deref() {
            None | Some("adjoint") => {
                let iterations = get_int(&options, "iterations", 0, 0, 10)? as usize;
                adjoint_dpm::adjoint_gradient(&m, noise.tensor(), &c, &grid, &target, iterations)
            }
            Some("backprop") => {
                if options.contains_key("iterations") {
                    return Err(script_error("sample_gradient: `iterations` belongs to the adjoint method"));
                }
                adjoint_dpm::backprop_gradient(&m, noise.tensor(), &c, &grid, &target)
            }
            Some(other) => return Err(script_error(format!("sample_gradient: unknown method \"{other}\"; choose \"adjoint\" or \"backprop\""))),
        }
        .map_err(method_error)?;
        let mut out = Map::new();
        out.insert("loss".into(), Dynamic::from_float(g.loss));
        out.insert("condition".into(), float_array(g.condition));
        out.insert("noise".into(), float_array(g.noise));
        out.insert("nfe".into(), Dynamic::from_int(g.nfe as i64));
        out.insert("tape".into(), Dynamic::from_int(g.peak_tape as i64));
        Ok(out)
    });
    engine.register_fn("cosine", |a: Array, b: Array| -> Fallible<f64> {
        let (a, b) = (numbers(&a, "cosine")?, numbers(&b, "cosine")?);
        if a.len() != b.len() || a.is_empty() {
            return Err(script_error(format!("cosine needs two arrays of the same length; got {} and {}", a.len(), b.len())));
        }
        Ok(adjoint_dpm::cosine(&a, &b))
    });
    engine.register_fn("optimise_condition", |model: Conditional, start: Array, options: Map| -> Fallible<Map> {
        let config = train_config(&options, "optimise_condition", 60, &["target", "sampler_steps"])?;
        let m = model.0.borrow();
        let grid = sampler_grid(&m, &options, "sampler_steps", 20)?;
        let target = target_point(&options, "optimise_condition")?;
        let start = numbers(&start, "optimise_condition: the start")?;
        let mut progress = TrainingProgress::new(config.steps);
        let mut sink = emit;
        let result = adjoint_dpm::optimise_condition(&m, &start, &target, &grid, &config, &mut |step, total, loss| {
            progress.observe(step, total, loss, &mut sink);
            !should_stop()
        })
        .map_err(method_error)?;
        let mut out = Map::new();
        out.insert("condition".into(), float_array(result.condition));
        out.insert("losses".into(), float_array(result.losses));
        Ok(out)
    });
    engine.register_fn("fraction_in_mode", |data: Mixture, points: Points, k: i64| -> Fallible<f64> {
        let k = usize::try_from(k).ok().filter(|&k| k < data.gmm().components()).ok_or_else(|| script_error("fraction_in_mode: no such component"))?;
        if points.tensor().shape().get(1) != Some(&data.gmm().dim()) {
            return Err(script_error(format!("fraction_in_mode: the mixture is {}-D but the points have shape {:?}", data.gmm().dim(), points.tensor().shape())));
        }
        adjoint_dpm::fraction_in(data.gmm(), points.tensor(), k).map_err(method_error)
    });
}
