//! Running commands and making sure the external tools exist.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// The `cargo` binary that invoked us (falls back to `cargo` on PATH).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Run `cmd` with inherited stdio, failing on a non-zero exit status.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = describe(cmd);
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Run `cmd` quietly and return its trimmed stdout, or `None` when it cannot
/// start or exits non-zero.
pub(crate) fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Make sure the `wasm32-unknown-unknown` target is installed (via rustup).
pub(crate) fn ensure_wasm_target() -> Result<()> {
    const TARGET: &str = "wasm32-unknown-unknown";
    match output(Command::new("rustup").args(["target", "list", "--installed"])) {
        Some(list) if list.lines().any(|l| l.trim() == TARGET) => Ok(()),
        Some(_) => {
            println!("xtask: installing the Rust target {TARGET} (needed for the browser build)");
            run(Command::new("rustup").args(["target", "add", TARGET]))
        }
        None => {
            println!("xtask: warning: `rustup` not found; assuming {TARGET} is installed");
            Ok(())
        }
    }
}

/// The version of the `wasm-bindgen` package recorded in the workspace `Cargo.lock`.
pub(crate) fn locked_wasm_bindgen_version() -> Result<String> {
    let lock_path = workspace_root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("cannot read {}", lock_path.display()))?;
    for package in lock.split("[[package]]") {
        let field = |key: &str| {
            package.lines().find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        if field("name").as_deref() == Some("wasm-bindgen") {
            return field("version").with_context(|| {
                format!("wasm-bindgen in {} has no version", lock_path.display())
            });
        }
    }
    bail!(
        "no `wasm-bindgen` package in {}; is a wasm crate in the workspace?",
        lock_path.display()
    )
}

/// Make sure `wasm-bindgen` on PATH has exactly the version in `Cargo.lock`
/// (its output must match the `wasm-bindgen` library compiled into the wasm).
pub(crate) fn ensure_wasm_bindgen() -> Result<()> {
    let wanted = locked_wasm_bindgen_version()?;
    let found = output(Command::new("wasm-bindgen").arg("--version"));
    let found_version = found
        .as_deref()
        .and_then(|v| v.split_whitespace().nth(1))
        .map(str::to_string);
    if found_version.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let why = match found {
        None => "it is not installed".to_string(),
        Some(v) => format!("the installed one is `{v}`"),
    };
    println!(
        "xtask: installing wasm-bindgen-cli {wanted} with `cargo install` because {why}; \
         it must match the wasm-bindgen {wanted} in Cargo.lock. \
         This compiles from source and takes several minutes the first time."
    );
    run(cargo().args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &format!("={wanted}"),
    ]))?;
    let now = output(Command::new("wasm-bindgen").arg("--version"));
    if now.as_deref().and_then(|v| v.split_whitespace().nth(1)) != Some(wanted.as_str()) {
        bail!(
            "after installing, `wasm-bindgen --version` reports {now:?}, not {wanted}; \
             is ~/.cargo/bin first on PATH?"
        );
    }
    Ok(())
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

fn deb_installed(package: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|s| s.ends_with("install ok installed"))
}

/// Make sure the Debian packages needed by the tests are present: Chromium
/// (browser tests) and lavapipe, the software Vulkan driver (native GPU tests).
/// Installs them with apt-get when running as root; otherwise fails with the
/// command to run. `vulkan: false` checks only Chromium.
pub(crate) fn ensure_system_packages(vulkan: bool) -> Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("chromium");
    }
    let have_dpkg = output(Command::new("dpkg-query").arg("--version")).is_some();
    if vulkan && have_dpkg {
        for package in ["mesa-vulkan-drivers", "libvulkan1"] {
            if !deb_installed(package) {
                missing.push(package);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        let mut help = Vec::new();
        if missing.contains(&"chromium") {
            help.push(
                "the browser tests need Chromium: run `sudo apt-get install -y chromium` (Debian package)"
                    .to_string(),
            );
        }
        let vulkan: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|p| *p != "chromium")
            .collect();
        if !vulkan.is_empty() {
            help.push(format!(
                "the native GPU tests need a software Vulkan driver: run `sudo apt-get install -y {}`",
                vulkan.join(" ")
            ));
        }
        bail!("missing system packages ({list}); {}", help.join("; "));
    }
    println!(
        "xtask: installing {list} with apt-get (browser tests need chromium, native GPU tests need a Vulkan driver)"
    );
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if !Path::new("/usr/bin/chromium").exists() {
        bail!("/usr/bin/chromium is still missing after `apt-get install -y chromium`");
    }
    Ok(())
}

/// Make sure `e2e/node_modules` exists (`npm ci` from the committed lockfile).
pub(crate) fn ensure_npm_packages(e2e: &Path) -> Result<()> {
    ensure_npm_ci(e2e, "playwright-core", "the e2e npm packages")
}

/// Run `npm ci` (from the committed `package-lock.json`) in `dir` when
/// `dir/node_modules/<marker>` is missing or the lockfile changed since the
/// last install (npm records its install in `node_modules/.package-lock.json`).
/// `what` names the packages in the message.
pub(crate) fn ensure_npm_ci(dir: &Path, marker: &str, what: &str) -> Result<()> {
    let modules = dir.join("node_modules");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let stale = match (
        modified(&dir.join("package-lock.json")),
        modified(&modules.join(".package-lock.json")),
    ) {
        (Some(lock), Some(installed)) => lock > installed,
        _ => false,
    };
    if modules.join(marker).is_dir() && !stale {
        return Ok(());
    }
    println!(
        "xtask: installing {what} (npm ci in {}{})",
        dir.display(),
        if stale {
            "; package-lock.json changed"
        } else {
            ""
        }
    );
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir))
}
