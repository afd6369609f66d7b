//! Fixed-step SDE solvers on `Vec<f64>` states and the reverse pass of
//! reversible Heun.

use serde::{Deserialize, Serialize};

use super::{BrownianPath, SdeError};

/// Which scheme [`solve_sde`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SdeSolver {
    /// Euler–Maruyama: Itô, strong order 1/2; one drift and one diffusion
    /// evaluation a step.
    #[default]
    EulerMaruyama,
    /// Stratonovich Heun (predictor–corrector): strong order 1 for
    /// commutative noise; two drift and two diffusion evaluations a step.
    StratonovichHeun,
    /// Reversible Heun (Kidger et al. 2021): Stratonovich, one drift and one
    /// diffusion evaluation a step, algebraically reversible with
    /// [`reverse_reversible_heun`].
    ReversibleHeun,
}

/// Which states [`solve_sde`] keeps in [`SdeSolution::ys`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaveAt {
    /// The initial state and the state after every step.
    #[default]
    Steps,
    /// Only the initial and the final state.
    Endpoints,
    /// The initial state, every `k`-th step (`k >= 1`) and the final state.
    Every(usize),
}

/// Options of [`solve_sde`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdeOptions {
    /// Which states to keep.
    pub save: SaveAt,
    /// The most steps a solve may take; a smaller `dt` is an error
    /// ([`SdeError::TooManySteps`]). Default 1 000 000.
    pub max_steps: usize,
}

impl Default for SdeOptions {
    fn default() -> Self {
        Self {
            save: SaveAt::Steps,
            max_steps: 1_000_000,
        }
    }
}

/// Counts from one solve (or one reverse pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdeStats {
    /// Steps taken.
    pub steps: usize,
    /// Drift evaluations.
    pub drift_evals: usize,
    /// Diffusion evaluations.
    pub diffusion_evals: usize,
    /// Brownian increments read.
    pub brownian_queries: usize,
}

/// The uniform time grid of a fixed-step solve: `steps` steps from `t0` to
/// `t1`, `t_i = t0 + (t1 − t0)·(i / steps)` and `t_steps = t1` exactly.
///
/// From a step size `dt`, `steps = ceil((t1 − t0)/dt)`, except that a ratio
/// within `1e-9` (relative) of an integer counts as that integer, so a `dt`
/// that divides the interval up to rounding gives exactly that many steps
/// (and `dt = (t1 − t0)/2^k` gives dyadic times, the cheapest for a
/// [`BrownianInterval`](super::BrownianInterval)). The grid, not `dt`, is
/// what a reverse pass needs to retrace a solve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SdeGrid {
    /// Start time.
    pub t0: f64,
    /// End time.
    pub t1: f64,
    /// Number of steps.
    pub steps: usize,
}

impl SdeGrid {
    /// The grid for step size `dt` on `[t0, t1]`, at most `max_steps` steps.
    /// `t0 == t1` gives zero steps.
    pub fn new(t0: f64, t1: f64, dt: f64, max_steps: usize) -> Result<Self, SdeError> {
        if !(t0.is_finite() && t1.is_finite() && t0 <= t1 && (t1 - t0).is_finite()) {
            return Err(SdeError::BadInterval { t0, t1 });
        }
        if !(dt.is_finite() && dt > 0.0) {
            return Err(SdeError::BadStep { dt });
        }
        let ratio = (t1 - t0) / dt;
        let nearest = ratio.round();
        let needed = if (ratio - nearest).abs() <= 1e-9 * nearest.max(1.0) {
            nearest
        } else {
            ratio.ceil()
        };
        if needed > max_steps as f64 {
            return Err(SdeError::TooManySteps {
                dt,
                needed,
                max: max_steps,
            });
        }
        // needed is a non-negative integer no larger than max_steps.
        let steps = needed as usize;
        Ok(Self { t0, t1, steps })
    }

    /// The time of grid point `i` (`0 ..= steps`).
    pub fn time(&self, i: usize) -> f64 {
        if i >= self.steps {
            self.t1
        } else if i == 0 {
            self.t0
        } else {
            self.t0 + (self.t1 - self.t0) * (i as f64 / self.steps as f64)
        }
    }
}

/// The state reversible Heun carries between steps: the solution `y`, the
/// auxiliary `z`, and the drift and diffusion evaluated at `(t, z)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReversibleHeunState {
    /// The time of the state.
    pub t: f64,
    /// The solution (length `d`).
    pub y: Vec<f64>,
    /// The auxiliary state (length `d`; equal to `y` at the start).
    pub z: Vec<f64>,
    /// `f(t, z)` (length `d`).
    pub drift: Vec<f64>,
    /// `g(t, z)` (`d × m`, row-major).
    pub diffusion: Vec<f64>,
}

/// The result of [`solve_sde`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SdeSolution {
    /// Times of the saved states.
    pub ts: Vec<f64>,
    /// Saved states, one per entry of `ts`.
    pub ys: Vec<Vec<f64>>,
    /// The grid the solve stepped on.
    pub grid: SdeGrid,
    /// Evaluation and step counts.
    pub stats: SdeStats,
    /// For [`SdeSolver::ReversibleHeun`], the full final solver state, from
    /// which [`reverse_reversible_heun`] recovers the initial one.
    pub reversible_state: Option<ReversibleHeunState>,
}

impl SdeSolution {
    /// The final state.
    pub fn final_state(&self) -> &[f64] {
        self.ys.last().map_or(&[], Vec::as_slice)
    }
}

/// The result of [`reverse_reversible_heun`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReversibleHeunReverse {
    /// The reconstructed solver state at the grid's start (`state.y` is the
    /// reconstructed initial condition).
    pub state: ReversibleHeunState,
    /// Counts from the reverse pass.
    pub stats: SdeStats,
}

/// Sizes and closures shared by the steppers.
struct System<F, G> {
    drift: F,
    diffusion: G,
    d: usize,
    m: usize,
    stats: SdeStats,
}

impl<F, G> System<F, G>
where
    F: FnMut(f64, &[f64]) -> Vec<f64>,
    G: FnMut(f64, &[f64]) -> Vec<f64>,
{
    fn f(&mut self, t: f64, y: &[f64]) -> Result<Vec<f64>, SdeError> {
        self.stats.drift_evals += 1;
        let out = (self.drift)(t, y);
        check_len("drift output", self.d, out.len())?;
        Ok(out)
    }

    fn g(&mut self, t: f64, y: &[f64]) -> Result<Vec<f64>, SdeError> {
        self.stats.diffusion_evals += 1;
        let out = (self.diffusion)(t, y);
        check_len(
            "diffusion output (d × m, row-major)",
            self.d * self.m,
            out.len(),
        )?;
        Ok(out)
    }

    fn dw<B: BrownianPath + ?Sized>(
        &mut self,
        brownian: &mut B,
        s: f64,
        t: f64,
    ) -> Result<Vec<f64>, SdeError> {
        self.stats.brownian_queries += 1;
        let dw = brownian.increment(s, t)?;
        check_len("Brownian increment", self.m, dw.len())?;
        Ok(dw)
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), SdeError> {
    if expected == got {
        Ok(())
    } else {
        Err(SdeError::DimensionMismatch {
            what,
            expected,
            got,
        })
    }
}

fn all_finite(xs: &[f64]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

/// `g · dw` for a row-major `d × m` matrix `g`, summed in a fixed order.
fn mat_vec(g: &[f64], dw: &[f64], d: usize, m: usize) -> Vec<f64> {
    (0..d)
        .map(|i| {
            g[i * m..(i + 1) * m]
                .iter()
                .zip(dw)
                .fold(0.0, |acc, (a, b)| acc + a * b)
        })
        .collect()
}

/// Checks the problem against the path and returns `(d, m)`.
fn check_problem<B: BrownianPath + ?Sized>(
    y: &[f64],
    grid: &SdeGrid,
    brownian: &B,
) -> Result<(usize, usize), SdeError> {
    if y.is_empty() {
        return Err(SdeError::Empty { what: "SDE state" });
    }
    let m = brownian.dim();
    if m == 0 {
        return Err(SdeError::Empty {
            what: "Brownian motion",
        });
    }
    let (path_t0, path_t1) = brownian.span();
    if !(path_t0 <= grid.t0 && grid.t1 <= path_t1) {
        return Err(SdeError::PathTooShort {
            path_t0,
            path_t1,
            t0: grid.t0,
            t1: grid.t1,
        });
    }
    Ok((y.len(), m))
}

/// Solves `dy = f(t, y) dt + g(t, y) dW` from `y(t0) = y0` to `t1` with
/// fixed steps of (at most) `dt` on the uniform [`SdeGrid`], reading `W`
/// from `brownian`.
///
/// `drift(t, y)` returns `d = y0.len()` numbers; `diffusion(t, y)` returns
/// the `d × m` matrix row-major, `m = brownian.dim()`. Euler–Maruyama
/// solves the Itô SDE, the two Heun schemes the Stratonovich one. For
/// reversible Heun the solution also carries the final solver state for
/// [`reverse_reversible_heun`].
///
/// Errors: a bad interval or step, too many steps, wrong output lengths, a
/// Brownian path that does not cover `[t0, t1]`, and a state (or drift or
/// diffusion) that becomes NaN or infinite.
///
/// ```
/// use odeon_solve::sde::{BrownianInterval, SdeOptions, SdeSolver, solve_sde};
/// let mut w = BrownianInterval::new(0.0, 1.0, 1, 7)?;
/// let sol = solve_sde(
///     |_t, y: &[f64]| vec![-y[0]],
///     |_t, _y: &[f64]| vec![0.5],
///     SdeSolver::EulerMaruyama,
///     0.0,
///     1.0,
///     0.01,
///     &[1.0],
///     &mut w,
///     &SdeOptions::default(),
/// )?;
/// assert_eq!(sol.stats.steps, 100);
/// assert_eq!(sol.ys.len(), 101);
/// # Ok::<(), odeon_solve::sde::SdeError>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn solve_sde<F, G, B>(
    drift: F,
    diffusion: G,
    solver: SdeSolver,
    t0: f64,
    t1: f64,
    dt: f64,
    y0: &[f64],
    brownian: &mut B,
    options: &SdeOptions,
) -> Result<SdeSolution, SdeError>
where
    F: FnMut(f64, &[f64]) -> Vec<f64>,
    G: FnMut(f64, &[f64]) -> Vec<f64>,
    B: BrownianPath + ?Sized,
{
    let every = match options.save {
        SaveAt::Steps => 1,
        SaveAt::Endpoints => usize::MAX,
        SaveAt::Every(0) => return Err(SdeError::BadOption("SaveAt::Every needs k >= 1")),
        SaveAt::Every(k) => k,
    };
    let grid = SdeGrid::new(t0, t1, dt, options.max_steps)?;
    let (d, m) = check_problem(y0, &grid, brownian)?;
    if !all_finite(y0) {
        return Err(SdeError::NonFinite { step: 0, t: t0 });
    }
    let mut sys = System {
        drift,
        diffusion,
        d,
        m,
        stats: SdeStats::default(),
    };
    let mut ts = vec![t0];
    let mut ys = vec![y0.to_vec()];
    let mut y = y0.to_vec();
    // Reversible Heun's extra state (z, μ, σ).
    let mut rev: Option<(Vec<f64>, Vec<f64>, Vec<f64>)> = None;
    if solver == SdeSolver::ReversibleHeun {
        let mu = sys.f(t0, &y)?;
        let sigma = sys.g(t0, &y)?;
        if !(all_finite(&mu) && all_finite(&sigma)) {
            return Err(SdeError::NonFinite { step: 0, t: t0 });
        }
        rev = Some((y.clone(), mu, sigma));
    }

    for n in 0..grid.steps {
        let (ta, tb) = (grid.time(n), grid.time(n + 1));
        let h = tb - ta;
        let dw = sys.dw(brownian, ta, tb)?;
        match solver {
            SdeSolver::EulerMaruyama => {
                let f = sys.f(ta, &y)?;
                let g = sys.g(ta, &y)?;
                let noise = mat_vec(&g, &dw, d, m);
                for ((yi, fi), ni) in y.iter_mut().zip(&f).zip(&noise) {
                    *yi += fi * h + ni;
                }
            }
            SdeSolver::StratonovichHeun => {
                let f = sys.f(ta, &y)?;
                let g = sys.g(ta, &y)?;
                let noise = mat_vec(&g, &dw, d, m);
                let pred: Vec<f64> = y
                    .iter()
                    .zip(&f)
                    .zip(&noise)
                    .map(|((yi, fi), ni)| yi + fi * h + ni)
                    .collect();
                let f2 = sys.f(tb, &pred)?;
                let g2 = sys.g(tb, &pred)?;
                let noise2 = mat_vec(&g2, &dw, d, m);
                for (i, yi) in y.iter_mut().enumerate() {
                    *yi += 0.5 * (f[i] + f2[i]) * h + 0.5 * (noise[i] + noise2[i]);
                }
            }
            SdeSolver::ReversibleHeun => {
                if let Some((z, mu, sigma)) = rev.as_mut() {
                    let noise = mat_vec(sigma, &dw, d, m);
                    for i in 0..d {
                        z[i] = 2.0 * y[i] - z[i] + mu[i] * h + noise[i];
                    }
                    let mu2 = sys.f(tb, z)?;
                    let sigma2 = sys.g(tb, z)?;
                    let noise2 = mat_vec(&sigma2, &dw, d, m);
                    for i in 0..d {
                        y[i] += 0.5 * (mu[i] + mu2[i]) * h + 0.5 * (noise[i] + noise2[i]);
                    }
                    *mu = mu2;
                    *sigma = sigma2;
                    if !(all_finite(z) && all_finite(mu) && all_finite(sigma)) {
                        return Err(SdeError::NonFinite { step: n + 1, t: tb });
                    }
                }
            }
        }
        sys.stats.steps += 1;
        if !all_finite(&y) {
            return Err(SdeError::NonFinite { step: n + 1, t: tb });
        }
        let last = n + 1 == grid.steps;
        if last || (n + 1) % every == 0 {
            ts.push(tb);
            ys.push(y.clone());
        }
    }

    let reversible_state = rev.map(|(z, drift, diffusion)| ReversibleHeunState {
        t: grid.t1,
        y: y.clone(),
        z,
        drift,
        diffusion,
    });
    Ok(SdeSolution {
        ts,
        ys,
        grid,
        stats: sys.stats,
        reversible_state,
    })
}

/// Runs reversible Heun backwards (Kidger et al. 2021, Algorithm 2) from
/// the final solver state `end` of a forward solve on `grid`, reading the
/// same Brownian increments, and returns the reconstructed state at
/// `grid.t0`. With the same `drift`, `diffusion` and path as the forward
/// solve this recovers the initial condition up to floating-point rounding,
/// with one drift and one diffusion evaluation a step and no stored
/// trajectory.
///
/// `end` is normally [`SdeSolution::reversible_state`]; it must be at
/// `grid.t1`.
pub fn reverse_reversible_heun<F, G, B>(
    drift: F,
    diffusion: G,
    grid: &SdeGrid,
    end: &ReversibleHeunState,
    brownian: &mut B,
) -> Result<ReversibleHeunReverse, SdeError>
where
    F: FnMut(f64, &[f64]) -> Vec<f64>,
    G: FnMut(f64, &[f64]) -> Vec<f64>,
    B: BrownianPath + ?Sized,
{
    if end.t != grid.t1 {
        return Err(SdeError::StateTime {
            expected: grid.t1,
            got: end.t,
        });
    }
    let (d, m) = check_problem(&end.y, grid, brownian)?;
    check_len("auxiliary state z", d, end.z.len())?;
    check_len("stored drift", d, end.drift.len())?;
    check_len(
        "stored diffusion (d × m, row-major)",
        d * m,
        end.diffusion.len(),
    )?;
    let mut sys = System {
        drift,
        diffusion,
        d,
        m,
        stats: SdeStats::default(),
    };
    let mut y = end.y.clone();
    let mut z = end.z.clone();
    let mut mu = end.drift.clone();
    let mut sigma = end.diffusion.clone();
    for n in (0..grid.steps).rev() {
        let (ta, tb) = (grid.time(n), grid.time(n + 1));
        let h = tb - ta;
        let dw = sys.dw(brownian, ta, tb)?;
        let noise = mat_vec(&sigma, &dw, d, m);
        for i in 0..d {
            z[i] = 2.0 * y[i] - z[i] - mu[i] * h - noise[i];
        }
        let mu_prev = sys.f(ta, &z)?;
        let sigma_prev = sys.g(ta, &z)?;
        let noise_prev = mat_vec(&sigma_prev, &dw, d, m);
        for i in 0..d {
            y[i] -= 0.5 * (mu_prev[i] + mu[i]) * h + 0.5 * (noise_prev[i] + noise[i]);
        }
        mu = mu_prev;
        sigma = sigma_prev;
        sys.stats.steps += 1;
        if !(all_finite(&y) && all_finite(&z) && all_finite(&mu) && all_finite(&sigma)) {
            return Err(SdeError::NonFinite { step: n, t: ta });
        }
    }
    Ok(ReversibleHeunReverse {
        state: ReversibleHeunState {
            t: grid.t0,
            y,
            z,
            drift: mu,
            diffusion: sigma,
        },
        stats: sys.stats,
    })
}
