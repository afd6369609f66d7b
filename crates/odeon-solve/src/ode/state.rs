//! [`OdeState`]: what a Runge-Kutta step needs from a state.

use odeon_autodiff::Var;
use odeon_tensor::{Backend, UnaryOp};

use super::SolveError;

/// A state the solvers can integrate: a plain `Vec<f64>` or an autodiff
/// [`Var`] (any shape, any backend).
///
/// Only linear combinations are needed to take a step. Error control, the
/// stiffness estimate and the choice of step sizes read [`OdeState::values`]
/// and are never differentiated. The last three methods build the
/// *differentiable* copies of the error and stiffness estimates that the
/// solver regularisers need ([`super::Regularizers`], [`super::single_step`]);
/// they return one-element states (a scalar `Var`, a one-value `Vec`).
pub trait OdeState: Clone {
    /// `self + sum_i coeff_i * term_i`. Terms with a zero coefficient may be
    /// skipped (for a `Var` they then record nothing on the tape).
    fn lincomb(&self, terms: &[(f64, &Self)]) -> Result<Self, SolveError>;

    /// The values, flattened row-major, as `f64`.
    fn values(&self) -> Result<Vec<f64>, SolveError>;

    /// `c * self`.
    fn scaled_by(&self, c: f64) -> Result<Self, SolveError>;

    /// The scaled RMS norm of `self` (a local error estimate) as a
    /// one-element state, differentiable with respect to all three states:
    /// `sqrt(mean_i (self_i / (atol + rtol * max(|y_prev_i|, |y_new_i|)))^2)`,
    /// the value of [`super::error_norm`]. A norm of exactly 0 is returned
    /// with a zero gradient (the square root has none there).
    fn scaled_rms(
        &self,
        y_prev: &Self,
        y_new: &Self,
        rtol: f64,
        atol: f64,
    ) -> Result<Self, SolveError>;

    /// `rms(self) / rms(den)` as a one-element state, differentiable; 0 (with
    /// a zero gradient) when either RMS is 0 or the ratio is not finite.
    fn rms_ratio(&self, den: &Self) -> Result<Self, SolveError>;
}

fn rms_plain(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    libm::sqrt(v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64)
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

    fn scaled_by(&self, c: f64) -> Result<Self, SolveError> {
        Ok(self.iter().map(|x| c * x).collect())
    }

    fn scaled_rms(
        &self,
        y_prev: &Self,
        y_new: &Self,
        rtol: f64,
        atol: f64,
    ) -> Result<Self, SolveError> {
        if y_prev.len() != self.len() || y_new.len() != self.len() {
            return Err(SolveError::BadArgument(format!(
                "an error estimate of {} values needs states of the same size, got {} and {}",
                self.len(),
                y_prev.len(),
                y_new.len()
            )));
        }
        Ok(vec![super::error_norm(self, y_prev, y_new, rtol, atol)])
    }

    fn rms_ratio(&self, den: &Self) -> Result<Self, SolveError> {
        let (n, d) = (rms_plain(self), rms_plain(den));
        let r = n / d;
        Ok(vec![if d > 0.0 && r.is_finite() { r } else { 0.0 }])
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

    fn scaled_by(&self, c: f64) -> Result<Self, SolveError> {
        Ok(self.scale(c)?)
    }

    /// The scale `atol + rtol * max(|y_prev|, |y_new|)` is differentiated
    /// too, as in the official implementation (which evaluates the same
    /// expression with its autodiff arrays).
    fn scaled_rms(
        &self,
        y_prev: &Self,
        y_new: &Self,
        rtol: f64,
        atol: f64,
    ) -> Result<Self, SolveError> {
        let scale = y_prev
            .unary(UnaryOp::Abs)?
            .maximum(&y_new.unary(UnaryOp::Abs)?)?
            .scale(rtol)?
            .add_scalar(atol)?;
        let mean_square = self.div(&scale)?.unary(UnaryOp::Square)?.mean()?;
        sqrt_or_zero(&mean_square)
    }

    fn rms_ratio(&self, den: &Self) -> Result<Self, SolveError> {
        let num = self.unary(UnaryOp::Square)?.mean()?;
        let den = den.unary(UnaryOp::Square)?.mean()?;
        let (nv, dv) = (num.value().item()?, den.value().item()?);
        if !(nv > 0.0 && dv > 0.0 && (nv / dv).is_finite()) {
            return Ok(num.scale(0.0)?);
        }
        Ok(num.unary(UnaryOp::Sqrt)?.div(&den.unary(UnaryOp::Sqrt)?)?)
    }
}

/// `sqrt(x)` for a scalar `x >= 0`; 0 with a zero gradient at `x = 0`.
fn sqrt_or_zero<B: Backend>(x: &Var<B>) -> Result<Var<B>, SolveError> {
    if x.value().item()? == 0.0 {
        Ok(x.scale(0.0)?)
    } else {
        Ok(x.unary(UnaryOp::Sqrt)?)
    }
}
