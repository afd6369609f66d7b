//! Training jobs: the work a cell may hand to another device.
//!
//! A script call such as `train_rectified_flow` describes its work as a
//! [`Job`] and runs it through the session's [`Compute`]:
//!
//! * [`Compute::Cpu`]: inside the cell, on the CPU (the default).
//! * [`Compute::Sync`]: inside the cell, by a runner the host supplies that
//!   may block (the CLI's native wgpu backend: Vulkan, Metal, DX12).
//! * [`Compute::Deferred`]: outside the cell. On the web a GPU readback only
//!   completes once the worker returns to its event loop, which a running
//!   Rhai script never does (ARCHITECTURE.md, "The hard problem"). So the
//!   call *suspends* the cell: the script is abandoned, the session rolls its
//!   scope (and the models in it) back to the cell's start and hands the job
//!   to the host ([`CellState::NeedsJob`]). The host runs the job
//!   asynchronously (the worker queues the training steps on WebGPU and reads
//!   the losses in batches) and calls [`Session::resume_cell`] with its
//!   output (or its error, [`JobOutput::Failed`]); the cell then runs again
//!   from the top, and this time the call returns the stored output (or
//!   raises the error at its line) at once. Scripts are deterministic (every
//!   random draw is seeded), so the replay takes exactly the same path; the
//!   outputs the first pass already sent are not sent again.
//!
//! [`Session::resume_cell`]: super::Session::resume_cell

use std::cell::RefCell;
use std::rc::Rc;

use odeon_methods::adjoint_dpm::{self, ConditionalDiffusion};
use odeon_methods::diffusion::{self, DiffusionModel};
use odeon_methods::gauge::{self, ManifoldData, ScoreModel};
use odeon_methods::gmm::Gmm;
use odeon_methods::interpolants::{self, InterpolantModel};
use odeon_methods::pfgm::{self, PfgmModel};
use odeon_methods::rectified_flow::{self, Coupling, Objective, TrainConfig, VelocityModel};
use odeon_methods::training::{self, Trainer};
use odeon_methods::{MethodError, Monitor};
use odeon_tensor::{Backend, Cpu};
use rhai::{Dynamic, EvalAltResult, Position};

use super::outputs::loss_plot;
use super::{Fallible, emit, method_error};
use crate::events::Event;

/// Work a cell hands to a device: one training run of a method's model.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// `train_rectified_flow(model, target or pairs, options)`.
    TrainRectifiedFlow {
        /// The model to train (a copy; the cell's model takes the result).
        model: VelocityModel,
        /// The data: a target (1-rectified flow) or reflow pairs.
        coupling: Coupling,
        /// Time density and loss.
        objective: Objective,
        /// Steps, batch, learning rate, seed.
        config: TrainConfig,
    },
    /// `train_diffusion(model, mixture, options)`.
    TrainDiffusion {
        /// The model to train (a copy).
        model: DiffusionModel,
        /// The data.
        data: Gmm,
        /// Steps, batch, learning rate, seed.
        config: TrainConfig,
    },
    /// `train_interpolant(model, mixture, options)`.
    TrainInterpolant {
        /// The model to train (a copy).
        model: InterpolantModel,
        /// The data.
        data: Gmm,
        /// Steps, batch, learning rate, seed.
        config: TrainConfig,
    },
    /// `train_conditional_diffusion(model, mixture, options)`.
    TrainConditional {
        /// The model to train (a copy).
        model: ConditionalDiffusion,
        /// The labelled data (class = component).
        data: Gmm,
        /// Steps, batch, learning rate, seed.
        config: TrainConfig,
    },
    /// `train_pfgm(model, mixture, options)`.
    TrainPfgm {
        /// The model to train (a copy).
        model: PfgmModel,
        /// The data.
        data: Gmm,
        /// Steps, batch, learning rate, seed.
        config: TrainConfig,
    },
    /// `train_score(model, manifold data, options)`: a free or a
    /// conservative (grad-of-grad) score model.
    TrainScore {
        /// The model to train (a copy).
        model: ScoreModel,
        /// The data on a manifold.
        data: ManifoldData,
        /// Steps, batch, learning rate, seed.
        config: TrainConfig,
    },
}

impl Job {
    /// The network the job trains.
    fn net(&self) -> &odeon_nn::Mlp {
        match self {
            Job::TrainRectifiedFlow { model, .. } => &model.net,
            Job::TrainDiffusion { model, .. } => &model.net.net,
            Job::TrainInterpolant { model, .. } => &model.net.net,
            Job::TrainConditional { model, .. } => &model.net,
            Job::TrainPfgm { model, .. } => &model.net.net,
            Job::TrainScore { model, .. } => &model.net,
        }
    }

    /// Steps, batch, learning rate and seed.
    pub fn config(&self) -> &TrainConfig {
        match self {
            Job::TrainRectifiedFlow { config, .. }
            | Job::TrainDiffusion { config, .. }
            | Job::TrainInterpolant { config, .. }
            | Job::TrainConditional { config, .. }
            | Job::TrainPfgm { config, .. }
            | Job::TrainScore { config, .. } => config,
        }
    }

    /// Layer sizes and rows per step of the network the job trains (what
    /// the backend policy weighs).
    pub fn mlp_work(&self) -> (Vec<usize>, usize) {
        let params = odeon_nn::Module::parameters(self.net());
        let mut sizes = vec![params.first().map_or(0, |w| w.shape()[0])];
        sizes.extend(params.iter().step_by(2).map(|w| w.shape()[1]));
        let rows = match self {
            // The antithetic velocity loss sees each draw twice.
            Job::TrainInterpolant { model, config, .. } if model.field == odeon_methods::interpolants::Field::Velocity => 2 * config.batch,
            // The gradient regression differentiates the forward and
            // backward passes once more: about twice a plain step's work.
            Job::TrainScore { model, config, .. } if model.kind == gauge::ScoreKind::Conservative => 2 * config.batch,
            _ => self.config().batch,
        };
        (sizes, rows)
    }

    /// Steps the job takes.
    pub fn steps(&self) -> usize {
        self.config().steps
    }

    /// The job's training run on `backend`, a step at a time.
    ///
    /// # Errors
    ///
    /// Bad settings or sizes, or a backend that cannot hold the model.
    pub fn trainer<B: Backend>(&self, backend: &B) -> Result<Trainer<B>, MethodError> {
        match self {
            Job::TrainRectifiedFlow { model, coupling, objective, config } => rectified_flow::trainer(backend, model, coupling, objective, config),
            Job::TrainDiffusion { model, data, config } => diffusion::trainer(backend, model, data, config),
            Job::TrainInterpolant { model, data, config } => interpolants::trainer(backend, model, data, config),
            Job::TrainConditional { model, data, config } => adjoint_dpm::trainer(backend, model, data, config),
            Job::TrainPfgm { model, data, config } => pfgm::trainer(backend, model, data, config),
            Job::TrainScore { model, data, config } => gauge::trainer(backend, model, data, config),
        }
    }

    /// Whether `other` is the same call (same settings, data and
    /// architecture): the check a replayed cell makes before taking a
    /// stored output.
    fn same_call(&self, other: &Job) -> bool {
        let same_settings = match (self, other) {
            (
                Job::TrainRectifiedFlow { model: a, coupling: ta, objective: oa, .. },
                Job::TrainRectifiedFlow { model: b, coupling: tb, objective: ob, .. },
            ) => ta == tb && oa == ob && a.dim == b.dim,
            (Job::TrainDiffusion { model: a, data: da, .. }, Job::TrainDiffusion { model: b, data: db, .. }) => {
                da == db && a.parameterisation == b.parameterisation && a.schedule == b.schedule && a.data_std == b.data_std
            }
            (Job::TrainInterpolant { model: a, data: da, .. }, Job::TrainInterpolant { model: b, data: db, .. }) => {
                da == db && a.field == b.field && a.interpolant == b.interpolant && a.source == b.source
            }
            (Job::TrainConditional { model: a, data: da, .. }, Job::TrainConditional { model: b, data: db, .. }) => {
                da == db && a.classes == b.classes && a.schedule == b.schedule
            }
            (Job::TrainPfgm { model: a, data: da, .. }, Job::TrainPfgm { model: b, data: db, .. }) => {
                da == db && a.augmentation == b.augmentation && a.edm == b.edm
            }
            (Job::TrainScore { model: a, data: da, .. }, Job::TrainScore { model: b, data: db, .. }) => {
                da == db && a.kind == b.kind && a.parameterisation == b.parameterisation && a.schedule == b.schedule && a.data_std == b.data_std
            }
            _ => false,
        };
        same_settings && self.config() == other.config() && self.mlp_work() == other.mlp_work()
    }
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutput {
    /// A finished (or stopped) training run.
    Trained {
        /// The trained parameters (W0, b0, W1, ..., flattened), for the
        /// cell's model.
        parameters: Vec<Vec<f32>>,
        /// The loss of every step taken.
        losses: Vec<f32>,
        /// Set when the user stopped the run early (the parameters are
        /// those of the steps taken so far, as on the CPU).
        stopped: Option<MethodError>,
    },
    /// The job failed (bad settings, divergence): the replayed call raises
    /// this error at its own line, as it would have on the CPU.
    Failed(MethodError),
}

/// A host-supplied runner for [`Compute::Sync`].
pub type JobRunner = Rc<dyn Fn(&Job, &mut Monitor<'_>) -> Result<JobOutput, MethodError>>;

/// Where a session's jobs run.
#[derive(Clone, Default)]
pub enum Compute {
    /// Inside the cell, on the CPU.
    #[default]
    Cpu,
    /// Inside the cell, by a runner that may block (e.g. [`run_on`] with a
    /// native GPU backend).
    Sync(JobRunner),
    /// Outside the cell: a job suspends the cell for the host to run it.
    Deferred,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compute::Cpu => "Cpu",
            Compute::Sync(_) => "Sync",
            Compute::Deferred => "Deferred",
        })
    }
}

/// Runs `job` on `backend`, reading each loss as it goes (blocking on a
/// GPU: native hosts only). `monitor` sees every step and may stop the run.
///
/// # Errors
///
/// Bad settings, divergence, or a backend failure.
pub fn run_on<B: Backend>(backend: &B, job: &Job, monitor: &mut Monitor<'_>) -> Result<JobOutput, MethodError> {
    let mut trainer = job.trainer(backend)?;
    let (losses, outcome) = training::run(&mut trainer, monitor)?;
    let stopped = match outcome {
        Ok(()) => None,
        Err(err @ MethodError::Stopped { .. }) => Some(err),
        Err(err) => return Err(err),
    };
    let parameters = training::read_parameters(&trainer.final_parameters())?;
    Ok(JobOutput::Trained { parameters, losses, stopped })
}

/// Whether `err` is the device failing (lost, out of memory, a read it
/// cannot do, an element type it lacks) rather than the run itself: a host
/// then runs the job on the CPU instead (a diverging run would diverge there
/// too, so that is not a device failure).
pub fn is_device_failure(err: &MethodError) -> bool {
    use odeon_autodiff::AutodiffError;
    use odeon_nn::NnError;
    use odeon_tensor::TensorError;
    let tensor = match err {
        MethodError::Tensor(t) | MethodError::Nn(NnError::Tensor(t)) => Some(t),
        MethodError::Autodiff(AutodiffError::Tensor(t)) | MethodError::Nn(NnError::Autodiff(AutodiffError::Tensor(t))) => Some(t),
        _ => None,
    };
    matches!(tensor, Some(TensorError::Device(_) | TensorError::Unsupported { .. }))
}

/// Turns training steps into the events a cell shows: a progress bar
/// several times a second and a loss curve twenty times per run. The worker
/// uses it too, for jobs it runs outside the cell.
#[derive(Debug, Clone)]
pub struct TrainingProgress {
    losses: Vec<f32>,
    progress_every: usize,
    plot_every: usize,
}

impl TrainingProgress {
    /// For a run of `total` steps.
    pub fn new(total: usize) -> TrainingProgress {
        TrainingProgress {
            losses: Vec::with_capacity(total),
            // Frequent enough that the bar moves several times a second, rare
            // enough that messages cost nothing next to a training step.
            progress_every: (total / 200).clamp(1, 10),
            plot_every: (total / 20).clamp(1, 250),
        }
    }

    /// Records the loss of `step` (1-based) of `total` and sends the events
    /// due to `sink`.
    pub fn observe(&mut self, step: usize, total: usize, loss: f32, sink: &mut dyn FnMut(Event)) {
        self.losses.push(loss);
        if step.is_multiple_of(self.progress_every) || step == total {
            sink(Event::Progress { label: "training".into(), done: step as u64, total: total as u64, loss: Some(loss) });
        }
        if step.is_multiple_of(self.plot_every) || step == total {
            sink(self.loss_plot());
        }
    }

    /// The loss curve so far.
    pub fn loss_plot(&self) -> Event {
        loss_plot("loss", "Training loss", &self.losses)
    }
}

/// The state of the cell being run, for the script functions.
#[derive(Default)]
pub(crate) struct CellContext {
    pub(crate) compute: Compute,
    /// Outputs of the jobs this cell has already run, in call order.
    pub(crate) memo: Vec<(Job, JobOutput)>,
    /// Jobs called so far in this pass.
    pub(crate) calls: usize,
    /// The job that suspended this pass.
    pub(crate) pending: Option<Job>,
    /// Events the script sent in this pass.
    pub(crate) emitted: usize,
    /// Events of a previous pass still to swallow (already sent).
    pub(crate) skip: usize,
}

thread_local! {
    pub(crate) static CELL: RefCell<CellContext> = RefCell::new(CellContext::default());
}

/// The marker a suspending call raises (uncatchable by scripts).
pub(crate) const SUSPEND: &str = "odeon: suspended for a job";

/// A script's training call: runs `job` ([`run`]), hands the trained
/// parameters to `apply` (the cell's model) and returns the losses; a stop
/// (after the parameters so far are applied) or a failure is the call's
/// error.
pub(crate) fn train(job: Job, apply: impl FnOnce(&[Vec<f32>]) -> Result<(), MethodError>) -> Fallible<rhai::Array> {
    let (parameters, losses, stopped) = match run(job, &super::should_stop)? {
        JobOutput::Trained { parameters, losses, stopped } => (parameters, losses, stopped),
        JobOutput::Failed(err) => return Err(method_error(err)),
    };
    apply(&parameters).map_err(method_error)?;
    if let Some(err) = stopped {
        return Err(method_error(err));
    }
    Ok(losses.into_iter().map(|l| Dynamic::from_float(f64::from(l))).collect())
}

/// Runs `job` through the session's [`Compute`], reporting progress as the
/// cell's events; `None` with a suspension error when deferred.
pub(crate) fn run(job: Job, should_stop: &dyn Fn() -> bool) -> Fallible<JobOutput> {
    let compute = CELL.with(|c| c.borrow().compute.clone());
    let mut progress = TrainingProgress::new(job.steps());
    let mut monitor = |step: usize, total: usize, loss: f32| {
        progress.observe(step, total, loss, &mut emit);
        !should_stop()
    };
    match compute {
        Compute::Cpu => run_on(&Cpu, &job, &mut monitor).map_err(method_error),
        Compute::Sync(runner) => runner(&job, &mut monitor).map_err(method_error),
        Compute::Deferred => {
            let stored = CELL.with(|c| {
                let mut c = c.borrow_mut();
                let k = c.calls;
                c.calls += 1;
                match c.memo.get(k) {
                    Some((called, output)) if called.same_call(&job) => Some(output.clone()),
                    _ => {
                        c.memo.truncate(k);
                        c.pending = Some(job.clone());
                        None
                    }
                }
            });
            match stored {
                Some(JobOutput::Failed(err)) => Err(method_error(err)),
                Some(output) => {
                    if let JobOutput::Trained { losses, .. } = &output {
                        emit(loss_plot("loss", "Training loss", losses));
                    }
                    Ok(output)
                }
                None => Err(Box::new(EvalAltResult::ErrorTerminated(Dynamic::from(SUSPEND), Position::NONE))),
            }
        }
    }
}
