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

use odeon_methods::rectified_flow::{Coupling, Objective, TrainConfig, VelocityModel, train_on};
use odeon_methods::{MethodError, Monitor};
use odeon_tensor::{Backend, Cpu};
use rhai::{Dynamic, EvalAltResult, Position};

use super::outputs::loss_plot;
use super::{Fallible, emit, method_error};
use crate::events::Event;

/// Work a cell hands to a device.
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
}

impl Job {
    /// Layer sizes and batch of the network the job trains (what the
    /// backend policy weighs).
    pub fn mlp_work(&self) -> (Vec<usize>, usize) {
        match self {
            Job::TrainRectifiedFlow { model, config, .. } => {
                let mut sizes = vec![odeon_nn::Module::parameters(&model.net).first().map_or(0, |w| w.shape()[0])];
                sizes.extend(odeon_nn::Module::parameters(&model.net).iter().step_by(2).map(|w| w.shape()[1]));
                (sizes, config.batch)
            }
        }
    }

    /// Steps the job takes.
    pub fn steps(&self) -> usize {
        match self {
            Job::TrainRectifiedFlow { config, .. } => config.steps,
        }
    }

    /// Whether `other` is the same call (same settings and architecture):
    /// the check a replayed cell makes before taking a stored output.
    fn same_call(&self, other: &Job) -> bool {
        match (self, other) {
            (
                Job::TrainRectifiedFlow { model: a, coupling: ta, objective: oa, config: ca },
                Job::TrainRectifiedFlow { model: b, coupling: tb, objective: ob, config: cb },
            ) => ta == tb && oa == ob && ca == cb && self.mlp_work() == other.mlp_work() && a.dim == b.dim,
        }
    }
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutput {
    /// A finished (or stopped) training run.
    Trained {
        /// The trained model, on the CPU.
        model: VelocityModel,
        /// The loss of every step taken.
        losses: Vec<f32>,
        /// Set when the user stopped the run early (the model holds the
        /// steps taken so far, as on the CPU).
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
    match job {
        Job::TrainRectifiedFlow { model, coupling, objective, config } => {
            let mut model = model.clone();
            let mut losses = Vec::with_capacity(config.steps);
            let result = train_on(backend, &mut model, coupling, objective, config, &mut |step, total, loss| {
                losses.push(loss);
                monitor(step, total, loss)
            });
            match result {
                Ok(_) => Ok(JobOutput::Trained { model, losses, stopped: None }),
                Err(err @ MethodError::Stopped { .. }) => Ok(JobOutput::Trained { model, losses, stopped: Some(err) }),
                Err(err) => Err(err),
            }
        }
    }
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
