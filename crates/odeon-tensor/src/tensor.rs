//! The dense CPU tensor.

use ndarray::{ArrayD, Axis, Ix2, IxDyn};

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
    /// Matrix product with mismatched inner dimensions or non-matrix operands.
    #[error("matmul: cannot multiply {left:?} by {right:?} (inner sizes must match, both must be matrices)")]
    Matmul {
        /// Left operand shape.
        left: Vec<usize>,
        /// Right operand shape.
        right: Vec<usize>,
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
    /// Anything else about shapes.
    #[error("{0}")]
    Shape(String),
}

/// Elementwise functions, evaluated with `libm` for cross-platform determinism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural log
    Ln,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `tanh x`
    Tanh,
    /// `x^2`
    Square,
    /// `sqrt x`
    Sqrt,
    /// `max(x, 0)`
    Relu,
    /// logistic sigmoid
    Sigmoid,
    /// `x * sigmoid(x)`
    Silu,
}

impl UnaryOp {
    /// The function value at `x`.
    pub fn eval(self, x: f32) -> f32 {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => libm::expf(x),
            UnaryOp::Ln => libm::logf(x),
            UnaryOp::Sin => libm::sinf(x),
            UnaryOp::Cos => libm::cosf(x),
            UnaryOp::Tanh => libm::tanhf(x),
            UnaryOp::Square => x * x,
            UnaryOp::Sqrt => libm::sqrtf(x),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Silu => x * sigmoid(x),
        }
    }

    /// The derivative at `x` (given the function value `y` at `x`).
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            UnaryOp::Neg => -1.0,
            UnaryOp::Exp => y,
            UnaryOp::Ln => 1.0 / x,
            UnaryOp::Sin => libm::cosf(x),
            UnaryOp::Cos => -libm::sinf(x),
            UnaryOp::Tanh => 1.0 - y * y,
            UnaryOp::Square => 2.0 * x,
            UnaryOp::Sqrt => 0.5 / y,
            UnaryOp::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            UnaryOp::Sigmoid => y * (1.0 - y),
            UnaryOp::Silu => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// A dense `f32` tensor of any rank on the CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    data: ArrayD<f32>,
}

impl Tensor {
    /// Wraps an ndarray array.
    pub fn from_array(data: ArrayD<f32>) -> Self {
        Self { data }
    }

    /// A tensor from row-major data; errors when the length does not match.
    pub fn from_shape_vec(shape: &[usize], data: Vec<f32>) -> Result<Self, TensorError> {
        let len = data.len();
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .map(Self::from_array)
            .map_err(|_| TensorError::DataLength { shape: shape.to_vec(), len })
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::from_array(ArrayD::zeros(IxDyn(shape)))
    }

    /// Every element equal to `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self::from_array(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f32) -> Self {
        Self::full(&[], value)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The underlying array.
    pub fn array(&self) -> &ArrayD<f32> {
        &self.data
    }

    /// The elements in row-major order.
    pub fn to_vec(&self) -> Vec<f32> {
        self.data.iter().copied().collect()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32, TensorError> {
        if self.data.len() == 1 {
            Ok(self.data.iter().copied().next().unwrap_or(0.0))
        } else {
            Err(TensorError::Shape(format!(
                "item: expected one element, the tensor has shape {:?}",
                self.shape()
            )))
        }
    }

    /// True when every element is finite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }

    fn broadcast_check(&self, other: &Tensor, op: &'static str) -> Result<(), TensorError> {
        broadcast_shape(self.shape(), other.shape()).map(|_| ()).ok_or_else(|| {
            TensorError::Broadcast { op, left: self.shape().to_vec(), right: other.shape().to_vec() }
        })
    }

    /// Elementwise sum with NumPy broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.broadcast_check(other, "add")?;
        Ok(Self::from_array(&self.data + &other.data))
    }

    /// Elementwise difference with NumPy broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.broadcast_check(other, "sub")?;
        Ok(Self::from_array(&self.data - &other.data))
    }

    /// Elementwise product with NumPy broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.broadcast_check(other, "mul")?;
        Ok(Self::from_array(&self.data * &other.data))
    }

    /// Multiplies every element by `factor`.
    pub fn scale(&self, factor: f32) -> Tensor {
        Self::from_array(&self.data * factor)
    }

    /// Adds `value` to every element.
    pub fn add_scalar(&self, value: f32) -> Tensor {
        Self::from_array(&self.data + value)
    }

    /// Applies an elementwise function.
    pub fn unary(&self, op: UnaryOp) -> Tensor {
        Self::from_array(self.data.mapv(|x| op.eval(x)))
    }

    /// Elementwise map with any function (used by backward passes).
    pub fn zip_map(&self, other: &Tensor, f: impl Fn(f32, f32) -> f32) -> Result<Tensor, TensorError> {
        if self.shape() != other.shape() {
            return Err(TensorError::Broadcast {
                op: "zip_map",
                left: self.shape().to_vec(),
                right: other.shape().to_vec(),
            });
        }
        let mut out = self.data.clone();
        out.zip_mut_with(&other.data, |a, &b| *a = f(*a, b));
        Ok(Self::from_array(out))
    }

    /// Matrix product of two rank-2 tensors.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        let err = || TensorError::Matmul { left: self.shape().to_vec(), right: other.shape().to_vec() };
        let a = self.data.view().into_dimensionality::<Ix2>().map_err(|_| err())?;
        let b = other.data.view().into_dimensionality::<Ix2>().map_err(|_| err())?;
        if a.ncols() != b.nrows() {
            return Err(err());
        }
        Ok(Self::from_array(a.dot(&b).into_dyn()))
    }

    /// Transpose of a rank-2 tensor.
    pub fn t(&self) -> Result<Tensor, TensorError> {
        if self.data.ndim() != 2 {
            return Err(TensorError::Shape(format!(
                "transpose: expected a matrix, got shape {:?}",
                self.shape()
            )));
        }
        Ok(Self::from_array(self.data.t().as_standard_layout().into_owned()))
    }

    /// Sum of all elements (fixed, sequential order).
    pub fn sum_all(&self) -> f32 {
        self.data.iter().fold(0.0, |acc, &x| acc + x)
    }

    /// Mean of all elements.
    pub fn mean_all(&self) -> f32 {
        if self.data.is_empty() { 0.0 } else { self.sum_all() / self.data.len() as f32 }
    }

    /// Sums along `axis`, keeping it as size one.
    pub fn sum_axis_keep(&self, axis: usize) -> Result<Tensor, TensorError> {
        if axis >= self.data.ndim() {
            return Err(TensorError::Axis { op: "sum", axis, rank: self.data.ndim() });
        }
        Ok(Self::from_array(self.data.sum_axis(Axis(axis)).insert_axis(Axis(axis))))
    }

    /// Sums a broadcast result back down to `shape` (the adjoint of broadcasting).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor, TensorError> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let mut out = self.data.clone();
        let extra = out.ndim().checked_sub(shape.len()).ok_or_else(|| {
            TensorError::Shape(format!("cannot sum shape {:?} down to {:?}", self.shape(), shape))
        })?;
        for _ in 0..extra {
            out = out.sum_axis(Axis(0));
        }
        for (axis, &size) in shape.iter().enumerate() {
            if size == 1 && out.shape()[axis] != 1 {
                out = out.sum_axis(Axis(axis)).insert_axis(Axis(axis));
            }
        }
        if out.shape() != shape {
            return Err(TensorError::Shape(format!(
                "cannot sum shape {:?} down to {:?}",
                self.shape(),
                shape
            )));
        }
        Ok(Self::from_array(out))
    }

    /// Concatenates along `axis`.
    pub fn concat(parts: &[&Tensor], axis: usize) -> Result<Tensor, TensorError> {
        let views: Vec<_> = parts.iter().map(|t| t.data.view()).collect();
        ndarray::concatenate(Axis(axis), &views).map(Self::from_array).map_err(|_| {
            TensorError::Shape(format!(
                "concat along axis {axis}: shapes {:?} do not fit together",
                parts.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>()
            ))
        })
    }

    /// The index range `start..end` along `axis`.
    pub fn slice_axis(&self, axis: usize, start: usize, end: usize) -> Result<Tensor, TensorError> {
        if axis >= self.data.ndim() {
            return Err(TensorError::Axis { op: "slice", axis, rank: self.data.ndim() });
        }
        if start > end || end > self.shape()[axis] {
            return Err(TensorError::Shape(format!(
                "slice {start}..{end} is outside axis {axis} of size {}",
                self.shape()[axis]
            )));
        }
        Ok(Self::from_array(
            self.data.slice_axis(Axis(axis), ndarray::Slice::from(start..end)).to_owned(),
        ))
    }

    /// Rows of a tensor picked by index along axis 0.
    pub fn gather_rows(&self, rows: &[usize]) -> Result<Tensor, TensorError> {
        let n = self.shape().first().copied().unwrap_or(0);
        if let Some(bad) = rows.iter().find(|&&r| r >= n) {
            return Err(TensorError::Shape(format!("row {bad} is out of range for {n} rows")));
        }
        Ok(Self::from_array(self.data.select(Axis(0), rows)))
    }
}

/// The broadcast shape of two shapes, or `None` when they do not broadcast.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() { 1 } else { a[i - (rank - a.len())] };
        let db = if i < rank - b.len() { 1 } else { b[i - (rank - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_shape_vec(shape, v.to_vec()).expect("valid test tensor")
    }

    #[test]
    fn matmul_matches_hand_computation() {
        let a = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = t(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
        assert_eq!(a.matmul(&b).expect("shapes fit").to_vec(), vec![58., 64., 139., 154.]);
    }

    #[test]
    fn shape_errors_are_reported_not_panicked() {
        let a = t(&[2, 3], &[0.; 6]);
        let b = t(&[2, 3], &[0.; 6]);
        let err = a.matmul(&b).expect_err("inner sizes differ");
        assert!(err.to_string().contains("[2, 3]"));
        assert!(a.add(&t(&[2], &[1., 2.])).is_err());
        assert!(Tensor::from_shape_vec(&[2, 2], vec![1.0]).is_err());
    }

    #[test]
    fn broadcasting_and_its_adjoint() {
        let a = t(&[2, 2], &[1., 2., 3., 4.]);
        let bias = t(&[1, 2], &[10., 20.]);
        let s = a.add(&bias).expect("broadcasts");
        assert_eq!(s.to_vec(), vec![11., 22., 13., 24.]);
        assert_eq!(s.sum_to_shape(&[1, 2]).expect("reduces").to_vec(), vec![24., 46.]);
        assert_eq!(s.sum_to_shape(&[2]).expect("reduces").to_vec(), vec![24., 46.]);
    }

    #[test]
    fn unary_derivatives_match_finite_differences() {
        let ops = [
            UnaryOp::Exp, UnaryOp::Sin, UnaryOp::Cos, UnaryOp::Tanh, UnaryOp::Square,
            UnaryOp::Sigmoid, UnaryOp::Silu, UnaryOp::Neg,
        ];
        for op in ops {
            for &x in &[-1.3f32, -0.2, 0.4, 1.7] {
                let h = 1e-2f32;
                let fd = (op.eval(x + h) - op.eval(x - h)) / (2.0 * h);
                let d = op.derivative(x, op.eval(x));
                assert!((fd - d).abs() < 2e-3, "{op:?} at {x}: fd {fd} vs {d}");
            }
        }
    }
}
