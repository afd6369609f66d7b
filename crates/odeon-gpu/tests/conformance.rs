//! The backend conformance suite (`odeon_tensor::conformance`) on the wgpu
//! backend: every kernel checked against the CPU backend.
//!
//! Without an adapter these tests skip with a printed reason, unless
//! `ODEON_REQUIRE_GPU=1` (as `cargo xtask test` sets, with lavapipe
//! installed), which makes a missing adapter a failure.

#![allow(clippy::print_stdout)]

use std::sync::OnceLock;

use odeon_gpu::Wgpu;

/// One device for the whole test binary (tests run in parallel on it).
fn backend() -> Option<Wgpu> {
    static BACKEND: OnceLock<Result<Wgpu, String>> = OnceLock::new();
    let made = BACKEND.get_or_init(|| {
        pollster::block_on(Wgpu::request())
            .map_err(|e| e.to_string())
            .inspect(|b| {
                println!("adapter: {}", b.context().adapter_summary());
            })
    });
    match made {
        Ok(backend) => Some(backend.clone()),
        Err(err) => {
            if std::env::var("ODEON_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("ODEON_REQUIRE_GPU=1 but no GPU backend: {err}");
            }
            println!("SKIP: no GPU adapter ({err}); install mesa-vulkan-drivers for lavapipe");
            None
        }
    }
}

odeon_tensor::conformance_tests!(backend());

/// The suite again with the other kernel set than the adapter's default
/// (lavapipe defaults to the barrier-free kernels, so CI checks both).
mod other_kernels {
    fn backend() -> Option<odeon_gpu::Wgpu> {
        static BACKEND: std::sync::OnceLock<Option<odeon_gpu::Wgpu>> = std::sync::OnceLock::new();
        BACKEND
            .get_or_init(|| {
                let backend = pollster::block_on(odeon_gpu::Wgpu::request()).ok()?;
                backend.use_workgroup_kernels(!backend.uses_workgroup_kernels());
                println!("workgroup kernels: {}", backend.uses_workgroup_kernels());
                Some(backend)
            })
            .clone()
            .or_else(super::backend)
    }

    odeon_tensor::conformance_tests!(backend());
}
