//! # Interpolation: natural cubic splines
//!
//! [`NaturalCubicSpline`] passes a twice continuously differentiable,
//! piecewise cubic curve through points `(t_i, x_i)` with `x_i ∈ R^d` and
//! strictly increasing, possibly irregular, times `t_0 < ... < t_{n-1}`.
//!
//! ## The method
//!
//! On each interval `[t_i, t_{i+1}]` of width `h_i` the spline is the cubic
//! with values `x_i`, `x_{i+1}` at the ends and second derivatives `M_i`,
//! `M_{i+1}` there: with `s = t - t_i` and `u = t_{i+1} - t`,
//!
//! ```text
//! S(t) = M_i u³/(6h) + M_{i+1} s³/(6h) + (x_i/h - M_i h/6) u + (x_{i+1}/h - M_{i+1} h/6) s.
//! ```
//!
//! Asking the first derivative to be continuous at every interior knot gives,
//! for `i = 1 .. n-2`, the tridiagonal system
//!
//! ```text
//! h_{i-1} M_{i-1} + 2 (h_{i-1} + h_i) M_i + h_i M_{i+1}
//!     = 6 [(x_{i+1} - x_i)/h_i - (x_i - x_{i-1})/h_{i-1}],
//! ```
//!
//! and the *natural* end conditions close it: `M_0 = M_{n-1} = 0` (the curve
//! is straight at both ends). The matrix is strictly diagonally dominant, so
//! the Thomas algorithm ([`solve_tridiagonal`]) solves it stably in `O(n)`;
//! every channel shares the matrix and gets its own right-hand side.
//!
//! Outside `[t_0, t_{n-1}]` the spline continues as the straight line that
//! it ends with (value and slope of the end knot), which keeps it `C²`
//! because `S'' = 0` at both ends. This is what a neural CDE needs when a
//! series' first or last observation is missing: the control path still has
//! a bounded derivative over the whole integration interval.
//!
//! Away from the ends the interpolation error is `O(h⁴)` for smooth data
//! (`O(h³)` for the first derivative); the natural end conditions are only
//! second order near the ends, unless the data's second derivative vanishes
//! there, and that error decays geometrically (by about `2 - √3` per knot)
//! into the interior.
//!
//! ## Why hand-written
//!
//! The control path of a neural CDE needs, for vector-valued data on an
//! irregular grid, both the value and the derivative at arbitrary times,
//! on wasm as well as natively. The common Rust interpolation crates either
//! offer other spline families (Catmull–Rom and Bézier in `splines`), only
//! scalar data, or no derivatives, or bring a large dependency for a
//! tridiagonal solve of a few lines; the workspace already has that solve.
//!
//! Reference: C. de Boor, *A Practical Guide to Splines*, Springer 1978,
//! chapter IV; P. Kidger, J. Morrill, J. Foster, T. Lyons, "Neural
//! Controlled Differential Equations for Irregular Time Series", NeurIPS
//! 2020 (natural cubic splines as control paths).

use crate::linalg::{LinalgError, solve_tridiagonal};

/// Why a spline could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplineError {
    /// Fewer than two knots.
    #[error("a cubic spline needs at least two points; got {0}")]
    TooFewPoints(usize),
    /// The values do not have `n × d` entries.
    #[error("{n} times and {d} channels need {expected} values (row-major, one row per time); got {got}")]
    Shape {
        /// Number of times.
        n: usize,
        /// Number of channels.
        d: usize,
        /// `n * d`.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// Zero channels.
    #[error("a spline needs at least one channel")]
    NoChannels,
    /// The times are not finite and strictly increasing.
    #[error("spline times must be finite and strictly increasing; t[{index}] = {value} breaks this")]
    BadTimes {
        /// Where.
        index: usize,
        /// The offending time.
        value: f64,
    },
    /// A value is NaN or infinite.
    #[error("spline values must be finite; value {index} is {value}")]
    NonFinite {
        /// Flat index of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The tridiagonal solve failed (cannot happen for valid times).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
}

/// A natural cubic spline through `(t_i, x_i)`, `x_i ∈ R^d` (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct NaturalCubicSpline {
    ts: Vec<f64>,
    /// Values, `n × d` row-major.
    xs: Vec<f64>,
    /// Second derivatives at the knots, `n × d` row-major.
    ms: Vec<f64>,
    d: usize,
}

impl NaturalCubicSpline {
    /// Fits the spline through `ts` (strictly increasing, at least two) and
    /// `values` (`ts.len() × channels`, row-major: the row of time `i` is
    /// `values[i*channels .. (i+1)*channels]`).
    pub fn new(ts: &[f64], values: &[f64], channels: usize) -> Result<Self, SplineError> {
        let n = ts.len();
        if n < 2 {
            return Err(SplineError::TooFewPoints(n));
        }
        if channels == 0 {
            return Err(SplineError::NoChannels);
        }
        let d = channels;
        if values.len() != n * d {
            return Err(SplineError::Shape { n, d, expected: n * d, got: values.len() });
        }
        for (i, &t) in ts.iter().enumerate() {
            if !t.is_finite() || (i > 0 && t <= ts[i - 1]) || (i > 0 && !(t - ts[i - 1]).is_finite()) {
                return Err(SplineError::BadTimes { index: i, value: t });
            }
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SplineError::NonFinite { index, value });
        }
        let mut ms = vec![0.0; n * d];
        if n > 2 {
            let h: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
            let k = n - 2;
            let diag: Vec<f64> = (1..=k).map(|i| 2.0 * (h[i - 1] + h[i])).collect();
            let lower: Vec<f64> = (2..=k).map(|i| h[i - 1]).collect();
            let upper: Vec<f64> = (1..k).map(|i| h[i]).collect();
            for c in 0..d {
                let x = |i: usize| values[i * d + c];
                let rhs: Vec<f64> = (1..=k)
                    .map(|i| 6.0 * ((x(i + 1) - x(i)) / h[i] - (x(i) - x(i - 1)) / h[i - 1]))
                    .collect();
                let m = solve_tridiagonal(&lower, &diag, &upper, &rhs)?;
                for (i, v) in m.into_iter().enumerate() {
                    ms[(i + 1) * d + c] = v;
                }
            }
        }
        Ok(Self { ts: ts.to_vec(), xs: values.to_vec(), ms, d })
    }

    /// Number of channels `d`.
    pub fn channels(&self) -> usize {
        self.d
    }

    /// The knot times.
    pub fn times(&self) -> &[f64] {
        &self.ts
    }

    /// The interval `(t_0, t_{n-1})` covered by the knots.
    pub fn span(&self) -> (f64, f64) {
        (self.ts[0], self.ts[self.ts.len() - 1])
    }

    /// The index `i` of the interval `[t_i, t_{i+1}]` that holds `t`
    /// (clamped to the first and last interval).
    fn interval(&self, t: f64) -> usize {
        let n = self.ts.len();
        let i = self.ts.partition_point(|&k| k <= t);
        i.saturating_sub(1).min(n - 2)
    }

    /// Writes value and derivative at `t` (either may be skipped).
    fn eval(&self, t: f64, mut value: Option<&mut [f64]>, mut deriv: Option<&mut [f64]>) {
        let d = self.d;
        let (t_lo, t_hi) = self.span();
        // Linear continuation outside the knots: evaluate at the end knot
        // and extend with its slope.
        let (tc, shift) = if t < t_lo {
            (t_lo, t - t_lo)
        } else if t > t_hi {
            (t_hi, t - t_hi)
        } else {
            (t, 0.0)
        };
        let i = self.interval(tc);
        let h = self.ts[i + 1] - self.ts[i];
        let s = tc - self.ts[i];
        let u = self.ts[i + 1] - tc;
        for c in 0..d {
            let (x0, x1) = (self.xs[i * d + c], self.xs[(i + 1) * d + c]);
            let (m0, m1) = (self.ms[i * d + c], self.ms[(i + 1) * d + c]);
            let a = x0 / h - m0 * h / 6.0;
            let b = x1 / h - m1 * h / 6.0;
            let slope = -m0 * u * u / (2.0 * h) + m1 * s * s / (2.0 * h) - a + b;
            if let Some(v) = value.as_deref_mut() {
                let val = m0 * u * u * u / (6.0 * h) + m1 * s * s * s / (6.0 * h) + a * u + b * s;
                v[c] = val + slope * shift;
            }
            if let Some(g) = deriv.as_deref_mut() {
                g[c] = slope;
            }
        }
    }

    /// `X(t)` (length `d`); linear continuation outside the knots.
    pub fn value(&self, t: f64) -> Vec<f64> {
        let mut v = vec![0.0; self.d];
        self.eval(t, Some(&mut v), None);
        v
    }

    /// `dX/dt(t)` (length `d`); the end slopes outside the knots. At a knot
    /// the derivative is continuous, so either side gives the same value.
    pub fn derivative(&self, t: f64) -> Vec<f64> {
        let mut g = vec![0.0; self.d];
        self.eval(t, None, Some(&mut g));
        g
    }

    /// Writes `dX/dt(t)` into `out` (length `d`) without allocating.
    ///
    /// # Errors
    /// [`SplineError::Shape`] when `out` does not have `d` entries.
    pub fn derivative_into(&self, t: f64, out: &mut [f64]) -> Result<(), SplineError> {
        if out.len() != self.d {
            return Err(SplineError::Shape { n: 1, d: self.d, expected: self.d, got: out.len() });
        }
        self.eval(t, None, Some(out));
        Ok(())
    }

    /// `d²X/dt²(t)` (length `d`); zero outside the knots and at both ends.
    pub fn second_derivative(&self, t: f64) -> Vec<f64> {
        let d = self.d;
        let (t_lo, t_hi) = self.span();
        if t < t_lo || t > t_hi {
            return vec![0.0; d];
        }
        let i = self.interval(t);
        let h = self.ts[i + 1] - self.ts[i];
        let (s, u) = (t - self.ts[i], self.ts[i + 1] - t);
        (0..d).map(|c| (self.ms[i * d + c] * u + self.ms[(i + 1) * d + c] * s) / h).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An irregular grid on `[0, 1]` (deterministic).
    fn irregular(n: usize) -> Vec<f64> {
        let mut t = 0.0;
        let mut ts = vec![0.0];
        for i in 1..n {
            t += 1.0 + 0.6 * ((i as f64) * 1.7).sin();
            ts.push(t);
        }
        let last = t;
        ts.iter().map(|x| x / last).collect()
    }

    #[test]
    fn linear_data_is_reproduced_exactly_everywhere() {
        let ts = irregular(9);
        let vals: Vec<f64> = ts.iter().flat_map(|&t| [2.0 * t - 1.0, -0.5 * t + 3.0]).collect();
        let s = NaturalCubicSpline::new(&ts, &vals, 2).expect("spline");
        for k in 0..=100 {
            let t = -0.2 + 1.4 * k as f64 / 100.0;
            let v = s.value(t);
            let g = s.derivative(t);
            assert!((v[0] - (2.0 * t - 1.0)).abs() < 1e-13 && (v[1] - (-0.5 * t + 3.0)).abs() < 1e-13, "t {t}: {v:?}");
            assert!((g[0] - 2.0).abs() < 1e-12 && (g[1] + 0.5).abs() < 1e-12, "t {t}: {g:?}");
            assert!(s.second_derivative(t).iter().all(|m| m.abs() < 1e-10));
        }
    }

    #[test]
    fn interpolates_with_zero_curvature_at_the_ends_and_continuous_derivatives() {
        let ts = irregular(12);
        let vals: Vec<f64> = ts.iter().flat_map(|&t| [(5.0 * t).sin(), (3.0 * t).exp()]).collect();
        let s = NaturalCubicSpline::new(&ts, &vals, 2).expect("spline");
        for (i, &t) in ts.iter().enumerate() {
            let v = s.value(t);
            assert!((v[0] - vals[2 * i]).abs() < 1e-12 && (v[1] - vals[2 * i + 1]).abs() < 1e-12);
        }
        let (a, b) = s.span();
        for m in s.second_derivative(a).into_iter().chain(s.second_derivative(b)) {
            assert!(m.abs() < 1e-12, "end curvature {m}");
        }
        // First and second derivatives agree across every interior knot.
        let e = 1e-9;
        for &t in &ts[1..ts.len() - 1] {
            for (l, r) in s.derivative(t - e).iter().zip(s.derivative(t + e)) {
                assert!((l - r).abs() < 1e-6, "slope jump at {t}: {l} vs {r}");
            }
            for (l, r) in s.second_derivative(t - e).iter().zip(s.second_derivative(t + e)) {
                assert!((l - r).abs() < 1e-5, "curvature jump at {t}: {l} vs {r}");
            }
        }
    }

    #[test]
    fn derivative_matches_finite_differences_inside_and_outside() {
        let ts = irregular(15);
        let vals: Vec<f64> = ts.iter().flat_map(|&t| [(4.0 * t).cos(), t * t * t, (2.0 * t).sin()]).collect();
        let s = NaturalCubicSpline::new(&ts, &vals, 3).expect("spline");
        let e = 1e-6;
        for k in 0..=60 {
            let t = -0.1 + 1.2 * (k as f64 + 0.37) / 60.0;
            let g = s.derivative(t);
            let (p, m) = (s.value(t + e), s.value(t - e));
            for c in 0..3 {
                let fd = (p[c] - m[c]) / (2.0 * e);
                assert!((fd - g[c]).abs() < 1e-6 * (1.0 + g[c].abs()), "t {t}, channel {c}: {fd} vs {}", g[c]);
            }
            let mut out = [0.0; 3];
            s.derivative_into(t, &mut out).expect("length 3");
            assert_eq!(out.to_vec(), g);
        }
    }

    /// Largest error of the value on the middle half for `f(t) = e^t` on
    /// `[0, 1]` with `n` uniform knots.
    fn middle_error(n: usize) -> (f64, f64) {
        let ts: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
        let vals: Vec<f64> = ts.iter().map(|t| t.exp()).collect();
        let s = NaturalCubicSpline::new(&ts, &vals, 1).expect("spline");
        let (mut ev, mut ed) = (0.0_f64, 0.0_f64);
        for k in 0..=400 {
            let t = 0.25 + 0.5 * k as f64 / 400.0;
            ev = ev.max((s.value(t)[0] - t.exp()).abs());
            ed = ed.max((s.derivative(t)[0] - t.exp()).abs());
        }
        (ev, ed)
    }

    #[test]
    fn converges_at_fourth_order_away_from_the_ends() {
        let (e1, d1) = middle_error(41);
        let (e2, d2) = middle_error(81);
        let (e3, d3) = middle_error(161);
        let (r1, r2) = (e1 / e2, e2 / e3);
        assert!(r1 > 12.0 && r2 > 12.0, "value errors {e1:e} {e2:e} {e3:e}: ratios {r1} {r2} (16 expected)");
        assert!(d1 / d2 > 6.0 && d2 / d3 > 6.0, "derivative errors {d1:e} {d2:e} {d3:e} (ratio >= 8 expected)");
        // h = 1/160: h^4 / 384 * max e^t is about 1e-11.
        assert!(e3 < 1e-10, "{e3:e}");
    }

    #[test]
    fn sine_on_a_half_period_is_fourth_order_everywhere() {
        // sin'' vanishes at 0 and pi, so the natural ends are exact to high
        // order and the error is O(h^4) up to the ends.
        let err = |n: usize| {
            let ts: Vec<f64> = (0..n).map(|i| std::f64::consts::PI * i as f64 / (n - 1) as f64).collect();
            let vals: Vec<f64> = ts.iter().map(|t| t.sin()).collect();
            let s = NaturalCubicSpline::new(&ts, &vals, 1).expect("spline");
            (0..=500).map(|k| std::f64::consts::PI * k as f64 / 500.0).map(|t| (s.value(t)[0] - t.sin()).abs()).fold(0.0, f64::max)
        };
        let (a, b) = (err(20), err(40));
        assert!(a / b > 13.0, "{a:e} / {b:e}");
    }

    #[test]
    fn bad_input_is_reported() {
        assert_eq!(NaturalCubicSpline::new(&[0.0], &[1.0], 1), Err(SplineError::TooFewPoints(1)));
        assert!(matches!(NaturalCubicSpline::new(&[0.0, 1.0], &[1.0], 1), Err(SplineError::Shape { .. })));
        assert!(matches!(NaturalCubicSpline::new(&[0.0, 0.0, 1.0], &[1.0; 3], 1), Err(SplineError::BadTimes { index: 1, .. })));
        assert!(matches!(NaturalCubicSpline::new(&[0.0, 1.0], &[1.0, f64::NAN], 1), Err(SplineError::NonFinite { index: 1, .. })));
        assert_eq!(NaturalCubicSpline::new(&[0.0, 1.0], &[], 0), Err(SplineError::NoChannels));
        let two = NaturalCubicSpline::new(&[0.0, 2.0], &[1.0, 3.0], 1).expect("two points");
        assert_eq!(two.value(1.0), vec![2.0]);
        assert_eq!(two.derivative(5.0), vec![1.0]);
        let mut short = [0.0; 2];
        assert!(two.derivative_into(0.5, &mut short).is_err());
    }
}
