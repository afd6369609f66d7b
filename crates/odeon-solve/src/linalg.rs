//! Linear algebra and spectral solves.
//!
//! * [`Matrix`]: a small dense, row-major `f64` matrix used at the API
//!   boundary (plain `Vec<f64>` plus dimensions, so a notebook can build one
//!   from lists). Conversions to and from faer's `Mat<f64>` are provided
//!   ([`Matrix::to_faer`], [`Matrix::from_faer`]) for callers that want faer
//!   directly.
//! * Dense factorisations wrapping [faer](https://faer-rs.github.io) 0.24:
//!   [`Lu`] (partial pivoting), [`Cholesky`], [`Qr`] (least squares),
//!   [`eigh`] (symmetric eigenproblem), [`eig`] (general real matrix, complex
//!   eigenvalues), [`svd`] (thin SVD). Every input is checked first (shape,
//!   finiteness), so faer's internal assertions are never reached and no call
//!   panics.
//! * Matrix-free Krylov solvers: [`cg`] (conjugate gradients, Hestenes and
//!   Stiefel 1952) and [`gmres`] (restarted GMRES(m), Saad and Schultz 1986),
//!   which only need a closure `v ↦ A v`.
//! * [`solve_tridiagonal`]: the Thomas algorithm.
//! * Spectral: [`dct2`] / [`dct3`] (O(n log n) via rustfft, Makhoul 1980),
//!   their 2-D versions, and Helmholtz/Poisson solves with homogeneous
//!   Neumann boundaries on a cell-centred grid ([`helmholtz_neumann_1d`],
//!   [`helmholtz_neumann_2d`]).
//!
//! References: G. H. Golub and C. F. Van Loan, *Matrix Computations* (4th
//! ed., 2013); Y. Saad, *Iterative Methods for Sparse Linear Systems* (2nd
//! ed., 2003); J. Makhoul, "A fast cosine transform in one and two
//! dimensions", IEEE TASSP 28(1), 1980; G. Strang, "The discrete cosine
//! transform", SIAM Review 41(1), 1999.

mod dense;
mod krylov;
mod spectral;
mod tridiagonal;

pub use dense::{Cholesky, Eigen, Lu, Matrix, Qr, Svd, SymmetricEigen, eig, eigh, lstsq, lu_solve, svd};
pub use krylov::{KrylovOptions, KrylovSolution, cg, gmres, try_cg, try_gmres};
pub use rustfft::num_complex::Complex64;
pub use spectral::{
    Dct, HelmholtzSolution, apply_neumann_helmholtz_1d, apply_neumann_helmholtz_2d, dct2, dct2_2d, dct3, dct3_2d,
    helmholtz_neumann_1d, helmholtz_neumann_2d,
};
pub use tridiagonal::solve_tridiagonal;

/// Why a linear-algebra routine could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinalgError {
    /// Shapes or lengths that do not fit together.
    #[error("{0}")]
    Dimension(String),
    /// An input contains NaN or infinity.
    #[error("the {0} contains NaN or infinite values")]
    NonFinite(&'static str),
    /// A zero pivot: the matrix is singular to working precision.
    #[error("the matrix is singular (or nearly so): pivot {index} is zero to working precision")]
    Singular {
        /// Row of the failing pivot.
        index: usize,
    },
    /// Cholesky met a non-positive pivot.
    #[error("the matrix is not symmetric positive definite: the Cholesky pivot at row {index} is not positive")]
    NotPositiveDefinite {
        /// Row of the failing pivot.
        index: usize,
    },
    /// A symmetric routine was given a non-symmetric matrix.
    #[error("the matrix is not symmetric: entries ({i}, {j}) and ({j}, {i}) differ")]
    NotSymmetric {
        /// Row.
        i: usize,
        /// Column.
        j: usize,
    },
    /// An iterative eigen/singular value algorithm ran out of iterations.
    #[error("the {0} did not converge")]
    NoConvergence(&'static str),
    /// A Krylov method broke down (e.g. CG on a matrix that is not positive definite).
    #[error("{0}")]
    Breakdown(String),
    /// The user's operator failed or returned a vector of the wrong length.
    #[error("the linear operator failed: {0}")]
    Operator(String),
    /// An invalid parameter (negative shift, zero grid spacing, ...).
    #[error("{0}")]
    Parameter(String),
}

/// Errors if any value is NaN or infinite.
pub(crate) fn check_finite(values: &[f64], what: &'static str) -> Result<(), LinalgError> {
    if values.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(LinalgError::NonFinite(what)) }
}

/// Euclidean norm.
pub(crate) fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Dot product.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
