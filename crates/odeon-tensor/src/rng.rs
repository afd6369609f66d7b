//! Seeded, splittable random streams and the samplers built on them.
//!
//! A notebook has one seed. Every purpose (weight init, minibatches, time
//! samples, sampler noise, ...) derives its own ChaCha8 stream from that seed
//! and a purpose label, so adding a draw in one place never shifts the numbers
//! drawn elsewhere.
//!
//! # Same numbers native and in the browser
//!
//! ChaCha8 is pure 32-bit integer arithmetic, so the raw bits agree on every
//! target. The samplers turning those bits into numbers are written here
//! rather than taken from `rand_distr`, because `rand_distr` calls `f64::ln`,
//! `f64::exp`, ... from `std`, and `std` hands those to the platform's math
//! library natively (glibc, Apple's libm, ...) but uses a different
//! implementation on wasm32; the results can differ in the last bits, and a
//! rejection sampler can then accept a different candidate and drift
//! arbitrarily far. Every sampler below therefore uses only
//!
//! * integer operations (including `u128` products, exact on every target),
//! * IEEE basic arithmetic `+ - * /` and `sqrt`, which are correctly rounded
//!   everywhere (and Rust never fuses `a * b + c` on its own),
//! * the pure-Rust [`libm`] crate for `log`, `exp`, `pow`, `cos`, `sin`,
//!
//! and every reduction (sums, norms) runs in a fixed order. The golden-value
//! test pins the first draws bit for bit; the browser must reproduce them.
//!
//! # Conventions
//!
//! * `uniform_f64` uses the top 53 bits of one `u64` draw; `uniform` (`f32`)
//!   uses the top 24 bits of one `u32` draw (drawn directly, not rounded from
//!   an `f64`, which could round up to `1.0`). Both lie in `[0, 1)`.
//! * `normal_f64` is Box–Muller (`libm::log`, `libm::cos`, `libm::sin`): it
//!   consumes exactly two `u64`s per pair of normals, with no rejection loop,
//!   and caches the second value of each pair. `normal` (`f32`) is
//!   `normal_f64` rounded to `f32`, sharing that cache.
//! * Bounded integers (`below`, shuffles) use Lemire's multiply-and-reject on
//!   a `u64` draw, so they are unbiased and consume the same bits on 32- and
//!   64-bit targets.
//! * Samplers with parameters return [`SamplerError`] on bad input instead of
//!   panicking.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Tensor;

/// 2^-53: the spacing of `uniform_f64` draws.
const F64_UNIT: f64 = 1.0 / (1u64 << 53) as f64;
/// 2^-24: the spacing of `uniform` (`f32`) draws.
const F32_UNIT: f32 = 1.0 / (1u32 << 24) as f32;
/// 2π, correctly rounded.
const TAU: f64 = core::f64::consts::TAU;

/// Why a sampler could not draw: the parameters it was given are invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SamplerError {
    /// `uniform_range` got a non-finite bound or `low > high`.
    #[error("a uniform range needs finite bounds with low <= high; got low {low}, high {high}")]
    InvalidRange {
        /// The lower bound given.
        low: f64,
        /// The upper bound given.
        high: f64,
    },
    /// A categorical distribution was given no weights at all.
    #[error("a categorical distribution needs at least one weight; got an empty list")]
    NoWeights,
    /// A categorical weight is negative, infinite or NaN.
    #[error("categorical weights must be finite and non-negative; weight {index} is {value}")]
    InvalidWeight {
        /// Position of the offending weight.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Every categorical weight is zero.
    #[error("a categorical distribution needs at least one positive weight; all {count} weights are zero")]
    AllWeightsZero {
        /// How many weights were given.
        count: usize,
    },
    /// The categorical weights are finite but their sum overflows.
    #[error("categorical weights are too large: their sum overflows to infinity; scale them down")]
    WeightSumOverflow,
    /// Gamma got a shape or scale that is not positive and finite.
    #[error("Gamma needs a positive, finite shape and scale; got shape {shape}, scale {scale}")]
    InvalidGamma {
        /// The shape `k` given.
        shape: f64,
        /// The scale `θ` given.
        scale: f64,
    },
    /// Beta got a parameter that is not positive and finite.
    #[error("Beta needs positive, finite parameters a and b; got a {a}, b {b}")]
    InvalidBeta {
        /// The first parameter given.
        a: f64,
        /// The second parameter given.
        b: f64,
    },
    /// Uniform-on-the-sphere was asked for dimension 0.
    #[error("a point on the unit sphere needs dimension d >= 1; got d = 0")]
    ZeroDimension,
}

/// A deterministic random stream derived from a seed and a purpose label.
#[derive(Clone, Debug)]
pub struct SeedStream {
    rng: ChaCha8Rng,
    /// The second normal of the last Box–Muller pair, if not yet used.
    spare_normal: Option<f64>,
}

/// FNV-1a over the label bytes: a stable, platform-independent label hash.
fn label_hash(label: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in label.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Checks categorical weights; returns their (fixed-order) sum.
fn check_weights(weights: &[f64]) -> Result<f64, SamplerError> {
    if weights.is_empty() {
        return Err(SamplerError::NoWeights);
    }
    let mut total = 0.0;
    for (index, &value) in weights.iter().enumerate() {
        if !value.is_finite() || value < 0.0 {
            return Err(SamplerError::InvalidWeight { index, value });
        }
        total += value;
    }
    if total == 0.0 {
        return Err(SamplerError::AllWeightsZero { count: weights.len() });
    }
    if !total.is_finite() {
        return Err(SamplerError::WeightSumOverflow);
    }
    Ok(total)
}

/// The last index with a positive weight (used when rounding puts a draw at
/// or past the total). `weights` has been checked, so one exists.
fn last_positive(weights: &[f64]) -> usize {
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

fn check_gamma(shape: f64, scale: f64) -> Result<(), SamplerError> {
    let ok = |x: f64| x.is_finite() && x > 0.0;
    if ok(shape) && ok(scale) {
        Ok(())
    } else {
        Err(SamplerError::InvalidGamma { shape, scale })
    }
}

impl SeedStream {
    /// The stream for `purpose` under the notebook seed `seed`.
    pub fn new(seed: u64, purpose: &str) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // ChaCha streams are independent for distinct stream ids.
        rng.set_stream(label_hash(purpose));
        Self { rng, spare_normal: None }
    }

    /// A child stream: independent of this one and of every other label.
    ///
    /// Consumes one `u64` of this stream; the child starts with no cached
    /// normal, and what the parent draws afterwards does not affect it.
    pub fn split(&mut self, label: &str) -> Self {
        let seed = self.rng.next_u64();
        Self::new(seed ^ label_hash(label), label)
    }

    /// One raw `u32` from the stream.
    pub fn next_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    /// One raw `u64` from the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    // ----- uniform -------------------------------------------------------

    /// One uniform draw in `[0, 1)`: the top 24 bits of one `u32`.
    pub fn uniform(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 * F32_UNIT
    }

    /// One uniform draw in `[0, 1)`: the top 53 bits of one `u64`.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * F64_UNIT
    }

    /// One uniform draw in `(0, 1]`, safe to take the logarithm of.
    fn uniform_open0_f64(&mut self) -> f64 {
        1.0 - self.uniform_f64()
    }

    /// One uniform draw in `[low, high)` (or exactly `low` when
    /// `low == high`). Bounds must be finite with `low <= high`.
    pub fn uniform_range(&mut self, low: f64, high: f64) -> Result<f64, SamplerError> {
        if !(low.is_finite() && high.is_finite() && low <= high) {
            return Err(SamplerError::InvalidRange { low, high });
        }
        let u = self.uniform_f64();
        if low == high {
            return Ok(low);
        }
        let width = high - low;
        let x = if width.is_finite() {
            low + width * u
        } else {
            // The width overflows (e.g. -MAX..MAX): work at half scale.
            2.0 * (0.5 * low + (0.5 * high - 0.5 * low) * u)
        };
        // Rounding can land exactly on `high`; keep the interval half-open.
        Ok(if x >= high { high.next_down().max(low) } else { x })
    }

    /// [`uniform_range`](Self::uniform_range) in `f32`: an `f64` draw on
    /// the same range, rounded and kept below `high`.
    pub fn uniform_range_f32(&mut self, low: f32, high: f32) -> Result<f32, SamplerError> {
        let x = self.uniform_range(f64::from(low), f64::from(high))? as f32;
        Ok(if x >= high && low < high { high.next_down().max(low) } else { x })
    }

    // ----- integers --------------------------------------------------------

    /// One uniform integer in `0..n`, without modulo bias (Lemire's
    /// multiply-and-reject on `u64` draws). Returns `0` when `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        // `usize` is at most 64 bits on every supported target, and the
        // result is `< n`, so both conversions are lossless.
        self.below_u64(n as u64) as usize
    }

    /// One uniform integer in `0..n` for `n >= 1` (Lemire 2019).
    fn below_u64(&mut self, n: u64) -> u64 {
        let mut m = u128::from(self.rng.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            // 2^64 mod n: draws whose low half falls below it are rejected.
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.rng.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// A Rademacher draw: `+1.0` or `-1.0` with probability 1/2 each (the
    /// top bit of one `u32`).
    pub fn rademacher(&mut self) -> f32 {
        if self.rng.next_u32() >> 31 == 0 { 1.0 } else { -1.0 }
    }

    /// [`rademacher`](Self::rademacher) as `f64` (same bits consumed).
    pub fn rademacher_f64(&mut self) -> f64 {
        f64::from(self.rademacher())
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut perm: Vec<usize> = (0..n).collect();
        self.shuffle(&mut perm);
        perm
    }

    /// Shuffles `items` in place, every order equally likely (Fisher–Yates
    /// with unbiased bounded integers).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    // ----- normal ----------------------------------------------------------

    /// One standard normal draw (`normal_f64` rounded to `f32`).
    pub fn normal(&mut self) -> f32 {
        self.normal_f64() as f32
    }

    /// One standard normal draw: Box–Muller with `libm`, caching the second
    /// value of each pair.
    pub fn normal_f64(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = self.uniform_open0_f64();
        let u2 = self.uniform_f64();
        let r = (-2.0 * libm::log(u1)).sqrt();
        let theta = TAU * u2;
        self.spare_normal = Some(r * libm::sin(theta));
        r * libm::cos(theta)
    }

    /// A tensor of independent standard normal draws.
    pub fn normal_tensor(&mut self, shape: &[usize]) -> Tensor {
        let len = shape.iter().product();
        let data: Vec<f32> = (0..len).map(|_| self.normal()).collect();
        Tensor::from_shape_vec(shape, data).unwrap_or_else(|_| Tensor::zeros(shape))
    }

    /// A tensor of independent uniform draws on `[low, high)`.
    pub fn uniform_tensor(&mut self, shape: &[usize], low: f32, high: f32) -> Tensor {
        let len = shape.iter().product();
        let data: Vec<f32> = (0..len).map(|_| low + (high - low) * self.uniform()).collect();
        Tensor::from_shape_vec(shape, data).unwrap_or_else(|_| Tensor::zeros(shape))
    }

    // ----- categorical -----------------------------------------------------

    /// One index drawn with probability proportional to `weights[i]`
    /// (linear scan over the running sum). Weights must be finite and
    /// non-negative with a positive sum; zero-weight indices are never drawn.
    /// For many draws from the same weights, build a [`Categorical`].
    pub fn categorical(&mut self, weights: &[f64]) -> Result<usize, SamplerError> {
        let total = check_weights(weights)?;
        let target = self.uniform_f64() * total;
        let mut cumulative = 0.0;
        for (i, &w) in weights.iter().enumerate() {
            cumulative += w;
            if target < cumulative {
                return Ok(i);
            }
        }
        Ok(last_positive(weights))
    }

    // ----- Gamma and Beta --------------------------------------------------

    /// Marsaglia–Tsang for shape `k >= 1`, unit scale.
    fn gamma_mt(&mut self, k: f64) -> f64 {
        let d = k - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal_f64();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform_f64();
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 {
                return d * v;
            }
            // `log(0) = -inf` accepts, which is the right limit.
            if libm::log(u) < 0.5 * x2 + d * (1.0 - v + libm::log(v)) {
                return d * v;
            }
        }
    }

    /// A unit-scale Gamma(k) draw as `main * exp(log_boost)`: for `k < 1`,
    /// Marsaglia–Tsang at `k + 1` times the boost `U^(1/k)`, kept in log
    /// form so Beta can avoid underflow.
    fn gamma_parts(&mut self, k: f64) -> (f64, f64) {
        if k >= 1.0 {
            (self.gamma_mt(k), 0.0)
        } else {
            let main = self.gamma_mt(k + 1.0);
            let log_boost = libm::log(self.uniform_open0_f64()) / k;
            (main, log_boost)
        }
    }

    /// One Gamma(shape `k`, scale `θ`) draw (mean `kθ`, variance `kθ²`):
    /// Marsaglia–Tsang, with the `U^(1/k)` boost for `k < 1`. Tiny shapes
    /// can return exactly `0.0` when the draw underflows, and `k·θ` near
    /// `f64::MAX` can overflow to infinity.
    pub fn gamma(&mut self, shape: f64, scale: f64) -> Result<f64, SamplerError> {
        check_gamma(shape, scale)?;
        let (main, log_boost) = self.gamma_parts(shape);
        let g = if log_boost == 0.0 { main } else { main * libm::exp(log_boost) };
        Ok(g * scale)
    }

    /// One Beta(`a`, `b`) draw (mean `a / (a + b)`) as `X / (X + Y)` with
    /// `X ~ Gamma(a)`, `Y ~ Gamma(b)`. When a parameter is below 1 the ratio
    /// is formed in log space, so tiny parameters give 0 or 1, never NaN.
    pub fn beta(&mut self, a: f64, b: f64) -> Result<f64, SamplerError> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        if !(ok(a) && ok(b)) {
            return Err(SamplerError::InvalidBeta { a, b });
        }
        let (x, lx) = self.gamma_parts(a);
        let (y, ly) = self.gamma_parts(b);
        if a >= 1.0 && b >= 1.0 {
            return Ok(x / (x + y));
        }
        // Y / X = exp(log_ratio); Beta = 1 / (1 + Y / X).
        let log_ratio = (libm::log(y) + ly) - (libm::log(x) + lx);
        if log_ratio.is_nan() {
            // Both boosts overflowed to -inf (subnormal parameters): Beta is
            // then a coin flip landing on 1 with probability a / (a + b).
            return Ok(if self.uniform_f64() * (a + b) < a { 1.0 } else { 0.0 });
        }
        Ok(1.0 / (1.0 + libm::exp(log_ratio)))
    }

    // ----- sphere ----------------------------------------------------------

    /// A point uniform on the unit sphere `S^{d-1}` in `R^d` (a normalised
    /// standard Gaussian vector). `d = 1` gives `[±1]`.
    pub fn unit_sphere(&mut self, d: usize) -> Result<Vec<f64>, SamplerError> {
        if d == 0 {
            return Err(SamplerError::ZeroDimension);
        }
        loop {
            let mut v: Vec<f64> = (0..d).map(|_| self.normal_f64()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            // An all-zero Gaussian vector has probability ~0; redraw if seen.
            if norm > 0.0 {
                for x in &mut v {
                    *x /= norm;
                }
                return Ok(v);
            }
        }
    }

    /// [`unit_sphere`](Self::unit_sphere) rounded to `f32` (norm 1 to
    /// within `f32` rounding).
    pub fn unit_sphere_f32(&mut self, d: usize) -> Result<Vec<f32>, SamplerError> {
        Ok(self.unit_sphere(d)?.into_iter().map(|x| x as f32).collect())
    }
}

/// A categorical distribution prepared for repeated draws: cumulative
/// weights plus binary search, `O(log n)` per draw. For the same weights and
/// stream it draws exactly what [`SeedStream::categorical`] draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Categorical {
    cumulative: Vec<f64>,
    last_positive: usize,
}

impl Categorical {
    /// Prepares the weights (finite, non-negative, positive sum).
    pub fn new(weights: &[f64]) -> Result<Self, SamplerError> {
        check_weights(weights)?;
        let mut running = 0.0;
        let cumulative = weights
            .iter()
            .map(|&w| {
                running += w;
                running
            })
            .collect();
        Ok(Self { cumulative, last_positive: last_positive(weights) })
    }

    /// How many categories (including zero-weight ones).
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Always `false`: construction rejects an empty list.
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// One index drawn from `rng`.
    pub fn sample(&self, rng: &mut SeedStream) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.uniform_f64() * total;
        let i = self.cumulative.partition_point(|&c| c <= target);
        if i < self.cumulative.len() { i } else { self.last_positive }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn purposes_are_independent_and_reproducible() {
        let draw = |label: &str| {
            let mut s = SeedStream::new(7, label);
            (0..8).map(|_| s.uniform_f64()).collect::<Vec<_>>()
        };
        assert_eq!(draw("init"), draw("init"));
        assert_ne!(draw("init"), draw("batch"));
        let mut a = SeedStream::new(7, "init");
        let mut b = SeedStream::new(8, "init");
        assert_ne!(a.next_u64(), b.next_u64());
        let mut f = SeedStream::new(7, "init");
        let mut g = SeedStream::new(7, "init");
        let fs: Vec<f32> = (0..16).map(|_| f.normal()).collect();
        let gs: Vec<f32> = (0..16).map(|_| g.normal()).collect();
        assert_eq!(fs, gs);
    }

    #[test]
    fn split_children_ignore_later_parent_use() {
        let mut p1 = SeedStream::new(3, "root");
        let mut p2 = SeedStream::new(3, "root");
        let mut c1 = p1.split("child");
        let mut c2 = p2.split("child");
        // Parent 1 keeps drawing; child 1 must not notice.
        for _ in 0..100 {
            p1.normal_f64();
        }
        let xs: Vec<u64> = (0..32).map(|_| c1.next_u64()).collect();
        let ys: Vec<u64> = (0..32).map(|_| c2.next_u64()).collect();
        assert_eq!(xs, ys);
        // Different labels, and the parent itself, give different streams.
        let mut p3 = SeedStream::new(3, "root");
        let mut other = p3.split("other");
        let mut p4 = SeedStream::new(3, "root");
        let mut c4 = p4.split("child");
        assert_ne!(other.next_u64(), c4.next_u64());
        assert_ne!(p4.next_u64(), c4.next_u64());
        // A cached normal in the parent is not inherited.
        let mut p5 = SeedStream::new(3, "root");
        let mut p6 = SeedStream::new(3, "root");
        p5.normal_f64();
        p6.next_u64();
        p6.next_u64();
        assert_eq!(p5.split("x").next_u64(), p6.split("x").next_u64());
    }

    // Tolerances: with n draws the sample mean has standard error
    // sigma/sqrt(n); bounds below are >= 5 standard errors, so a correct
    // sampler fails with probability < 1e-6 per check, while a biased one
    // (e.g. wrong variance by a few percent) is caught.

    #[test]
    fn uniform_moments_and_bounds() {
        let n = 200_000;
        let mut s = SeedStream::new(1, "uniform");
        let xs: Vec<f64> = (0..n).map(|_| s.uniform_f64()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let (mean, var) = mean_var(&xs);
        // sd(U) = 0.289, se = 6.5e-4; sd(var est) ~ 0.089/sqrt(n) = 2e-4.
        assert!((mean - 0.5).abs() < 0.004, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.0015, "var {var}");
        let ys: Vec<f64> = (0..n).map(|_| f64::from(s.uniform())).collect();
        assert!(ys.iter().all(|x| (0.0..1.0).contains(x)));
        let (mean, var) = mean_var(&ys);
        assert!((mean - 0.5).abs() < 0.004, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.0015, "var {var}");
        for _ in 0..10_000 {
            let x = s.uniform_range(-3.0, 5.0).unwrap_or(f64::NAN);
            assert!((-3.0..5.0).contains(&x));
            let y = s.uniform_range_f32(2.0, 2.5).unwrap_or(f32::NAN);
            assert!((2.0..2.5).contains(&y));
        }
        assert_eq!(s.uniform_range(1.5, 1.5), Ok(1.5));
        let wide = s.uniform_range(-f64::MAX, f64::MAX).unwrap_or(f64::NAN);
        assert!(wide.is_finite());
    }

    #[test]
    fn normal_moments() {
        let n = 400_000;
        let mut s = SeedStream::new(1, "moments");
        let xs: Vec<f64> = (0..n).map(|_| s.normal_f64()).collect();
        let (mean, var) = mean_var(&xs);
        let m4 = xs.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
        // se(mean) = 1.6e-3, se(var) = sqrt(2/n) = 2.2e-3,
        // se(E x^4) = sqrt(96/n) = 0.015.
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.012, "var {var}");
        assert!((m4 - 3.0).abs() < 0.08, "E x^4 {m4}");
        let ys: Vec<f64> = (0..n).map(|_| f64::from(s.normal())).collect();
        let (mean, var) = mean_var(&ys);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.012, "var {var}");
    }

    #[test]
    fn rademacher_is_balanced() {
        let n = 100_000;
        let mut s = SeedStream::new(2, "rademacher");
        let xs: Vec<f64> = (0..n).map(|_| s.rademacher_f64()).collect();
        assert!(xs.iter().all(|&x| x == 1.0 || x == -1.0));
        let (mean, _) = mean_var(&xs);
        // se = 1/sqrt(n) = 3.2e-3.
        assert!(mean.abs() < 0.016, "mean {mean}");
    }

    #[test]
    fn below_is_in_range_and_uniform() {
        let mut s = SeedStream::new(4, "below");
        assert_eq!(s.below(0), 0);
        assert_eq!(s.below(1), 0);
        let n = 7;
        let draws = 70_000;
        let mut counts = [0usize; 7];
        for _ in 0..draws {
            counts[s.below(n)] += 1;
        }
        // Expected 10_000 each, sd ~ 93.
        for c in counts {
            assert!((c as f64 - 10_000.0).abs() < 500.0, "{counts:?}");
        }
        // Huge bounds work too (rejection path with a large threshold).
        let big = usize::MAX / 3 * 2;
        for _ in 0..1000 {
            assert!(s.below(big) < big);
        }
    }

    #[test]
    fn categorical_frequencies_match_weights() {
        let weights = [1.0, 0.0, 3.0, 6.0, 0.5];
        let total: f64 = weights.iter().sum();
        let n = 200_000;
        let mut s = SeedStream::new(5, "categorical");
        let mut counts = [0usize; 5];
        let mut prepared_counts = [0usize; 5];
        let table = Categorical::new(&weights).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.len(), 5);
        for _ in 0..n {
            counts[s.categorical(&weights).unwrap_or(usize::MAX)] += 1;
            prepared_counts[table.sample(&mut s)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert_eq!(prepared_counts[1], 0);
        // Pearson chi-square over the 4 positive cells (3 d.o.f.);
        // P(chi2_3 > 30) < 1e-5.
        for c in [counts, prepared_counts] {
            let chi2: f64 = weights
                .iter()
                .zip(c)
                .filter(|(w, _)| **w > 0.0)
                .map(|(w, c)| {
                    let e = n as f64 * w / total;
                    (c as f64 - e).powi(2) / e
                })
                .sum();
            assert!(chi2 < 30.0, "chi2 {chi2}, counts {c:?}");
        }
        // The prepared table and the linear scan draw identical indices.
        let mut a = SeedStream::new(9, "cat-eq");
        let mut b = SeedStream::new(9, "cat-eq");
        for _ in 0..1000 {
            assert_eq!(a.categorical(&weights), Ok(table.sample(&mut b)));
        }
        // A single positive weight is always chosen.
        for _ in 0..100 {
            assert_eq!(s.categorical(&[0.0, 0.0, 2.0, 0.0]), Ok(2));
        }
    }

    #[test]
    fn gamma_moments() {
        let n = 200_000;
        for (i, &k) in [0.3, 1.0, 2.5, 10.0].iter().enumerate() {
            let theta = 1.5;
            let mut s = SeedStream::new(6 + i as u64, "gamma");
            let xs: Vec<f64> =
                (0..n).map(|_| s.gamma(k, theta).unwrap_or(f64::NAN)).collect();
            assert!(xs.iter().all(|&x| x >= 0.0 && x.is_finite()));
            let (mean, var) = mean_var(&xs);
            let (m, v) = (k * theta, k * theta * theta);
            // se(mean) = sqrt(v/n); relative se(var) ~ sqrt((2 + 6/k)/n),
            // which is 0.01 at k = 0.3. Bounds: 6 se for the mean, 6% for var.
            assert!((mean - m).abs() < 6.0 * (v / n as f64).sqrt(), "k {k}: mean {mean} vs {m}");
            assert!((var / v - 1.0).abs() < 0.06, "k {k}: var {var} vs {v}");
        }
    }

    #[test]
    fn beta_moments() {
        let n = 200_000;
        for (i, &(a, b)) in [(0.5, 0.5), (2.0, 5.0), (0.2, 3.0), (10.0, 1.0)].iter().enumerate() {
            let mut s = SeedStream::new(20 + i as u64, "beta");
            let xs: Vec<f64> = (0..n).map(|_| s.beta(a, b).unwrap_or(f64::NAN)).collect();
            assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)), "({a}, {b})");
            let (mean, var) = mean_var(&xs);
            let m = a / (a + b);
            let v = a * b / ((a + b).powi(2) * (a + b + 1.0));
            assert!((mean - m).abs() < 6.0 * (v / n as f64).sqrt(), "({a},{b}): mean {mean} vs {m}");
            assert!((var / v - 1.0).abs() < 0.04, "({a},{b}): var {var} vs {v}");
        }
        // Tiny parameters stay in [0, 1] rather than producing NaN.
        let mut s = SeedStream::new(30, "beta-tiny");
        for (a, b) in [(1e-3, 1e-3), (1e-310, 1e-310), (1e-310, 2.0), (5e-324, 1e-3)] {
            for _ in 0..1000 {
                let x = s.beta(a, b).unwrap_or(f64::NAN);
                assert!((0.0..=1.0).contains(&x), "beta({a}, {b}) = {x}");
            }
        }
    }

    #[test]
    fn sphere_points_have_unit_norm_and_zero_mean() {
        let mut s = SeedStream::new(11, "sphere");
        for d in [1, 2, 3, 10, 100] {
            let n = 20_000;
            let mut sum = vec![0.0; d];
            for _ in 0..n {
                let v = s.unit_sphere(d).unwrap_or_default();
                assert_eq!(v.len(), d);
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!((norm - 1.0).abs() < 1e-12, "d {d}: norm {norm}");
                for (acc, x) in sum.iter_mut().zip(&v) {
                    *acc += x;
                }
            }
            // Each coordinate has variance 1/d; se of its mean sqrt(1/(d n)).
            let tol = 6.0 / ((d * n) as f64).sqrt();
            for m in sum.iter().map(|x| x / n as f64) {
                assert!(m.abs() < tol, "d {d}: coordinate mean {m}");
            }
        }
        let v = s.unit_sphere_f32(5).unwrap_or_default();
        let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
    }

    #[test]
    fn permutations_are_uniform() {
        let mut s = SeedStream::new(12, "perm");
        assert!(s.permutation(0).is_empty());
        assert_eq!(s.permutation(1), vec![0]);
        let n = 6;
        let draws = 60_000;
        // counts[i][v]: how often value v lands at position i.
        let mut counts = vec![vec![0usize; n]; n];
        for _ in 0..draws {
            let p = s.permutation(n);
            let mut sorted = p.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            for (i, &v) in p.iter().enumerate() {
                counts[i][v] += 1;
            }
        }
        // Expected 10_000 per cell, sd ~ 91.
        for row in &counts {
            for &c in row {
                assert!((c as f64 - 10_000.0).abs() < 550.0, "{counts:?}");
            }
        }
        let mut letters = ['a', 'b', 'c', 'd'];
        s.shuffle(&mut letters);
        letters.sort_unstable();
        assert_eq!(letters, ['a', 'b', 'c', 'd']);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let mut s = SeedStream::new(0, "errors");
        assert!(matches!(s.uniform_range(2.0, 1.0), Err(SamplerError::InvalidRange { .. })));
        assert!(s.uniform_range(f64::NAN, 1.0).is_err());
        assert!(s.uniform_range(0.0, f64::INFINITY).is_err());
        assert!(s.uniform_range_f32(1.0, 0.0).is_err());
        assert_eq!(s.categorical(&[]), Err(SamplerError::NoWeights));
        assert_eq!(
            s.categorical(&[1.0, -2.0]),
            Err(SamplerError::InvalidWeight { index: 1, value: -2.0 })
        );
        assert!(s.categorical(&[1.0, f64::NAN]).is_err());
        assert!(s.categorical(&[f64::INFINITY]).is_err());
        assert_eq!(s.categorical(&[0.0, 0.0]), Err(SamplerError::AllWeightsZero { count: 2 }));
        assert_eq!(s.categorical(&[f64::MAX, f64::MAX]), Err(SamplerError::WeightSumOverflow));
        assert!(Categorical::new(&[]).is_err());
        for (k, t) in [(-1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (f64::NAN, 1.0), (1.0, f64::INFINITY)] {
            assert!(matches!(s.gamma(k, t), Err(SamplerError::InvalidGamma { .. })), "{k} {t}");
        }
        assert!(matches!(s.beta(0.0, 1.0), Err(SamplerError::InvalidBeta { .. })));
        assert!(s.beta(1.0, f64::NAN).is_err());
        assert_eq!(s.unit_sphere(0), Err(SamplerError::ZeroDimension));
        assert_eq!(
            s.gamma(-1.0, 2.0).map_err(|e| e.to_string()),
            Err("Gamma needs a positive, finite shape and scale; got shape -1, scale 2".to_string())
        );
    }

    #[test]
    fn golden_values_pin_the_stream() {
        // Pins the exact stream so a dependency bump or code change that
        // alters the numbers (and so breaks old share links) is caught. The
        // browser (wasm32) build must reproduce these bits.
        let mut s = SeedStream::new(0, "golden");
        let uniform: Vec<u64> = (0..3).map(|_| s.uniform_f64().to_bits()).collect();
        let normal: Vec<u64> = (0..3).map(|_| s.normal_f64().to_bits()).collect();
        let gamma: Vec<u64> = [0.3, 2.5, 10.0]
            .iter()
            .map(|&k| s.gamma(k, 1.0).unwrap_or(f64::NAN).to_bits())
            .collect();
        assert_eq!(uniform, GOLDEN_UNIFORM, "uniform_f64 {uniform:#x?}");
        assert_eq!(normal, GOLDEN_NORMAL, "normal_f64 {normal:#x?}");
        assert_eq!(gamma, GOLDEN_GAMMA, "gamma {gamma:#x?}");
    }

    // SeedStream::new(0, "golden"): uniform_f64 x3 = 0.8641272845579426,
    // 0.4726759365230271, 0.5164130283513353; then normal_f64 x3 =
    // 1.1564419065360463, 0.36484976540547004, 0.9511397666425512; then
    // gamma(0.3, 1), gamma(2.5, 1), gamma(10, 1) = 0.04251356243713037,
    // 4.3491615294173585, 10.749208293460807.
    const GOLDEN_UNIFORM: [u64; 3] = [0x3feb_a6ee_4358_3eaa, 0x3fde_4052_923e_3ea4, 0x3fe0_8674_9d7f_e9ee];
    const GOLDEN_NORMAL: [u64; 3] = [0x3ff2_80c9_3a84_bd44, 0x3fd7_59b2_d497_aa3f, 0x3fee_6fbc_a9f4_f45c];
    const GOLDEN_GAMMA: [u64; 3] = [0x3fa5_c456_709b_9c95, 0x4011_658a_9997_79c0, 0x4025_7f98_3abc_9cbe];
}
