//! # odeon-solve
//!
//! Solvers that notebooks call inside training, in the spirit of diffrax:
//! one entry point per family, swappable parts, and statistics a notebook
//! can plot.
//!
//! * [`ode`]: `solve_ode` with fixed-step and adaptive Runge-Kutta methods,
//!   a PI step-size controller, dense output and per-step statistics;
//!   [`adjoint`]: gradients through a solve (discretise-then-optimise and
//!   continuous adjoints);
//! * [`sde`]: Euler-Maruyama, Stratonovich Heun, reversible Heun and a
//!   Brownian interval;
//! * [`linalg`]: dense factorisations on faer, matrix-free Krylov solvers,
//!   tridiagonal and DCT-based Poisson/Helmholtz solves;
//! * [`interpolate`]: natural cubic splines through irregular vector data
//!   (value and derivative anywhere; the control paths of neural CDEs);
//! * [`implicit`]: root finding, Anderson-accelerated fixed points and
//!   implicit differentiation;
//! * [`special`] and [`metrics`]: special functions and sample metrics.

#[cfg(feature = "ode")]
pub mod adjoint;
#[cfg(feature = "implicit")]
pub mod implicit;
#[cfg(feature = "interpolate")]
pub mod interpolate;
#[cfg(feature = "linalg")]
pub mod linalg;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "ode")]
pub mod ode;
#[cfg(feature = "sde")]
pub mod sde;
#[cfg(feature = "special")]
pub mod special;
