//! TEMPORARY development entry point for the vm-test module until
//! xtask/src/main.rs wires `vm-test`; delete before handing over.
#[path = "../vm/mod.rs"]
mod vm;

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: vm::VmTestArgs,
}

fn main() -> std::process::ExitCode {
    match vm::run(&Cli::parse().args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
