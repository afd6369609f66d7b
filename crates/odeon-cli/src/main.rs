//! `odeon`: run a notebook natively. See the crate docs of `odeon_cli`.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: odeon run <notebook id | file.md | share link> [--profile ci|default|big]\n       odeon list"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("list") {
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
    let (Some("run"), Some(source)) = (args.first().map(String::as_str), args.get(1)) else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    let profile = args.iter().position(|a| a == "--profile").and_then(|i| args.get(i + 1)).map(String::as_str);
    let result = odeon_cli::resolve(source, profile).and_then(|request| {
        let metrics = odeon_cli::run(&request, &mut |line| println!("{line}"))?;
        println!("\nmetrics:");
        for (cell, name, value) in metrics {
            println!("  {cell:>10}  {name:<32} {value}");
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
