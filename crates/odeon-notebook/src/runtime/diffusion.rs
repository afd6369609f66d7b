//! Script functions for diffusion models: Gaussian-mixture data with exact
//! scores, eps / score / velocity models, their training, the samplers
//! (Euler, Heun, DDIM, DPM-Solver-2) with a learned or the exact score, the
//! fresh-draw comparison and probability-flow likelihoods.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::diffusion::{self, DiffusionModel, Parameterisation, Sampler, T_MIN, VpSchedule};
use odeon_methods::data::RingMixture;
use odeon_methods::gmm::Gmm;
use odeon_tensor::{SeedStream, Tensor};
use rhai::{Array, Dynamic, Engine, Map};

use super::jobs::{self, Job};
use super::{Fallible, Points, check_keys, float_array, get_float, get_int, grid_map, grid_points, method_error, script_error, should_stop, to_seed, train_config, velocity_net};

/// A Gaussian mixture in scripts.
#[derive(Debug, Clone)]
pub struct Mixture(Rc<Gmm>);

impl Mixture {
    /// The mixture.
    pub(crate) fn gmm(&self) -> &Gmm {
        &self.0
    }
}

/// A diffusion model in scripts (shared, so later cells sample what an
/// earlier cell trained).
#[derive(Debug, Clone)]
pub struct Diffusion(Rc<RefCell<DiffusionModel>>);

fn sampler_options(options: &Map, what: &str) -> Fallible<(Sampler, usize)> {
    check_keys(options, &["sampler", "steps"], what)?;
    let sampler = match options.get("sampler") {
        None => Sampler::DpmSolver2,
        Some(name) => Sampler::from_name(&name.to_string()).map_err(method_error)?,
    };
    let steps = get_int(options, "steps", 10, 1, 10_000)? as usize;
    Ok((sampler, steps))
}

fn run_sampler(sampler: Sampler, steps: usize, noise: &Points, eps: &mut diffusion::EpsFn<'_>) -> Fallible<Points> {
    let shape = noise.tensor().shape().to_vec();
    let x1 = noise.tensor().to_f64_vec().map_err(|e| script_error(e.to_string()))?;
    let (xs, _) = diffusion::sample(&VpSchedule::default(), sampler, steps, T_MIN, &x1, eps).map_err(method_error)?;
    let out = Tensor::from_f64(&shape, xs).and_then(|t| t.cast(odeon_tensor::DType::F32)).map_err(|e| script_error(e.to_string()))?;
    Ok(Points(Rc::new(out)))
}

fn check_dim(data: &Gmm, points: &Points, what: &str) -> Fallible<()> {
    let shape = points.tensor().shape();
    if shape.len() != 2 || shape[1] != data.dim() {
        return Err(script_error(format!("{what}: the mixture is {}-D but the points have shape {shape:?}", data.dim())));
    }
    Ok(())
}

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &rhai::Dynamic) -> Option<super::Restore> {
    value.read_lock::<Diffusion>().map(|m| super::restore_of(&m.0))
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Mixture>("Mixture");
    engine.register_type_with_name::<Diffusion>("Diffusion");
    engine.register_fn("to_string", |m: &mut Mixture| format!("Mixture({} components in {}-D)", m.0.components(), m.0.dim()));
    engine.register_fn("to_string", |m: &mut Diffusion| {
        let m = m.0.borrow();
        format!("Diffusion({:?}, {} parameters)", m.parameterisation, odeon_nn::Module::parameter_count(&m.net.net))
    });

    engine.register_fn("gaussian_ring", |modes: i64, radius: f64, std: f64| -> Fallible<Mixture> {
        let modes = usize::try_from(modes).ok().filter(|m| (1..=64).contains(m)).ok_or_else(|| script_error("gaussian_ring: between 1 and 64 modes"))?;
        if !((0.0..=1e3).contains(&radius) && std > 0.0 && std <= 1e3) {
            return Err(script_error(format!("gaussian_ring: the radius must be in [0, 1000] and the std in (0, 1000]; got {radius} and {std}")));
        }
        Ok(Mixture(Rc::new(Gmm::ring(modes, radius, std).map_err(method_error)?)))
    });
    engine.register_fn("sample", |data: &mut Mixture, n: i64, seed: i64| -> Fallible<Points> {
        let n = usize::try_from(n).ok().filter(|&n| (1..=1_000_000).contains(&n))
            .ok_or_else(|| script_error("the number of samples must be between 1 and 1000000"))?;
        let mut rng = SeedStream::new(to_seed(seed), "mixture/sample");
        Ok(Points(Rc::new(data.0.sample(n, &mut rng).map_err(method_error)?)))
    });
    engine.register_fn("log_density_grid", |data: &mut Mixture, options: Map| -> Fallible<Map> {
        check_keys(&options, &["extent", "n"], "log_density_grid")?;
        let extent = get_float(&options, "extent", 6.0)?;
        let n = get_int(&options, "n", 48, 2, 128)? as usize;
        if data.0.dim() != 2 || !(extent > 0.0 && extent.is_finite()) {
            return Err(script_error("log_density_grid: a 2-D mixture and a positive `extent`"));
        }
        let points = grid_points(extent as f32, n).to_f64_vec().map_err(|e| script_error(e.to_string()))?;
        let values = points.chunks(2).map(|p| data.0.log_density(p)).collect::<Result<Vec<_>, _>>().map_err(method_error)?;
        let rows: Array = values.chunks(n).map(|row| float_array(row.iter().copied())).collect();
        Ok(grid_map(rows, extent))
    });

    engine.register_fn("diffusion_mlp", |options: Map| -> Fallible<Diffusion> {
        check_keys(&options, &["parameterisation", "hidden", "layers", "activation", "seed"], "diffusion_mlp")?;
        let parameterisation = match options.get("parameterisation") {
            None => Parameterisation::Eps,
            Some(name) => Parameterisation::from_name(&name.to_string()).map_err(method_error)?,
        };
        Ok(Diffusion(Rc::new(RefCell::new(DiffusionModel::new(velocity_net(&options)?, parameterisation, 1.0)))))
    });
    engine.register_fn("train_diffusion", |model: Diffusion, data: Mixture, options: Map| -> Fallible<Array> {
        let config = train_config(&options, "train_diffusion", 2000, &[])?;
        let job = Job::TrainDiffusion { model: model.0.borrow().clone(), data: (*data.0).clone(), config };
        jobs::train(job, |values| model.0.borrow_mut().net.set_parameters(values))
    });
    engine.register_fn("sample_diffusion", |model: Diffusion, noise: Points, options: Map| -> Fallible<Points> {
        let (sampler, steps) = sampler_options(&options, "sample_diffusion")?;
        let model = model.0.borrow();
        if noise.tensor().shape().get(1) != Some(&model.net.dim) {
            return Err(script_error(format!("sample_diffusion: the model works on {}-D points, but the noise has shape {:?}", model.net.dim, noise.tensor().shape())));
        }
        run_sampler(sampler, steps, &noise, &mut model.eps_fn())
    });
    engine.register_fn("sample_exact_score", |data: Mixture, noise: Points, options: Map| -> Fallible<Points> {
        let (sampler, steps) = sampler_options(&options, "sample_exact_score")?;
        check_dim(&data.0, &noise, "sample_exact_score")?;
        run_sampler(sampler, steps, &noise, &mut diffusion::exact_eps(&data.0, VpSchedule::default()))
    });
    engine.register_fn("sampler_nfe", |sampler: &str, steps: i64| -> Fallible<i64> {
        let sampler = Sampler::from_name(sampler).map_err(method_error)?;
        Ok(sampler.nfe(usize::try_from(steps).unwrap_or(0)) as i64)
    });
    engine.register_fn("fresh_draw_w2", |points: Points, data: Mixture, seed: i64| -> Fallible<Map> {
        check_dim(&data.0, &points, "fresh_draw_w2")?;
        let mut rng = SeedStream::new(to_seed(seed), "metric/fresh-draws");
        let (model, floor) = odeon_methods::metrics::sliced_w2_with_floor(points.tensor(), &mut |n| data.0.sample(n, &mut rng), 8, to_seed(seed))
            .map_err(method_error)?;
        let mut out = Map::new();
        out.insert("w2".into(), Dynamic::from_float(f64::from(model)));
        out.insert("floor".into(), Dynamic::from_float(f64::from(floor)));
        Ok(out)
    });
    engine.register_fn("fresh_draw_w2", |points: Points, target: RingMixture, seed: i64| -> Fallible<Map> {
        if points.tensor().shape().get(1) != Some(&2) {
            return Err(script_error(format!("fresh_draw_w2: the target is 2-D but the points have shape {:?}", points.tensor().shape())));
        }
        let mut rng = SeedStream::new(to_seed(seed), "metric/fresh-draws");
        let (model, floor) = odeon_methods::metrics::sliced_w2_with_floor(points.tensor(), &mut |n| target.sample(n, &mut rng), 8, to_seed(seed))
            .map_err(method_error)?;
        let mut out = Map::new();
        out.insert("w2".into(), Dynamic::from_float(f64::from(model)));
        out.insert("floor".into(), Dynamic::from_float(f64::from(floor)));
        Ok(out)
    });
    engine.register_fn("exact_score_nll", |data: Mixture, points: Points| -> Fallible<Map> {
        check_dim(&data.0, &points, "exact_score_nll")?;
        let values = points.tensor().to_f64_vec().map_err(|e| script_error(e.to_string()))?;
        if values.len() / data.0.dim() > 1000 {
            return Err(script_error("exact_score_nll: at most 1000 points (each is an adaptive ODE solve)"));
        }
        let schedule = VpSchedule::default();
        let (mut ode, mut exact) = (Vec::new(), Vec::new());
        for x in values.chunks(data.0.dim()) {
            if should_stop() {
                return Err(method_error(odeon_methods::MethodError::Stopped { step: ode.len(), total: values.len() / data.0.dim() }));
            }
            let likelihood = diffusion::pf_ode_log_likelihood(&data.0, &schedule, x, 1e-8).map_err(method_error)?;
            ode.push(-likelihood.log_likelihood);
            exact.push(-data.0.log_density(x).map_err(method_error)?);
        }
        let mut out = Map::new();
        out.insert("pf_ode".into(), float_array(ode));
        out.insert("exact".into(), float_array(exact));
        Ok(out)
    });
}
