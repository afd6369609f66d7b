//! The backend conformance suite: the same checks for every [`Backend`].
//!
//! Each check runs operations through [`Tensor<B>`] on the backend under
//! test and on [`Cpu`], from the same `f32` inputs, and compares:
//!
//! * data movement (reshape, permute, broadcast, slice, concat, gathers,
//!   scatter-adds, uploads and reads) must match **exactly**;
//! * arithmetic must match within `TOL` (1e-5) in units of `1 + scale`,
//!   where `scale` is `|cpu value|` for elementwise results and the sum of
//!   the magnitudes of the summed terms for products and reductions (so a
//!   long dot product is not held to a tighter standard than its rounding);
//! * a two-layer MLP trained for three Adam steps within `TOL_TRAIN`.
//!
//! Each check returns its largest normalised error (pass: `<= 1`) times the
//! tolerance, i.e. the error in units of `1 + scale`, and panics with the
//! operation, shape and index of the first mismatch. [`conformance_tests!`]
//! instantiates every check as a `#[test]` for one backend:
//!
//! ```ignore
//! odeon_tensor::conformance_tests!(Some(odeon_tensor::Cpu));
//! ```
//!
//! Edge cases covered: rank 0, empty tensors, sizes that are not multiples
//! of the GPU tile (16) or workgroup (256), broadcasting from missing and
//! size-one axes, repeated indices, reductions longer than a workgroup.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{AdamScalars, Backend, BinaryOp, Conv2dGeometry, Cpu, Csr, DType, ReduceOp, Tensor, UnaryOp};

/// Tolerance of single operations, in units of `1 + scale`.
pub const TOL: f64 = 1e-5;
/// Tolerance of the MLP training check (errors compound over three steps).
pub const TOL_TRAIN: f64 = 1e-4;

/// Every unary function.
pub const UNARY_OPS: [UnaryOp; 16] = [
    UnaryOp::Neg,
    UnaryOp::Exp,
    UnaryOp::Ln,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tanh,
    UnaryOp::Square,
    UnaryOp::Sqrt,
    UnaryOp::Recip,
    UnaryOp::Abs,
    UnaryOp::Relu,
    UnaryOp::Sigmoid,
    UnaryOp::Silu,
    UnaryOp::Softplus,
    UnaryOp::Step,
    UnaryOp::Sign,
];

/// Every binary function.
pub const BINARY_OPS: [BinaryOp; 11] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Pow,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Lt,
    BinaryOp::Eq,
];

/// Every reduction.
pub const REDUCE_OPS: [ReduceOp; 3] = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min];

/// Deterministic pseudo-random values in `[lo, hi)`.
pub fn values(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x2545_F491_4F6C_DD1D);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            lo + (hi - lo) * unit
        })
        .collect()
}

/// Values on a coarse grid (multiples of 0.5 in `[-2, 2]`, many exact zeros
/// and ties), for comparisons, `select` and max/min.
pub fn coarse(len: usize, seed: u64) -> Vec<f32> {
    values(len, seed, -2.0, 2.5).into_iter().map(|v| (v * 2.0).floor() / 2.0).collect()
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The same data on the backend under test and on the CPU.
struct Pair<B: Backend> {
    dev: Tensor<B>,
    cpu: Tensor<Cpu>,
}

fn pair<B: Backend>(b: &B, shape: &[usize], data: &[f32]) -> Pair<B> {
    let dev = Tensor::from_f32_in(b, shape, data).unwrap_or_else(|e| panic!("{}: upload of {shape:?} failed: {e}", b.name()));
    let cpu = Tensor::from_f32_in(&Cpu, shape, data).expect("CPU upload");
    Pair { dev, cpu }
}

fn random_pair<B: Backend>(b: &B, shape: &[usize], seed: u64, lo: f32, hi: f32) -> Pair<B> {
    pair(b, shape, &values(numel(shape), seed, lo, hi))
}

fn read<B: Backend>(t: &Tensor<B>, what: &str) -> Vec<f32> {
    t.to_f32_vec().unwrap_or_else(|e| panic!("{what}: reading back failed: {e}"))
}

/// Errors of `got` against `want`, each in units of `1 + scale[i]`; panics
/// past `tol` (or on a shape mismatch). Returns the largest error.
fn compare<B: Backend>(what: &str, got: &Tensor<B>, want: &Tensor<Cpu>, scale: Option<&Tensor<Cpu>>, tol: f64) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape differs from the CPU's");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype differs from the CPU's");
    let (g, w) = (read(got, what), read(want, what));
    let s = match scale {
        Some(s) => read(s, what),
        None => w.iter().map(|v| v.abs()).collect(),
    };
    assert_eq!(g.len(), w.len(), "{what}: {} values read back, the CPU has {}", g.len(), w.len());
    let mut worst = 0.0_f64;
    for (i, ((&gv, &wv), &sv)) in g.iter().zip(&w).zip(&s).enumerate() {
        let same_special = (gv.is_nan() && wv.is_nan()) || (gv.is_infinite() && gv == wv);
        if same_special {
            continue;
        }
        let err = (f64::from(gv) - f64::from(wv)).abs() / (1.0 + f64::from(sv).abs());
        assert!(err <= tol, "{what}: at flat index {i} of shape {:?} the backend gives {gv}, the CPU {wv} (error {err:.3e} > {tol:e})", want.shape());
        if err.is_nan() {
            panic!("{what}: at flat index {i} the backend gives {gv}, the CPU {wv}");
        }
        worst = worst.max(err);
    }
    worst
}

/// Bit-for-bit equality (data movement).
fn exact<B: Backend>(what: &str, got: &Tensor<B>, want: &Tensor<Cpu>) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape differs from the CPU's");
    let (g, w) = (read(got, what), read(want, what));
    let gb: Vec<u32> = g.iter().map(|v| v.to_bits()).collect();
    let wb: Vec<u32> = w.iter().map(|v| v.to_bits()).collect();
    assert_eq!(gb, wb, "{what}: not bit-identical to the CPU ({g:?} vs {w:?})");
    0.0
}

fn ok<T>(r: Result<T, crate::TensorError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Uploads, reads, `full`, `cast` to `f32`, rank 0 and empty tensors.
pub fn roundtrip<B: Backend>(b: &B) -> f64 {
    for shape in [&[][..], &[0], &[1], &[2, 0, 3], &[5], &[3, 7], &[2, 3, 43]] {
        let p = random_pair(b, shape, 1, -3.0, 3.0);
        exact(&format!("upload/read {shape:?}"), &p.dev, &p.cpu);
        exact(&format!("cast f32->f32 {shape:?}"), &ok(p.dev.cast(DType::F32), "cast"), &p.cpu);
        let d64: Vec<f64> = values(numel(shape), 2, -3.0, 3.0).iter().map(|&v| f64::from(v) * 1.000_000_1).collect();
        let dev = ok(Tensor::from_f64_in(b, shape, &d64, DType::F32), "from_f64_in as f32");
        let cpu = ok(Tensor::from_f64_in(&Cpu, shape, &d64, DType::F32), "from_f64_in as f32");
        exact(&format!("f64 data stored as f32 {shape:?}"), &dev, &cpu);
        for value in [0.0, 1.5, -2.25e7] {
            let dev = ok(Tensor::full_in(b, shape, value, DType::F32), "full");
            let cpu = ok(Tensor::full_in(&Cpu, shape, value, DType::F32), "full");
            exact(&format!("full {shape:?} {value}"), &dev, &cpu);
        }
    }
    let p = pair(b, &[3], &[1.0, -2.0, 0.5]);
    assert_eq!(ok(p.dev.to_f64_vec(), "read_f64"), vec![1.0, -2.0, 0.5]);
    assert_eq!(ok(ok(p.dev.sum_all(), "sum").item(), "item"), -0.5);
    0.0
}

/// `f64` either works exactly as on the CPU or is refused with a message
/// that says f64 stays on the CPU.
pub fn f64_policy<B: Backend>(b: &B) -> f64 {
    let data = [1.0_f64 / 3.0, -2.5, 1e-300];
    let refusal = |e: crate::TensorError| {
        let msg = e.to_string();
        assert!(msg.contains("f64") && msg.contains("CPU"), "{}: an f64 refusal should say f64 stays on the CPU, got: {msg}", b.name());
    };
    match Tensor::from_f64_in(b, &[3], &data, DType::F64) {
        Ok(t) => {
            assert_eq!(t.dtype(), DType::F64);
            assert_eq!(ok(t.to_f64_vec(), "read f64"), data.to_vec(), "{}: f64 round trip", b.name());
            let c = ok(ok(Tensor::from_f32_in(b, &[1], &[2.0]), "upload").cast(DType::F64), "cast");
            assert_eq!(c.dtype(), DType::F64);
        }
        Err(e) => {
            refusal(e);
            match Tensor::full_in(b, &[2], 1.0, DType::F64) {
                Ok(_) => panic!("{}: refuses f64 uploads but makes f64 tensors with full", b.name()),
                Err(e) => refusal(e),
            }
            match ok(Tensor::from_f32_in(b, &[1], &[2.0]), "upload").cast(DType::F64) {
                Ok(_) => panic!("{}: refuses f64 uploads but casts to f64", b.name()),
                Err(e) => refusal(e),
            }
        }
    }
    0.0
}

const ELEMENTWISE_SHAPES: [&[usize]; 6] = [&[], &[0], &[1], &[7], &[3, 5], &[2, 3, 43]];

fn unary_domain(op: UnaryOp) -> (f32, f32) {
    match op {
        UnaryOp::Ln | UnaryOp::Sqrt | UnaryOp::Recip => (0.05, 6.0),
        UnaryOp::Exp => (-20.0, 20.0),
        _ => (-6.0, 6.0),
    }
}

/// Inputs for `op`: random in its domain, plus exact zeros where defined.
fn unary_input<B: Backend>(b: &B, op: UnaryOp, shape: &[usize], seed: u64) -> Pair<B> {
    let (lo, hi) = unary_domain(op);
    let mut data = values(numel(shape), seed, lo, hi);
    if lo < 0.0 {
        data.iter_mut().step_by(5).for_each(|v| *v = 0.0);
    }
    pair(b, shape, &data)
}

/// Every [`UnaryOp`] over several shapes.
pub fn unary<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for op in UNARY_OPS {
        for (i, shape) in ELEMENTWISE_SHAPES.iter().enumerate() {
            let x = unary_input(b, op, shape, 10 + i as u64);
            let what = format!("{op:?} {shape:?}");
            worst = worst.max(compare(&what, &ok(x.dev.unary(op), &what), &ok(x.cpu.unary(op), &what), None, TOL));
        }
    }
    worst
}

/// `grad * f'(x)` for every [`UnaryOp`].
pub fn unary_backward<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for op in UNARY_OPS {
        for (i, shape) in ELEMENTWISE_SHAPES.iter().enumerate() {
            let x = unary_input(b, op, shape, 20 + i as u64);
            let g = random_pair(b, shape, 30 + i as u64, -2.0, 2.0);
            let what = format!("{op:?} backward {shape:?}");
            worst = worst.max(compare(&what, &ok(x.dev.unary_backward(op, &g.dev), &what), &ok(x.cpu.unary_backward(op, &g.cpu), &what), None, TOL));
        }
    }
    worst
}

/// Shape pairs that broadcast: equal, trailing, size-one on both sides,
/// rank 0, empty.
const BROADCAST_PAIRS: [(&[usize], &[usize]); 8] = [
    (&[7], &[7]),
    (&[3, 5], &[3, 5]),
    (&[2, 3], &[3]),
    (&[4, 1, 3], &[1, 5, 1]),
    (&[], &[2, 2]),
    (&[3, 1], &[]),
    (&[0, 3], &[3]),
    (&[2, 17, 9], &[17, 1]),
];

fn binary_inputs<B: Backend>(b: &B, op: BinaryOp, sa: &[usize], sb: &[usize], seed: u64) -> (Pair<B>, Pair<B>) {
    match op {
        BinaryOp::Pow => (random_pair(b, sa, seed, 0.1, 3.0), random_pair(b, sb, seed + 1, -2.5, 2.5)),
        BinaryOp::Div => {
            let d: Vec<f32> = values(numel(sb), seed + 1, 0.5, 2.0).iter().enumerate().map(|(i, &v)| if i % 2 == 0 { v } else { -v }).collect();
            (random_pair(b, sa, seed, -4.0, 4.0), pair(b, sb, &d))
        }
        BinaryOp::Max | BinaryOp::Min | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Eq => {
            (pair(b, sa, &coarse(numel(sa), seed)), pair(b, sb, &coarse(numel(sb), seed + 1)))
        }
        _ => (random_pair(b, sa, seed, -4.0, 4.0), random_pair(b, sb, seed + 1, -4.0, 4.0)),
    }
}

/// Every [`BinaryOp`] with broadcasting, both operand orders.
pub fn binary<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for op in BINARY_OPS {
        for (i, &(sa, sb)) in BROADCAST_PAIRS.iter().enumerate() {
            for (l, r) in [(sa, sb), (sb, sa)] {
                let (x, y) = binary_inputs(b, op, l, r, 40 + 2 * i as u64);
                let what = format!("{op:?} {l:?} with {r:?}");
                worst = worst.max(compare(&what, &ok(x.dev.binary(op, &y.dev), &what), &ok(x.cpu.binary(op, &y.cpu), &what), None, TOL));
            }
        }
    }
    // A negative base with integer exponents (odd and even), and zero bases.
    let x = pair(b, &[6], &[-2.0, -1.5, -3.0, 0.0, 0.0, 2.0]);
    let y = pair(b, &[6], &[3.0, 2.0, -1.0, 2.0, 0.0, 0.0]);
    worst = worst.max(compare("Pow special cases", &ok(x.dev.binary(BinaryOp::Pow, &y.dev), "pow"), &ok(x.cpu.binary(BinaryOp::Pow, &y.cpu), "pow"), None, TOL));
    worst
}

/// Every [`BinaryOp`] against a scalar, on either side.
pub fn scalar<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for op in BINARY_OPS {
        for (i, shape) in ELEMENTWISE_SHAPES.iter().enumerate() {
            for scalar_first in [false, true] {
                let (x, c) = match op {
                    BinaryOp::Pow if scalar_first => (random_pair(b, shape, 50 + i as u64, -2.0, 2.0), 1.7),
                    BinaryOp::Pow => (random_pair(b, shape, 50 + i as u64, 0.1, 3.0), -1.3),
                    BinaryOp::Div if !scalar_first => (random_pair(b, shape, 50 + i as u64, -3.0, 3.0), -0.75),
                    BinaryOp::Div => (random_pair(b, shape, 50 + i as u64, 0.5, 3.0), 2.5),
                    BinaryOp::Max | BinaryOp::Min | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Eq => {
                        (pair(b, shape, &coarse(numel(shape), 50 + i as u64)), 0.5)
                    }
                    _ => (random_pair(b, shape, 50 + i as u64, -3.0, 3.0), 1.25),
                };
                let what = format!("{op:?} scalar {c} (scalar first: {scalar_first}) {shape:?}");
                worst = worst.max(compare(&what, &ok(x.dev.scalar_op(op, c, scalar_first), &what), &ok(x.cpu.scalar_op(op, c, scalar_first), &what), None, TOL));
            }
        }
    }
    worst
}

/// `where(cond, a, b)` with broadcasting of all three.
pub fn select<B: Backend>(b: &B) -> f64 {
    let cases: [(&[usize], &[usize], &[usize]); 5] = [
        (&[7], &[7], &[7]),
        (&[3, 1], &[1, 4], &[]),
        (&[2, 3, 5], &[5], &[3, 1]),
        (&[], &[2, 2], &[2, 2]),
        (&[0, 2], &[2], &[1]),
    ];
    for (i, (sc, sa, sb)) in cases.iter().enumerate() {
        let c = pair(b, sc, &coarse(numel(sc), 60 + i as u64));
        let x = random_pair(b, sa, 61 + i as u64, -3.0, 3.0);
        let y = random_pair(b, sb, 62 + i as u64, -3.0, 3.0);
        let what = format!("where {sc:?} {sa:?} {sb:?}");
        exact(&what, &ok(Tensor::select(&c.dev, &x.dev, &y.dev), &what), &ok(Tensor::select(&c.cpu, &x.cpu, &y.cpu), &what));
    }
    0.0
}

fn abs_cpu(t: &Tensor<Cpu>) -> Tensor<Cpu> {
    ok(t.unary(UnaryOp::Abs), "abs")
}

/// Matrix products: odd sizes, empty and zero-length inner dimensions,
/// batches, a matrix broadcast over a batch, transposed operands.
pub fn matmul<B: Backend>(b: &B) -> f64 {
    let cases: [(&[usize], &[usize]); 12] = [
        (&[1, 1], &[1, 1]),
        (&[7, 13], &[13, 5]),
        (&[16, 16], &[16, 16]),
        (&[17, 33], &[33, 15]),
        (&[64, 64], &[64, 64]),
        (&[1, 300], &[300, 1]),
        (&[3, 0], &[0, 4]),
        (&[0, 3], &[3, 4]),
        (&[3, 5, 7], &[3, 7, 9]),
        (&[2, 2, 17, 3], &[2, 2, 3, 18]),
        (&[4, 6, 5], &[5, 3]),
        (&[6, 5], &[2, 5, 3]),
    ];
    let mut worst = 0.0_f64;
    for (i, (sa, sb)) in cases.iter().enumerate() {
        let x = random_pair(b, sa, 70 + 2 * i as u64, -1.0, 1.0);
        let y = random_pair(b, sb, 71 + 2 * i as u64, -1.0, 1.0);
        let what = format!("matmul {sa:?} x {sb:?}");
        let scale = ok(abs_cpu(&x.cpu).matmul(&abs_cpu(&y.cpu)), &what);
        worst = worst.max(compare(&what, &ok(x.dev.matmul(&y.dev), &what), &ok(x.cpu.matmul(&y.cpu), &what), Some(&scale), TOL));
    }
    // Transposed operands (a strided view on the CPU, a copy elsewhere).
    let x = random_pair(b, &[19, 6], 90, -1.0, 1.0);
    let y = random_pair(b, &[21, 19], 91, -1.0, 1.0);
    let xt = (ok(x.dev.t(), "t"), ok(x.cpu.t(), "t"));
    let yt = (ok(y.dev.t(), "t"), ok(y.cpu.t(), "t"));
    let scale = ok(abs_cpu(&xt.1).matmul(&abs_cpu(&yt.1)), "scale");
    worst = worst.max(compare("matmul x^T y^T", &ok(xt.0.matmul(&yt.0), "mm"), &ok(xt.1.matmul(&yt.1), "mm"), Some(&scale), TOL));
    worst
}

/// `bias + a b` with `[n]` and `[1, n]` biases.
pub fn addmm<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for (i, &(m, k, n)) in [(1, 1, 1), (5, 3, 4), (33, 17, 19), (4, 0, 3), (0, 4, 3)].iter().enumerate() {
        for bias_shape in [vec![n], vec![1, n]] {
            let x = random_pair(b, &[m, k], 100 + 3 * i as u64, -1.0, 1.0);
            let w = random_pair(b, &[k, n], 101 + 3 * i as u64, -1.0, 1.0);
            let bias = random_pair(b, &bias_shape, 102 + 3 * i as u64, -1.0, 1.0);
            let what = format!("addmm [{m}, {k}] x [{k}, {n}] + {bias_shape:?}");
            let scale = ok(ok(abs_cpu(&x.cpu).matmul(&abs_cpu(&w.cpu)), &what).add(&abs_cpu(&bias.cpu)), &what);
            worst = worst.max(compare(&what, &ok(x.dev.addmm(&w.dev, &bias.dev), &what), &ok(x.cpu.addmm(&w.cpu, &bias.cpu), &what), Some(&scale), TOL));
        }
    }
    worst
}

fn adam_scalars(t: i32, lr: f64, wd: f64) -> AdamScalars {
    let (beta1, beta2) = (0.9, 0.999);
    AdamScalars {
        step: lr / (1.0 - f64::powi(beta1, t)),
        v_correction: 1.0 / (1.0 - f64::powi(beta2, t)),
        beta1,
        beta2,
        eps: 1e-8,
        decay: 1.0 - lr * wd,
    }
}

/// Three fused Adam(W) updates in a row.
pub fn adam<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for (i, shape) in [&[0][..], &[1], &[3, 5], &[300]].iter().enumerate() {
        let seed = 110 + 4 * i as u64;
        let p = random_pair(b, shape, seed, -1.0, 1.0);
        let (mut pd, mut pc) = (p.dev, p.cpu);
        let zero = pair(b, shape, &vec![0.0; numel(shape)]);
        let (mut md, mut mc, mut vd, mut vc) = (zero.dev.clone(), zero.cpu.clone(), zero.dev, zero.cpu);
        for t in 1..=3 {
            let g = random_pair(b, shape, seed + t as u64, -1.0, 1.0);
            let s = adam_scalars(t, 1e-2, if i % 2 == 0 { 0.0 } else { 0.01 });
            (pd, md, vd) = ok(pd.adam_update(&g.dev, &md, &vd, s), "adam");
            (pc, mc, vc) = ok(pc.adam_update(&g.cpu, &mc, &vc, s), "adam");
            let what = format!("adam step {t} {shape:?}");
            worst = worst.max(compare(&format!("{what} param"), &pd, &pc, None, TOL));
            worst = worst.max(compare(&format!("{what} m"), &md, &mc, None, TOL));
            worst = worst.max(compare(&format!("{what} v"), &vd, &vc, None, TOL));
        }
    }
    worst
}

/// Every [`ReduceOp`] over single axes, axis sets, all axes and none, on
/// short and long (more than a workgroup) reductions and empty axes.
pub fn reduce<B: Backend>(b: &B) -> f64 {
    let cases: [(&[usize], &[usize]); 13] = [
        (&[3, 4, 5], &[0]),
        (&[3, 4, 5], &[1]),
        (&[3, 4, 5], &[2]),
        (&[3, 4, 5], &[0, 2]),
        (&[3, 4, 5], &[2, 0, 1]),
        (&[3, 4, 5], &[]),
        (&[], &[]),
        (&[1000], &[0]),
        (&[2, 600], &[1]),
        (&[600, 3], &[0]),
        (&[3, 0], &[1]),
        (&[3, 0], &[0]),
        (&[2, 3, 4, 5], &[1, 3]),
    ];
    let mut worst = 0.0_f64;
    for op in REDUCE_OPS {
        for (i, (shape, axes)) in cases.iter().enumerate() {
            let x = random_pair(b, shape, 130 + i as u64, -2.0, 2.0);
            let what = format!("{op:?} of {shape:?} over {axes:?}");
            let scale = match op {
                ReduceOp::Sum => Some(ok(abs_cpu(&x.cpu).reduce(op, axes), &what)),
                _ => None,
            };
            worst = worst.max(compare(&what, &ok(x.dev.reduce(op, axes), &what), &ok(x.cpu.reduce(op, axes), &what), scale.as_ref(), TOL));
        }
    }
    let x = random_pair(b, &[4, 70], 150, -3.0, 3.0);
    worst = worst.max(compare("sum_all", &ok(x.dev.sum_all(), "sum_all"), &ok(x.cpu.sum_all(), "sum_all"), Some(&ok(abs_cpu(&x.cpu).sum_all(), "s")), TOL));
    worst = worst.max(compare("mean_all", &ok(x.dev.mean_all(), "mean_all"), &ok(x.cpu.mean_all(), "mean_all"), Some(&ok(abs_cpu(&x.cpu).mean_all(), "s")), TOL));
    let sum_to = ok(x.cpu.sum_to_shape(&[1, 70]), "sum_to");
    worst.max(compare("sum_to_shape", &ok(x.dev.sum_to_shape(&[1, 70]), "sum_to"), &sum_to, Some(&ok(abs_cpu(&x.cpu).sum_to_shape(&[1, 70]), "s")), TOL))
}

/// Softmax and log-sum-exp along each axis (built from reductions,
/// broadcasting and `exp`/`ln`), including large logits.
pub fn softmax_logsumexp<B: Backend>(b: &B) -> f64 {
    let mut worst = 0.0_f64;
    for (i, shape) in [&[5][..], &[3, 7], &[4, 300], &[2, 3, 17]].iter().enumerate() {
        for (j, &(lo, hi)) in [(-3.0, 3.0), (50.0, 80.0)].iter().enumerate() {
            let x = random_pair(b, shape, 160 + 2 * i as u64 + j as u64, lo, hi);
            for axis in 0..shape.len() {
                let what = format!("softmax {shape:?} axis {axis}");
                worst = worst.max(compare(&what, &ok(x.dev.softmax(axis), &what), &ok(x.cpu.softmax(axis), &what), None, TOL));
                let what = format!("logsumexp {shape:?} axis {axis}");
                worst = worst.max(compare(&what, &ok(x.dev.logsumexp(axis), &what), &ok(x.cpu.logsumexp(axis), &what), None, TOL));
            }
        }
    }
    worst
}

/// Reshape, permute, transpose, broadcast, slice and concat: exact.
pub fn movement<B: Backend>(b: &B) -> f64 {
    let x = random_pair(b, &[2, 3, 4, 5], 170, -5.0, 5.0);
    exact("reshape", &ok(x.dev.reshape(&[6, 20]), "reshape"), &ok(x.cpu.reshape(&[6, 20]), "reshape"));
    exact("reshape to rank 1", &ok(x.dev.reshape(&[120]), "reshape"), &ok(x.cpu.reshape(&[120]), "reshape"));
    for perm in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [2, 0, 3, 1]] {
        let what = format!("permute {perm:?}");
        let (d, c) = (ok(x.dev.permute(&perm), &what), ok(x.cpu.permute(&perm), &what));
        exact(&what, &d, &c);
        // A reshape after a permute must see the permuted order.
        exact(&format!("{what} then reshape"), &ok(d.reshape(&[120]), &what), &ok(c.reshape(&[120]), &what));
    }
    let m = random_pair(b, &[17, 33], 171, -5.0, 5.0);
    exact("t", &ok(m.dev.t(), "t"), &ok(m.cpu.t(), "t"));
    exact("t t", &ok(ok(m.dev.t(), "t").t(), "t"), &ok(ok(m.cpu.t(), "t").t(), "t"));
    for (from, to) in [(&[3][..], &[4, 3][..]), (&[4, 1], &[4, 6]), (&[], &[2, 3]), (&[1, 3, 1], &[2, 3, 5]), (&[2, 1], &[0, 2, 4])] {
        let p = random_pair(b, from, 172, -5.0, 5.0);
        let what = format!("broadcast {from:?} to {to:?}");
        exact(&what, &ok(p.dev.broadcast_to(to), &what), &ok(p.cpu.broadcast_to(to), &what));
    }
    for (axis, start, end) in [(0, 0, 1), (1, 1, 3), (2, 0, 4), (3, 2, 5), (3, 2, 2)] {
        let what = format!("slice axis {axis} {start}..{end}");
        exact(&what, &ok(x.dev.slice_axis(axis, start, end), &what), &ok(x.cpu.slice_axis(axis, start, end), &what));
    }
    for axis in 0..3 {
        let mut shapes = vec![vec![2, 3, 4]; 3];
        shapes[1][axis] = 1;
        shapes[2][axis] = 0;
        let parts: Vec<Pair<B>> = shapes.iter().enumerate().map(|(i, s)| random_pair(b, s, 180 + i as u64, -5.0, 5.0)).collect();
        let dev: Vec<&Tensor<B>> = parts.iter().map(|p| &p.dev).chain([&parts[0].dev]).collect();
        let cpu: Vec<&Tensor<Cpu>> = parts.iter().map(|p| &p.cpu).chain([&parts[0].cpu]).collect();
        let what = format!("concat axis {axis}");
        exact(&what, &ok(Tensor::concat(&dev, axis), &what), &ok(Tensor::concat(&cpu, axis), &what));
    }
    0.0
}

/// Gathers (`index_select`) and scatter-adds (`index_add`) with repeated
/// and empty index lists: exact, since both sum in index order.
pub fn index<B: Backend>(b: &B) -> f64 {
    let x = random_pair(b, &[5, 4, 3], 190, -5.0, 5.0);
    let lists: [&[usize]; 4] = [&[0], &[2, 0, 2, 1], &[], &[1, 1, 1, 1, 1, 1, 1]];
    for axis in 0..3 {
        for idx in lists {
            let what = format!("index_select axis {axis} {idx:?}");
            exact(&what, &ok(x.dev.index_select(axis, idx), &what), &ok(x.cpu.index_select(axis, idx), &what));
            let mut src_shape = x.cpu.shape().to_vec();
            src_shape[axis] = idx.len();
            let src = random_pair(b, &src_shape, 191 + axis as u64, -5.0, 5.0);
            let what = format!("index_add axis {axis} {idx:?}");
            exact(&what, &ok(x.dev.index_add(axis, idx, &src.dev), &what), &ok(x.cpu.index_add(axis, idx, &src.cpu), &what));
        }
    }
    let rows = random_pair(b, &[10, 7], 199, -1.0, 1.0);
    exact("gather_rows", &ok(rows.dev.gather_rows(&[9, 0, 3, 3]), "gather"), &ok(rows.cpu.gather_rows(&[9, 0, 3, 3]), "gather"));
    0.0
}

/// One training step of a two-layer MLP written with tensor ops only.
struct Mlp<B: Backend> {
    params: Vec<Tensor<B>>,
    m: Vec<Tensor<B>>,
    v: Vec<Tensor<B>>,
}

impl<B: Backend> Mlp<B> {
    fn new(b: &B, sizes: (usize, usize, usize)) -> Mlp<B> {
        let (i, h, o) = sizes;
        let shapes = [vec![i, h], vec![h], vec![h, o], vec![1, o]];
        let params: Vec<Tensor<B>> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let fan = if k < 2 { i } else { h } as f32;
                ok(Tensor::from_f32_in(b, s, &values(numel(s), 200 + k as u64, -1.0, 1.0).iter().map(|v| v / fan.sqrt()).collect::<Vec<_>>()), "init")
            })
            .collect();
        let zeros: Vec<Tensor<B>> = params.iter().map(|p| ok(p.zeros_like(), "zeros")).collect();
        Mlp { params, m: zeros.clone(), v: zeros }
    }

    /// Forward (tanh hidden layer, mean squared error), backward by hand,
    /// Adam step; returns the loss before the step.
    fn step(&mut self, x: &Tensor<B>, y: &Tensor<B>, t: i32) -> Tensor<B> {
        let [w1, b1, w2, b2] = &self.params[..] else { unreachable!("four parameters") };
        let z = ok(x.addmm(w1, b1), "layer 1");
        let h = ok(z.unary(UnaryOp::Tanh), "tanh");
        let pred = ok(h.addmm(w2, b2), "layer 2");
        let diff = ok(pred.sub(y), "diff");
        let loss = ok(ok(diff.unary(UnaryOp::Square), "sq").mean_all(), "mean");
        let dpred = ok(diff.scale(2.0 / diff.len() as f64), "dpred");
        let dw2 = ok(ok(h.t(), "t").matmul(&dpred), "dw2");
        let db2 = ok(dpred.sum_to_shape(b2.shape()), "db2");
        let dh = ok(dpred.matmul(&ok(w2.t(), "t")), "dh");
        let dz = ok(z.unary_backward(UnaryOp::Tanh, &dh), "dz");
        let dw1 = ok(ok(x.t(), "t").matmul(&dz), "dw1");
        let db1 = ok(dz.sum_to_shape(b1.shape()), "db1");
        let grads = [dw1, db1, dw2, db2];
        let s = adam_scalars(t, 0.05, 0.0);
        for (k, g) in grads.iter().enumerate() {
            let (p, m, v) = ok(self.params[k].adam_update(g, &self.m[k], &self.v[k], s), "adam");
            (self.params[k], self.m[k], self.v[k]) = (p, m, v);
        }
        loss
    }
}

/// A 2-layer MLP (13 -> 37 -> 3, batch 50) trained for three Adam steps
/// through tensor ops only (`addmm`, `tanh`, `unary_backward`, transposed
/// `matmul`, `sum_to_shape`, `adam_update`); losses and parameters compared
/// after every step. On a GPU backend nothing is read back until the end.
pub fn mlp<B: Backend>(b: &B) -> f64 {
    let sizes = (13, 37, 3);
    let x = random_pair(b, &[50, sizes.0], 220, -1.0, 1.0);
    let y = random_pair(b, &[50, sizes.2], 221, -1.0, 1.0);
    let (mut dev, mut cpu) = (Mlp::new(b, sizes), Mlp::new(&Cpu, sizes));
    let mut losses = Vec::new();
    for t in 1..=3 {
        losses.push((dev.step(&x.dev, &y.dev, t), cpu.step(&x.cpu, &y.cpu, t)));
    }
    let mut worst = 0.0_f64;
    for (t, (ld, lc)) in losses.iter().enumerate() {
        worst = worst.max(compare(&format!("MLP loss at step {}", t + 1), ld, lc, None, TOL_TRAIN));
    }
    let first = read(&losses[0].1, "loss");
    let last = read(&losses[2].1, "loss");
    assert!(last[0] < first[0], "the MLP loss should fall over three Adam steps ({first:?} -> {last:?})");
    for (k, (pd, pc)) in dev.params.iter().zip(&cpu.params).enumerate() {
        worst = worst.max(compare(&format!("MLP parameter {k} after 3 steps"), pd, pc, None, TOL_TRAIN));
    }
    worst
}

/// `unfold2d` (exact), `fold2d`, `conv2d` and `csr_matmul` (plain and
/// transposed, with an empty row): a backend either matches the CPU or
/// refuses with an error saying the operation is not available.
pub fn conv_and_sparse<B: Backend>(b: &B) -> f64 {
    let accept_refusal = |what: &str, e: crate::TensorError| {
        let msg = e.to_string();
        assert!(msg.contains("not available"), "{what}: a backend without this op must say it is not available, got: {msg}");
    };
    let mut worst = 0.0_f64;
    let geometries = [
        ([2, 3, 6, 5], Conv2dGeometry { kernel: (3, 2), stride: (2, 1), padding: (1, 0) }),
        ([1, 2, 7, 7], Conv2dGeometry { kernel: (3, 3), stride: (2, 3), padding: (2, 1) }),
        ([3, 1, 4, 4], Conv2dGeometry { kernel: (1, 1), stride: (1, 1), padding: (0, 0) }),
        ([0, 2, 5, 5], Conv2dGeometry { kernel: (2, 2), stride: (1, 1), padding: (1, 1) }),
    ];
    for (i, (image, g)) in geometries.iter().enumerate() {
        let x = random_pair(b, image, 230 + i as u64, -1.0, 1.0);
        let what = format!("unfold2d {image:?} {g:?}");
        match x.dev.unfold2d(*g) {
            Ok(cols) => {
                let want = ok(x.cpu.unfold2d(*g), &what);
                exact(&what, &cols, &want);
                let what = format!("fold2d {image:?} {g:?}");
                let folded = ok(cols.fold2d(image, *g), &what);
                let want_f = ok(want.fold2d(image, *g), &what);
                let scale = ok(abs_cpu(&want).fold2d(image, *g), &what);
                worst = worst.max(compare(&what, &folded, &want_f, Some(&scale), TOL));
                let w = random_pair(b, &[4, image[1], g.kernel.0, g.kernel.1], 240 + i as u64, -1.0, 1.0);
                let what = format!("conv2d {image:?} {g:?}");
                let want = ok(x.cpu.conv2d(&w.cpu, g.stride, g.padding), &what);
                let scale = ok(abs_cpu(&x.cpu).conv2d(&abs_cpu(&w.cpu), g.stride, g.padding), &what);
                worst = worst.max(compare(&what, &ok(x.dev.conv2d(&w.dev, g.stride, g.padding), &what), &want, Some(&scale), TOL));
            }
            Err(e) => accept_refusal("unfold2d", e),
        }
    }
    // Row 1 is empty; row 3 has a duplicate entry (summed by Csr).
    let triplets = [(0, 0, 1.5), (0, 2, -2.0), (2, 1, 0.5), (3, 0, 1.0), (3, 2, 3.0), (3, 0, 0.25)];
    let abs_triplets: Vec<(usize, usize, f64)> = triplets.iter().map(|&(r, c, v): &(usize, usize, f64)| (r, c, v.abs())).collect();
    if let (Ok(csr), Ok(abs_csr)) = (Csr::from_triplets(4, 3, &triplets), Csr::from_triplets(4, 3, &abs_triplets)) {
        for transpose in [false, true] {
            let rows = if transpose { 4 } else { 3 };
            let v = random_pair(b, &[rows, 5], 231, -1.0, 1.0);
            match v.dev.csr_matmul(&csr, transpose) {
                Ok(got) => {
                    let want = ok(v.cpu.csr_matmul(&csr, transpose), "csr");
                    let scale = ok(abs_cpu(&v.cpu).csr_matmul(&abs_csr, transpose), "csr");
                    worst = worst.max(compare(&format!("csr_matmul (transpose: {transpose})"), &got, &want, Some(&scale), TOL));
                }
                Err(e) => accept_refusal("csr_matmul", e),
            }
        }
    }
    worst
}

/// Instantiates every conformance check as a `#[test]` for the backend
/// that `$backend` (an expression of type `Option<B>`) gives; `None` skips
/// (the expression should print why, or panic when skipping is not allowed).
/// Each test prints its largest error.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@each $backend;
            roundtrip f64_policy unary unary_backward binary scalar select matmul addmm adam
            reduce softmax_logsumexp movement index mlp conv_and_sparse);
    };
    (@each $backend:expr; $($check:ident)*) => {
        $(
            #[test]
            #[allow(clippy::print_stdout)]
            fn $check() {
                if let Some(backend) = $backend {
                    let worst = $crate::conformance::$check(&backend);
                    println!("conformance {} on {}: max error {:.3e}", stringify!($check), $crate::Backend::name(&backend), worst);
                }
            }
        )*
    };
}
