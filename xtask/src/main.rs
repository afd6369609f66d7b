//! `cargo xtask`: build, serve and test orchestration for Odeon.
//!
//! Subcommands:
//! - `build`: compile the wasm crates and assemble a static `dist/` folder;
//! - `serve [--port N] [--no-build] [--no-isolation]`: build, then serve `dist/`;
//! - `test`: native tests, the wasm build and the browser (e2e) tests;
//! - `e2e`: only the browser tests, against an existing `dist/`.
#![allow(clippy::print_stdout)]

mod bench;
mod dist;
#[cfg(test)]
mod layers;
mod serve;
mod test;
mod tools;
mod widget;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build                      build the wasm crates and assemble dist/
  serve [--port N] [--no-build] [--no-isolation]
                             build (unless --no-build) and serve dist/ on
                             http://127.0.0.1:N/ (default 8000); --no-isolation
                             omits the COOP/COEP headers
  test                       run native tests, the wasm build and the e2e tests
  bench [--quick]            benchmarks vs JAX, tf.js, jax-js (docs/benchmarks.md)
  bench load [--runs N]      page load time and transferred bytes in Chromium (after build)
  e2e                        run only the e2e tests against an existing dist/
                             (ODEON_E2E_FILTER=<regex> selects tests by name)
  help                       print this message";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        println!("{USAGE}");
        bail!("missing command");
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "build" => {
            no_extra_args(&rest)?;
            build_all()
        }
        "serve" => serve_command(&rest),
        "test" => {
            no_extra_args(&rest)?;
            test::test_all()
        }
        "bench" => bench::bench(&rest),
        "e2e" => {
            no_extra_args(&rest)?;
            test::e2e_only()
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            println!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

fn no_extra_args(rest: &[String]) -> Result<()> {
    if let Some(arg) = rest.first() {
        bail!("unexpected argument `{arg}` (see `cargo xtask help`)");
    }
    Ok(())
}

fn serve_command(rest: &[String]) -> Result<()> {
    let mut port: u16 = 8000;
    let mut build = true;
    let mut isolation = true;
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--port" => {
                let value = iter.next().context("--port needs a value")?;
                port = value
                    .parse()
                    .with_context(|| format!("invalid port `{value}`"))?;
            }
            "--no-build" => build = false,
            "--no-isolation" => isolation = false,
            other => bail!("unknown serve option `{other}` (see `cargo xtask help`)"),
        }
    }
    if build {
        build_all()?;
    }
    let dist = dist_dir();
    if !dist.join("index.html").is_file() {
        bail!(
            "{} has no index.html; run `cargo xtask build` first",
            dist.display()
        );
    }
    let server = serve::start(&dist, port, isolation)?;
    println!(
        "serving {} at http://127.0.0.1:{}/ ({}); press Ctrl-C to stop",
        dist.display(),
        server.port(),
        if isolation {
            "cross-origin isolated: COOP/COEP set"
        } else {
            "no COOP/COEP headers"
        }
    );
    server.join();
    Ok(())
}

/// The workspace root (the parent of the `xtask` crate).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.clone(), std::path::Path::to_path_buf)
}

/// The static output folder, `<root>/dist`.
pub(crate) fn dist_dir() -> PathBuf {
    workspace_root().join("dist")
}

/// The whole static build: the app and worker, the widget package, then the
/// service worker (whose build version covers every file in `dist/`).
pub(crate) fn build_all() -> Result<()> {
    dist::build()?;
    widget::build()?;
    dist::write_service_worker()
}
