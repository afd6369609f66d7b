//! The CPU backend on ndarray.
//!
//! Storage is copy-on-write (`ArcArray`), so cloning a tensor is cheap, which
//! autodiff relies on. Matrix products go through ndarray's `dot`
//! (matrixmultiply); reductions run in ndarray's fixed order; transcendental
//! functions use [`crate::Real`], i.e. libm.

use ndarray::{ArcArray, ArrayD, Axis, Ix2, IxDyn, Zip};

use crate::backend::{AdamScalars, Backend, Conv2dGeometry};
use crate::{BinaryOp, Csr, DType, ReduceOp, Real, TensorError, UnaryOp};

/// The CPU device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu;

/// A CPU tensor's data.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuStorage {
    /// 32-bit floats.
    F32(ArcArray<f32, IxDyn>),
    /// 64-bit floats.
    F64(ArcArray<f64, IxDyn>),
}

fn mismatch(op: &str, a: DType, b: DType) -> TensorError {
    TensorError::DType { op: op.to_string(), left: a, right: b }
}

fn dtype_of(s: &CpuStorage) -> DType {
    match s {
        CpuStorage::F32(_) => DType::F32,
        CpuStorage::F64(_) => DType::F64,
    }
}

macro_rules! map_storage {
    ($s:expr, $a:ident => $body:expr) => {
        match $s {
            CpuStorage::F32($a) => CpuStorage::F32($body),
            CpuStorage::F64($a) => CpuStorage::F64($body),
        }
    };
}

macro_rules! zip_storage {
    ($op:expr, $x:expr, $y:expr, |$a:ident, $b:ident| $body:expr) => {
        match ($x, $y) {
            (CpuStorage::F32($a), CpuStorage::F32($b)) => Ok(CpuStorage::F32($body)),
            (CpuStorage::F64($a), CpuStorage::F64($b)) => Ok(CpuStorage::F64($body)),
            (x, y) => Err(mismatch($op, dtype_of(x), dtype_of(y))),
        }
    };
}

fn shape_err(message: String) -> TensorError {
    TensorError::Shape(message)
}

fn from_vec<T: Real>(shape: &[usize], data: Vec<T>) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let len = data.len();
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .map(|a| a.into_shared())
        .map_err(|_| TensorError::DataLength { shape: shape.to_vec(), len })
}

fn binary_impl<T: Real>(op: BinaryOp, a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, out: &[usize]) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let av = a.broadcast(IxDyn(out)).ok_or_else(|| shape_err(format!("cannot broadcast {:?} to {out:?}", a.shape())))?;
    let bv = b.broadcast(IxDyn(out)).ok_or_else(|| shape_err(format!("cannot broadcast {:?} to {out:?}", b.shape())))?;
    let zip = Zip::from(&av).and(&bv);
    let result = match op {
        BinaryOp::Add => zip.map_collect(|&x, &y| x + y),
        BinaryOp::Sub => zip.map_collect(|&x, &y| x - y),
        BinaryOp::Mul => zip.map_collect(|&x, &y| x * y),
        BinaryOp::Div => zip.map_collect(|&x, &y| x / y),
        other => zip.map_collect(|&x, &y| other.eval(x, y)),
    };
    Ok(result.into_shared())
}

fn unary_impl<T: Real>(op: UnaryOp, x: &ArcArray<T, IxDyn>) -> ArcArray<T, IxDyn> {
    crate::each_unary!(op, OP => x.mapv(|v| OP.eval(v)).into_shared())
}

fn matmul_impl<T: Real>(a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let (ra, rb) = (a.ndim(), b.ndim());
    let err = || TensorError::Matmul { left: a.shape().to_vec(), right: b.shape().to_vec() };
    if ra < 2 || ra != rb || a.shape()[..ra - 2] != b.shape()[..rb - 2] || a.shape()[ra - 1] != b.shape()[rb - 2] {
        return Err(err());
    }
    if ra == 2 {
        let a2 = a.view().into_dimensionality::<Ix2>().map_err(|_| err())?;
        let b2 = b.view().into_dimensionality::<Ix2>().map_err(|_| err())?;
        return Ok(a2.dot(&b2).into_dyn().into_shared());
    }
    let batch: usize = a.shape()[..ra - 2].iter().product();
    let (m, k, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 1]);
    let a_std = a.as_standard_layout();
    let a3 = a_std.view().into_shape_with_order((batch, m, k)).map_err(|_| err())?;
    let b_std = b.as_standard_layout();
    let b3 = b_std.view().into_shape_with_order((batch, k, n)).map_err(|_| err())?;
    let mut out = ndarray::Array3::<T>::zeros((batch, m, n));
    for i in 0..batch {
        let mut o = out.index_axis_mut(Axis(0), i);
        ndarray::linalg::general_mat_mul(T::one(), &a3.index_axis(Axis(0), i), &b3.index_axis(Axis(0), i), T::zero(), &mut o);
    }
    let mut shape = a.shape()[..ra - 2].to_vec();
    shape.extend([m, n]);
    out.into_shape_with_order(IxDyn(&shape)).map(|x| x.into_shared()).map_err(|_| err())
}

fn addmm_impl<T: Real>(bias: &ArcArray<T, IxDyn>, a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let err = || TensorError::Matmul { left: a.shape().to_vec(), right: b.shape().to_vec() };
    let a2 = a.view().into_dimensionality::<Ix2>().map_err(|_| err())?;
    let b2 = b.view().into_dimensionality::<Ix2>().map_err(|_| err())?;
    let (m, n) = (a2.nrows(), b2.ncols());
    let mut out = bias
        .broadcast(IxDyn(&[m, n]))
        .ok_or_else(|| shape_err(format!("a bias of shape {:?} does not fit an output of [{m}, {n}]", bias.shape())))?
        .into_dimensionality::<Ix2>()
        .map_err(|_| err())?
        .to_owned();
    ndarray::linalg::general_mat_mul(T::one(), &a2, &b2, T::one(), &mut out);
    Ok(out.into_dyn().into_shared())
}

fn adam_impl<T: Real>(
    p: &ArcArray<T, IxDyn>,
    g: &ArcArray<T, IxDyn>,
    m: &ArcArray<T, IxDyn>,
    v: &ArcArray<T, IxDyn>,
    s: AdamScalars,
) -> (ArcArray<T, IxDyn>, ArcArray<T, IxDyn>, ArcArray<T, IxDyn>) {
    let (b1, b2) = (T::from_f64(s.beta1), T::from_f64(s.beta2));
    let (c1, c2) = (T::one() - b1, T::one() - b2);
    let (step, vc, eps, decay) = (T::from_f64(s.step), T::from_f64(s.v_correction), T::from_f64(s.eps), T::from_f64(s.decay));
    let mut p_out = p.to_owned();
    let mut m_out = m.to_owned();
    let mut v_out = v.to_owned();
    Zip::from(&mut p_out).and(&mut m_out).and(&mut v_out).and(g).for_each(|p, m, v, &g| {
        *m = b1 * *m + c1 * g;
        *v = b2 * *v + c2 * g * g;
        *p = decay * *p - step * *m / ((*v * vc).sqrt() + eps);
    });
    (p_out.into_shared(), m_out.into_shared(), v_out.into_shared())
}

fn reduce_impl<T: Real>(op: ReduceOp, x: &ArcArray<T, IxDyn>, axes: &[usize]) -> ArcArray<T, IxDyn> {
    let mut out: ArrayD<T> = x.to_owned();
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for &axis in sorted.iter().rev() {
        let reduced = match op {
            ReduceOp::Sum => out.sum_axis(Axis(axis)),
            ReduceOp::Max => out.fold_axis(Axis(axis), T::from_f64(f64::NEG_INFINITY), |&acc, &v| if v > acc || v.to_f64().is_nan() { v } else { acc }),
            ReduceOp::Min => out.fold_axis(Axis(axis), T::from_f64(f64::INFINITY), |&acc, &v| if v < acc || v.to_f64().is_nan() { v } else { acc }),
        };
        out = reduced.insert_axis(Axis(axis));
    }
    out.into_shared()
}

/// Calls `visit(column_index, image_index)` for every pair of an unfolded
/// (im2col) entry and the image pixel it copies; padding pixels are skipped.
/// `unfold2d` and its adjoint `fold2d` walk the same pairs in opposite
/// directions.
fn for_each_patch_pixel(image: [usize; 4], g: Conv2dGeometry, (oh, ow): (usize, usize), mut visit: impl FnMut(usize, usize)) {
    let [n, c, h, w] = image;
    let (kh, kw) = g.kernel;
    let rows = c * kh * kw;
    for b in 0..n {
        for ci in 0..c {
            for ki in 0..kh {
                for kj in 0..kw {
                    let base = (b * rows + (ci * kh + ki) * kw + kj) * oh * ow;
                    for oi in 0..oh {
                        let ii = (oi * g.stride.0 + ki) as isize - g.padding.0 as isize;
                        if ii < 0 || ii >= h as isize {
                            continue;
                        }
                        for oj in 0..ow {
                            let jj = (oj * g.stride.1 + kj) as isize - g.padding.1 as isize;
                            if jj >= 0 && jj < w as isize {
                                visit(base + oi * ow + oj, ((b * c + ci) * h + ii as usize) * w + jj as usize);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn output_size(g: Conv2dGeometry, h: usize, w: usize) -> Result<(usize, usize), TensorError> {
    g.output_size(h, w).ok_or_else(|| shape_err(format!("kernel {:?} does not fit a {h}x{w} image", g.kernel)))
}

fn unfold_impl<T: Real>(x: &ArcArray<T, IxDyn>, g: Conv2dGeometry) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let &[n, c, h, w] = x.shape() else {
        return Err(shape_err(format!("unfold2d needs an [n, c, h, w] tensor, got {:?}", x.shape())));
    };
    let (oh, ow) = output_size(g, h, w)?;
    let rows = c * g.kernel.0 * g.kernel.1;
    let x = x.as_standard_layout();
    let xs = x.as_slice().ok_or_else(|| shape_err("unfold2d: non-contiguous input".into()))?;
    let mut out = vec![T::zero(); n * rows * oh * ow];
    for_each_patch_pixel([n, c, h, w], g, (oh, ow), |col, pixel| out[col] = xs[pixel]);
    from_vec(&[n, rows, oh * ow], out)
}

fn fold_impl<T: Real>(cols: &ArcArray<T, IxDyn>, image: &[usize], g: Conv2dGeometry) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let &[n, c, h, w] = image else {
        return Err(shape_err(format!("fold2d needs an [n, c, h, w] image shape, got {image:?}")));
    };
    let (oh, ow) = output_size(g, h, w)?;
    let rows = c * g.kernel.0 * g.kernel.1;
    if cols.shape() != [n, rows, oh * ow] {
        return Err(shape_err(format!("fold2d: columns of shape {:?} do not match image {image:?}", cols.shape())));
    }
    let cols = cols.as_standard_layout();
    let cs = cols.as_slice().ok_or_else(|| shape_err("fold2d: non-contiguous input".into()))?;
    let mut out = vec![T::zero(); n * c * h * w];
    for_each_patch_pixel([n, c, h, w], g, (oh, ow), |col, pixel| out[pixel] += cs[col]);
    from_vec(image, out)
}

fn csr_impl<T: Real>(csr: &Csr, x: &ArcArray<T, IxDyn>, transpose: bool) -> Result<ArcArray<T, IxDyn>, TensorError> {
    let (inner, outer) = if transpose { (csr.rows(), csr.cols()) } else { (csr.cols(), csr.rows()) };
    if x.ndim() != 2 || x.shape()[0] != inner {
        return Err(shape_err(format!(
            "sparse {}x{} matrix{} cannot multiply a dense {:?} tensor (needs [{inner}, k])",
            csr.rows(),
            csr.cols(),
            if transpose { " (transposed)" } else { "" },
            x.shape()
        )));
    }
    let k = x.shape()[1];
    let x = x.as_standard_layout();
    let xs = x.as_slice().ok_or_else(|| shape_err("csr: non-contiguous input".into()))?;
    let mut out = vec![T::zero(); outer * k];
    for r in 0..csr.rows() {
        for (c, v) in csr.row(r) {
            let v = T::from_f64(v);
            let (dst, src) = if transpose { (c, r) } else { (r, c) };
            for j in 0..k {
                out[dst * k + j] += v * xs[src * k + j];
            }
        }
    }
    from_vec(&[outer, k], out)
}

impl Backend for Cpu {
    type Storage = CpuStorage;

    fn name(&self) -> String {
        "CPU".into()
    }

    fn upload_f64(&self, data: &[f64], shape: &[usize], dtype: DType) -> Result<CpuStorage, TensorError> {
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(from_vec(shape, data.iter().map(|&v| v as f32).collect())?),
            DType::F64 => CpuStorage::F64(from_vec(shape, data.to_vec())?),
        })
    }

    fn upload_f32(&self, data: &[f32], shape: &[usize], dtype: DType) -> Result<CpuStorage, TensorError> {
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(from_vec(shape, data.to_vec())?),
            DType::F64 => CpuStorage::F64(from_vec(shape, data.iter().map(|&v| f64::from(v)).collect())?),
        })
    }

    fn read_f64(&self, s: &CpuStorage) -> Result<Vec<f64>, TensorError> {
        Ok(match s {
            CpuStorage::F32(a) => a.iter().map(|&v| f64::from(v)).collect(),
            CpuStorage::F64(a) => a.iter().copied().collect(),
        })
    }

    fn read_f32(&self, s: &CpuStorage) -> Result<Vec<f32>, TensorError> {
        Ok(match s {
            CpuStorage::F32(a) => a.iter().copied().collect(),
            CpuStorage::F64(a) => a.iter().map(|&v| v as f32).collect(),
        })
    }

    fn dtype(&self, s: &CpuStorage) -> DType {
        dtype_of(s)
    }

    fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<CpuStorage, TensorError> {
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(ArcArray::from_elem(IxDyn(shape), value as f32)),
            DType::F64 => CpuStorage::F64(ArcArray::from_elem(IxDyn(shape), value)),
        })
    }

    fn cast(&self, s: &CpuStorage, dtype: DType) -> Result<CpuStorage, TensorError> {
        Ok(match (s, dtype) {
            (CpuStorage::F32(a), DType::F64) => CpuStorage::F64(a.mapv(f64::from).into_shared()),
            (CpuStorage::F64(a), DType::F32) => CpuStorage::F32(a.mapv(|v| v as f32).into_shared()),
            (same, _) => same.clone(),
        })
    }

    fn unary(&self, op: UnaryOp, x: &CpuStorage) -> Result<CpuStorage, TensorError> {
        Ok(map_storage!(x, a => unary_impl(op, a)))
    }

    fn unary_backward(&self, op: UnaryOp, x: &CpuStorage, grad: &CpuStorage) -> Result<CpuStorage, TensorError> {
        zip_storage!("unary backward", x, grad, |a, g| {
            if a.shape() != g.shape() {
                return Err(shape_err(format!("unary backward: {:?} vs {:?}", a.shape(), g.shape())));
            }
            crate::each_unary!(op, OP => Zip::from(a).and(g).map_collect(|&v, &gv| gv * OP.derivative(v)).into_shared())
        })
    }

    fn binary(&self, op: BinaryOp, a: (&CpuStorage, &[usize]), b: (&CpuStorage, &[usize]), out: &[usize]) -> Result<CpuStorage, TensorError> {
        match (a.0, b.0) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => Ok(CpuStorage::F32(binary_impl(op, x, y, out)?)),
            (CpuStorage::F64(x), CpuStorage::F64(y)) => Ok(CpuStorage::F64(binary_impl(op, x, y, out)?)),
            (x, y) => Err(mismatch("elementwise", dtype_of(x), dtype_of(y))),
        }
    }

    fn scalar(&self, op: BinaryOp, x: &CpuStorage, c: f64, scalar_first: bool) -> Result<CpuStorage, TensorError> {
        fn go<T: Real>(op: BinaryOp, a: &ArcArray<T, IxDyn>, c: f64, first: bool) -> ArcArray<T, IxDyn> {
            let c = T::from_f64(c);
            match (op, first) {
                (BinaryOp::Add, _) => a.mapv(|v| v + c),
                (BinaryOp::Mul, _) => a.mapv(|v| v * c),
                (_, true) => a.mapv(|v| op.eval(c, v)),
                (_, false) => a.mapv(|v| op.eval(v, c)),
            }
            .into_shared()
        }
        Ok(map_storage!(x, a => go(op, a, c, scalar_first)))
    }

    fn select(
        &self,
        cond: (&CpuStorage, &[usize]),
        a: (&CpuStorage, &[usize]),
        b: (&CpuStorage, &[usize]),
        out: &[usize],
    ) -> Result<CpuStorage, TensorError> {
        fn go<T: Real>(c: &ArcArray<T, IxDyn>, a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, out: &[usize]) -> Result<ArcArray<T, IxDyn>, TensorError> {
            let err = || shape_err(format!("cannot broadcast to {out:?}"));
            let cv = c.broadcast(IxDyn(out)).ok_or_else(err)?;
            let av = a.broadcast(IxDyn(out)).ok_or_else(err)?;
            let bv = b.broadcast(IxDyn(out)).ok_or_else(err)?;
            Ok(Zip::from(&cv).and(&av).and(&bv).map_collect(|&k, &x, &y| if k != T::zero() { x } else { y }).into_shared())
        }
        let c = self.cast(cond.0, dtype_of(a.0))?;
        match (&c, a.0, b.0) {
            (CpuStorage::F32(k), CpuStorage::F32(x), CpuStorage::F32(y)) => Ok(CpuStorage::F32(go(k, x, y, out)?)),
            (CpuStorage::F64(k), CpuStorage::F64(x), CpuStorage::F64(y)) => Ok(CpuStorage::F64(go(k, x, y, out)?)),
            (_, x, y) => Err(mismatch("where", dtype_of(x), dtype_of(y))),
        }
    }

    fn matmul(&self, a: (&CpuStorage, &[usize]), b: (&CpuStorage, &[usize])) -> Result<CpuStorage, TensorError> {
        match (a.0, b.0) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => Ok(CpuStorage::F32(matmul_impl(x, y)?)),
            (CpuStorage::F64(x), CpuStorage::F64(y)) => Ok(CpuStorage::F64(matmul_impl(x, y)?)),
            (x, y) => Err(mismatch("matmul", dtype_of(x), dtype_of(y))),
        }
    }

    fn addmm(&self, bias: (&CpuStorage, &[usize]), a: (&CpuStorage, &[usize]), b: (&CpuStorage, &[usize])) -> Result<CpuStorage, TensorError> {
        match (bias.0, a.0, b.0) {
            (CpuStorage::F32(c), CpuStorage::F32(x), CpuStorage::F32(y)) => Ok(CpuStorage::F32(addmm_impl(c, x, y)?)),
            (CpuStorage::F64(c), CpuStorage::F64(x), CpuStorage::F64(y)) => Ok(CpuStorage::F64(addmm_impl(c, x, y)?)),
            (c, x, _) => Err(mismatch("linear", dtype_of(c), dtype_of(x))),
        }
    }

    fn adam_update(&self, p: &CpuStorage, g: &CpuStorage, m: &CpuStorage, v: &CpuStorage, s: AdamScalars) -> Result<(CpuStorage, CpuStorage, CpuStorage), TensorError> {
        match (p, g, m, v) {
            (CpuStorage::F32(p), CpuStorage::F32(g), CpuStorage::F32(m), CpuStorage::F32(v)) => {
                let (a, b, c) = adam_impl(p, g, m, v, s);
                Ok((CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(c)))
            }
            (CpuStorage::F64(p), CpuStorage::F64(g), CpuStorage::F64(m), CpuStorage::F64(v)) => {
                let (a, b, c) = adam_impl(p, g, m, v, s);
                Ok((CpuStorage::F64(a), CpuStorage::F64(b), CpuStorage::F64(c)))
            }
            (p, g, _, _) => Err(mismatch("adam", dtype_of(p), dtype_of(g))),
        }
    }

    fn reduce(&self, op: ReduceOp, x: (&CpuStorage, &[usize]), axes: &[usize]) -> Result<CpuStorage, TensorError> {
        Ok(map_storage!(x.0, a => reduce_impl(op, a, axes)))
    }

    fn reshape(&self, x: (&CpuStorage, &[usize]), shape: &[usize]) -> Result<CpuStorage, TensorError> {
        fn go<T: Real>(a: &ArcArray<T, IxDyn>, shape: &[usize]) -> Result<ArcArray<T, IxDyn>, TensorError> {
            let std = a.as_standard_layout().into_owned();
            std.into_shape_with_order(IxDyn(shape))
                .map(|v| v.into_shared())
                .map_err(|_| shape_err(format!("cannot reshape {:?} into {shape:?}", a.shape())))
        }
        Ok(match x.0 {
            CpuStorage::F32(a) => CpuStorage::F32(go(a, shape)?),
            CpuStorage::F64(a) => CpuStorage::F64(go(a, shape)?),
        })
    }

    fn permute(&self, x: (&CpuStorage, &[usize]), perm: &[usize]) -> Result<CpuStorage, TensorError> {
        // Strides only: no copy (matrix products read transposed operands as they are).
        Ok(map_storage!(x.0, a => a.clone().permuted_axes(IxDyn(perm))))
    }

    fn broadcast_to(&self, x: (&CpuStorage, &[usize]), shape: &[usize]) -> Result<CpuStorage, TensorError> {
        fn go<T: Real>(a: &ArcArray<T, IxDyn>, shape: &[usize]) -> Result<ArcArray<T, IxDyn>, TensorError> {
            a.broadcast(IxDyn(shape))
                .map(|v| v.to_owned().into_shared())
                .ok_or_else(|| shape_err(format!("cannot broadcast {:?} to {shape:?}", a.shape())))
        }
        Ok(match x.0 {
            CpuStorage::F32(a) => CpuStorage::F32(go(a, shape)?),
            CpuStorage::F64(a) => CpuStorage::F64(go(a, shape)?),
        })
    }

    fn slice(&self, x: (&CpuStorage, &[usize]), axis: usize, start: usize, end: usize) -> Result<CpuStorage, TensorError> {
        Ok(map_storage!(x.0, a => a.slice_axis(Axis(axis), ndarray::Slice::from(start..end)).to_owned().into_shared()))
    }

    fn concat(&self, parts: &[(&CpuStorage, &[usize])], axis: usize) -> Result<CpuStorage, TensorError> {
        let err = || shape_err(format!("concat along axis {axis}: shapes {:?} do not fit together", parts.iter().map(|p| p.1.to_vec()).collect::<Vec<_>>()));
        match parts.first().map(|p| dtype_of(p.0)) {
            Some(DType::F32) => {
                let views = parts.iter().map(|p| match p.0 { CpuStorage::F32(a) => Ok(a.view()), other => Err(mismatch("concat", DType::F32, dtype_of(other))) }).collect::<Result<Vec<_>, _>>()?;
                ndarray::concatenate(Axis(axis), &views).map(|a| CpuStorage::F32(a.into_shared())).map_err(|_| err())
            }
            Some(DType::F64) => {
                let views = parts.iter().map(|p| match p.0 { CpuStorage::F64(a) => Ok(a.view()), other => Err(mismatch("concat", DType::F64, dtype_of(other))) }).collect::<Result<Vec<_>, _>>()?;
                ndarray::concatenate(Axis(axis), &views).map(|a| CpuStorage::F64(a.into_shared())).map_err(|_| err())
            }
            None => Err(shape_err("concat needs at least one tensor".into())),
        }
    }

    fn index_select(&self, x: (&CpuStorage, &[usize]), axis: usize, indices: &[usize]) -> Result<CpuStorage, TensorError> {
        Ok(map_storage!(x.0, a => a.select(Axis(axis), indices).into_shared()))
    }

    fn index_add(&self, x: (&CpuStorage, &[usize]), axis: usize, indices: &[usize], src: (&CpuStorage, &[usize])) -> Result<CpuStorage, TensorError> {
        fn go<T: Real>(a: &ArcArray<T, IxDyn>, axis: usize, idx: &[usize], s: &ArcArray<T, IxDyn>) -> ArcArray<T, IxDyn> {
            let mut out = a.to_owned();
            for (i, &target) in idx.iter().enumerate() {
                let mut lane = out.index_axis_mut(Axis(axis), target);
                lane += &s.index_axis(Axis(axis), i);
            }
            out.into_shared()
        }
        zip_storage!("index_add", x.0, src.0, |a, s| go(a, axis, indices, s))
    }

    fn unfold2d(&self, x: (&CpuStorage, &[usize]), g: Conv2dGeometry) -> Result<CpuStorage, TensorError> {
        Ok(match x.0 {
            CpuStorage::F32(a) => CpuStorage::F32(unfold_impl(a, g)?),
            CpuStorage::F64(a) => CpuStorage::F64(unfold_impl(a, g)?),
        })
    }

    fn fold2d(&self, cols: (&CpuStorage, &[usize]), image: &[usize], g: Conv2dGeometry) -> Result<CpuStorage, TensorError> {
        Ok(match cols.0 {
            CpuStorage::F32(a) => CpuStorage::F32(fold_impl(a, image, g)?),
            CpuStorage::F64(a) => CpuStorage::F64(fold_impl(a, image, g)?),
        })
    }

    fn csr_matmul(&self, csr: &Csr, x: (&CpuStorage, &[usize]), transpose: bool) -> Result<CpuStorage, TensorError> {
        Ok(match x.0 {
            CpuStorage::F32(a) => CpuStorage::F32(csr_impl(csr, a, transpose)?),
            CpuStorage::F64(a) => CpuStorage::F64(csr_impl(csr, a, transpose)?),
        })
    }
}

