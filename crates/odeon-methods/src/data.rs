//! Toy distributions shared by several notebooks.

use odeon_tensor::{SeedStream, Tensor};

use crate::MethodError;

/// A mixture of `modes` equally weighted isotropic Gaussians with centres
/// evenly spaced on a circle (the "8 Gaussians" toy when `modes = 8`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingMixture {
    /// Number of modes.
    pub modes: usize,
    /// Radius of the circle of centres.
    pub radius: f32,
    /// Standard deviation of each mode.
    pub std: f32,
}

impl RingMixture {
    /// The standard 8-Gaussians target.
    pub fn eight_gaussians() -> Self {
        Self { modes: 8, radius: 4.0, std: 0.3 }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), MethodError> {
        if self.modes == 0 || !(self.radius.is_finite() && self.std.is_finite()) || self.std < 0.0 {
            return Err(MethodError::Config(format!(
                "a ring mixture needs at least one mode and a finite, non-negative radius and std; got {self:?}"
            )));
        }
        Ok(())
    }

    /// Centre of mode `k`.
    pub fn centre(&self, k: usize) -> [f32; 2] {
        let angle = 2.0 * std::f32::consts::PI * k as f32 / self.modes as f32;
        [self.radius * libm_cos(angle), self.radius * libm_sin(angle)]
    }

    /// `n` samples as an `[n, 2]` tensor.
    pub fn sample(&self, n: usize, rng: &mut SeedStream) -> Result<Tensor, MethodError> {
        self.validate()?;
        let mut data = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let [cx, cy] = self.centre(rng.below(self.modes));
            data.push(cx + self.std * rng.normal());
            data.push(cy + self.std * rng.normal());
        }
        Ok(Tensor::from_shape_vec(&[n, 2], data)?)
    }

    /// Exact log-density at each row of `x` (`[n, 2]`), in f64 (log-sum-exp
    /// over the modes, so far-away points give large negative values, not -inf).
    pub fn log_density(&self, x: &Tensor) -> Result<Vec<f64>, MethodError> {
        self.validate()?;
        if x.shape().len() != 2 || x.shape()[1] != 2 {
            return Err(MethodError::Config(format!("log_density needs points of shape [n, 2]; got {:?}", x.shape())));
        }
        let var = f64::from(self.std).powi(2).max(1e-300);
        let log_norm = -(2.0 * std::f64::consts::PI * var).ln() - (self.modes as f64).ln();
        Ok(x.to_f32_vec()?
            .chunks(2)
            .map(|p| {
                let terms: Vec<f64> = (0..self.modes)
                    .map(|k| {
                        let [cx, cy] = self.centre(k);
                        let d2 = (f64::from(p[0]) - f64::from(cx)).powi(2) + (f64::from(p[1]) - f64::from(cy)).powi(2);
                        -0.5 * d2 / var
                    })
                    .collect();
                let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                log_norm + top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
            })
            .collect())
    }

    /// Index of the nearest mode centre for each row of `x` (`[n, 2]`).
    pub fn nearest_mode(&self, x: &Tensor) -> Result<Vec<usize>, MethodError> {
        Ok(x.to_f32_vec()?
            .chunks(2)
            .map(|p| {
                (0..self.modes)
                    .map(|k| {
                        let [cx, cy] = self.centre(k);
                        (k, (p[0] - cx).powi(2) + (p[1] - cy).powi(2))
                    })
                    .fold((0, f32::INFINITY), |best, cur| if cur.1 < best.1 { cur } else { best })
                    .0
            })
            .collect())
    }
}

fn libm_cos(x: f32) -> f32 {
    odeon_tensor::UnaryOp::Cos.eval(x)
}

fn libm_sin(x: f32) -> f32 {
    odeon_tensor::UnaryOp::Sin.eval(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The density integrates to one (midpoint rule on a fine grid) and
    /// peaks at the mode centres.
    #[test]
    fn log_density_is_a_normalised_density() {
        let target = RingMixture { modes: 3, radius: 2.0, std: 0.5 };
        let (n, half) = (400usize, 5.0f32);
        let h = 2.0 * half / n as f32;
        let mut pts = Vec::with_capacity(2 * n * n);
        for j in 0..n {
            for i in 0..n {
                pts.push(-half + h * (i as f32 + 0.5));
                pts.push(-half + h * (j as f32 + 0.5));
            }
        }
        let grid = Tensor::from_shape_vec(&[n * n, 2], pts).expect("grid");
        let mass: f64 = target.log_density(&grid).expect("density").iter().map(|l| l.exp()).sum::<f64>() * f64::from(h).powi(2);
        assert!((mass - 1.0).abs() < 1e-4, "mass {mass}");
        let [cx, cy] = target.centre(1);
        let at = |x: f32, y: f32| target.log_density(&Tensor::from_shape_vec(&[1, 2], vec![x, y]).expect("pt")).expect("density")[0];
        assert!(at(cx, cy) > at(cx + 0.3, cy) && at(cx, cy) > at(0.0, 0.0));
        assert!(target.log_density(&Tensor::zeros(&[2, 3])).is_err());
    }
}
