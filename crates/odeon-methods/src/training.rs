//! The Adam loop the methods' trainers share: config checks, the cosine
//! learning-rate decay, the divergence check, the update and the monitor.
//! Each method only builds its batch and its loss.

use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_nn::{Adam, AdamConfig, Mlp, Module, Optimizer};
use odeon_tensor::{Cpu, Tensor};

use crate::rectified_flow::{TrainConfig, TrainReport};
use crate::{MethodError, Monitor};

/// Adam on an MLP's parameters over `config.steps` steps.
pub(crate) struct AdamLoop {
    opt: Adam<Cpu>,
    params: Vec<Tensor>,
    losses: Vec<f32>,
    config: TrainConfig,
}

impl AdamLoop {
    /// Checks `config` and starts from `net`'s parameters.
    pub(crate) fn new(net: &Mlp, config: &TrainConfig) -> Result<AdamLoop, MethodError> {
        if config.batch == 0 || config.batch > 65_536 || !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(MethodError::Config(format!(
                "batch must be in 1..=65536 and the learning rate positive; got batch {} and lr {}",
                config.batch, config.lr
            )));
        }
        Ok(AdamLoop {
            opt: Adam::new(AdamConfig { lr: f64::from(config.lr), ..AdamConfig::default() }),
            params: net.parameters(),
            losses: Vec::with_capacity(config.steps),
            config: *config,
        })
    }

    /// Sets the learning rate of `step`: cosine-decayed to 10% over the run.
    pub(crate) fn begin(&mut self, step: usize) {
        let c = &self.config;
        let progress = step as f32 / c.steps.max(1) as f32;
        self.opt.set_lr(f64::from(c.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()))));
    }

    /// Takes the Adam step for `loss` (recorded on `tape` with `leaves` the
    /// parameters of `net`), stopping on a non-finite loss or when the
    /// monitor says so.
    pub(crate) fn finish(
        &mut self,
        step: usize,
        tape: &Rc<Tape>,
        loss: &Var,
        leaves: &[Var],
        net: &mut Mlp,
        monitor: &mut Monitor<'_>,
    ) -> Result<(), MethodError> {
        let loss_value = loss.value().item()? as f32;
        if !loss_value.is_finite() {
            return Err(MethodError::Diverged { step, loss: loss_value });
        }
        let grads = tape.backward(loss)?;
        let grads: Vec<Tensor> = leaves.iter().map(|l| grads.get(l)).collect::<Result<_, _>>()?;
        self.opt.step(&mut self.params, &grads)?;
        net.set_parameters(&self.params)?;
        self.losses.push(loss_value);
        if !monitor(step + 1, self.config.steps, loss_value) {
            return Err(MethodError::Stopped { step: step + 1, total: self.config.steps });
        }
        Ok(())
    }

    /// The losses of every step.
    pub(crate) fn report(self) -> TrainReport {
        TrainReport { losses: self.losses }
    }
}
