//! Brownian interval: query-order independence, additivity, and the
//! distribution (marginal, covariance and bridge variances) over seeds.
#![cfg(feature = "sde")]

use odeon_solve::sde::{BrownianInterval, BrownianPath, SdeError};
use odeon_tensor::SeedStream;
use proptest::prelude::*;

const T0: f64 = 0.5;
const T1: f64 = 2.0;

fn interval(seed: u64, dim: usize) -> BrownianInterval {
    BrownianInterval::new(T0, T1, dim, seed).expect("a valid interval")
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Query times: endpoints, dyadic points, random points and near-duplicates.
fn query_times() -> Vec<f64> {
    let mut s = SeedStream::new(3, "sde-test/times");
    let mut ts = vec![T0, T1, T0 + 0.75, T0 + 1.5 * 0.5, 1.0 / 3.0 + 1.0];
    for _ in 0..60 {
        ts.push(T0 + (T1 - T0) * s.uniform_f64());
    }
    ts.push(1.2);
    ts.push(f64::from_bits(1.2f64.to_bits() + 1));
    ts.push(T0 + 1e-12);
    ts.push(T1 - 1e-12);
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    ts
}

#[test]
fn query_order_does_not_change_the_path() {
    let ts = query_times();
    let n = ts.len();
    let pairs: Vec<(usize, usize)> = (0..n - 1).map(|i| (i, i + 1)).collect();
    let mut shuffled = pairs.clone();
    SeedStream::new(4, "sde-test/shuffle").shuffle(&mut shuffled);

    let run = |order: &[(usize, usize)]| -> Vec<Vec<u64>> {
        let mut w = interval(11, 3);
        let mut out = vec![Vec::new(); n - 1];
        for &(i, j) in order {
            out[i] = bits(&w.increment(ts[i], ts[j]).expect("in range"));
        }
        out
    };
    let sorted = run(&pairs);
    let reversed: Vec<_> = pairs.iter().rev().copied().collect();
    assert_eq!(sorted, run(&reversed));
    assert_eq!(sorted, run(&shuffled));

    // Values, too: one instance queried in a random order with repeats,
    // against fresh instances queried once each.
    let mut w = interval(11, 3);
    let mut idx: Vec<usize> = (0..n).chain(0..n).collect();
    SeedStream::new(5, "sde-test/shuffle2").shuffle(&mut idx);
    for &i in &idx {
        let v = w.value(ts[i]).expect("in range");
        let fresh = interval(11, 3).value(ts[i]).expect("in range");
        assert_eq!(bits(&v), bits(&fresh), "t = {}", ts[i]);
    }

    // Another seed gives another path.
    let mut other = interval(12, 3);
    assert_ne!(
        bits(&other.increment(T0, T1).expect("in range")),
        bits(&w.increment(T0, T1).expect("in range"))
    );
}

#[test]
fn starts_at_zero_and_increments_add_up() {
    let ts = query_times();
    let mut w = interval(21, 2);
    assert_eq!(w.value(T0).expect("in range"), vec![0.0, 0.0]);
    assert_eq!(w.increment(1.1, 1.1).expect("in range"), vec![0.0, 0.0]);
    let total = w.increment(T0, T1).expect("in range");
    let mut sum = [0.0; 2];
    for pair in ts.windows(2) {
        let inc = w.increment(pair[0], pair[1]).expect("in range");
        for (s, x) in sum.iter_mut().zip(&inc) {
            *s += x;
        }
    }
    for k in 0..2 {
        assert!((sum[k] - total[k]).abs() < 1e-12, "{sum:?} vs {total:?}");
    }
    // W(a, c) = W(a, b) + W(b, c); reversed arguments negate.
    let (a, b, c) = (0.61, 1.37, 1.93);
    let ac = w.increment(a, c).expect("in range");
    let ab = w.increment(a, b).expect("in range");
    let bc = w.increment(b, c).expect("in range");
    let ca = w.increment(c, a).expect("in range");
    for k in 0..2 {
        assert!((ac[k] - ab[k] - bc[k]).abs() < 1e-12);
        assert_eq!(ac[k], -ca[k]);
    }
}

#[test]
fn seeding_from_a_stream_is_deterministic() {
    let mut s1 = SeedStream::new(9, "sde-test/brownian");
    let mut s2 = SeedStream::new(9, "sde-test/brownian");
    let mut a = BrownianInterval::from_stream(0.0, 1.0, 2, &mut s1).expect("valid");
    let mut b = BrownianInterval::from_stream(0.0, 1.0, 2, &mut s2).expect("valid");
    assert_eq!(a.seed(), b.seed());
    assert_eq!(
        a.value(0.3).expect("in range"),
        b.value(0.3).expect("in range")
    );
    assert_eq!(a.dim(), 2);
    assert_eq!(a.span(), (0.0, 1.0));
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Over many seeds (and 2 independent dimensions each), at non-dyadic times:
/// the marginal variance is t − t0, Cov(W_a, W_b) = a − t0, and the bridge
/// residual W_s − interp(W_a, W_b) has mean 0, variance (s−a)(b−s)/(b−a)
/// and no correlation with W_a, W_b.
#[test]
fn bridge_and_marginal_variances_match_brownian_motion() {
    let seeds = 2000;
    let dim = 2;
    // n = 4000 samples: relative se of a variance is sqrt(2/n) = 2.2%.
    let triples = [
        (0.63, 0.97, 1.41),
        (0.5, 1.1, 2.0),
        (1.234_567, 1.234_6, 1.9),
    ];
    for &(a, s, b) in &triples {
        let mut wa = Vec::new();
        let mut wb = Vec::new();
        let mut res = Vec::new();
        for seed in 0..seeds {
            // Query in a seed-dependent order: the path must not care.
            let mut w = interval(1000 + seed, dim);
            let (va, vs, vb) = if seed % 2 == 0 {
                let vb = w.value(b).expect("in range");
                let vs = w.value(s).expect("in range");
                (w.value(a).expect("in range"), vs, vb)
            } else {
                let va = w.value(a).expect("in range");
                let vs = w.value(s).expect("in range");
                (va, vs, w.value(b).expect("in range"))
            };
            for k in 0..dim {
                let interp = va[k] + (s - a) / (b - a) * (vb[k] - va[k]);
                wa.push(va[k]);
                wb.push(vb[k]);
                res.push(vs[k] - interp);
            }
        }
        let n = res.len() as f64;
        let tol = 5.0 * (2.0 / n).sqrt(); // 5 standard errors, ~11%
        let bridge = (s - a) * (b - s) / (b - a);
        let (rm, rv) = mean_var(&res);
        eprintln!(
            "bridge ({a}, {s}, {b}): var {rv:.6} vs {bridge:.6} (ratio {:.4})",
            rv / bridge
        );
        assert!(rm.abs() < 5.0 * (bridge / n).sqrt(), "bridge mean {rm}");
        assert!(
            (rv / bridge - 1.0).abs() < tol,
            "bridge var {rv} vs {bridge}"
        );
        let (_, va) = mean_var(&wa);
        let (_, vb) = mean_var(&wb);
        eprintln!(
            "marginal: var W_a {va:.5} vs {:.5}, var W_b {vb:.5} vs {:.5}",
            a - T0,
            b - T0
        );
        if a > T0 {
            assert!((va / (a - T0) - 1.0).abs() < tol, "var W_a {va}");
        } else {
            assert_eq!(va, 0.0);
        }
        assert!((vb / (b - T0) - 1.0).abs() < tol, "var W_b {vb}");
        // Cov(W_a, W_b) = a − t0 (independent increments): estimate the
        // variance of W_b − W_a, which must be b − a.
        let inc: Vec<f64> = wa.iter().zip(&wb).map(|(x, y)| y - x).collect();
        let (_, vi) = mean_var(&inc);
        assert!(
            (vi / (b - a) - 1.0).abs() < tol,
            "var of increment {vi} vs {}",
            b - a
        );
        // Residual uncorrelated with the endpoints.
        for ends in [&wa, &wb] {
            let (_, ve) = mean_var(ends);
            if ve == 0.0 {
                continue;
            }
            let cov = res.iter().zip(ends.iter()).map(|(r, e)| r * e).sum::<f64>() / n;
            let corr = cov / (rv * ve).sqrt();
            assert!(corr.abs() < 5.0 / n.sqrt(), "corr {corr}");
        }
    }
}

#[test]
fn errors_are_reported() {
    let mut w = interval(1, 1);
    assert!(matches!(
        w.increment(0.4, 1.0),
        Err(SdeError::QueryOutside { .. })
    ));
    assert!(matches!(
        w.value(2.000_001),
        Err(SdeError::QueryOutside { .. })
    ));
    assert!(matches!(
        w.value(f64::NAN),
        Err(SdeError::QueryOutside { .. })
    ));
    let msg = w.value(3.0).map_err(|e| e.to_string());
    assert_eq!(
        msg,
        Err("a Brownian query at t = 3 lies outside the path's interval [0.5, 2]".into())
    );
    assert!(matches!(
        BrownianInterval::new(1.0, 1.0, 1, 0),
        Err(SdeError::BadInterval { .. })
    ));
    assert!(matches!(
        BrownianInterval::new(2.0, 1.0, 1, 0),
        Err(SdeError::BadInterval { .. })
    ));
    assert!(matches!(
        BrownianInterval::new(0.0, f64::INFINITY, 1, 0),
        Err(SdeError::BadInterval { .. })
    ));
    assert!(matches!(
        BrownianInterval::new(-f64::MAX, f64::MAX, 1, 0),
        Err(SdeError::BadInterval { .. })
    ));
    assert!(matches!(
        BrownianInterval::new(0.0, 1.0, 0, 0),
        Err(SdeError::Empty { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any set of times, any order: the same values as fresh queries, and
    /// additivity across them.
    #[test]
    fn any_order_same_values(
        us in proptest::collection::vec(0.0f64..=1.0, 2..12),
        seed in any::<u64>(),
    ) {
        let ts: Vec<f64> = us.iter().map(|u| T0 + (T1 - T0) * u).collect();
        let mut shared = interval(seed, 2);
        for &t in ts.iter().rev() {
            let v = shared.value(t).expect("in range");
            let fresh = interval(seed, 2).value(t).expect("in range");
            prop_assert_eq!(bits(&v), bits(&fresh));
        }
        let (a, b) = (ts[0], ts[1]);
        let ab = shared.increment(a, b).expect("in range");
        let va = shared.value(a).expect("in range");
        let vb = shared.value(b).expect("in range");
        for k in 0..2 {
            prop_assert!((ab[k] - (vb[k] - va[k])).abs() <= 1e-15 * (1.0 + vb[k].abs()));
        }
    }
}
