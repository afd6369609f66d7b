//! # odeon-bench
//!
//! Benchmarks of Odeon against peer frameworks (see `docs/benchmarks.md`):
//! an MLP training step (2-256-256-256-2, SiLU, MSE, Adam, batch 1024, f32)
//! and a 512x512 f32 matmul.
//!
//! * [`workload`]: the Odeon side, the only code that uses the Odeon API.
//! * The native binary `odeon-bench` (src/main.rs) times it with
//!   `std::time::Instant` and prints one JSON line per result.
//! * On `wasm32` this library is also a wasm-bindgen module exporting
//!   `run_mlp_step` and `run_matmul`, timed with `performance.now()`; the
//!   browser harness in `bench/` loads it next to tf.js and jax-js.
//!
//! Run everything with `cargo xtask bench`.

#[cfg(not(target_arch = "wasm32"))]
pub mod gpu;
pub mod workload;

#[cfg(target_arch = "wasm32")]
mod web;
