//! Root finding, fixed points and implicit differentiation.
//!
//! * [`newton`] (dense Jacobian, LU) and [`newton_krylov`] (matrix-free
//!   Jacobian-vector products, GMRES) solve `F(x) = 0`, optionally damped
//!   by a backtracking (Armijo) line search on `|F|`.
//! * [`fixed_point`] iterates `x ← g(x)`, plainly or with Anderson
//!   acceleration (Walker and Ni 2011, "Anderson acceleration for
//!   fixed-point iterations", SIAM J. Numer. Anal. 49(4)), with a
//!   Tikhonov-regularised least-squares step.
//! * [`implicit_vjp`] and [`fixed_point_vjp`] differentiate a solution
//!   `x*(θ)` of `F(x, θ) = 0` (or `x = g(x, θ)`) by the implicit function
//!   theorem: for a cotangent `v = ∂L/∂x*`,
//!   `∂L/∂θ = -wᵀ ∂F/∂θ` where `(∂F/∂x)ᵀ w = v`. The adjoint system is
//!   solved matrix-free with GMRES, each product `wᵀ ∂F/∂x` being one
//!   reverse pass of odeon-autodiff over a tape recorded once at `(x*, θ)`.
//!   Only `x*` is needed, not the solver that found it, so any inner solver
//!   (or none) can be used; see Blondel et al. 2022, "Efficient and modular
//!   implicit differentiation" (NeurIPS), and Bai, Kolter and Koltun 2019,
//!   "Deep equilibrium models".
//!
//! Non-convergence of a root or fixed-point search is reported with
//! `converged: false` next to the residual history (so it can be plotted);
//! non-convergence of the adjoint solve is an error, because a wrong
//! gradient is worse than none.
//!
//! References: C. T. Kelley, *Iterative Methods for Linear and Nonlinear
//! Equations* (SIAM, 1995); J. Nocedal and S. Wright, *Numerical
//! Optimization* (2nd ed., 2006), ch. 11.

mod diff;
mod fixed_point;
mod root;

pub use diff::{ImplicitVjp, fixed_point_vjp, implicit_vjp};
pub use fixed_point::{Anderson, FixedPointOptions, FixedPointSolution, fixed_point};
pub use root::{NewtonOptions, RootSolution, newton, newton_krylov};

use crate::linalg::LinalgError;
use odeon_autodiff::AutodiffError;
use odeon_tensor::TensorError;

/// Why a root, fixed-point or implicit-gradient computation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImplicitError {
    /// A linear solve failed.
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// Differentiating the residual function failed.
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// The user's function returned something unusable.
    #[error("the function {0}")]
    Function(String),
    /// An invalid option or argument.
    #[error("{0}")]
    Parameter(String),
    /// The adjoint system of an implicit gradient was not solved to tolerance.
    #[error(
        "the implicit gradient's adjoint solve did not converge: residual {residual:e} after {iterations} GMRES iterations (is ∂F/∂x singular at this point, or is x* not a solution?)"
    )]
    AdjointNotConverged {
        /// Last residual norm.
        residual: f64,
        /// Iterations spent.
        iterations: usize,
    },
}

/// Checks a function value against the expected length and for NaN.
pub(crate) fn check_value(value: &[f64], n: usize, what: &str) -> Result<(), ImplicitError> {
    if value.len() != n {
        return Err(ImplicitError::Function(format!(
            "{what} returned {} values for an input of length {n}",
            value.len()
        )));
    }
    if !value.iter().all(|v| v.is_finite()) {
        return Err(ImplicitError::Function(format!("{what} returned NaN or infinite values")));
    }
    Ok(())
}
