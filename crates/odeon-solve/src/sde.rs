//! Stochastic differential equations: Euler–Maruyama, Stratonovich Heun,
//! reversible Heun, and a Brownian interval that gives one fixed Brownian
//! sample path whatever order it is queried in.
//!
//! # Problems
//!
//! A state `y ∈ R^d` follows `dy = f(t, y) dt + g(t, y) dW`, with `W` an
//! `m`-dimensional Brownian motion. The drift `f(t, y)` returns `d` numbers
//! and the diffusion `g(t, y)` a `d × m` matrix, row-major (`g[i * m + j]`
//! multiplies `dW_j` in component `i`). [`solve_sde`] takes fixed steps on a
//! uniform grid ([`SdeGrid`]) and reads the noise from any [`BrownianPath`],
//! normally a [`BrownianInterval`].
//!
//! # Solvers ([`SdeSolver`])
//!
//! * **Euler–Maruyama** (Itô): `y ← y + f Δt + g ΔW`. Strong order 1/2 (1
//!   for additive noise); one drift and one diffusion evaluation a step.
//! * **Stratonovich Heun** (predictor–corrector, the stochastic trapezoidal
//!   rule): `ỹ = y + f Δt + g ΔW`, then `y ← y + ½(f + f̃) Δt + ½(g + g̃) ΔW`.
//!   Converges to the Stratonovich solution, strong order 1 for commutative
//!   noise (scalar, diagonal, additive); two evaluations of each a step.
//! * **Reversible Heun** (Kidger, Foster, Li & Lyons 2021, Algorithm 1):
//!   carries `(y, z, μ = f(t, z), σ = g(t, z))` and per step does
//!   `z' = 2y − z + μ Δt + σ ΔW`, `μ' = f(t', z')`, `σ' = g(t', z')`,
//!   `y' = y + ½(μ + μ') Δt + ½(σ + σ') ΔW`: one drift and one diffusion
//!   evaluation a step, Stratonovich, strong order 1/2 in general (1 for
//!   additive noise). It is *algebraically reversible* (Algorithm 2):
//!   `z = 2y' − z' − μ' Δt − σ' ΔW`, `μ = f(t, z)`, `σ = g(t, z)`,
//!   `y = y' − ½(μ + μ') Δt − ½(σ + σ') ΔW`, so [`reverse_reversible_heun`]
//!   recovers the initial state from the final [`ReversibleHeunState`]
//!   without storing the trajectory, exactly up to floating-point rounding
//!   (about `1e-14` relative in `f64` in the tests). This is what makes
//!   memory-free, exact-gradient backpropagation through neural SDEs work.
//!
//! # The Brownian interval ([`BrownianInterval`])
//!
//! `W` on `[t0, t1]` is built from a seed as a Lévy construction on the
//! dyadic tree of the normalised time `u = (t − t0)/(t1 − t0) ∈ [0, 1]`:
//!
//! * `W(u = 0) = 0` and `W(u = 1) ~ N(0, (t1 − t0) I)`, drawn from the root
//!   key;
//! * every tree node `[lo, hi]` (a dyadic interval of length `2^-l`) owns a
//!   64-bit key; its midpoint value is drawn from the Brownian bridge given
//!   its endpoints, `W(mid) = ½(W(lo) + W(hi)) + ½ √((hi − lo)(t1 − t0)) Z`,
//!   with `Z ~ N(0, I)` drawn from a [`SeedStream`](odeon_tensor::SeedStream)
//!   seeded by the node's key; the children's keys are fixed hashes
//!   (SplitMix64) of the parent's key and the side, so a node's randomness
//!   depends only on its position in the tree (its path from the root),
//!   never on which queries came first;
//! * a query at `t` computes `u` (one subtraction and one division, so a
//!   deterministic function of `t`) and descends the tree until `u` *is* a
//!   node boundary. Every finite `f64` in `[0, 1]` is a dyadic rational
//!   `k / 2^p` with `p ≤ 1074`, so the descent always ends, after at most
//!   as many levels as `u` has binary digits (53 for a "random" `u`, 10
//!   for `u = k/1024`), and every midpoint formed on the way is exact in
//!   `f64`.
//!
//! So `W(t)` is a deterministic function of `(seed, t)` alone, bit for bit,
//! in any query order and on any target (the normals use
//! `SeedStream::normal_f64`, which is libm-based). The values at any finite
//! set of normalised times are jointly an *exact* sample of Brownian motion
//! (the Lévy construction is exact at dyadic points, and every `f64` is
//! one); there is no interpolation and no approximation below some
//! resolution. The only limit is the time resolution itself: two times `t`
//! whose normalised `u` round to the same `f64` get the same value.
//!
//! The interval keeps the nodes along the last query's path (a "finger"
//! stack), so a solver walking forwards or backwards through time needs only
//! a few new nodes per query; the cache never changes a value, since every
//! node's value is recomputed identically from its key and its parent's
//! endpoints.
//!
//! This follows the idea of the Brownian Interval of Kidger et al. (2021),
//! which splits at queried times with seeds derived from the parent; here
//! the splits are always dyadic, which is what makes the sample path
//! independent of the set (not only the order) of queries.
//!
//! # References
//!
//! * P. Kidger, J. Foster, X. Li, T. Lyons, "Efficient and Accurate
//!   Gradients for Neural SDEs", NeurIPS 2021 (reversible Heun, Brownian
//!   Interval).
//! * P. E. Kloeden, E. Platen, *Numerical Solution of Stochastic
//!   Differential Equations*, Springer 1992 (Euler–Maruyama, Heun, orders).
//! * P. Lévy's construction of Brownian motion by midpoint bridges; see e.g.
//!   I. Karatzas, S. Shreve, *Brownian Motion and Stochastic Calculus*, §2.3.

mod brownian;
mod solvers;

pub use brownian::{BrownianInterval, BrownianPath};
pub use solvers::{
    ReversibleHeunReverse, ReversibleHeunState, SaveAt, SdeGrid, SdeOptions, SdeSolution,
    SdeSolver, SdeStats, reverse_reversible_heun, solve_sde,
};

/// Why an SDE solve or a Brownian query failed. Every message is a sentence
/// a notebook can show as is.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SdeError {
    /// The time interval is not finite or runs backwards.
    #[error(
        "an SDE needs a finite time interval with t0 <= t1 (t0 < t1 for a Brownian path); got t0 {t0}, t1 {t1}"
    )]
    BadInterval {
        /// The start time given.
        t0: f64,
        /// The end time given.
        t1: f64,
    },
    /// The step size is not a positive finite number.
    #[error("the SDE step size must be positive and finite; got dt {dt}")]
    BadStep {
        /// The step size given.
        dt: f64,
    },
    /// The step size would need more steps than allowed.
    #[error(
        "the SDE step size {dt} needs {needed} steps over the interval, more than the limit of {max}; take a larger dt or raise max_steps"
    )]
    TooManySteps {
        /// The step size given.
        dt: f64,
        /// Steps the interval would need (may be `f64::INFINITY`).
        needed: f64,
        /// The configured limit.
        max: usize,
    },
    /// A vector has the wrong length.
    #[error("dimension mismatch in the {what}: expected length {expected}, got {got}")]
    DimensionMismatch {
        /// Which vector was wrong (e.g. "drift output").
        what: &'static str,
        /// The length it should have had.
        expected: usize,
        /// The length it had.
        got: usize,
    },
    /// The state, or a Brownian dimension, is empty.
    #[error("the {what} must have at least one component")]
    Empty {
        /// Which dimension was zero.
        what: &'static str,
    },
    /// The state (or the drift or diffusion) became NaN or infinite.
    #[error(
        "the SDE state became non-finite (NaN or infinite) at step {step}, t = {t}; the SDE may blow up there, try a smaller dt"
    )]
    NonFinite {
        /// The step at which it happened (0 = the initial state).
        step: usize,
        /// The time reached.
        t: f64,
    },
    /// A Brownian query time lies outside the path's interval or is NaN.
    #[error("a Brownian query at t = {t} lies outside the path's interval [{t0}, {t1}]")]
    QueryOutside {
        /// The time queried.
        t: f64,
        /// Start of the path's interval.
        t0: f64,
        /// End of the path's interval.
        t1: f64,
    },
    /// The Brownian path does not cover the solve's interval.
    #[error("the Brownian path covers [{path_t0}, {path_t1}] but the solve needs [{t0}, {t1}]")]
    PathTooShort {
        /// Start of the path's interval.
        path_t0: f64,
        /// End of the path's interval.
        path_t1: f64,
        /// Start of the solve.
        t0: f64,
        /// End of the solve.
        t1: f64,
    },
    /// An option is invalid.
    #[error("invalid SDE option: {0}")]
    BadOption(&'static str),
    /// A reversible Heun state does not belong to the end of the grid.
    #[error(
        "the reversible Heun state is at t = {got}, but the reverse solve starts at the grid's end t1 = {expected}"
    )]
    StateTime {
        /// The grid's end time.
        expected: f64,
        /// The state's time.
        got: f64,
    },
}
