//! Backward rules, one per recorded operation, written with [`Var`]
//! operations so that they can themselves be differentiated.

use std::rc::Rc;

use odeon_tensor::{Backend, BinaryOp, Tensor, UnaryOp};

use crate::{AutodiffError, Op, Parent, Tape, Var};

type Contributions<B> = Vec<(usize, Var<B>)>;

/// The cotangent contributions of node `out` (with cotangent `g`) to its
/// tracked inputs.
pub(crate) fn backward<B: Backend>(
    tape: &Rc<Tape<B>>,
    op: &Op<B>,
    out: &Var<B>,
    g: &Var<B>,
    create_graph: bool,
) -> Result<Contributions<B>, AutodiffError> {
    // In a first-order pass the inputs are used as constants, so the rules
    // below run as plain tensor operations and record nothing.
    let var = |p: &Parent<B>| Var { tape: Rc::clone(tape), id: if create_graph { p.id } else { None }, value: p.value.clone() };
    let out = if create_graph { out.clone() } else { out.detach() };
    let constant = |t: Tensor<B>| tape.constant(t);
    let mut result: Contributions<B> = Vec::with_capacity(2);
    let mut give = |p: &Parent<B>, grad: Var<B>| {
        if let Some(id) = p.id {
            result.push((id, grad));
        }
    };
    match op {
        Op::Leaf => {}
        Op::Binary(kind, a, b) => {
            let (av, bv) = (var(a), var(b));
            let (sa, sb) = (a.value.shape(), b.value.shape());
            match kind {
                BinaryOp::Add => {
                    give(a, g.sum_to_shape(sa)?);
                    give(b, g.sum_to_shape(sb)?);
                }
                BinaryOp::Sub => {
                    give(a, g.sum_to_shape(sa)?);
                    give(b, g.scale(-1.0)?.sum_to_shape(sb)?);
                }
                BinaryOp::Mul => {
                    if a.id.is_some() {
                        give(a, g.mul(&bv)?.sum_to_shape(sa)?);
                    }
                    if b.id.is_some() {
                        give(b, g.mul(&av)?.sum_to_shape(sb)?);
                    }
                }
                BinaryOp::Div => {
                    if a.id.is_some() {
                        give(a, g.div(&bv)?.sum_to_shape(sa)?);
                    }
                    if b.id.is_some() {
                        give(b, g.mul(&out)?.div(&bv)?.scale(-1.0)?.sum_to_shape(sb)?);
                    }
                }
                BinaryOp::Max | BinaryOp::Min => {
                    // Ties send the gradient to the left operand.
                    let mask = if *kind == BinaryOp::Max {
                        a.value.binary(BinaryOp::Ge, &b.value)?
                    } else {
                        b.value.binary(BinaryOp::Ge, &a.value)?
                    };
                    let zero = constant(g.value().zeros_like()?);
                    give(a, Var::select(&mask, g, &zero)?.sum_to_shape(sa)?);
                    give(b, Var::select(&mask, &zero, g)?.sum_to_shape(sb)?);
                }
                BinaryOp::Pow => {
                    if a.id.is_some() {
                        let d = bv.mul(&av.binary(BinaryOp::Pow, &bv.add_scalar(-1.0)?)?)?;
                        give(a, g.mul(&d)?.sum_to_shape(sa)?);
                    }
                    if b.id.is_some() {
                        give(b, g.mul(&out)?.mul(&av.unary(UnaryOp::Ln)?)?.sum_to_shape(sb)?);
                    }
                }
                BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Eq => {}
            }
        }
        Op::MatMul(a, b) => {
            let (av, bv) = (var(a), var(b));
            if a.id.is_some() {
                give(a, g.matmul(&bv.t()?)?.sum_to_shape(a.value.shape())?);
            }
            if b.id.is_some() {
                give(b, av.t()?.matmul(g)?.sum_to_shape(b.value.shape())?);
            }
        }
        Op::Linear(x, w, b) => {
            if x.id.is_some() {
                give(x, g.matmul(&var(w).t()?)?);
            }
            if w.id.is_some() {
                give(w, var(x).t()?.matmul(g)?);
            }
            give(b, g.sum_to_shape(b.value.shape())?);
        }
        Op::Unary(kind, a) => {
            let grad = if create_graph { unary_rule(*kind, &var(a), &out, g)? } else { constant(a.value.unary_backward(*kind, g.value())?) };
            give(a, grad);
        }
        Op::Scale(a, f) => give(a, g.scale(*f)?),
        Op::AddScalar(a) => give(a, g.clone()),
        Op::PowScalar(a, p) => give(a, g.mul(&var(a).powf(p - 1.0)?.scale(*p)?)?),
        Op::Sum(a) => give(a, g.broadcast_to(a.value.shape())?),
        Op::Max(a, axes) => {
            let x = &a.value;
            let m = x.reduce(odeon_tensor::ReduceOp::Max, axes)?;
            let mask = x.binary(BinaryOp::Eq, &m)?;
            let share = mask.div(&mask.sum_keep(axes)?)?;
            give(a, g.broadcast_to(x.shape())?.mul(&constant(share))?);
        }
        Op::Reshape(a) => give(a, g.reshape(a.value.shape())?),
        Op::Permute(a, perm) => {
            let mut inverse = vec![0; perm.len()];
            perm.iter().enumerate().for_each(|(i, &p)| inverse[p] = i);
            give(a, g.permute(&inverse)?);
        }
        Op::BroadcastTo(a) => give(a, g.sum_to_shape(a.value.shape())?),
        Op::Slice(a, axis, start, end) => {
            let indices: Vec<usize> = (*start..*end).collect();
            give(a, constant(a.value.zeros_like()?).index_add(*axis, &indices, g)?);
        }
        Op::Concat(parts, axis) => {
            let mut offset = 0;
            for p in parts {
                let size = p.value.shape()[*axis];
                if p.id.is_some() {
                    give(p, g.slice_axis(*axis, offset, offset + size)?);
                }
                offset += size;
            }
        }
        Op::IndexSelect(a, axis, indices) => {
            give(a, constant(a.value.zeros_like()?).index_add(*axis, indices, g)?);
        }
        Op::IndexAdd(a, axis, indices, src) => {
            give(a, g.clone());
            if src.id.is_some() {
                give(src, g.index_select(*axis, indices)?);
            }
        }
        Op::Select(cond, a, b) => {
            let zero = constant(g.value().zeros_like()?);
            give(a, Var::select(cond, g, &zero)?.sum_to_shape(a.value.shape())?);
            give(b, Var::select(cond, &zero, g)?.sum_to_shape(b.value.shape())?);
        }
        Op::Unfold(a, geometry) => give(a, g.fold2d(a.value.shape(), *geometry)?),
        Op::Fold(a, geometry) => give(a, g.unfold2d(*geometry)?),
        Op::Csr(a, csr, transpose) => give(a, g.csr_matmul(csr, !transpose)?),
        Op::Cast(a) => give(a, g.cast(a.value.dtype())?),
    }
    Ok(result)
}

/// `g * f'(x)` as differentiable operations (`y = f(x)` is the node's output).
fn unary_rule<B: Backend>(op: UnaryOp, x: &Var<B>, y: &Var<B>, g: &Var<B>) -> Result<Var<B>, AutodiffError> {
    let one = || y.constant_like(1.0);
    match op {
        UnaryOp::Neg => g.scale(-1.0),
        UnaryOp::Exp => g.mul(y),
        UnaryOp::Ln => g.div(x),
        UnaryOp::Sin => g.mul(&x.unary(UnaryOp::Cos)?),
        UnaryOp::Cos => g.mul(&x.unary(UnaryOp::Sin)?).and_then(|v| v.scale(-1.0)),
        UnaryOp::Tanh => g.mul(&one()?.sub(&y.mul(y)?)?),
        UnaryOp::Square => g.mul(&x.scale(2.0)?),
        UnaryOp::Sqrt => g.div(&y.scale(2.0)?),
        UnaryOp::Recip => g.mul(&y.mul(y)?).and_then(|v| v.scale(-1.0)),
        UnaryOp::Abs => g.mul(&x.unary(UnaryOp::Sign)?),
        UnaryOp::Relu => g.mul(&x.unary(UnaryOp::Step)?),
        UnaryOp::Sigmoid => g.mul(&y.mul(&one()?.sub(y)?)?),
        UnaryOp::Silu => {
            let s = x.unary(UnaryOp::Sigmoid)?;
            let d = s.add(&x.mul(&s)?.mul(&one()?.sub(&s)?)?)?;
            g.mul(&d)
        }
        UnaryOp::Softplus => g.mul(&x.unary(UnaryOp::Sigmoid)?),
        UnaryOp::Step | UnaryOp::Sign => g.scale(0.0),
    }
}
