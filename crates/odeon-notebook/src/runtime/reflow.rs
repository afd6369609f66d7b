//! Script functions for rectified flows beyond the first: training on a
//! target or on reflow pairs with the original or the "++" objective,
//! model copies, reflow pairs, straightness and the exact (assignment)
//! 2-Wasserstein distance.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::rectified_flow::{self, Coupling, FlowLoss, Objective, Pairs, TimeSampling};
use rhai::{Array, Engine, Map};

use super::jobs::{self, Job};
use super::{Fallible, Model, Points, get_float, method_error, script_error, train_config};

/// The largest point sets `exact_w2` takes: the assignment is O(n^3) time
/// and its cost matrix `8 n^2` bytes (50 MB here), and it cannot be
/// stopped halfway, so bigger sets would freeze the cell for minutes.
const MAX_EXACT_POINTS: usize = 2500;

/// `train_rectified_flow(model, data, options)` for a target or pairs.
pub(super) fn train(model: &Model, coupling: Coupling, options: &Map) -> Fallible<Array> {
    let config = train_config(options, "train_rectified_flow", 1000, &["time", "a", "loss"])?;
    let objective = objective(options)?;
    let job = Job::TrainRectifiedFlow { model: model.0.borrow().clone(), coupling, objective, config };
    jobs::train(job, |values| model.0.borrow_mut().set_parameters(values))
}

/// The `time`, `a` and `loss` settings.
fn objective(options: &Map) -> Fallible<Objective> {
    let name = |key: &str| options.get(key).map(|v| v.to_string().to_ascii_lowercase());
    let time = match name("time").as_deref() {
        None | Some("uniform") => {
            if options.contains_key("a") {
                return Err(script_error("train_rectified_flow: `a` shapes the U-shaped time density; set `time: \"u-shaped\"` to use it"));
            }
            TimeSampling::Uniform
        }
        Some("u-shaped") => {
            let a = get_float(options, "a", 4.0)?;
            if !(a > 0.0 && a <= 50.0) {
                return Err(script_error(format!("train_rectified_flow: `a` must be above 0 and at most 50; got {a}")));
            }
            TimeSampling::UShaped { a: a as f32 }
        }
        Some(other) => return Err(script_error(format!("train_rectified_flow: unknown time density \"{other}\"; choose \"uniform\" or \"u-shaped\""))),
    };
    let loss = match name("loss").as_deref() {
        None | Some("squared") => FlowLoss::Squared,
        Some("pseudo-huber") => FlowLoss::PseudoHuber,
        Some(other) => return Err(script_error(format!("train_rectified_flow: unknown loss \"{other}\"; choose \"squared\" or \"pseudo-huber\""))),
    };
    Ok(Objective { time, loss })
}

pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Pairs>("Pairs");
    engine.register_fn("to_string", |p: &mut Pairs| format!("Pairs({} noise-data pairs in {}-D)", p.len(), p.dim()));
    engine.register_fn("len", |p: &mut Pairs| p.len() as i64);
    engine.register_get("noise", |p: &mut Pairs| -> Fallible<Points> { Ok(Points(Rc::new(p.noise().map_err(method_error)?))) });
    engine.register_get("data", |p: &mut Pairs| -> Fallible<Points> { Ok(Points(Rc::new(p.data().map_err(method_error)?))) });

    engine.register_fn("train_rectified_flow", |model: Model, pairs: Pairs, options: Map| -> Fallible<Array> {
        train(&model, Coupling::Pairs(pairs), &options)
    });
    engine.register_fn("copy", |model: &mut Model| Model(Rc::new(RefCell::new(model.0.borrow().clone()))));
    engine.register_fn("reflow_pairs", |model: Model, noise: Points, steps: i64| -> Fallible<Pairs> {
        let steps = usize::try_from(steps).map_err(|_| script_error("reflow_pairs: steps must be positive"))?;
        rectified_flow::reflow_pairs(&model.0.borrow(), &noise.0, steps).map_err(method_error)
    });
    engine.register_fn("straightness", |model: Model, noise: Points, steps: i64| -> Fallible<f64> {
        let steps = usize::try_from(steps).map_err(|_| script_error("straightness: steps must be positive"))?;
        rectified_flow::straightness(&model.0.borrow(), &noise.0, steps).map_err(method_error)
    });
    engine.register_fn("exact_w2", |a: Points, b: Points| -> Fallible<f64> {
        let (n, m) = (a.0.shape().first().copied().unwrap_or(0), b.0.shape().first().copied().unwrap_or(0));
        if n != m {
            return Err(script_error(format!("exact_w2 matches points one to one, so both sets need the same size; got {n} and {m}")));
        }
        if n > MAX_EXACT_POINTS {
            return Err(script_error(format!(
                "exact_w2 takes at most {MAX_EXACT_POINTS} points per set (its cost grows like n^3); got {n}. Use fewer points or sliced_w2"
            )));
        }
        let d = a.0.shape().get(1).copied().unwrap_or(0);
        if a.0.shape().len() != 2 || b.0.shape() != a.0.shape() {
            return Err(script_error(format!("exact_w2 needs two point sets of the same shape; got {:?} and {:?}", a.0.shape(), b.0.shape())));
        }
        let to_vec = |p: &Points| p.0.to_f64_vec().map_err(|e| script_error(e.to_string()));
        let transport = odeon_solve::metrics::wasserstein_exact(&to_vec(&a)?, &to_vec(&b)?, d, 2.0).map_err(|e| script_error(format!("exact_w2: {e}")))?;
        Ok(transport.distance)
    });
}
