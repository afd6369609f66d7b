//! # odeon-autodiff
//!
//! Automatic differentiation over [`odeon_tensor::Tensor`] on any backend:
//! reverse mode of any order, Jacobian-vector products, stop-gradient.
//!
//! A [`Tape`] records the operations applied to tracked [`Var`]s. Values
//! made with [`Tape::constant`] (data, targets) or [`Var::detach`] are not
//! tracked and cost nothing. [`Tape::grad`] walks the record backwards from a
//! scalar and returns the gradient with respect to any tracked values
//! (parameters, inputs, conditioning). With `create_graph = true` the
//! backward pass is itself recorded, so a gradient can be differentiated
//! again: input-gradient penalties, grad-of-grad, Hessian-vector products
//! ([`hvp`]). [`jvp`] gives forward-mode products `J v`.
//!
//! Every backward rule is written once, in terms of [`Var`] operations.
//! During a first-order pass the cotangents are untracked constants, so
//! those operations run straight on tensors (with fused kernels for the
//! elementwise functions) and nothing is recorded.
//!
//! ## Why hand-written
//! Odeon needs reverse mode of any order, forward products, and one code
//! path for the CPU (native and wasm) and the WebGPU backend. No well-kept
//! Rust crate offers that combination: burn's autodiff backend is first
//! order only, candle's backprop has no forward mode or higher order, and the
//! autodiff crates on crates.io work on scalars or dual numbers, not tensors
//! on a GPU.
//!
//! ## JVP
//! [`jvp`] uses the double-VJP construction: `g(u) = J^T u` is linear in
//! `u`, so `J v = d/du <g(u), v>`. It costs two reverse passes instead of one
//! forward pass, and it is exact; a dedicated forward mode can replace it
//! behind the same function when a notebook needs the speed.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_tensor::{Backend, BinaryOp, Conv2dGeometry, Cpu, Csr, ReduceOp, Tensor, TensorError, UnaryOp};

mod rules;

/// Why a differentiation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutodiffError {
    /// A tensor operation failed (shape mismatch etc.).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// The output of a gradient must be a single number.
    #[error("a gradient needs a single number (a loss); got a tensor of shape {0:?}")]
    NotScalar(Vec<usize>),
    /// Two variables from different tapes were combined.
    #[error("these two values were recorded on different tapes and cannot be combined")]
    DifferentTapes,
    /// A cotangent or tangent of the wrong shape.
    #[error("{0}")]
    Shape(String),
}

/// One recorded operation: which tracked inputs it read and how.
#[derive(Debug, Clone)]
pub(crate) enum Op<B: Backend> {
    Leaf,
    Binary(BinaryOp, Parent<B>, Parent<B>),
    MatMul(Parent<B>, Parent<B>),
    Linear(Parent<B>, Parent<B>, Parent<B>),
    Unary(UnaryOp, Parent<B>),
    Scale(Parent<B>, f64),
    AddScalar(Parent<B>),
    PowScalar(Parent<B>, f64),
    Sum(Parent<B>),
    Max(Parent<B>, Rc<[usize]>),
    Reshape(Parent<B>),
    Permute(Parent<B>, Rc<[usize]>),
    BroadcastTo(Parent<B>),
    Slice(Parent<B>, usize, usize, usize),
    Concat(Vec<Parent<B>>, usize),
    IndexSelect(Parent<B>, usize, Rc<[usize]>),
    IndexAdd(Parent<B>, usize, Rc<[usize]>, Parent<B>),
    Select(Tensor<B>, Parent<B>, Parent<B>),
    Unfold(Parent<B>, Conv2dGeometry),
    Fold(Parent<B>, Conv2dGeometry),
    Csr(Parent<B>, Rc<Csr>, bool),
    Cast(Parent<B>),
}

/// An input of a recorded operation: its node (when tracked) and its value.
#[derive(Debug, Clone)]
pub(crate) struct Parent<B: Backend> {
    pub(crate) id: Option<usize>,
    pub(crate) value: Tensor<B>,
}

#[derive(Debug)]
struct Node<B: Backend> {
    value: Tensor<B>,
    op: Op<B>,
}

/// Records operations on tracked [`Var`]s.
#[derive(Debug)]
pub struct Tape<B: Backend = Cpu> {
    nodes: RefCell<Vec<Node<B>>>,
}

/// A value in a differentiable computation: tracked (recorded on its tape)
/// or constant.
#[derive(Debug, Clone)]
pub struct Var<B: Backend = Cpu> {
    tape: Rc<Tape<B>>,
    id: Option<usize>,
    value: Tensor<B>,
}

/// First-order gradients from [`Tape::backward`].
#[derive(Debug)]
pub struct Gradients<B: Backend = Cpu> {
    grads: Vec<Option<Tensor<B>>>,
}

impl<B: Backend> Gradients<B> {
    /// The gradient with respect to `var` (zeros when it did not influence the output).
    pub fn get(&self, var: &Var<B>) -> Result<Tensor<B>, AutodiffError> {
        match var.id.and_then(|id| self.grads.get(id).cloned().flatten()) {
            Some(g) => Ok(g),
            None => Ok(var.value.zeros_like()?),
        }
    }
}

impl<B: Backend> Default for Tape<B> {
    fn default() -> Self {
        Tape { nodes: RefCell::new(Vec::new()) }
    }
}

impl<B: Backend> Tape<B> {
    /// A new, empty tape.
    pub fn new() -> Rc<Tape<B>> {
        Rc::new(Tape::default())
    }

    fn push(self: &Rc<Self>, value: Tensor<B>, op: Op<B>) -> Var<B> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value: value.clone(), op });
        Var { tape: Rc::clone(self), id: Some(nodes.len() - 1), value }
    }

    /// A tracked value with respect to which gradients can be taken.
    pub fn leaf(self: &Rc<Self>, value: Tensor<B>) -> Var<B> {
        self.push(value, Op::Leaf)
    }

    /// An untracked value (data, targets): no gradient flows into it.
    pub fn constant(self: &Rc<Self>, value: Tensor<B>) -> Var<B> {
        Var { tape: Rc::clone(self), id: None, value }
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.borrow().is_empty()
    }

    /// First-order gradients of the scalar `output` with respect to every
    /// tracked value (read them with [`Gradients::get`]).
    pub fn backward(self: &Rc<Self>, output: &Var<B>) -> Result<Gradients<B>, AutodiffError> {
        let seed = self.constant(output.value.full_like(1.0)?);
        let grads = self.propagate(output, &seed, false, &[])?;
        Ok(Gradients { grads: grads.into_iter().map(|g| g.map(|v| v.value)).collect() })
    }

    /// Gradients of the scalar `output` with respect to `wrt`. With
    /// `create_graph` the results are tracked and can be differentiated again.
    pub fn grad(self: &Rc<Self>, output: &Var<B>, wrt: &[&Var<B>], create_graph: bool) -> Result<Vec<Var<B>>, AutodiffError> {
        if output.value.len() != 1 {
            return Err(AutodiffError::NotScalar(output.value.shape().to_vec()));
        }
        let seed = self.constant(output.value.full_like(1.0)?);
        self.vjp(output, wrt, &seed, create_graph)
    }

    /// Vector-Jacobian product `cotangent^T J` for each of `wrt`.
    pub fn vjp(self: &Rc<Self>, output: &Var<B>, wrt: &[&Var<B>], cotangent: &Var<B>, create_graph: bool) -> Result<Vec<Var<B>>, AutodiffError> {
        if cotangent.value.shape() != output.value.shape() {
            return Err(AutodiffError::Shape(format!(
                "the cotangent has shape {:?} but the output has shape {:?}",
                cotangent.value.shape(),
                output.value.shape()
            )));
        }
        for v in wrt {
            v.same_tape(output)?;
        }
        let seed = if create_graph { cotangent.clone() } else { cotangent.detach() };
        let keep: Vec<usize> = wrt.iter().filter_map(|v| v.id).collect();
        let grads = self.propagate(output, &seed, create_graph, &keep)?;
        wrt.iter()
            .map(|v| match v.id.and_then(|id| grads.get(id).cloned().flatten()) {
                Some(g) => Ok(g),
                None => Ok(self.constant(v.value.zeros_like()?)),
            })
            .collect()
    }

    /// Walks the tape backwards from `output`. Cotangents of leaves and of
    /// the nodes in `keep` are returned; the others are dropped once used.
    fn propagate(
        self: &Rc<Self>,
        output: &Var<B>,
        seed: &Var<B>,
        create_graph: bool,
        keep: &[usize],
    ) -> Result<Vec<Option<Var<B>>>, AutodiffError> {
        let Some(out_id) = output.id else {
            return Ok(Vec::new());
        };
        let mut grads: Vec<Option<Var<B>>> = vec![None; out_id + 1];
        grads[out_id] = Some(seed.clone());
        for id in (0..=out_id).rev() {
            let Some(g) = grads[id].clone() else { continue };
            let (op, out_value) = {
                let nodes = self.nodes.borrow();
                (nodes[id].op.clone(), nodes[id].value.clone())
            };
            if matches!(op, Op::Leaf) {
                continue;
            }
            let is_kept = keep.contains(&id);
            let g = if create_graph { g } else { g.detach() };
            let out = Var { tape: Rc::clone(self), id: Some(id), value: out_value };
            for (parent, contribution) in rules::backward(self, &op, &out, &g, create_graph)? {
                let slot = &mut grads[parent];
                *slot = Some(match slot.take() {
                    Some(acc) => acc.add(&contribution)?,
                    None => contribution,
                });
            }
            // Intermediate cotangents are no longer needed.
            if id != out_id && !is_kept {
                grads[id] = None;
            }
        }
        Ok(grads)
    }
}

impl<B: Backend> Var<B> {
    /// The value.
    pub fn value(&self) -> &Tensor<B> {
        &self.value
    }

    /// True when the value is recorded on the tape.
    pub fn is_tracked(&self) -> bool {
        self.id.is_some()
    }

    /// The tape.
    pub fn tape(&self) -> &Rc<Tape<B>> {
        &self.tape
    }

    /// The same value, untracked: no gradient flows through it.
    pub fn detach(&self) -> Var<B> {
        Var { tape: Rc::clone(&self.tape), id: None, value: self.value.clone() }
    }

    fn same_tape(&self, other: &Var<B>) -> Result<(), AutodiffError> {
        if Rc::ptr_eq(&self.tape, &other.tape) { Ok(()) } else { Err(AutodiffError::DifferentTapes) }
    }

    pub(crate) fn parent(&self) -> Parent<B> {
        Parent { id: self.id, value: self.value.clone() }
    }

    /// Wraps `value` computed from `inputs`: recorded when any input is tracked.
    fn record(&self, value: Tensor<B>, tracked: bool, op: impl FnOnce() -> Op<B>) -> Var<B> {
        if tracked { self.tape.push(value, op()) } else { self.tape.constant(value) }
    }

    /// `f(self, other)` elementwise with broadcasting.
    pub fn binary(&self, op: BinaryOp, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.same_tape(other)?;
        let value = self.value.binary(op, &other.value)?;
        let differentiable = !matches!(op, BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Eq);
        let tracked = differentiable && (self.is_tracked() || other.is_tracked());
        Ok(self.record(value, tracked, || Op::Binary(op, self.parent(), other.parent())))
    }

    /// `self + other`.
    pub fn add(&self, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.binary(BinaryOp::Add, other)
    }

    /// `self - other`.
    pub fn sub(&self, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.binary(BinaryOp::Sub, other)
    }

    /// `self * other`.
    pub fn mul(&self, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.binary(BinaryOp::Mul, other)
    }

    /// `self / other`.
    pub fn div(&self, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.binary(BinaryOp::Div, other)
    }

    /// Elementwise maximum (the gradient goes to the larger input).
    pub fn maximum(&self, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.binary(BinaryOp::Max, other)
    }

    /// Matrix product (batched, as [`Tensor::matmul`]).
    pub fn matmul(&self, other: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.same_tape(other)?;
        let value = self.value.matmul(&other.value)?;
        Ok(self.record(value, self.is_tracked() || other.is_tracked(), || Op::MatMul(self.parent(), other.parent())))
    }

    /// `self w + b` for a matrix `self`, weights `w` and bias `b` (`[1, n]`
    /// or `[n]`), fused into one kernel.
    pub fn linear(&self, w: &Var<B>, b: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.same_tape(w)?;
        self.same_tape(b)?;
        let value = self.value.addmm(&w.value, &b.value)?;
        let tracked = self.is_tracked() || w.is_tracked() || b.is_tracked();
        Ok(self.record(value, tracked, || Op::Linear(self.parent(), w.parent(), b.parent())))
    }

    /// `f(self)` elementwise.
    pub fn unary(&self, op: UnaryOp) -> Result<Var<B>, AutodiffError> {
        let value = self.value.unary(op)?;
        let tracked = self.is_tracked() && !matches!(op, UnaryOp::Step | UnaryOp::Sign);
        Ok(self.record(value, tracked, || Op::Unary(op, self.parent())))
    }

    /// `factor * self`.
    pub fn scale(&self, factor: f64) -> Result<Var<B>, AutodiffError> {
        let value = self.value.scale(factor)?;
        Ok(self.record(value, self.is_tracked(), || Op::Scale(self.parent(), factor)))
    }

    /// `self + c`.
    pub fn add_scalar(&self, c: f64) -> Result<Var<B>, AutodiffError> {
        let value = self.value.add_scalar(c)?;
        Ok(self.record(value, self.is_tracked(), || Op::AddScalar(self.parent())))
    }

    /// `self^p` elementwise.
    pub fn powf(&self, p: f64) -> Result<Var<B>, AutodiffError> {
        let value = self.value.scalar_op(BinaryOp::Pow, p, false)?;
        Ok(self.record(value, self.is_tracked(), || Op::PowScalar(self.parent(), p)))
    }

    /// Sum over `axes`, kept as size one.
    pub fn sum_keep(&self, axes: &[usize]) -> Result<Var<B>, AutodiffError> {
        let value = self.value.sum_keep(axes)?;
        Ok(self.record(value, self.is_tracked(), || Op::Sum(self.parent())))
    }

    /// Maximum over `axes`, kept as size one (ties share the gradient).
    pub fn max_keep(&self, axes: &[usize]) -> Result<Var<B>, AutodiffError> {
        let value = self.value.reduce(ReduceOp::Max, axes)?;
        Ok(self.record(value, self.is_tracked(), || Op::Max(self.parent(), axes.into())))
    }

    /// Sum of every element (rank 0).
    pub fn sum(&self) -> Result<Var<B>, AutodiffError> {
        let axes: Vec<usize> = (0..self.value.rank()).collect();
        self.sum_keep(&axes)?.reshape(&[])
    }

    /// Mean of every element (rank 0).
    pub fn mean(&self) -> Result<Var<B>, AutodiffError> {
        self.sum()?.scale(1.0 / self.value.len().max(1) as f64)
    }

    /// Mean over `axes`, kept as size one.
    pub fn mean_keep(&self, axes: &[usize]) -> Result<Var<B>, AutodiffError> {
        let count: usize = axes.iter().map(|&a| self.value.shape().get(a).copied().unwrap_or(1)).product();
        self.sum_keep(axes)?.scale(1.0 / count.max(1) as f64)
    }

    /// Same elements, new shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var<B>, AutodiffError> {
        let value = self.value.reshape(shape)?;
        Ok(self.record(value, self.is_tracked(), || Op::Reshape(self.parent())))
    }

    /// Axes reordered.
    pub fn permute(&self, perm: &[usize]) -> Result<Var<B>, AutodiffError> {
        let value = self.value.permute(perm)?;
        Ok(self.record(value, self.is_tracked(), || Op::Permute(self.parent(), perm.into())))
    }

    /// Last two axes swapped.
    pub fn t(&self) -> Result<Var<B>, AutodiffError> {
        let rank = self.value.rank();
        if rank < 2 {
            return Err(TensorError::Shape(format!("transpose needs two axes, got {:?}", self.value.shape())).into());
        }
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(rank - 2, rank - 1);
        self.permute(&perm)
    }

    /// Broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var<B>, AutodiffError> {
        if self.value.shape() == shape {
            return Ok(self.clone());
        }
        let value = self.value.broadcast_to(shape)?;
        Ok(self.record(value, self.is_tracked(), || Op::BroadcastTo(self.parent())))
    }

    /// Sums a broadcast value back down to `shape`.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Var<B>, AutodiffError> {
        if self.value.shape() == shape {
            return Ok(self.clone());
        }
        let extra = self.value.rank().saturating_sub(shape.len());
        let mut axes: Vec<usize> = (0..extra).collect();
        for (i, &size) in shape.iter().enumerate() {
            if size == 1 && self.value.shape().get(extra + i) != Some(&1) {
                axes.push(extra + i);
            }
        }
        self.sum_keep(&axes)?.reshape(shape)
    }

    /// `start..end` along `axis`.
    pub fn slice_axis(&self, axis: usize, start: usize, end: usize) -> Result<Var<B>, AutodiffError> {
        let value = self.value.slice_axis(axis, start, end)?;
        Ok(self.record(value, self.is_tracked(), || Op::Slice(self.parent(), axis, start, end)))
    }

    /// Concatenation along `axis`.
    pub fn concat(parts: &[&Var<B>], axis: usize) -> Result<Var<B>, AutodiffError> {
        let first = parts.first().ok_or_else(|| TensorError::Shape("concat needs at least one value".into()))?;
        for p in parts {
            first.same_tape(p)?;
        }
        let values: Vec<&Tensor<B>> = parts.iter().map(|p| &p.value).collect();
        let value = Tensor::concat(&values, axis)?;
        let tracked = parts.iter().any(|p| p.is_tracked());
        Ok(first.record(value, tracked, || Op::Concat(parts.iter().map(|p| p.parent()).collect(), axis)))
    }

    /// Entries at `indices` along `axis`.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Var<B>, AutodiffError> {
        let value = self.value.index_select(axis, indices)?;
        Ok(self.record(value, self.is_tracked(), || Op::IndexSelect(self.parent(), axis, indices.into())))
    }

    /// `self` with `src` added at `indices` along `axis`.
    pub fn index_add(&self, axis: usize, indices: &[usize], src: &Var<B>) -> Result<Var<B>, AutodiffError> {
        self.same_tape(src)?;
        let value = self.value.index_add(axis, indices, &src.value)?;
        let tracked = self.is_tracked() || src.is_tracked();
        Ok(self.record(value, tracked, || Op::IndexAdd(self.parent(), axis, indices.into(), src.parent())))
    }

    /// `cond != 0 ? a : b` (the condition is a constant).
    pub fn select(cond: &Tensor<B>, a: &Var<B>, b: &Var<B>) -> Result<Var<B>, AutodiffError> {
        a.same_tape(b)?;
        let value = Tensor::select(cond, &a.value, &b.value)?;
        let tracked = a.is_tracked() || b.is_tracked();
        Ok(a.record(value, tracked, || Op::Select(cond.clone(), a.parent(), b.parent())))
    }

    /// im2col (see [`Tensor::unfold2d`]).
    pub fn unfold2d(&self, geometry: Conv2dGeometry) -> Result<Var<B>, AutodiffError> {
        let value = self.value.unfold2d(geometry)?;
        Ok(self.record(value, self.is_tracked(), || Op::Unfold(self.parent(), geometry)))
    }

    /// col2im (see [`Tensor::fold2d`]).
    pub fn fold2d(&self, image_shape: &[usize], geometry: Conv2dGeometry) -> Result<Var<B>, AutodiffError> {
        let value = self.value.fold2d(image_shape, geometry)?;
        Ok(self.record(value, self.is_tracked(), || Op::Fold(self.parent(), geometry)))
    }

    /// 2-D convolution of `[n, c, h, w]` with weights `[out, c, kh, kw]`.
    pub fn conv2d(&self, weight: &Var<B>, stride: (usize, usize), padding: (usize, usize)) -> Result<Var<B>, AutodiffError> {
        let ws = weight.value.shape().to_vec();
        let [oc, ic, kh, kw] = ws[..] else {
            return Err(TensorError::Shape(format!("conv2d weights must be [out, in, kh, kw], got {ws:?}")).into());
        };
        let xs = self.value.shape().to_vec();
        if xs.len() != 4 || xs[1] != ic {
            return Err(TensorError::Shape(format!("conv2d: input {xs:?} does not have {ic} channels as [n, c, h, w]")).into());
        }
        let geometry = Conv2dGeometry { kernel: (kh, kw), stride, padding };
        let (oh, ow) = geometry
            .output_size(xs[2], xs[3])
            .ok_or_else(|| TensorError::Shape(format!("a {kh}x{kw} kernel does not fit a {}x{} image", xs[2], xs[3])))?;
        let cols = self.unfold2d(geometry)?;
        weight.reshape(&[oc, ic * kh * kw])?.matmul(&cols)?.reshape(&[xs[0], oc, oh, ow])
    }

    /// Sparse-times-dense `A self` (or `A^T self`); `A` is a constant.
    pub fn csr_matmul(&self, csr: &Rc<Csr>, transpose: bool) -> Result<Var<B>, AutodiffError> {
        let value = self.value.csr_matmul(csr, transpose)?;
        Ok(self.record(value, self.is_tracked(), || Op::Csr(self.parent(), Rc::clone(csr), transpose)))
    }

    /// Converts the element type (gradients convert back).
    pub fn cast(&self, dtype: odeon_tensor::DType) -> Result<Var<B>, AutodiffError> {
        if dtype == self.value.dtype() {
            return Ok(self.clone());
        }
        let value = self.value.cast(dtype)?;
        Ok(self.record(value, self.is_tracked(), || Op::Cast(self.parent())))
    }

    /// `log(sum(exp(self)))` along `axis`, kept as size one (max-shifted).
    pub fn logsumexp(&self, axis: usize) -> Result<Var<B>, AutodiffError> {
        let m = self.max_keep(&[axis])?.detach();
        self.sub(&m)?.unary(UnaryOp::Exp)?.sum_keep(&[axis])?.unary(UnaryOp::Ln)?.add(&m)
    }

    /// Log-softmax along `axis`.
    pub fn log_softmax(&self, axis: usize) -> Result<Var<B>, AutodiffError> {
        self.sub(&self.logsumexp(axis)?)
    }

    /// Softmax along `axis`.
    pub fn softmax(&self, axis: usize) -> Result<Var<B>, AutodiffError> {
        self.log_softmax(axis)?.unary(UnaryOp::Exp)
    }

    /// A constant on the same tape, device and dtype.
    pub fn constant_like(&self, value: f64) -> Result<Var<B>, AutodiffError> {
        Ok(self.tape.constant(self.value.full_like(value)?))
    }
}

/// The single result of a one-input gradient call.
fn only<B: Backend>(results: Vec<Var<B>>) -> Result<Var<B>, AutodiffError> {
    results.into_iter().next().ok_or_else(|| AutodiffError::Shape("no gradient was produced".into()))
}

/// Gradient of a scalar function at `x`: returns `(f(x), grad f(x))`.
pub fn value_and_grad<B: Backend>(
    x: &Tensor<B>,
    f: impl Fn(&Var<B>) -> Result<Var<B>, AutodiffError>,
) -> Result<(Tensor<B>, Tensor<B>), AutodiffError> {
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let y = f(&xv)?;
    let grad = only(tape.grad(&y, &[&xv], false)?)?.value;
    Ok((y.value, grad))
}

/// Jacobian-vector product `J_f(x) v` of any `f` (see the crate docs).
pub fn jvp<B: Backend>(
    x: &Tensor<B>,
    v: &Tensor<B>,
    f: impl Fn(&Var<B>) -> Result<Var<B>, AutodiffError>,
) -> Result<(Tensor<B>, Tensor<B>), AutodiffError> {
    if v.shape() != x.shape() {
        return Err(AutodiffError::Shape(format!("the tangent has shape {:?} but x has shape {:?}", v.shape(), x.shape())));
    }
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let y = f(&xv)?;
    let u = tape.leaf(y.value.zeros_like()?);
    let g = only(tape.vjp(&y, &[&xv], &u, true)?)?;
    let inner = g.mul(&tape.constant(v.clone()))?.sum()?;
    let jv = only(tape.grad(&inner, &[&u], false)?)?.value;
    Ok((y.value, jv))
}

/// Hessian-vector product `H_f(x) v` of a scalar `f`.
pub fn hvp<B: Backend>(
    x: &Tensor<B>,
    v: &Tensor<B>,
    f: impl Fn(&Var<B>) -> Result<Var<B>, AutodiffError>,
) -> Result<Tensor<B>, AutodiffError> {
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let y = f(&xv)?;
    let g = only(tape.grad(&y, &[&xv], true)?)?;
    let gv = g.mul(&tape.constant(v.clone()))?.sum()?;
    Ok(only(tape.grad(&gv, &[&xv], false)?)?.value)
}

#[cfg(test)]
mod tests;
