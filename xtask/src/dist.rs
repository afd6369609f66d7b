//! `cargo xtask build`: compile the wasm crates and assemble `dist/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::{self, cargo, run};
use crate::{dist_dir, workspace_root};

/// The wasm crates (package name, output file stem).
const WASM_CRATES: [(&str, &str); 2] =
    [("odeon-app", "odeon_app"), ("odeon-worker", "odeon_worker")];
const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";

/// The cargo target directory (`CARGO_TARGET_DIR` or `<root>/target`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Build both wasm crates, run wasm-bindgen and assemble a fresh `dist/`.
pub(crate) fn build() -> Result<()> {
    let root = workspace_root();
    let dist = dist_dir();
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;

    println!("xtask: building the wasm crates ({PROFILE}, {TARGET}, +simd128)");
    let mut cmd = cargo();
    cmd.current_dir(&root)
        .args(["build", "--profile", PROFILE, "--target", TARGET])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-C target-feature=+simd128",
        );
    for (package, _) in WASM_CRATES {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)?;

    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("cannot remove {}", dist.display()))?;
    }
    let pkg = dist.join("pkg");
    fs::create_dir_all(&pkg).with_context(|| format!("cannot create {}", pkg.display()))?;
    let wasm_dir = target_dir().join(TARGET).join(PROFILE);
    for (package, stem) in WASM_CRATES {
        let wasm = wasm_dir.join(format!("{stem}.wasm"));
        if !wasm.is_file() {
            bail!(
                "{} not found after building {package}; is it a cdylib?",
                wasm.display()
            );
        }
        run(Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&pkg)
            .arg(&wasm))?;
    }

    for static_dir in ["web", "public"] {
        let src = root.join(static_dir);
        if src.is_dir() {
            copy_dir(&src, &dist)?;
        } else {
            println!(
                "xtask: warning: {} does not exist; nothing copied",
                src.display()
            );
        }
    }
    if !dist.join("index.html").is_file() {
        println!("xtask: warning: dist/index.html is missing (web/index.html not written yet?)");
    }

    println!("xtask: dist ready at {}", dist.display());
    for (_, stem) in WASM_CRATES {
        let file = pkg.join(format!("{stem}_bg.wasm"));
        let size = fs::metadata(&file)
            .with_context(|| format!("wasm-bindgen did not write {}", file.display()))?
            .len();
        println!(
            "  {:<24} {:>10} bytes ({:.2} MiB)",
            format!("pkg/{stem}_bg.wasm"),
            size,
            size as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

/// Copy the contents of `src` into `dst` recursively (merging folders).
fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    for entry in fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}
