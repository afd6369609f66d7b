//! The npm package `@odeon/widget` (crate `odeon-widget`), built with
//! wasm-pack and copied into `dist/npm/odeon-widget/` so pages served from
//! `dist/` (the example documentation page) can import it.
//!
//! wasm-pack runs with `--mode no-install` (it uses the pinned wasm-bindgen
//! on PATH instead of downloading one) and `--no-opt` (wasm-opt would be
//! downloaded from GitHub). Its output gets the package's own JavaScript
//! (`crates/odeon-widget/js/`: the entry that locates the worker, the worker
//! script, their types) and a `package.json` named `@odeon/widget` that
//! lists them, so `npm pack` in the output folder gives the whole package.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::{self, cargo, output, run};
use crate::{dist_dir, workspace_root};

/// The wasm-pack version `cargo xtask` installs and expects.
const WASM_PACK_VERSION: &str = "0.15.1";
/// The npm package name.
const PACKAGE: &str = "@odeon/widget";
/// Files the package adds to wasm-pack's output, from `crates/odeon-widget/js/`.
const EXTRA_FILES: [&str; 3] = ["index.js", "index.d.ts", "worker.js"];
/// The wasm file, as wasm-pack names it.
const WASM: &str = "odeon_widget_bg.wasm";

/// The cargo target directory (`CARGO_TARGET_DIR` or `<root>/target`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Make sure `wasm-pack` on PATH is version [`WASM_PACK_VERSION`], installing
/// it from crates.io (`cargo install --locked`, a minute or two) otherwise.
fn ensure_wasm_pack() -> Result<()> {
    let version = || {
        output(Command::new("wasm-pack").arg("--version"))
            .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
    };
    let found = version();
    if found.as_deref() == Some(WASM_PACK_VERSION) {
        return Ok(());
    }
    let why = match &found {
        None => "it is not installed".to_string(),
        Some(v) => format!("the installed one is {v}"),
    };
    println!(
        "xtask: installing wasm-pack {WASM_PACK_VERSION} with `cargo install` because {why} \
         (it builds the @odeon/widget npm package; compiles from source, a minute or two once)"
    );
    run(cargo().args([
        "install",
        "wasm-pack",
        "--version",
        &format!("={WASM_PACK_VERSION}"),
        "--locked",
    ]))?;
    let now = version();
    if now.as_deref() != Some(WASM_PACK_VERSION) {
        bail!(
            "after installing, `wasm-pack --version` reports {now:?}, not {WASM_PACK_VERSION}; \
             is ~/.cargo/bin first on PATH?"
        );
    }
    Ok(())
}

/// The `[workspace.package] version` of the root `Cargo.toml`.
fn workspace_version() -> Result<String> {
    let path = workspace_root().join("Cargo.toml");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let section = text
        .split("[workspace.package]")
        .nth(1)
        .with_context(|| format!("{} has no [workspace.package]", path.display()))?;
    section
        .lines()
        .take_while(|line| !line.trim_start().starts_with('['))
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "version").then(|| value.trim().trim_matches('"').to_string())
        })
        .with_context(|| format!("{} has no workspace version", path.display()))
}

/// Build the package into `target/odeon-widget-pkg/` and copy it to
/// `dist/npm/odeon-widget/`. Runs after `dist::build` (which empties `dist/`).
pub(crate) fn build() -> Result<()> {
    let root = workspace_root();
    let crate_dir = root.join("crates").join("odeon-widget");
    let out = target_dir().join("odeon-widget-pkg");
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;
    ensure_wasm_pack()?;

    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    println!("xtask: building the npm package {PACKAGE} (wasm-pack, wasm-release, +simd128)");
    run(Command::new("wasm-pack")
        .current_dir(&root)
        .args(["build"])
        .arg(&crate_dir)
        .args([
            "--target",
            "web",
            "--profile",
            "wasm-release",
            "--no-opt",
            "--mode",
            "no-install",
            "--no-gitignore",
            "--out-dir",
        ])
        .arg(&out)
        // The same flags as the app's build, so the crates compile once for both.
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-C target-feature=+simd128",
        ))?;

    for file in EXTRA_FILES {
        let from = crate_dir.join("js").join(file);
        fs::copy(&from, out.join(file))
            .with_context(|| format!("cannot copy {}", from.display()))?;
    }
    if !out.join("README.md").is_file() {
        fs::copy(crate_dir.join("README.md"), out.join("README.md"))
            .context("cannot copy the package README")?;
    }
    write_package_json(&out)?;

    let dest = dist_dir().join("npm").join("odeon-widget");
    if dest.exists() {
        fs::remove_dir_all(&dest).with_context(|| format!("cannot remove {}", dest.display()))?;
    }
    copy_dir(&out, &dest)?;
    let size = fs::metadata(dest.join(WASM))
        .with_context(|| format!("wasm-pack did not write {WASM}"))?
        .len();
    println!(
        "xtask: {PACKAGE} ready at {} (npm pack there gives the package)\n  {:<24} {:>10} bytes ({:.2} MiB)",
        dest.display(),
        format!("npm/odeon-widget/{WASM}"),
        size,
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// Rename wasm-pack's `package.json` to `@odeon/widget`, point it at the
/// entry that locates the worker, and list every file the package needs.
fn write_package_json(out: &Path) -> Result<()> {
    let path = out.join("package.json");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("wasm-pack did not write {}", path.display()))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let package = json
        .as_object_mut()
        .context("package.json is not an object")?;
    package.insert("name".into(), PACKAGE.into());
    package.insert("version".into(), workspace_version()?.into());
    package.insert("main".into(), "index.js".into());
    package.insert("module".into(), "index.js".into());
    package.insert("types".into(), "index.d.ts".into());
    let mut files: Vec<String> = package
        .get("files")
        .and_then(|f| f.as_array())
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let extra = EXTRA_FILES
        .iter()
        .copied()
        .chain(["README.md"])
        .chain(out.join("snippets").is_dir().then_some("snippets"));
    for file in extra {
        if !files.iter().any(|f| f == file) {
            files.push(file.to_string());
        }
    }
    for file in &files {
        if !out.join(file).exists() {
            bail!(
                "package.json lists {file}, but {} has no such file",
                out.display()
            );
        }
    }
    package.insert("files".into(), files.into());
    package.insert(
        "keywords".into(),
        serde_json::json!(["odeon", "notebook", "widget", "wasm", "machine-learning"]),
    );
    fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Copy the contents of `src` into `dst` recursively, skipping `.gitignore`.
fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    for entry in fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        if entry.file_name() == ".gitignore" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}
