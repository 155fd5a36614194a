//! `lpmtrace info FILE`: what a recording holds — the traced system, the
//! coverage manifest, duration, events per probe, losses, blocks and
//! whether the recorder finished the file — as text or one JSON object.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};

use crate::events::{
    names,
    session::{CoverageStatus, IpiDetail},
    PROBE_NAMES,
};
use crate::record::{format_duration, format_ts, FileSource, FooterStatus, OpenOptions};
use crate::source::EventSource;
use crate::views::escape::{EscapeWriter, Style};
use crate::views::time::format_wall;

/// Arguments of `lpmtrace info`.
#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// The recording (.lpmt).
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(short, long)]
    pub json: bool,
    /// Skip damaged blocks when the footer is missing and the blocks must
    /// be scanned.
    #[arg(long)]
    pub salvage: bool,
    /// Do not read every block to verify its checksums (faster on big
    /// files; the output then says they were not verified).
    #[arg(long)]
    pub no_verify: bool,
}

/// Runs `lpmtrace info` on stdout. Returns 1 when a block is damaged (or
/// was skipped at open), 0 otherwise.
pub fn run(args: &InfoArgs) -> anyhow::Result<u8> {
    let mut src = FileSource::open(&args.file, OpenOptions { salvage: args.salvage })?;
    let verified = if args.no_verify {
        None
    } else {
        Some(src.verify_blocks()?)
    };
    let style = if args.json { Style::Json } else { Style::Text };
    let mut out = io::BufWriter::new(EscapeWriter::new(io::stdout().lock(), style));
    let result = if args.json {
        let mut v = info_json(&src);
        v["verified"] = match &verified {
            None => Value::Null,
            Some(damaged) => json!({"blocks": src.info().blocks.len(), "damaged": damaged}),
        };
        serde_json::to_writer_pretty(&mut out, &v)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        write_text(&mut out, &src).and_then(|()| write_verification(&mut out, &src, verified.as_deref()))
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    let damaged = verified.as_ref().is_some_and(|d| !d.is_empty()) || !src.info().skipped_blocks.is_empty();
    Ok(u8::from(damaged))
}

/// The checksum line(s) of the text output.
fn write_verification(
    out: &mut impl Write,
    src: &FileSource,
    verified: Option<&[crate::record::SkippedBlock]>,
) -> io::Result<()> {
    let n = src.info().blocks.len();
    match verified {
        None => writeln!(out, "checksums   not verified (--no-verify)"),
        Some([]) => writeln!(out, "checksums   all {n} blocks verified"),
        Some(damaged) => {
            writeln!(
                out,
                "checksums   DAMAGED: {} of {n} blocks fail their checks (report, replay, export and dump \
                 --salvage skip them and count their events as lost)",
                damaged.len()
            )?;
            for d in damaged {
                writeln!(out, "            {}", d.reason)?;
            }
            Ok(())
        }
    }
}

fn tag<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => "?".into(),
    }
}

/// The whole description as JSON: the [`FileInfo`](crate::record::FileInfo)
/// fields, `duration_ns`, `recovery_note` and the `session` header.
pub fn info_json(src: &FileSource) -> Value {
    let info = src.info();
    let mut v = serde_json::to_value(info).unwrap_or_else(|_| json!({}));
    v["duration_ns"] = json!(info.duration_ns());
    v["block_bytes"] = json!(info.block_bytes());
    v["recovery_note"] = json!(info.recovery_note());
    v["session"] = serde_json::to_value(src.session()).unwrap_or(Value::Null);
    v
}

/// The human-readable description.
pub fn write_text(out: &mut impl Write, src: &FileSource) -> io::Result<()> {
    let info = src.info();
    let s = src.session();
    writeln!(
        out,
        "file        {} ({} bytes, format {}.{})",
        info.path.display(),
        info.file_size,
        info.format_major,
        info.format_minor
    )?;
    match &info.footer {
        FooterStatus::Present => writeln!(out, "footer      present (the recorder finished)")?,
        FooterStatus::Missing => writeln!(out, "footer      MISSING")?,
        FooterStatus::Corrupt { reason } => writeln!(out, "footer      CORRUPT: {reason}")?,
    }
    if let Some(flight) = &s.flight {
        writeln!(out, "flight      {}", crate::record::flight::describe_info(flight))?;
    }
    if let Some(note) = info.recovery_note() {
        writeln!(out, "note        {note}")?;
    }
    writeln!(out, "host        {}", s.hostname)?;
    writeln!(
        out,
        "kernel      {} ({}, {} CPUs, LPM generation {})",
        s.kernel_release,
        s.arch,
        s.cpu_count,
        tag(&s.generation)
    )?;
    writeln!(
        out,
        "recorded by lpmtrace {}: {}",
        s.tool_version,
        s.command_line.join(" ")
    )?;
    writeln!(
        out,
        "ipis        {}",
        match s.ipi_detail {
            IpiDetail::Window => {
                "recorded one by one inside the IPI window (migrations, 2 s after LPM/hotplug events), counted \
                 per CPU outside it (ipi.tally)"
            }
            IpiDetail::All => "every IPI recorded one by one",
        }
    )?;
    match (info.first_ts_ns, info.last_ts_ns) {
        (Some(first), Some(last)) => {
            let wall = |ts: u64| format_wall((ts as i64).saturating_add(s.clock_to_wall_offset_ns));
            writeln!(
                out,
                "clock       {} (ts {} .. {})",
                tag(&s.clock),
                format_ts(first),
                format_ts(last)
            )?;
            writeln!(out, "time        {} .. {}", wall(first), wall(last))?;
            writeln!(out, "duration    {}", format_duration(info.duration_ns()))?;
        }
        _ => writeln!(out, "clock       {} (no events)", tag(&s.clock))?,
    }
    let per_event = if info.events > 0 {
        format!(", {:.1} bytes/event", info.block_bytes() as f64 / info.events as f64)
    } else {
        String::new()
    };
    writeln!(
        out,
        "events      {} in {} blocks{per_event}",
        info.events,
        info.blocks.len()
    )?;
    if info.lost_records == 0 {
        writeln!(out, "lost        none")?;
    } else {
        let reports = if info.lost_records == 1 {
            "loss report"
        } else {
            "loss reports"
        };
        writeln!(
            out,
            "lost        {} events in {} {reports}",
            info.lost_events, info.lost_records
        )?;
    }
    writeln!(out, "per probe")?;
    let mut names: Vec<&str> = PROBE_NAMES.to_vec();
    for extra in info.probe_counts.keys() {
        if !names.contains(&extra.as_str()) {
            names.push(extra);
        }
    }
    for name in names {
        let count = info.probe_counts.get(name).copied().unwrap_or(0);
        let attached = s.probe_coverage(name).map(|c| c.attached());
        let mark = if count == 0 && attached == Some(false) {
            "  (not attached)"
        } else {
            ""
        };
        if count > 0 || attached.is_some() {
            writeln!(out, "  {name:<16} {count:>12}{mark}")?;
        }
    }
    writeln!(out, "coverage")?;
    if s.coverage.is_empty() {
        writeln!(out, "  (no manifest)")?;
    }
    for c in &s.coverage {
        let detail = match &c.status {
            CoverageStatus::Attached {
                candidate,
                hooks,
                partial,
            } => {
                let mut d = format!("attached via {candidate}: {}", hooks.join(", "));
                if !partial.is_empty() {
                    d.push_str(&format!(" (partial: {})", partial.join("; ")));
                }
                d
            }
            CoverageStatus::Missing { reasons } => format!("MISSING: {}", reasons.join("; ")),
            CoverageStatus::NotApplicable { reason } => format!("not applicable: {reason}"),
            CoverageStatus::Disabled => "disabled by the user".into(),
        };
        writeln!(out, "  {:<16} {detail}", c.probe)?;
    }
    let hcalls: Vec<String> = s
        .hcall_filter
        .iter()
        .map(|&op| names::hcall_name(op).map_or_else(|| format!("{op:#x}"), str::to_string))
        .collect();
    writeln!(out, "hcalls      {}", hcalls.join(", "))?;
    match s.suspend_me_token {
        Some(t) => writeln!(out, "suspend-me  RTAS token {t:#x}")?,
        None => writeln!(out, "suspend-me  RTAS token not found")?,
    }
    writeln!(
        out,
        "names       {} hotplug states, {} kernel symbols",
        s.hotplug_states.len(),
        s.symbols.len()
    )?;
    if let (Some(first), Some(_)) = (info.blocks.first(), info.blocks.last()) {
        let biggest = info.blocks.iter().map(|b| b.events).max().unwrap_or(0);
        writeln!(
            out,
            "blocks      {} (first at byte {}, up to {biggest} events each, {} compressed bytes)",
            info.blocks.len(),
            first.offset,
            info.block_bytes()
        )?;
    }
    for sk in &info.skipped_blocks {
        writeln!(out, "skipped     {} bytes: {}", sk.bytes, sk.reason)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_are_utc_iso() {
        assert_eq!(format_wall(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_wall(951_782_400_500_000_000), "2000-02-29T00:00:00.500Z");
        assert_eq!(format_wall(1_795_000_000_000_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(format_wall(-1_000_000_000), "1969-12-31T23:59:59.000Z");
    }
}
