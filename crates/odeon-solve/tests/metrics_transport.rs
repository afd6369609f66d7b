//! The Hungarian assignment against brute force, exact Wasserstein
//! distances, and Hungarian timings (print with `--nocapture`).
#![cfg(feature = "metrics")]

use std::time::Instant;

use odeon_solve::metrics::*;
use odeon_tensor::SeedStream;

/// Minimal total over all permutations (Heap's algorithm), for n <= 8.
fn brute_force(cost: &[f64], rows: usize, cols: usize) -> f64 {
    // Choose an injective map rows -> cols by trying all permutations of
    // the columns and using the first `rows` entries.
    let mut perm: Vec<usize> = (0..cols).collect();
    let mut best = f64::INFINITY;
    let eval = |p: &[usize]| (0..rows).map(|i| cost[i * cols + p[i]]).sum::<f64>();
    let mut c = vec![0usize; cols];
    best = best.min(eval(&perm));
    let mut i = 0;
    while i < cols {
        if c[i] < i {
            if i % 2 == 0 { perm.swap(0, i) } else { perm.swap(c[i], i) }
            best = best.min(eval(&perm));
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    best
}

fn check_assignment(a: &Assignment, cost: &[f64], rows: usize, cols: usize) {
    assert_eq!(a.columns.len(), rows);
    let mut seen = vec![false; cols];
    for &j in &a.columns {
        assert!(j < cols && !seen[j], "not injective: {:?}", a.columns);
        seen[j] = true;
    }
    let total: f64 = a.columns.iter().enumerate().map(|(i, &j)| cost[i * cols + j]).sum();
    assert_eq!(total, a.total);
}

fn random_cost(rng: &mut SeedStream, len: usize, kind: usize) -> Vec<f64> {
    (0..len)
        .map(|_| match kind {
            // Small integers: many ties.
            0 => rng.below(4) as f64,
            // Signed reals.
            1 => rng.uniform_range(-5.0, 5.0).unwrap_or(0.0),
            // Wide dynamic range.
            _ => (rng.normal_f64() * 6.0).exp(),
        })
        .collect()
}

#[test]
fn hungarian_matches_brute_force() {
    let mut rng = SeedStream::new(1, "hungarian-brute");
    for case in 0..600 {
        let n = 1 + case % 7;
        let cost = random_cost(&mut rng, n * n, case % 3);
        let a = hungarian(&cost, n).unwrap_or_else(|e| panic!("{e}"));
        check_assignment(&a, &cost, n, n);
        let best = brute_force(&cost, n, n);
        assert!((a.total - best).abs() <= 1e-9 * best.abs().max(1.0), "case {case}: {} vs {best}", a.total);
    }
}

#[test]
fn rectangular_matches_brute_force() {
    let mut rng = SeedStream::new(2, "hungarian-rect");
    for case in 0..300 {
        let cols = 2 + case % 6;
        let rows = 1 + case % cols;
        let cost = random_cost(&mut rng, rows * cols, case % 3);
        let a = hungarian_rectangular(&cost, rows, cols).unwrap_or_else(|e| panic!("{e}"));
        check_assignment(&a, &cost, rows, cols);
        let best = brute_force(&cost, rows, cols);
        assert!((a.total - best).abs() <= 1e-9 * best.abs().max(1.0), "case {case}: {} vs {best}", a.total);
    }
}

#[test]
fn hungarian_edge_cases_and_errors() {
    assert_eq!(hungarian(&[], 0), Ok(Assignment { columns: vec![], total: 0.0 }));
    assert_eq!(hungarian(&[3.5], 1), Ok(Assignment { columns: vec![0], total: 3.5 }));
    // Anti-diagonal is optimal.
    let a = hungarian(&[10.0, 1.0, 1.0, 10.0], 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.columns, vec![1, 0]);
    assert!(matches!(hungarian(&[1.0, 2.0, 3.0], 2), Err(MetricsError::CostShape { .. })));
    assert!(matches!(hungarian_rectangular(&[1.0; 6], 3, 2), Err(MetricsError::CostShape { .. })));
    assert!(matches!(hungarian(&[1.0, f64::NAN, 0.0, 1.0], 2), Err(MetricsError::NonFinite { .. })));
    let message = hungarian(&[1.0, 2.0, 3.0], 2).map_err(|e| e.to_string());
    assert_eq!(message, Err("a cost matrix of 2 x 2 (rows <= cols) needs 4 entries; got 3".to_string()));
}

fn normal_points(rng: &mut SeedStream, n: usize, d: usize) -> Vec<f64> {
    (0..n * d).map(|_| rng.normal_f64()).collect()
}

#[test]
fn exact_wasserstein_of_a_shift_is_its_length() {
    let mut rng = SeedStream::new(3, "w-shift");
    let d = 3;
    let v = [0.7, -1.1, 0.4];
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let a = normal_points(&mut rng, 150, d);
    let b: Vec<f64> = a.iter().enumerate().map(|(k, x)| x + v[k % d]).collect();
    for p in [1.0, 2.0] {
        let ot = wasserstein_exact(&a, &b, d, p).unwrap_or_else(|e| panic!("{e}"));
        assert!((ot.distance - norm).abs() < 1e-9, "p {p}: {} vs {norm}", ot.distance);
        assert_eq!(ot.assignment.len(), 150);
    }
    // Against itself: zero, identity matching.
    let ot = wasserstein_exact(&a, &a, d, 2.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ot.distance, 0.0);
    assert_eq!(ot.assignment, (0..150).collect::<Vec<_>>());
    // Permuting b does not change the distance.
    let perm = rng.permutation(150);
    let shuffled: Vec<f64> = perm.iter().flat_map(|&i| b[i * d..(i + 1) * d].to_vec()).collect();
    let ot = wasserstein_exact(&a, &shuffled, d, 2.0).unwrap_or_else(|e| panic!("{e}"));
    assert!((ot.distance - norm).abs() < 1e-9);
    for (i, &j) in ot.assignment.iter().enumerate() {
        assert_eq!(perm[j], i);
    }
}

#[test]
fn exact_matches_one_dimensional_formula() {
    let mut rng = SeedStream::new(4, "w-1d");
    for p in [1.0, 2.0, 3.0] {
        let a = normal_points(&mut rng, 80, 1);
        let b: Vec<f64> = (0..80).map(|_| rng.uniform_range(-1.0, 2.0).unwrap_or(0.0)).collect();
        let exact = wasserstein_exact(&a, &b, 1, p).unwrap_or_else(|e| panic!("{e}")).distance;
        let sorted = wasserstein_1d(&a, &b, p).unwrap_or_else(|e| panic!("{e}"));
        assert!((exact - sorted).abs() < 1e-12 * sorted.max(1.0), "p {p}: {exact} vs {sorted}");
    }
}

#[test]
fn exact_wasserstein_errors() {
    let a = [0.0, 1.0, 2.0, 3.0];
    assert!(matches!(wasserstein_exact(&a, &a[..2], 2, 2.0), Err(MetricsError::SizeMismatch { .. })));
    assert!(matches!(wasserstein_exact(&a, &a, 3, 2.0), Err(MetricsError::Ragged { .. })));
    assert!(matches!(wasserstein_exact(&a, &a, 0, 2.0), Err(MetricsError::ZeroDimension)));
    assert!(matches!(wasserstein_exact(&a, &a, 2, 0.5), Err(MetricsError::InvalidOrder { .. })));
    assert!(matches!(wasserstein_exact(&[], &[], 2, 2.0), Err(MetricsError::TooFew { .. })));
    assert!(matches!(
        wasserstein_exact(&[f64::INFINITY, 0.0], &a[..2], 2, 2.0),
        Err(MetricsError::NonFinite { .. })
    ));
}

/// No swap of two rows' columns lowers the total (a necessary condition
/// for optimality that is cheap to check at sizes brute force cannot).
fn assert_two_opt(cost: &[f64], n: usize, a: &Assignment) {
    let c = &a.columns;
    for i in 0..n {
        for k in i + 1..n {
            let now = cost[i * n + c[i]] + cost[k * n + c[k]];
            let swapped = cost[i * n + c[k]] + cost[k * n + c[i]];
            assert!(swapped >= now - 1e-9, "swapping rows {i} and {k} improves");
        }
    }
}

#[test]
fn hungarian_timing() {
    // n = 2000 only in optimised builds (debug is ~30x slower).
    let sizes: &[usize] = if cfg!(debug_assertions) { &[200] } else { &[500, 1000, 2000] };
    let d = 2;
    for &n in sizes {
        let mut rng = SeedStream::new(n as u64, "hungarian-timing");
        let a = normal_points(&mut rng, n, d);
        let b: Vec<f64> = normal_points(&mut rng, n, d).iter().map(|x| 0.5 * x + 1.0).collect();
        let mut cost = Vec::with_capacity(n * n);
        for x in a.chunks_exact(d) {
            for y in b.chunks_exact(d) {
                cost.push((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2));
            }
        }
        let start = Instant::now();
        let result = hungarian(&cost, n).unwrap_or_else(|e| panic!("{e}"));
        let secs = start.elapsed().as_secs_f64();
        check_assignment(&result, &cost, n, n);
        let identity: f64 = (0..n).map(|i| cost[i * n + i]).sum();
        assert!(result.total <= identity);
        if n <= 1000 {
            assert_two_opt(&cost, n, &result);
        }
        eprintln!(
            "hungarian n = {n}: {secs:.3} s ({} build), W2^2 = {:.5}",
            if cfg!(debug_assertions) { "debug" } else { "release" },
            result.total / n as f64
        );
    }
}
