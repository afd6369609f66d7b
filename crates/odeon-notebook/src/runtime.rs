//! The cell runtime: a Rhai session over Odeon's real API.
//!
//! Cells are Rhai scripts. A [`Session`] keeps one scope across cells, so a
//! model trained in one cell is sampled in the next. Scripts are sandboxed
//! (Rhai has no file or network access) and bounded: string, array and map
//! sizes are capped, and the host's stop check runs every few thousand
//! operations, so a runaway `loop {}` ends when the user presses Stop.
//!
//! Outputs reach the host through the [`Host`] given to [`Session::run_cell`]:
//! every registered function that reports (training progress, plots, metrics,
//! `print`) sends typed [`Event`]s to it.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::data::RingMixture;
use odeon_methods::metrics::sliced_w2;
use odeon_methods::rectified_flow::{self, Coupling, TrainConfig, VelocityModel};
use odeon_methods::MethodError;
use odeon_nn::Activation;
use odeon_tensor::{SeedStream, Tensor};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Position, Scope};

use crate::events::Event;

mod adjoint;
mod diffusion;
mod gauge;
mod interpolants;
mod jobs;
mod neural_de;
mod outputs;
mod pfgm;
mod reflow;
mod regularization;
mod solvers;
pub use jobs::{Compute, Job, JobOutput, JobRunner, TrainingProgress, is_device_failure, run_on};
use jobs::CELL;

/// What the runtime needs from whoever runs it (worker, CLI, test).
pub struct Host {
    /// Receives every output event.
    pub emit: Box<dyn FnMut(Event)>,
    /// Polled often; returning true stops the running cell.
    pub should_stop: Box<dyn Fn() -> bool>,
}

thread_local! {
    static HOST: RefCell<Option<Host>> = const { RefCell::new(None) };
}

fn emit(event: Event) {
    // A replayed pass (see `jobs`) swallows what its first pass already sent.
    let replayed = CELL.with(|c| {
        let mut c = c.borrow_mut();
        c.emitted += 1;
        if c.skip > 0 {
            c.skip -= 1;
            true
        } else {
            false
        }
    });
    if replayed {
        return;
    }
    HOST.with(|host| {
        if let Some(host) = host.borrow_mut().as_mut() {
            (host.emit)(event);
        }
    });
}

fn should_stop() -> bool {
    HOST.with(|host| host.borrow().as_ref().is_some_and(|h| (h.should_stop)()))
}

/// Why a cell failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct RunError {
    /// What went wrong, for the user.
    pub message: String,
    /// Line in the cell, when known.
    pub line: Option<usize>,
    /// True when the user stopped the cell.
    pub stopped: bool,
}

/// A point cloud `[n, d]` in scripts.
#[derive(Debug, Clone)]
pub struct Points(Rc<Tensor>);

impl Points {
    /// The points as a tensor.
    pub fn tensor(&self) -> &Tensor {
        &self.0
    }
}

/// A velocity model in scripts (shared, so cells can keep training it).
#[derive(Debug, Clone)]
pub struct Model(Rc<RefCell<VelocityModel>>);

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn script_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(message.into()), Position::NONE))
}

fn method_error(err: MethodError) -> Box<EvalAltResult> {
    match err {
        MethodError::Stopped { .. } => Box::new(EvalAltResult::ErrorTerminated(Dynamic::from("stopped"), Position::NONE)),
        other => script_error(other.to_string()),
    }
}

fn get_int(options: &Map, key: &str, default: i64, min: i64, max: i64) -> Fallible<i64> {
    let value = match options.get(key) {
        None => default,
        Some(v) => v.as_int().map_err(|t| script_error(format!("`{key}` must be a whole number, not {t}")))?,
    };
    if value < min || value > max {
        return Err(script_error(format!("`{key}` must be between {min} and {max}; got {value}")));
    }
    Ok(value)
}

fn get_float(options: &Map, key: &str, default: f64) -> Fallible<f64> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_float()
            .or_else(|_| v.as_int().map(|i| i as f64))
            .map_err(|t| script_error(format!("`{key}` must be a number, not {t}"))),
    }
}

fn check_keys(options: &Map, allowed: &[&str], what: &str) -> Fallible<()> {
    for key in options.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(script_error(format!(
                "{what}: unknown setting `{key}`; the settings are {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

/// Numbers as a script array.
pub(crate) fn float_array(values: impl IntoIterator<Item = f64>) -> Dynamic {
    Dynamic::from_array(values.into_iter().map(Dynamic::from_float).collect())
}

fn to_seed(seed: i64) -> u64 {
    seed as u64
}

/// The 2-D time-conditioned MLP of `velocity_mlp` and `diffusion_mlp`
/// from `hidden`, `layers`, `activation` and `seed` (keys already checked).
fn velocity_net(options: &Map) -> Fallible<VelocityModel> {
    let (hidden, layers, activation, seed) = mlp_settings(options)?;
    VelocityModel::new(2, hidden, layers, activation, seed).map_err(method_error)
}

/// `hidden` (default 128), `layers` (default 3), `activation` (default
/// silu) and `seed` of the model constructors (keys already checked).
fn mlp_settings(options: &Map) -> Fallible<(usize, usize, Activation, u64)> {
    let hidden = get_int(options, "hidden", 128, 1, 4096)? as usize;
    let layers = get_int(options, "layers", 3, 1, 16)? as usize;
    let seed = to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?);
    let activation = match options.get("activation") {
        None => Activation::Silu,
        Some(name) => Activation::from_name(&name.to_string()).map_err(|e| script_error(e.to_string()))?,
    };
    Ok((hidden, layers, activation, seed))
}

/// A vector field on points as the `#{ x, y, u, v }` map `vector_field` takes.
fn field_map(points: &Tensor, values: &Tensor) -> Map {
    let (xs, ys) = points_xy(points);
    let (us, vs) = points_xy(values);
    let array = |v: Vec<f32>| float_array(v.into_iter().map(f64::from));
    let mut out = Map::new();
    out.insert("x".into(), array(xs));
    out.insert("y".into(), array(ys));
    out.insert("u".into(), array(us));
    out.insert("v".into(), array(vs));
    out
}

/// The `#{ steps, batch, lr, seed }` every training function takes, and
/// the `extra` settings this one takes too (read by the caller).
fn train_config(options: &Map, what: &str, default_steps: i64, extra: &[&str]) -> Fallible<TrainConfig> {
    let allowed: Vec<&str> = ["steps", "batch", "lr", "seed"].iter().chain(extra).copied().collect();
    check_keys(options, &allowed, what)?;
    Ok(TrainConfig {
        steps: get_int(options, "steps", default_steps, 1, 1_000_000)? as usize,
        batch: get_int(options, "batch", 256, 1, 65_536)? as usize,
        lr: get_float(options, "lr", 3e-3)? as f32,
        seed: to_seed(get_int(options, "seed", 0, i64::MIN, i64::MAX)?),
    })
}

fn points_xy(points: &Tensor) -> (Vec<f32>, Vec<f32>) {
    let d = points.shape().get(1).copied().unwrap_or(1).max(1);
    let data = points.to_f32_vec().unwrap_or_default();
    let xs = data.chunks(d).map(|r| r[0]).collect();
    let ys = data.chunks(d).map(|r| if d > 1 { r[1] } else { 0.0 }).collect();
    (xs, ys)
}

fn register_api(engine: &mut Engine) {
    engine.register_type_with_name::<Points>("Points");
    engine.register_type_with_name::<RingMixture>("Target");
    engine.register_type_with_name::<Model>("Model");
    engine.register_fn("len", |p: &mut Points| p.0.shape().first().copied().unwrap_or(0) as i64);
    engine.register_fn("to_string", |p: &mut Points| format!("Points{:?}", p.0.shape()));
    engine.register_fn("to_string", |t: &mut RingMixture| {
        format!("RingMixture(modes {}, radius {}, std {})", t.modes, t.radius, t.std)
    });
    engine.register_fn("to_string", |m: &mut Model| {
        format!("VelocityModel({} parameters)", odeon_nn::Module::parameter_count(&m.0.borrow().net))
    });

    engine.register_fn("eight_gaussians", RingMixture::eight_gaussians);
    engine.register_fn("ring_mixture", |modes: i64, radius: f64, std: f64| -> Fallible<RingMixture> {
        let target = RingMixture { modes: usize::try_from(modes).unwrap_or(0), radius: radius as f32, std: std as f32 };
        target.validate().map_err(method_error)?;
        Ok(target)
    });
    engine.register_fn("sample", |target: &mut RingMixture, n: i64, seed: i64| -> Fallible<Points> {
        let n = usize::try_from(n).ok().filter(|&n| (1..=1_000_000).contains(&n))
            .ok_or_else(|| script_error("the number of samples must be between 1 and 1000000"))?;
        let mut rng = SeedStream::new(to_seed(seed), "target/sample");
        Ok(Points(Rc::new(target.sample(n, &mut rng).map_err(method_error)?)))
    });
    engine.register_fn("gaussian_noise", |n: i64, dim: i64, seed: i64| -> Fallible<Points> {
        let (n, dim) = match (usize::try_from(n), usize::try_from(dim)) {
            (Ok(n @ 1..=1_000_000), Ok(d @ 1..=1024)) => (n, d),
            _ => return Err(script_error("gaussian_noise(n, dim, seed) needs 1 <= n <= 1000000 and 1 <= dim <= 1024")),
        };
        if n * dim > MAX_POINT_VALUES {
            return Err(script_error(format!(
                "gaussian_noise: {n} points of dimension {dim} are {} numbers, more than the {MAX_POINT_VALUES} (64 MB) one set of points may hold",
                n * dim
            )));
        }
        let mut rng = SeedStream::new(to_seed(seed), "noise");
        Ok(Points(Rc::new(rng.normal_tensor(&[n, dim]))))
    });

    engine.register_fn("velocity_mlp", |options: Map| -> Fallible<Model> {
        check_keys(&options, &["hidden", "layers", "activation", "seed"], "velocity_mlp")?;
        Ok(Model(Rc::new(RefCell::new(velocity_net(&options)?))))
    });

    engine.register_fn("train_rectified_flow", |model: Model, target: RingMixture, options: Map| -> Fallible<Array> {
        reflow::train(&model, Coupling::Independent(target), &options)
    });

    engine.register_fn("sample_rectified_flow", |model: Model, noise: Points, steps: i64| -> Fallible<Points> {
        let steps = usize::try_from(steps).map_err(|_| script_error("steps must be positive"))?;
        let out = rectified_flow::sample(&model.0.borrow(), &noise.0, steps).map_err(method_error)?;
        Ok(Points(Rc::new(out)))
    });

    engine.register_fn("sample_rectified_flow_adaptive", |model: Model, noise: Points, options: Map| -> Fallible<Map> {
        use odeon_solve::ode::Solver;
        check_keys(&options, &["solver", "rtol", "atol"], "sample_rectified_flow_adaptive")?;
        let solver = match options.get("solver").map(|v| v.to_string().to_ascii_lowercase()).as_deref() {
            None | Some("dopri5") => Solver::Dopri5,
            Some("tsit5") => Solver::Tsit5,
            Some("bosh3") => Solver::Bosh3,
            Some(other) => return Err(script_error(format!("unknown adaptive solver \"{other}\"; choose dopri5, tsit5 or bosh3"))),
        };
        let rtol = get_float(&options, "rtol", 1e-3)?;
        let atol = get_float(&options, "atol", 1e-3)?;
        let run = rectified_flow::sample_adaptive(&model.0.borrow(), &noise.0, solver, rtol, atol).map_err(method_error)?;
        let mut out = Map::new();
        out.insert("samples".into(), Dynamic::from(Points(Rc::new(run.samples))));
        out.insert("ts".into(), float_array(run.stats.steps.iter().map(|s| s.t)));
        solvers::insert_stats(&mut out, &run.stats);
        Ok(out)
    });
    engine.register_fn("sliced_w2", |a: Points, b: Points, seed: i64| -> Fallible<f64> {
        let mut rng = SeedStream::new(to_seed(seed), "metric/sliced-w2");
        Ok(f64::from(sliced_w2(&a.0, &b.0, 64, &mut rng).map_err(method_error)?))
    });
    engine.register_fn("mode_counts", |target: RingMixture, points: Points| -> Fallible<Array> {
        let mut counts = vec![0i64; target.modes];
        target.nearest_mode(&points.0).map_err(method_error)?.into_iter().for_each(|k| counts[k] += 1);
        Ok(counts.into_iter().map(Dynamic::from_int).collect())
    });

    engine.register_fn("log_density_grid", |target: &mut RingMixture, options: Map| -> Fallible<Map> {
        check_keys(&options, &["extent", "n"], "log_density_grid")?;
        let extent = get_float(&options, "extent", 6.0)?;
        let n = get_int(&options, "n", 48, 2, 128)? as usize;
        if !(extent > 0.0 && extent.is_finite()) {
            return Err(script_error("log_density_grid: `extent` must be a positive number"));
        }
        let points = grid_points(extent as f32, n);
        let values = target.log_density(&points).map_err(method_error)?;
        let rows: Array = values.chunks(n).map(|row| float_array(row.iter().copied())).collect();
        Ok(grid_map(rows, extent))
    });
    engine.register_fn("velocity_field", |model: &mut Model, t: f64, options: Map| -> Fallible<Map> {
        check_keys(&options, &["extent", "n"], "velocity_field")?;
        let extent = get_float(&options, "extent", 6.0)?;
        let n = get_int(&options, "n", 16, 2, 64)? as usize;
        if !(0.0..=1.0).contains(&t) {
            return Err(script_error(format!("velocity_field: the time must be between 0 and 1; got {t}")));
        }
        let points = grid_points(extent as f32, n);
        let v = model.0.borrow().velocity(&points, t as f32).map_err(method_error)?;
        Ok(field_map(&points, &v))
    });
    outputs::register(engine);
    solvers::register(engine);
    diffusion::register(engine);
    reflow::register(engine);
    interpolants::register(engine);
    adjoint::register(engine);
    pfgm::register(engine);
    gauge::register(engine);
    regularization::register(engine);
    neural_de::register(engine);
}

/// Cell centres of an `n` x `n` grid over `[-extent, extent]^2`, row by row
/// from the bottom (the layout `heatmap` expects).
fn grid_points(extent: f32, n: usize) -> Tensor {
    let h = 2.0 * extent / n as f32;
    let mut data = Vec::with_capacity(2 * n * n);
    for j in 0..n {
        for i in 0..n {
            data.push(-extent + h * (i as f32 + 0.5));
            data.push(-extent + h * (j as f32 + 0.5));
        }
    }
    Tensor::from_shape_vec(&[n * n, 2], data).unwrap_or_else(|_| Tensor::zeros(&[0, 2]))
}

fn grid_map(rows: Array, extent: f64) -> Map {
    let range = || float_array([-extent, extent]);
    let mut out = Map::new();
    out.insert("values".into(), Dynamic::from_array(rows));
    out.insert("x_range".into(), range());
    out.insert("y_range".into(), range());
    out
}

/// Script operations one cell may take (Rhai counts each expression step).
/// Built-in functions (a whole training run) count as one, so only script
/// loops come near it: at tens of millions per second this is a few seconds
/// of pure script work, far beyond any notebook's needs.
pub const MAX_OPERATIONS: u64 = 200_000_000;
/// Most numbers one set of points made by a script function may hold
/// (64 MB of f32), so a typo cannot ask for gigabytes at once.
pub const MAX_POINT_VALUES: usize = 1 << 24;
/// Deepest nesting of script function calls.
pub const MAX_CALL_LEVELS: usize = 64;

/// A running notebook: one Rhai engine and one scope shared by all cells.
pub struct Session {
    engine: Engine,
    scope: Scope<'static>,
    compute: Compute,
    cell: Option<CellRun>,
}

/// A cell waiting for a job (see [`Compute::Deferred`]).
struct CellRun {
    /// The scope as the cell found it, and the models in it with their
    /// parameters then: each pass starts from here.
    snapshot: Scope<'static>,
    models: Vec<Restore>,
    /// Outputs of the cell's jobs so far, in call order.
    memo: Vec<(Job, JobOutput)>,
    /// Events the last pass sent before it suspended.
    sent: usize,
}

/// How a cell pass ended.
#[derive(Debug)]
pub enum CellState {
    /// The cell ran to its end.
    Finished,
    /// The cell is suspended until the host runs this job and calls
    /// [`Session::resume_cell`] (only with [`Compute::Deferred`]).
    NeedsJob(Box<Job>),
}

/// Puts a model back as it was when the closure was made.
pub(crate) type Restore = Box<dyn Fn()>;

/// A [`Restore`] for a shared model.
pub(crate) fn restore_of<T: Clone + 'static>(model: &Rc<RefCell<T>>) -> Restore {
    let (model, saved) = (Rc::clone(model), model.borrow().clone());
    Box::new(move || *model.borrow_mut() = saved.clone())
}

/// Every model reachable from `value` (through arrays and maps), as it is now.
fn collect_models(value: &Dynamic, out: &mut Vec<Restore>) {
    if let Some(model) = value.read_lock::<Model>() {
        out.push(restore_of(&model.0));
    } else if let Some(restore) = diffusion::restore(value).or_else(|| interpolants::restore(value)).or_else(|| adjoint::restore(value)).or_else(|| pfgm::restore(value)).or_else(|| gauge::restore(value)).or_else(|| regularization::restore(value)).or_else(|| neural_de::restore(value)) {
        out.push(restore);
    } else if let Some(array) = value.read_lock::<Array>() {
        array.iter().for_each(|v| collect_models(v, out));
    } else if let Some(map) = value.read_lock::<Map>() {
        map.values().for_each(|v| collect_models(v, out));
    }
}

impl Session {
    /// A fresh session with `seed` and `profile` (`ci`, `default`, `big`) in scope.
    pub fn new(seed: u64, profile: &str) -> Session {
        let mut engine = Engine::new();
        engine.set_max_string_size(1 << 20);
        engine.set_max_array_size(1 << 22);
        engine.set_max_map_size(1 << 16);
        engine.set_max_call_levels(MAX_CALL_LEVELS);
        engine.set_max_operations(MAX_OPERATIONS);
        engine.set_max_expr_depths(64, 32);
        engine.on_print(|text| emit(Event::Log { text: text.to_string() }));
        engine.on_debug(|text, _, _| emit(Event::Log { text: text.to_string() }));
        engine.on_progress(|ops| if ops % 1024 == 0 && should_stop() { Some(Dynamic::from("stopped")) } else { None });
        register_api(&mut engine);
        let mut scope = Scope::new();
        scope.push_constant("seed", seed as i64);
        scope.push_constant("profile", profile.to_string());
        Session { engine, scope, compute: Compute::Cpu, cell: None }
    }

    /// Changes the per-cell budget of script steps (default [`MAX_OPERATIONS`]).
    pub fn set_max_operations(&mut self, operations: u64) {
        self.engine.set_max_operations(operations);
    }

    /// Chooses where training jobs run (default [`Compute::Cpu`]).
    pub fn set_compute(&mut self, compute: Compute) {
        self.compute = compute;
    }

    /// Runs one cell; outputs go to `host`. Variables the cell defines stay
    /// in scope for later cells. With [`Compute::Deferred`] use
    /// [`Session::start_cell`] instead: a job here is an error.
    pub fn run_cell(&mut self, source: &str, host: Host) -> Result<(), RunError> {
        match self.start_cell(source, host)? {
            CellState::Finished => Ok(()),
            CellState::NeedsJob(_) => {
                self.cell = None;
                Err(RunError { message: "this cell hands its training to the host, which cannot run it".into(), line: None, stopped: false })
            }
        }
    }

    /// Starts one cell. It either finishes, or (with [`Compute::Deferred`])
    /// suspends at a job: then run the job and call [`Session::resume_cell`].
    pub fn start_cell(&mut self, source: &str, host: Host) -> Result<CellState, RunError> {
        let mut models = Vec::new();
        for (_, _, value) in self.scope.iter_raw() {
            collect_models(value, &mut models);
        }
        self.cell = Some(CellRun { snapshot: self.scope.clone(), models, memo: Vec::new(), sent: 0 });
        self.pass(source, host)
    }

    /// Resumes the suspended cell with the output of the job it asked for:
    /// the cell runs again from its start (see [`Compute::Deferred`]).
    pub fn resume_cell(&mut self, source: &str, host: Host, job: Job, output: JobOutput) -> Result<CellState, RunError> {
        let Some(run) = self.cell.as_mut() else {
            return Err(RunError { message: "no cell is waiting for a job".into(), line: None, stopped: false });
        };
        run.memo.push((job, output));
        self.pass(source, host)
    }

    fn pass(&mut self, source: &str, host: Host) -> Result<CellState, RunError> {
        let (memo, skip) = self.cell.as_ref().map(|r| (r.memo.clone(), r.sent)).unwrap_or_default();
        CELL.with(|c| {
            *c.borrow_mut() = jobs::CellContext { compute: self.compute.clone(), memo, skip, ..jobs::CellContext::default() };
        });
        HOST.with(|h| *h.borrow_mut() = Some(host));
        let result = self.engine.run_with_scope(&mut self.scope, source);
        HOST.with(|h| *h.borrow_mut() = None);
        let context = CELL.with(|c| std::mem::take(&mut *c.borrow_mut()));
        if let Some(job) = context.pending {
            if let Some(run) = self.cell.as_mut() {
                run.memo = context.memo;
                run.sent = context.emitted;
                self.scope = run.snapshot.clone();
                for restore in &run.models {
                    restore();
                }
            }
            return Ok(CellState::NeedsJob(Box::new(job)));
        }
        self.cell = None;
        result.map(|_| CellState::Finished).map_err(|err| {
            let line = err.position().line();
            match *err {
                EvalAltResult::ErrorTerminated(..) => RunError { message: "stopped by the user".into(), line: None, stopped: true },
                EvalAltResult::ErrorRuntime(ref value, _) => RunError { message: value.to_string(), line, stopped: false },
                EvalAltResult::ErrorInFunctionCall(ref name, _, ref inner, _) => {
                    let stopped = matches!(**inner, EvalAltResult::ErrorTerminated(..));
                    let message = if stopped { "stopped by the user".to_string() } else { format!("in {name}: {}", inner_message(inner)) };
                    RunError { message, line, stopped }
                }
                ref other => RunError { message: inner_message(other), line, stopped: false },
            }
        })
    }
}

/// The error in words a user understands (Rhai's own wording for the rest).
fn inner_message(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "this cell took more than {} million script steps without finishing: probably an endless loop. (Stop ends any cell at once.)",
            MAX_OPERATIONS.div_ceil(1_000_000)
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "functions call each other more than {MAX_CALL_LEVELS} levels deep: is a recursion missing its end?"
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "{what} grew too large (limits: text 1 MB, arrays 4 million items, maps 65536 keys)"
        ),
        EvalAltResult::ErrorFunctionNotFound(signature, _) => format!(
            "there is no function {signature} (check the name and the argument types in the script API reference)"
        ),
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) => format!("in {name}: {}", inner_message(inner)),
        other => strip_position(&other.to_string()),
    }
}

fn strip_position(text: &str) -> String {
    match text.rfind(" (line ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
