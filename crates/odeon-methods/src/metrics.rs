//! Sample-quality metrics on tensors, over `odeon_solve::metrics`.

use odeon_tensor::{SeedStream, Tensor};

use crate::MethodError;

/// Sliced 2-Wasserstein distance between two point sets in `[n, d]`
/// (see `odeon_solve::metrics::sliced_wasserstein`).
pub fn sliced_w2(a: &Tensor, b: &Tensor, projections: usize, rng: &mut SeedStream) -> Result<f32, MethodError> {
    if a.shape().len() != 2 || b.shape().len() != 2 || a.shape()[1] != b.shape()[1] {
        return Err(MethodError::Config(format!(
            "sliced W2 needs two point sets of shape [n, d] with the same d; got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let d = a.shape()[1];
    let sw = odeon_solve::metrics::sliced_wasserstein(&a.to_f64_vec()?, &b.to_f64_vec()?, d, projections, 2.0, rng)?;
    Ok(sw as f32)
}

/// The catalogue's "at the level of a fresh target draw" test, with its
/// noise averaged out: the sliced W2 of `samples` against `pairs` fresh
/// reference draws of the target, and of `pairs` other fresh draws of the
/// same size against the same references (the floor), each the mean over
/// the pairs, with the same projections throughout. One pair alone makes a
/// noisy floor: with 8 modes of about 500 points, the mode counts of two
/// draws differ by tens of points, and the floor's spread (0.11 to 0.32 in
/// one measurement) is as large as the effect being tested.
/// `draw(n)` draws `n` target points. Returns `(model, floor)`.
pub fn sliced_w2_with_floor(
    samples: &Tensor,
    draw: &mut dyn FnMut(usize) -> Result<Tensor, MethodError>,
    pairs: usize,
    projection_seed: u64,
) -> Result<(f32, f32), MethodError> {
    let n = samples.shape().first().copied().unwrap_or(0);
    if pairs == 0 || n == 0 {
        return Err(MethodError::Config("the fresh-draw comparison needs samples and at least one pair".into()));
    }
    let (mut model, mut floor) = (0.0f32, 0.0f32);
    for _ in 0..pairs {
        let reference = draw(n)?;
        let fresh = draw(n)?;
        model += sliced_w2(samples, &reference, 128, &mut SeedStream::new(projection_seed, "metric/sliced-w2"))?;
        floor += sliced_w2(&fresh, &reference, 128, &mut SeedStream::new(projection_seed, "metric/sliced-w2"))?;
    }
    Ok((model / pairs as f32, floor / pairs as f32))
}

/// Cosine of the angle between two vectors (0 when either is zero): how
/// well two gradients agree in direction.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb).max(f64::MIN_POSITIVE) }
}

/// `|a - b| / |b|` in Euclidean norms (`|a - b|` when `b` is zero): how
/// far a gradient is from a reference one.
pub fn relative_difference(a: &[f64], b: &[f64]) -> f64 {
    let diff = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    let nb = norm(b);
    if nb == 0.0 { diff } else { diff / nb }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_relative_difference_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5_f64.sqrt()).abs() < 1e-15);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert!((cosine(&[2.0, 1.0], &[-2.0, -1.0]) + 1.0).abs() < 1e-15);
        assert!((relative_difference(&[3.0, 4.0], &[0.0, 8.0]) - 5.0 / 8.0).abs() < 1e-15);
        assert_eq!(relative_difference(&[3.0, 4.0], &[0.0, 0.0]), 5.0);
    }

    #[test]
    fn sliced_w2_of_a_shift_is_the_projected_shift() {
        let mut rng = SeedStream::new(0, "sw");
        let a = rng.normal_tensor(&[500, 2]);
        let b = a.add_scalar(1.0).expect("shift");
        // Shift (1,1) projected on u has length |u1+u2|; E[(u1+u2)^2] = 1 for unit u in 2-D.
        let sw = sliced_w2(&a, &b, 2000, &mut rng).expect("same shape");
        assert!((sw - 1.0).abs() < 0.05, "{sw}");
        assert!(sliced_w2(&a, &a, 10, &mut rng).expect("same shape") < 1e-6);
        assert!(sliced_w2(&a, &Tensor::zeros(&[3, 3]), 10, &mut rng).is_err());
    }

    #[test]
    fn the_floor_is_a_fresh_draw_and_a_shift_is_far_above_it() {
        let target = crate::data::RingMixture::eight_gaussians();
        let mut rng = SeedStream::new(3, "test/floor");
        let own = target.sample(1000, &mut rng).expect("draw");
        let mut draw = |n: usize| target.sample(n, &mut rng);
        let (model, floor) = sliced_w2_with_floor(&own, &mut draw, 4, 1).expect("metric");
        assert!(model < 1.5 * floor && floor > 0.0, "a draw of the target itself: {model} vs floor {floor}");
        let shifted = own.add_scalar(0.5).expect("shift");
        let (far, floor) = sliced_w2_with_floor(&shifted, &mut draw, 4, 1).expect("metric");
        assert!(far > 2.0 * floor, "a shifted draw: {far} vs floor {floor}");
        assert!(sliced_w2_with_floor(&own, &mut draw, 0, 1).is_err());
    }
}
