//! Fast cosine transforms and Neumann Helmholtz/Poisson solves.
//!
//! ## Normalisation
//! [`dct2`] is the unnormalised DCT-II,
//! `X_k = Σ_{n<N} x_n cos(π k (2n + 1) / (2N))`, and [`dct3`] is the scaled
//! DCT-III that inverts it exactly,
//! `x_n = (X_0 + 2 Σ_{k≥1} X_k cos(π k (2n + 1) / (2N))) / N`,
//! so `dct3(dct2(x)) = x`. (SciPy's `dct(x, type=2)` is twice [`dct2`].)
//! Both run in O(N log N) through one complex FFT of length `N` (Makhoul
//! 1980): the input is reordered as `v = (x_0, x_2, x_4, …, x_5, x_3, x_1)`,
//! transformed, and rotated by `e^{-iπk/(2N)}`. Any `N ≥ 1` works.
//!
//! ## Neumann Helmholtz
//! On a uniform cell-centred grid (cell `i` centred at `(i + ½) h`) with
//! homogeneous Neumann boundaries (mirror ghost cells `u_{-1} = u_0`,
//! `u_N = u_{N-1}`), the second-order Laplacian is diagonalised by the
//! DCT-II: its eigenvalues are `-(4/h²) sin²(π k / (2N))`. The solvers here
//! solve `(α I - Δ_h) u = f` with `α ≥ 0` by transforming, dividing and
//! transforming back. For `α = 0` (Poisson) the problem is solvable only for
//! mean-zero `f` and `u` is defined up to a constant: the mean of `f` is
//! subtracted (and reported as [`HelmholtzSolution::removed_mean`]) and the
//! mean-zero `u` is returned.

use std::sync::Arc;

use rustfft::{Fft, FftPlanner};

use super::{Complex64, LinalgError, check_finite};

/// A planned DCT-II/DCT-III pair of one length (reuse it for many transforms).
#[derive(Clone)]
pub struct Dct {
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    /// `e^{-iπk/(2N)}`.
    twiddle: Vec<Complex64>,
}

impl std::fmt::Debug for Dct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dct").field("n", &self.n).finish_non_exhaustive()
    }
}

impl Dct {
    /// Plans transforms of length `n`.
    pub fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let twiddle = (0..n)
            .map(|k| {
                let angle = -std::f64::consts::PI * k as f64 / (2.0 * n as f64);
                Complex64::new(libm::cos(angle), libm::sin(angle))
            })
            .collect();
        Dct { n, forward, inverse, twiddle }
    }

    /// The transform length.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for the length-0 transform.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn check(&self, x: &[f64]) -> Result<(), LinalgError> {
        if x.len() != self.n {
            return Err(LinalgError::Dimension(format!(
                "this DCT has length {} but the input has length {}",
                self.n,
                x.len()
            )));
        }
        check_finite(x, "DCT input")
    }

    /// The DCT-II of `x` (see the module docs for the normalisation).
    pub fn dct2(&self, x: &[f64]) -> Result<Vec<f64>, LinalgError> {
        self.check(x)?;
        let n = self.n;
        let mut v = vec![Complex64::new(0.0, 0.0); n];
        for (i, &xi) in x.iter().enumerate() {
            let slot = if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 };
            v[slot] = Complex64::new(xi, 0.0);
        }
        self.forward.process(&mut v);
        Ok(v.iter().zip(&self.twiddle).map(|(vk, w)| (vk * w).re).collect())
    }

    /// The scaled DCT-III, the exact inverse of [`Dct::dct2`].
    pub fn dct3(&self, coeffs: &[f64]) -> Result<Vec<f64>, LinalgError> {
        self.check(coeffs)?;
        let n = self.n;
        let mut v: Vec<Complex64> = (0..n)
            .map(|k| {
                let z = if k == 0 { Complex64::new(coeffs[0], 0.0) } else { Complex64::new(coeffs[k], -coeffs[n - k]) };
                z * self.twiddle[k].conj()
            })
            .collect();
        self.inverse.process(&mut v);
        let scale = 1.0 / n as f64;
        let mut x = vec![0.0; n];
        for (i, xi) in x.iter_mut().enumerate() {
            let slot = if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 };
            *xi = v[slot].re * scale;
        }
        Ok(x)
    }
}

/// The DCT-II of `x` (unnormalised; see the module docs).
pub fn dct2(x: &[f64]) -> Result<Vec<f64>, LinalgError> {
    Dct::new(x.len()).dct2(x)
}

/// The scaled DCT-III, inverse of [`dct2`].
pub fn dct3(coeffs: &[f64]) -> Result<Vec<f64>, LinalgError> {
    Dct::new(coeffs.len()).dct3(coeffs)
}

fn check_grid(data: &[f64], nx: usize, ny: usize) -> Result<(), LinalgError> {
    if nx.checked_mul(ny) != Some(data.len()) {
        return Err(LinalgError::Dimension(format!(
            "a {nx}x{ny} grid needs {} values, got {}",
            nx.saturating_mul(ny),
            data.len()
        )));
    }
    Ok(())
}

/// Applies `transform` along x (rows, contiguous) and then along y (columns)
/// of a row-major grid `data[j * nx + i]`.
fn separable(
    data: &[f64],
    nx: usize,
    ny: usize,
    transform: impl Fn(&Dct, &[f64]) -> Result<Vec<f64>, LinalgError>,
) -> Result<Vec<f64>, LinalgError> {
    check_grid(data, nx, ny)?;
    check_finite(data, "grid values")?;
    let dx = Dct::new(nx);
    let dy = Dct::new(ny);
    let mut out = Vec::with_capacity(data.len());
    for row in data.chunks(nx.max(1)).take(ny) {
        out.extend(transform(&dx, row)?);
    }
    let mut column = vec![0.0; ny];
    for i in 0..nx {
        for (j, c) in column.iter_mut().enumerate() {
            *c = out[j * nx + i];
        }
        let t = transform(&dy, &column)?;
        for (j, v) in t.into_iter().enumerate() {
            out[j * nx + i] = v;
        }
    }
    Ok(out)
}

/// 2-D DCT-II of a row-major `ny × nx` grid (`data[j * nx + i]`, `i` along x).
pub fn dct2_2d(data: &[f64], nx: usize, ny: usize) -> Result<Vec<f64>, LinalgError> {
    separable(data, nx, ny, Dct::dct2)
}

/// 2-D scaled DCT-III, inverse of [`dct2_2d`].
pub fn dct3_2d(coeffs: &[f64], nx: usize, ny: usize) -> Result<Vec<f64>, LinalgError> {
    separable(coeffs, nx, ny, Dct::dct3)
}

/// The result of a Neumann Helmholtz/Poisson solve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HelmholtzSolution {
    /// The solution on the grid (same layout as the input).
    pub u: Vec<f64>,
    /// The mean subtracted from `f` (nonzero only for `α = 0`; then `u` has mean zero).
    pub removed_mean: f64,
}

fn check_params(h: &[f64], alpha: f64) -> Result<(), LinalgError> {
    if !h.iter().all(|h| h.is_finite() && *h > 0.0) {
        return Err(LinalgError::Parameter("the grid spacing must be positive and finite".into()));
    }
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(LinalgError::Parameter(format!(
            "the Helmholtz shift α must be finite and nonnegative, got {alpha}"
        )));
    }
    Ok(())
}

/// Eigenvalues of `-Δ_h` (1-D, Neumann, cell-centred): `(4/h²) sin²(πk/(2n))`.
fn neumann_eigenvalues(n: usize, h: f64) -> Vec<f64> {
    (0..n)
        .map(|k| {
            let s = libm::sin(std::f64::consts::PI * k as f64 / (2.0 * n as f64));
            4.0 * s * s / (h * h)
        })
        .collect()
}

/// Solves `(α I - d²/dx²) u = f` on `n` cells of width `h` with homogeneous
/// Neumann boundaries (see the module docs; `α = 0` removes the mean of `f`).
pub fn helmholtz_neumann_1d(f: &[f64], h: f64, alpha: f64) -> Result<HelmholtzSolution, LinalgError> {
    helmholtz_neumann_2d(f, f.len(), 1, h, 1.0, alpha)
}

/// Solves `(α I - Δ) u = f` on an `nx × ny` cell-centred grid (row-major
/// `f[j * nx + i]`, spacings `hx`, `hy`) with homogeneous Neumann boundaries,
/// using the five-point Laplacian diagonalised by the 2-D DCT-II. For
/// `α = 0` the mean of `f` is removed and the mean-zero solution returned.
pub fn helmholtz_neumann_2d(
    f: &[f64],
    nx: usize,
    ny: usize,
    hx: f64,
    hy: f64,
    alpha: f64,
) -> Result<HelmholtzSolution, LinalgError> {
    check_params(&[hx, hy], alpha)?;
    check_grid(f, nx, ny)?;
    if f.is_empty() {
        return Ok(HelmholtzSolution { u: Vec::new(), removed_mean: 0.0 });
    }
    let mut coeffs = dct2_2d(f, nx, ny)?;
    let lx = neumann_eigenvalues(nx, hx);
    // In 1-D (ny = 1) the y eigenvalue is 0 whatever hy is.
    let ly = neumann_eigenvalues(ny, hy);
    let mut removed_mean = 0.0;
    for (j, lyj) in ly.iter().enumerate() {
        for (i, lxi) in lx.iter().enumerate() {
            let d = alpha + lxi + lyj;
            let c = &mut coeffs[j * nx + i];
            if i == 0 && j == 0 && alpha == 0.0 {
                removed_mean = *c / (nx * ny) as f64;
                *c = 0.0;
            } else {
                *c /= d;
            }
        }
    }
    Ok(HelmholtzSolution { u: dct3_2d(&coeffs, nx, ny)?, removed_mean })
}

/// `(α I - Δ_h) u` for the 1-D Neumann operator of [`helmholtz_neumann_1d`].
pub fn apply_neumann_helmholtz_1d(u: &[f64], h: f64, alpha: f64) -> Result<Vec<f64>, LinalgError> {
    apply_neumann_helmholtz_2d(u, u.len(), 1, h, 1.0, alpha)
}

/// `(α I - Δ_h) u` for the 2-D Neumann operator of [`helmholtz_neumann_2d`]
/// (five-point stencil, mirror ghost cells).
pub fn apply_neumann_helmholtz_2d(
    u: &[f64],
    nx: usize,
    ny: usize,
    hx: f64,
    hy: f64,
    alpha: f64,
) -> Result<Vec<f64>, LinalgError> {
    check_params(&[hx, hy], alpha)?;
    check_grid(u, nx, ny)?;
    check_finite(u, "grid values")?;
    let at = |i: usize, j: usize| u[j * nx + i];
    let mut out = vec![0.0; u.len()];
    for j in 0..ny {
        for i in 0..nx {
            let c = at(i, j);
            let west = if i > 0 { at(i - 1, j) } else { c };
            let east = if i + 1 < nx { at(i + 1, j) } else { c };
            let south = if j > 0 { at(i, j - 1) } else { c };
            let north = if j + 1 < ny { at(i, j + 1) } else { c };
            let lap = (west - 2.0 * c + east) / (hx * hx) + (south - 2.0 * c + north) / (hy * hy);
            out[j * nx + i] = alpha * c - lap;
        }
    }
    Ok(out)
}
