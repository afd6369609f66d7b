//! GPU against CPU natively, in one run (the WebGPU issue's benchmarks):
//! matmul GFLOP/s over sizes and an MLP training step at large batches, on
//! `odeon_gpu::Wgpu` and on the CPU backend.
//!
//! Every timed GPU run ends with a read of one element (the loss, or one
//! entry of the product), so the time covers the queued work, not just its
//! submission. Sizes grow until one run exceeds the time budget, so the same
//! command finishes on a software Vulkan (lavapipe) and on a real GPU.

use odeon_gpu::Wgpu;
use odeon_nn::reference::{MLP_LR, MLP_SIZES, MlpStep};
use odeon_tensor::{Backend, Cpu, DType, SeedStream, Tensor};

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// `"cpu"` or `"gpu"`.
    pub backend: &'static str,
    /// `"matmul"` or `"mlp_step"`.
    pub bench: &'static str,
    /// Matrix side, or batch size.
    pub size: usize,
    /// Median milliseconds per run.
    pub median_ms: f64,
    /// Floating-point operations per run.
    pub flops: f64,
    /// Timed runs.
    pub runs: usize,
}

impl Measurement {
    /// One JSON line.
    pub fn json(&self, adapter: &str) -> String {
        format!(
            "{{\"impl\":\"odeon-native\",\"backend\":\"{}\",\"adapter\":\"{}\",\"bench\":\"{}\",\"size\":{},\"median_ms\":{:.4},\"gflops\":{:.2},\"runs\":{}}}",
            self.backend,
            adapter.replace('"', "'"),
            self.bench,
            self.size,
            self.median_ms,
            self.flops / self.median_ms / 1e6,
            self.runs
        )
    }
}

/// The GPU backend on the first adapter wgpu finds.
pub fn gpu() -> Result<Wgpu, String> {
    pollster::block_on(Wgpu::request()).map_err(|e| e.to_string())
}

fn time_ms(now: &dyn Fn() -> f64, budget_ms: f64, mut f: impl FnMut() -> Result<(), String>) -> Result<(f64, usize), String> {
    f()?; // warm-up: pipelines compiled, buffers allocated
    let mut times = Vec::new();
    let started = now();
    while times.len() < 3 || (now() - started < budget_ms && times.len() < 20) {
        let t = now();
        f()?;
        times.push(now() - t);
    }
    Ok((crate::workload::median(&times), times.len()))
}

fn matmul_on<B: Backend>(backend: &B, n: usize, now: &dyn Fn() -> f64, budget_ms: f64) -> Result<(f64, usize), String> {
    let mut rng = SeedStream::new(0, "bench/gpu-matmul");
    let a = Tensor::from_f32_in(backend, &[n, n], &rng.normal_tensor(&[n, n]).to_f32_vec().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let b = Tensor::from_f32_in(backend, &[n, n], &rng.normal_tensor(&[n, n]).to_f32_vec().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    time_ms(now, budget_ms, || {
        let c = a.matmul(&b).map_err(|e| e.to_string())?;
        let corner = c.slice_axis(0, 0, 1).and_then(|r| r.slice_axis(1, 0, 1)).and_then(|r| r.to_f32_vec()).map_err(|e| e.to_string())?;
        std::hint::black_box(corner);
        Ok(())
    })
}

fn mlp_on<B: Backend>(backend: &B, batch: usize, now: &dyn Fn() -> f64, budget_ms: f64) -> Result<(f64, usize), String> {
    let mut step = MlpStep::new(backend, &MLP_SIZES, batch, MLP_LR, DType::F32, 0).map_err(|e| e.to_string())?;
    time_ms(now, budget_ms, || step.step().map(|l| {
        std::hint::black_box(l);
    }).map_err(|e| e.to_string()))
}

/// Forward + backward FLOPs of one MLP step (3 matmuls per layer).
pub fn mlp_flops(batch: usize) -> f64 {
    MLP_SIZES.windows(2).map(|w| 6.0 * batch as f64 * w[0] as f64 * w[1] as f64).sum()
}

/// Whether the size after `size` in `sizes` would take more than the
/// budget per run, extrapolating `median_ms` with cost ~ size^power.
fn too_slow_for_next(sizes: &[usize], size: usize, median_ms: f64, power: i32, budget_ms: f64) -> bool {
    let next = sizes.iter().copied().find(|&s| s > size);
    next.is_some_and(|next| median_ms * (next as f64 / size as f64).powi(power) > budget_ms)
}

/// Runs every measurement: matmul at `sizes` and the MLP step at `batches`,
/// on the GPU and the CPU; larger sizes are skipped on a backend once one
/// run of them would take longer than `budget_ms` (extrapolated).
pub fn run(gpu: &Wgpu, sizes: &[usize], batches: &[usize], budget_ms: f64, now: &dyn Fn() -> f64, out: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    for (name, is_gpu) in [("gpu", true), ("cpu", false)] {
        for &n in sizes {
            let (median_ms, runs) = if is_gpu { matmul_on(gpu, n, now, budget_ms)? } else { matmul_on(&Cpu, n, now, budget_ms)? };
            out(Measurement { backend: name, bench: "matmul", size: n, median_ms, flops: 2.0 * (n as f64).powi(3), runs });
            if too_slow_for_next(sizes, n, median_ms, 3, budget_ms) {
                break;
            }
        }
        for &batch in batches {
            let (median_ms, runs) = if is_gpu { mlp_on(gpu, batch, now, budget_ms)? } else { mlp_on(&Cpu, batch, now, budget_ms)? };
            out(Measurement { backend: name, bench: "mlp_step", size: batch, median_ms, flops: mlp_flops(batch), runs });
            if too_slow_for_next(batches, batch, median_ms, 1, budget_ms) {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use odeon_nn::reference::max_relative_difference;

    fn gpu_or_skip() -> Option<Wgpu> {
        match gpu() {
            Ok(g) => Some(g),
            Err(e) if std::env::var_os("ODEON_REQUIRE_GPU").is_some() => panic!("ODEON_REQUIRE_GPU is set but: {e}"),
            Err(e) => {
                eprintln!("SKIP: no GPU adapter: {e}");
                None
            }
        }
    }

    /// The acceptance check natively: the benchmark MLP trained for
    /// ten Adam steps through autodiff on the GPU backend matches the CPU
    /// backend to 1e-4 relative (to the largest parameter magnitude).
    #[test]
    fn mlp_training_on_the_gpu_matches_the_cpu() {
        let Some(gpu) = gpu_or_skip() else { return };
        let mut on_gpu = MlpStep::new(&gpu, &MLP_SIZES, 256, MLP_LR, DType::F32, 0).expect("gpu model");
        let mut on_cpu = MlpStep::new(&Cpu, &MLP_SIZES, 256, MLP_LR, DType::F32, 0).expect("cpu model");
        // Losses stay on the device until the end (no round trip per step).
        let gpu_losses: Vec<Tensor<Wgpu>> = (0..10).map(|_| on_gpu.step_deferred().expect("gpu step")).collect();
        let cpu_losses: Vec<f64> = (0..10).map(|_| on_cpu.step().expect("cpu step")).collect();
        let gpu_losses: Vec<f64> = gpu_losses.iter().map(|l| l.item().expect("read")).collect();
        for (g, c) in gpu_losses.iter().zip(&cpu_losses) {
            assert!((g - c).abs() <= 1e-4 * c.abs(), "loss {g} vs {c}");
        }
        let (pg, pc) = (on_gpu.flat_parameters().expect("gpu params"), on_cpu.flat_parameters().expect("cpu params"));
        let largest = pc.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = pg.iter().zip(&pc).fold(0.0f64, |m, (a, b)| m.max((a - b).abs())) / largest;
        eprintln!("GPU vs CPU after 10 steps: max |diff| / max |param| = {diff:.3e}; elementwise (floor 1e-3) {:.3e}", max_relative_difference(&pg, &pc, 1e-3));
        assert!(diff <= 1e-4, "relative parameter difference {diff}");
    }

    /// Elementwise fusion cuts the kernels of an MLP training step and
    /// leaves every bit of the result as it was.
    #[test]
    fn fusion_cuts_dispatches_and_keeps_the_bits() {
        let Some(gpu) = gpu_or_skip() else { return };
        let run = |fusion: bool| {
            gpu.set_fusion(fusion);
            let mut step = MlpStep::new(&gpu, &MLP_SIZES, 64, MLP_LR, DType::F32, 0).expect("gpu model");
            step.step_deferred().expect("warm-up step");
            let before = gpu.dispatch_count();
            let losses: Vec<Tensor<Wgpu>> = (0..3).map(|_| step.step_deferred().expect("step")).collect();
            let per_step = (gpu.dispatch_count() - before) as f64 / 3.0;
            let bits: Vec<u64> = losses.iter().map(|l| l.item().expect("read").to_bits()).chain(step.flat_parameters().expect("params").into_iter().map(f64::to_bits)).collect();
            (per_step, bits)
        };
        let (unfused, unfused_bits) = run(false);
        let (fused, fused_bits) = run(true);
        eprintln!("dispatches per MLP training step ({MLP_SIZES:?}): {unfused} unfused, {fused} fused");
        assert!(fused < unfused, "fusion should save dispatches: {fused} vs {unfused}");
        assert!(fused_bits == unfused_bits, "fusion changed the numbers");
    }

    #[test]
    fn sizes_stop_before_the_budget() {
        assert!(!too_slow_for_next(&[128, 256], 128, 100.0, 3, 1000.0));
        assert!(too_slow_for_next(&[128, 256], 128, 200.0, 3, 1000.0));
        assert!(!too_slow_for_next(&[128, 256], 256, 1e9, 3, 1000.0), "nothing after the last size");
    }

    #[test]
    fn flop_counts() {
        assert_eq!(mlp_flops(1), 6.0 * (2.0 * 256.0 + 256.0 * 256.0 * 2.0 + 256.0 * 2.0));
    }
}
