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
use crate::views::event_line::{write_event, LineFormat};
use crate::views::progress::Progress;

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
    /// Start this long after the first event: seconds (`1.5`, `+1.5s`) or
    /// with a unit (`250ms`, `2m`).
    #[arg(long, value_name = "T", value_parser = parse_offset)]
    pub from: Option<u64>,
    /// Stop this long after the first event (same syntax as --from).
    #[arg(long, value_name = "T", value_parser = parse_offset)]
    pub to: Option<u64>,
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
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from <= to, "--from is after --to");
    }
    let mut src = FileSource::open(&args.file, OpenOptions { salvage: args.salvage })?;
    let path = args.file.display().to_string();
    if let Some(note) = src.info().recovery_note() {
        let _ = writeln!(notes, "lpmtrace: {path}: {note}");
    }
    let start = src.info().first_ts_ns.unwrap_or(0);
    let to = args.to.map(|d| start.saturating_add(d));
    if let Some(from) = args.from {
        src.seek_to(start.saturating_add(from));
    }
    let session = src.session().clone();
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
        if let Err(e) = write_event(out, &event, &session, args.format) {
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

/// Parses a time offset into nanoseconds: `1.5` and `+1.5s` are seconds;
/// `ns`, `us`, `ms`, `s` and `m` units are accepted. Exact (no floats).
pub fn parse_offset(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t).trim();
    let units: [(&str, u128); 6] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
    ];
    let (num, unit) = units
        .iter()
        .find_map(|&(suffix, mult)| t.strip_suffix(suffix).map(|n| (n.trim(), mult)))
        .unwrap_or((t, 1_000_000_000));
    let bad = || format!("invalid time {text:?} (seconds from the start, like 1.5 or +1.5s, or 250ms)");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if int.len() > 20 || frac.len() > 18 {
        return Err(bad());
    }
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let scale = 10u128.pow(frac.len() as u32);
    let frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let ns = int
        .checked_mul(unit)
        .and_then(|v| v.checked_add(frac_v * unit / scale))
        .ok_or_else(bad)?;
    u64::try_from(ns).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_exactly() {
        assert_eq!(parse_offset("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_offset("+1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_offset(" +0.000000001 "), Ok(1));
        assert_eq!(parse_offset("250ms"), Ok(250_000_000));
        assert_eq!(parse_offset("2m"), Ok(120_000_000_000));
        assert_eq!(parse_offset("10us"), Ok(10_000));
        assert_eq!(parse_offset("7ns"), Ok(7));
        assert_eq!(parse_offset(".5"), Ok(500_000_000));
        for bad in ["", "+", "-1", "1.2.3", "abc", "1e3", "99999999999999999999999"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

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
