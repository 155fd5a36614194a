//! The `lpmtrace` binary: logging, `--demo`, parse, run, and errors to exit
//! codes (0 ok, 1 findings at or above --fail-on, 2 error). The command
//! line itself is defined in the library (`lpmtrace::cli`).

use std::process::ExitCode;

use clap::Parser;
use lpmtrace::cli::Cli;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let args = match lpmtrace::demo::expand_args(std::env::args().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lpmtrace: error: cannot load the demo recording into memory: {e}");
            return ExitCode::from(2);
        }
    };
    match lpmtrace::cli::run(Cli::parse_from(args)) {
        Ok(code) => code,
        // `lpmtrace dump FILE | head`: the reader has what it wanted.
        Err(e) if lpmtrace::cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<lpmtrace::tui::terminal::Signalled>() {
            Some(sig) => {
                eprintln!("lpmtrace: {sig}");
                ExitCode::from(sig.exit_status())
            }
            None => {
                eprintln!("lpmtrace: error: {}", lpmtrace::cli::error_text(&e));
                ExitCode::from(2)
            }
        },
    }
}
