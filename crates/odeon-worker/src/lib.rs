//! # odeon-worker
//!
//! The compute side of the playground, loaded in a dedicated Web Worker by
//! `web/worker.js`. It receives [`ToWorker`] messages, runs cells in a Rhai
//! [`Session`] and streams [`FromWorker`] messages back while it works, so
//! the page never blocks.
//!
//! **Stop.** A busy worker reads no messages, so Stop cannot be a message.
//! When the page is cross-origin isolated it hands the worker a
//! `SharedArrayBuffer`; Stop writes 1 into it and the running cell sees it at
//! its next check (Rhai's progress callback, every training step). Elsewhere
//! the page terminates and restarts the worker.
//!
//! **GPU.** WebGPU readback completes only when the worker returns to its
//! event loop, so GPU work runs as async tasks between messages, never
//! inside a synchronous cell.
//!
//! Native builds compile this crate to an empty library, so `cargo test
//! --workspace` needs no wasm toolchain.
//!
//! [`ToWorker`]: odeon_notebook::protocol::ToWorker
//! [`FromWorker`]: odeon_notebook::protocol::FromWorker
//! [`Session`]: odeon_notebook::runtime::Session

#[cfg(target_arch = "wasm32")]
mod web;

use odeon_tensor::SeedStream;

/// The matrices of the GPU self-check: `(a, b, m, k, n)`, seeded.
pub fn gpu_check_operands() -> (Vec<f32>, Vec<f32>, usize, usize, usize) {
    let (m, k, n) = (33, 47, 29);
    let mut rng = SeedStream::new(0, "gpu-check");
    let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
    (a, b, m, k, n)
}
