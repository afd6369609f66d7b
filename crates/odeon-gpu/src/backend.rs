//! [`Wgpu`]: odeon-tensor's [`Backend`] on a wgpu device (see the crate docs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use odeon_tensor::{
    AdamScalars, AdamState, Backend, BinaryOp, Conv2dGeometry, Csr, DType, ReduceOp, TensorError,
    UnaryOp,
};
use wgpu::util::DeviceExt as _;

use crate::fusion::Program;
use crate::{GpuContext, GpuError};

/// Invocations per workgroup of the 1-D kernels (`WG` in `prelude.wgsl`).
const WG: u32 = 256;
/// Side of the block of C one matmul workgroup computes (`BM`, `BN` in `matmul_batched.wgsl`).
const MM_TILE: u32 = 64;
/// A reduction at least this long gets a workgroup per output element (with
/// the workgroup kernels, see `Inner::workgroup_kernels`).
const WIDE_REDUCTION: usize = 256;
/// Dispatches recorded before the backend submits them to the queue.
const SUBMIT_EVERY: usize = 64;
/// Storage buffers the Adam kernel binds at once (WebGPU's default limit).
const STORAGE_BUFFERS_NEEDED: u32 = 8;

const PRELUDE: &str = include_str!("kernels/prelude.wgsl");

/// The WGSL modules of the backend; each is compiled with the prelude in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Module {
    Elementwise,
    Fused,
    Adam,
    Movement,
    Reduce,
    Matmul,
    ConvSparse,
}

impl Module {
    fn source(self) -> &'static str {
        match self {
            Module::Elementwise => include_str!("kernels/elementwise.wgsl"),
            Module::Fused => include_str!("kernels/fused.wgsl"),
            Module::Adam => include_str!("kernels/adam.wgsl"),
            Module::Movement => include_str!("kernels/movement.wgsl"),
            Module::Reduce => include_str!("kernels/reduce.wgsl"),
            Module::Matmul => include_str!("kernels/matmul_batched.wgsl"),
            Module::ConvSparse => include_str!("kernels/conv_sparse.wgsl"),
        }
    }
}

/// A tensor's data on the GPU: an `f32` device buffer and its element count,
/// or, for the result of an elementwise operation, a pending fused program
/// that becomes a buffer when something needs one (see the crate docs,
/// "Fusion and batching").
///
/// Cloning shares the data (results are always written to fresh buffers,
/// so sharing is safe). An empty tensor still owns a 4-byte buffer, since
/// WebGPU cannot bind empty ones.
#[derive(Clone)]
pub struct GpuStorage {
    // On wasm32 wgpu's handles are neither Send nor Sync; Arc keeps one type
    // for both targets.
    inner: Arc<StorageInner>,
}

struct StorageInner {
    len: usize,
    buffer: OnceLock<wgpu::Buffer>,
    /// The fused program still to run; taken when it runs, so a materialised
    /// tensor no longer keeps its inputs alive.
    pending: Mutex<Option<Program>>,
}

impl std::fmt::Debug for GpuStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuStorage")
            .field("len", &self.inner.len)
            .field("pending", &self.inner.buffer.get().is_none())
            .finish()
    }
}

impl GpuStorage {
    #[allow(clippy::arc_with_non_send_sync)] // see the field
    fn ready(buffer: wgpu::Buffer, len: usize) -> GpuStorage {
        let cell = OnceLock::new();
        let _ = cell.set(buffer);
        GpuStorage { inner: Arc::new(StorageInner { len, buffer: cell, pending: Mutex::new(None) }) }
    }

    #[allow(clippy::arc_with_non_send_sync)] // see the field
    fn pending(program: Program, len: usize) -> GpuStorage {
        GpuStorage { inner: Arc::new(StorageInner { len, buffer: OnceLock::new(), pending: Mutex::new(Some(program)) }) }
    }

    /// Number of `f32` elements.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// The device buffer (at least `4 * len` bytes, `f32`, row-major), or
    /// `None` while the tensor is a pending fused program (any backend
    /// operation or read materialises it).
    pub fn buffer(&self) -> Option<&wgpu::Buffer> {
        self.inner.buffer.get()
    }

    /// True for two handles to the same data.
    pub(crate) fn same(&self, other: &GpuStorage) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The program a consumer may extend: this tensor's own pending program
    /// when it is short, else a read of this tensor as it is.
    fn operand(&self) -> Program {
        if self.inner.buffer.get().is_none() {
            let pending = self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(program) = pending.as_ref().filter(|p| p.code.len() <= crate::fusion::MAX_INLINE) {
                return program.clone();
            }
        }
        Program::leaf(self)
    }
}

struct Inner {
    ctx: Arc<GpuContext>,
    pipelines: Mutex<HashMap<(Module, &'static str), wgpu::ComputePipeline>>,
    /// The first error the device reported outside an error scope; surfaced
    /// by the next read (work is queued, so errors show up late).
    device_error: Arc<Mutex<Option<String>>>,
    /// Kernels dispatched so far (the fusion benchmark counts them).
    dispatches: AtomicUsize,
    /// Whether elementwise chains fuse (on unless a benchmark turns it off).
    fusion: AtomicBool,
    /// Recorded commands not yet submitted, and how many.
    encoder: Mutex<Option<(wgpu::CommandEncoder, usize)>>,
    /// Whether kernels share work through workgroup memory (hardware
    /// adapters: the tiled `matmul`, `reduce_wide` for long reductions) or
    /// avoid barriers (software adapters, where a barrier switches between
    /// emulated invocations: `matmul_direct`, `reduce_rows`; the direct
    /// matmul measured 2.7x faster on lavapipe, 6x on SwiftShader).
    workgroup_kernels: AtomicBool,
}

/// odeon-tensor's [`Backend`] on a wgpu device: `Tensor<Wgpu>` runs every
/// kernel on the GPU, `f32` only.
///
/// Cloning is cheap (shared device, queue and compiled pipelines). Two
/// handles are equal when they share the same device.
#[derive(Clone)]
pub struct Wgpu {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Wgpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wgpu")
            .field("adapter", &self.inner.ctx.adapter_summary())
            .finish()
    }
}

impl PartialEq for Wgpu {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

fn device_err(message: impl Into<String>) -> TensorError {
    TensorError::Device(message.into())
}

fn to_u32(value: usize, what: &str) -> Result<u32, TensorError> {
    u32::try_from(value).map_err(|_| device_err(format!("{what} ({value}) is too large for the GPU backend (at most {} elements per tensor); use the CPU backend", u32::MAX)))
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

/// Strides into a tensor of `shape` for each axis of `out` (NumPy broadcasting:
/// shapes align at the right, size-one and missing axes get stride 0).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Result<Vec<usize>, TensorError> {
    if shape.len() > out.len() {
        return Err(TensorError::Shape(format!(
            "cannot broadcast {shape:?} to {out:?}"
        )));
    }
    let own = row_major_strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len())
        .map(|d| {
            if d < lead {
                return Ok(0);
            }
            let size = shape[d - lead];
            if size == out[d] {
                Ok(if size == 1 { 0 } else { own[d - lead] })
            } else if size == 1 {
                Ok(0)
            } else {
                Err(TensorError::Shape(format!(
                    "cannot broadcast {shape:?} to {out:?}"
                )))
            }
        })
        .collect()
}

fn u32s(values: &[usize], what: &str) -> Result<Vec<u32>, TensorError> {
    values.iter().map(|&v| to_u32(v, what)).collect()
}

fn unary_code(op: UnaryOp) -> u32 {
    match op {
        UnaryOp::Neg => 0,
        UnaryOp::Exp => 1,
        UnaryOp::Ln => 2,
        UnaryOp::Sin => 3,
        UnaryOp::Cos => 4,
        UnaryOp::Tanh => 5,
        UnaryOp::Square => 6,
        UnaryOp::Sqrt => 7,
        UnaryOp::Recip => 8,
        UnaryOp::Abs => 9,
        UnaryOp::Relu => 10,
        UnaryOp::Sigmoid => 11,
        UnaryOp::Silu => 12,
        UnaryOp::Softplus => 13,
        UnaryOp::Step => 14,
        UnaryOp::Sign => 15,
    }
}

fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
        BinaryOp::Pow => 6,
        BinaryOp::Gt => 7,
        BinaryOp::Ge => 8,
        BinaryOp::Lt => 9,
        BinaryOp::Eq => 10,
    }
}

fn reduce_code(op: ReduceOp) -> u32 {
    match op {
        ReduceOp::Sum => 0,
        ReduceOp::Max => 1,
        ReduceOp::Min => 2,
    }
}

impl Wgpu {
    /// A backend on an open device.
    ///
    /// Installs an uncaptured-error handler on the device that records the
    /// first error for the next read to report (instead of wgpu's default
    /// panic), so share a device with other code knowingly.
    ///
    /// # Errors
    ///
    /// [`GpuError::Gpu`] when the device allows fewer than 8 storage buffers
    /// per shader stage (WebGPU's default; only downlevel devices have less).
    pub fn new(ctx: Arc<GpuContext>) -> Result<Wgpu, GpuError> {
        let limits = ctx.device.limits();
        if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_NEEDED {
            return Err(GpuError::Gpu(format!(
                "this device allows {} storage buffers per shader, the GPU tensor backend needs {STORAGE_BUFFERS_NEEDED}",
                limits.max_storage_buffers_per_shader_stage
            )));
        }
        let software = crate::policy::AdapterFacts::from_context(&ctx, None).software().is_some();
        let device_error: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = device_error.clone();
        ctx.device
            .on_uncaptured_error(Arc::new(move |err: wgpu::Error| {
                let mut slot = sink.lock().unwrap_or_else(PoisonError::into_inner);
                if slot.is_none() {
                    *slot = Some(err.to_string());
                }
            }));
        // On wasm32 wgpu's WebGPU handles are not Send/Sync; Arc keeps one
        // type for both targets (natively the backend is shared by threads).
        #[allow(clippy::arc_with_non_send_sync)]
        let inner = Arc::new(Inner {
            ctx,
            pipelines: Mutex::default(),
            device_error,
            dispatches: AtomicUsize::new(0),
            fusion: AtomicBool::new(true),
            encoder: Mutex::default(),
            workgroup_kernels: AtomicBool::new(!software),
        });
        Ok(Wgpu { inner })
    }

    /// Opens a device ([`GpuContext::new`]) and wraps it.
    ///
    /// # Errors
    ///
    /// As [`GpuContext::new`] and [`Wgpu::new`].
    pub async fn request() -> Result<Wgpu, GpuError> {
        #[allow(clippy::arc_with_non_send_sync)] // see Wgpu::new
        let ctx = Arc::new(GpuContext::new().await?);
        Wgpu::new(ctx)
    }

    /// The device context.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.inner.ctx
    }

    fn device(&self) -> &wgpu::Device {
        &self.inner.ctx.device
    }

    /// Reads a tensor back without blocking: the way to read on the web.
    ///
    /// Queues a copy into a staging buffer and awaits `map_async`'s callback.
    /// In the browser the callback fires once the worker's event loop runs;
    /// natively this future polls the device itself (so any executor, e.g.
    /// `pollster::block_on`, completes it).
    ///
    /// # Errors
    ///
    /// [`TensorError::Device`] when the device reported an error for queued
    /// work or the mapping fails.
    pub async fn read_f32_async(&self, storage: &GpuStorage) -> Result<Vec<f32>, TensorError> {
        if storage.is_empty() {
            return self.check_device_error().map(|()| Vec::new());
        }
        let staging = self.copy_to_staging(storage)?;
        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver is gone only if the caller dropped the future.
            let _ = tx.send(result);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| device_err(format!("waiting for the GPU failed: {e}")))?;
        rx.await
            .map_err(|_| device_err("reading from the GPU failed: the map callback was dropped"))?
            .map_err(|e| device_err(format!("reading from the GPU failed: {e}")))?;
        self.finish_read(&staging, storage.len())
    }

    /// [`Wgpu::read_f32_async`] widened to `f64`.
    ///
    /// # Errors
    ///
    /// As [`Wgpu::read_f32_async`].
    pub async fn read_f64_async(&self, storage: &GpuStorage) -> Result<Vec<f64>, TensorError> {
        Ok(self
            .read_f32_async(storage)
            .await?
            .into_iter()
            .map(f64::from)
            .collect())
    }

    fn check_device_error(&self) -> Result<(), TensorError> {
        let slot = self
            .inner
            .device_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match slot.as_ref() {
            Some(err) => Err(device_err(format!("the GPU rejected earlier work: {err}"))),
            None => Ok(()),
        }
    }

    fn copy_to_staging(&self, storage: &GpuStorage) -> Result<wgpu::Buffer, TensorError> {
        let bytes = storage.len() as u64 * 4;
        let staging = self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("odeon readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let source = self.buf(storage)?;
        self.encode(|encoder| encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes));
        self.flush();
        Ok(staging)
    }

    fn finish_read(&self, staging: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, TensorError> {
        let out = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| device_err(format!("reading from the GPU failed: {e}")))?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&view)
        };
        staging.unmap();
        self.check_device_error()?;
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn read_blocking(&self, storage: &GpuStorage) -> Result<Vec<f32>, TensorError> {
        if storage.is_empty() {
            return self.check_device_error().map(|()| Vec::new());
        }
        let staging = self.copy_to_staging(storage)?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                let _ = tx.send(result);
            });
        self.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| device_err(format!("waiting for the GPU failed: {e}")))?;
        rx.recv()
            .map_err(|_| device_err("reading from the GPU failed: the map callback was dropped"))?
            .map_err(|e| device_err(format!("reading from the GPU failed: {e}")))?;
        self.finish_read(&staging, storage.len())
    }

    fn f32_only(&self, dtype: DType) -> Result<(), TensorError> {
        match dtype {
            DType::F32 => Ok(()),
            DType::F64 => Err(TensorError::Unsupported {
                device: "the GPU".into(),
                what: "f64 tensors".into(),
                advice: "f64 stays on the CPU: use f32 on the GPU, or the CPU backend for f64 work"
                    .into(),
            }),
        }
    }

    fn check_bytes(&self, len: usize) -> Result<u64, TensorError> {
        let bytes = (len.max(1) as u64).saturating_mul(4);
        let limits = self.device().limits();
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if bytes > limit {
            return Err(device_err(format!(
                "a tensor of {len} elements needs {bytes} bytes, more than this GPU allows in one buffer ({limit} bytes); use smaller tensors or the CPU backend"
            )));
        }
        Ok(bytes)
    }

    /// A zeroed buffer for `len` elements (wgpu zero-initialises buffers).
    fn alloc(&self, len: usize) -> Result<GpuStorage, TensorError> {
        let size = self.check_bytes(len)?;
        let buffer = self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("odeon tensor"),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuStorage::ready(buffer, len))
    }

    fn upload(&self, data: &[f32]) -> Result<GpuStorage, TensorError> {
        if data.is_empty() {
            return self.alloc(0);
        }
        self.check_bytes(data.len())?;
        let buffer = self
            .device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("odeon tensor"),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            });
        Ok(GpuStorage::ready(buffer, data.len()))
    }

    /// The buffer of `storage`, running its pending fused program first
    /// (one dispatch; see [`crate::fusion`]).
    fn buf<'a>(&self, storage: &'a GpuStorage) -> Result<&'a wgpu::Buffer, TensorError> {
        if let Some(buffer) = storage.inner.buffer.get() {
            return Ok(buffer);
        }
        let program = storage
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| device_err("a GPU tensor lost its data (a fused program ran twice)"))?;
        let out = self.alloc(storage.len())?;
        let buffer = out.inner.buffer.get().ok_or_else(|| device_err("a fresh GPU buffer is missing"))?;
        if !storage.is_empty() {
            let leaves = program
                .leaves
                .iter()
                .map(|leaf| self.buf(leaf))
                .collect::<Result<Vec<_>, _>>()?;
            let input = |k: usize| leaves.get(k).copied().unwrap_or(leaves[0]);
            let mut params = vec![
                to_u32(storage.len(), "a tensor")?,
                to_u32(program.code.len(), "a program")?,
            ];
            params.extend_from_slice(&program.code);
            self.dispatch(
                Module::Fused,
                "fused",
                &params,
                &[(1, input(0)), (2, input(1)), (3, input(2)), (4, buffer)],
                self.grid(storage.len(), false)?,
            );
        }
        Ok(storage.inner.buffer.get_or_init(|| buffer.clone()))
    }

    /// A pending elementwise result of `len` elements computing `program`,
    /// or, when the program could not grow (too long, too many inputs), the
    /// same operation built from materialised operands by `fallback`.
    fn fused(
        &self,
        len: usize,
        program: Option<Program>,
        fallback: impl FnOnce() -> Option<Program>,
    ) -> Result<GpuStorage, TensorError> {
        if len == 0 {
            return self.alloc(0);
        }
        self.check_bytes(len)?;
        let program = program
            .or_else(fallback)
            .ok_or_else(|| device_err("an elementwise operation could not be compiled for the GPU"))?;
        let out = GpuStorage::pending(program, len);
        if !self.inner.fusion.load(Ordering::Relaxed) {
            self.buf(&out)?;
        }
        Ok(out)
    }

    /// Turns elementwise fusion on (the default) or off: off, every
    /// elementwise operation is its own dispatch, as before fusion existed
    /// (for benchmarks and tests; results are the same bits either way).
    pub fn set_fusion(&self, on: bool) {
        self.inner.fusion.store(on, Ordering::Relaxed);
    }

    /// Whether this backend uses the kernels that share work through
    /// workgroup memory (the default on hardware adapters) or the
    /// barrier-free ones (the default on software adapters).
    pub fn uses_workgroup_kernels(&self) -> bool {
        self.inner.workgroup_kernels.load(Ordering::Relaxed)
    }

    /// Chooses between the two kernel sets (the default follows the
    /// adapter; tests run both on any adapter).
    pub fn use_workgroup_kernels(&self, on: bool) {
        self.inner.workgroup_kernels.store(on, Ordering::Relaxed);
    }

    fn matmul_kernel(&self) -> &'static str {
        if self.uses_workgroup_kernels() { "matmul" } else { "matmul_direct" }
    }

    /// Number of kernels dispatched on this device so far.
    pub fn dispatch_count(&self) -> usize {
        self.inner.dispatches.load(Ordering::Relaxed)
    }

    fn pipeline(&self, module: Module, entry: &'static str) -> wgpu::ComputePipeline {
        let mut cache = self
            .inner
            .pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry((module, entry))
            .or_insert_with(|| {
                let source = format!("{PRELUDE}\n{}", module.source());
                let shader = self
                    .device()
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(entry),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    });
                self.device()
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(entry),
                        layout: None,
                        module: &shader,
                        entry_point: Some(entry),
                        compilation_options: wgpu::PipelineCompilationOptions::default(),
                        cache: None,
                    })
            })
            .clone()
    }

    /// Workgroups for `threads` invocations of a 1-D kernel (or `threads`
    /// workgroups when `per_group`), folded into x and y to respect the
    /// per-dimension limit.
    fn grid(&self, count: usize, per_group: bool) -> Result<(u32, u32, u32), TensorError> {
        let groups = if per_group {
            count
        } else {
            count.div_ceil(WG as usize)
        };
        let max = self.device().limits().max_compute_workgroups_per_dimension as usize;
        let x = groups.clamp(1, max);
        let y = groups.div_ceil(x);
        if y > max {
            return Err(device_err(format!(
                "{count} elements need more workgroups than this GPU allows; use smaller tensors or the CPU backend"
            )));
        }
        Ok((x as u32, y as u32, 1))
    }

    /// Queues one dispatch: `params` at binding 0, `bindings` as given.
    /// Nothing waits: the work runs whenever the queue gets to it.
    fn dispatch(
        &self,
        module: Module,
        entry: &'static str,
        params: &[u32],
        bindings: &[(u32, &wgpu::Buffer)],
        groups: (u32, u32, u32),
    ) {
        self.inner.dispatches.fetch_add(1, Ordering::Relaxed);
        let pipeline = self.pipeline(module, entry);
        let params = if params.is_empty() { &[0][..] } else { params };
        let params_buf = self
            .device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("odeon params"),
                contents: bytemuck::cast_slice(params),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params_buf.as_entire_binding(),
        }];
        entries.extend(
            bindings
                .iter()
                .map(|&(binding, buffer)| wgpu::BindGroupEntry {
                    binding,
                    resource: buffer.as_entire_binding(),
                }),
        );
        let bind_group = self.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let queued = self.encode(|encoder| {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(entry),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        });
        if queued >= SUBMIT_EVERY {
            self.flush();
        }
    }

    /// Records into the open command encoder (opening one if needed) and
    /// returns how many commands it holds. Commands are submitted in
    /// batches ([`SUBMIT_EVERY`], and before every read): a queue
    /// submission is the costly part of a dispatch in a browser, and
    /// recording order is execution order, so batching changes nothing else.
    fn encode(&self, record: impl FnOnce(&mut wgpu::CommandEncoder)) -> usize {
        let mut open = self.inner.encoder.lock().unwrap_or_else(PoisonError::into_inner);
        let (encoder, count) = open.get_or_insert_with(|| {
            let encoder = self
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("odeon commands") });
            (encoder, 0)
        });
        record(encoder);
        *count += 1;
        *count
    }

    /// Submits the recorded commands. The lock is held until the queue has
    /// them, so a reader on another thread that finds nothing left to
    /// submit knows its copy is already queued.
    fn flush(&self) {
        let mut open = self.inner.encoder.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((encoder, _)) = open.take() {
            self.inner.ctx.queue.submit([encoder.finish()]);
        }
    }

    /// `out[dst_off + c . dst_strides] = x[src_off + c . src_strides]` over a view of `shape`.
    fn strided_copy(
        &self,
        x: &GpuStorage,
        out: &GpuStorage,
        shape: &[usize],
        src: (usize, &[usize]),
        dst: (usize, &[usize]),
    ) -> Result<(), TensorError> {
        let n: usize = shape.iter().product();
        if n == 0 {
            return Ok(());
        }
        let mut params = vec![
            to_u32(n, "a copy")?,
            to_u32(shape.len(), "rank")?,
            to_u32(src.0, "an offset")?,
            to_u32(dst.0, "an offset")?,
        ];
        params.extend(u32s(shape, "a size")?);
        params.extend(u32s(src.1, "a stride")?);
        params.extend(u32s(dst.1, "a stride")?);
        self.dispatch(
            Module::Movement,
            "strided_copy",
            &params,
            &[(1, self.buf(x)?), (3, self.buf(out)?)],
            self.grid(n, false)?,
        );
        Ok(())
    }

    fn matmul_impl(
        &self,
        a: &GpuStorage,
        b: &GpuStorage,
        bias: Option<&GpuStorage>,
        dims: [usize; 4],
    ) -> Result<GpuStorage, TensorError> {
        let [batch, m, k, n] = dims;
        let out = self.alloc(batch * m * n)?;
        if batch * m * n == 0 {
            return Ok(out);
        }
        let limit = self.device().limits().max_compute_workgroups_per_dimension as usize;
        let (gx, gy) = (n.div_ceil(MM_TILE as usize), m.div_ceil(MM_TILE as usize));
        if gx > limit || gy > limit || batch > limit {
            return Err(device_err(format!(
                "a {batch} x [{m}, {k}] x [{k}, {n}] product needs more workgroups than this GPU allows; use smaller matrices or the CPU backend"
            )));
        }
        let params = [
            to_u32(m, "rows")?,
            to_u32(k, "inner size")?,
            to_u32(n, "columns")?,
            to_u32(batch, "batch")?,
            u32::from(bias.is_some()),
        ];
        // Without a bias the left operand stands in at binding 3, unread (the
        // output cannot: one buffer may not be bound read-only and writable).
        let bias_buf = match bias {
            Some(s) => self.buf(s)?,
            None => self.buf(a)?,
        };
        self.dispatch(
            Module::Matmul,
            self.matmul_kernel(),
            &params,
            &[
                (1, self.buf(a)?),
                (2, self.buf(b)?),
                (3, bias_buf),
                (4, self.buf(&out)?),
            ],
            (gx as u32, gy as u32, batch as u32),
        );
        Ok(out)
    }
}

impl Backend for Wgpu {
    type Storage = GpuStorage;

    fn name(&self) -> String {
        format!("GPU ({})", self.inner.ctx.adapter_summary())
    }

    fn upload_f64(
        &self,
        data: &[f64],
        _shape: &[usize],
        dtype: DType,
    ) -> Result<GpuStorage, TensorError> {
        self.f32_only(dtype)?;
        let values: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        self.upload(&values)
    }

    fn upload_f32(
        &self,
        data: &[f32],
        _shape: &[usize],
        dtype: DType,
    ) -> Result<GpuStorage, TensorError> {
        self.f32_only(dtype)?;
        self.upload(data)
    }

    /// Natively: blocks, polling the device until the copy is done. On wasm32:
    /// an error, since the browser cannot block; use [`Wgpu::read_f32_async`].
    fn read_f64(&self, storage: &GpuStorage) -> Result<Vec<f64>, TensorError> {
        Ok(self.read_f32(storage)?.into_iter().map(f64::from).collect())
    }

    /// Natively: blocks, polling the device until the copy is done. On wasm32:
    /// an error, since the browser cannot block; use [`Wgpu::read_f32_async`].
    fn read_f32(&self, storage: &GpuStorage) -> Result<Vec<f32>, TensorError> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.read_blocking(storage);
        #[cfg(target_arch = "wasm32")]
        {
            let _ = storage;
            Err(device_err(
                "a GPU tensor cannot be read synchronously in the browser (the result arrives only after the worker yields); read it with Wgpu::read_f32_async, or from a training handle once it resolves",
            ))
        }
    }

    fn dtype(&self, _storage: &GpuStorage) -> DType {
        DType::F32
    }

    fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<GpuStorage, TensorError> {
        self.f32_only(dtype)?;
        let n: usize = shape.iter().product();
        let out = self.alloc(n)?;
        if n > 0 && value != 0.0 {
            let params = [to_u32(n, "a tensor")?, (value as f32).to_bits()];
            self.dispatch(
                Module::Elementwise,
                "fill",
                &params,
                &[(4, self.buf(&out)?)],
                self.grid(n, false)?,
            );
        }
        Ok(out)
    }

    fn cast(&self, storage: &GpuStorage, dtype: DType) -> Result<GpuStorage, TensorError> {
        self.f32_only(dtype)?;
        Ok(storage.clone())
    }

    fn unary(&self, op: UnaryOp, x: &GpuStorage) -> Result<GpuStorage, TensorError> {
        let code = unary_code(op);
        self.fused(x.len(), x.operand().unary(code), || Program::leaf(x).unary(code))
    }

    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &GpuStorage,
        grad: &GpuStorage,
    ) -> Result<GpuStorage, TensorError> {
        if x.len() != grad.len() {
            return Err(TensorError::Shape(format!(
                "unary backward: {} values vs a gradient of {}",
                x.len(), grad.len()
            )));
        }
        // grad * op'(x), as the unfused kernel computes it.
        let (code, mul) = (unary_code(op), binary_code(BinaryOp::Mul));
        let fused = x
            .operand()
            .derivative(code)
            .and_then(|d| grad.operand().binary(mul, &d));
        self.fused(x.len(), fused, || {
            Program::leaf(grad).binary(mul, &Program::leaf(x).derivative(code)?)
        })
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: (&GpuStorage, &[usize]),
        b: (&GpuStorage, &[usize]),
        out_shape: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        let n: usize = out_shape.iter().product();
        let code = binary_code(op);
        if a.1 == out_shape && b.1 == out_shape {
            // Same shapes: elementwise, so it fuses.
            return self.fused(n, a.0.operand().binary(code, &b.0.operand()), || {
                Program::leaf(a.0).binary(code, &Program::leaf(b.0))
            });
        }
        let (sa, sb) = (
            broadcast_strides(a.1, out_shape)?,
            broadcast_strides(b.1, out_shape)?,
        );
        let out = self.alloc(n)?;
        if n > 0 {
            let mut params = vec![
                to_u32(n, "a tensor")?,
                to_u32(out_shape.len(), "rank")?,
                code,
            ];
            params.extend(u32s(out_shape, "a size")?);
            params.extend(u32s(&sa, "a stride")?);
            params.extend(u32s(&sb, "a stride")?);
            self.dispatch(
                Module::Elementwise,
                "binary",
                &params,
                &[(1, self.buf(a.0)?), (2, self.buf(b.0)?), (4, self.buf(&out)?)],
                self.grid(n, false)?,
            );
        }
        Ok(out)
    }

    fn scalar(
        &self,
        op: BinaryOp,
        x: &GpuStorage,
        c: f64,
        scalar_first: bool,
    ) -> Result<GpuStorage, TensorError> {
        let (code, c) = (binary_code(op), c as f32);
        self.fused(x.len(), x.operand().scalar(code, c, scalar_first), || {
            Program::leaf(x).scalar(code, c, scalar_first)
        })
    }

    fn select(
        &self,
        cond: (&GpuStorage, &[usize]),
        a: (&GpuStorage, &[usize]),
        b: (&GpuStorage, &[usize]),
        out_shape: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        let n: usize = out_shape.iter().product();
        let strides = [
            broadcast_strides(cond.1, out_shape)?,
            broadcast_strides(a.1, out_shape)?,
            broadcast_strides(b.1, out_shape)?,
        ];
        let out = self.alloc(n)?;
        if n > 0 {
            let mut params = vec![to_u32(n, "a tensor")?, to_u32(out_shape.len(), "rank")?];
            params.extend(u32s(out_shape, "a size")?);
            for s in &strides {
                params.extend(u32s(s, "a stride")?);
            }
            self.dispatch(
                Module::Elementwise,
                "select_where",
                &params,
                &[
                    (1, self.buf(cond.0)?),
                    (2, self.buf(a.0)?),
                    (3, self.buf(b.0)?),
                    (4, self.buf(&out)?),
                ],
                self.grid(n, false)?,
            );
        }
        Ok(out)
    }

    fn addmm(
        &self,
        bias: (&GpuStorage, &[usize]),
        a: (&GpuStorage, &[usize]),
        b: (&GpuStorage, &[usize]),
    ) -> Result<GpuStorage, TensorError> {
        let (&[m, k], &[k2, n]) = (a.1, b.1) else {
            return Err(TensorError::Matmul {
                left: a.1.to_vec(),
                right: b.1.to_vec(),
            });
        };
        if k != k2 || bias.0.len() != n {
            return Err(TensorError::Matmul {
                left: a.1.to_vec(),
                right: b.1.to_vec(),
            });
        }
        self.matmul_impl(a.0, b.0, Some(bias.0), [1, m, k, n])
    }

    fn adam_update(
        &self,
        p: &GpuStorage,
        g: &GpuStorage,
        m: &GpuStorage,
        v: &GpuStorage,
        s: AdamScalars,
    ) -> Result<AdamState<GpuStorage>, TensorError> {
        let n = p.len();
        if g.len() != n || m.len() != n || v.len() != n {
            return Err(TensorError::Shape(
                "adam: parameter, gradient and moments differ in size".into(),
            ));
        }
        let (p_out, m_out, v_out) = (self.alloc(n)?, self.alloc(n)?, self.alloc(n)?);
        if n > 0 {
            let (b1, b2) = (s.beta1 as f32, s.beta2 as f32);
            let params = [
                to_u32(n, "a tensor")?,
                (s.step as f32).to_bits(),
                (s.v_correction as f32).to_bits(),
                b1.to_bits(),
                b2.to_bits(),
                (1.0 - b1).to_bits(),
                (1.0 - b2).to_bits(),
                (s.eps as f32).to_bits(),
                (s.decay as f32).to_bits(),
            ];
            self.dispatch(
                Module::Adam,
                "adam",
                &params,
                &[
                    (1, self.buf(p)?),
                    (2, self.buf(g)?),
                    (3, self.buf(m)?),
                    (4, self.buf(v)?),
                    (5, self.buf(&p_out)?),
                    (6, self.buf(&m_out)?),
                    (7, self.buf(&v_out)?),
                ],
                self.grid(n, false)?,
            );
        }
        Ok((p_out, m_out, v_out))
    }

    fn matmul(
        &self,
        a: (&GpuStorage, &[usize]),
        b: (&GpuStorage, &[usize]),
    ) -> Result<GpuStorage, TensorError> {
        let (ra, rb) = (a.1.len(), b.1.len());
        if ra < 2 || ra != rb || a.1[..ra - 2] != b.1[..rb - 2] || a.1[ra - 1] != b.1[rb - 2] {
            return Err(TensorError::Matmul {
                left: a.1.to_vec(),
                right: b.1.to_vec(),
            });
        }
        let batch: usize = a.1[..ra - 2].iter().product();
        self.matmul_impl(
            a.0,
            b.0,
            None,
            [batch, a.1[ra - 2], a.1[ra - 1], b.1[rb - 1]],
        )
    }

    fn reduce(
        &self,
        op: ReduceOp,
        x: (&GpuStorage, &[usize]),
        axes: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        let shape = x.1;
        let strides = row_major_strides(shape);
        let reduced: Vec<bool> = (0..shape.len()).map(|d| axes.contains(&d)).collect();
        let (mut kept_shape, mut kept_strides, mut red_shape, mut red_strides) =
            (vec![], vec![], vec![], vec![]);
        for d in 0..shape.len() {
            if reduced[d] {
                red_shape.push(shape[d]);
                red_strides.push(strides[d]);
            } else {
                kept_shape.push(shape[d]);
                kept_strides.push(strides[d]);
            }
        }
        let n_out: usize = kept_shape.iter().product();
        let r_len: usize = red_shape.iter().product();
        let out = self.alloc(n_out)?;
        if n_out == 0 {
            return Ok(out);
        }
        let mut params = vec![
            to_u32(n_out, "a tensor")?,
            reduce_code(op),
            to_u32(kept_shape.len(), "rank")?,
            to_u32(red_shape.len(), "rank")?,
            to_u32(r_len, "a reduction")?,
        ];
        for part in [&kept_shape, &kept_strides, &red_shape, &red_strides] {
            params.extend(u32s(part, "a size")?);
        }
        let wide = r_len >= WIDE_REDUCTION && self.uses_workgroup_kernels();
        let (entry, groups) = if wide {
            ("reduce_wide", self.grid(n_out, true)?)
        } else {
            ("reduce_rows", self.grid(n_out, false)?)
        };
        self.dispatch(
            Module::Reduce,
            entry,
            &params,
            &[(1, self.buf(x.0)?), (2, self.buf(&out)?)],
            groups,
        );
        Ok(out)
    }

    /// No copy: the buffer is row-major whatever the shape.
    fn reshape(
        &self,
        x: (&GpuStorage, &[usize]),
        shape: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        if shape.iter().product::<usize>() != x.0.len() {
            return Err(TensorError::Shape(format!(
                "cannot reshape {:?} into {shape:?}",
                x.1
            )));
        }
        Ok(x.0.clone())
    }

    fn permute(
        &self,
        x: (&GpuStorage, &[usize]),
        perm: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        let in_strides = row_major_strides(x.1);
        let shape: Vec<usize> = perm.iter().map(|&p| x.1[p]).collect();
        let src: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
        let out = self.alloc(x.0.len())?;
        self.strided_copy(
            x.0,
            &out,
            &shape,
            (0, &src),
            (0, &row_major_strides(&shape)),
        )?;
        Ok(out)
    }

    fn broadcast_to(
        &self,
        x: (&GpuStorage, &[usize]),
        shape: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        let src = broadcast_strides(x.1, shape)?;
        let out = self.alloc(shape.iter().product())?;
        self.strided_copy(x.0, &out, shape, (0, &src), (0, &row_major_strides(shape)))?;
        Ok(out)
    }

    fn slice(
        &self,
        x: (&GpuStorage, &[usize]),
        axis: usize,
        start: usize,
        end: usize,
    ) -> Result<GpuStorage, TensorError> {
        let in_strides = row_major_strides(x.1);
        let mut shape = x.1.to_vec();
        shape[axis] = end - start;
        let out = self.alloc(shape.iter().product())?;
        self.strided_copy(
            x.0,
            &out,
            &shape,
            (start * in_strides[axis], &in_strides),
            (0, &row_major_strides(&shape)),
        )?;
        Ok(out)
    }

    fn concat(
        &self,
        parts: &[(&GpuStorage, &[usize])],
        axis: usize,
    ) -> Result<GpuStorage, TensorError> {
        let first = parts
            .first()
            .ok_or_else(|| TensorError::Shape("concat needs at least one tensor".into()))?;
        let mut shape = first.1.to_vec();
        shape[axis] = parts.iter().map(|p| p.1[axis]).sum();
        let out_strides = row_major_strides(&shape);
        let out = self.alloc(shape.iter().product())?;
        let mut offset = 0;
        for part in parts {
            self.strided_copy(
                part.0,
                &out,
                part.1,
                (0, &row_major_strides(part.1)),
                (offset * out_strides[axis], &out_strides),
            )?;
            offset += part.1[axis];
        }
        Ok(out)
    }

    fn index_select(
        &self,
        x: (&GpuStorage, &[usize]),
        axis: usize,
        indices: &[usize],
    ) -> Result<GpuStorage, TensorError> {
        let outer: usize = x.1[..axis].iter().product();
        let inner: usize = x.1[axis + 1..].iter().product();
        let n = outer * indices.len() * inner;
        let out = self.alloc(n)?;
        if n > 0 {
            let mut params = vec![
                to_u32(n, "a tensor")?,
                to_u32(indices.len(), "an index count")?,
                to_u32(inner, "a size")?,
                to_u32(x.1[axis], "a size")?,
            ];
            params.extend(u32s(indices, "an index")?);
            self.dispatch(
                Module::Movement,
                "index_select",
                &params,
                &[(1, self.buf(x.0)?), (3, self.buf(&out)?)],
                self.grid(n, false)?,
            );
        }
        Ok(out)
    }

    fn index_add(
        &self,
        x: (&GpuStorage, &[usize]),
        axis: usize,
        indices: &[usize],
        src: (&GpuStorage, &[usize]),
    ) -> Result<GpuStorage, TensorError> {
        let dim = x.1[axis];
        let inner: usize = x.1[axis + 1..].iter().product();
        let n = x.0.len();
        let out = self.alloc(n)?;
        if n == 0 {
            return Ok(out);
        }
        // The inverse of `indices` as CSR, sources in increasing order: each
        // output element sums its sources in the CPU's order, without atomics.
        let mut starts = vec![0usize; dim + 1];
        for &t in indices {
            starts[t + 1] += 1;
        }
        for t in 0..dim {
            starts[t + 1] += starts[t];
        }
        let mut fill = starts.clone();
        let mut sources = vec![0usize; indices.len()];
        for (j, &t) in indices.iter().enumerate() {
            sources[fill[t]] = j;
            fill[t] += 1;
        }
        let mut params = vec![
            to_u32(n, "a tensor")?,
            to_u32(dim, "a size")?,
            to_u32(inner, "a size")?,
            to_u32(indices.len(), "an index count")?,
        ];
        params.extend(u32s(&starts, "an index")?);
        params.extend(u32s(&sources, "an index")?);
        self.dispatch(
            Module::Movement,
            "index_add",
            &params,
            &[(1, self.buf(x.0)?), (2, self.buf(src.0)?), (3, self.buf(&out)?)],
            self.grid(n, false)?,
        );
        Ok(out)
    }

    fn unfold2d(
        &self,
        x: (&GpuStorage, &[usize]),
        g: Conv2dGeometry,
    ) -> Result<GpuStorage, TensorError> {
        let &[n, c, h, w] = x.1 else {
            return Err(TensorError::Shape(format!(
                "unfold2d needs an [n, c, h, w] tensor, got {:?}",
                x.1
            )));
        };
        let (oh, ow) = conv_output(g, h, w)?;
        let len = n * c * g.kernel.0 * g.kernel.1 * oh * ow;
        let out = self.alloc(len)?;
        if len > 0 {
            let params = conv_params(len, [c, h, w], g, (oh, ow))?;
            self.dispatch(
                Module::ConvSparse,
                "unfold2d",
                &params,
                &[(1, self.buf(x.0)?), (2, self.buf(&out)?)],
                self.grid(len, false)?,
            );
        }
        Ok(out)
    }

    fn fold2d(
        &self,
        cols: (&GpuStorage, &[usize]),
        image_shape: &[usize],
        g: Conv2dGeometry,
    ) -> Result<GpuStorage, TensorError> {
        let &[n, c, h, w] = image_shape else {
            return Err(TensorError::Shape(format!(
                "fold2d needs an [n, c, h, w] image shape, got {image_shape:?}"
            )));
        };
        let (oh, ow) = conv_output(g, h, w)?;
        if cols.1 != [n, c * g.kernel.0 * g.kernel.1, oh * ow] {
            return Err(TensorError::Shape(format!(
                "fold2d: columns of shape {:?} do not match image {image_shape:?}",
                cols.1
            )));
        }
        let len = n * c * h * w;
        let out = self.alloc(len)?;
        if len > 0 {
            let params = conv_params(len, [c, h, w], g, (oh, ow))?;
            self.dispatch(
                Module::ConvSparse,
                "fold2d",
                &params,
                &[(1, self.buf(cols.0)?), (2, self.buf(&out)?)],
                self.grid(len, false)?,
            );
        }
        Ok(out)
    }

    fn csr_matmul(
        &self,
        csr: &Csr,
        x: (&GpuStorage, &[usize]),
        transpose: bool,
    ) -> Result<GpuStorage, TensorError> {
        let (inner, outer) = if transpose {
            (csr.rows(), csr.cols())
        } else {
            (csr.cols(), csr.rows())
        };
        if x.1.len() != 2 || x.1[0] != inner {
            return Err(TensorError::Shape(format!(
                "sparse {}x{} matrix{} cannot multiply a dense {:?} tensor (needs [{inner}, k])",
                csr.rows(),
                csr.cols(),
                if transpose { " (transposed)" } else { "" },
                x.1
            )));
        }
        let k = x.1[1];
        let len = outer * k;
        let out = self.alloc(len)?;
        if len == 0 {
            return Ok(out);
        }
        // Entries per output row, in the order the CPU adds them (for the
        // transpose: by source row, then position in it).
        let mut rows: Vec<Vec<(usize, f32)>> = vec![Vec::new(); outer];
        for r in 0..csr.rows() {
            for (c, v) in csr.row(r) {
                let (dst, src) = if transpose { (c, r) } else { (r, c) };
                rows[dst].push((src, v as f32));
            }
        }
        let nnz: usize = rows.iter().map(Vec::len).sum();
        let mut params = vec![
            to_u32(len, "a tensor")?,
            to_u32(k, "a size")?,
            to_u32(outer, "a size")?,
        ];
        let mut at = 0;
        params.push(0);
        for row in &rows {
            at += row.len();
            params.push(to_u32(at, "a sparse matrix")?);
        }
        debug_assert_eq!(at, nnz);
        for row in &rows {
            for &(col, _) in row {
                params.push(to_u32(col, "an index")?);
            }
        }
        for row in &rows {
            params.extend(row.iter().map(|&(_, v)| v.to_bits()));
        }
        self.dispatch(
            Module::ConvSparse,
            "csr_matmul",
            &params,
            &[(1, self.buf(x.0)?), (2, self.buf(&out)?)],
            self.grid(len, false)?,
        );
        Ok(out)
    }
}

fn conv_output(g: Conv2dGeometry, h: usize, w: usize) -> Result<(usize, usize), TensorError> {
    g.output_size(h, w).ok_or_else(|| {
        TensorError::Shape(format!(
            "kernel {:?} does not fit a {h}x{w} image",
            g.kernel
        ))
    })
}

fn conv_params(
    len: usize,
    [c, h, w]: [usize; 3],
    g: Conv2dGeometry,
    (oh, ow): (usize, usize),
) -> Result<Vec<u32>, TensorError> {
    u32s(
        &[
            len,
            c,
            h,
            w,
            g.kernel.0,
            g.kernel.1,
            g.stride.0,
            g.stride.1,
            g.padding.0,
            g.padding.1,
            oh,
            ow,
        ],
        "a convolution size",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend, or `None` (a skip) without an adapter unless
    /// `ODEON_REQUIRE_GPU=1`.
    fn gpu() -> Option<Wgpu> {
        match pollster::block_on(Wgpu::request()) {
            Ok(b) => Some(b),
            Err(err) => {
                assert!(std::env::var("ODEON_REQUIRE_GPU").as_deref() != Ok("1"), "ODEON_REQUIRE_GPU=1 but no GPU: {err}");
                None
            }
        }
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    /// One chain through every fusible kind of operation, either fused or
    /// with every intermediate materialised (`eager`).
    fn chain(b: &Wgpu, x: &GpuStorage, y: &GpuStorage, eager: bool) -> GpuStorage {
        let step = |s: GpuStorage| {
            if eager {
                b.buf(&s).expect("materialises");
            }
            s
        };
        let shape = [x.len()];
        let e = step(b.unary(UnaryOp::Tanh, x).expect("tanh"));
        let p = step(b.binary(BinaryOp::Mul, (&e, &shape), (y, &shape), &shape).expect("mul"));
        let q = step(b.scalar(BinaryOp::Sub, &p, 0.25, true).expect("scalar"));
        let r = step(b.unary_backward(UnaryOp::Silu, &q, y).expect("backward"));
        step(b.binary(BinaryOp::Div, (&r, &shape), (&e, &shape), &shape).expect("div"))
    }

    #[test]
    fn fused_chains_are_bit_identical_to_unfused_kernels_and_save_dispatches() {
        let Some(b) = gpu() else { return };
        let n = 3000;
        let x = b.upload(&values(n, 1)).expect("x");
        let y = b.upload(&values(n, 7)).expect("y");
        let before = b.dispatch_count();
        let eager = chain(&b, &x, &y, true);
        let eager_dispatches = b.dispatch_count() - before;
        let before = b.dispatch_count();
        let fused = chain(&b, &x, &y, false);
        assert!(fused.buffer().is_none(), "the chain is still pending");
        let fused_values = b.read_f32(&fused).expect("reads");
        let fused_dispatches = b.dispatch_count() - before;
        let eager_values = b.read_f32(&eager).expect("reads");
        assert_eq!(eager_dispatches, 5);
        assert_eq!(fused_dispatches, 1, "five elementwise operations, one kernel");
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused_values), bits(&eager_values));
        assert!(fused_values.iter().all(|v| v.is_finite()) || fused_values.iter().any(|v| v.is_nan()));
    }

    #[test]
    fn long_chains_and_many_inputs_split_and_stay_correct() {
        let Some(b) = gpu() else { return };
        let n = 517;
        let inputs: Vec<Vec<f32>> = (0..6).map(|k| values(n, 11 * k + 3)).collect();
        let stored: Vec<GpuStorage> = inputs.iter().map(|v| b.upload(v).expect("upload")).collect();
        let shape = [n];
        // A sum of six inputs (more than one kernel's three), then 60 scalar
        // steps (longer than one program): additions are correctly rounded
        // on both sides, so the CPU's f32 arithmetic gives the same bits.
        let mut acc = stored[0].clone();
        for s in &stored[1..] {
            acc = b.binary(BinaryOp::Add, (&acc, &shape), (s, &shape), &shape).expect("add");
        }
        for k in 0..60 {
            acc = b.scalar(if k % 2 == 0 { BinaryOp::Add } else { BinaryOp::Sub }, &acc, 0.5, false).expect("scalar");
        }
        let got = b.read_f32(&acc).expect("reads");
        let want: Vec<f32> = (0..n)
            .map(|i| {
                let sum = inputs[1..].iter().fold(inputs[0][i], |s, v| s + v[i]);
                (0..60).fold(sum, |s, k| if k % 2 == 0 { s + 0.5 } else { s - 0.5 })
            })
            .collect();
        assert_eq!(got, want);
        // A pending value used twice is computed once per consumer, and a
        // value read twice is the same.
        let shared = b.unary(UnaryOp::Square, &stored[0]).expect("square");
        let twice = b.binary(BinaryOp::Add, (&shared, &shape), (&shared, &shape), &shape).expect("add");
        let first = b.read_f32(&shared).expect("reads");
        assert_eq!(b.read_f32(&shared).expect("again"), first);
        let doubled = b.read_f32(&twice).expect("reads");
        assert!(doubled.iter().zip(&first).all(|(d, f)| *d == 2.0 * f));
    }

    #[test]
    fn broadcast_strides_align_right() {
        assert_eq!(broadcast_strides(&[3], &[2, 3]).ok(), Some(vec![0, 1]));
        assert_eq!(
            broadcast_strides(&[4, 1, 3], &[4, 5, 3]).ok(),
            Some(vec![3, 0, 1])
        );
        assert_eq!(broadcast_strides(&[], &[2, 2]).ok(), Some(vec![0, 0]));
        assert!(broadcast_strides(&[2], &[3]).is_err());
        assert_eq!(row_major_strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
