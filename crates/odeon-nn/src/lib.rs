//! # odeon-nn
//!
//! Neural-network building blocks over [`odeon_autodiff`]: [`Linear`] layers,
//! the [`Mlp`] builder, activations, losses and optimisers ([`Adam`]).
//!
//! Parameters live outside the tape as plain [`Tensor`]s. A training step
//! records the parameters as leaves on a fresh tape ([`Mlp::forward`] returns
//! those leaves), takes the gradients and hands `(params, grads)` to an
//! optimiser. Inference ([`Mlp::predict`]) skips the tape entirely.

mod optim;

pub use optim::{Adam, AdamConfig};

use odeon_autodiff::{AutodiffError, Tape, Var};
use odeon_tensor::{SeedStream, Tensor, TensorError, UnaryOp};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// Activation functions between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)`
    Relu,
    /// `x * sigmoid(x)` (also called swish)
    Silu,
    /// `tanh x`
    Tanh,
}

impl Activation {
    /// Parses a user-facing name (`"relu"`, `"silu"`, `"tanh"`).
    pub fn from_name(name: &str) -> Result<Self, NnError> {
        match name.to_ascii_lowercase().as_str() {
            "relu" => Ok(Self::Relu),
            "silu" | "swish" => Ok(Self::Silu),
            "tanh" => Ok(Self::Tanh),
            other => Err(NnError::Config(format!(
                "unknown activation \"{other}\"; choose relu, silu or tanh"
            ))),
        }
    }

    fn op(self) -> UnaryOp {
        match self {
            Self::Relu => UnaryOp::Relu,
            Self::Silu => UnaryOp::Silu,
            Self::Tanh => UnaryOp::Tanh,
        }
    }
}

/// Why a layer could not be built or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NnError {
    /// Bad sizes or names in a model description.
    #[error("{0}")]
    Config(String),
    /// A shape mismatch inside the model.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A differentiation error.
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
}

/// `y = x W + b` with `W` of shape `[inputs, outputs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    /// PyTorch's default initialisation: `U(-1/sqrt(inputs), 1/sqrt(inputs))`.
    pub fn new(inputs: usize, outputs: usize, rng: &mut SeedStream) -> Self {
        let bound = 1.0 / (inputs.max(1) as f32).sqrt();
        let weight = rng.uniform_tensor(&[inputs, outputs], -bound, bound).to_vec();
        let bias = rng.uniform_tensor(&[outputs], -bound, bound).to_vec();
        Self { weight, bias, inputs, outputs }
    }

    fn weight_tensor(&self) -> Result<Tensor, TensorError> {
        Tensor::from_shape_vec(&[self.inputs, self.outputs], self.weight.clone())
    }

    fn bias_tensor(&self) -> Result<Tensor, TensorError> {
        Tensor::from_shape_vec(&[1, self.outputs], self.bias.clone())
    }
}

/// A multilayer perceptron: linear layers with an activation between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// An MLP with the given layer sizes, e.g. `[3, 128, 128, 2]`.
    pub fn new(sizes: &[usize], activation: Activation, rng: &mut SeedStream) -> Result<Self, NnError> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(NnError::Config(format!(
                "an MLP needs at least an input and an output size, all positive; got {sizes:?}"
            )));
        }
        let layers = sizes.windows(2).map(|w| Linear::new(w[0], w[1], rng)).collect();
        Ok(Self { layers, activation })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum()
    }

    /// The parameters as tensors, in a fixed order (W0, b0, W1, b1, ...).
    pub fn parameters(&self) -> Result<Vec<Tensor>, NnError> {
        let mut out = Vec::with_capacity(2 * self.layers.len());
        for layer in &self.layers {
            out.push(layer.weight_tensor()?);
            out.push(layer.bias_tensor()?);
        }
        Ok(out)
    }

    /// Replaces the parameters (same order and shapes as [`Mlp::parameters`]).
    pub fn set_parameters(&mut self, params: &[Tensor]) -> Result<(), NnError> {
        if params.len() != 2 * self.layers.len() {
            return Err(NnError::Config(format!(
                "expected {} parameter tensors, got {}",
                2 * self.layers.len(),
                params.len()
            )));
        }
        for (layer, pair) in self.layers.iter_mut().zip(params.chunks(2)) {
            if pair[0].len() != layer.weight.len() || pair[1].len() != layer.bias.len() {
                return Err(NnError::Config("parameter sizes do not match the model".into()));
            }
            layer.weight = pair[0].to_vec();
            layer.bias = pair[1].to_vec();
        }
        Ok(())
    }

    fn check_input(&self, shape: &[usize]) -> Result<(), NnError> {
        if shape.len() != 2 || shape[1] != self.inputs() {
            return Err(NnError::Config(format!(
                "the model takes a batch of shape [n, {}], got {:?}",
                self.inputs(),
                shape
            )));
        }
        Ok(())
    }

    /// Records the forward pass on `tape`. Returns the output and the
    /// parameter leaves (same order as [`Mlp::parameters`]).
    pub fn forward(&self, tape: &Rc<Tape>, x: &Var) -> Result<(Var, Vec<Var>), NnError> {
        self.check_input(x.value().shape())?;
        let mut leaves = Vec::with_capacity(2 * self.layers.len());
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let w = tape.leaf(layer.weight_tensor()?);
            let b = tape.leaf(layer.bias_tensor()?);
            h = h.matmul(&w)?.add(&b)?;
            if i + 1 < self.layers.len() {
                h = h.unary(self.activation.op());
            }
            leaves.push(w);
            leaves.push(b);
        }
        Ok((h, leaves))
    }

    /// Inference without a tape.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor, NnError> {
        self.check_input(x.shape())?;
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = h.matmul(&layer.weight_tensor()?)?.add(&layer.bias_tensor()?)?;
            if i + 1 < self.layers.len() {
                h = h.unary(self.activation.op());
            }
        }
        Ok(h)
    }
}

/// Mean squared error `mean((pred - target)^2)` over all elements.
pub fn mse(pred: &Var, target: &Var) -> Result<Var, NnError> {
    Ok(pred.sub(target)?.unary(UnaryOp::Square).mean())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_fits_a_linear_map() {
        // y = 2 x0 - x1 + 0.5: Adam on an MLP drives the MSE close to zero.
        let mut rng = SeedStream::new(0, "test");
        let mut model = Mlp::new(&[2, 16, 1], Activation::Tanh, &mut rng).expect("sizes");
        let mut opt = Adam::new(AdamConfig { lr: 1e-2, ..AdamConfig::default() });
        let x = rng.normal_tensor(&[64, 2]);
        let y: Vec<f32> = x.to_vec().chunks(2).map(|p| 2.0 * p[0] - p[1] + 0.5).collect();
        let y = Tensor::from_shape_vec(&[64, 1], y).expect("shape");
        let mut last = f32::INFINITY;
        for _ in 0..500 {
            let tape = Tape::new();
            let (pred, leaves) = model.forward(&tape, &tape.leaf(x.clone())).expect("forward");
            let loss = mse(&pred, &tape.leaf(y.clone())).expect("loss");
            let grads = tape.backward(&loss).expect("backward");
            let g: Vec<Tensor> = leaves.iter().map(|l| grads.get(l)).collect();
            let mut params = model.parameters().expect("params");
            opt.step(&mut params, &g).expect("step");
            model.set_parameters(&params).expect("set");
            last = loss.value().item().expect("scalar");
        }
        assert!(last < 1e-2, "final loss {last}");
    }

    #[test]
    fn bad_sizes_give_clear_errors() {
        let mut rng = SeedStream::new(0, "test");
        assert!(Mlp::new(&[3], Activation::Relu, &mut rng).is_err());
        let model = Mlp::new(&[3, 4, 2], Activation::Relu, &mut rng).expect("sizes");
        let err = model.predict(&Tensor::zeros(&[5, 2])).expect_err("wrong width");
        assert!(err.to_string().contains("[n, 3]"), "{err}");
        assert!(Activation::from_name("cosine").is_err());
    }

    #[test]
    fn serde_round_trip_and_predict_matches_forward() {
        let mut rng = SeedStream::new(1, "test");
        let model = Mlp::new(&[3, 8, 2], Activation::Silu, &mut rng).expect("sizes");
        let text = serde_json::to_string(&model).expect("serialise");
        let back: Mlp = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(model, back);
        let x = rng.normal_tensor(&[4, 3]);
        let tape = Tape::new();
        let (out, _) = model.forward(&tape, &tape.leaf(x.clone())).expect("forward");
        assert_eq!(out.value(), back.predict(&x).expect("predict"));
    }
}
