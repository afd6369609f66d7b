//! Element types and the deterministic scalar math every backend shares.

use serde::{Deserialize, Serialize};

/// The element type of a tensor, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// 32-bit float: training, the GPU.
    F32,
    /// 64-bit float: solvers, gradient checks, reference computations.
    F64,
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

/// A float element with deterministic transcendental functions.
///
/// Every function goes through [`libm`] (never the platform's math library),
/// so a computation gives the same bits natively and in the browser.
pub trait Real:
    Copy
    + PartialOrd
    + std::fmt::Debug
    + std::fmt::Display
    + Default
    + Send
    + Sync
    + 'static
    + ndarray::LinalgScalar
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
{
    /// The matching [`DType`].
    const DTYPE: DType;
    /// Conversion from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Conversion to `f64` (exact).
    fn to_f64(self) -> f64;
    /// `e^x`
    fn exp(self) -> Self;
    /// natural logarithm
    fn ln(self) -> Self;
    /// sine
    fn sin(self) -> Self;
    /// cosine
    fn cos(self) -> Self;
    /// hyperbolic tangent
    fn tanh(self) -> Self;
    /// square root (correctly rounded everywhere)
    fn sqrt(self) -> Self;
    /// `ln(1 + e^x)` without overflow
    fn softplus(self) -> Self {
        let zero = Self::default();
        let ax = if self < zero { -self } else { self };
        let m = if self > zero { self } else { zero };
        m + (Self::one() + (-ax).exp()).ln()
    }
    /// logistic sigmoid without overflow
    fn sigmoid(self) -> Self {
        if self >= Self::default() {
            Self::one() / (Self::one() + (-self).exp())
        } else {
            let e = self.exp();
            e / (Self::one() + e)
        }
    }
    /// `|x|`
    fn abs(self) -> Self {
        if self < Self::default() { -self } else { self }
    }
    /// `x^p` for a real power
    fn powf(self, p: Self) -> Self;
    /// True when finite.
    fn is_finite(self) -> bool;
}

impl Real for f32 {
    const DTYPE: DType = DType::F32;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn exp(self) -> Self {
        libm::expf(self)
    }
    fn ln(self) -> Self {
        libm::logf(self)
    }
    fn sin(self) -> Self {
        libm::sinf(self)
    }
    fn cos(self) -> Self {
        libm::cosf(self)
    }
    fn tanh(self) -> Self {
        libm::tanhf(self)
    }
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    fn powf(self, p: Self) -> Self {
        libm::powf(self, p)
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Real for f64 {
    const DTYPE: DType = DType::F64;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        libm::exp(self)
    }
    fn ln(self) -> Self {
        libm::log(self)
    }
    fn sin(self) -> Self {
        libm::sin(self)
    }
    fn cos(self) -> Self {
        libm::cos(self)
    }
    fn tanh(self) -> Self {
        libm::tanh(self)
    }
    fn sqrt(self) -> Self {
        libm::sqrt(self)
    }
    fn powf(self, p: Self) -> Self {
        libm::pow(self, p)
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}
