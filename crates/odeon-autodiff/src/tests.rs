//! Gradient checks in f64: every op against central finite differences,
//! first and second order; JVPs against reverse-mode Jacobians; property
//! tests on random shapes.

use super::*;
use odeon_tensor::{DType, SeedStream};
use proptest::prelude::*;

type F = dyn Fn(&[Var]) -> Result<Var, AutodiffError>;

fn random(shape: &[usize], rng: &mut SeedStream) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f64(shape, (0..n).map(|_| f64::from(rng.normal())).collect()).expect("shape")
}

fn eval(f: &F, xs: &[Tensor]) -> f64 {
    let tape = Tape::new();
    let vars: Vec<Var> = xs.iter().map(|x| tape.leaf(x.clone())).collect();
    f(&vars).expect("forward").value().item().expect("scalar")
}

fn grads(f: &F, xs: &[Tensor], create_graph: bool) -> (Rc<Tape>, Vec<Var>, Vec<Var>) {
    let tape = Tape::new();
    let vars: Vec<Var> = xs.iter().map(|x| tape.leaf(x.clone())).collect();
    let y = f(&vars).expect("forward");
    let refs: Vec<&Var> = vars.iter().collect();
    let g = tape.grad(&y, &refs, create_graph).expect("backward");
    (tape, vars, g)
}

fn perturbed(xs: &[Tensor], i: usize, j: usize, h: f64) -> Vec<Tensor> {
    let mut out = xs.to_vec();
    let mut v = out[i].to_f64_vec().expect("read");
    v[j] += h;
    out[i] = Tensor::from_f64(xs[i].shape(), v).expect("shape");
    out
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol * (1.0 + want.abs()), "{what}: autodiff {got} vs finite difference {want}");
}

/// First- and second-order gradient check of a scalar function.
fn gradcheck(name: &str, xs: &[Tensor], f: &F, second_order: bool) {
    let h = 1e-6;
    let (_, _, g) = grads(f, xs, false);
    for (i, x) in xs.iter().enumerate() {
        let gi = g[i].value().to_f64_vec().expect("read");
        for (j, &gij) in gi.iter().enumerate().take(x.len()) {
            let fd = (eval(f, &perturbed(xs, i, j, h)) - eval(f, &perturbed(xs, i, j, -h))) / (2.0 * h);
            assert_close(gij, fd, 1e-6, &format!("{name}: d/dx{i}[{j}]"));
        }
    }
    if !second_order {
        return;
    }
    // h(x) = sum_i <grad_i f(x), r_i>; its gradient is the Hessian applied to r.
    let mut rng = SeedStream::new(11, name);
    let rs: Vec<Tensor> = xs.iter().map(|x| random(x.shape(), &mut rng)).collect();
    let hfun = |xs: &[Tensor]| -> f64 {
        let (_, _, g) = grads(f, xs, false);
        g.iter().zip(&rs).map(|(gi, r)| gi.value().mul(r).expect("m").sum_all().expect("s").item().expect("i")).sum()
    };
    let (tape, vars, g) = grads(f, xs, true);
    let mut total: Option<Var> = None;
    for (gi, r) in g.iter().zip(&rs) {
        let term = gi.mul(&tape.constant(r.clone())).expect("m").sum().expect("s");
        total = Some(match total {
            Some(t) => t.add(&term).expect("add"),
            None => term,
        });
    }
    let total = total.expect("at least one input");
    let refs: Vec<&Var> = vars.iter().collect();
    let hv = tape.grad(&total, &refs, false).expect("second backward");
    for (i, x) in xs.iter().enumerate() {
        let hvi = hv[i].value().to_f64_vec().expect("read");
        for (j, &got) in hvi.iter().enumerate().take(x.len()) {
            let fd = (hfun(&perturbed(xs, i, j, h)) - hfun(&perturbed(xs, i, j, -h))) / (2.0 * h);
            assert_close(got, fd, 2e-5, &format!("{name}: second order d/dx{i}[{j}]"));
        }
    }
}

fn check(name: &str, shapes: &[&[usize]], second_order: bool, f: &F) {
    let mut rng = SeedStream::new(3, name);
    let xs: Vec<Tensor> = shapes.iter().map(|s| random(s, &mut rng)).collect();
    gradcheck(name, &xs, f, second_order);
}

/// A weighted sum turns any tensor into a scalar with a non-trivial cotangent.
fn wsum(v: &Var) -> Result<Var, AutodiffError> {
    let n = v.value().len();
    let w: Vec<f64> = (0..n).map(|i| 0.3 + 0.7 * ((i * 7919) % 13) as f64 / 13.0).collect();
    let w = v.tape().constant(Tensor::from_f64(v.value().shape(), w)?);
    v.mul(&w)?.sum()
}

#[test]
fn binary_ops_with_broadcasting() {
    check("add", &[&[3, 4], &[1, 4]], true, &|x| wsum(&x[0].add(&x[1])?.unary(UnaryOp::Square)?));
    check("sub", &[&[3, 4], &[3, 1]], true, &|x| wsum(&x[0].sub(&x[1])?.unary(UnaryOp::Square)?));
    check("mul", &[&[2, 3], &[3]], true, &|x| wsum(&x[0].mul(&x[1])?.mul(&x[0])?));
    check("div", &[&[2, 3], &[2, 3]], true, &|x| wsum(&x[0].div(&x[1].unary(UnaryOp::Square)?.add_scalar(1.0)?)?));
    check("maximum", &[&[4, 3], &[4, 3]], true, &|x| wsum(&x[0].maximum(&x[1])?.unary(UnaryOp::Square)?));
    check("pow", &[&[3], &[3]], true, &|x| wsum(&x[0].unary(UnaryOp::Square)?.add_scalar(0.5)?.binary(BinaryOp::Pow, &x[1])?));
}

#[test]
fn every_unary_op() {
    let positive = |v: &Var| v.unary(UnaryOp::Square).and_then(|s| s.add_scalar(0.3));
    for op in [UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Sin, UnaryOp::Cos, UnaryOp::Tanh, UnaryOp::Square, UnaryOp::Sigmoid, UnaryOp::Silu, UnaryOp::Softplus] {
        check(&format!("{op:?}"), &[&[2, 3]], true, &move |x| wsum(&x[0].unary(op)?));
    }
    for op in [UnaryOp::Ln, UnaryOp::Sqrt, UnaryOp::Recip] {
        check(&format!("{op:?}"), &[&[2, 3]], true, &move |x| wsum(&positive(&x[0])?.unary(op)?));
    }
    // Kinks: first order away from zero (random normals are never exactly 0).
    for op in [UnaryOp::Abs, UnaryOp::Relu] {
        check(&format!("{op:?}"), &[&[2, 3]], false, &move |x| wsum(&x[0].unary(op)?.unary(UnaryOp::Square)?));
    }
}

#[test]
fn scalar_ops_and_reductions() {
    check("scale+add_scalar", &[&[3, 2]], true, &|x| wsum(&x[0].scale(-1.7)?.add_scalar(0.4)?.unary(UnaryOp::Tanh)?));
    check("powf", &[&[3, 2]], true, &|x| wsum(&x[0].unary(UnaryOp::Square)?.add_scalar(0.2)?.powf(1.7)?));
    check("sum_keep", &[&[3, 4, 2]], true, &|x| wsum(&x[0].sum_keep(&[0, 2])?.unary(UnaryOp::Sin)?));
    check("mean_keep", &[&[3, 4]], true, &|x| wsum(&x[0].mean_keep(&[1])?.unary(UnaryOp::Exp)?));
    check("max_keep", &[&[3, 4]], true, &|x| wsum(&x[0].max_keep(&[1])?.unary(UnaryOp::Square)?));
    check("logsumexp", &[&[3, 5]], true, &|x| wsum(&x[0].logsumexp(1)?));
    check("softmax", &[&[2, 4]], true, &|x| wsum(&x[0].softmax(1)?));
    check("mean", &[&[5]], true, &|x| x[0].unary(UnaryOp::Cos)?.mean());
}

#[test]
fn matmul_plain_batched_and_broadcast() {
    check("matmul", &[&[3, 4], &[4, 2]], true, &|x| wsum(&x[0].matmul(&x[1])?.unary(UnaryOp::Tanh)?));
    check("linear", &[&[3, 4], &[4, 2], &[1, 2]], true, &|x| wsum(&x[0].linear(&x[1], &x[2])?.unary(UnaryOp::Tanh)?));
    check("linear-flat-bias", &[&[3, 4], &[4, 2], &[2]], true, &|x| wsum(&x[0].linear(&x[1], &x[2])?.unary(UnaryOp::Tanh)?));
    check("bmm", &[&[2, 3, 4], &[2, 4, 2]], true, &|x| wsum(&x[0].matmul(&x[1])?.unary(UnaryOp::Sin)?));
    check("bmm-bcast-right", &[&[2, 3, 4], &[4, 2]], true, &|x| wsum(&x[0].matmul(&x[1])?.unary(UnaryOp::Sin)?));
    check("bmm-bcast-left", &[&[3, 4], &[2, 4, 2]], true, &|x| wsum(&x[0].matmul(&x[1])?.unary(UnaryOp::Sin)?));
}

#[test]
fn shape_ops() {
    check("reshape+permute", &[&[2, 3, 4]], true, &|x| wsum(&x[0].reshape(&[6, 4])?.t()?.unary(UnaryOp::Sin)?.reshape(&[2, 2, 6])?.permute(&[2, 0, 1])?));
    check("broadcast_to", &[&[1, 3]], true, &|x| wsum(&x[0].broadcast_to(&[4, 3])?.unary(UnaryOp::Sin)?));
    check("slice", &[&[4, 3]], true, &|x| wsum(&x[0].slice_axis(0, 1, 3)?.unary(UnaryOp::Square)?));
    check("concat", &[&[2, 3], &[2, 1]], true, &|x| wsum(&Var::concat(&[&x[0], &x[1], &x[0]], 1)?.unary(UnaryOp::Tanh)?));
    check("index_select", &[&[4, 2]], true, &|x| wsum(&x[0].index_select(0, &[3, 0, 3, 1])?.unary(UnaryOp::Square)?));
    check("index_add", &[&[4, 2], &[3, 2]], true, &|x| wsum(&x[0].index_add(0, &[1, 1, 3], &x[1].unary(UnaryOp::Sin)?)?.unary(UnaryOp::Square)?));
    check("select", &[&[2, 3], &[2, 3]], true, &|x| {
        let cond = Tensor::from_f64(&[2, 3], vec![1., 0., 1., 0., 0., 1.])?;
        wsum(&Var::select(&cond, &x[0].unary(UnaryOp::Square)?, &x[1].unary(UnaryOp::Exp)?)?)
    });
    // Through f32 the finite differences drown in rounding: compare with the f64 gradient instead.
    let x = Tensor::from_f64(&[3], vec![0.3, -1.2, 2.5]).expect("shape");
    let (_, direct) = value_and_grad(&x, |v| wsum(&v.unary(UnaryOp::Square)?)).expect("grad");
    let (_, cast) = value_and_grad(&x, |v| wsum(&v.cast(DType::F32)?.unary(UnaryOp::Square)?.cast(DType::F64)?)).expect("grad");
    assert_eq!(cast.dtype(), DType::F64);
    for (c, d) in cast.to_f64_vec().expect("read").iter().zip(direct.to_f64_vec().expect("read")) {
        assert_close(*c, d, 1e-6, "cast");
    }
}

#[test]
fn convolution_and_sparse() {
    check("conv2d", &[&[2, 2, 5, 4], &[3, 2, 3, 3]], true, &|x| wsum(&x[0].conv2d(&x[1], (2, 1), (1, 1))?.unary(UnaryOp::Tanh)?));
    check("fold2d", &[&[1, 4, 6]], true, &|x| {
        let g = Conv2dGeometry { kernel: (2, 2), stride: (1, 1), padding: (0, 0) };
        wsum(&x[0].fold2d(&[1, 1, 3, 4], g)?.unary(UnaryOp::Sin)?)
    });
    let csr = Rc::new(Csr::from_triplets(3, 4, &[(0, 1, 0.5), (1, 0, -1.0), (2, 3, 2.0), (2, 1, 1.5)]).expect("valid"));
    let c2 = Rc::clone(&csr);
    check("csr", &[&[4, 2]], true, &move |x| wsum(&x[0].csr_matmul(&c2, false)?.unary(UnaryOp::Tanh)?));
    check("csr^T", &[&[3, 2]], true, &move |x| wsum(&x[0].csr_matmul(&csr, true)?.unary(UnaryOp::Tanh)?));
}

#[test]
fn jvp_equals_jacobian_column_from_reverse_mode() {
    let mut rng = SeedStream::new(5, "jvp");
    let w = random(&[3, 4], &mut rng);
    let f = move |x: &Var| -> Result<Var, AutodiffError> { x.matmul(&x.tape().constant(w.clone()))?.unary(UnaryOp::Tanh)?.mul(x.slice_axis(1, 0, 1)?.broadcast_to(&[2, 4]).as_ref().map_err(Clone::clone)?) };
    let x = random(&[2, 3], &mut rng);
    // Reverse-mode Jacobian, one row per output element.
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let y = f(&xv).expect("forward");
    let m = y.value().len();
    let mut jac = vec![vec![0.0; x.len()]; m];
    for (k, row) in jac.iter_mut().enumerate() {
        let mut e = vec![0.0; m];
        e[k] = 1.0;
        let u = tape.constant(Tensor::from_f64(y.value().shape(), e).expect("shape"));
        *row = tape.vjp(&y, &[&xv], &u, false).expect("vjp")[0].value().to_f64_vec().expect("read");
    }
    for j in 0..x.len() {
        let mut e = vec![0.0; x.len()];
        e[j] = 1.0;
        let (_, jv) = jvp(&x, &Tensor::from_f64(x.shape(), e).expect("shape"), &f).expect("jvp");
        let jv = jv.to_f64_vec().expect("read");
        for k in 0..m {
            assert_close(jv[k], jac[k][j], 1e-12, &format!("J[{k}][{j}]"));
        }
    }
    assert!(jvp(&x, &random(&[3], &mut rng), &f).is_err(), "tangent shape is checked");
}

#[test]
fn hvp_of_a_quadratic_is_exact() {
    // f(x) = 1/2 x^T A x with symmetric A: H v = A v.
    let a = Tensor::from_f64(&[3, 3], vec![2., 1., 0., 1., 3., -1., 0., -1., 4.]).expect("shape");
    let x = Tensor::from_f64(&[3, 1], vec![0.3, -0.2, 1.1]).expect("shape");
    let v = Tensor::from_f64(&[3, 1], vec![1., 2., -1.]).expect("shape");
    let a2 = a.clone();
    let hv = hvp(&x, &v, move |x| x.t()?.matmul(&x.tape().constant(a2.clone()))?.matmul(x)?.scale(0.5)?.sum()).expect("hvp");
    assert_eq!(hv.to_f64_vec().expect("read"), a.matmul(&v).expect("Av").to_f64_vec().expect("read"));
}

#[test]
fn input_gradient_penalty_trains_through_grad() {
    // d/dw of |d/dx (w x^2)|^2 at x: (2 w x)^2 -> 8 w x^2.
    let tape = Tape::new();
    let w = tape.leaf(Tensor::scalar_f64(1.5));
    let x = tape.leaf(Tensor::scalar_f64(0.7));
    let y = w.mul(&x.unary(UnaryOp::Square).expect("sq")).expect("mul");
    let dx = tape.grad(&y, &[&x], true).expect("grad")[0].clone();
    let penalty = dx.mul(&dx).expect("sq");
    let dw = tape.grad(&penalty, &[&w], false).expect("grad of grad")[0].value().item().expect("scalar");
    assert!((dw - 8.0 * 1.5 * 0.49).abs() < 1e-12, "{dw}");
}

#[test]
fn detach_constants_and_errors() {
    let tape = Tape::new();
    let a = tape.leaf(Tensor::from_f64(&[2], vec![1., 2.]).expect("shape"));
    let y = a.mul(&a.detach()).expect("mul").sum().expect("sum");
    let g = tape.grad(&y, &[&a], false).expect("grad")[0].value().to_f64_vec().expect("read");
    assert_eq!(g, vec![1., 2.], "the detached factor gets no gradient");
    let c = tape.constant(Tensor::from_f64(&[2], vec![3., 4.]).expect("shape"));
    assert!(!c.mul(&c).expect("mul").is_tracked(), "constants are not recorded");
    let before = tape.len();
    let _ = tape.backward(&y).expect("first order");
    assert_eq!(tape.len(), before, "a first-order pass records nothing");
    assert!(matches!(tape.grad(&a, &[&a], false), Err(AutodiffError::NotScalar(_))));
    let other = Tape::new().leaf(Tensor::from_f64(&[2], vec![1., 2.]).expect("shape"));
    assert!(matches!(a.add(&other), Err(AutodiffError::DifferentTapes)));
    assert!(matches!(a.matmul(&a), Err(AutodiffError::Tensor(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Random broadcastable shapes and a random composition of ops.
    #[test]
    fn random_compositions_match_finite_differences(
        rows in 1usize..4, cols in 1usize..4, bcast_rows in any::<bool>(), pick in 0usize..4, seed in 0u64..1000,
    ) {
        let mut rng = SeedStream::new(seed, "proptest");
        let a = random(&[rows, cols], &mut rng);
        let b = random(&[if bcast_rows { 1 } else { rows }, cols], &mut rng);
        let f: Box<F> = match pick {
            0 => Box::new(|x| wsum(&x[0].mul(&x[1])?.unary(UnaryOp::Tanh)?.add(&x[1])?)),
            1 => Box::new(|x| wsum(&x[0].sub(&x[1])?.unary(UnaryOp::Silu)?.sum_keep(&[0])?)),
            2 => Box::new(|x| wsum(&x[0].add(&x[1])?.logsumexp(1)?)),
            _ => Box::new(|x| wsum(&x[0].t()?.matmul(&x[0].mul(&x[1])?)?.unary(UnaryOp::Sin)?)),
        };
        gradcheck("proptest", &[a, b], f.as_ref(), true);
    }
}
