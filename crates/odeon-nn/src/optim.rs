//! Optimisers. Each takes parameters and their gradients in the same order.

use odeon_tensor::Tensor;

use crate::NnError;

/// Adam's hyper-parameters (Kingma & Ba, 2015).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Step size.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator guard.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

/// Adam with bias correction.
#[derive(Debug, Clone)]
pub struct Adam {
    config: AdamConfig,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl Adam {
    /// A fresh optimiser (moments start at zero on the first step).
    pub fn new(config: AdamConfig) -> Self {
        Self { config, m: Vec::new(), v: Vec::new(), t: 0 }
    }

    /// Changes the learning rate (for schedules).
    pub fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    /// One update of `params` in place.
    pub fn step(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<(), NnError> {
        if params.len() != grads.len() {
            return Err(NnError::Config(format!(
                "{} parameters but {} gradients",
                params.len(),
                grads.len()
            )));
        }
        if self.m.is_empty() {
            self.m = params.iter().map(|p| vec![0.0; p.len()]).collect();
            self.v = self.m.clone();
        }
        self.t += 1;
        let AdamConfig { lr, beta1, beta2, eps } = self.config;
        let c1 = 1.0 - beta1.powi(self.t);
        let c2 = 1.0 - beta2.powi(self.t);
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            if p.shape() != g.shape() || self.m[i].len() != p.len() {
                return Err(NnError::Config(format!(
                    "parameter {i} has shape {:?} but its gradient has shape {:?}",
                    p.shape(),
                    g.shape()
                )));
            }
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            let g = g.to_vec();
            let mut data = p.to_vec();
            for j in 0..data.len() {
                m[j] = beta1 * m[j] + (1.0 - beta1) * g[j];
                v[j] = beta2 * v[j] + (1.0 - beta2) * g[j] * g[j];
                data[j] -= lr * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
            }
            *p = Tensor::from_shape_vec(p.shape(), data)?;
        }
        Ok(())
    }
}
