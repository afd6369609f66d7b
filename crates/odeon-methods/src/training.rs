//! The Adam loop the methods' trainers share: config checks, the cosine
//! learning-rate decay, the divergence check, the update and the monitor.
//! Each method only builds its batch and its loss.
//!
//! The loop is generic over the backend. [`AdamLoop::update`] queues the
//! backward pass and the Adam step and hands the loss back as a tensor on
//! the device, reading nothing: a GPU trainer queues many steps and reads
//! their losses in one go (the worker's async driver). [`AdamLoop::finish`]
//! reads the loss at once (the CPU, and native GPU runs, which may block).

use std::rc::Rc;

use odeon_autodiff::{Tape, Var};
use odeon_nn::{Adam, AdamConfig, Mlp, Module, Optimizer};
use odeon_tensor::{Backend, Cpu, Tensor};

use crate::rectified_flow::{TrainConfig, TrainReport};
use crate::{MethodError, Monitor};

/// Adam on an MLP's parameters over `config.steps` steps.
pub(crate) struct AdamLoop<B: Backend = Cpu> {
    opt: Adam<B>,
    params: Vec<Tensor<B>>,
    losses: Vec<f32>,
    config: TrainConfig,
    /// Decay and running average of the parameters, when kept.
    ema: Option<(f64, Vec<Tensor<B>>)>,
}

/// Checks the settings every trainer shares.
pub(crate) fn check_config(config: &TrainConfig) -> Result<(), MethodError> {
    if config.batch == 0 || config.batch > 65_536 || !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(MethodError::Config(format!(
            "batch must be in 1..=65536 and the learning rate positive; got batch {} and lr {}",
            config.batch, config.lr
        )));
    }
    Ok(())
}

impl<B: Backend> AdamLoop<B> {
    /// Checks `config` and starts from `net`'s parameters.
    pub(crate) fn new(net: &Mlp<B>, config: &TrainConfig) -> Result<AdamLoop<B>, MethodError> {
        check_config(config)?;
        Ok(AdamLoop {
            opt: Adam::new(AdamConfig { lr: f64::from(config.lr), ..AdamConfig::default() }),
            params: net.parameters(),
            losses: Vec::with_capacity(config.steps),
            config: *config,
            ema: None,
        })
    }

    /// Also keeps an exponential moving average of the parameters
    /// (`ema <- decay ema + (1 - decay) params` after every step), which
    /// [`AdamLoop::use_average`] puts into the network at the end.
    pub(crate) fn with_average(mut self, decay: f64) -> Self {
        self.ema = Some((decay, self.params.clone()));
        self
    }

    /// Puts the moving average (if kept) into `net`.
    pub(crate) fn use_average(&self, net: &mut Mlp<B>) -> Result<(), MethodError> {
        if let Some((_, average)) = &self.ema {
            net.set_parameters(average)?;
        }
        Ok(())
    }

    /// Sets the learning rate of `step`: cosine-decayed to 10% over the run.
    pub(crate) fn begin(&mut self, step: usize) {
        let c = &self.config;
        let progress = step as f32 / c.steps.max(1) as f32;
        self.opt.set_lr(f64::from(c.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()))));
    }

    /// Queues the backward pass and the Adam step for `loss` (recorded on
    /// `tape` with `leaves` the parameters of `net`) and returns the loss,
    /// still on the device. Nothing is read back.
    pub(crate) fn update(&mut self, tape: &Rc<Tape<B>>, loss: &Var<B>, leaves: &[Var<B>], net: &mut Mlp<B>) -> Result<Tensor<B>, MethodError> {
        let value = loss.value().clone();
        let grads = tape.backward(loss)?;
        let grads: Vec<Tensor<B>> = leaves.iter().map(|l| grads.get(l)).collect::<Result<_, _>>()?;
        self.opt.step(&mut self.params, &grads)?;
        net.set_parameters(&self.params)?;
        Ok(value)
    }

    /// Reads `loss` (of `step`), stops on a non-finite value, then takes the
    /// Adam step and asks the monitor whether to go on.
    pub(crate) fn finish(
        &mut self,
        step: usize,
        tape: &Rc<Tape<B>>,
        loss: &Var<B>,
        leaves: &[Var<B>],
        net: &mut Mlp<B>,
        monitor: &mut Monitor<'_>,
    ) -> Result<(), MethodError> {
        let loss_value = loss.value().item()? as f32;
        if !loss_value.is_finite() {
            return Err(MethodError::Diverged { step, loss: loss_value });
        }
        self.update(tape, loss, leaves, net)?;
        if let Some((decay, average)) = &mut self.ema {
            for (a, p) in average.iter_mut().zip(&self.params) {
                *a = a.scale(*decay)?.add(&p.scale(1.0 - *decay)?)?;
            }
        }
        self.record(step, loss_value, monitor)
    }

    /// Records the loss of `step` and asks the monitor whether to go on.
    pub(crate) fn record(&mut self, step: usize, loss: f32, monitor: &mut Monitor<'_>) -> Result<(), MethodError> {
        self.losses.push(loss);
        if !monitor(step + 1, self.config.steps, loss) {
            return Err(MethodError::Stopped { step: step + 1, total: self.config.steps });
        }
        Ok(())
    }

    /// The losses of every step.
    pub(crate) fn report(self) -> TrainReport {
        TrainReport { losses: self.losses }
    }
}
