//! Losses. Each returns a scalar (rank-0) value averaged over the batch.

use odeon_autodiff::Var;
use odeon_tensor::{Backend, Tensor, UnaryOp};

use crate::NnError;

fn same_shape<B: Backend>(a: &Var<B>, b: &Var<B>, what: &str) -> Result<(), NnError> {
    if a.value().shape() != b.value().shape() {
        return Err(NnError::Config(format!(
            "{what}: predictions of shape {:?} and targets of shape {:?} differ",
            a.value().shape(),
            b.value().shape()
        )));
    }
    Ok(())
}

/// Mean squared error over all elements.
pub fn mse<B: Backend>(pred: &Var<B>, target: &Var<B>) -> Result<Var<B>, NnError> {
    same_shape(pred, target, "mse")?;
    Ok(pred.sub(target)?.unary(UnaryOp::Square)?.mean()?)
}

/// Pseudo-Huber loss per sample, `sqrt(|d|^2 + c^2) - c` with `d` a row of
/// `pred - target`, averaged over rows (Song & Dhariwal, 2023; rectified
/// flow++ uses `c = 0.00054 * dim`). Divide by the dimension yourself where a
/// paper does.
pub fn pseudo_huber<B: Backend>(pred: &Var<B>, target: &Var<B>, c: f64) -> Result<Var<B>, NnError> {
    same_shape(pred, target, "pseudo-Huber")?;
    if !(c > 0.0 && c.is_finite()) {
        return Err(NnError::Config(format!("pseudo-Huber needs a positive c, got {c}")));
    }
    let axes: Vec<usize> = (1..pred.value().rank()).collect();
    let sq = pred.sub(target)?.unary(UnaryOp::Square)?.sum_keep(&axes)?;
    Ok(sq.add_scalar(c * c)?.unary(UnaryOp::Sqrt)?.add_scalar(-c)?.mean()?)
}

/// Cross-entropy of logits `[n, classes]` against class labels, averaged.
pub fn cross_entropy<B: Backend>(logits: &Var<B>, labels: &[usize]) -> Result<Var<B>, NnError> {
    let shape = logits.value().shape().to_vec();
    if shape.len() != 2 || shape[0] != labels.len() {
        return Err(NnError::Config(format!("cross-entropy needs logits [n, classes] and n labels; got {shape:?} and {} labels", labels.len())));
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= shape[1]) {
        return Err(NnError::Config(format!("label {bad} is not a class (there are {})", shape[1])));
    }
    let mut onehot = vec![0.0; shape[0] * shape[1]];
    labels.iter().enumerate().for_each(|(i, &l)| onehot[i * shape[1] + l] = 1.0);
    let onehot = logits.tape().constant(Tensor::from_f64_in(logits.value().backend(), &shape, &onehot, logits.value().dtype())?);
    Ok(logits.log_softmax(1)?.mul(&onehot)?.sum()?.scale(-1.0 / shape[0].max(1) as f64)?)
}

/// Binary cross-entropy of logits against targets in `[0, 1]`, averaged
/// (the stable form `softplus(x) - x y`).
pub fn bce_with_logits<B: Backend>(logits: &Var<B>, targets: &Var<B>) -> Result<Var<B>, NnError> {
    same_shape(logits, targets, "binary cross-entropy")?;
    Ok(logits.unary(UnaryOp::Softplus)?.sub(&logits.mul(targets)?)?.mean()?)
}
