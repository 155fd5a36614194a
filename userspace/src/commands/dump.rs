//! `lpmtrace dump FILE`: print the events of a recording as text or JSON
//! lines, the same lines `live --plain` prints, optionally filtered by CPU,
//! probe and time window (relative to the start of the recording).
//!
//! Notes (a recovered file without footer, skipped blocks) go to stderr so
//! stdout stays pure event lines; a closed pipe (`| head`) ends quietly.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use crate::commands::report::PROGRESS_EVERY;
use crate::events::PROBE_NAMES;
use crate::record::{FileSource, OpenOptions, RecordError};
use crate::source::{EventSource, SourceError};
use crate::views::escape::{EscapeWriter, Style};
use crate::views::event_line::{write_event, LineClock, LineFormat};
use crate::views::progress::Progress;
use crate::views::time::TimeSpec;

/// Arguments of `lpmtrace dump`.
#[derive(Args, Debug, Clone)]
pub struct DumpArgs {
    /// The recording (.lpmt).
    pub file: PathBuf,
    /// Line format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LineFormat,
    /// Only events that fired on this CPU (repeatable).
    #[arg(long, value_name = "N")]
    pub cpu: Vec<u32>,
    /// Only events of this logical probe (`ipi.send`) or family (`ipi`);
    /// repeatable.
    #[arg(long, value_name = "NAME", value_parser = parse_probe)]
    pub probe: Vec<String>,
    /// Start at this time, spelled as any output prints it: since the
    /// first event (`1.5`, `+1.020742s`, `250ms`, `2m`), boot time
    /// (`boot 12.56s`, `[   12.560384]`) or UTC (`2026-11-25T12:48:31.331Z`,
    /// `2026-11-25 13:48:31+01:00`).
    #[arg(long, value_name = "T", value_parser = TimeSpec::parse)]
    pub from: Option<TimeSpec>,
    /// Stop after this time (same spellings as --from).
    #[arg(long, value_name = "T", value_parser = TimeSpec::parse)]
    pub to: Option<TimeSpec>,
    /// Skip damaged blocks (and say which) instead of stopping at the first.
    #[arg(long)]
    pub salvage: bool,
}

/// What [`dump`] printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpSummary {
    /// Event lines written.
    pub printed: u64,
    /// Events read from the file (before the CPU and probe filters).
    pub read: u64,
}

/// Runs `lpmtrace dump` on stdout and stderr.
pub fn run(args: &DumpArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, EscapeWriter::new(stdout.lock(), Style::Text));
    let result = dump(args, &mut out, &mut io::stderr()).and_then(|_| Ok(out.flush()?));
    match result {
        Err(e) if crate::cli::is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

/// Prints the selected events to `out` and notes to `notes`.
pub fn dump(args: &DumpArgs, out: &mut impl Write, notes: &mut impl Write) -> anyhow::Result<DumpSummary> {
    let mut src = FileSource::open(&args.file, OpenOptions { salvage: args.salvage })?;
    let path = args.file.display().to_string();
    if let Some(note) = src.info().recovery_note() {
        let _ = writeln!(notes, "lpmtrace: {path}: {note}");
    }
    let start = src.info().first_ts_ns.unwrap_or(0);
    let offset = src.session().clock_to_wall_offset_ns;
    let resolve = |flag: &str, t: Option<TimeSpec>| {
        t.map(|t| t.resolve(start, offset).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
            .transpose()
    };
    let from = resolve("--from", args.from)?;
    let to = resolve("--to", args.to)?;
    if let (Some(f), Some(t)) = (from, to) {
        anyhow::ensure!(f <= t, "--from is after --to");
    }
    if let Some(from) = from {
        src.seek_to(from);
    }
    let session = src.session().clone();
    let clock = LineClock::with_boot(start);
    let mut summary = DumpSummary::default();
    // Lines on a terminal are their own progress; a bar would garble them.
    let mut bar = if io::stdout().is_terminal() {
        Progress::off()
    } else {
        Progress::for_file("dump", src.total_bytes())
    };
    let result = loop {
        if summary.read.is_multiple_of(PROGRESS_EVERY) && bar.is_on() {
            bar.set(src.bytes_read());
        }
        let event = match src.next_event() {
            Ok(Some(e)) => e,
            Ok(None) => break Ok(()),
            Err(e) => break Err(read_error(e, args.salvage)),
        };
        if to.is_some_and(|t| event.ts_ns > t) {
            break Ok(());
        }
        summary.read += 1;
        if !args.cpu.is_empty() && !args.cpu.contains(&event.cpu) {
            continue;
        }
        if !args.probe.is_empty() && !args.probe.iter().any(|p| probe_matches(p, event.kind.probe())) {
            continue;
        }
        if let Err(e) = write_event(out, &event, &session, args.format, clock) {
            break Err(anyhow::Error::new(e).context("writing output"));
        }
        summary.printed += 1;
    };
    bar.finish();
    for s in src.skipped() {
        let _ = writeln!(notes, "lpmtrace: salvage: skipped {} bytes: {}", s.bytes, s.reason);
    }
    result.map(|()| summary)
}

fn read_error(e: SourceError, salvage: bool) -> anyhow::Error {
    let damaged = matches!(e, SourceError::Record(RecordError::BadBlock { .. }));
    let e = anyhow::Error::new(e);
    if damaged && !salvage {
        e.context("stopped at a damaged block (rerun with --salvage to skip damaged blocks)")
    } else {
        e
    }
}

/// True when `filter` (a probe name or a family like `ipi`) selects `probe`.
pub fn probe_matches(filter: &str, probe: &str) -> bool {
    probe == filter || probe.strip_prefix(filter).is_some_and(|rest| rest.starts_with('.'))
}

/// Parses a `--probe` value: a logical probe name or a family prefix.
pub fn parse_probe(text: &str) -> Result<String, String> {
    let t = text.trim();
    if PROBE_NAMES.iter().any(|p| probe_matches(t, p)) {
        Ok(t.to_string())
    } else {
        Err(format!("no such probe {t:?} (known: {})", PROBE_NAMES.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_match_by_name_or_family() {
        assert!(probe_matches("ipi", "ipi.send"));
        assert!(probe_matches("ipi.send", "ipi.send"));
        assert!(!probe_matches("ip", "ipi.send"));
        assert!(!probe_matches("ipi.send", "ipi.handle"));
        assert_eq!(parse_probe("lpm").as_deref(), Ok("lpm"));
        assert!(parse_probe("nope").unwrap_err().contains("known: lpm.trigger"));
    }
}
