//! [`Tensor`]: shape- and dtype-checked operations over any [`Backend`].

use crate::backend::{AdamScalars, AdamState, Backend, Conv2dGeometry};
use crate::cpu::Cpu;
use crate::{BinaryOp, Csr, DType, ReduceOp, UnaryOp};

/// Why a tensor operation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// The data length does not match the requested shape.
    #[error("cannot make a tensor of shape {shape:?} from {len} numbers")]
    DataLength {
        /// Requested shape.
        shape: Vec<usize>,
        /// Number of values given.
        len: usize,
    },
    /// Two shapes cannot be broadcast together.
    #[error("{op}: shapes {left:?} and {right:?} do not broadcast together")]
    Broadcast {
        /// The operation that failed.
        op: &'static str,
        /// Left operand shape.
        left: Vec<usize>,
        /// Right operand shape.
        right: Vec<usize>,
    },
    /// Matrix product with mismatched inner dimensions or batch dimensions.
    #[error("matmul: cannot multiply {left:?} by {right:?} (inner sizes and batch sizes must match)")]
    Matmul {
        /// Left operand shape.
        left: Vec<usize>,
        /// Right operand shape.
        right: Vec<usize>,
    },
    /// Operands of different element types.
    #[error("{op}: cannot combine {left} with {right}; convert one with .cast()")]
    DType {
        /// The operation that failed.
        op: String,
        /// Left element type.
        left: DType,
        /// Right element type.
        right: DType,
    },
    /// An axis outside the tensor's rank.
    #[error("{op}: axis {axis} is out of range for a tensor of rank {rank}")]
    Axis {
        /// The operation that failed.
        op: &'static str,
        /// The axis asked for.
        axis: usize,
        /// The tensor's rank.
        rank: usize,
    },
    /// The device does not support this at all (e.g. `f64` on the GPU).
    #[error("{what} are not available on {device}: {advice}")]
    Unsupported {
        /// The device, e.g. `"the GPU"`.
        device: String,
        /// What was asked for, plural, e.g. `"f64 tensors"`.
        what: String,
        /// What to do instead.
        advice: String,
    },
    /// The device cannot do this (e.g. a synchronous read on the web GPU).
    #[error("{0}")]
    Device(String),
    /// Anything else about shapes.
    #[error("{0}")]
    Shape(String),
}

/// A dense tensor on backend `B` (the CPU unless said otherwise).
///
/// Cloning is cheap (the CPU storage is reference-counted and copy-on-write).
#[derive(Debug, Clone)]
pub struct Tensor<B: Backend = Cpu> {
    storage: B::Storage,
    shape: Vec<usize>,
    dtype: DType,
    backend: B,
}

impl<B: Backend> PartialEq for Tensor<B> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape
            && self.dtype == other.dtype
            && matches!((self.to_f64_vec(), other.to_f64_vec()), (Ok(a), Ok(b)) if a == b)
    }
}

/// The broadcast shape of two shapes, or `None` when they do not broadcast.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = if i < rank - a.len() { 1 } else { a[i - (rank - a.len())] };
        let db = if i < rank - b.len() { 1 } else { b[i - (rank - b.len())] };
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

impl Tensor<Cpu> {
    /// An `f32` CPU tensor from row-major data.
    pub fn from_shape_vec(shape: &[usize], data: Vec<f32>) -> Result<Self, TensorError> {
        Self::from_f32_in(&Cpu, shape, &data)
    }

    /// An `f64` CPU tensor from row-major data.
    pub fn from_f64(shape: &[usize], data: Vec<f64>) -> Result<Self, TensorError> {
        Self::from_f64_in(&Cpu, shape, &data, DType::F64)
    }

    /// `f32` zeros on the CPU.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, 0.0)
    }

    /// An `f32` CPU tensor filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self::full_in(&Cpu, shape, f64::from(value), DType::F32).unwrap_or_else(|_| unreachable_cpu())
    }

    /// A rank-0 `f32` CPU tensor.
    pub fn scalar(value: f32) -> Self {
        Self::full(&[], value)
    }

    /// A rank-0 `f64` CPU tensor.
    pub fn scalar_f64(value: f64) -> Self {
        Self::full_in(&Cpu, &[], value, DType::F64).unwrap_or_else(|_| unreachable_cpu())
    }
}

/// The CPU's `full` cannot fail; this keeps `Tensor::full` infallible
/// without an `unwrap`.
fn unreachable_cpu() -> Tensor<Cpu> {
    Tensor { storage: crate::cpu::CpuStorage::F32(ndarray::ArcArray::zeros(ndarray::IxDyn(&[]))), shape: vec![], dtype: DType::F32, backend: Cpu }
}

impl<B: Backend> Tensor<B> {
    fn wrap(&self, storage: B::Storage, shape: Vec<usize>) -> Tensor<B> {
        let dtype = self.backend.dtype(&storage);
        Tensor { storage, shape, dtype, backend: self.backend.clone() }
    }

    /// A tensor on `backend` from `f32` data, stored as `f32`.
    pub fn from_f32_in(backend: &B, shape: &[usize], data: &[f32]) -> Result<Self, TensorError> {
        check_len(shape, data.len())?;
        let storage = backend.upload_f32(data, shape, DType::F32)?;
        Ok(Tensor { storage, shape: shape.to_vec(), dtype: DType::F32, backend: backend.clone() })
    }

    /// A tensor on `backend` from `f64` data, stored as `dtype`.
    pub fn from_f64_in(backend: &B, shape: &[usize], data: &[f64], dtype: DType) -> Result<Self, TensorError> {
        check_len(shape, data.len())?;
        let storage = backend.upload_f64(data, shape, dtype)?;
        Ok(Tensor { storage, shape: shape.to_vec(), dtype, backend: backend.clone() })
    }

    /// A tensor on `backend` filled with `value`.
    pub fn full_in(backend: &B, shape: &[usize], value: f64, dtype: DType) -> Result<Self, TensorError> {
        let storage = backend.full(shape, value, dtype)?;
        Ok(Tensor { storage, shape: shape.to_vec(), dtype, backend: backend.clone() })
    }

    /// Same shape, dtype and device, filled with `value`.
    pub fn full_like(&self, value: f64) -> Result<Self, TensorError> {
        Self::full_in(&self.backend, &self.shape, value, self.dtype)
    }

    /// Zeros like `self`.
    pub fn zeros_like(&self) -> Result<Self, TensorError> {
        self.full_like(0.0)
    }

    /// A scalar (rank 0) of `self`'s dtype and device.
    pub fn scalar_like(&self, value: f64) -> Result<Self, TensorError> {
        Self::full_in(&self.backend, &[], value, self.dtype)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The device data.
    pub fn storage(&self) -> &B::Storage {
        &self.storage
    }

    /// The values as `f32`, row-major.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>, TensorError> {
        self.backend.read_f32(&self.storage)
    }

    /// The values as `f64`, row-major.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, TensorError> {
        self.backend.read_f64(&self.storage)
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f64, TensorError> {
        if self.len() != 1 {
            return Err(TensorError::Shape(format!("expected a single number, got a tensor of shape {:?}", self.shape)));
        }
        Ok(self.to_f64_vec()?.first().copied().unwrap_or(f64::NAN))
    }

    /// True when every element is finite.
    pub fn all_finite(&self) -> Result<bool, TensorError> {
        Ok(self.to_f64_vec()?.iter().all(|x| x.is_finite()))
    }

    /// Converts to another element type.
    pub fn cast(&self, dtype: DType) -> Result<Tensor<B>, TensorError> {
        if dtype == self.dtype {
            return Ok(self.clone());
        }
        Ok(self.wrap(self.backend.cast(&self.storage, dtype)?, self.shape.clone()))
    }

    fn check_dtype(&self, other: &Tensor<B>, op: &str) -> Result<(), TensorError> {
        if self.dtype != other.dtype {
            return Err(TensorError::DType { op: op.to_string(), left: self.dtype, right: other.dtype });
        }
        Ok(())
    }

    fn axis(&self, axis: usize, op: &'static str) -> Result<usize, TensorError> {
        if axis < self.rank() { Ok(axis) } else { Err(TensorError::Axis { op, axis, rank: self.rank() }) }
    }

    /// `f(self, other)` elementwise with NumPy broadcasting.
    pub fn binary(&self, op: BinaryOp, other: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        let name = binary_name(op);
        self.check_dtype(other, name)?;
        let out = broadcast_shape(&self.shape, &other.shape).ok_or_else(|| TensorError::Broadcast {
            op: name,
            left: self.shape.clone(),
            right: other.shape.clone(),
        })?;
        let storage = self.backend.binary(op, (&self.storage, &self.shape), (&other.storage, &other.shape), &out)?;
        Ok(self.wrap(storage, out))
    }

    /// `self + other`.
    pub fn add(&self, other: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.binary(BinaryOp::Add, other)
    }

    /// `self - other`.
    pub fn sub(&self, other: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.binary(BinaryOp::Sub, other)
    }

    /// `self * other` elementwise.
    pub fn mul(&self, other: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.binary(BinaryOp::Mul, other)
    }

    /// `self / other` elementwise.
    pub fn div(&self, other: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.binary(BinaryOp::Div, other)
    }

    /// `f(self, c)` with a scalar `c` (or `f(c, self)` when `scalar_first`).
    pub fn scalar_op(&self, op: BinaryOp, c: f64, scalar_first: bool) -> Result<Tensor<B>, TensorError> {
        Ok(self.wrap(self.backend.scalar(op, &self.storage, c, scalar_first)?, self.shape.clone()))
    }

    /// `factor * self`.
    pub fn scale(&self, factor: f64) -> Result<Tensor<B>, TensorError> {
        self.scalar_op(BinaryOp::Mul, factor, false)
    }

    /// `self + value`.
    pub fn add_scalar(&self, value: f64) -> Result<Tensor<B>, TensorError> {
        self.scalar_op(BinaryOp::Add, value, false)
    }

    /// `f(self)` elementwise.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor<B>, TensorError> {
        Ok(self.wrap(self.backend.unary(op, &self.storage)?, self.shape.clone()))
    }

    /// `grad * f'(self)` elementwise.
    pub fn unary_backward(&self, op: UnaryOp, grad: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.check_dtype(grad, "unary backward")?;
        if self.shape != grad.shape {
            return Err(TensorError::Broadcast { op: "unary backward", left: self.shape.clone(), right: grad.shape.clone() });
        }
        Ok(self.wrap(self.backend.unary_backward(op, &self.storage, &grad.storage)?, self.shape.clone()))
    }

    /// `cond != 0 ? a : b` with broadcasting.
    pub fn select(cond: &Tensor<B>, a: &Tensor<B>, b: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        a.check_dtype(b, "where")?;
        let ab = broadcast_shape(&a.shape, &b.shape)
            .ok_or_else(|| TensorError::Broadcast { op: "where", left: a.shape.clone(), right: b.shape.clone() })?;
        let out = broadcast_shape(&cond.shape, &ab)
            .ok_or_else(|| TensorError::Broadcast { op: "where", left: cond.shape.clone(), right: ab.clone() })?;
        let storage = a.backend.select((&cond.storage, &cond.shape), (&a.storage, &a.shape), (&b.storage, &b.shape), &out)?;
        Ok(a.wrap(storage, out))
    }

    /// Batched matrix product: `[..., m, k] x [..., k, n]`; a rank-2 operand
    /// is broadcast over the other's batch dimensions.
    pub fn matmul(&self, other: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.check_dtype(other, "matmul")?;
        let err = || TensorError::Matmul { left: self.shape.clone(), right: other.shape.clone() };
        let (ra, rb) = (self.rank(), other.rank());
        if ra < 2 || rb < 2 || self.shape[ra - 1] != other.shape[rb - 2] {
            return Err(err());
        }
        if ra == rb {
            if self.shape[..ra - 2] != other.shape[..rb - 2] {
                return Err(err());
            }
            let storage = self.backend.matmul((&self.storage, &self.shape), (&other.storage, &other.shape))?;
            let mut shape = self.shape[..ra - 1].to_vec();
            shape.push(other.shape[rb - 1]);
            return Ok(self.wrap(storage, shape));
        }
        if rb == 2 {
            // [..., m, k] x [k, n]: fold the batch into rows.
            let rows: usize = self.shape[..ra - 1].iter().product();
            let flat = self.reshape(&[rows, self.shape[ra - 1]])?;
            let out = flat.matmul(other)?;
            let mut shape = self.shape[..ra - 1].to_vec();
            shape.push(other.shape[1]);
            return out.reshape(&shape);
        }
        if ra == 2 {
            let mut shape = other.shape[..rb - 2].to_vec();
            shape.extend_from_slice(&self.shape);
            return self.broadcast_to(&shape)?.matmul(other);
        }
        Err(err())
    }

    /// `bias + self other` for matrices (`bias` of shape `[1, n]` or `[n]`):
    /// a linear layer in one pass.
    pub fn addmm(&self, other: &Tensor<B>, bias: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.check_dtype(other, "linear")?;
        self.check_dtype(bias, "linear")?;
        if self.rank() != 2 || other.rank() != 2 || self.shape[1] != other.shape[0] {
            return Err(TensorError::Matmul { left: self.shape.clone(), right: other.shape.clone() });
        }
        let n = other.shape[1];
        if !(bias.shape == [1, n] || bias.shape == [n]) {
            return Err(TensorError::Shape(format!("a bias of shape {:?} does not fit {n} outputs (use [1, {n}] or [{n}])", bias.shape)));
        }
        let storage = self.backend.addmm((&bias.storage, &bias.shape), (&self.storage, &self.shape), (&other.storage, &other.shape))?;
        Ok(self.wrap(storage, vec![self.shape[0], n]))
    }

    /// One fused Adam update of `self` (a parameter) with moments `m`, `v`:
    /// returns the new `(param, m, v)`.
    pub fn adam_update(&self, grad: &Tensor<B>, m: &Tensor<B>, v: &Tensor<B>, scalars: AdamScalars) -> Result<AdamState<Tensor<B>>, TensorError> {
        for (t, what) in [(grad, "gradient"), (m, "first moment"), (v, "second moment")] {
            if t.shape != self.shape || t.dtype != self.dtype {
                return Err(TensorError::Shape(format!("adam: the {what} has shape {:?} ({}) but the parameter has {:?} ({})", t.shape, t.dtype, self.shape, self.dtype)));
            }
        }
        let (p, m, v) = self.backend.adam_update(&self.storage, &grad.storage, &m.storage, &v.storage, scalars)?;
        Ok((self.wrap(p, self.shape.clone()), self.wrap(m, self.shape.clone()), self.wrap(v, self.shape.clone())))
    }

    /// Swaps the last two axes.
    pub fn t(&self) -> Result<Tensor<B>, TensorError> {
        if self.rank() < 2 {
            return Err(TensorError::Shape(format!("transpose needs at least two axes, got shape {:?}", self.shape)));
        }
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(self.rank() - 2, self.rank() - 1);
        self.permute(&perm)
    }

    /// Reorders the axes: axis `i` of the result is axis `perm[i]` of `self`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor<B>, TensorError> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank() || perm.iter().any(|&p| p >= self.rank() || std::mem::replace(&mut seen[p], true)) {
            return Err(TensorError::Shape(format!("{perm:?} is not a permutation of the axes of shape {:?}", self.shape)));
        }
        let shape = perm.iter().map(|&p| self.shape[p]).collect();
        Ok(self.wrap(self.backend.permute((&self.storage, &self.shape), perm)?, shape))
    }

    /// Same elements, new shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor<B>, TensorError> {
        if shape.iter().product::<usize>() != self.len() {
            return Err(TensorError::Shape(format!("cannot reshape {:?} ({} elements) into {shape:?}", self.shape, self.len())));
        }
        if shape == self.shape.as_slice() {
            return Ok(self.clone());
        }
        Ok(self.wrap(self.backend.reshape((&self.storage, &self.shape), shape)?, shape.to_vec()))
    }

    /// Broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor<B>, TensorError> {
        if broadcast_shape(&self.shape, shape).as_deref() != Some(shape) {
            return Err(TensorError::Broadcast { op: "broadcast_to", left: self.shape.clone(), right: shape.to_vec() });
        }
        if shape == self.shape.as_slice() {
            return Ok(self.clone());
        }
        Ok(self.wrap(self.backend.broadcast_to((&self.storage, &self.shape), shape)?, shape.to_vec()))
    }

    /// Reduction over `axes`, which stay as size one.
    pub fn reduce(&self, op: ReduceOp, axes: &[usize]) -> Result<Tensor<B>, TensorError> {
        for &a in axes {
            self.axis(a, "reduce")?;
        }
        let mut shape = self.shape.clone();
        axes.iter().for_each(|&a| shape[a] = 1);
        Ok(self.wrap(self.backend.reduce(op, (&self.storage, &self.shape), axes)?, shape))
    }

    /// Sum over `axes`, kept as size one.
    pub fn sum_keep(&self, axes: &[usize]) -> Result<Tensor<B>, TensorError> {
        self.reduce(ReduceOp::Sum, axes)
    }

    /// Sum of every element, as a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Tensor<B>, TensorError> {
        let axes: Vec<usize> = (0..self.rank()).collect();
        self.reduce(ReduceOp::Sum, &axes)?.reshape(&[])
    }

    /// Mean of every element, as a rank-0 tensor.
    pub fn mean_all(&self) -> Result<Tensor<B>, TensorError> {
        self.sum_all()?.scale(1.0 / self.len().max(1) as f64)
    }

    /// Sums a broadcast result back down to `shape` (the adjoint of broadcasting).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor<B>, TensorError> {
        if self.shape == shape {
            return Ok(self.clone());
        }
        let err = || TensorError::Shape(format!("cannot sum shape {:?} down to {shape:?}", self.shape));
        let extra = self.rank().checked_sub(shape.len()).ok_or_else(err)?;
        let mut axes: Vec<usize> = (0..extra).collect();
        for (i, &size) in shape.iter().enumerate() {
            if size == 1 && self.shape[extra + i] != 1 {
                axes.push(extra + i);
            } else if size != self.shape[extra + i] {
                return Err(err());
            }
        }
        self.reduce(ReduceOp::Sum, &axes)?.reshape(shape)
    }

    /// The index range `start..end` along `axis`.
    pub fn slice_axis(&self, axis: usize, start: usize, end: usize) -> Result<Tensor<B>, TensorError> {
        self.axis(axis, "slice")?;
        if start > end || end > self.shape[axis] {
            return Err(TensorError::Shape(format!("slice {start}..{end} is outside axis {axis} of size {}", self.shape[axis])));
        }
        let mut shape = self.shape.clone();
        shape[axis] = end - start;
        Ok(self.wrap(self.backend.slice((&self.storage, &self.shape), axis, start, end)?, shape))
    }

    /// Concatenates along `axis`.
    pub fn concat(parts: &[&Tensor<B>], axis: usize) -> Result<Tensor<B>, TensorError> {
        let first = parts.first().ok_or_else(|| TensorError::Shape("concat needs at least one tensor".into()))?;
        first.axis(axis, "concat")?;
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for p in parts {
            first.check_dtype(p, "concat")?;
            let fits = p.rank() == first.rank() && (0..p.rank()).all(|i| i == axis || p.shape[i] == first.shape[i]);
            if !fits {
                return Err(TensorError::Shape(format!(
                    "concat along axis {axis}: shapes {:?} do not fit together",
                    parts.iter().map(|t| t.shape.clone()).collect::<Vec<_>>()
                )));
            }
            shape[axis] += p.shape[axis];
        }
        let views: Vec<(&B::Storage, &[usize])> = parts.iter().map(|p| (&p.storage, p.shape.as_slice())).collect();
        Ok(first.wrap(first.backend.concat(&views, axis)?, shape))
    }

    /// Entries at `indices` along `axis` (a gather).
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Tensor<B>, TensorError> {
        self.axis(axis, "index_select")?;
        if let Some(bad) = indices.iter().find(|&&i| i >= self.shape[axis]) {
            return Err(TensorError::Shape(format!("index {bad} is out of range for axis {axis} of size {}", self.shape[axis])));
        }
        let mut shape = self.shape.clone();
        shape[axis] = indices.len();
        Ok(self.wrap(self.backend.index_select((&self.storage, &self.shape), axis, indices)?, shape))
    }

    /// Rows picked by index (`index_select` along axis 0).
    pub fn gather_rows(&self, rows: &[usize]) -> Result<Tensor<B>, TensorError> {
        self.index_select(0, rows)
    }

    /// `self` with `src`'s slices added at `indices` along `axis` (a scatter-add).
    pub fn index_add(&self, axis: usize, indices: &[usize], src: &Tensor<B>) -> Result<Tensor<B>, TensorError> {
        self.axis(axis, "index_add")?;
        self.check_dtype(src, "index_add")?;
        let mut expected = self.shape.clone();
        expected[axis] = indices.len();
        if src.shape != expected {
            return Err(TensorError::Shape(format!("index_add: source of shape {:?} should be {expected:?}", src.shape)));
        }
        if let Some(bad) = indices.iter().find(|&&i| i >= self.shape[axis]) {
            return Err(TensorError::Shape(format!("index {bad} is out of range for axis {axis} of size {}", self.shape[axis])));
        }
        Ok(self.wrap(self.backend.index_add((&self.storage, &self.shape), axis, indices, (&src.storage, &src.shape))?, self.shape.clone()))
    }

    /// im2col of an `[n, c, h, w]` image: `[n, c*kh*kw, oh*ow]`.
    pub fn unfold2d(&self, geometry: Conv2dGeometry) -> Result<Tensor<B>, TensorError> {
        let [n, c, h, w] = self.shape[..] else {
            return Err(TensorError::Shape(format!("expected an image batch [n, c, h, w], got {:?}", self.shape)));
        };
        let (oh, ow) = geometry.output_size(h, w).ok_or_else(|| {
            TensorError::Shape(format!("a {:?} kernel with padding {:?} does not fit a {h}x{w} image", geometry.kernel, geometry.padding))
        })?;
        let shape = vec![n, c * geometry.kernel.0 * geometry.kernel.1, oh * ow];
        Ok(self.wrap(self.backend.unfold2d((&self.storage, &self.shape), geometry)?, shape))
    }

    /// col2im (adjoint of [`Tensor::unfold2d`]) back to `image_shape`.
    pub fn fold2d(&self, image_shape: &[usize], geometry: Conv2dGeometry) -> Result<Tensor<B>, TensorError> {
        Ok(self.wrap(self.backend.fold2d((&self.storage, &self.shape), image_shape, geometry)?, image_shape.to_vec()))
    }

    /// 2-D convolution (cross-correlation) of `[n, c, h, w]` with weights
    /// `[out, c, kh, kw]`: `[n, out, oh, ow]`.
    pub fn conv2d(&self, weight: &Tensor<B>, stride: (usize, usize), padding: (usize, usize)) -> Result<Tensor<B>, TensorError> {
        let [oc, ic, kh, kw] = weight.shape[..] else {
            return Err(TensorError::Shape(format!("conv2d weights must be [out, in, kh, kw], got {:?}", weight.shape)));
        };
        if self.rank() != 4 || self.shape[1] != ic {
            return Err(TensorError::Shape(format!("conv2d: input {:?} does not have {ic} channels as [n, c, h, w]", self.shape)));
        }
        let geometry = Conv2dGeometry { kernel: (kh, kw), stride, padding };
        let cols = self.unfold2d(geometry)?;
        let (n, l) = (cols.shape[0], cols.shape[2]);
        let (oh, ow) = geometry.output_size(self.shape[2], self.shape[3]).unwrap_or((0, 0));
        let w2 = weight.reshape(&[oc, ic * kh * kw])?;
        w2.matmul(&cols)?.reshape(&[n, oc, oh, ow]).and_then(|t| if oh * ow == l { Ok(t) } else { Err(TensorError::Shape("conv2d geometry".into())) })
    }

    /// Sparse-times-dense product `A x` (or `A^T x`).
    pub fn csr_matmul(&self, csr: &Csr, transpose: bool) -> Result<Tensor<B>, TensorError> {
        let rows = if transpose { csr.cols() } else { csr.rows() };
        let k = self.shape.get(1).copied().unwrap_or(0);
        Ok(self.wrap(self.backend.csr_matmul(csr, (&self.storage, &self.shape), transpose)?, vec![rows, k]))
    }

    /// Softmax along `axis` (max-shifted for stability).
    pub fn softmax(&self, axis: usize) -> Result<Tensor<B>, TensorError> {
        let shifted = self.sub(&self.reduce(ReduceOp::Max, &[self.axis(axis, "softmax")?])?)?;
        let e = shifted.unary(UnaryOp::Exp)?;
        e.div(&e.sum_keep(&[axis])?)
    }

    /// `log(sum(exp(x)))` along `axis`, kept as size one (max-shifted).
    pub fn logsumexp(&self, axis: usize) -> Result<Tensor<B>, TensorError> {
        let m = self.reduce(ReduceOp::Max, &[self.axis(axis, "logsumexp")?])?;
        self.sub(&m)?.unary(UnaryOp::Exp)?.sum_keep(&[axis])?.unary(UnaryOp::Ln)?.add(&m)
    }
}

fn check_len(shape: &[usize], len: usize) -> Result<(), TensorError> {
    if shape.iter().product::<usize>() != len {
        return Err(TensorError::DataLength { shape: shape.to_vec(), len });
    }
    Ok(())
}

fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Max => "maximum",
        BinaryOp::Min => "minimum",
        BinaryOp::Pow => "pow",
        BinaryOp::Gt => "gt",
        BinaryOp::Ge => "ge",
        BinaryOp::Lt => "lt",
        BinaryOp::Eq => "eq",
    }
}
