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
