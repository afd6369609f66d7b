//! `cargo xtask bench`: Odeon against peer frameworks, side by side in one
//! run (see docs/benchmarks.md). Not part of `cargo xtask test`.
//!
//! 1. native: `odeon-bench` (release) vs JAX on the CPU with jit
//!    (`bench/run_jax.sh`: a pinned venv in `bench/.venv`, 1 thread and all
//!    cores);
//! 2. browser: `odeon-bench` built for wasm32 (+simd128, wasm-release) vs
//!    tf.js (wasm backend) vs jax-js (wasm) in headless Chromium
//!    (`bench/browser_bench.mjs`), on a cross-origin isolated page and on a
//!    plain one;
//! 3. with `--webgpu` (or `--webgpu-only`, which skips 1 and 2): Odeon on
//!    WebGPU (`odeon_gpu::Wgpu` in the same wasm module) vs tf.js
//!    (`@tensorflow/tfjs-backend-webgpu`) vs jax-js (webgpu device) in the
//!    same headless Chromium, on the isolated page, with the smaller counts
//!    and matmul size of `browser_bench.mjs --gpu-*` (a software adapter
//!    such as SwiftShader is slow). Reported, not gated: a peer that fails
//!    gives a line with its error.
//!
//! Prints a markdown table, then the raw JSON lines (also written to
//! `bench/results/latest.jsonl`).
//!
//! `cargo xtask bench load [--runs N]` is separate: it serves the existing
//! `dist/` (cross-origin isolated, as `serve` does) and runs
//! `bench/load_bench.mjs` against it: gallery time to interactive, cold and
//! warm (service worker), and the bytes of a first visit.
//!
//! `cargo xtask bench notebooks [--runs N] [--only ID]` also serves `dist/`:
//! `bench/notebooks_bench.mjs` times each shipped notebook at its `default`
//! profile in Chromium on the CPU backend (Run all until the run is done),
//! with the native CLI (`odeon run <id> --backend cpu`, built here) as the
//! peer in the same run.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::tools::{self, cargo, run};
use crate::{dist_dir, serve, workspace_root};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--no-native] [--no-jax] [--no-browser] [--webgpu | --webgpu-only]\n       \
                     cargo xtask bench load [--runs N]   (load time and size of dist/)\n       \
                     cargo xtask bench notebooks [--runs N] [--only ID]   (notebook defaults: dist/ in Chromium vs the native CLI)";

/// Entry point of `cargo xtask bench`.
pub(crate) fn bench(rest: &[String]) -> Result<()> {
    match rest.first().map(String::as_str) {
        Some("load") => return load(&rest[1..]),
        Some("notebooks") => return notebooks(&rest[1..]),
        _ => {}
    }
    let (mut quick, mut native, mut jax, mut browser, mut webgpu) = (false, true, true, true, false);
    for arg in rest {
        match arg.as_str() {
            "--quick" => quick = true,
            "--no-native" => native = false,
            "--no-jax" => jax = false,
            "--no-browser" => browser = false,
            "--webgpu" => webgpu = true,
            "--webgpu-only" => (native, jax, browser, webgpu) = (false, false, false, true),
            other => bail!("unknown bench option `{other}`; {USAGE}"),
        }
    }
    // --quick only checks that everything runs; its numbers mean nothing.
    let (steps, warmup, mm_runs, mm_warmup) = if quick { (5, 2, 5, 2) } else { (50, 10, 50, 5) };
    let counts = |names: [&str; 4]| -> Vec<String> {
        let values = [steps, warmup, mm_runs, mm_warmup];
        names.iter().zip(values).flat_map(|(n, v)| [n.to_string(), v.to_string()]).collect()
    };
    let root = workspace_root();
    let mut lines = Vec::new();

    if native {
        println!("\n==> xtask bench: odeon native");
        // Built for the host CPU, as XLA compiles JAX's step for it: the
        // elementwise kernels then use AVX2 instead of SSE2. Float results do
        // not change (Rust never fuses a multiply and an add on its own). A
        // separate target folder keeps the normal build's cache intact.
        let native_dir = target_dir().join("bench-native");
        run(cargo()
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &native_dir)
            .env("RUSTFLAGS", "-C target-cpu=native")
            .args(["build", "--release", "-p", "odeon-bench"]))?;
        let exe = native_dir.join("release").join("odeon-bench");
        // The same thread counts as the JAX runs: 1, then both cores.
        for threads in ["1", "2"] {
            lines.extend(capture(
                Command::new(&exe)
                    .env("MATMUL_NUM_THREADS", threads)
                    .args(counts(["--steps", "--warmup", "--matmul-runs", "--matmul-warmup"])),
            )?);
        }
    }
    if jax {
        println!("\n==> xtask bench: JAX (CPU, jit)");
        lines.extend(capture(
            Command::new("bash")
                .arg(root.join("bench/run_jax.sh"))
                .args(counts(["--steps", "--warmup", "--matmul-runs", "--matmul-warmup"])),
        )?);
    }
    if browser || webgpu {
        build_browser_bench()?;
    }
    let bench_dir = root.join("bench");
    if browser {
        println!("\n==> xtask bench: browser (Odeon wasm, tf.js wasm, jax-js wasm)");
        lines.extend(capture(
            Command::new("node")
                .arg(bench_dir.join("browser_bench.mjs"))
                .args(counts(["--steps", "--warmup", "--mmruns", "--mmwarmup"])),
        )?);
    }
    if webgpu {
        println!("\n==> xtask bench: browser WebGPU (Odeon, tf.js, jax-js; reported, not gated)");
        let mut cmd = Command::new("node");
        cmd.arg(bench_dir.join("browser_bench.mjs"))
            .args(["--impls", "odeon-webgpu,tfjs-webgpu,jaxjs-webgpu", "--pages", "isolated"]);
        if quick {
            cmd.args(["--gpu-steps", "2", "--gpu-warmup", "1", "--gpu-mmruns", "2", "--gpu-mmwarmup", "1", "--gpu-n", "128"]);
        }
        lines.extend(capture(&mut cmd)?);
    }

    let results = root.join("bench/results");
    std::fs::create_dir_all(&results).with_context(|| format!("cannot create {}", results.display()))?;
    std::fs::write(results.join("latest.jsonl"), lines.join("\n") + "\n")?;
    println!("\n## Results{}\n", if quick { " (--quick: smoke run, numbers meaningless)" } else { "" });
    if browser || native || jax {
        println!("{}", table(&lines));
    }
    if lines.iter().any(|l| l.contains("-webgpu")) {
        println!("WebGPU in Chromium (reported, not gated):\n\n{}", gpu_table(&lines));
    }
    println!("Raw output:\n\n```");
    for line in &lines {
        println!("{line}");
    }
    println!("```");
    Ok(())
}

/// Builds `odeon-bench` for wasm32 into `bench/pkg/` and installs the
/// benchmark npm packages and Chromium.
fn build_browser_bench() -> Result<()> {
    let root = workspace_root();
    tools::ensure_system_packages(false)?;
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;
    // --lib: the native bench binary is not built for wasm32.
    run(cargo()
        .current_dir(&root)
        .args(["build", "--profile", "wasm-release", "--target", "wasm32-unknown-unknown", "-p", "odeon-bench", "--lib"])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", "-C target-feature=+simd128"))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/odeon_bench.wasm");
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(root.join("bench/pkg"))
        .arg(&wasm))?;
    tools::ensure_npm_ci(&root.join("bench"), "playwright-core", "the benchmark npm packages")
}

/// What a benchmark in Chromium against `dist/` needs: the bench folder
/// (npm packages installed), its results folder and `dist/` served
/// cross-origin isolated at `url`.
struct BrowserBench {
    bench_dir: PathBuf,
    results: PathBuf,
    server: serve::Running,
    url: String,
}

/// Checks `dist/` is built, installs what the browser benchmarks need and
/// serves `dist/`.
fn browser_bench() -> Result<BrowserBench> {
    let dist = dist_dir();
    if !dist.join("index.html").is_file() {
        bail!("{} has no index.html; run `cargo xtask build` first", dist.display());
    }
    tools::ensure_system_packages(false)?;
    let bench_dir = workspace_root().join("bench");
    tools::ensure_npm_ci(&bench_dir, "playwright-core", "the benchmark npm packages")?;
    let results = bench_dir.join("results");
    std::fs::create_dir_all(&results).with_context(|| format!("cannot create {}", results.display()))?;
    let server = serve::start(&dist, 0, true)?;
    let url = format!("http://127.0.0.1:{}/", server.port());
    println!("xtask: serving {} at {url} (cross-origin isolated)", dist.display());
    Ok(BrowserBench { bench_dir, results, server, url })
}

/// `cargo xtask bench load`: serve `dist/` and run `bench/load_bench.mjs`.
fn load(rest: &[String]) -> Result<()> {
    let mut runs = String::from("7");
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--runs" => runs.clone_from(iter.next().context("--runs needs a value")?),
            other => bail!("unknown bench load option `{other}`; {USAGE}"),
        }
    }
    let BrowserBench { bench_dir, results, server, url } = browser_bench()?;
    let result = run(Command::new("node")
        .arg(bench_dir.join("load_bench.mjs"))
        .arg(&url)
        .args(["--runs", &runs, "--json"])
        .arg(results.join("load-latest.json")));
    server.stop();
    result
}

/// `cargo xtask bench notebooks`: build the native CLI, serve `dist/` and
/// run `bench/notebooks_bench.mjs` against both.
fn notebooks(rest: &[String]) -> Result<()> {
    let mut runs = String::from("1");
    let mut only = None;
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--runs" => runs.clone_from(iter.next().context("--runs needs a value")?),
            "--only" => only = Some(iter.next().context("--only needs a notebook id")?),
            other => bail!("unknown bench notebooks option `{other}`; {USAGE}"),
        }
    }
    let BrowserBench { bench_dir, results, server, url } = browser_bench()?;
    if let Err(err) = run(cargo().current_dir(workspace_root()).args(["build", "--release", "-p", "odeon-cli"])) {
        server.stop();
        return Err(err);
    }
    let odeon = target_dir().join("release").join("odeon");
    let mut cmd = Command::new("node");
    cmd.arg(bench_dir.join("notebooks_bench.mjs"))
        .arg(&url)
        .arg("--odeon")
        .arg(&odeon)
        .args(["--runs", &runs, "--json"])
        .arg(results.join("notebooks-latest.json"));
    if let Some(id) = only {
        cmd.args(["--only", id]);
    }
    let result = run(&mut cmd);
    server.stop();
    result
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `<root>/target`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if PathBuf::from(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Runs `cmd`, echoing its stdout, and returns the stdout lines that are
/// JSON objects (stderr is inherited).
fn capture(cmd: &mut Command) -> Result<Vec<String>> {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let mut child = cmd.stdout(Stdio::piped()).spawn().with_context(|| format!("cannot start {shown}"))?;
    let mut lines = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line?;
            println!("{line}");
            if line.trim_start().starts_with('{') {
                lines.push(line.trim().to_string());
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(lines)
}

/// The JSON lines a benchmark printed (other lines are skipped).
fn parse_rows(lines: &[String]) -> Vec<serde_json::Value> {
    lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Field `k` of a result row as table text (strings bare, missing empty).
fn text(v: &serde_json::Value, k: &str) -> String {
    match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A markdown table of the JSON lines, grouped by benchmark.
fn table(lines: &[String]) -> String {
    let rows = parse_rows(lines);
    let mut out = String::from(
        "| bench | implementation | where | threads | median ms | min ms | runs (warm-up) |\n|---|---|---|---|---|---|---|\n",
    );
    for bench in ["mlp_step", "matmul"] {
        for v in rows.iter().filter(|v| v["bench"] == bench && !text(v, "impl").ends_with("-webgpu")) {
            let place = match text(v, "page").as_str() {
                "" => "native CPU".to_string(),
                page => format!("Chromium, {page} page"),
            };
            out.push_str(&format!(
                "| {bench} | {} | {place} | {} | {} | {} | {} ({}) |\n",
                text(v, "impl"),
                text(v, "threads"),
                text(v, "median_ms"),
                text(v, "min_ms"),
                text(v, "runs"),
                text(v, "warmup"),
            ));
        }
    }
    out
}

/// A markdown table of the WebGPU lines: size, adapter, timings, and the
/// value checked (loss, or element [0, 0] of the product against f64), or
/// the error of a peer that failed.
fn gpu_table(lines: &[String]) -> String {
    let rows = parse_rows(lines);
    let mut out = String::from(
        "| bench | size | implementation | adapter | median ms | min ms | runs (warm-up) | check |\n|---|---|---|---|---|---|---|---|\n",
    );
    for v in rows.iter().filter(|v| text(v, "impl").ends_with("-webgpu")) {
        let bench = text(v, "bench");
        let size = match bench.as_str() {
            "matmul" => text(v, "n"),
            "mlp_step" => format!("batch {}", text(v, "batch")),
            _ => String::new(),
        };
        let adapter = &v["adapter"];
        let adapter = format!("{} {}", text(adapter, "vendor"), text(adapter, "architecture")).trim().to_string();
        if !text(v, "error").is_empty() {
            let error = text(v, "error").replace('|', "/");
            out.push_str(&format!("| {bench} | {size} | {} | {adapter} | error: {error} | | | |\n", text(v, "impl")));
            continue;
        }
        let check = if bench == "matmul" {
            format!("c00 {} (f64 {})", text(v, "c00"), text(v, "c00_ref"))
        } else {
            format!("loss {} -> {}", text(v, "loss_first"), text(v, "loss_last"))
        };
        out.push_str(&format!(
            "| {bench} | {size} | {} | {adapter} | {} | {} | {} ({}) | {check} |\n",
            text(v, "impl"),
            text(v, "median_ms"),
            text(v, "min_ms"),
            text(v, "runs"),
            text(v, "warmup"),
        ));
    }
    out
}
