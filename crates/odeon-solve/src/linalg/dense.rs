//! Dense matrices and factorisations (faer underneath).

use faer::linalg::solvers::{Solve, SolveLstsq};
use faer::{Mat, MatRef, Side};

use super::{Complex64, LinalgError, check_finite};

/// A dense `f64` matrix stored row-major: entry `(i, j)` is `data[i * cols + j]`.
///
/// (De)serialises as `{rows, cols, data}`; deserialisation checks the length.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawMatrix")]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct RawMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl TryFrom<RawMatrix> for Matrix {
    type Error = LinalgError;

    fn try_from(raw: RawMatrix) -> Result<Self, LinalgError> {
        Matrix::new(raw.rows, raw.cols, raw.data)
    }
}

impl Matrix {
    /// A `rows × cols` matrix from row-major `data` (errors when the length differs).
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, LinalgError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(LinalgError::Dimension(format!(
                "a {rows}x{cols} matrix needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix from its rows (all of the same length).
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, LinalgError> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(LinalgError::Dimension(format!("row {i} has {} entries but row 0 has {cols}", r.len())));
        }
        Ok(Matrix { rows: rows.len(), cols, data: rows.concat() })
    }

    /// `rows × cols` zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// The `n × n` identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }

    /// A matrix with entries `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Matrix { rows, cols, data }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The row-major values, consuming the matrix.
    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    /// Entry `(i, j)`, or `None` out of range.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        if i < self.rows && j < self.cols { self.data.get(i * self.cols + j).copied() } else { None }
    }

    /// Column `j` as a vector (empty when out of range).
    pub fn column(&self, j: usize) -> Vec<f64> {
        if j >= self.cols {
            return Vec::new();
        }
        (0..self.rows).map(|i| self.data[i * self.cols + j]).collect()
    }

    /// The transpose.
    pub fn transpose(&self) -> Matrix {
        Matrix::from_fn(self.cols, self.rows, |i, j| self.data[j * self.cols + i])
    }

    /// `A x`.
    pub fn matvec(&self, x: &[f64]) -> Result<Vec<f64>, LinalgError> {
        if x.len() != self.cols {
            return Err(LinalgError::Dimension(format!(
                "a {}x{} matrix cannot multiply a vector of length {}",
                self.rows,
                self.cols,
                x.len()
            )));
        }
        Ok(self.data.chunks(self.cols.max(1)).take(self.rows).map(|row| super::dot(row, x)).collect())
    }

    /// `A B`.
    pub fn matmul(&self, other: &Matrix) -> Result<Matrix, LinalgError> {
        if self.cols != other.rows {
            return Err(LinalgError::Dimension(format!(
                "cannot multiply a {}x{} matrix by a {}x{} matrix",
                self.rows, self.cols, other.rows, other.cols
            )));
        }
        let mut out = Matrix::zeros(self.rows, other.cols);
        for i in 0..self.rows {
            for k in 0..self.cols {
                let a = self.data[i * self.cols + k];
                for j in 0..other.cols {
                    out.data[i * other.cols + j] += a * other.data[k * other.cols + j];
                }
            }
        }
        Ok(out)
    }

    /// Largest absolute entry (0 for an empty matrix).
    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
    }

    /// A faer copy.
    pub fn to_faer(&self) -> Mat<f64> {
        Mat::from_fn(self.rows, self.cols, |i, j| self.data[i * self.cols + j])
    }

    /// A copy of a faer matrix (any strides).
    pub fn from_faer(m: MatRef<'_, f64>) -> Matrix {
        Matrix::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)])
    }

    fn check_square(&self, what: &str) -> Result<usize, LinalgError> {
        if self.rows != self.cols {
            return Err(LinalgError::Dimension(format!(
                "{what} needs a square matrix, got {}x{}",
                self.rows, self.cols
            )));
        }
        Ok(self.rows)
    }

    fn check_symmetric(&self) -> Result<(), LinalgError> {
        let n = self.rows;
        let tol = 1e-12 * self.max_abs().max(f64::MIN_POSITIVE) * 8.0;
        for i in 0..n {
            for j in (i + 1)..n {
                if (self.data[i * n + j] - self.data[j * n + i]).abs() > tol {
                    return Err(LinalgError::NotSymmetric { i, j });
                }
            }
        }
        Ok(())
    }
}

fn check_rhs(n: usize, b: &[f64]) -> Result<(), LinalgError> {
    if b.len() != n {
        return Err(LinalgError::Dimension(format!(
            "the right-hand side has length {} but the matrix has {n} rows",
            b.len()
        )));
    }
    check_finite(b, "right-hand side")
}

fn column(b: &[f64]) -> Mat<f64> {
    Mat::from_fn(b.len(), 1, |i, _| b[i])
}

fn to_vec(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, 0)]).collect()
}

/// LU factorisation with partial (row) pivoting, `P A = L U`.
#[derive(Debug)]
pub struct Lu {
    inner: faer::linalg::solvers::PartialPivLu<f64>,
    n: usize,
}

impl Lu {
    /// Factors a square matrix; errors when it is singular to working
    /// precision (a pivot below `n ε max|A|`).
    pub fn new(a: &Matrix) -> Result<Self, LinalgError> {
        let n = a.check_square("an LU factorisation")?;
        check_finite(&a.data, "matrix")?;
        let inner = a.to_faer().partial_piv_lu();
        let u = inner.U();
        let tol = n as f64 * f64::EPSILON * a.max_abs();
        for i in 0..n {
            let p: f64 = u[(i, i)];
            if p.is_nan() || p.abs() <= tol {
                return Err(LinalgError::Singular { index: i });
            }
        }
        Ok(Lu { inner, n })
    }

    /// Solves `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Result<Vec<f64>, LinalgError> {
        check_rhs(self.n, b)?;
        let mut x = column(b);
        self.inner.solve_in_place(x.as_mut());
        Ok(to_vec(&x))
    }

    /// Solves `Aᵀ x = b`.
    pub fn solve_transpose(&self, b: &[f64]) -> Result<Vec<f64>, LinalgError> {
        check_rhs(self.n, b)?;
        let mut x = column(b);
        self.inner.solve_transpose_in_place(x.as_mut());
        Ok(to_vec(&x))
    }

    /// The determinant of `A`.
    pub fn determinant(&self) -> f64 {
        let u = self.inner.U();
        let mut det: f64 = (0..self.n).map(|i| u[(i, i)]).product();
        // The sign of the permutation: count its cycles.
        let (perm, _) = self.inner.P().arrays();
        let mut seen = vec![false; self.n];
        for start in 0..self.n {
            if seen[start] {
                continue;
            }
            let mut len = 0;
            let mut k = start;
            while !seen[k] {
                seen[k] = true;
                k = perm[k];
                len += 1;
            }
            if len % 2 == 0 {
                det = -det;
            }
        }
        det
    }
}

/// Solves the square system `A x = b` by LU with partial pivoting.
pub fn lu_solve(a: &Matrix, b: &[f64]) -> Result<Vec<f64>, LinalgError> {
    Lu::new(a)?.solve(b)
}

/// Cholesky factorisation `A = L Lᵀ` of a symmetric positive definite matrix.
#[derive(Debug)]
pub struct Cholesky {
    inner: faer::linalg::solvers::Llt<f64>,
    n: usize,
}

impl Cholesky {
    /// Factors `A`; errors in words when it is not symmetric or not
    /// positive definite.
    pub fn new(a: &Matrix) -> Result<Self, LinalgError> {
        let n = a.check_square("a Cholesky factorisation")?;
        check_finite(&a.data, "matrix")?;
        a.check_symmetric()?;
        match a.to_faer().llt(Side::Lower) {
            Ok(inner) => Ok(Cholesky { inner, n }),
            Err(faer::linalg::solvers::LltError::NonPositivePivot { index }) => {
                Err(LinalgError::NotPositiveDefinite { index })
            }
        }
    }

    /// Solves `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Result<Vec<f64>, LinalgError> {
        check_rhs(self.n, b)?;
        let mut x = column(b);
        self.inner.solve_in_place(x.as_mut());
        Ok(to_vec(&x))
    }

    /// The lower-triangular factor `L`.
    pub fn l(&self) -> Matrix {
        let l = self.inner.L();
        Matrix::from_fn(self.n, self.n, |i, j| if j <= i { l[(i, j)] } else { 0.0 })
    }
}

/// Householder QR factorisation `A = Q R` of an `m × n` matrix with `m ≥ n`.
#[derive(Debug)]
pub struct Qr {
    inner: faer::linalg::solvers::Qr<f64>,
    rows: usize,
    cols: usize,
}

impl Qr {
    /// Factors `A` (`m ≥ n`); errors when `A` has (numerically) dependent
    /// columns, since the least-squares solution is then not unique.
    pub fn new(a: &Matrix) -> Result<Self, LinalgError> {
        if a.rows < a.cols {
            return Err(LinalgError::Dimension(format!(
                "a QR least-squares solve needs at least as many rows as columns, got {}x{}",
                a.rows, a.cols
            )));
        }
        check_finite(&a.data, "matrix")?;
        let inner = a.to_faer().qr();
        let r = inner.R();
        let tol = a.rows.max(a.cols) as f64 * f64::EPSILON * a.max_abs();
        for i in 0..a.cols {
            let p: f64 = r[(i, i)];
            if p.is_nan() || p.abs() <= tol {
                return Err(LinalgError::Singular { index: i });
            }
        }
        Ok(Qr { inner, rows: a.rows, cols: a.cols })
    }

    /// The least-squares solution `argmin |A x - b|` (exact for square `A`).
    pub fn solve_least_squares(&self, b: &[f64]) -> Result<Vec<f64>, LinalgError> {
        check_rhs(self.rows, b)?;
        let mut x = column(b);
        self.inner.solve_lstsq_in_place(x.as_mut());
        Ok((0..self.cols).map(|i| x[(i, 0)]).collect())
    }

    /// The thin `Q` (`m × n`, orthonormal columns).
    pub fn q(&self) -> Matrix {
        Matrix::from_faer(self.inner.compute_thin_Q().as_ref())
    }

    /// The thin `R` (`n × n`, upper triangular).
    pub fn r(&self) -> Matrix {
        let r = self.inner.thin_R();
        Matrix::from_fn(self.cols, self.cols, |i, j| if j >= i { r[(i, j)] } else { 0.0 })
    }
}

/// The least-squares solution of `A x ≈ b` by Householder QR (`m ≥ n`, full column rank).
pub fn lstsq(a: &Matrix, b: &[f64]) -> Result<Vec<f64>, LinalgError> {
    Qr::new(a)?.solve_least_squares(b)
}

/// Eigen-decomposition of a symmetric matrix, `A = V diag(values) Vᵀ`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SymmetricEigen {
    /// Eigenvalues in nondecreasing order.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as columns, in the order of `values`.
    pub vectors: Matrix,
}

/// Eigenvalues and eigenvectors of a symmetric matrix (checked for symmetry).
pub fn eigh(a: &Matrix) -> Result<SymmetricEigen, LinalgError> {
    let n = a.check_square("a symmetric eigen-decomposition")?;
    check_finite(&a.data, "matrix")?;
    a.check_symmetric()?;
    let evd = a
        .to_faer()
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| LinalgError::NoConvergence("symmetric eigenvalue iteration"))?;
    let s = evd.S().column_vector();
    let values = (0..n).map(|i| s[i]).collect();
    Ok(SymmetricEigen { values, vectors: Matrix::from_faer(evd.U()) })
}

/// Eigen-decomposition of a general real matrix (complex in general).
#[derive(Debug, Clone, PartialEq)]
pub struct Eigen {
    /// Eigenvalues (complex-conjugate pairs adjacent), in faer's order.
    pub values: Vec<Complex64>,
    /// Eigenvectors as columns, row-major `n × n`: entry `(i, k)` is
    /// `vectors[i * n + k]`, column `k` belongs to `values[k]`.
    pub vectors: Vec<Complex64>,
    /// The dimension `n`.
    pub n: usize,
}

impl Eigen {
    /// The eigenvector of `values[k]` (empty when out of range).
    pub fn vector(&self, k: usize) -> Vec<Complex64> {
        if k >= self.n {
            return Vec::new();
        }
        (0..self.n).map(|i| self.vectors[i * self.n + k]).collect()
    }
}

/// Eigenvalues and eigenvectors of a general (non-symmetric) real matrix.
pub fn eig(a: &Matrix) -> Result<Eigen, LinalgError> {
    let n = a.check_square("an eigen-decomposition")?;
    check_finite(&a.data, "matrix")?;
    let evd = a.to_faer().eigen().map_err(|_| LinalgError::NoConvergence("eigenvalue (QR) iteration"))?;
    let s = evd.S().column_vector();
    let u = evd.U();
    let values = (0..n).map(|i| s[i]).collect();
    let mut vectors = Vec::with_capacity(n * n);
    for i in 0..n {
        for k in 0..n {
            vectors.push(u[(i, k)]);
        }
    }
    Ok(Eigen { values, vectors, n })
}

/// Thin singular value decomposition `A = U diag(s) Vᵀ`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Svd {
    /// Left singular vectors, `m × k` with `k = min(m, n)`.
    pub u: Matrix,
    /// Singular values, nonnegative and nonincreasing (length `k`).
    pub s: Vec<f64>,
    /// Right singular vectors, `n × k` (so `A = U diag(s) Vᵀ`).
    pub v: Matrix,
}

impl Svd {
    /// `U diag(s) Vᵀ`.
    pub fn reconstruct(&self) -> Matrix {
        let k = self.s.len();
        Matrix::from_fn(self.u.rows(), self.v.rows(), |i, j| {
            (0..k).map(|l| self.u.data()[i * k + l] * self.s[l] * self.v.data()[j * k + l]).sum()
        })
    }
}

/// Thin SVD of any `m × n` matrix.
pub fn svd(a: &Matrix) -> Result<Svd, LinalgError> {
    check_finite(&a.data, "matrix")?;
    if a.rows == 0 || a.cols == 0 {
        return Ok(Svd { u: Matrix::zeros(a.rows, 0), s: Vec::new(), v: Matrix::zeros(a.cols, 0) });
    }
    let d = a.to_faer().thin_svd().map_err(|_| LinalgError::NoConvergence("singular value iteration"))?;
    let s = d.S().column_vector();
    let k = a.rows.min(a.cols);
    Ok(Svd { u: Matrix::from_faer(d.U()), s: (0..k).map(|i| s[i]).collect(), v: Matrix::from_faer(d.V()) })
}
