//! Which backend a run should use: the `auto` policy.
//!
//! [`choose`] is a pure function of what was asked for ([`Requested`]), what
//! the adapter is ([`AdapterFacts`], or why there is none) and how much work
//! one step does ([`WorkSize`]). It returns a [`Choice`]: the backend and a
//! sentence for the page saying why. The rules, in order:
//!
//! 1. **CPU requested** → the CPU.
//! 2. **No usable adapter** (no WebGPU at all, or an adapter whose limits the
//!    GPU backend cannot work with: fewer than
//!    [`STORAGE_BUFFERS_NEEDED`] storage buffers per shader, or a buffer
//!    limit below the workload's largest tensor) → the CPU, whatever was
//!    requested; the reason says WebGPU is unavailable and why.
//! 3. **WebGPU requested** → WebGPU (a software adapter is used but the
//!    reason warns that it is slow).
//! 4. **Auto, software adapter** (the adapter says it is a CPU fallback, or
//!    its name is SwiftShader, lavapipe, llvmpipe, softpipe or WARP) → the
//!    CPU: a GPU emulated on the CPU is slower than the CPU backend itself.
//! 5. **Auto, small work** (under [`MIN_WEBGPU_FLOPS_PER_STEP`] per step) →
//!    the CPU: the step would be dominated by dispatch overhead.
//! 6. Otherwise → WebGPU.
//!
//! # The threshold
//!
//! [`MIN_WEBGPU_FLOPS_PER_STEP`] is 10^8 floating-point operations per
//! step. The single-threaded wasm CPU backend runs the reference MLP step
//! (2-256-256-256-2, batch 1024, about 8.1 * 10^8 FLOPs) in about 35 ms in
//! Chromium (docs/benchmarks.md), i.e. about 23 GFLOP/s, so 10^8 FLOPs take
//! it about 4 ms. The GPU backend queues one dispatch per operation
//! (elementwise chains fuse, submissions are batched): the reference MLP
//! training step is 42 dispatches, and in a browser each costs tens of microseconds of
//! worker time plus a round trip through the GPU process, i.e. a few
//! milliseconds per step before any arithmetic. Below 10^8 FLOPs the CPU
//! finishes within that overhead, so the GPU cannot win; above it the GPU's
//! arithmetic rate takes over. The dispatch cost is an estimate, not yet
//! measured on a hardware adapter in a browser; revisit it when it is.
//!
//! The notebooks' default workload (the rectified-flow velocity MLP,
//! 11-128-128-128-2 at batch 256, [`WorkSize::notebook_default`]) is about
//! 5.3 * 10^7 FLOPs per step: below the threshold, so `auto` keeps it on the
//! CPU even on a hardware GPU.

use crate::GpuContext;

/// Storage buffers per shader stage the GPU tensor backend binds at most
/// (the fused Adam kernel; WebGPU's default limit is 8).
pub const STORAGE_BUFFERS_NEEDED: u32 = 8;

/// Floating-point operations per step below which `auto` keeps the CPU
/// (see the module docs for how it was picked).
pub const MIN_WEBGPU_FLOPS_PER_STEP: f64 = 1e8;

/// What the user or notebook asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Let [`choose`] decide.
    Auto,
    /// The CPU backend, always.
    Cpu,
    /// WebGPU where it exists (the CPU otherwise, with a reason).
    WebGpu,
}

impl Requested {
    /// Parses `"auto"`, `"cpu"`, `"webgpu"` (also `"gpu"`, `"wgpu"`), any case.
    ///
    /// # Errors
    ///
    /// A sentence naming the accepted values.
    pub fn parse(name: &str) -> Result<Requested, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Requested::Auto),
            "cpu" => Ok(Requested::Cpu),
            "webgpu" | "gpu" | "wgpu" => Ok(Requested::WebGpu),
            other => Err(format!(
                "unknown backend \"{other}\"; choose auto, cpu or webgpu"
            )),
        }
    }
}

/// A backend [`choose`] can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// odeon-tensor's CPU backend (wasm SIMD in the browser).
    Cpu,
    /// [`crate::Wgpu`] on the WebGPU adapter.
    WebGpu,
}

impl BackendKind {
    /// The protocol name: `"cpu"` or `"webgpu"`.
    pub fn id(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::WebGpu => "webgpu",
        }
    }

    /// The name for the page: `"CPU"` or `"WebGPU"`.
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::Cpu => "CPU",
            BackendKind::WebGpu => "WebGPU",
        }
    }
}

/// What the policy needs to know about an adapter (plain data, so the policy
/// is testable without a device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterFacts {
    /// The adapter's name as shown to the user (browsers hide it from wgpu;
    /// the worker passes what JavaScript sees, e.g. "google swiftshader").
    pub name: String,
    /// The adapter reports itself as a CPU fallback (WebGPU's
    /// `isFallbackAdapter`, or wgpu's `DeviceType::Cpu`).
    pub fallback: bool,
    /// The largest buffer the device allows, in bytes (the smaller of its
    /// buffer size and storage binding limits).
    pub max_buffer_bytes: u64,
    /// Storage buffers a shader stage may bind.
    pub storage_buffers_per_stage: u32,
}

impl AdapterFacts {
    /// Facts about an open device. `label` replaces an empty adapter name
    /// (browsers hide it from wgpu; JavaScript sees vendor and architecture).
    pub fn from_context(ctx: &GpuContext, label: Option<&str>) -> AdapterFacts {
        let info = &ctx.adapter_info;
        let name = match (info.name.trim(), label) {
            ("", Some(label)) => label.trim().to_owned(),
            ("", None) => "unnamed adapter".to_owned(),
            (name, _) => name.to_owned(),
        };
        let limits = ctx.device.limits();
        AdapterFacts {
            name,
            fallback: info.device_type == wgpu::DeviceType::Cpu,
            max_buffer_bytes: limits
                .max_buffer_size
                .min(limits.max_storage_buffer_binding_size),
            storage_buffers_per_stage: limits.max_storage_buffers_per_shader_stage,
        }
    }

    /// The software rasteriser behind this adapter, when it is one: from the
    /// name where it is known, else "reported as a fallback adapter" when the
    /// adapter says it is one.
    pub fn software(&self) -> Option<&'static str> {
        let name = self.name.to_ascii_lowercase();
        let known = [
            ("swiftshader", "SwiftShader"),
            ("lavapipe", "lavapipe"),
            ("llvmpipe", "llvmpipe"),
            ("softpipe", "softpipe"),
            ("microsoft basic render", "WARP"),
            ("warp", "WARP"),
        ];
        known
            .iter()
            .find(|(needle, _)| name.contains(needle))
            .map(|&(_, label)| label)
            .or(self.fallback.then_some("reported as a fallback adapter"))
    }
}

/// How much work one step of a run does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkSize {
    /// Floating-point operations per step (a multiply-add counts 2).
    pub flops_per_step: f64,
    /// Bytes of the largest tensor (it must fit one device buffer).
    pub largest_tensor_bytes: u64,
}

impl WorkSize {
    /// One Adam training step of an MLP of layer `sizes` on `batch` rows in
    /// `f32`: 2 FLOPs per multiply-add in the forward products and twice that
    /// in the backward ones (input and weight gradients), i.e.
    /// `6 * batch * sum(in * out)`; elementwise work is negligible beside it.
    pub fn mlp_step(sizes: &[usize], batch: usize) -> WorkSize {
        let weights: f64 = sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum();
        let largest = sizes
            .windows(2)
            .map(|w| (w[0] * w[1]).max(batch * w[1]).max(batch * w[0]))
            .max()
            .unwrap_or(0);
        WorkSize {
            flops_per_step: 6.0 * batch as f64 * weights,
            largest_tensor_bytes: (largest as u64).saturating_mul(4),
        }
    }

    /// A notebook-sized workload: the rectified-flow notebook's default
    /// velocity MLP (2-D points plus 9 time features in, three hidden layers
    /// of 128, 2 out) at its default batch of 256.
    pub fn notebook_default() -> WorkSize {
        WorkSize::mlp_step(&[11, 128, 128, 128, 2], 256)
    }
}

/// What [`choose`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The backend to run on.
    pub backend: BackendKind,
    /// Why, as one or two sentences for the page.
    pub reason: String,
}

fn flops_words(flops: f64) -> String {
    if flops >= 1e9 {
        format!("{:.1} GFLOP", flops / 1e9)
    } else {
        format!("{:.0} MFLOP", flops / 1e6)
    }
}

/// Why an adapter cannot run the GPU backend on `work`, if it cannot.
fn unusable(adapter: &AdapterFacts, work: WorkSize) -> Option<String> {
    if adapter.storage_buffers_per_stage < STORAGE_BUFFERS_NEEDED {
        return Some(format!(
            "the adapter {} allows {} storage buffers per shader and the GPU backend needs {STORAGE_BUFFERS_NEEDED}",
            adapter.name, adapter.storage_buffers_per_stage
        ));
    }
    if work.largest_tensor_bytes > adapter.max_buffer_bytes {
        return Some(format!(
            "the largest tensor needs {} bytes, more than the adapter {} allows in one buffer ({} bytes)",
            work.largest_tensor_bytes, adapter.name, adapter.max_buffer_bytes
        ));
    }
    None
}

/// Picks the backend for a run (the rules are in the module docs).
///
/// `adapter` is the probed adapter, or why there is none (e.g. the
/// [`crate::GpuError::NoAdapter`] message).
pub fn choose(
    requested: Requested,
    adapter: Result<&AdapterFacts, &str>,
    work: WorkSize,
) -> Choice {
    let cpu = |reason: String| Choice {
        backend: BackendKind::Cpu,
        reason,
    };
    if requested == Requested::Cpu {
        return cpu("The CPU backend was requested.".to_owned());
    }
    let unavailable = |why: String| {
        let fallback = if requested == Requested::WebGpu {
            "WebGPU was requested but is unavailable"
        } else {
            "WebGPU is unavailable"
        };
        cpu(format!("{fallback} ({why}), so this runs on the CPU."))
    };
    let facts = match adapter {
        Err(why) => return unavailable(why.trim().trim_end_matches('.').to_owned()),
        Ok(facts) => facts,
    };
    if let Some(why) = unusable(facts, work) {
        return unavailable(why);
    }
    let software = facts.software();
    if requested == Requested::WebGpu {
        let reason = match software {
            Some(kind) => format!(
                "WebGPU was requested; the adapter is a software fallback ({kind}), so expect it to be slower than the CPU."
            ),
            None => format!("WebGPU was requested; it runs on {}.", facts.name),
        };
        return Choice {
            backend: BackendKind::WebGpu,
            reason,
        };
    }
    if let Some(kind) = software {
        return cpu(format!(
            "The adapter is a software fallback ({kind}), which is slower than the CPU backend."
        ));
    }
    if work.flops_per_step < MIN_WEBGPU_FLOPS_PER_STEP {
        return cpu(format!(
            "The work is too small for the GPU: {} per step, under the {} at which WebGPU pays for its dispatch overhead.",
            flops_words(work.flops_per_step),
            flops_words(MIN_WEBGPU_FLOPS_PER_STEP)
        ));
    }
    Choice {
        backend: BackendKind::WebGpu,
        reason: format!(
            "The work ({} per step) is large enough to gain from the hardware adapter {}.",
            flops_words(work.flops_per_step),
            facts.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(name: &str) -> AdapterFacts {
        AdapterFacts {
            name: name.to_owned(),
            fallback: false,
            max_buffer_bytes: 1 << 30,
            storage_buffers_per_stage: 8,
        }
    }

    fn big() -> WorkSize {
        WorkSize::mlp_step(&[2, 256, 256, 256, 2], 1024)
    }

    fn is_sentence(reason: &str) {
        let first = reason.chars().next().expect("a reason");
        assert!(first.is_uppercase(), "starts like a sentence: {reason}");
        assert!(reason.ends_with('.'), "ends like a sentence: {reason}");
    }

    #[test]
    fn work_sizes() {
        let reference = big();
        // 6 * 1024 * (2*256 + 256*256 + 256*256 + 256*2)
        assert_eq!(reference.flops_per_step, 6.0 * 1024.0 * 132_096.0);
        assert_eq!(reference.largest_tensor_bytes, 256 * 1024 * 4);
        let notebook = WorkSize::notebook_default();
        assert!(notebook.flops_per_step > 5e7 && notebook.flops_per_step < 6e7);
        assert!(notebook.flops_per_step < MIN_WEBGPU_FLOPS_PER_STEP);
        assert!(reference.flops_per_step > MIN_WEBGPU_FLOPS_PER_STEP);
    }

    #[test]
    fn forced_cpu_is_cpu() {
        let facts = gpu("NVIDIA H200");
        for adapter in [Ok(&facts), Err("no adapter")] {
            let choice = choose(Requested::Cpu, adapter, big());
            assert_eq!(choice.backend, BackendKind::Cpu);
            is_sentence(&choice.reason);
        }
    }

    #[test]
    fn forced_webgpu_without_adapter_falls_back_and_says_why() {
        let why =
            "WebGPU is not available in this browser (no adapter): navigator.gpu is undefined";
        let choice = choose(Requested::WebGpu, Err(why), big());
        assert_eq!(choice.backend, BackendKind::Cpu);
        assert!(
            choice
                .reason
                .contains("WebGPU was requested but is unavailable"),
            "{}",
            choice.reason
        );
        assert!(
            choice.reason.contains("navigator.gpu is undefined"),
            "{}",
            choice.reason
        );
        is_sentence(&choice.reason);
    }

    #[test]
    fn forced_webgpu_uses_a_software_adapter_with_a_warning() {
        let mut facts = gpu("google swiftshader");
        facts.fallback = true;
        let choice = choose(Requested::WebGpu, Ok(&facts), WorkSize::notebook_default());
        assert_eq!(choice.backend, BackendKind::WebGpu);
        assert!(choice.reason.contains("SwiftShader"), "{}", choice.reason);
        is_sentence(&choice.reason);
        let choice = choose(
            Requested::WebGpu,
            Ok(&gpu("Apple M2")),
            WorkSize::notebook_default(),
        );
        assert_eq!(choice.backend, BackendKind::WebGpu);
        is_sentence(&choice.reason);
    }

    #[test]
    fn auto_without_adapter_is_cpu() {
        let choice = choose(Requested::Auto, Err("no adapter."), big());
        assert_eq!(choice.backend, BackendKind::Cpu);
        assert_eq!(
            choice.reason,
            "WebGPU is unavailable (no adapter), so this runs on the CPU."
        );
    }

    #[test]
    fn auto_on_software_adapters_is_cpu() {
        for (name, fallback, kind) in [
            ("", true, "reported as a fallback adapter"),
            ("google swiftshader", true, "SwiftShader"),
            ("Google SwiftShader", false, "SwiftShader"),
            ("llvmpipe (LLVM 19.1.7, 256 bits)", true, "llvmpipe"),
            ("lavapipe", false, "lavapipe"),
            ("Microsoft Basic Render Driver", false, "WARP"),
        ] {
            let facts = AdapterFacts {
                fallback,
                ..gpu(name)
            };
            assert_eq!(facts.software(), Some(kind), "{name}");
            let choice = choose(Requested::Auto, Ok(&facts), big());
            assert_eq!(choice.backend, BackendKind::Cpu, "{name}");
            assert!(
                choice.reason.contains("software fallback"),
                "{}",
                choice.reason
            );
            assert!(choice.reason.contains(kind), "{}", choice.reason);
            is_sentence(&choice.reason);
        }
        assert_eq!(gpu("NVIDIA GeForce RTX 4090").software(), None);
    }

    #[test]
    fn auto_on_small_work_is_cpu() {
        let facts = gpu("NVIDIA H200");
        let choice = choose(Requested::Auto, Ok(&facts), WorkSize::notebook_default());
        assert_eq!(choice.backend, BackendKind::Cpu);
        assert!(choice.reason.contains("too small"), "{}", choice.reason);
        assert!(
            choice.reason.contains("53 MFLOP per step"),
            "{}",
            choice.reason
        );
        is_sentence(&choice.reason);
        // Just under and at the threshold.
        let under = WorkSize {
            flops_per_step: MIN_WEBGPU_FLOPS_PER_STEP * 0.99,
            largest_tensor_bytes: 4,
        };
        assert_eq!(
            choose(Requested::Auto, Ok(&facts), under).backend,
            BackendKind::Cpu
        );
        let at = WorkSize {
            flops_per_step: MIN_WEBGPU_FLOPS_PER_STEP,
            largest_tensor_bytes: 4,
        };
        assert_eq!(
            choose(Requested::Auto, Ok(&facts), at).backend,
            BackendKind::WebGpu
        );
    }

    #[test]
    fn auto_on_big_work_and_a_hardware_adapter_is_webgpu() {
        let facts = gpu("NVIDIA H200");
        let choice = choose(Requested::Auto, Ok(&facts), big());
        assert_eq!(choice.backend, BackendKind::WebGpu);
        assert!(choice.reason.contains("NVIDIA H200"), "{}", choice.reason);
        assert!(choice.reason.contains("812 MFLOP"), "{}", choice.reason);
        is_sentence(&choice.reason);
    }

    #[test]
    fn adapters_whose_limits_do_not_fit_count_as_unavailable() {
        let downlevel = AdapterFacts {
            storage_buffers_per_stage: 4,
            ..gpu("old GPU")
        };
        let tiny = AdapterFacts {
            max_buffer_bytes: 1024,
            ..gpu("tiny GPU")
        };
        for (facts, needle) in [(&downlevel, "storage buffers"), (&tiny, "one buffer")] {
            for requested in [Requested::Auto, Requested::WebGpu] {
                let choice = choose(requested, Ok(facts), big());
                assert_eq!(choice.backend, BackendKind::Cpu);
                assert!(choice.reason.contains(needle), "{}", choice.reason);
                assert!(choice.reason.contains("unavailable"), "{}", choice.reason);
                is_sentence(&choice.reason);
            }
        }
    }

    #[test]
    fn parses_requests_and_names_backends() {
        assert_eq!(Requested::parse("auto"), Ok(Requested::Auto));
        assert_eq!(Requested::parse(" CPU "), Ok(Requested::Cpu));
        assert_eq!(Requested::parse("WebGPU"), Ok(Requested::WebGpu));
        assert_eq!(Requested::parse("gpu"), Ok(Requested::WebGpu));
        assert!(
            Requested::parse("cuda")
                .expect_err("unknown")
                .contains("auto, cpu or webgpu")
        );
        assert_eq!(BackendKind::Cpu.id(), "cpu");
        assert_eq!(BackendKind::WebGpu.id(), "webgpu");
        assert_eq!(BackendKind::WebGpu.label(), "WebGPU");
    }
}
