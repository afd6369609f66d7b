//! Serialisable parameter snapshots.

use odeon_tensor::{Backend, DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// A tensor's shape, dtype and values, independent of the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamState {
    /// Shape.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Values, row-major (exact for both dtypes).
    pub values: Vec<f64>,
}

impl ParamState {
    /// Snapshot of a tensor.
    pub fn from_tensor<B: Backend>(t: &Tensor<B>) -> Result<Self, NnError> {
        Ok(ParamState { shape: t.shape().to_vec(), dtype: t.dtype(), values: t.to_f64_vec()? })
    }

    /// Back to a tensor on `backend`.
    pub fn to_tensor<B: Backend>(&self, backend: &B) -> Result<Tensor<B>, NnError> {
        Ok(Tensor::from_f64_in(backend, &self.shape, &self.values, self.dtype)?)
    }
}
