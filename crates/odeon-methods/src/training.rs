//! The training loop every method shares: a [`Trainer`] regresses an MLP on
//! batches the method draws (its data, noise and times), with Adam, the
//! cosine learning-rate decay and, where the method keeps one, a moving
//! average of the weights.
//!
//! The trainer is generic over the backend and reads nothing back by
//! itself: [`Trainer::step`] queues the batch upload, the forward and
//! backward passes and the Adam step, and returns the loss as a device
//! scalar. The CPU and native GPU runs read each loss at once ([`run`]);
//! the playground's worker queues many steps on WebGPU and reads their
//! losses in one go. Each method only supplies its batches.

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
        if let Some((decay, average)) = &mut self.ema {
            for (a, p) in average.iter_mut().zip(&self.params) {
                *a = a.scale(*decay)?.add(&p.scale(1.0 - *decay)?)?;
            }
        }
        Ok(value)
    }

}

/// One training batch, drawn on the CPU: the network's input, the
/// regression target and, optionally, a per-row factor the network's
/// output is multiplied by before the comparison (a weighted loss).
pub(crate) struct Batch {
    pub(crate) input: Tensor,
    pub(crate) target: Tensor,
    pub(crate) output_scale: Option<Tensor>,
}

/// Where a trainer's batches come from: the method's data, noise and time
/// draws, from its own seeded streams, whatever the backend.
pub(crate) trait BatchSource {
    /// The batch of step `step`.
    fn batch(&mut self, step: usize) -> Result<Batch, MethodError>;
}

/// How a batch's predictions are compared with its targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Regression {
    /// Mean squared error over rows and coordinates.
    Squared,
    /// Pseudo-Huber per row with this `c`, divided by the row's dimension.
    PseudoHuber(f64),
    /// Mean squared error of a conservative field: the network has one
    /// output per row, an energy `E(input)`, and the prediction is its
    /// gradient with respect to the first `dim` input columns,
    /// `grad E = d E / d input[.., ..dim]`, recorded so that the loss can be
    /// differentiated again (grad-of-grad) for the parameter update.
    Gradient {
        /// Number of leading input columns the gradient is taken over (the
        /// point's coordinates; the rest are conditioning such as time
        /// features).
        dim: usize,
    },
}

/// A regression of an MLP on batches from a [`BatchSource`], one queued
/// step at a time on any backend: the interface the playground's GPU
/// driver and the native runners share (every method's trainer is one).
///
/// Batches are drawn on the CPU and uploaded, so a GPU run trains on
/// exactly the CPU run's data; the network, its gradients, Adam's moments
/// and the moving average stay on the device. [`Trainer::step`] reads
/// nothing back: it returns the loss as a device scalar, so a driver can
/// queue many steps and read their losses at once.
pub struct Trainer<B: Backend> {
    backend: B,
    net: Mlp<B>,
    adam: AdamLoop<B>,
    source: Box<dyn BatchSource>,
    regression: Regression,
    steps: usize,
    step: usize,
}

impl<B: Backend> Trainer<B> {
    /// Starts from a copy of `net` on `backend`.
    pub(crate) fn new(
        backend: &B,
        net: &Mlp,
        config: &TrainConfig,
        average: Option<f64>,
        source: Box<dyn BatchSource>,
        regression: Regression,
    ) -> Result<Self, MethodError> {
        if let Regression::Gradient { dim } = regression
            && (net.outputs() != 1 || dim == 0 || dim > net.inputs())
        {
            return Err(MethodError::Config(format!(
                "a gradient regression needs a scalar network and 1..={} differentiated inputs; got {} outputs and dim {dim}",
                net.inputs(),
                net.outputs()
            )));
        }
        let net = Mlp::from_state(backend, &net.to_state()?)?;
        let adam = AdamLoop::new(&net, config)?;
        let adam = match average {
            Some(decay) => adam.with_average(decay),
            None => adam,
        };
        Ok(Trainer { backend: backend.clone(), net, adam, source, regression, steps: config.steps, step: 0 })
    }

    /// Steps the run takes.
    pub fn total_steps(&self) -> usize {
        self.steps
    }

    /// Steps queued so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Queues one training step and returns its loss (before the update) as
    /// a scalar tensor on the backend's device; nothing is read back.
    ///
    /// # Errors
    ///
    /// When every step has been taken, or the backend fails.
    pub fn step(&mut self) -> Result<Tensor<B>, MethodError> {
        if self.step >= self.steps {
            return Err(MethodError::Config(format!("training already took its {} steps", self.steps)));
        }
        self.adam.begin(self.step);
        let batch = self.source.batch(self.step)?;
        let upload = |x: &Tensor| Tensor::from_f32_in(&self.backend, x.shape(), &x.to_f32_vec()?);
        let tape = Tape::new();
        let (mut out, leaves) = match self.regression {
            Regression::Gradient { dim } => {
                // The input is a tracked leaf so that the energy can be
                // differentiated with respect to it; rows are independent, so
                // the gradient of the batch sum is each row's own gradient.
                let input = tape.leaf(upload(&batch.input)?);
                let (energy, leaves) = self.net.forward(&tape, &input)?;
                let grad = tape.grad(&energy.sum()?, &[&input], true)?.into_iter().next();
                let grad = grad.ok_or_else(|| MethodError::Config("the energy gradient is missing".into()))?;
                (grad.slice_axis(1, 0, dim)?, leaves)
            }
            Regression::Squared | Regression::PseudoHuber(_) => self.net.forward(&tape, &tape.constant(upload(&batch.input)?))?,
        };
        if let Some(scale) = &batch.output_scale {
            out = out.mul(&tape.constant(upload(scale)?))?;
        }
        let target = tape.constant(upload(&batch.target)?);
        let loss = match self.regression {
            Regression::Squared | Regression::Gradient { .. } => odeon_nn::mse(&out, &target)?,
            Regression::PseudoHuber(c) => {
                let dim = batch.target.shape().get(1).copied().unwrap_or(1) as f64;
                odeon_nn::loss::pseudo_huber(&out, &target, c)?.scale(1.0 / dim)?
            }
        };
        let loss = self.adam.update(&tape, &loss, &leaves, &mut self.net)?;
        self.step += 1;
        Ok(loss)
    }

    /// The parameters the run ends with, on the device (W0, b0, W1, ...):
    /// the moving average where one is kept, else the network's own.
    pub fn final_parameters(&self) -> Vec<Tensor<B>> {
        match &self.adam.ema {
            Some((_, average)) => average.clone(),
            None => self.net.parameters(),
        }
    }
}

/// The parameters read back to the CPU, flattened (a blocking read on a GPU).
///
/// # Errors
///
/// When the backend cannot read synchronously.
pub fn read_parameters<B: Backend>(params: &[Tensor<B>]) -> Result<Vec<Vec<f32>>, MethodError> {
    Ok(params.iter().map(Tensor::to_f32_vec).collect::<Result<_, _>>()?)
}

/// Runs `trainer` to its end on its backend, reading each loss as it goes
/// (blocking on a GPU: native runs). Returns the losses of the steps taken
/// and how the run ended: `Ok`, stopped by the monitor, or diverged (at
/// the first non-finite loss).
///
/// # Errors
///
/// The backend failing.
pub fn run<B: Backend>(trainer: &mut Trainer<B>, monitor: &mut Monitor<'_>) -> Result<(Vec<f32>, Result<(), MethodError>), MethodError> {
    let total = trainer.total_steps();
    let mut losses = Vec::with_capacity(total);
    for step in 0..total {
        let loss = trainer.step()?.item()? as f32;
        if !loss.is_finite() {
            return Ok((losses, Err(MethodError::Diverged { step, loss })));
        }
        losses.push(loss);
        if !monitor(step + 1, total, loss) {
            return Ok((losses, Err(MethodError::Stopped { step: step + 1, total })));
        }
    }
    Ok((losses, Ok(())))
}

/// Puts trained parameters (W0, b0, W1, ..., flattened) into a model.
pub(crate) type ApplyParameters<'a> = dyn FnMut(&[Vec<f32>]) -> Result<(), MethodError> + 'a;

/// [`run`] on `trainer`, then the final parameters read back (also after a
/// stop; not after divergence, whose parameters are useless): the losses
/// and, unless the run diverged, the parameters. A stop or divergence is
/// the error, after `apply` has received the parameters.
pub(crate) fn run_and_apply<B: Backend>(
    trainer: &mut Trainer<B>,
    monitor: &mut Monitor<'_>,
    apply: &mut ApplyParameters<'_>,
) -> Result<TrainReport, MethodError> {
    let (losses, outcome) = run(trainer, monitor)?;
    if !matches!(outcome, Err(MethodError::Diverged { .. })) {
        apply(&read_parameters(&trainer.final_parameters())?)?;
    }
    outcome.map(|()| TrainReport { losses })
}

/// Replaces an MLP's parameters with `values` (W0, b0, W1, ..., each
/// flattened row-major), e.g. read back from a GPU.
///
/// # Errors
///
/// When the count or a length does not match the network.
pub fn set_mlp_parameters(net: &mut Mlp, values: &[Vec<f32>]) -> Result<(), MethodError> {
    let current = net.parameters();
    if values.len() != current.len() {
        return Err(MethodError::Config(format!("expected {} parameter tensors, got {}", current.len(), values.len())));
    }
    let params = current.iter().zip(values).map(|(p, v)| Tensor::from_shape_vec(p.shape(), v.clone())).collect::<Result<Vec<_>, _>>()?;
    net.set_parameters(&params)?;
    Ok(())
}
