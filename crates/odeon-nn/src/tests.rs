use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_tensor::{Cpu, DType, SeedStream, Tensor, UnaryOp};

use crate::loss::{bce_with_logits, cross_entropy, pseudo_huber};
use crate::*;

fn t64(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(shape, v.to_vec()).expect("shape")
}

fn scalar(v: &Var) -> f64 {
    v.value().item().expect("scalar")
}

#[test]
fn mlp_fits_a_linear_map_with_adam() {
    let mut rng = SeedStream::new(0, "test");
    let mut model = Mlp::new(&[2, 16, 1], Activation::Tanh, &mut rng).expect("sizes");
    let mut opt = Adam::new(AdamConfig { lr: 1e-2, ..AdamConfig::default() });
    let x = rng.normal_tensor(&[64, 2]);
    let y: Vec<f32> = x.to_f32_vec().expect("read").chunks(2).map(|p| 2.0 * p[0] - p[1] + 0.5).collect();
    let y = Tensor::from_shape_vec(&[64, 1], y).expect("shape");
    let mut last = f64::INFINITY;
    for _ in 0..500 {
        let tape = Tape::new();
        let (pred, leaves) = model.forward(&tape, &tape.constant(x.clone())).expect("forward");
        let loss = mse(&pred, &tape.constant(y.clone())).expect("loss");
        let grads = tape.backward(&loss).expect("backward");
        let g: Vec<Tensor> = leaves.iter().map(|l| grads.get(l).expect("grad")).collect();
        let mut params = model.parameters();
        opt.step(&mut params, &g).expect("step");
        model.set_parameters(&params).expect("set");
        last = scalar(&loss);
    }
    assert!(last < 1e-2, "final loss {last}");
}

#[test]
fn sgd_momentum_and_adamw() {
    // Minimise |p - 3|^2 from 0.
    for nesterov in [false, true] {
        let mut p = vec![t64(&[1], &[0.0])];
        let mut opt: Sgd<Cpu> = Sgd::new(0.1, 0.9);
        opt.nesterov = nesterov;
        for _ in 0..600 {
            let g = p[0].add_scalar(-3.0).expect("g").scale(2.0).expect("g");
            opt.step(&mut p, &[g]).expect("step");
        }
        assert!((p[0].item().expect("v") - 3.0).abs() < 1e-6);
    }
    // AdamW with a zero gradient only decays: p <- p (1 - lr wd).
    let mut p = vec![t64(&[1], &[2.0])];
    let mut opt: Adam<Cpu> = Adam::new(AdamConfig::adamw(0.1, 0.5));
    opt.step(&mut p, &[t64(&[1], &[0.0])]).expect("step");
    assert!((p[0].item().expect("v") - 2.0 * 0.95).abs() < 1e-12);
    assert!(opt.step(&mut p, &[t64(&[2], &[0.0, 0.0])]).is_err(), "shape mismatch");
}

#[test]
fn schedules_and_clipping() {
    let s = Schedule::WarmupCosine { warmup: 10, total: 110, final_fraction: 0.1 };
    assert!((s.lr_at(1.0, 0) - 0.1).abs() < 1e-12);
    assert!((s.lr_at(1.0, 9) - 1.0).abs() < 1e-12);
    assert!((s.lr_at(1.0, 60) - 0.55).abs() < 1e-12);
    assert!((s.lr_at(1.0, 110) - 0.1).abs() < 1e-12);
    assert!((Schedule::Step { every: 10, gamma: 0.5 }.lr_at(1.0, 25) - 0.25).abs() < 1e-12);
    assert!((Schedule::Cosine { total: 100, final_fraction: 0.0 }.lr_at(2.0, 50) - 1.0).abs() < 1e-12);
    let mut grads = vec![t64(&[2], &[3.0, 0.0]), t64(&[1], &[4.0])];
    let norm = clip_grad_norm(&mut grads, 1.0).expect("clip");
    assert!((norm - 5.0).abs() < 1e-12);
    assert!((grads[0].to_f64_vec().expect("r")[0] - 0.6).abs() < 1e-9);
}

#[test]
fn losses_match_hand_computation() {
    let tape = Tape::new();
    let pred = tape.constant(t64(&[2, 2], &[1.0, 2.0, 0.0, -1.0]));
    let target = tape.constant(t64(&[2, 2], &[0.0, 0.0, 0.0, 1.0]));
    assert!((scalar(&mse(&pred, &target).expect("mse")) - (1.0 + 4.0 + 0.0 + 4.0) / 4.0).abs() < 1e-12);
    let c = 0.5f64;
    let want = ((5.0f64 + c * c).sqrt() - c + (4.0f64 + c * c).sqrt() - c) / 2.0;
    assert!((scalar(&pseudo_huber(&pred, &target, c).expect("ph")) - want).abs() < 1e-12);
    let logits = tape.constant(t64(&[2, 3], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]));
    let ce = scalar(&cross_entropy(&logits, &[2, 0]).expect("ce"));
    let lse0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert!((ce - ((lse0 - 3.0) + 3f64.ln()) / 2.0).abs() < 1e-12);
    let bce = scalar(&bce_with_logits(&tape.constant(t64(&[2], &[0.0, 2.0])), &tape.constant(t64(&[2], &[1.0, 0.0]))).expect("bce"));
    assert!((bce - (2f64.ln() + (1.0 + 2f64.exp()).ln()) / 2.0).abs() < 1e-12);
    assert!(cross_entropy(&logits, &[3, 0]).is_err());
    assert!(mse(&pred, &tape.constant(t64(&[4], &[0.0; 4]))).is_err());
}

#[test]
fn activations_and_layer_norm() {
    let tape = Tape::new();
    let x = tape.constant(t64(&[3], &[-1.0, 0.5, 2.0]));
    let gelu = Activation::Gelu.apply(&x).expect("gelu").value().to_f64_vec().expect("r");
    for (g, v) in gelu.iter().zip([-1.0f64, 0.5, 2.0]) {
        let want = 0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh());
        assert!((g - want).abs() < 1e-12);
    }
    assert!(Activation::from_name("cosine").is_err());
    let ln = LayerNorm::new(&Cpu, 4, DType::F64).expect("ln");
    let params = ln.bind_constant(&tape);
    let y = ln.apply(&params, &tape.constant(t64(&[2, 4], &[1., 2., 3., 4., -5., 0., 5., 10.]))).expect("apply");
    for row in y.value().to_f64_vec().expect("r").chunks(4) {
        let mean: f64 = row.iter().sum::<f64>() / 4.0;
        let var: f64 = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-4, "{mean} {var}");
    }
}

/// Gradient of every parameter of a recurrent cell against finite differences.
fn check_module_grads<M: Module<Cpu>>(module: &mut M, f: &dyn Fn(&M, &[Var]) -> Var) {
    let tape = Tape::new();
    let leaves = module.bind(&tape);
    let out = f(module, &leaves);
    let grads = tape.backward(&out).expect("backward");
    let params = module.parameters();
    let h = 1e-6;
    for (i, p) in params.iter().enumerate() {
        let g = grads.get(&leaves[i]).expect("grad").to_f64_vec().expect("r");
        for j in (0..p.len()).step_by(p.len().div_ceil(5)) {
            let mut eval = |delta: f64| {
                let mut ps = params.clone();
                let mut v = ps[i].to_f64_vec().expect("r");
                v[j] += delta;
                ps[i] = Tensor::from_f64(p.shape(), v).expect("s");
                let mut m2 = module.parameters();
                std::mem::swap(&mut m2, &mut ps);
                module.set_parameters(&m2).expect("set");
                let t2 = Tape::new();
                let c = module.bind_constant(&t2);
                let val = scalar(&f(module, &c));
                module.set_parameters(&ps).expect("restore");
                val
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h);
            assert!((g[j] - fd).abs() < 1e-6 * (1.0 + fd.abs()), "param {i}[{j}]: {} vs {fd}", g[j]);
        }
    }
}

#[test]
fn recurrent_cells_conv_and_gcn_gradients() {
    let mut rng = SeedStream::new(1, "cells");
    let x = rng.normal_tensor(&[3, 2]).cast(DType::F64).expect("cast");
    let mut gru = GruCell::new(&Cpu, 2, 4, DType::F64, &mut rng).expect("gru");
    let x1 = x.clone();
    check_module_grads(&mut gru, &move |m, p| {
        let t = p[0].tape();
        let h0 = t.constant(Tensor::from_f64(&[3, 4], vec![0.1; 12]).expect("s"));
        let h1 = m.apply(p, &t.constant(x1.clone()), &h0).expect("step");
        let h2 = m.apply(p, &t.constant(x1.clone()), &h1).expect("step");
        h2.unary(UnaryOp::Square).expect("sq").sum().expect("sum")
    });
    let mut lstm = LstmCell::new(&Cpu, 2, 3, DType::F64, &mut rng).expect("lstm");
    let x2 = x.clone();
    check_module_grads(&mut lstm, &move |m, p| {
        let t = p[0].tape();
        let z = t.constant(Tensor::from_f64(&[3, 3], vec![0.0; 9]).expect("s"));
        let (h, c) = m.apply(p, &t.constant(x2.clone()), &z, &z).expect("step");
        let (h, _) = m.apply(p, &t.constant(x2.clone()), &h, &c).expect("step");
        h.sum().expect("sum")
    });
    let mut conv = Conv2d::new(&Cpu, (2, 3), 3, 1, 1, DType::F64, &mut rng).expect("conv");
    let img = rng.normal_tensor(&[1, 2, 4, 4]).cast(DType::F64).expect("cast");
    check_module_grads(&mut conv, &move |m, p| {
        let y = m.apply(p, &p[0].tape().constant(img.clone())).expect("conv");
        assert_eq!(y.value().shape(), &[1, 3, 4, 4]);
        y.unary(UnaryOp::Tanh).expect("t").sum().expect("s")
    });
    let adj = Rc::new(GcnLayer::<Cpu>::normalized_adjacency(4, &[(0, 1), (1, 2), (2, 3)]).expect("graph"));
    // Row 0 has neighbours {0, 1} with degrees 2 and 3.
    let row0: Vec<(usize, f64)> = adj.row(0).collect();
    assert!((row0[0].1 - 0.5).abs() < 1e-12 && (row0[1].1 - 1.0 / 6f64.sqrt()).abs() < 1e-12);
    let mut gcn = GcnLayer::new(&Cpu, 2, 2, DType::F64, &mut rng).expect("gcn");
    let feats = rng.normal_tensor(&[4, 2]).cast(DType::F64).expect("cast");
    check_module_grads(&mut gcn, &move |m, p| m.apply(p, &adj, &p[0].tape().constant(feats.clone())).expect("gcn").unary(UnaryOp::Sin).expect("s").sum().expect("s"));
    assert!(GcnLayer::<Cpu>::normalized_adjacency(2, &[(0, 5)]).is_err());
}

#[test]
fn sinusoidal_embedding_values() {
    let tape = Tape::new();
    let t = tape.constant(t64(&[2, 1], &[0.0, 0.5]));
    let e = sinusoidal_embedding(&t, 4, 10_000.0).expect("embed").value().to_f64_vec().expect("r");
    assert_eq!(&e[..4], &[0.0, 0.0, 1.0, 1.0]);
    assert!((e[4] - 0.5f64.sin()).abs() < 1e-15 && (e[5] - (0.5f64 * 0.01).sin()).abs() < 1e-15);
    assert!(sinusoidal_embedding(&t, 3, 10.0).is_err());
}

#[test]
fn serde_round_trip_and_clear_errors() {
    let mut rng = SeedStream::new(1, "test");
    let model = Mlp::new(&[3, 8, 2], Activation::Silu, &mut rng).expect("sizes");
    let text = serde_json::to_string(&model.to_state().expect("state")).expect("serialise");
    let back = Mlp::from_state(&Cpu, &serde_json::from_str(&text).expect("deserialise")).expect("rebuild");
    assert_eq!(model, back);
    let x = rng.normal_tensor(&[4, 3]);
    let tape = Tape::new();
    let (out, _) = model.forward(&tape, &tape.constant(x.clone())).expect("forward");
    assert_eq!(out.value(), &back.predict(&x).expect("predict"));
    assert!(Mlp::new(&[3], Activation::Relu, &mut rng).is_err());
    let err = model.predict(&Tensor::zeros(&[5, 2])).expect_err("wrong width");
    assert!(err.to_string().contains("[n, 3]"), "{err}");
    let mut other = model.clone();
    assert!(other.set_parameters(&model.parameters()[..2]).is_err());
}
