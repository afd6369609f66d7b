//! # odeon-nn
//!
//! Neural-network building blocks over [`odeon_autodiff`], generic over the
//! tensor [`Backend`] (the CPU by default):
//! * layers: [`Linear`], the [`Mlp`] builder, [`LayerNorm`], [`Conv2d`],
//!   [`GruCell`], [`LstmCell`], [`GcnLayer`], [`sinusoidal_embedding`];
//! * activations ([`Activation`]) and losses ([`loss`]);
//! * optimisers ([`optim`]): SGD with momentum, Adam, AdamW, learning-rate
//!   schedules and gradient clipping;
//! * parameter (de)serialisation ([`ParamState`], serde).
//!
//! Parameters live outside the tape as plain tensors. A training step
//! records them as leaves on a fresh tape ([`Module::bind`]; [`Mlp::forward`]
//! returns the leaves), takes gradients and hands
//! `(params, grads)` to an optimiser.

pub mod layers;
pub mod loss;
pub mod optim;
pub mod reference;
mod state;

pub use layers::{Conv2d, GcnLayer, GruCell, LayerNorm, Linear, LstmCell, Mlp, MlpState, Module, sinusoidal_embedding};
pub use loss::mse;
pub use optim::{Adam, AdamConfig, Optimizer, Schedule, Sgd, clip_grad_norm};
pub use state::ParamState;

use odeon_autodiff::{AutodiffError, Var};
use odeon_tensor::{Backend, TensorError, UnaryOp};
use serde::{Deserialize, Serialize};

/// Activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)`
    Relu,
    /// `x * sigmoid(x)` (swish)
    Silu,
    /// `tanh x`
    Tanh,
    /// GELU, tanh approximation (Hendrycks & Gimpel)
    Gelu,
    /// `ln(1 + e^x)`
    Softplus,
    /// logistic sigmoid
    Sigmoid,
    /// no activation
    Identity,
}

impl Activation {
    /// Parses a user-facing name.
    pub fn from_name(name: &str) -> Result<Self, NnError> {
        match name.to_ascii_lowercase().as_str() {
            "relu" => Ok(Self::Relu),
            "silu" | "swish" => Ok(Self::Silu),
            "tanh" => Ok(Self::Tanh),
            "gelu" => Ok(Self::Gelu),
            "softplus" => Ok(Self::Softplus),
            "sigmoid" => Ok(Self::Sigmoid),
            "identity" | "linear" | "none" => Ok(Self::Identity),
            other => Err(NnError::Config(format!(
                "unknown activation \"{other}\"; choose relu, silu, tanh, gelu, softplus, sigmoid or identity"
            ))),
        }
    }

    /// Applies the activation.
    pub fn apply<B: Backend>(self, x: &Var<B>) -> Result<Var<B>, AutodiffError> {
        match self {
            Self::Relu => x.unary(UnaryOp::Relu),
            Self::Silu => x.unary(UnaryOp::Silu),
            Self::Tanh => x.unary(UnaryOp::Tanh),
            Self::Softplus => x.unary(UnaryOp::Softplus),
            Self::Sigmoid => x.unary(UnaryOp::Sigmoid),
            Self::Identity => Ok(x.clone()),
            Self::Gelu => {
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                let inner = x.add(&x.powf(3.0)?.scale(0.044715)?)?.scale((2.0 / std::f64::consts::PI).sqrt())?;
                x.mul(&inner.unary(UnaryOp::Tanh)?.add_scalar(1.0)?)?.scale(0.5)
            }
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

#[cfg(test)]
mod tests;
