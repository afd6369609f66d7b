//! Script access to odeon-solve's ODE solvers with a vector field written in
//! the cell: `solve_ode(|t, y| [...], y0, #{ ... })`. Meant for the small
//! systems of convergence studies and demos (the field runs as script code,
//! so every evaluation costs script steps); method code calls the solvers
//! from Rust instead.

use std::cell::RefCell;

use odeon_solve::ode::{Controller, OdeOptions, OdeStats, PidController, SaveAt, SolveError, Solver, solve_ode};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext};

use super::outputs::numbers;
use super::{Fallible, check_keys, float_array, get_float, get_int, script_error};

fn solver_named(name: &str) -> Fallible<Solver> {
    match name.to_ascii_lowercase().as_str() {
        "euler" => Ok(Solver::Euler),
        "heun" => Ok(Solver::Heun),
        "rk4" => Ok(Solver::Rk4),
        "bosh3" => Ok(Solver::Bosh3),
        "dopri5" => Ok(Solver::Dopri5),
        "tsit5" => Ok(Solver::Tsit5),
        other => Err(script_error(format!("unknown solver \"{other}\"; choose euler, heun, rk4, bosh3, dopri5 or tsit5"))),
    }
}

fn solve(context: &NativeCallContext, f: &FnPtr, y0: &Array, options: &Map) -> Fallible<Map> {
    check_keys(options, &["t0", "t1", "solver", "rtol", "atol", "dt", "save", "max_steps"], "solve_ode")?;
    let y0 = numbers(y0, "solve_ode y0")?;
    if y0.is_empty() {
        return Err(script_error("solve_ode: y0 must have at least one number"));
    }
    let t0 = get_float(options, "t0", 0.0)?;
    let t1 = get_float(options, "t1", 1.0)?;
    let solver = match options.get("solver") {
        None => Solver::Tsit5,
        Some(name) => solver_named(&name.to_string())?,
    };
    let adaptive = matches!(solver, Solver::Bosh3 | Solver::Dopri5 | Solver::Tsit5);
    let dt = options.get("dt").map(|_| get_float(options, "dt", 0.0)).transpose()?;
    if !adaptive && dt.is_none() {
        return Err(script_error(format!("solve_ode: {solver:?} takes fixed steps; give the step size as `dt`")));
    }
    let save_at = match options.get("save") {
        None => SaveAt::Steps,
        Some(v) if v.is_string() => match v.to_string().as_str() {
            "final" => SaveAt::Final,
            "steps" => SaveAt::Steps,
            other => return Err(script_error(format!("solve_ode: `save` is \"final\", \"steps\" or an array of times; got \"{other}\""))),
        },
        Some(v) => SaveAt::Times(numbers(&v.clone().try_cast::<Array>().ok_or_else(|| script_error("solve_ode: `save` is \"final\", \"steps\" or an array of times"))?, "solve_ode save times")?),
    };
    let controller = if adaptive && (dt.is_none() || options.contains_key("rtol") || options.contains_key("atol")) {
        Controller::Pid(PidController::new(get_float(options, "rtol", 1e-6)?, get_float(options, "atol", 1e-6)?))
    } else {
        Controller::Constant
    };
    let solve_options = OdeOptions {
        controller,
        save_at,
        max_steps: get_int(options, "max_steps", 16384, 1, 1_000_000)? as usize,
        ..OdeOptions::default()
    };
    // The script's own error (or the user's Stop) wins over the solver's
    // wrapping of it.
    let script_failure: RefCell<Option<Box<EvalAltResult>>> = RefCell::new(None);
    let dim = y0.len();
    let field = |t: f64, y: &Vec<f64>| -> Result<Vec<f64>, SolveError> {
        let y_arg: Array = y.iter().map(|&v| Dynamic::from_float(v)).collect();
        let result = f.call_within_context::<Dynamic>(context, (t, y_arg)).and_then(|out| {
            let out = out.try_cast::<Array>().ok_or_else(|| script_error("solve_ode: the vector field must return an array of numbers"))?;
            let values = numbers(&out, "solve_ode: the vector field's result")?;
            if values.len() != dim {
                return Err(script_error(format!("solve_ode: the vector field returned {} numbers for a state of {dim}", values.len())));
            }
            Ok(values)
        });
        result.map_err(|err| {
            let message = err.to_string();
            *script_failure.borrow_mut() = Some(err);
            SolveError::VectorField(message)
        })
    };
    let solution = solve_ode(field, solver, t0, t1, dt, &y0, &solve_options);
    if let Some(err) = script_failure.into_inner() {
        return Err(err);
    }
    let solution = solution.map_err(|e| script_error(format!("solve_ode: {e}")))?;
    let mut out = Map::new();
    out.insert("t".into(), float_array(solution.ts.iter().copied()));
    out.insert("y".into(), Dynamic::from_array(solution.ys.iter().map(|y| float_array(y.iter().copied())).collect()));
    insert_stats(&mut out, &solution.stats);
    Ok(out)
}

/// A solve's statistics as script values: `nfe`, `accepted`, `rejected`
/// and, per accepted step, `step_sizes`, `errors` (NaN without an
/// estimate) and `stiffness`.
pub(crate) fn insert_stats(out: &mut Map, stats: &OdeStats) {
    out.insert("nfe".into(), Dynamic::from_int(stats.nfe as i64));
    out.insert("accepted".into(), Dynamic::from_int(stats.accepted as i64));
    out.insert("rejected".into(), Dynamic::from_int(stats.rejected as i64));
    out.insert("step_sizes".into(), float_array(stats.steps.iter().map(|s| s.dt)));
    out.insert("errors".into(), float_array(stats.steps.iter().map(|s| s.error.unwrap_or(f64::NAN))));
    out.insert("stiffness".into(), float_array(stats.steps.iter().map(|s| s.stiffness)));
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("solve_ode", |context: NativeCallContext, f: FnPtr, y0: Array, options: Map| solve(&context, &f, &y0, &options));
}
