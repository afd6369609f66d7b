//! Odeon's GPU compute backend: odeon-tensor's engine on WebGPU/Vulkan.
//!
//! The same code runs in the browser (wgpu's `webgpu` backend, on top of
//! `navigator.gpu`) and natively (wgpu-core on Vulkan, Metal or DX12), so a
//! kernel checked in `cargo test` on a software Vulkan (lavapipe) is the same
//! WGSL the browser runs.
//!
//! # The tensor backend: [`Wgpu`]
//!
//! [`Wgpu`] implements [`odeon_tensor::Backend`], so `Tensor<Wgpu>` runs the
//! engine's operations on the GPU with the shape and dtype checks of
//! `odeon_tensor::Tensor` unchanged. Tensors live in device buffers
//! ([`GpuStorage`]: one row-major `f32` buffer and its length); every
//! operation allocates its result and queues one compute dispatch, and
//! nothing waits for the GPU between operations, so a training step is
//! queued in full without a round trip. `reshape` is free (same buffer);
//! permute/transpose materialise a copy (the CPU uses strides instead).
//!
//! Kernels (WGSL in `src/kernels/`, each module compiled once per device
//! with `prelude.wgsl` in front and cached):
//!
//! | Backend method | Kernel |
//! |---|---|
//! | `unary`, `unary_backward`, `scalar`, same-shape `binary` | fused: a pending program run by `fused.wgsl` when needed (see below); every `UnaryOp` with the CPU's formulas (`exp` is odeon-tensor's deterministic polynomial; `sigmoid`, `softplus` the same overflow-free forms) |
//! | broadcasting `binary`, `select` | `elementwise.wgsl`, NumPy broadcasting from per-input strides (0 on broadcast axes) passed with the output shape |
//! | `full` | `elementwise.wgsl` (`fill`) |
//! | `matmul` (batched), `addmm` | `matmul_batched.wgsl`: 64x64 blocks of C per workgroup, 4x4 per thread in registers, batch in workgroup z, fused bias; on hardware adapters 64x16 / 16x64 slices are staged in workgroup memory (`matmul`), on software adapters (SwiftShader, lavapipe: a barrier switches emulated invocations) each thread reads the buffers directly (`matmul_direct`: 2.7x faster on lavapipe, 6x on SwiftShader); both kernel sets run the conformance suite in CI |
//! | `adam_update` | `adam.wgsl`: one fused pass writing new `(param, m, v)` |
//! | `reduce` (sum, max, min over any axes) | `reduce.wgsl`: an invocation per output for short reductions (and for all on software adapters), a workgroup with a tree in workgroup memory for reductions of 256 and more |
//! | `permute`, `broadcast_to`, `slice`, `concat` | `movement.wgsl`: one strided copy |
//! | `unfold2d`, `fold2d` (so `conv2d`), `csr_matmul` | `conv_sparse.wgsl`: im2col as a gather; col2im with an invocation per pixel summing its patches in the CPU's order; CSR rows (the transpose built on the host) passed with the dispatch |
//! | `index_select`, `index_add` | `movement.wgsl`: a gather; a scatter-add made deterministic without float atomics: the host (which has the indices) builds the inverse mapping, and each output element adds its sources in index order, bit-identical to the CPU |
//!
//! Softmax and log-sum-exp are composed by `Tensor` from these (max-shifted
//! reductions, broadcasting, `exp`, `ln`), as is everything the autodiff
//! needs to train an MLP (`addmm`, activations and their fused backward,
//! transposed products, `sum_to_shape`, `adam_update`).
//!
//! **Fusion and batching.** Chains of same-shape elementwise operations
//! fuse into one dispatch (module `fusion`: results stay pending programs
//! until something else needs a buffer; bit-identical to unfused kernels),
//! and dispatches are recorded into one command encoder and submitted 64
//! at a time or before a read, since a queue submission is the costly part
//! of a dispatch in a browser. Not fused: an activation into the matmul
//! that produces its input (the pre-activation is kept for the backward
//! pass anyway). Every `Backend` method has a GPU kernel.
//!
//! Every kernel is checked against the CPU backend by odeon-tensor's
//! conformance suite (`tests/conformance.rs`; the same checks run on the
//! CPU in odeon-tensor's tests).
//!
//! # f32 only
//!
//! GPU tensors are `f32`. Asking for `f64` on the GPU (an `f64` upload,
//! `full` or `cast`) is an error,
//! [`odeon_tensor::TensorError::Unsupported`]: "f64 tensors are not
//! available on the GPU: f64 stays on the CPU ...". WebGPU has no `f64` in
//! shaders; solvers, gradient checks and reference computations keep using
//! the CPU backend in `f64`.
//!
//! # Readback
//!
//! Values come back to the CPU only when asked for (a plot, a metric, a
//! loss to print): nothing in a training step reads back.
//!
//! * [`Wgpu::read_f32_async`] / [`Wgpu::read_f64_async`] never block: they
//!   queue a copy to a staging buffer and await `map_async`'s callback. This
//!   is the only way to read on the web, where the callback fires only after
//!   the worker has returned to its event loop (a blocking wait there would
//!   deadlock the very loop that delivers the result). Natively the future
//!   polls the device itself, so any executor completes it.
//! * The `Backend` trait's synchronous reads (`Tensor::to_f32_vec`, `item`,
//!   ...) block natively, polling the device until the copy is done (tests,
//!   the CLI). On wasm32 they do not block: they return a
//!   [`odeon_tensor::TensorError::Device`] telling the caller to use the
//!   async read (or a training handle, ARCHITECTURE.md's "hard problem").
//! * [`GpuContext::matmul`] (the standalone kernel the worker's WebGPU
//!   self-check runs) is async in the same way.
//!
//! Device errors of queued work (validation, out of memory) are caught by an
//! uncaptured-error handler that [`Wgpu::new`] installs, and reported as an
//! error by the next read instead of panicking.
//!
//! # Device acquisition is separate from the kernels
//!
//! [`GpuContext::new`] picks an adapter and opens a device, but the kernels
//! ([`GpuContext::matmul`]) only use the [`wgpu::Device`] and
//! [`wgpu::Queue`] stored in the context. A caller that already has a device
//! (a test harness, an app sharing one device with its renderer) injects it
//! with [`GpuContext::from_device`].
//!
//! # Errors, not panics
//!
//! Bad shapes, buffers beyond the device's limits and GPU-side validation or
//! out-of-memory errors come back as [`GpuError`] with a message fit to show
//! a user; inputs are checked before anything reaches the GPU.

use std::sync::OnceLock;

mod backend;
mod fusion;
pub mod policy;

pub use backend::{GpuStorage, Wgpu};

use wgpu::util::DeviceExt as _;

/// Side of the square tile each workgroup of the matmul kernel computes
/// (must match `TILE` and `@workgroup_size` in `matmul.wgsl`).
const TILE: u32 = 16;

/// WGSL source of the tiled matmul kernel.
const MATMUL_WGSL: &str = include_str!("matmul.wgsl");

/// Everything that can go wrong on the GPU path, with user-facing messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// No adapter: no WebGPU in the browser, or no usable native driver.
    #[cfg_attr(
        target_arch = "wasm32",
        error("WebGPU is not available in this browser (no adapter): {0}")
    )]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        error("no GPU adapter found (is a Vulkan, Metal or DX12 driver installed?): {0}")
    )]
    NoAdapter(String),
    /// The adapter was found but refused to open a device.
    #[error("the GPU adapter was found but opening a device failed: {0}")]
    DeviceRequest(String),
    /// An operand does not have the number of elements its shape says.
    #[error(
        "matmul shape mismatch: {operand} has {len} elements, but a {rows}x{cols} matrix needs rows*cols of them"
    )]
    ShapeMismatch {
        /// Which operand (`"a"` or `"b"`).
        operand: &'static str,
        /// Number of elements given.
        len: usize,
        /// Rows the shape claims.
        rows: usize,
        /// Columns the shape claims.
        cols: usize,
    },
    /// A buffer would exceed what the device allows in one buffer/binding.
    #[error(
        "{what} needs {bytes} bytes, more than this GPU allows in one buffer ({limit} bytes); use smaller matrices or the CPU backend"
    )]
    BufferTooLarge {
        /// Which buffer.
        what: &'static str,
        /// Bytes it would need (saturated at `u64::MAX`).
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },
    /// The problem needs more workgroups in one dimension than the device allows.
    #[error(
        "the matmul needs {groups} workgroups along one axis, more than this GPU allows ({limit}); use smaller matrices or the CPU backend"
    )]
    DispatchTooLarge {
        /// Workgroups needed along the largest axis.
        groups: u64,
        /// The device's per-dimension limit.
        limit: u32,
    },
    /// The GPU ran out of memory.
    #[error("the GPU ran out of memory: {0}")]
    OutOfMemory(String),
    /// The GPU rejected the work (validation or internal error).
    #[error("the GPU rejected the work: {0}")]
    Gpu(String),
    /// Copying results back to the CPU failed.
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
}

/// An open GPU device with its queue and a description of its adapter.
///
/// Kernels compile lazily on first use and are cached in the context.
#[derive(Debug)]
pub struct GpuContext {
    /// The logical device all buffers and pipelines are created on.
    pub device: wgpu::Device,
    /// The device's queue.
    pub queue: wgpu::Queue,
    /// What wgpu reports about the adapter the device came from.
    pub adapter_info: wgpu::AdapterInfo,
    matmul_pipeline: OnceLock<wgpu::ComputePipeline>,
}

impl GpuContext {
    /// Finds an adapter (high performance preferred; CPU fallback adapters
    /// such as SwiftShader or lavapipe accepted) and opens a device on it.
    ///
    /// # Errors
    ///
    /// [`GpuError::NoAdapter`] when there is no adapter at all,
    /// [`GpuError::DeviceRequest`] when the adapter refuses a device.
    pub async fn new() -> Result<GpuContext, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = match request_adapter(&instance, false).await {
            Ok(adapter) => adapter,
            // Some platforms only list a software adapter when asked for one.
            Err(first) => request_adapter(&instance, true)
                .await
                .map_err(|_| GpuError::NoAdapter(first.to_string()))?,
        };
        let adapter_info = adapter.get_info();
        let supported = adapter.limits();
        let base = if wgpu::Limits::default().check_limits(&supported) {
            wgpu::Limits::default()
        } else {
            wgpu::Limits::downlevel_defaults()
        };
        // Default limits, except buffer sizes: ask for what the adapter has so
        // large matrices fit where the hardware allows.
        let required_limits = wgpu::Limits {
            max_buffer_size: supported.max_buffer_size.max(base.max_buffer_size),
            max_storage_buffer_binding_size: supported
                .max_storage_buffer_binding_size
                .max(base.max_storage_buffer_binding_size),
            ..base
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("odeon-gpu"),
                required_limits,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::DeviceRequest(e.to_string()))?;
        Ok(GpuContext::from_device(device, queue, adapter_info))
    }

    /// Wraps an already opened device (tests, or an app sharing its device).
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: wgpu::AdapterInfo,
    ) -> GpuContext {
        GpuContext {
            device,
            queue,
            adapter_info,
            matmul_pipeline: OnceLock::new(),
        }
    }

    /// One line for the UI, e.g. `"llvmpipe (LLVM 19.1.7, 256 bits) · vulkan · CPU fallback"`.
    pub fn adapter_summary(&self) -> String {
        let info = &self.adapter_info;
        let name = if info.name.trim().is_empty() {
            "unnamed adapter"
        } else {
            info.name.trim()
        };
        let kind = match info.device_type {
            wgpu::DeviceType::Cpu => "CPU fallback",
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Other => "GPU",
        };
        format!("{name} · {} · {kind}", info.backend)
    }

    /// Row-major `C = A · B` on the GPU, with `A` of shape `m x k` and `B` of
    /// shape `k x n`; returns `C` (`m x n`, row-major).
    ///
    /// # Errors
    ///
    /// [`GpuError::ShapeMismatch`] when `a.len() != m * k` or
    /// `b.len() != k * n`; [`GpuError::BufferTooLarge`] /
    /// [`GpuError::DispatchTooLarge`] when the problem exceeds the device's
    /// limits; [`GpuError::Gpu`], [`GpuError::OutOfMemory`] or
    /// [`GpuError::Readback`] when the device fails.
    pub async fn matmul(
        &self,
        a: &[f32],
        b: &[f32],
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<Vec<f32>, GpuError> {
        check_shapes(a, b, m, k, n)?;
        let out_len = m.checked_mul(n).ok_or(GpuError::BufferTooLarge {
            what: "the result C",
            bytes: u64::MAX,
            limit: self.device.limits().max_storage_buffer_binding_size,
        })?;
        if out_len == 0 || k == 0 {
            return Ok(vec![0.0; out_len]);
        }
        self.check_limits(a.len(), b.len(), out_len, m, n)?;
        let dims = [to_u32(m)?, to_u32(k)?, to_u32(n)?, 0];
        let out_bytes = byte_len(out_len);

        let oom_scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation_scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);

        let (pipeline, fresh) = match self.matmul_pipeline.get() {
            Some(p) => (p.clone(), false),
            None => (self.create_matmul_pipeline(), true),
        };
        let device = &self.device;
        let dims_buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("odeon matmul dims"),
            contents: bytemuck::cast_slice(&dims),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let a_buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("odeon matmul A"),
            contents: bytemuck::cast_slice(a),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let b_buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("odeon matmul B"),
            contents: bytemuck::cast_slice(b),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let c_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("odeon matmul C"),
            size: out_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("odeon matmul readback"),
            size: out_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("odeon matmul bindings"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: dims_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: a_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: b_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: c_buf.as_entire_binding(),
                },
            ],
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("odeon matmul"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("odeon matmul"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(dims[2].div_ceil(TILE), dims[0].div_ceil(TILE), 1);
        }
        encoder.copy_buffer_to_buffer(&c_buf, 0, &staging, 0, out_bytes);
        self.queue.submit([encoder.finish()]);

        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver is gone only if the caller dropped the future.
            let _ = tx.send(result);
        });

        // Pop (innermost first) before any await: the guards are !Send.
        let validation = validation_scope.pop();
        let oom = oom_scope.pop();

        // Natively nothing drives the GPU but us: wait for the submission so
        // the map callback fires. On the web the browser's event loop does
        // this once we yield at the `.await`s below.
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;

        if let Some(err) = validation.await {
            return Err(GpuError::Gpu(err.to_string()));
        }
        if let Some(err) = oom.await {
            return Err(GpuError::OutOfMemory(err.to_string()));
        }
        if fresh {
            // Cache only a pipeline that compiled without errors. A concurrent
            // first call may have won the race; either pipeline is fine.
            let _ = self.matmul_pipeline.set(pipeline);
        }

        rx.await
            .map_err(|_| GpuError::Readback("the map callback was dropped".to_owned()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&view)
        };
        staging.unmap();
        Ok(out)
    }

    fn create_matmul_pipeline(&self) -> wgpu::ComputePipeline {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("odeon matmul.wgsl"),
                source: wgpu::ShaderSource::Wgsl(MATMUL_WGSL.into()),
            });
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("odeon matmul"),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
    }

    fn check_limits(
        &self,
        a_len: usize,
        b_len: usize,
        c_len: usize,
        m: usize,
        n: usize,
    ) -> Result<(), GpuError> {
        let limits = self.device.limits();
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        for (what, len) in [
            ("matrix A", a_len),
            ("matrix B", b_len),
            ("the result C", c_len),
        ] {
            let bytes = byte_len(len);
            if bytes > limit {
                return Err(GpuError::BufferTooLarge { what, bytes, limit });
            }
        }
        let groups = (m.max(n) as u64).div_ceil(u64::from(TILE));
        if groups > u64::from(limits.max_compute_workgroups_per_dimension) {
            return Err(GpuError::DispatchTooLarge {
                groups,
                limit: limits.max_compute_workgroups_per_dimension,
            });
        }
        Ok(())
    }
}

async fn request_adapter(
    instance: &wgpu::Instance,
    force_fallback_adapter: bool,
) -> Result<wgpu::Adapter, wgpu::RequestAdapterError> {
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter,
            compatible_surface: None,
            ..Default::default()
        })
        .await
}

fn check_shapes(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Result<(), GpuError> {
    for (operand, data, rows, cols) in [("a", a, m, k), ("b", b, k, n)] {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(GpuError::ShapeMismatch {
                operand,
                len: data.len(),
                rows,
                cols,
            });
        }
    }
    Ok(())
}

fn byte_len(len: usize) -> u64 {
    (len as u64).saturating_mul(size_of::<f32>() as u64)
}

fn to_u32(dim: usize) -> Result<u32, GpuError> {
    u32::try_from(dim).map_err(|_| GpuError::DispatchTooLarge {
        groups: (dim as u64).div_ceil(u64::from(TILE)),
        limit: u32::MAX / TILE,
    })
}

/// Naive row-major `C = A · B` on the CPU (`A`: `m x k`, `B`: `k x n`),
/// the reference the GPU kernels are checked against.
///
/// Accumulates in `f64`. Panics-free: on a shape mismatch it uses only the
/// elements present (missing ones count as zero), so check shapes first if
/// that matters.
pub fn matmul_cpu_reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0.0_f32; m.saturating_mul(n)];
    for (i, row) in c.chunks_exact_mut(n.max(1)).enumerate().take(m) {
        for (j, out) in row.iter_mut().enumerate() {
            let mut acc = 0.0_f64;
            for p in 0..k {
                let x = a.get(i * k + p).copied().unwrap_or(0.0);
                let y = b.get(p * n + j).copied().unwrap_or(0.0);
                acc += f64::from(x) * f64::from(y);
            }
            *out = acc as f32;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_reference_small() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        assert_eq!(
            matmul_cpu_reference(&a, &b, 2, 3, 2),
            vec![58.0, 64.0, 139.0, 154.0]
        );
    }

    #[test]
    fn shape_check() {
        assert!(check_shapes(&[0.0; 6], &[0.0; 6], 2, 3, 2).is_ok());
        assert!(matches!(
            check_shapes(&[0.0; 5], &[0.0; 6], 2, 3, 2),
            Err(GpuError::ShapeMismatch { operand: "a", .. })
        ));
        assert!(matches!(
            check_shapes(&[0.0; 6], &[0.0; 7], 2, 3, 2),
            Err(GpuError::ShapeMismatch { operand: "b", .. })
        ));
        assert!(check_shapes(&[], &[], usize::MAX, 2, 0).is_err());
    }
}
