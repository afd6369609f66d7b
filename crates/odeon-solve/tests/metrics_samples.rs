//! Sliced Wasserstein, MMD, KS tests and log-log fits.
#![cfg(feature = "metrics")]

use odeon_solve::metrics::*;
use odeon_solve::special::{normal_cdf, regularized_incomplete_beta};
use odeon_tensor::SeedStream;

fn normal_points(rng: &mut SeedStream, n: usize, d: usize) -> Vec<f64> {
    (0..n * d).map(|_| rng.normal_f64()).collect()
}

fn ok<T>(r: Result<T, MetricsError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn sliced_w2_of_a_shift_is_length_over_sqrt_d() {
    let mut rng = SeedStream::new(1, "sw-shift");
    let d = 4;
    let v = [1.0, 2.0, -1.0, 0.5];
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let a = normal_points(&mut rng, 300, d);
    let b: Vec<f64> = a.iter().enumerate().map(|(k, x)| x + v[k % d]).collect();
    let mut dirs = SeedStream::new(2, "sw-directions");
    let sw = ok(sliced_wasserstein(&a, &b, d, 4000, 2.0, &mut dirs));
    // Per direction W2 = |theta . v| exactly; E (theta . v)^2 = |v|^2 / d.
    let want = norm / (d as f64).sqrt();
    assert!((sw - want).abs() < 0.03 * want, "{sw} vs {want}");
    // Identical sets: exactly 0; deterministic for a given stream.
    assert_eq!(ok(sliced_wasserstein(&a, &a, d, 10, 2.0, &mut dirs)), 0.0);
    let x = ok(sliced_wasserstein(&a, &b, d, 50, 1.0, &mut SeedStream::new(7, "sw")));
    let y = ok(sliced_wasserstein(&a, &b, d, 50, 1.0, &mut SeedStream::new(7, "sw")));
    assert_eq!(x.to_bits(), y.to_bits());
    // Unequal sizes: a set against itself duplicated is at distance 0.
    let doubled: Vec<f64> = a.iter().chain(&a).copied().collect();
    assert!(ok(sliced_wasserstein(&a, &doubled, d, 20, 2.0, &mut dirs)) < 1e-12);
    // Errors.
    assert!(matches!(sliced_wasserstein(&a, &b, d, 0, 2.0, &mut dirs), Err(MetricsError::NoProjections)));
    assert!(matches!(sliced_wasserstein(&a, &b[..5], d, 5, 2.0, &mut dirs), Err(MetricsError::Ragged { .. })));
    assert!(matches!(sliced_wasserstein(&a, &b, d, 5, f64::NAN, &mut dirs), Err(MetricsError::InvalidOrder { .. })));
}

#[test]
fn one_dimensional_wasserstein_unequal_sizes() {
    // {0} vs {0, 1}: half the mass moves by 1.
    assert_eq!(ok(wasserstein_1d(&[0.0], &[0.0, 1.0], 1.0)), 0.5);
    assert!((ok(wasserstein_1d(&[0.0], &[0.0, 1.0], 2.0)) - 0.5f64.sqrt()).abs() < 1e-15);
    // {0, 1, 2} vs {0.5, 1.5}: quantile pieces of length 1/3, 1/6, 1/6, 1/3
    // pair (0, .5), (1, .5), (1, 1.5), (2, 1.5): W1 = 1/2.
    assert!((ok(wasserstein_1d(&[2.0, 0.0, 1.0], &[1.5, 0.5], 1.0)) - 0.5).abs() < 1e-15);
    assert!(wasserstein_1d(&[], &[1.0], 1.0).is_err());
}

#[test]
fn mmd_identical_same_and_different_distributions() {
    let mut rng = SeedStream::new(3, "mmd");
    let d = 2;
    let a = normal_points(&mut rng, 400, d);
    let b = normal_points(&mut rng, 300, d);
    let c: Vec<f64> = normal_points(&mut rng, 300, d).iter().map(|x| x + 1.0).collect();
    let bandwidth = ok(median_bandwidth(&a, &b, d));
    // Median distance between 2-D standard normals: sqrt(2 * 2 ln 2) = 1.665.
    assert!((bandwidth - 1.665).abs() < 0.1, "{bandwidth}");
    let kernel = Kernel::Gaussian { bandwidth };
    let biased_self = ok(mmd2(&a, &a, d, kernel, MmdEstimator::Biased));
    assert!(biased_self.abs() < 1e-12, "{biased_self}");
    let same_u = ok(mmd2(&a, &b, d, kernel, MmdEstimator::Unbiased));
    let same_b = ok(mmd2(&a, &b, d, kernel, MmdEstimator::Biased));
    let diff_u = ok(mmd2(&a, &c, d, kernel, MmdEstimator::Unbiased));
    assert!(same_u.abs() < 0.01, "same distribution: {same_u}");
    assert!(same_b > 0.0 && same_b < 0.02, "same distribution (biased): {same_b}");
    assert!(diff_u > 0.1, "shifted distribution: {diff_u}");
    // Against a direct evaluation on tiny sets.
    let x = [0.0, 1.0, 2.0];
    let y = [0.5, 3.0];
    let k = |p: f64, q: f64| (-(p - q) * (p - q) / 2.0).exp();
    let kxx = 2.0 * (k(0.0, 1.0) + k(0.0, 2.0) + k(1.0, 2.0));
    let kyy = 2.0 * k(0.5, 3.0);
    let kxy: f64 = x.iter().flat_map(|&p| y.iter().map(move |&q| k(p, q))).sum();
    let unbiased = kxx / 6.0 + kyy / 2.0 - 2.0 * kxy / 6.0;
    let biased = (kxx + 3.0) / 9.0 + (kyy + 2.0) / 4.0 - 2.0 * kxy / 6.0;
    let unit = Kernel::Gaussian { bandwidth: 1.0 };
    assert!((ok(mmd2(&x, &y, 1, unit, MmdEstimator::Unbiased)) - unbiased).abs() < 1e-14);
    assert!((ok(mmd2(&x, &y, 1, unit, MmdEstimator::Biased)) - biased).abs() < 1e-14);
    // Errors.
    assert!(matches!(
        mmd2(&x, &y[..1], 1, unit, MmdEstimator::Unbiased),
        Err(MetricsError::TooFew { needed: 2, got: 1, .. })
    ));
    assert!(matches!(
        mmd2(&x, &y, 1, Kernel::Gaussian { bandwidth: 0.0 }, MmdEstimator::Biased),
        Err(MetricsError::InvalidBandwidth { .. })
    ));
    assert!(matches!(median_bandwidth(&[1.0, 1.0], &[1.0], 1), Err(MetricsError::InvalidBandwidth { .. })));
}

#[test]
fn kolmogorov_distribution_values() {
    // Classic critical values: P(K > 1.358) = 0.05, P(K > 1.628) = 0.01.
    assert!((kolmogorov_survival(1.3581) - 0.05).abs() < 2e-4);
    assert!((kolmogorov_survival(1.6276) - 0.01).abs() < 1e-4);
    assert!((kolmogorov_survival(0.5) - 0.963_945).abs() < 1e-5);
    assert_eq!(kolmogorov_survival(0.0), 1.0);
    assert_eq!(kolmogorov_survival(0.05), 1.0);
    assert!(kolmogorov_survival(10.0) < 1e-80);
    // The two series agree where they switch.
    let below = kolmogorov_survival(1.18 - 1e-12);
    let above = kolmogorov_survival(1.18);
    assert!((below - above).abs() < 1e-12, "{below} vs {above}");
}

#[test]
fn ks_uniform_passes_and_shift_fails() {
    let mut p_values = Vec::new();
    for seed in 0..200 {
        let mut rng = SeedStream::new(seed, "ks-uniform");
        let xs: Vec<f64> = (0..500).map(|_| rng.uniform_f64()).collect();
        let r = ok(ks_test(&xs, |x| x.clamp(0.0, 1.0)));
        assert!(r.p_value > 1e-4, "seed {seed}: {r:?}");
        p_values.push(r.p_value);
    }
    // Under the null the p-values are ~uniform: mean 1/2 (se 0.02).
    let mean = p_values.iter().sum::<f64>() / p_values.len() as f64;
    assert!((mean - 0.5).abs() < 0.1, "mean p {mean}");
    let mut rng = SeedStream::new(9, "ks-shift");
    let shifted: Vec<f64> = (0..500).map(|_| 0.1 + rng.uniform_f64()).collect();
    let r = ok(ks_test(&shifted, |x| x.clamp(0.0, 1.0)));
    assert!(r.p_value < 1e-3, "{r:?}");
    assert!(r.statistic > 0.08 && r.statistic < 0.2, "{r:?}");
    // Normal and Beta models through the special functions.
    let normals = normal_points(&mut rng, 1000, 1);
    assert!(ok(ks_test(&normals, normal_cdf)).p_value > 1e-3);
    let betas: Vec<f64> = (0..1000).map(|_| rng.beta(2.0, 5.0).unwrap_or(f64::NAN)).collect();
    let r = ok(ks_test(&betas, |x| regularized_incomplete_beta(2.0, 5.0, x).unwrap_or(f64::NAN)));
    assert!(r.p_value > 1e-3, "{r:?}");
    let r = ok(ks_test(&betas, |x| regularized_incomplete_beta(2.0, 4.0, x).unwrap_or(f64::NAN)));
    assert!(r.p_value < 1e-3, "wrong model accepted: {r:?}");
    // A single point: D = max(F, 1 - F).
    assert_eq!(ok(ks_test(&[0.25], |x| x)).statistic, 0.75);
    // Errors.
    assert!(matches!(ks_test(&[0.5], |_| 1.5), Err(MetricsError::InvalidCdf { .. })));
    assert!(matches!(ks_test(&[0.5], |_| f64::NAN), Err(MetricsError::InvalidCdf { .. })));
    assert!(matches!(ks_test(&[], |x| x), Err(MetricsError::TooFew { .. })));
    assert!(matches!(ks_test(&[f64::NAN], |x| x), Err(MetricsError::NonFinite { .. })));
}

#[test]
fn ks_two_sample_same_and_different() {
    let mut rng = SeedStream::new(11, "ks2");
    let a = normal_points(&mut rng, 800, 1);
    let b = normal_points(&mut rng, 600, 1);
    let c: Vec<f64> = normal_points(&mut rng, 600, 1).iter().map(|x| 0.3 + x).collect();
    assert!(ok(ks_two_sample(&a, &b)).p_value > 1e-3);
    assert!(ok(ks_two_sample(&a, &c)).p_value < 1e-3);
    let r = ok(ks_two_sample(&a, &a));
    assert_eq!(r.statistic, 0.0);
    assert_eq!(r.p_value, 1.0);
    // Ties across samples step together: D = 1/2 here, not 1.
    assert_eq!(ok(ks_two_sample(&[1.0, 2.0], &[1.0, 1.0])).statistic, 0.5);
    assert_eq!(ok(ks_two_sample(&[0.0, 1.0], &[2.0, 3.0])).statistic, 1.0);
}

#[test]
fn loglog_slope_recovers_power_laws() {
    for &(c, k) in &[(3.0, 2.0), (0.5, -1.0), (1e-3, 4.0), (7.0, 0.5)] {
        let xs: Vec<f64> = (1..=8).map(|i| 2f64.powi(-i)).collect();
        let ys: Vec<f64> = xs.iter().map(|x: &f64| c * x.powf(k)).collect();
        let fit = ok(loglog_slope(&xs, &ys));
        assert!((fit.slope - k).abs() < 1e-12, "{fit:?}");
        assert!((fit.intercept - f64::ln(c)).abs() < 1e-11, "{fit:?}");
        assert!((fit.r2 - 1.0).abs() < 1e-12);
    }
    let fit = ok(linear_fit(&[0.0, 1.0, 2.0, 3.0], &[1.0, 3.1, 4.9, 7.0]));
    assert!((fit.slope - 1.98).abs() < 1e-12 && fit.r2 < 1.0 && fit.r2 > 0.99);
    assert_eq!(ok(linear_fit(&[0.0, 1.0], &[2.0, 2.0])).r2, 1.0);
    assert!(matches!(loglog_slope(&[1.0, 0.0], &[1.0, 2.0]), Err(MetricsError::NotPositive { which: "xs", index: 1, .. })));
    assert!(matches!(loglog_slope(&[1.0, 2.0], &[1.0, -2.0]), Err(MetricsError::NotPositive { which: "ys", .. })));
    assert!(matches!(loglog_slope(&[1.0, 1.0], &[1.0, 2.0]), Err(MetricsError::DegenerateFit { count: 2 })));
    assert!(matches!(loglog_slope(&[1.0], &[1.0]), Err(MetricsError::TooFew { .. })));
    assert!(matches!(loglog_slope(&[1.0, 2.0], &[1.0]), Err(MetricsError::SizeMismatch { .. })));
    assert_eq!(
        loglog_slope(&[1.0, 0.0], &[1.0, 2.0]).map_err(|e| e.to_string()),
        Err("a log-log fit needs positive values; xs[1] is 0".to_string())
    );
}
