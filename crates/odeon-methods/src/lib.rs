//! # odeon-methods
//!
//! One module per method of the catalogue: the data it trains on, its
//! training loop, its sampler and its evaluation. Notebooks call these Rust
//! functions from script cells; native tests call them directly to check each
//! method's success criterion.
//!
//! Long loops report progress through a [`Monitor`] callback, which can also
//! stop them: the playground's Stop button and the CLI's Ctrl-C both end a run
//! this way, between two steps.

pub mod adjoint_dpm;
pub mod data;
pub mod diffusion;
pub mod gauge;
pub mod gmm;
pub mod interpolants;
pub mod metrics;
pub mod neural_de;
pub mod pfgm;
pub mod rectified_flow;
pub mod regularization;
pub mod training;

use odeon_autodiff::AutodiffError;
use odeon_nn::NnError;
use odeon_tensor::TensorError;

/// Called after every training step with `(step, total_steps, loss)`;
/// returns `false` to stop the run.
pub type Monitor<'a> = dyn FnMut(usize, usize, f32) -> bool + 'a;

/// Why a method could not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MethodError {
    /// The user stopped the run.
    #[error("stopped by the user after {step} of {total} steps")]
    Stopped {
        /// Steps completed.
        step: usize,
        /// Steps requested.
        total: usize,
    },
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}: the loss became {loss}; try a smaller learning rate")]
    Diverged {
        /// The step where it happened.
        step: usize,
        /// The offending value.
        loss: f32,
    },
    /// A bad setting.
    #[error("{0}")]
    Config(String),
    /// A model error.
    #[error(transparent)]
    Nn(#[from] NnError),
    /// A tensor error.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A differentiation error.
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    /// A solver error.
    #[error(transparent)]
    Solve(#[from] odeon_solve::ode::SolveError),
    /// A metric error.
    #[error(transparent)]
    Metric(#[from] odeon_solve::metrics::MetricsError),
    /// An SDE solve or Brownian-path error.
    #[error(transparent)]
    Sde(#[from] odeon_solve::sde::SdeError),
    /// A spline could not be fitted.
    #[error(transparent)]
    Spline(#[from] odeon_solve::interpolate::SplineError),
}
