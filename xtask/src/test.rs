//! `cargo xtask test` and `cargo xtask e2e`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::tools::{self, cargo, run};
use crate::{dist_dir, serve, workspace_root};

/// Steps done so far, with their durations, for the summary line.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    fn step(&mut self, name: &'static str, f: impl FnOnce() -> Result<()>) -> Result<()> {
        println!("\n==> xtask test: {name}");
        let start = Instant::now();
        let result = f().with_context(|| format!("step `{name}` failed"));
        self.0.push((name, start.elapsed()));
        result
    }

    fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(name, d)| format!("{name} {:.0}s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Everything: system packages, native tests, the wasm build, the e2e tests.
pub(crate) fn test_all() -> Result<()> {
    let mut steps = Steps::default();
    let result = (|| {
        steps.step("system packages", || tools::ensure_system_packages(true))?;
        steps.step("native tests", native_tests)?;
        steps.step("wasm build", crate::build_all)?;
        steps.step("e2e tests", e2e)
    })();
    match &result {
        Ok(()) => println!("\nxtask test: ALL PASSED ({})", steps.summary()),
        Err(err) => println!("\nxtask test: FAILED: {err:#} ({})", steps.summary()),
    }
    result
}

/// Only the browser tests, against an existing `dist/`.
pub(crate) fn e2e_only() -> Result<()> {
    let start = Instant::now();
    let result = tools::ensure_system_packages(false).and_then(|()| e2e());
    let secs = start.elapsed().as_secs_f64();
    match &result {
        Ok(()) => println!("\nxtask e2e: PASSED ({secs:.0}s)"),
        Err(err) => println!("\nxtask e2e: FAILED: {err:#} ({secs:.0}s)"),
    }
    result
}

/// A private, empty `XDG_RUNTIME_DIR` (silences lavapipe's warning).
fn xdg_runtime_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("odeon-xdg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

fn native_tests() -> Result<()> {
    let xdg = xdg_runtime_dir()?;
    let result = run(cargo()
        .current_dir(workspace_root())
        .args(["test", "--workspace", "--release"])
        .env("XDG_RUNTIME_DIR", &xdg)
        // The system-packages step installed lavapipe, so GPU tests must find an adapter.
        .env("ODEON_REQUIRE_GPU", "1"));
    let _ = std::fs::remove_dir_all(&xdg);
    result
}

fn e2e() -> Result<()> {
    let root = workspace_root();
    let e2e_dir = root.join("e2e");
    let dist = dist_dir();
    if !dist.join("index.html").is_file() {
        bail!(
            "{} has no index.html; run `cargo xtask build` first",
            dist.display()
        );
    }
    tools::ensure_npm_packages(&e2e_dir)?;

    // The native reference run that the browser must reproduce (engine test).
    let reference = root.join("target").join("e2e-reference.json");
    let output = tools::cargo()
        .current_dir(&root)
        .args(["run", "--quiet", "--release", "-p", "odeon-bench", "--", "--reference", "10"])
        .output()
        .context("cannot run odeon-bench --reference")?;
    if !output.status.success() {
        bail!("odeon-bench --reference failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    std::fs::write(&reference, &output.stdout).with_context(|| format!("cannot write {}", reference.display()))?;

    // Every shipped notebook at the `ci` profile natively: the browser runs
    // must give the same metrics (`e2e/tests/notebooks.test.mjs`). A failed
    // criterion at `ci` exits 1 and is expected; a missing file is not.
    let cli_dir = root.join("target").join("e2e-cli");
    std::fs::create_dir_all(&cli_dir).with_context(|| format!("cannot create {}", cli_dir.display()))?;
    let notebooks = std::fs::read_dir(root.join("public").join("notebooks")).context("cannot list public/notebooks")?;
    for entry in notebooks {
        let path = entry?.path();
        let Some(id) = path.file_stem().and_then(|s| s.to_str()).filter(|_| path.extension().is_some_and(|e| e == "md")) else { continue };
        let out = cli_dir.join(format!("{id}.json"));
        let _ = std::fs::remove_file(&out);
        let status = tools::cargo()
            .current_dir(&root)
            .args(["run", "--quiet", "--release", "-p", "odeon-cli", "--", "run", id, "--profile", "ci", "--backend", "cpu", "--no-plots", "--metrics-json"])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("cannot run odeon run {id}"))?;
        if !out.is_file() {
            bail!("odeon run {id} --profile ci wrote no metrics ({status})");
        }
    }

    let isolated = serve::start(&dist, 0, true)?;
    let plain = serve::start(&dist, 0, false)?;
    let url = format!("http://127.0.0.1:{}/", isolated.port());
    let url_plain = format!("http://127.0.0.1:{}/", plain.port());
    println!("xtask: serving dist/ at {url} (isolated) and {url_plain} (no COOP/COEP)");

    let mut node = Command::new("node");
    node.current_dir(&root)
        .args(["--test", "--test-concurrency=1"])
        .env("ODEON_URL", &url)
        .env("ODEON_URL_NO_ISOLATION", &url_plain)
        .env("ODEON_REFERENCE", &reference)
        .env("ODEON_CLI_METRICS", &cli_dir);
    if let Ok(filter) = std::env::var("ODEON_E2E_FILTER")
        && !filter.is_empty()
    {
        node.arg(format!("--test-name-pattern={filter}"));
    }
    node.arg("e2e/tests/");
    let result = run(&mut node);
    isolated.stop();
    plain.stop();
    result
}
