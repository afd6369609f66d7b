//! [`OdeState`]: what a Runge-Kutta step needs from a state.

use odeon_autodiff::Var;
use odeon_tensor::Backend;

use super::SolveError;

/// A state the solvers can integrate: a plain `Vec<f64>` or an autodiff
/// [`Var`] (any shape, any backend).
///
/// Only linear combinations are needed to take a step. Error control, the
/// stiffness estimate and the choice of step sizes read [`OdeState::values`]
/// and are never differentiated.
pub trait OdeState: Clone {
    /// `self + sum_i coeff_i * term_i`. Terms with a zero coefficient may be
    /// skipped (for a `Var` they then record nothing on the tape).
    fn lincomb(&self, terms: &[(f64, &Self)]) -> Result<Self, SolveError>;

    /// The values, flattened row-major, as `f64`.
    fn values(&self) -> Result<Vec<f64>, SolveError>;
}

impl OdeState for Vec<f64> {
    fn lincomb(&self, terms: &[(f64, &Self)]) -> Result<Self, SolveError> {
        let mut out = self.clone();
        for &(c, term) in terms {
            if term.len() != out.len() {
                return Err(SolveError::BadArgument(format!(
                    "the vector field returned {} values for a state of {} values",
                    term.len(),
                    out.len()
                )));
            }
            if c != 0.0 {
                for (o, t) in out.iter_mut().zip(term) {
                    *o += c * t;
                }
            }
        }
        Ok(out)
    }

    fn values(&self) -> Result<Vec<f64>, SolveError> {
        Ok(self.clone())
    }
}

/// Each term is recorded as `scale` and `add` on the tape when either side is
/// tracked, so gradients flow through every step that is taken.
impl<B: Backend> OdeState for Var<B> {
    fn lincomb(&self, terms: &[(f64, &Self)]) -> Result<Self, SolveError> {
        let mut out = self.clone();
        for &(c, term) in terms {
            if term.value().shape() != self.value().shape() {
                return Err(SolveError::BadArgument(format!(
                    "the vector field returned shape {:?} for a state of shape {:?}",
                    term.value().shape(),
                    self.value().shape()
                )));
            }
            if c == 0.0 {
                continue;
            }
            let scaled = if c == 1.0 {
                term.clone()
            } else {
                term.scale(c)?
            };
            out = out.add(&scaled)?;
        }
        Ok(out)
    }

    fn values(&self) -> Result<Vec<f64>, SolveError> {
        Ok(self.value().to_f64_vec()?)
    }
}
