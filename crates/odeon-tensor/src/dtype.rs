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
    /// logistic sigmoid without overflow (branch-free, so it vectorises)
    #[inline(always)]
    fn sigmoid(self) -> Self {
        let e = (-self.abs()).exp();
        let r = Self::one() / (Self::one() + e);
        if self >= Self::default() { r } else { e * r }
    }
    /// `|x|`
    #[inline(always)]
    fn abs(self) -> Self {
        if self < Self::default() { -self } else { self }
    }
    /// `x^p` for a real power
    fn powf(self, p: Self) -> Self;
    /// True when finite.
    fn is_finite(self) -> bool;
}

/// `e^x` for `f32` by range reduction and a degree-7 Taylor polynomial on
/// `|r| <= ln2/2`, using only IEEE basic arithmetic and bit operations: the
/// same bits on every target, and branch-free, so loops over it vectorise
/// (libm's `expf` is scalar and was the hottest function of a training step).
/// Accuracy: within 2 ulp of the true value (tested against libm).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2E + ROUND;
    // The integer k sits in the low mantissa bits of `shifted`; a bit cast
    // (not a float-to-int conversion, which does not vectorise) reads it.
    let k = (shifted.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let kf = shifted - ROUND;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let half = k >> 1;
    let s1 = f32::from_bits(((half + 127) as u32) << 23);
    let s2 = f32::from_bits(((k - half + 127) as u32) << 23);
    p * s1 * s2
}

/// `e^x` for `f64`, as [`exp_f32`] with a degree-13 polynomial.
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // fdlibm's ln2_hi
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // fdlibm's ln2_lo
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    let x = x.clamp(-746.0, 710.0);
    let shifted = x * LOG2E + ROUND;
    let k = (shifted.to_bits() as i64).wrapping_sub(0x4338_0000_0000_0000);
    let kf = shifted - ROUND;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [1.0 / 479_001_600.0, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0, 1.0 / 362_880.0, 1.0 / 40_320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = c + r * p;
    }
    let half = k >> 1;
    let s1 = f64::from_bits(((half + 1023) as u64) << 52);
    let s2 = f64::from_bits(((k - half + 1023) as u64) << 52);
    p * s1 * s2
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
        exp_f32(self)
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
        exp_f64(self)
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
