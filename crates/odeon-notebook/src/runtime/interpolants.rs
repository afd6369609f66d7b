//! Script functions for stochastic interpolants: models of the velocity
//! and the denoiser, their training, ODE and SDE sampling with learned or
//! exact fields, and the learned fields' distance from the exact ones.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::interpolants::{self, Field, Interpolant, InterpolantModel};
use odeon_tensor::SeedStream;
use rhai::{Array, Dynamic, Engine, Map};

use super::diffusion::Mixture;
use super::jobs::{self, Job};
use super::{Fallible, Points, check_keys, field_map, get_float, get_int, grid_points, method_error, script_error, to_seed, train_config, velocity_net};

/// An interpolant model in scripts (shared, so later cells sample what an
/// earlier cell trained).
#[derive(Debug, Clone)]
pub struct InterpolantNet(Rc<RefCell<InterpolantModel>>);

/// The `from` setting: the mixture `x0` is drawn from (absent: `N(0, I)`).
fn source_of(options: &Map, what: &str) -> Fallible<Option<odeon_methods::gmm::Gmm>> {
    match options.get("from") {
        None => Ok(None),
        Some(value) => value
            .read_lock::<Mixture>()
            .map(|m| Some(m.gmm().clone()))
            .ok_or_else(|| script_error(format!("{what}: `from` must be a mixture, e.g. from: gaussian_ring(4, 2.0, 0.4)"))),
    }
}

/// `c` in `gamma = sqrt(c t (1 - t))`, default 1.
fn latent_level(options: &Map) -> Fallible<Interpolant> {
    Interpolant::new(get_float(options, "c", 1.0)?).map_err(method_error)
}

/// `#{ t, extent, n }` of the field grids.
fn grid_options(options: &Map, extra: &[&str], what: &str) -> Fallible<(f64, odeon_tensor::Tensor)> {
    let allowed: Vec<&str> = ["t", "extent", "n"].iter().chain(extra).copied().collect();
    check_keys(options, &allowed, what)?;
    let t = get_float(options, "t", 0.5)?;
    let extent = get_float(options, "extent", 6.0)?;
    let n = get_int(options, "n", 16, 2, 64)? as usize;
    if !(t > 0.0 && t < 1.0 && extent > 0.0 && extent.is_finite()) {
        return Err(script_error(format!("{what}: the time must be strictly between 0 and 1 and `extent` positive; got t = {t}, extent {extent}")));
    }
    Ok((t, grid_points(extent as f32, n)))
}

fn sample_options(options: &Map, what: &str) -> Fallible<(f64, usize, u64)> {
    check_keys(options, &["eps", "steps", "seed"], what)?;
    let eps = get_float(options, "eps", 0.0)?;
    let steps = get_int(options, "steps", 200, 1, 10_000)? as usize;
    let seed = to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?);
    Ok((eps, steps, seed))
}

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &rhai::Dynamic) -> Option<super::Restore> {
    value.read_lock::<InterpolantNet>().map(|m| super::restore_of(&m.0))
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<InterpolantNet>("InterpolantModel");
    engine.register_fn("to_string", |m: &mut InterpolantNet| {
        let m = m.0.borrow();
        format!("InterpolantModel({:?}, c = {}, {} parameters)", m.field, m.interpolant.noise, odeon_nn::Module::parameter_count(&m.net.net))
    });

    engine.register_fn("interpolant_mlp", |options: Map| -> Fallible<InterpolantNet> {
        check_keys(&options, &["field", "c", "from", "hidden", "layers", "activation", "seed"], "interpolant_mlp")?;
        let field = match options.get("field") {
            None => Field::Velocity,
            Some(name) => Field::from_name(&name.to_string()).map_err(method_error)?,
        };
        let mut net_options = options.clone();
        net_options.remove("field");
        net_options.remove("c");
        net_options.remove("from");
        let source = source_of(&options, "interpolant_mlp")?;
        if source.as_ref().is_some_and(|s| s.dim() != 2) {
            return Err(script_error("interpolant_mlp: the source mixture must be 2-D"));
        }
        let model = InterpolantModel { net: velocity_net(&net_options)?, field, interpolant: latent_level(&options)?, source };
        Ok(InterpolantNet(Rc::new(RefCell::new(model))))
    });
    engine.register_fn("train_interpolant", |model: InterpolantNet, data: Mixture, options: Map| -> Fallible<Array> {
        let config = train_config(&options, "train_interpolant", 2000, &[])?;
        let job = Job::TrainInterpolant { model: model.0.borrow().clone(), data: data.gmm().clone(), config };
        jobs::train(job, |values| model.0.borrow_mut().net.set_parameters(values))
    });
    engine.register_fn("sample_interpolant", |velocity: InterpolantNet, denoiser: InterpolantNet, noise: Points, options: Map| -> Fallible<Points> {
        let (eps, steps, seed) = sample_options(&options, "sample_interpolant")?;
        let (b, eta) = (velocity.0.borrow(), denoiser.0.borrow());
        let out = interpolants::sample(&b, Some(&eta), noise.tensor(), eps, steps, seed).map_err(method_error)?;
        Ok(Points(Rc::new(out)))
    });
    engine.register_fn("sample_interpolant", |velocity: InterpolantNet, noise: Points, options: Map| -> Fallible<Points> {
        let (eps, steps, seed) = sample_options(&options, "sample_interpolant")?;
        let out = interpolants::sample(&velocity.0.borrow(), None, noise.tensor(), eps, steps, seed).map_err(method_error)?;
        Ok(Points(Rc::new(out)))
    });
    engine.register_fn("sample_interpolant_exact", |data: Mixture, noise: Points, options: Map| -> Fallible<Points> {
        let mut rest = options.clone();
        let interpolant = latent_level(&options)?;
        let source = source_of(&options, "sample_interpolant_exact")?;
        rest.remove("c");
        rest.remove("from");
        let (eps, steps, seed) = sample_options(&rest, "sample_interpolant_exact")?;
        if noise.tensor().shape().get(1) != Some(&data.gmm().dim()) || source.as_ref().is_some_and(|s| s.dim() != data.gmm().dim()) {
            return Err(script_error(format!("sample_interpolant_exact: the mixture is {}-D but the noise has shape {:?}", data.gmm().dim(), noise.tensor().shape())));
        }
        let out = interpolants::sample_exact(&interpolant, source.as_ref(), data.gmm(), noise.tensor(), eps, steps, seed).map_err(method_error)?;
        Ok(Points(Rc::new(out)))
    });
    engine.register_fn("field_error", |model: InterpolantNet, data: Mixture, options: Map| -> Fallible<Array> {
        check_keys(&options, &["times", "n", "seed"], "field_error")?;
        let times: Vec<f64> = match options.get("times") {
            None => vec![0.25, 0.5, 0.75],
            Some(v) => v
                .clone()
                .into_typed_array::<f64>()
                .map_err(|_| script_error("field_error: `times` must be an array of numbers such as [0.25, 0.5, 0.75]"))?,
        };
        let n = get_int(&options, "n", 2000, 1, 100_000)? as usize;
        let mut rng = SeedStream::new(to_seed(get_int(&options, "seed", 0, i64::MIN, i64::MAX)?), "interpolant/field-error");
        let model = model.0.borrow();
        let errors = times.iter().map(|&t| interpolants::field_error(&model, data.gmm(), t, n, &mut rng)).collect::<Result<Vec<_>, _>>().map_err(method_error)?;
        Ok(errors.into_iter().map(Dynamic::from_float).collect())
    });
    engine.register_fn("field_grid", |model: &mut InterpolantNet, options: Map| -> Fallible<Map> {
        let (t, points) = grid_options(&options, &[], "field_grid")?;
        let model = model.0.borrow();
        let mut values = model.predict(&points, t).map_err(method_error)?;
        if model.field == Field::Denoiser {
            values = values.scale(-1.0 / model.interpolant.gamma(t)).map_err(|e| script_error(e.to_string()))?;
        }
        Ok(field_map(&points, &values))
    });
    engine.register_fn("exact_field_grid", |data: Mixture, options: Map| -> Fallible<Map> {
        let (t, points) = grid_options(&options, &["field", "c", "from"], "exact_field_grid")?;
        let interpolant = latent_level(&options)?;
        let source = source_of(&options, "exact_field_grid")?;
        let field = match options.get("field") {
            None => Field::Velocity,
            Some(name) => Field::from_name(&name.to_string()).map_err(method_error)?,
        };
        if data.gmm().dim() != 2 {
            return Err(script_error("exact_field_grid: a 2-D mixture"));
        }
        let flat = points.to_f64_vec().map_err(|e| script_error(e.to_string()))?;
        let mut values = Vec::with_capacity(flat.len());
        for p in flat.chunks(2) {
            let v = match field {
                Field::Velocity => interpolant.velocity_between(source.as_ref(), data.gmm(), t, p),
                Field::Denoiser => interpolant.score_between(source.as_ref(), data.gmm(), t, p),
            };
            values.extend(v.map_err(method_error)?);
        }
        let values = odeon_tensor::Tensor::from_f64(points.shape(), values).map_err(|e| script_error(e.to_string()))?;
        Ok(field_map(&points, &values))
    });
}
