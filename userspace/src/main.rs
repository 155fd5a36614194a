//! The `lpmtrace` command line: parse, dispatch, turn errors into exit
//! codes (0 ok, 1 findings at or above --fail-on, 2 error).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lpmtrace::commands::{
    doctor::DoctorArgs, dump::DumpArgs, export::ExportArgs, info::InfoArgs, live::LiveArgs, record::RecordArgs,
    replay::ReplayArgs, report::ReportArgs,
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
#[command(name = "lpmtrace", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let args = match lpmtrace::demo::expand_args(std::env::args().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lpmtrace: error: cannot write the demo recording: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lpmtrace: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor(args) => lpmtrace::commands::doctor::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Live(args) => {
            if args.plain {
                runtime()?.block_on(lpmtrace::commands::live::run_plain(&args))?;
            } else {
                runtime()?.block_on(lpmtrace::commands::tui_live::run_live(&args))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Record(args) => {
            runtime()?.block_on(lpmtrace::commands::record::run(&args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dump(args) => lpmtrace::commands::dump::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Info(args) => lpmtrace::commands::info::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Replay(args) => lpmtrace::commands::replay::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Export(args) => lpmtrace::commands::export::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => {
            if let Some(path) = &args.scenario {
                let mut source = lpmtrace::commands::report::open_scenario(path)?;
                return lpmtrace::commands::report::run(&args, &mut source);
            }
            let Some(path) = &args.file else {
                anyhow::bail!("report needs a recording (FILE) or --scenario FILE");
            };
            let mut source = lpmtrace::record::FileSource::open(path, lpmtrace::record::OpenOptions::default())?;
            if let Some(note) = source.info().recovery_note() {
                eprintln!("lpmtrace: {note}");
            }
            lpmtrace::commands::report::run(&args, &mut source)
        }
    }
}
