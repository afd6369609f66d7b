//! Gradient checks against central finite differences.

use super::*;
use odeon_tensor::SeedStream;

/// Central finite-difference gradient of `f` at `x`.
fn fd_grad(x: &Tensor, f: &dyn Fn(&Tensor) -> f32) -> Vec<f32> {
    let h = 1e-2f32;
    let base = x.to_vec();
    (0..base.len())
        .map(|i| {
            let mut plus = base.clone();
            let mut minus = base.clone();
            plus[i] += h;
            minus[i] -= h;
            let fp = f(&Tensor::from_shape_vec(x.shape(), plus).expect("shape"));
            let fm = f(&Tensor::from_shape_vec(x.shape(), minus).expect("shape"));
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

fn check(build: &dyn Fn(&Var, &Var) -> Result<Var, AutodiffError>, xs: [usize; 2], ws: [usize; 2]) {
    let mut rng = SeedStream::new(3, "gradcheck");
    let x0 = rng.normal_tensor(&xs);
    let w0 = rng.normal_tensor(&ws);
    let tape = Tape::new();
    let x = tape.leaf(x0.clone());
    let w = tape.leaf(w0.clone());
    let out = build(&x, &w).expect("forward");
    let grads = tape.backward(&out).expect("backward");
    let eval = |a: &Tensor, b: &Tensor| {
        let t = Tape::new();
        build(&t.leaf(a.clone()), &t.leaf(b.clone())).expect("forward").value().item().expect("scalar")
    };
    let fd_x = fd_grad(&x0, &|a| eval(a, &w0));
    let fd_w = fd_grad(&w0, &|b| eval(&x0, b));
    for (got, want) in grads.get(&x).to_vec().iter().zip(&fd_x).chain(grads.get(&w).to_vec().iter().zip(&fd_w)) {
        assert!((got - want).abs() < 2e-2 * (1.0 + want.abs()), "grad {got} vs finite difference {want}");
    }
}

#[test]
fn matmul_bias_silu_mean() {
    check(&|x, w| Ok(x.matmul(w)?.unary(UnaryOp::Silu).mean()), [4, 3], [3, 2]);
}

#[test]
fn broadcast_add_mul_square() {
    check(&|x, w| Ok(x.add(w)?.mul(x)?.unary(UnaryOp::Square).sum()), [4, 3], [1, 3]);
}

#[test]
fn sub_tanh_scale_concat() {
    check(
        &|x, w| {
            let c = Var::concat(&[x, w], 1)?;
            Ok(c.sub(&c.scale(0.3).add_scalar(1.0))?.unary(UnaryOp::Tanh).unary(UnaryOp::Sin).sum())
        },
        [3, 2],
        [3, 4],
    );
}

#[test]
fn errors_are_typed() {
    let tape = Tape::new();
    let a = tape.leaf(Tensor::zeros(&[2, 3]));
    let b = tape.leaf(Tensor::zeros(&[2, 3]));
    assert!(matches!(a.matmul(&b), Err(AutodiffError::Tensor(_))));
    assert!(matches!(tape.backward(&a), Err(AutodiffError::NotScalar(_))));
    let other = Tape::new().leaf(Tensor::zeros(&[2, 3]));
    assert!(matches!(a.add(&other), Err(AutodiffError::DifferentTapes)));
}
