//! TEMPORARY development entry point for the bench module until
//! xtask/src/main.rs wires `bench`; delete before handing over.
#[path = "../bench/mod.rs"]
mod bench;

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: bench::BenchArgs,
}

fn main() -> std::process::ExitCode {
    match bench::run(&Cli::parse().args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
