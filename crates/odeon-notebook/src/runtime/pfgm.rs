//! Script functions for PFGM++: models for a number `D` of augmented
//! dimensions (or EDM, `D = inf`), their training, the Heun sampler with
//! optional noise injection, the perturbation radius law and its KS test,
//! and the sample comparisons of the notebook.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::pfgm::{self, Augmentation, PfgmModel, SampleConfig};
use rhai::{Array, Dynamic, Engine, Map};

use super::diffusion::Mixture;
use super::outputs::numbers;
use super::jobs::{self, Job};
use super::{Fallible, Points, check_keys, get_float, get_int, method_error, mlp_settings, script_error, to_seed, train_config};
use odeon_methods::rectified_flow::VelocityModel;

/// A PFGM++ model in scripts (shared, so later cells sample what an
/// earlier cell trained).
#[derive(Debug, Clone)]
pub struct Pfgm(Rc<RefCell<PfgmModel>>);

/// `D` from a script value: a positive number, or `"inf"` for EDM.
fn augmentation(value: &Dynamic, what: &str) -> Fallible<Augmentation> {
    let bad = || script_error(format!("{what}: D must be a positive number or \"inf\" (EDM); got {value}"));
    let d = if let Ok(f) = value.as_float() {
        f
    } else if let Ok(i) = value.as_int() {
        i as f64
    } else if let Some(text) = value.read_lock::<rhai::ImmutableString>() {
        match text.as_str() {
            "inf" | "infinity" => f64::INFINITY,
            _ => return Err(bad()),
        }
    } else {
        return Err(bad());
    };
    Augmentation::new(d).map_err(|_| bad())
}

fn positive(value: f64, name: &str, what: &str) -> Fallible<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(script_error(format!("{what}: {name} must be a positive number; got {value}")))
    }
}

/// A [`super::Restore`] for the model in `value`, if it holds one of this module's.
pub(crate) fn restore(value: &rhai::Dynamic) -> Option<super::Restore> {
    value.read_lock::<Pfgm>().map(|m| super::restore_of(&m.0))
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Pfgm>("PfgmModel");
    engine.register_fn("to_string", |m: &mut Pfgm| {
        let m = m.0.borrow();
        format!("PfgmModel(D = {}, {} parameters)", m.augmentation.value(), odeon_nn::Module::parameter_count(&m.net.net))
    });
    engine.register_get("D", |m: &mut Pfgm| m.0.borrow().augmentation.value());
    engine.register_get("sigma_max", |m: &mut Pfgm| m.0.borrow().edm.sigma_max);

    engine.register_fn("pfgm_mlp", |data: Mixture, options: Map| -> Fallible<Pfgm> {
        check_keys(&options, &["D", "hidden", "layers", "activation", "seed"], "pfgm_mlp")?;
        let aug = match options.get("D") {
            Some(value) => augmentation(value, "pfgm_mlp")?,
            None => return Err(script_error("pfgm_mlp: give the number of augmented dimensions, e.g. D: 128 (or D: \"inf\" for EDM)")),
        };
        let (hidden, layers, activation, seed) = mlp_settings(&options)?;
        let net = VelocityModel::new(data.gmm().dim(), hidden, layers, activation, seed).map_err(method_error)?;
        Ok(Pfgm(Rc::new(RefCell::new(PfgmModel::new(net, aug, data.gmm().coordinate_std()).map_err(method_error)?))))
    });
    engine.register_fn("train_pfgm", |model: Pfgm, data: Mixture, options: Map| -> Fallible<Array> {
        let config = train_config(&options, "train_pfgm", 3000, &[])?;
        let job = Job::TrainPfgm { model: model.0.borrow().clone(), data: data.gmm().clone(), config };
        jobs::train(job, |values| model.0.borrow_mut().set_parameters(values))
    });
    engine.register_fn("sample_pfgm", |model: Pfgm, noise: Points, options: Map| -> Fallible<Points> {
        check_keys(&options, &["steps", "alpha", "seed"], "sample_pfgm")?;
        let steps = get_int(&options, "steps", 18, 1, 10_000)? as usize;
        let alpha = get_float(&options, "alpha", 0.0)?;
        if !(alpha >= 0.0 && alpha.is_finite()) {
            return Err(script_error(format!("sample_pfgm: the injected noise `alpha` must be 0 or more; got {alpha}")));
        }
        let seed = to_seed(get_int(&options, "seed", 0, i64::MIN, i64::MAX)?);
        let m = model.0.borrow();
        Ok(Points(Rc::new(pfgm::sample(&m, noise.tensor(), &SampleConfig { steps, alpha, seed }).map_err(method_error)?)))
    });
    engine.register_fn("pfgm_radii", |d: Dynamic, sigma: f64, n: i64, seed: i64| -> Fallible<Array> {
        let aug = augmentation(&d, "pfgm_radii")?;
        let sigma = positive(sigma, "sigma", "pfgm_radii")?;
        let n = usize::try_from(n).ok().filter(|n| (1..=1_000_000).contains(n)).ok_or_else(|| script_error("pfgm_radii: between 1 and 1000000 draws"))?;
        let radii = pfgm::sample_radii(aug, 2, sigma, n, to_seed(seed)).map_err(method_error)?;
        Ok(radii.into_iter().map(Dynamic::from_float).collect())
    });
    engine.register_fn("pfgm_radius_cdf", |d: Dynamic, sigma: f64, radius: f64| -> Fallible<f64> {
        let aug = augmentation(&d, "pfgm_radius_cdf")?;
        let sigma = positive(sigma, "sigma", "pfgm_radius_cdf")?;
        pfgm::radius_cdf(2, aug, sigma, radius).map_err(method_error)
    });
    engine.register_fn("radius_ks", |radii: Array, d: Dynamic, sigma: f64| -> Fallible<Map> {
        let aug = augmentation(&d, "radius_ks")?;
        let sigma = positive(sigma, "sigma", "radius_ks")?;
        let radii = numbers(&radii, "radius_ks: the radii")?;
        let ks = odeon_solve::metrics::ks_test(&radii, |r| pfgm::radius_cdf(2, aug, sigma, r).unwrap_or(f64::NAN))
            .map_err(|e| script_error(format!("radius_ks: {e}")))?;
        let mut out = Map::new();
        out.insert("statistic".into(), Dynamic::from_float(ks.statistic));
        out.insert("p_value".into(), Dynamic::from_float(ks.p_value));
        Ok(out)
    });
    engine.register_fn("paired_rms", |a: Points, b: Points| -> Fallible<f64> { pfgm::paired_rms(a.tensor(), b.tensor()).map_err(method_error) });
    engine.register_fn("fraction_near_modes", |data: Mixture, points: Points, within: f64| -> Fallible<f64> {
        let within = positive(within, "the number of standard deviations", "fraction_near_modes")?;
        pfgm::fraction_near_modes(data.gmm(), points.tensor(), within).map_err(method_error)
    });
    engine.register_fn("heun_nfe", |steps: i64| -> Fallible<i64> {
        if steps < 1 {
            return Err(script_error("heun_nfe: at least one step"));
        }
        Ok(2 * steps - 1)
    });
}
