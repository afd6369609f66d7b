//! # odeon-tensor
//!
//! The bottom layer of Odeon: a dense [`Tensor`] of `f32` on the CPU (stored in
//! an [`ndarray::ArrayD`]), the elementwise math every layer above uses, and
//! seeded, splittable random streams ([`SeedStream`]).
//!
//! Two rules shape this crate:
//! * **Determinism across targets.** Elementwise transcendental functions go
//!   through [`libm`], never the platform's math library, and every reduction
//!   runs in a fixed order, so a run in the browser (wasm32) gives the same bits
//!   as the same run natively.
//! * **No panics on user input.** Shape mismatches come back as a
//!   [`TensorError`] that says what was expected, in words a notebook author
//!   understands.
//!
//! The WebGPU backend (crate `odeon-gpu`) and the generic `Backend` trait
//! arrive with the engine and WebGPU issues; callers already go through the
//! fallible methods here, which is the surface that trait will keep.

mod rng;
mod tensor;

pub use rng::SeedStream;
pub use tensor::{Tensor, TensorError, UnaryOp};
