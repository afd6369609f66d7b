//! Sample-quality metrics (these move to `odeon-solve` with the solvers issue).

use odeon_tensor::{SeedStream, Tensor};

use crate::MethodError;

/// Sliced 2-Wasserstein distance between two equally sized point sets in
/// `[n, d]`: the root mean, over `projections` random unit directions, of the
/// squared 1-D W2 between the projected (sorted) samples.
pub fn sliced_w2(a: &Tensor, b: &Tensor, projections: usize, rng: &mut SeedStream) -> Result<f32, MethodError> {
    if a.shape().len() != 2 || a.shape() != b.shape() || a.shape()[0] == 0 {
        return Err(MethodError::Config(format!(
            "sliced W2 needs two non-empty point sets of the same shape [n, d]; got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let d = a.shape()[1];
    let (va, vb) = (a.to_f32_vec()?, b.to_f32_vec()?);
    let mut total = 0.0f64;
    for _ in 0..projections.max(1) {
        let mut dir: Vec<f32> = (0..d).map(|_| rng.normal()).collect();
        let norm = dir.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        dir.iter_mut().for_each(|x| *x /= norm);
        let project = |v: &[f32]| {
            let mut p: Vec<f32> = v.chunks(d).map(|row| row.iter().zip(&dir).map(|(x, u)| x * u).sum()).collect();
            p.sort_by(f32::total_cmp);
            p
        };
        let (pa, pb) = (project(&va), project(&vb));
        let sq: f64 = pa.iter().zip(&pb).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        total += sq / pa.len() as f64;
    }
    Ok((total / projections.max(1) as f64).sqrt() as f32)
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
        assert!(sliced_w2(&a, &Tensor::zeros(&[3, 2]), 10, &mut rng).is_err());
    }
}
