//! The [`Backend`] trait: the kernels a device must provide.
//!
//! [`crate::Tensor`] checks shapes and dtypes and works out result shapes
//! once, for every backend; a backend only runs kernels on already-validated
//! inputs. Shapes are passed explicitly so that a backend whose storage is a
//! flat device buffer (the WebGPU backend) needs nothing else. Reading values
//! back is fallible: on the web a GPU backend can only read back
//! asynchronously and reports so instead of blocking.

use crate::{BinaryOp, Csr, DType, ReduceOp, TensorError, UnaryOp};

/// Geometry of a 2-D convolution or its unfolding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conv2dGeometry {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Stride along height and width.
    pub stride: (usize, usize),
    /// Zero padding along height and width.
    pub padding: (usize, usize),
}

impl Conv2dGeometry {
    /// Output height and width for an input of `h x w`, or `None` when the
    /// kernel does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || h + 2 * ph < kh || w + 2 * pw < kw {
            return None;
        }
        Some(((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1))
    }
}

/// The scalars of one fused Adam update (see [`Backend::adam_update`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamScalars {
    /// `lr / (1 - beta1^t)`: the step on the bias-corrected first moment.
    pub step: f64,
    /// `1 / (1 - beta2^t)`: the second-moment bias correction.
    pub v_correction: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Factor applied to the parameter before the step (`1 - lr * wd` for AdamW, else 1).
    pub decay: f64,
}

/// `(param, m, v)` after an Adam update.
pub type AdamState<S> = (S, S, S);

/// A compute device: CPU today, WebGPU with the GPU issue.
pub trait Backend: Clone + std::fmt::Debug + PartialEq + 'static {
    /// A tensor's data on this device.
    type Storage: Clone + std::fmt::Debug;

    /// Human-readable device name.
    fn name(&self) -> String;
    /// Uploads `f64` values (row-major) as `dtype`.
    fn upload_f64(&self, data: &[f64], shape: &[usize], dtype: DType) -> Result<Self::Storage, TensorError>;
    /// Uploads `f32` values (row-major) as `dtype`.
    fn upload_f32(&self, data: &[f32], shape: &[usize], dtype: DType) -> Result<Self::Storage, TensorError>;
    /// Reads values back as `f64`.
    fn read_f64(&self, storage: &Self::Storage) -> Result<Vec<f64>, TensorError>;
    /// Reads values back as `f32`.
    fn read_f32(&self, storage: &Self::Storage) -> Result<Vec<f32>, TensorError>;
    /// The element type of `storage`.
    fn dtype(&self, storage: &Self::Storage) -> DType;
    /// A tensor filled with `value`.
    fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<Self::Storage, TensorError>;
    /// Converts to another element type.
    fn cast(&self, storage: &Self::Storage, dtype: DType) -> Result<Self::Storage, TensorError>;
    /// `f(x)` elementwise.
    fn unary(&self, op: UnaryOp, x: &Self::Storage) -> Result<Self::Storage, TensorError>;
    /// `grad * f'(x)` elementwise (fused first-order backward).
    fn unary_backward(&self, op: UnaryOp, x: &Self::Storage, grad: &Self::Storage) -> Result<Self::Storage, TensorError>;
    /// `f(a, b)` elementwise with broadcasting to `out_shape`.
    fn binary(
        &self,
        op: BinaryOp,
        a: (&Self::Storage, &[usize]),
        b: (&Self::Storage, &[usize]),
        out_shape: &[usize],
    ) -> Result<Self::Storage, TensorError>;
    /// `f(x, c)` (or `f(c, x)` when `scalar_first`) with a scalar `c`.
    fn scalar(&self, op: BinaryOp, x: &Self::Storage, c: f64, scalar_first: bool) -> Result<Self::Storage, TensorError>;
    /// `cond != 0 ? a : b` with broadcasting to `out_shape`.
    fn select(
        &self,
        cond: (&Self::Storage, &[usize]),
        a: (&Self::Storage, &[usize]),
        b: (&Self::Storage, &[usize]),
        out_shape: &[usize],
    ) -> Result<Self::Storage, TensorError>;
    /// `bias + a b` for matrices `a: [m, k]`, `b: [k, n]` and `bias: [1, n]`
    /// or `[n]` (a linear layer in one pass).
    fn addmm(&self, bias: (&Self::Storage, &[usize]), a: (&Self::Storage, &[usize]), b: (&Self::Storage, &[usize])) -> Result<Self::Storage, TensorError>;
    /// One fused Adam update: returns the new `(param, m, v)`.
    fn adam_update(
        &self,
        param: &Self::Storage,
        grad: &Self::Storage,
        m: &Self::Storage,
        v: &Self::Storage,
        scalars: AdamScalars,
    ) -> Result<AdamState<Self::Storage>, TensorError>;
    /// Batched matrix product `[..., m, k] x [..., k, n]`, batch dims equal.
    fn matmul(&self, a: (&Self::Storage, &[usize]), b: (&Self::Storage, &[usize])) -> Result<Self::Storage, TensorError>;
    /// Reduces over `axes`, keeping them as size one.
    fn reduce(&self, op: ReduceOp, x: (&Self::Storage, &[usize]), axes: &[usize]) -> Result<Self::Storage, TensorError>;
    /// Same data, new shape (same element count).
    fn reshape(&self, x: (&Self::Storage, &[usize]), shape: &[usize]) -> Result<Self::Storage, TensorError>;
    /// Axes reordered.
    fn permute(&self, x: (&Self::Storage, &[usize]), perm: &[usize]) -> Result<Self::Storage, TensorError>;
    /// Broadcast to a larger shape (materialised).
    fn broadcast_to(&self, x: (&Self::Storage, &[usize]), shape: &[usize]) -> Result<Self::Storage, TensorError>;
    /// `start..end` along `axis`.
    fn slice(&self, x: (&Self::Storage, &[usize]), axis: usize, start: usize, end: usize) -> Result<Self::Storage, TensorError>;
    /// Concatenation along `axis`.
    fn concat(&self, parts: &[(&Self::Storage, &[usize])], axis: usize) -> Result<Self::Storage, TensorError>;
    /// Entries at `indices` along `axis`.
    fn index_select(&self, x: (&Self::Storage, &[usize]), axis: usize, indices: &[usize]) -> Result<Self::Storage, TensorError>;
    /// `x` with `src[i]` added at `indices[i]` along `axis` (the adjoint of `index_select`).
    fn index_add(
        &self,
        x: (&Self::Storage, &[usize]),
        axis: usize,
        indices: &[usize],
        src: (&Self::Storage, &[usize]),
    ) -> Result<Self::Storage, TensorError>;
    /// im2col: `[n, c, h, w]` to `[n, c*kh*kw, oh*ow]`.
    fn unfold2d(&self, x: (&Self::Storage, &[usize]), geometry: Conv2dGeometry) -> Result<Self::Storage, TensorError>;
    /// col2im, the adjoint of `unfold2d`: `[n, c*kh*kw, oh*ow]` to `image_shape`.
    fn fold2d(
        &self,
        cols: (&Self::Storage, &[usize]),
        image_shape: &[usize],
        geometry: Conv2dGeometry,
    ) -> Result<Self::Storage, TensorError>;
    /// `A x` (or `A^T x` when `transpose`) for a sparse `A` and dense `[cols, k]` `x`.
    fn csr_matmul(&self, csr: &Csr, x: (&Self::Storage, &[usize]), transpose: bool) -> Result<Self::Storage, TensorError>;
}
