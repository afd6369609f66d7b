//! `odeon`: run a notebook natively. See the crate docs of `odeon_cli`.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: odeon run <notebook id | file.md | share link> [--profile ci|default|big] [--backend auto|cpu|webgpu]\n                  [--plots DIR | --no-plots] [--metrics-json FILE]\n       odeon list\n       odeon api        (the script API reference, as Markdown)\n\n`run` writes every plot as SVG into DIR (default: odeon-plots/<notebook id>) and exits\nwith status 1 when a cell fails or a success criterion is not met. `--backend` overrides the\nnotebook's `backend:` (default auto): webgpu trains on the native GPU (Vulkan, Metal, DX12)."
}

fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            return match odeon_cli::list() {
                Ok(lines) => {
                    lines.iter().for_each(|l| println!("{l}"));
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("api") => {
            print!("{}", odeon_notebook::api::markdown());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let (Some("run"), Some(source)) = (args.first().map(String::as_str), args.get(1)) else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    let result = odeon_cli::resolve(source, option(&args, "--profile")).and_then(|mut request| {
        request.backend = option(&args, "--backend").map(str::to_string);
        let report = odeon_cli::run(&request, &mut |line| println!("{line}"))?;
        println!("\nmetrics:");
        for (cell, name, value) in &report.metrics {
            println!("  {cell:>10}  {name:<32} {}", odeon_notebook::events::format_number(*value));
        }
        if !report.criteria.is_empty() {
            println!("\nsuccess criteria:");
            for c in &report.criteria {
                println!("  {:>10}  {}", c.cell, c.text);
            }
        }
        if let Some(path) = option(&args, "--metrics-json") {
            std::fs::write(path, report.metrics_json()).map_err(|e| anyhow::anyhow!("cannot write {path}: {e}"))?;
        }
        if !args.iter().any(|a| a == "--no-plots") {
            let id = odeon_notebook::Notebook::parse(&request.text).map(|nb| nb.meta.id).unwrap_or_else(|_| "notebook".into());
            let dir = option(&args, "--plots").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("odeon-plots").join(odeon_notebook::svg::file_stem(&id)));
            let paths = report.write_plots(&dir)?;
            println!("\nwrote {} plot(s) as SVG to {}", paths.len(), dir.display());
        }
        Ok(report.failed().len())
    });
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("error: {failed} success criterion/criteria not met (see above)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
