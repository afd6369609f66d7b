//! `cargo xtask build`: compile the wasm crates and assemble `dist/`.
//!
//! `dist/` gets the wasm-bindgen output (`pkg/`), the contents of `web/` and
//! `public/`, the code-cell editor bundled from `editor/` (`editor.js`, by
//! esbuild through `editor/build.mjs`), and last the service worker
//! `sw.js` with this build's version and file list filled in.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::{self, cargo, run};
use crate::{dist_dir, workspace_root};

/// The wasm crates (package name, output file stem, cargo profile). The
/// page is built for size (`wasm-size`, opt-level "z": it only renders), the
/// compute worker for speed (`wasm-release`, opt-level 3: it trains).
const WASM_CRATES: [(&str, &str, &str); 2] = [
    ("odeon-app", "odeon_app", "wasm-size"),
    ("odeon-worker", "odeon_worker", "wasm-release"),
];
const TARGET: &str = "wasm32-unknown-unknown";

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

    for (package, _, profile) in WASM_CRATES {
        println!("xtask: building {package} ({profile}, {TARGET}, +simd128)");
        run(cargo()
            .current_dir(&root)
            .args(["build", "--profile", profile, "--target", TARGET, "-p", package])
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                "-C target-feature=+simd128",
            ))?;
    }

    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("cannot remove {}", dist.display()))?;
    }
    let pkg = dist.join("pkg");
    fs::create_dir_all(&pkg).with_context(|| format!("cannot create {}", pkg.display()))?;
    for (package, stem, profile) in WASM_CRATES {
        let wasm = target_dir().join(TARGET).join(profile).join(format!("{stem}.wasm"));
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
    bundle_editor(&root, &dist)?;
    write_service_worker()?;

    println!("xtask: dist ready at {}", dist.display());
    let mut shown: Vec<String> = WASM_CRATES
        .iter()
        .map(|(_, stem, _)| format!("pkg/{stem}_bg.wasm"))
        .collect();
    shown.push("editor.js".to_string());
    for name in shown {
        let file = dist.join(&name);
        let size = fs::metadata(&file)
            .with_context(|| format!("the build did not write {}", file.display()))?
            .len();
        println!(
            "  {:<24} {:>10} bytes ({:.2} MiB)",
            name,
            size,
            size as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

/// Bundle the CodeMirror editor (`editor/`) into `dist/editor.js`, installing
/// its npm packages (`npm ci`) first when they are missing.
fn bundle_editor(root: &Path, dist: &Path) -> Result<()> {
    let editor = root.join("editor");
    tools::ensure_npm_ci(
        &editor,
        "esbuild",
        "the editor's npm packages (CodeMirror, esbuild)",
    )?;
    run(Command::new("node")
        .arg("build.mjs")
        .arg(dist.join("editor.js"))
        .current_dir(&editor))
}

/// Placeholders in `web/sw.js` that the build fills in.
const SW_VERSION: &str = "__ODEON_BUILD_VERSION__";
const SW_FILES: &str = "[/* __ODEON_PRECACHE__ */]";
/// Folders of `dist/` that the service worker does not precache (still in the
/// version hash): `npm/` holds the `@odeon/widget` package for bundlers, whose
/// wasm would double a visitor's background download for no use to the app.
const NOT_PRECACHED: [&str; 1] = ["npm/"];

/// Write `dist/sw.js` from `web/sw.js` with the build version (a hash of the
/// path and contents of every file in `dist/` but `sw.js` and source maps)
/// and the list of files to precache (the same, less [`NOT_PRECACHED`]), as
/// URLs relative to the worker. `build` calls it last; call it again after
/// anything else writes into `dist/`, so the version covers those files too.
pub(crate) fn write_service_worker() -> Result<()> {
    fill_service_worker(&workspace_root().join("web").join("sw.js"), &dist_dir())
}

fn fill_service_worker(template: &Path, dist: &Path) -> Result<()> {
    let sw = dist.join("sw.js");
    let source = fs::read_to_string(template)
        .with_context(|| format!("cannot read {}", template.display()))?;
    if !source.contains(SW_VERSION) || !source.contains(SW_FILES) {
        bail!(
            "{} lacks the placeholders {SW_VERSION} and {SW_FILES}",
            template.display()
        );
    }
    let mut files = Vec::new();
    list_files(dist, dist, &mut files)?;
    files.retain(|f| f != "sw.js" && !f.ends_with(".map"));
    files.sort();
    let mut hash = Fnv64::default();
    for file in &files {
        let bytes =
            fs::read(dist.join(file)).with_context(|| format!("cannot read dist/{file}"))?;
        hash.write(file.as_bytes());
        hash.write(&[0]);
        hash.write(&(bytes.len() as u64).to_le_bytes());
        hash.write(&bytes);
    }
    let version = format!("{:016x}", hash.0);
    let urls: Vec<String> = files
        .iter()
        .filter(|f| !NOT_PRECACHED.iter().any(|dir| f.starts_with(dir)))
        .map(|f| format!("./{f}"))
        .collect();
    let list = serde_json::to_string(&urls)?;
    let filled = source
        .replace(SW_VERSION, &version)
        .replace(SW_FILES, &list);
    fs::write(&sw, filled).with_context(|| format!("cannot write {}", sw.display()))?;
    println!(
        "xtask: service worker: build {version}, {} of {} files to precache",
        urls.len(),
        files.len()
    );
    Ok(())
}

/// Every file under `dir`, as a `/`-separated path relative to `base`.
fn list_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            list_files(base, &path, out)?;
        } else {
            let relative = path.strip_prefix(base)?;
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// 64-bit FNV-1a: a small, stable content hash for the cache version (not
/// for security; a changed build only needs a different name).
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_worker_gets_version_and_file_list() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("odeon-sw-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let dist = dir.join("dist");
        fs::create_dir_all(dist.join("pkg"))?;
        fs::create_dir_all(dist.join("npm/odeon-widget"))?;
        fs::write(dist.join("index.html"), "<p>hi</p>")?;
        fs::write(dist.join("pkg/a.wasm"), [0u8, 1, 2])?;
        fs::write(dist.join("pkg/a.js.map"), "{}")?;
        fs::write(dist.join("npm/odeon-widget/w.wasm"), [3u8])?;
        let template = dir.join("sw.js");
        fs::write(
            &template,
            format!("const BUILD = '{SW_VERSION}';\nconst FILES = {SW_FILES};\n"),
        )?;
        fill_service_worker(&template, &dist)?;
        let first = fs::read_to_string(dist.join("sw.js"))?;
        assert!(
            first.contains(r#"const FILES = ["./index.html","./pkg/a.wasm"];"#),
            "{first}"
        );
        assert!(!first.contains(SW_VERSION));

        // Filling again gives the same file; any file's change, even one
        // not precached, gives another version.
        fill_service_worker(&template, &dist)?;
        assert_eq!(fs::read_to_string(dist.join("sw.js"))?, first);
        fs::write(dist.join("npm/odeon-widget/w.wasm"), [4u8])?;
        fill_service_worker(&template, &dist)?;
        let second = fs::read_to_string(dist.join("sw.js"))?;
        assert_ne!(first, second);
        fs::write(dist.join("index.html"), "<p>hello</p>")?;
        fill_service_worker(&template, &dist)?;
        assert_ne!(fs::read_to_string(dist.join("sw.js"))?, second);

        // A template without the placeholders is an error, not a silent no-op.
        fs::write(&template, "// nothing to fill")?;
        assert!(fill_service_worker(&template, &dist).is_err());
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
