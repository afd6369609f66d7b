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

#[cfg(test)]
mod tests {
    use super::*;

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
}
