//! `lpmtrace report`: analyse a recording (or a scenario) and print the
//! migration timeline and findings as text or JSON; the exit code says
//! whether anything at or above `--fail-on` was found.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::analysis::{Engine, Severity, Thresholds};
use crate::commands::common::parse_duration;
use crate::scenario;
use crate::source::{EventSource, VecSource};
use crate::views;
use crate::views::escape::{EscapeWriter, Style};
use crate::views::progress::Progress;

/// Events between two progress-bar updates.
pub const PROGRESS_EVERY: u64 = 4096;

/// Which findings make the command exit with 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Critical findings.
    Critical,
    /// Warnings and critical findings.
    Warning,
    /// Never (always exit 0 when the analysis ran).
    Never,
}

impl FailOn {
    fn trips(self, worst: Option<Severity>) -> bool {
        match (self, worst) {
            (FailOn::Never, _) | (_, None) => false,
            (FailOn::Critical, Some(s)) => s.at_least(Severity::Critical),
            (FailOn::Warning, Some(s)) => s.at_least(Severity::Warning),
        }
    }
}

/// Arguments of `lpmtrace report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Recording to analyse (.lpmt).
    pub file: Option<PathBuf>,
    /// Analyse a text scenario instead (docs/scenarios.md).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub scenario: Option<PathBuf>,
    /// Print the versioned JSON document (docs/report-schema.md).
    #[arg(short, long)]
    pub json: bool,
    /// Also write a self-contained HTML page (timeline, CPU lanes,
    /// findings, coverage) for an incident ticket.
    /// An existing file is refused unless `--force`; the input never is
    /// overwritten.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// Replace the `--html` page if it exists (never when it is the input).
    #[arg(short, long, requires = "html")]
    pub force: bool,
    /// Exit with 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value = "critical")]
    pub fail_on: FailOn,
    /// Join-stall threshold: an expected CPU not joined after this long.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub join_stall: Duration,
    /// Long-VASI-wait threshold: the stream not Suspending after this long.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub vasi_wait: Duration,
    /// Long-blackout threshold: the partition frozen longer than this.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub blackout: Duration,
    /// Premature H_JOIN returns in one attempt that count as a storm.
    #[arg(long, default_value_t = crate::analysis::DEFAULT_PREMATURE_STORM)]
    pub premature_storm: u32,
    /// Silence after which a migration seen only through hcalls has ended.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub settle: Duration,
    /// Skip damaged blocks of the recording (and say which) instead of
    /// stopping at the first; their events count as lost, and findings
    /// near them are marked inconclusive.
    #[arg(long)]
    pub salvage: bool,
}

impl ReportArgs {
    /// The files this report reads (never to be written over).
    fn inputs(&self) -> Vec<&Path> {
        self.file.iter().chain(&self.scenario).map(PathBuf::as_path).collect()
    }

    /// The thresholds the flags select.
    pub fn thresholds(&self) -> Thresholds {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Thresholds {
            join_stall_ns: ns(self.join_stall),
            vasi_wait_ns: ns(self.vasi_wait),
            blackout_ns: ns(self.blackout),
            premature_storm: self.premature_storm,
            settle_ns: ns(self.settle),
        }
    }
}

/// Parses a scenario file into an event source (for `--scenario`).
pub fn open_scenario(path: &Path) -> anyhow::Result<VecSource> {
    let sc = scenario::load(path)?;
    Ok(sc.source())
}

/// `lpmtrace report FILE` or `lpmtrace report --scenario FILE`: opens the
/// input and runs [`run`] on it.
pub fn run_file_or_scenario(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.scenario {
        let mut source = open_scenario(path)?;
        return run(args, &mut source);
    }
    let Some(path) = &args.file else {
        anyhow::bail!("report needs a recording (FILE) or --scenario FILE");
    };
    let opts = crate::record::OpenOptions { salvage: args.salvage };
    let mut source = crate::record::FileSource::open(path, opts)?;
    if let Some(note) = source.info().recovery_note() {
        eprintln!("lpmtrace: {note}");
    }
    let code = run(args, &mut source);
    let at_open = source.info().skipped_blocks.len();
    for s in source.skipped().iter().skip(at_open) {
        eprintln!("lpmtrace: salvage: skipped {} bytes: {}", s.bytes, s.reason);
    }
    code
}

/// Analyses `source` and writes the report to stdout. Returns exit code 1
/// when a finding at or above `--fail-on` exists, 0 otherwise; errors are
/// the caller's exit code 2.
pub fn run(args: &ReportArgs, source: &mut dyn EventSource) -> anyhow::Result<ExitCode> {
    let style = if args.json { Style::Json } else { Style::Text };
    let mut out = std::io::BufWriter::new(EscapeWriter::new(std::io::stdout().lock(), style));
    let code = run_to(args, source, &mut out)?;
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(ExitCode::from(code))
}

/// [`run`] writing to `out`; returns the exit status (0 or 1).
pub fn run_to(args: &ReportArgs, source: &mut dyn EventSource, out: &mut dyn Write) -> anyhow::Result<u8> {
    // Refused before the analysis, not after it.
    if let Some(path) = &args.html {
        crate::outfile::check_output(path, args.force, &args.inputs())?;
    }
    let session = source.session().clone();
    let mut engine = Engine::new(&session, args.thresholds());
    // The page's CPU lanes need more than the analysis keeps (offline
    // time, IPI activity); gathered only when a page is asked for.
    let mut activity = args
        .html
        .as_ref()
        .map(|_| views::html::activity::CpuActivity::default());
    let mut bar = match source.progress() {
        Some((_, total)) => Progress::for_file("report", total),
        None => Progress::off(),
    };
    let mut seen: u64 = 0;
    while let Some(ev) = source.next_event().context("reading events")? {
        engine.push(&ev);
        if let Some(a) = &mut activity {
            a.push(&ev);
        }
        seen += 1;
        // Checking the clock per event would cost more than the bar is worth.
        if seen.is_multiple_of(PROGRESS_EVERY) && bar.is_on() {
            if let Some((done, _)) = source.progress() {
                bar.set(done);
            }
        }
    }
    bar.finish();
    // A scenario may say how long the hang it describes lasted.
    if let Some(path) = &args.scenario {
        if let Some(w) = scenario::load(path)?.watermark_ns {
            engine.advance_to(w);
        }
    }
    // A flight-recorder dump was watched until it was taken: silence up to
    // then is part of the trace (a hang stops the events, not the clock).
    if let Some(until) = session.flight.as_ref().and_then(|f| f.watched_until_ns) {
        engine.advance_to(until);
    }
    let mut report = engine.finish();
    // A flight-recorder dump may start inside a migration; what the
    // recorder noted about that keeps the report from inventing a failure.
    if let Some(info) = &session.flight {
        eprintln!("lpmtrace: {}", crate::record::flight::describe_info(info));
        crate::record::flight::qualify_report(&mut report, info);
    }
    if let (Some(path), Some(activity)) = (&args.html, &activity) {
        crate::outfile::write_atomically(path, args.force, &args.inputs(), |out| {
            Ok(views::html::write_html(out, &report, &session, activity)?)
        })?;
    }
    let written = if args.json {
        views::report::write_json(out, &report, &session)
    } else {
        views::report::write_text(out, &report, &session)
    };
    match written {
        Ok(()) => {}
        // `lpmtrace report | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("writing the report"),
    }
    Ok(u8::from(args.fail_on.trips(report.worst())))
}
