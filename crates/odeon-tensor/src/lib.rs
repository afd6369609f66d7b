//! # odeon-tensor
//!
//! The bottom layer of Odeon: [`Tensor`], a dense tensor of `f32` or `f64`
//! on a [`Backend`], the operation vocabulary ([`UnaryOp`], [`BinaryOp`],
//! [`ReduceOp`]), sparse [`Csr`] matrices, and seeded, splittable random
//! streams ([`SeedStream`]).
//!
//! * **One tensor type, many devices.** [`Tensor`] checks shapes and dtypes
//!   and works out result shapes once; a [`Backend`] only runs kernels. The
//!   CPU backend ([`Cpu`], on ndarray) is the default type parameter, so
//!   `Tensor` means a CPU tensor; code written for `Tensor<B: Backend>` runs
//!   unchanged on the WebGPU backend.
//! * **Determinism across targets.** Transcendental functions go through
//!   [`libm`] ([`Real`]), never the platform's math library, and reductions
//!   run in a fixed order, so a run in the browser gives the same bits as
//!   the same run on any other browser.
//! * **No panics on user input.** Shape and dtype mismatches come back as a
//!   [`TensorError`] that says what was expected.

mod backend;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod cpu;
pub mod dtype;
mod ops;
mod rng;
mod sparse;
mod tensor;

pub use backend::{AdamScalars, AdamState, Backend, Conv2dGeometry};
pub use cpu::{Cpu, CpuStorage};
pub use dtype::{DType, Real};
pub use ops::{BinaryOp, ReduceOp, UnaryOp};
pub use rng::{Categorical, SamplerError, SeedStream};
pub use sparse::Csr;
pub use tensor::{Tensor, TensorError, broadcast_shape};

#[cfg(test)]
mod tests;
