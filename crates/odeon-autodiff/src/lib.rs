//! # odeon-autodiff
//!
//! Reverse-mode automatic differentiation on a tape over [`odeon_tensor::Tensor`].
//!
//! A [`Tape`] records every operation applied to its [`Var`]s; [`Tape::backward`]
//! walks the record in reverse and returns the gradient of a scalar with
//! respect to every variable that influenced it ([`Gradients`]). Gradients are
//! taken with respect to any leaf: parameters, inputs, conditioning.
//!
//! ## Why hand-written
//! Odeon needs reverse mode with higher order (gradients of gradients, for
//! input-gradient penalties and Hessian-vector products), forward mode (JVP),
//! and the same code running on wasm32 today and on a WebGPU backend later. No
//! well-kept Rust crate offers that combination: burn's autodiff is first order
//! only, candle's backprop has no forward mode, and the reverse-mode crates on
//! crates.io work on scalars. So the tape is ours. This first version is
//! first-order reverse mode; the op set is an enum so higher order (recording
//! the backward pass on a tape of its own) and JVP rules slot in per op.

use std::cell::RefCell;
use std::rc::Rc;

use odeon_tensor::{Tensor, TensorError, UnaryOp};

/// One recorded operation: which inputs it read and how.
#[derive(Debug, Clone)]
enum Op {
    Leaf,
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    MatMul(usize, usize),
    Unary(UnaryOp, usize),
    Scale(usize, f32),
    AddScalar(usize),
    MeanAll(usize),
    SumAll(usize),
    Concat(Vec<usize>, usize),
}

#[derive(Debug)]
struct Node {
    value: Tensor,
    op: Op,
}

/// Records operations on [`Var`]s for a later [`Tape::backward`].
#[derive(Debug, Default)]
pub struct Tape {
    nodes: RefCell<Vec<Node>>,
}

/// A value recorded on a [`Tape`].
#[derive(Debug, Clone)]
pub struct Var {
    tape: Rc<Tape>,
    id: usize,
}

/// Why a differentiation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutodiffError {
    /// A tensor operation failed (shape mismatch etc.).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// `backward` was called on a value with more than one element.
    #[error("backward needs a single number (a loss); got a tensor of shape {0:?}")]
    NotScalar(Vec<usize>),
    /// Two variables from different tapes were combined.
    #[error("these two values were recorded on different tapes and cannot be combined")]
    DifferentTapes,
}

/// Gradients of a scalar with respect to the variables of a tape.
#[derive(Debug)]
pub struct Gradients {
    grads: Vec<Option<Tensor>>,
}

impl Gradients {
    /// The gradient with respect to `var` (zeros when it did not influence the output).
    pub fn get(&self, var: &Var) -> Tensor {
        self.grads
            .get(var.id)
            .and_then(|g| g.clone())
            .unwrap_or_else(|| Tensor::zeros(var.value().shape()))
    }
}

impl Tape {
    /// A new, empty tape.
    pub fn new() -> Rc<Tape> {
        Rc::new(Tape::default())
    }

    fn push(self: &Rc<Self>, value: Tensor, op: Op) -> Var {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value, op });
        Var { tape: Rc::clone(self), id: nodes.len() - 1 }
    }

    /// Records a leaf (a parameter, an input, a constant).
    pub fn leaf(self: &Rc<Self>, value: Tensor) -> Var {
        self.push(value, Op::Leaf)
    }

    /// Number of recorded values.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.borrow().is_empty()
    }

    /// Gradients of the scalar `output` with respect to every recorded value.
    pub fn backward(&self, output: &Var) -> Result<Gradients, AutodiffError> {
        let nodes = self.nodes.borrow();
        let out_value = &nodes[output.id].value;
        if out_value.len() != 1 {
            return Err(AutodiffError::NotScalar(out_value.shape().to_vec()));
        }
        let mut grads: Vec<Option<Tensor>> = vec![None; nodes.len()];
        grads[output.id] = Some(Tensor::full(out_value.shape(), 1.0));
        for id in (0..=output.id).rev() {
            let Some(grad) = grads[id].take() else { continue };
            let node = &nodes[id];
            let mut give = |target: usize, g: Tensor| -> Result<(), AutodiffError> {
                let g = g.sum_to_shape(nodes[target].value.shape())?;
                grads[target] = Some(match grads[target].take() {
                    Some(acc) => acc.add(&g)?,
                    None => g,
                });
                Ok(())
            };
            match &node.op {
                Op::Leaf => {}
                Op::Add(a, b) => {
                    give(*a, grad.clone())?;
                    give(*b, grad.clone())?;
                }
                Op::Sub(a, b) => {
                    give(*a, grad.clone())?;
                    give(*b, grad.scale(-1.0))?;
                }
                Op::Mul(a, b) => {
                    give(*a, grad.mul(&nodes[*b].value)?)?;
                    give(*b, grad.mul(&nodes[*a].value)?)?;
                }
                Op::MatMul(a, b) => {
                    give(*a, grad.matmul(&nodes[*b].value.t()?)?)?;
                    give(*b, nodes[*a].value.t()?.matmul(&grad)?)?;
                }
                Op::Unary(op, a) => {
                    let x = &nodes[*a].value;
                    let local = x.zip_map(&node.value, |x, y| op.derivative(x, y))?;
                    give(*a, grad.mul(&local)?)?;
                }
                Op::Scale(a, f) => give(*a, grad.scale(*f))?,
                Op::AddScalar(a) => give(*a, grad.clone())?,
                Op::SumAll(a) => {
                    let g = grad.item()?;
                    give(*a, Tensor::full(nodes[*a].value.shape(), g))?;
                }
                Op::MeanAll(a) => {
                    let n = nodes[*a].value.len().max(1) as f32;
                    let g = grad.item()? / n;
                    give(*a, Tensor::full(nodes[*a].value.shape(), g))?;
                }
                Op::Concat(parts, axis) => {
                    let mut start = 0;
                    for &p in parts {
                        let size = nodes[p].value.shape()[*axis];
                        give(p, grad.slice_axis(*axis, start, start + size)?)?;
                        start += size;
                    }
                }
            }
            // Keep the output's own gradient available to the caller.
            if id == output.id || matches!(node.op, Op::Leaf) {
                grads[id] = Some(grad);
            }
        }
        Ok(Gradients { grads })
    }
}

impl Var {
    /// The recorded value.
    pub fn value(&self) -> Tensor {
        self.tape.nodes.borrow()[self.id].value.clone()
    }

    fn same_tape(&self, other: &Var) -> Result<(), AutodiffError> {
        if Rc::ptr_eq(&self.tape, &other.tape) { Ok(()) } else { Err(AutodiffError::DifferentTapes) }
    }

    fn binary(
        &self,
        other: &Var,
        f: impl Fn(&Tensor, &Tensor) -> Result<Tensor, TensorError>,
        op: Op,
    ) -> Result<Var, AutodiffError> {
        self.same_tape(other)?;
        let value = {
            let nodes = self.tape.nodes.borrow();
            f(&nodes[self.id].value, &nodes[other.id].value)?
        };
        Ok(self.tape.push(value, op))
    }

    fn unary_with(&self, f: impl Fn(&Tensor) -> Tensor, op: Op) -> Var {
        let value = f(&self.tape.nodes.borrow()[self.id].value);
        self.tape.push(value, op)
    }

    /// `self + other` with broadcasting.
    pub fn add(&self, other: &Var) -> Result<Var, AutodiffError> {
        self.binary(other, Tensor::add, Op::Add(self.id, other.id))
    }

    /// `self - other` with broadcasting.
    pub fn sub(&self, other: &Var) -> Result<Var, AutodiffError> {
        self.binary(other, Tensor::sub, Op::Sub(self.id, other.id))
    }

    /// `self * other` elementwise with broadcasting.
    pub fn mul(&self, other: &Var) -> Result<Var, AutodiffError> {
        self.binary(other, Tensor::mul, Op::Mul(self.id, other.id))
    }

    /// Matrix product.
    pub fn matmul(&self, other: &Var) -> Result<Var, AutodiffError> {
        self.binary(other, Tensor::matmul, Op::MatMul(self.id, other.id))
    }

    /// An elementwise function.
    pub fn unary(&self, op: UnaryOp) -> Var {
        self.unary_with(|x| x.unary(op), Op::Unary(op, self.id))
    }

    /// `factor * self`.
    pub fn scale(&self, factor: f32) -> Var {
        self.unary_with(|x| x.scale(factor), Op::Scale(self.id, factor))
    }

    /// `self + value`.
    pub fn add_scalar(&self, value: f32) -> Var {
        self.unary_with(|x| x.add_scalar(value), Op::AddScalar(self.id))
    }

    /// Sum of all elements.
    pub fn sum(&self) -> Var {
        self.unary_with(|x| Tensor::scalar(x.sum_all()), Op::SumAll(self.id))
    }

    /// Mean of all elements.
    pub fn mean(&self) -> Var {
        self.unary_with(|x| Tensor::scalar(x.mean_all()), Op::MeanAll(self.id))
    }

    /// Concatenation along `axis`.
    pub fn concat(parts: &[&Var], axis: usize) -> Result<Var, AutodiffError> {
        let Some(first) = parts.first() else {
            return Err(TensorError::Shape("concat needs at least one part".into()).into());
        };
        for p in parts {
            first.same_tape(p)?;
        }
        let value = {
            let nodes = first.tape.nodes.borrow();
            let values: Vec<&Tensor> = parts.iter().map(|p| &nodes[p.id].value).collect();
            Tensor::concat(&values, axis)?
        };
        Ok(first.tape.push(value, Op::Concat(parts.iter().map(|p| p.id).collect(), axis)))
    }
}

#[cfg(test)]
mod tests;
