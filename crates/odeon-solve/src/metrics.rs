//! Sample metrics on plain `f64` data: sliced and exact Wasserstein
//! distances, the Hungarian assignment, MMD, Kolmogorov–Smirnov tests and
//! log-log slope fits for convergence orders.
//!
//! # Data layout
//!
//! A point set is a `&[f64]` holding `n` points of dimension `d` **row-major**
//! (point `i` is `points[i*d .. (i+1)*d]`), with `d` passed alongside. The
//! length must be a positive multiple of `d`, and every value finite;
//! otherwise the functions return a [`MetricsError`] naming the problem.
//! To use a `Tensor` of shape `[n, d]`, pass its `f64` data and `d`.
//!
//! # Determinism
//!
//! Random directions (sliced Wasserstein) come from the caller's
//! [`SeedStream`](odeon_tensor::SeedStream); transcendentals go through
//! `libm`; every sum runs in a fixed order. The same inputs give the same
//! bits natively and in the browser.
//!
//! # Contents
//!
//! * [`sliced_wasserstein`], [`wasserstein_1d`]: Rabin et al. (2011);
//!   Bonneel et al. (2015), *Sliced and Radon Wasserstein Barycenters of
//!   Measures*.
//! * [`hungarian`], [`hungarian_rectangular`], [`wasserstein_exact`]: the
//!   shortest-augmenting-path Hungarian algorithm with potentials, O(n³)
//!   (Kuhn 1955; Munkres 1957; Jonker & Volgenant 1987, *A shortest
//!   augmenting path algorithm for dense and sparse linear assignment
//!   problems*, Computing 38).
//! * [`mmd2`], [`median_bandwidth`]: Gretton et al. (2012), *A Kernel
//!   Two-Sample Test*, JMLR 13 (biased and unbiased estimators, Eqs. 3–5).
//! * [`ks_test`], [`ks_two_sample`], [`kolmogorov_survival`]: Kolmogorov's
//!   limiting distribution with Stephens' (1970) small-sample correction
//!   `(√n + 0.12 + 0.11/√n) D`, as in Numerical Recipes §14.3.
//! * [`loglog_slope`], [`linear_fit`]: ordinary least squares.

use crate::special::SpecialError;

mod fit;
mod ks;
mod mmd;
mod transport;
mod wasserstein;

pub use fit::{LinearFit, linear_fit, loglog_slope};
pub use ks::{KsResult, kolmogorov_survival, ks_test, ks_two_sample};
pub use mmd::{Kernel, MmdEstimator, median_bandwidth, mmd2};
pub use transport::{Assignment, hungarian, hungarian_rectangular};
pub use wasserstein::{ExactTransport, sliced_wasserstein, wasserstein_1d, wasserstein_exact};

/// Why a metric could not be computed. Each message says what was given
/// and what was expected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// The point dimension `d` was 0.
    #[error("points need dimension d >= 1; got d = 0")]
    ZeroDimension,
    /// A point set's length is not a multiple of its dimension.
    #[error("{which} has {len} values, which is not a whole number of points of dimension {d}")]
    Ragged {
        /// Which input (e.g. `"the first point set"`).
        which: &'static str,
        /// Its number of values.
        len: usize,
        /// The dimension given.
        d: usize,
    },
    /// An input that needs at least `needed` items had fewer.
    #[error("{which} needs at least {needed} points/values; got {got}")]
    TooFew {
        /// Which input.
        which: &'static str,
        /// The minimum.
        needed: usize,
        /// The number given.
        got: usize,
    },
    /// A value was NaN or infinite.
    #[error("{which} contains a non-finite value ({value}) at position {index}")]
    NonFinite {
        /// Which input.
        which: &'static str,
        /// Flat position of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Two inputs that must have equal sizes do not.
    #[error("{what} needs equal sizes; got {left} and {right}")]
    SizeMismatch {
        /// What needs them equal.
        what: &'static str,
        /// The first size.
        left: usize,
        /// The second size.
        right: usize,
    },
    /// The Wasserstein order `p` is not a finite number `>= 1`.
    #[error("the Wasserstein order p must be a finite number >= 1 (1 or 2 usually); got {p}")]
    InvalidOrder {
        /// The order given.
        p: f64,
    },
    /// Sliced Wasserstein was asked for zero projections.
    #[error("sliced Wasserstein needs at least one projection; got 0")]
    NoProjections,
    /// A kernel bandwidth is not positive and finite.
    #[error("the kernel bandwidth must be positive and finite; got {bandwidth}")]
    InvalidBandwidth {
        /// The bandwidth given.
        bandwidth: f64,
    },
    /// A cost matrix has the wrong number of entries for its shape, or more
    /// rows than columns.
    #[error("a cost matrix of {rows} x {cols} (rows <= cols) needs {expected} entries; got {len}")]
    CostShape {
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
        /// Entries expected (`rows * cols`), or 0 when `rows > cols`.
        expected: usize,
        /// Entries given.
        len: usize,
    },
    /// The assignment search failed to find an augmenting path (only
    /// possible with costs so large that their differences overflow).
    #[error("the assignment search failed; the costs are too large in magnitude (differences overflow); rescale them")]
    AssignmentFailed,
    /// A CDF returned a value outside `[0, 1]` or NaN.
    #[error("the CDF returned {value} at x = {x}; a CDF must return values in [0, 1]")]
    InvalidCdf {
        /// Where it was evaluated.
        x: f64,
        /// What it returned.
        value: f64,
    },
    /// A log-log fit got a value that is not positive.
    #[error("a log-log fit needs positive values; {which}[{index}] is {value}")]
    NotPositive {
        /// `"xs"` or `"ys"`.
        which: &'static str,
        /// Its position.
        index: usize,
        /// The value.
        value: f64,
    },
    /// All x values of a fit are equal, so the slope is undefined.
    #[error("a line fit needs at least two distinct x values; all {count} are equal")]
    DegenerateFit {
        /// Number of points given.
        count: usize,
    },
    /// A special function failed (e.g. a bad distribution parameter).
    #[error(transparent)]
    Special(#[from] SpecialError),
}

/// Checks a row-major point set and returns its number of points.
pub(crate) fn check_points(which: &'static str, points: &[f64], d: usize) -> Result<usize, MetricsError> {
    if d == 0 {
        return Err(MetricsError::ZeroDimension);
    }
    if !points.len().is_multiple_of(d) {
        return Err(MetricsError::Ragged { which, len: points.len(), d });
    }
    let n = points.len() / d;
    if n == 0 {
        return Err(MetricsError::TooFew { which, needed: 1, got: 0 });
    }
    check_finite(which, points)?;
    Ok(n)
}

/// Checks that every value is finite.
pub(crate) fn check_finite(which: &'static str, values: &[f64]) -> Result<(), MetricsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricsError::NonFinite { which, index, value: values[index] }),
        None => Ok(()),
    }
}

/// Checks a Wasserstein order.
pub(crate) fn check_order(p: f64) -> Result<(), MetricsError> {
    if p.is_finite() && p >= 1.0 { Ok(()) } else { Err(MetricsError::InvalidOrder { p }) }
}

/// `|t|^p`, exact for `p = 1` and `p = 2`.
pub(crate) fn abs_pow(t: f64, p: f64) -> f64 {
    if p == 1.0 {
        t.abs()
    } else if p == 2.0 {
        t * t
    } else {
        libm::pow(t.abs(), p)
    }
}

/// `x^(1/p)`, exact-rounded `sqrt` for `p = 2`.
pub(crate) fn root(x: f64, p: f64) -> f64 {
    if p == 1.0 {
        x
    } else if p == 2.0 {
        libm::sqrt(x)
    } else {
        libm::pow(x, 1.0 / p)
    }
}

/// Squared Euclidean distance, summed in coordinate order.
pub(crate) fn sq_dist(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}
