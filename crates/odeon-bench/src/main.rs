//! `odeon-bench`: times the Odeon side of the benchmarks natively and prints
//! one JSON line per result (see docs/benchmarks.md; run all peers with
//! `cargo xtask bench`).
//!
//! Usage: `odeon-bench [--bench mlp_step|matmul|all] [--steps N] [--warmup N]
//! [--matmul-runs N] [--matmul-warmup N]`; `--bench gpu [--budget-ms MS]`
//! compares the wgpu backend with the CPU backend (matmul 128-4096, MLP step
//! at batch 4096 and 65536; see `odeon_bench::gpu`).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Instant;

use odeon_bench::workload::{MATMUL_N, MLP_BATCH, Matmul, MlpStep, median, time_runs};

struct Options {
    bench: String,
    steps: usize,
    warmup: usize,
    matmul_runs: usize,
    matmul_warmup: usize,
    reference: Option<usize>,
    budget_ms: f64,
}

fn parse() -> Result<Options, String> {
    let mut o = Options { bench: "all".into(), steps: 50, warmup: 10, matmul_runs: 50, matmul_warmup: 5, reference: None, budget_ms: 3000.0 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let mut number = || -> Result<usize, String> {
            let v = value()?;
            v.parse().map_err(|_| format!("{arg}: `{v}` is not a count"))
        };
        match arg.as_str() {
            "--bench" => o.bench = args.next().ok_or("--bench needs a value")?,
            "--steps" => o.steps = number()?,
            "--warmup" => o.warmup = number()?,
            "--matmul-runs" => o.matmul_runs = number()?,
            "--matmul-warmup" => o.matmul_warmup = number()?,
            "--reference" => o.reference = Some(number()?),
            "--budget-ms" => o.budget_ms = number()? as f64,
            "-h" | "--help" => {
                return Err("usage: odeon-bench [--bench mlp_step|matmul|all] [--steps N] [--warmup N] \
                            [--matmul-runs N] [--matmul-warmup N] [--budget-ms MS] | --reference STEPS"
                    .into());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !["all", "mlp_step", "matmul", "gpu"].contains(&o.bench.as_str()) {
        return Err(format!("unknown bench `{}` (mlp_step, matmul, gpu or all)", o.bench));
    }
    Ok(o)
}

// mimalloc reuses freed blocks instead of returning them to the OS, so a
// training step's short-lived activations do not page-fault every step.
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Matrix-product threads (matrixmultiply reads `MATMUL_NUM_THREADS`, 1-4;
/// unset means the physical cores). Elementwise work is single-threaded.
fn threads() -> usize {
    std::env::var("MATMUL_NUM_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).clamp(1, 4)
}

fn report(bench: &str, times: &[f64], warmup: usize, extra: &str) {
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{{\"impl\":\"odeon-native\",\"bench\":\"{bench}\",\"median_ms\":{:.4},\"min_ms\":{min:.4},\"runs\":{},\"warmup\":{warmup},\"threads\":{}{extra}}}",
        median(times),
        times.len(),
        threads()
    );
}

fn run() -> Result<(), String> {
    let o = parse()?;
    if let Some(steps) = o.reference {
        // The reference run the browser test compares against: losses and
        // every parameter after `steps` steps, as JSON.
        let mut bench = MlpStep::standard(0)?;
        let losses = (0..steps).map(|_| bench.step().map(f64::from)).collect::<Result<Vec<_>, _>>()?;
        let params = bench.flat_parameters()?;
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:e}")).collect::<Vec<_>>().join(",");
        let samples = odeon_nn::reference::sampler_draws(200).map_err(|e| e.to_string())?;
        println!(
            "{{\"steps\":{steps},\"losses\":[{}],\"params\":[{}],\"samples\":[{}]}}",
            list(&losses),
            list(&params),
            list(&samples)
        );
        return Ok(());
    }
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    if o.bench == "gpu" {
        let gpu = odeon_bench::gpu::gpu()?;
        let adapter = gpu.context().adapter_summary();
        eprintln!("odeon-bench: GPU adapter {adapter}");
        return odeon_bench::gpu::run(&gpu, &[128, 256, 512, 1024, 2048, 4096], &[4096, 65536], o.budget_ms, &now, &mut |m| println!("{}", m.json(&adapter)));
    }
    if o.bench == "all" || o.bench == "mlp_step" {
        let mut bench = MlpStep::standard(0)?;
        let times = time_runs(o.warmup, o.steps, now, || bench.step())?;
        report("mlp_step", &times, o.warmup, &format!(",\"batch\":{MLP_BATCH}"));
    }
    if o.bench == "all" || o.bench == "matmul" {
        let mm = Matmul::new(MATMUL_N, 0);
        let times = time_runs(o.matmul_warmup, o.matmul_runs, now, || mm.run())?;
        report("matmul", &times, o.matmul_warmup, &format!(",\"n\":{MATMUL_N}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odeon-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
