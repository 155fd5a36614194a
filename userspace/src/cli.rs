//! The command line: the clap definition and the dispatch to
//! [`commands`](crate::commands).
//!
//! It lives in the library, not in `main.rs`, so that the man pages and the
//! shell completions (`lpmtrace completions`, `lpmtrace manpages`, and
//! `cargo xtask dist` through them) are generated from the very definition
//! the binary parses: they cannot drift from the real flags.
//!
//! Adding a subcommand: a variant in [`Command`] (its doc comment is the
//! one-line help and the man page's description) and an arm in [`run`].

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands::{
    doctor::DoctorArgs, dump::DumpArgs, export::ExportArgs, generate::CompletionsArgs, generate::ManpagesArgs,
    info::InfoArgs, live::LiveArgs, record::RecordArgs, replay::ReplayArgs, report::ReportArgs,
};

/// Trace and diagnose Live Partition Migration (LPM) on IBM POWER Linux.
///
/// lpmtrace attaches eBPF probes to the kernel's LPM path (migration
/// triggers, do_join / rtas_percpu_suspend_me, H_JOIN / H_PROD /
/// H_VASI_STATE / H_VASI_SIGNAL, ibm,suspend-me), CPU hotplug and IPIs, and
/// flags unterminated migrations, offline races and join stalls.
///
/// No POWER machine at hand? `lpmtrace report --demo` (or replay, dump,
/// info) reads a real migration recorded in a QEMU pseries guest.
#[derive(Parser, Debug)]
// The doc comment above is the long description (`--help`, and the man
// page's DESCRIPTION); `after_long_help` adds what a man page should say.
#[command(
    name = "lpmtrace",
    version,
    about,
    propagate_version = true,
    after_long_help = "Exit status: 0 success; 1 `report` found something at or above --fail-on; 2 error.\n\n\
                       Documentation: the user guide, the SRE runbook and the references in \
                       /usr/share/doc/lpmtrace/docs/ (packages) or docs/ (source)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what this kernel supports and how each probe attaches.
    Doctor(DoctorArgs),
    /// Watch events live (interactive screen, or --plain lines).
    Live(LiveArgs),
    /// Record events to a .lpmt file until Ctrl-C, --duration or --max-size.
    Record(RecordArgs),
    /// Print the events of a recording as text or JSON lines.
    Dump(DumpArgs),
    /// Show a recording's header, probe coverage, counts and integrity.
    Info(InfoArgs),
    /// Analyse a recording (or a scenario): migrations, findings, advice.
    Report(ReportArgs),
    /// Scrub through a recording in the interactive screen.
    Replay(ReplayArgs),
    /// Export a recording as a Perfetto trace (Chrome JSON) or JSON lines.
    Export(ExportArgs),
    /// Print a shell completion script (bash, zsh, fish, ...) on stdout.
    Completions(CompletionsArgs),
    /// Write the man pages into a folder (used by packaging).
    #[command(hide = true)]
    Manpages(ManpagesArgs),
}

/// The clap command tree the binary parses: the source of the man pages
/// and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// An error and its causes on one line, each cause once: a cause whose
/// text its parent already quotes (`open: No such file or directory (os
/// error 2)`) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let damaged = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::record::RecordError>(),
            Some(crate::record::RecordError::BadBlock { .. })
        ) || matches!(
            c.downcast_ref::<crate::source::SourceError>(),
            Some(crate::source::SourceError::Record(
                crate::record::RecordError::BadBlock { .. }
            ))
        )
    });
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    if damaged && !out.contains("--salvage") {
        out.push_str(" (rerun with --salvage to skip damaged blocks)");
    }
    out
}

/// Whether `e` is a write to a closed pipe (`| head`), anywhere in its
/// chain: the command then ends quietly with status 0.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs a parsed command line. `Ok` carries the exit code (0, or 1 for
/// findings at or above `--fail-on`); errors are the caller's exit code 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Doctor(args) => done(crate::commands::doctor::run(&args)),
        Command::Live(args) => {
            if args.plain {
                runtime()?.block_on(crate::commands::live::run_plain(&args))?;
            } else {
                runtime()?.block_on(crate::commands::tui_live::run_live(&args))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Record(args) => done(runtime()?.block_on(crate::commands::record::run(&args))),
        Command::Dump(args) => done(crate::commands::dump::run(&args)),
        Command::Info(args) => crate::commands::info::run(&args).map(ExitCode::from),
        Command::Replay(args) => done(crate::commands::replay::run(&args)),
        Command::Report(args) => crate::commands::report::run_file_or_scenario(&args),
        Command::Export(args) => done(crate::commands::export::run(&args)),
        Command::Completions(args) => done(crate::commands::generate::completions(&args)),
        Command::Manpages(args) => done(crate::commands::generate::manpages(&args, command())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = anyhow::Error::new(crate::record::RecordError::Io {
            path: "/x.lpmt".into(),
            op: "open".into(),
            source: io,
        })
        .context("reading the recording");
        let text = error_text(&e);
        assert_eq!(text.matches("No such file or directory").count(), 1, "{text}");
        assert!(
            text.starts_with("reading the recording: /x.lpmt: open: No such file"),
            "{text}"
        );
    }

    #[test]
    fn a_closed_pipe_is_found_under_context() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
