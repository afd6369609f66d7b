//! Optimisers: each takes parameters and their gradients in the same order
//! and updates the parameters in place. [`Optimizer`] is the first-order
//! interface; curvature methods (K-FAC, which also needs layer statistics)
//! and line-search methods (L-BFGS, which re-evaluates the loss) get their own
//! traits beside it when they arrive, sharing [`Schedule`] and
//! [`clip_grad_norm`].

use odeon_tensor::{AdamScalars, Backend, Tensor, UnaryOp};

use crate::NnError;

/// A first-order optimiser.
pub trait Optimizer<B: Backend> {
    /// One update of `params` from `grads`.
    fn step(&mut self, params: &mut [Tensor<B>], grads: &[Tensor<B>]) -> Result<(), NnError>;
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedules call this every step).
    fn set_lr(&mut self, lr: f64);
}

fn check_pairs<B: Backend>(params: &[Tensor<B>], grads: &[Tensor<B>]) -> Result<(), NnError> {
    if params.len() != grads.len() {
        return Err(NnError::Config(format!("{} parameters but {} gradients", params.len(), grads.len())));
    }
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        if p.shape() != g.shape() {
            return Err(NnError::Config(format!("parameter {i} has shape {:?} but its gradient has shape {:?}", p.shape(), g.shape())));
        }
    }
    Ok(())
}

/// Stochastic gradient descent with optional (Nesterov) momentum and L2
/// weight decay.
#[derive(Debug, Clone)]
pub struct Sgd<B: Backend> {
    /// Step size.
    pub lr: f64,
    /// Momentum coefficient (0 for plain SGD).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    velocity: Vec<Tensor<B>>,
}

impl<B: Backend> Sgd<B> {
    /// SGD with the given step size and momentum.
    pub fn new(lr: f64, momentum: f64) -> Self {
        Sgd { lr, momentum, nesterov: false, weight_decay: 0.0, velocity: Vec::new() }
    }
}

impl<B: Backend> Optimizer<B> for Sgd<B> {
    fn step(&mut self, params: &mut [Tensor<B>], grads: &[Tensor<B>]) -> Result<(), NnError> {
        check_pairs(params, grads)?;
        if self.velocity.len() != params.len() {
            self.velocity = params.iter().map(Tensor::zeros_like).collect::<Result<_, _>>()?;
        }
        for ((p, g), v) in params.iter_mut().zip(grads).zip(&mut self.velocity) {
            let mut d = if self.weight_decay != 0.0 { g.add(&p.scale(self.weight_decay)?)? } else { g.clone() };
            if self.momentum != 0.0 {
                *v = v.scale(self.momentum)?.add(&d)?;
                d = if self.nesterov { d.add(&v.scale(self.momentum)?)? } else { v.clone() };
            }
            *p = p.sub(&d.scale(self.lr)?)?;
        }
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

/// Adam's hyper-parameters (Kingma & Ba, 2015); `weight_decay` with
/// `decoupled = true` is AdamW (Loshchilov & Hutter, 2019), with `false` an
/// L2 penalty added to the gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Step size.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Decoupled weight decay (AdamW).
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }
}

impl AdamConfig {
    /// AdamW with the given step size and weight decay.
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Self { lr, weight_decay, decoupled: true, ..Self::default() }
    }
}

/// Adam / AdamW with bias correction.
#[derive(Debug, Clone)]
pub struct Adam<B: Backend> {
    /// Settings (the learning rate changes with schedules).
    pub config: AdamConfig,
    m: Vec<Tensor<B>>,
    v: Vec<Tensor<B>>,
    t: i32,
}

impl<B: Backend> Adam<B> {
    /// A fresh optimiser (moments start at zero on the first step).
    pub fn new(config: AdamConfig) -> Self {
        Adam { config, m: Vec::new(), v: Vec::new(), t: 0 }
    }

    /// Steps taken.
    pub fn steps(&self) -> i32 {
        self.t
    }
}

impl<B: Backend> Optimizer<B> for Adam<B> {
    fn step(&mut self, params: &mut [Tensor<B>], grads: &[Tensor<B>]) -> Result<(), NnError> {
        check_pairs(params, grads)?;
        if self.m.len() != params.len() {
            self.m = params.iter().map(Tensor::zeros_like).collect::<Result<_, _>>()?;
            self.v = self.m.clone();
            self.t = 0;
        }
        self.t += 1;
        let AdamConfig { lr, beta1, beta2, eps, weight_decay, decoupled } = self.config;
        let c1 = 1.0 - beta1.powi(self.t);
        let c2 = 1.0 - beta2.powi(self.t);
        let scalars = AdamScalars {
            step: lr / c1,
            v_correction: 1.0 / c2,
            beta1,
            beta2,
            eps,
            decay: if decoupled { 1.0 - lr * weight_decay } else { 1.0 },
        };
        for ((p, g), (m, v)) in params.iter_mut().zip(grads).zip(self.m.iter_mut().zip(self.v.iter_mut())) {
            let g = if weight_decay != 0.0 && !decoupled { g.add(&p.scale(weight_decay)?)? } else { g.clone() };
            let (p_new, m_new, v_new) = p.adam_update(&g, m, v, scalars)?;
            (*p, *m, *v) = (p_new, m_new, v_new);
        }
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.config.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}

/// A learning-rate schedule: the rate at step `t` (0-based) from a base rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Cosine decay from the base rate to `final_fraction` of it over `total` steps.
    Cosine {
        /// Steps of the decay.
        total: usize,
        /// Final rate as a fraction of the base rate.
        final_fraction: f64,
    },
    /// Linear warm-up over `warmup` steps, then cosine decay to `final_fraction`.
    WarmupCosine {
        /// Warm-up steps.
        warmup: usize,
        /// Total steps.
        total: usize,
        /// Final rate as a fraction of the base rate.
        final_fraction: f64,
    },
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Period.
        every: usize,
        /// Factor.
        gamma: f64,
    },
}

impl Schedule {
    /// The learning rate at step `t`.
    pub fn lr_at(&self, base: f64, t: usize) -> f64 {
        let cosine = |progress: f64, floor: f64| floor + (1.0 - floor) * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress.clamp(0.0, 1.0)));
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine { total, final_fraction } => base * cosine(t as f64 / total.max(1) as f64, final_fraction),
            Schedule::WarmupCosine { warmup, total, final_fraction } => {
                if t < warmup {
                    base * (t + 1) as f64 / warmup as f64
                } else {
                    base * cosine((t - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64, final_fraction)
                }
            }
            Schedule::Step { every, gamma } => base * gamma.powi(i32::try_from(t / every.max(1)).unwrap_or(i32::MAX)),
        }
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`;
/// returns the norm before clipping.
pub fn clip_grad_norm<B: Backend>(grads: &mut [Tensor<B>], max_norm: f64) -> Result<f64, NnError> {
    let mut total = 0.0;
    for g in grads.iter() {
        total += g.unary(UnaryOp::Square)?.sum_all()?.item()?;
    }
    let norm = total.sqrt();
    if norm > max_norm && norm.is_finite() {
        let factor = max_norm / (norm + 1e-12);
        for g in grads.iter_mut() {
            *g = g.scale(factor)?;
        }
    }
    Ok(norm)
}
