//! Tests of the tensor layer on the CPU backend.

use crate::*;

fn t(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(shape, v.to_vec()).expect("valid test tensor")
}

fn close(a: &Tensor, b: &[f64]) {
    let av = a.to_f64_vec().expect("read");
    assert_eq!(av.len(), b.len(), "{av:?} vs {b:?}");
    for (x, y) in av.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{av:?} vs {b:?}");
    }
}

#[test]
fn matmul_matches_hand_computation() {
    let a = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = t(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
    close(&a.matmul(&b).expect("fits"), &[58., 64., 139., 154.]);
    // Batched, and a matrix broadcast over the batch.
    let a3 = Tensor::concat(&[&a.reshape(&[1, 2, 3]).expect("r"), &a.scale(2.0).expect("s").reshape(&[1, 2, 3]).expect("r")], 0).expect("cat");
    close(&a3.matmul(&b).expect("fits"), &[58., 64., 139., 154., 116., 128., 278., 308.]);
    let b3 = Tensor::concat(&[&b.reshape(&[1, 3, 2]).expect("r"), &b.reshape(&[1, 3, 2]).expect("r")], 0).expect("cat");
    close(&a3.matmul(&b3).expect("fits"), &[58., 64., 139., 154., 116., 128., 278., 308.]);
    close(&a.matmul(&b3).expect("fits"), &[58., 64., 139., 154., 58., 64., 139., 154.]);
}

#[test]
fn shape_and_dtype_errors_are_reported_not_panicked() {
    let a = t(&[2, 3], &[0.; 6]);
    let err = a.matmul(&a).expect_err("inner sizes differ");
    assert!(err.to_string().contains("[2, 3]"));
    assert!(a.add(&t(&[2], &[1., 2.])).is_err());
    assert!(Tensor::from_shape_vec(&[2, 2], vec![1.0]).is_err());
    let f32s = Tensor::zeros(&[2, 3]);
    let err = a.add(&f32s).expect_err("dtypes differ");
    assert!(err.to_string().contains("f64") && err.to_string().contains("f32"), "{err}");
    assert!(a.sum_keep(&[5]).is_err());
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.reshape(&[4]).is_err());
    assert!(a.index_select(1, &[3]).is_err());
    assert!(a.slice_axis(0, 1, 3).is_err());
}

#[test]
fn broadcasting_and_its_adjoint() {
    let a = t(&[2, 2], &[1., 2., 3., 4.]);
    let bias = t(&[1, 2], &[10., 20.]);
    let s = a.add(&bias).expect("broadcasts");
    close(&s, &[11., 22., 13., 24.]);
    close(&s.sum_to_shape(&[1, 2]).expect("reduces"), &[24., 46.]);
    close(&s.sum_to_shape(&[2]).expect("reduces"), &[24., 46.]);
    close(&s.sum_to_shape(&[]).expect("reduces"), &[70.]);
    close(&bias.broadcast_to(&[3, 2]).expect("bc"), &[10., 20., 10., 20., 10., 20.]);
}

#[test]
fn reductions_softmax_logsumexp() {
    let x = t(&[2, 3], &[1., 2., 3., -1., 0., 1000.]);
    close(&x.reduce(ReduceOp::Max, &[1]).expect("max"), &[3., 1000.]);
    close(&x.reduce(ReduceOp::Min, &[0, 1]).expect("min"), &[-1.]);
    let sm = x.softmax(1).expect("softmax").to_f64_vec().expect("read");
    let e: f64 = (1.0f64).exp() + (2.0f64).exp() + (3.0f64).exp();
    assert!((sm[2] - (3.0f64).exp() / e).abs() < 1e-12);
    assert!((sm[5] - 1.0).abs() < 1e-12, "no overflow at 1000");
    let lse = x.logsumexp(1).expect("lse").to_f64_vec().expect("read");
    assert!((lse[0] - e.ln()).abs() < 1e-12);
    assert!((lse[1] - 1000.0).abs() < 1e-9);
}

#[test]
fn where_compare_gather_scatter() {
    let x = t(&[4], &[-2., -1., 1., 2.]);
    let zero = x.zeros_like().expect("zeros");
    let pos = x.binary(BinaryOp::Gt, &zero).expect("gt");
    close(&pos, &[0., 0., 1., 1.]);
    close(&Tensor::select(&pos, &x, &x.scale(-10.0).expect("s")).expect("where"), &[20., 10., 1., 2.]);
    let m = t(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
    let g = m.index_select(0, &[2, 0, 2]).expect("gather");
    close(&g, &[5., 6., 1., 2., 5., 6.]);
    let back = m.zeros_like().expect("z").index_add(0, &[2, 0, 2], &g).expect("scatter");
    close(&back, &[1., 2., 0., 0., 10., 12.]);
}

#[test]
fn conv2d_matches_direct_loops() {
    let mut rng = SeedStream::new(0, "conv");
    let (n, c, h, w, oc, k) = (2, 3, 6, 5, 4, 3);
    let x: Vec<f64> = (0..n * c * h * w).map(|_| f64::from(rng.normal())).collect();
    let wt: Vec<f64> = (0..oc * c * k * k).map(|_| f64::from(rng.normal())).collect();
    let (xt, wtt) = (t(&[n, c, h, w], &x), t(&[oc, c, k, k], &wt));
    for (stride, pad) in [((1, 1), (0, 0)), ((2, 1), (1, 1)), ((1, 2), (2, 0))] {
        let out = xt.conv2d(&wtt, stride, pad).expect("conv");
        let geometry = Conv2dGeometry { kernel: (k, k), stride, padding: pad };
        let (oh, ow) = geometry.output_size(h, w).expect("fits");
        assert_eq!(out.shape(), &[n, oc, oh, ow]);
        let mut want = vec![0.0; n * oc * oh * ow];
        for b in 0..n {
            for o in 0..oc {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = 0.0;
                        for ci in 0..c {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let ii = (i * stride.0 + ki) as isize - pad.0 as isize;
                                    let jj = (j * stride.1 + kj) as isize - pad.1 as isize;
                                    if ii >= 0 && jj >= 0 && (ii as usize) < h && (jj as usize) < w {
                                        acc += x[((b * c + ci) * h + ii as usize) * w + jj as usize] * wt[((o * c + ci) * k + ki) * k + kj];
                                    }
                                }
                            }
                        }
                        want[((b * oc + o) * oh + i) * ow + j] = acc;
                    }
                }
            }
        }
        let got = out.to_f64_vec().expect("read");
        for (g, wv) in got.iter().zip(&want) {
            assert!((g - wv).abs() < 1e-10, "{g} vs {wv}");
        }
        // fold2d is the adjoint of unfold2d: <unfold(x), y> = <x, fold(y)>.
        let cols = xt.unfold2d(geometry).expect("unfold");
        let y: Vec<f64> = (0..cols.len()).map(|_| f64::from(rng.normal())).collect();
        let yt = t(cols.shape(), &y);
        let lhs = cols.mul(&yt).expect("m").sum_all().expect("s").item().expect("i");
        let rhs = xt.mul(&yt.fold2d(xt.shape(), geometry).expect("fold")).expect("m").sum_all().expect("s").item().expect("i");
        assert!((lhs - rhs).abs() < 1e-9 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }
    assert!(xt.conv2d(&t(&[1, 2, 3, 3], &[0.; 18]), (1, 1), (0, 0)).is_err(), "channel mismatch");
    assert!(xt.conv2d(&t(&[1, 3, 9, 9], &[0.; 243]), (1, 1), (0, 0)).is_err(), "kernel too big");
}

#[test]
fn sparse_times_dense_and_transpose() {
    let a = Csr::from_triplets(2, 3, &[(0, 0, 1.0), (0, 2, 2.0), (1, 1, 3.0), (0, 2, 1.0)]).expect("valid");
    assert_eq!(a.nnz(), 3);
    let x = t(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
    close(&x.csr_matmul(&a, false).expect("Ax"), &[16., 20., 9., 12.]);
    let y = t(&[2, 1], &[1., 10.]);
    close(&y.csr_matmul(&a, true).expect("A^T y"), &[1., 30., 3.]);
    assert!(x.csr_matmul(&a, true).is_err());
    assert!(Csr::from_triplets(2, 2, &[(2, 0, 1.0)]).is_err());
}

#[test]
fn f32_and_f64_math_is_libm() {
    // Spot values that pin the deterministic implementations.
    let x = t(&[3], &[0.5, -1.5, 2.0]);
    let e = x.unary(UnaryOp::Exp).expect("exp").to_f64_vec().expect("read");
    assert_eq!(e[0].to_bits(), crate::dtype::exp_f64(0.5).to_bits());
    let xf = x.cast(DType::F32).expect("cast");
    let t32 = xf.unary(UnaryOp::Tanh).expect("tanh").to_f32_vec().expect("read");
    assert_eq!(t32[1].to_bits(), libm::tanhf(-1.5).to_bits());
    for op in [UnaryOp::Exp, UnaryOp::Sin, UnaryOp::Cos, UnaryOp::Tanh, UnaryOp::Square, UnaryOp::Sigmoid, UnaryOp::Silu, UnaryOp::Softplus, UnaryOp::Recip, UnaryOp::Sqrt, UnaryOp::Ln] {
        for &v in &[0.3f64, 1.7, 2.9] {
            let h = 1e-6;
            let fd = (op.eval(v + h) - op.eval(v - h)) / (2.0 * h);
            assert!((fd - op.derivative(v)).abs() < 1e-6 * (1.0 + fd.abs()), "{op:?} at {v}");
        }
    }
}

/// The polynomial exponentials stay within a few ulp of libm everywhere.
#[test]
fn polynomial_exp_is_accurate() {
    let ulps32 = |a: f32, b: f32| (a.to_bits() as i64 - b.to_bits() as i64).abs();
    let ulps64 = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).abs();
    let mut worst32 = 0;
    let mut worst64 = 0;
    for i in 0..200_000 {
        let x = -87.0 + 175.0 * i as f64 / 200_000.0;
        worst32 = worst32.max(ulps32(crate::dtype::exp_f32(x as f32), libm::expf(x as f32)));
        let y = -700.0 + 1400.0 * i as f64 / 200_000.0;
        worst64 = worst64.max(ulps64(crate::dtype::exp_f64(y), libm::exp(y)));
    }
    assert!(worst32 <= 2, "f32 exp is {worst32} ulp from libm");
    assert!(worst64 <= 2, "f64 exp is {worst64} ulp from libm");
    assert_eq!(crate::dtype::exp_f32(100.0), f32::INFINITY);
    assert_eq!(crate::dtype::exp_f32(-200.0), 0.0);
    assert!(crate::dtype::exp_f32(f32::NAN).is_nan());
    assert_eq!(crate::dtype::exp_f64(-1000.0), 0.0);
    assert_eq!(crate::dtype::exp_f64(1000.0), f64::INFINITY);
    // Subnormal results are kept.
    assert!(crate::dtype::exp_f32(-100.0) > 0.0);
}

/// The backend conformance suite on the CPU itself: checks the suite (every
/// comparison must hold trivially) and the CPU's own edge cases.
mod conformance_cpu {
    crate::conformance_tests!(Some(crate::Cpu));
}
