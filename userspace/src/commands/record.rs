//! `lpmtrace record`: capture live events into a `.lpmt` file until Ctrl-C,
//! SIGTERM, `--duration` or `--max-size`, with a status line on a terminal
//! and a summary at the end.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use crate::analysis::Thresholds;
use crate::capture::{Capture, Sink};
use crate::events::Event;
use crate::record::{Writer, WriterOptions};
use crate::watch::{finding_line, Watch};

use super::common::{parse_duration, parse_size, ProbeArgs};

/// Block interval of recordings made live: with the reorder window and the
/// reader's tick, a killed recorder loses at most 250 ms of events.
pub const CRASH_BLOCK_INTERVAL: Duration = Duration::from_millis(100);

/// Arguments of `lpmtrace record`.
#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// Output file (default: lpmtrace-<host>-<UTC time>.lpmt in the current
    /// folder); with --flight-recorder, the folder the dumps go to (default:
    /// the current folder).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Stop after this long (e.g. 30s, 10m, 2h).
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop cleanly when the file reaches this size (e.g. 100M, 2G).
    #[arg(long, value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Replace an existing output file.
    #[arg(short, long)]
    pub force: bool,
    /// Do not `fdatasync` each block (on a thread of its own): a power loss
    /// or hard reset can then cost what the page cache had not written
    /// back (up to ~30 s), not one block. For disks where syncing hurts.
    #[arg(long)]
    pub no_sync: bool,
    /// No status line and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464,
    /// [::]:9464) at /metrics (docs/metrics.md).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Flight recorder: keep a rolling window in memory and write it (plus
    /// a tail) to its own file in the -o folder when a critical finding
    /// fires or on SIGUSR1 (docs/flight-recorder.md).
    #[arg(long)]
    pub flight_recorder: bool,
    /// Flight recorder: event time kept before a trigger.
    #[arg(long, value_parser = parse_duration, default_value = "10m", requires = "flight_recorder")]
    pub window: Duration,
    /// Flight recorder: event time recorded after a trigger before the dump is written.
    #[arg(long, value_parser = parse_duration, default_value = "30s", requires = "flight_recorder")]
    pub tail: Duration,
    /// Flight recorder: memory the window may use (the oldest events go first).
    #[arg(long, value_parser = parse_size, default_value = "64M", requires = "flight_recorder")]
    pub max_memory: u64,
    /// Flight recorder: dumps kept in the folder (the oldest are deleted).
    #[arg(long, default_value_t = 20, requires = "flight_recorder")]
    pub max_dumps: usize,
    /// Flight recorder: bytes of dumps kept in the folder (the oldest are deleted).
    #[arg(long, value_parser = parse_size, default_value = "1G", requires = "flight_recorder")]
    pub max_disk: u64,
    /// Probe selection and buffers.
    #[command(flatten)]
    pub probes: ProbeArgs,
}

/// `lpmtrace-<host>-<YYYYmmddTHHMMSSZ>.lpmt`.
pub fn default_name(host: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, s) = civil_from_unix(secs);
    let host: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    PathBuf::from(format!("lpmtrace-{host}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z.lpmt"))
}

pub use crate::record::flight::civil_from_unix;

struct RecordSink {
    writer: Writer,
    status: bool,
    started: Instant,
    last_status: Instant,
    last_events: u64,
    lost: u64,
    full: bool,
    watch: Watch,
    quiet: bool,
    metrics: Option<crate::metrics::Feed>,
}

impl RecordSink {
    fn status_line(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_status).as_secs_f64().max(1e-3);
        let events = self.writer.events_written() + self.writer.pending_events();
        let rate = (events - self.last_events) as f64 / dt;
        self.last_events = events;
        self.last_status = now;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{:>7.1}s  {events} events  {rate:.0}/s  lost {}  {}",
            self.started.elapsed().as_secs_f64(),
            self.lost,
            human_bytes(self.writer.bytes_written())
        );
        let _ = err.flush();
    }
}

impl Sink for RecordSink {
    fn event(&mut self, event: &Event) -> anyhow::Result<()> {
        if let crate::events::EventKind::Lost { count, .. } = event.kind {
            self.lost += count;
        }
        self.watch.push(event);
        if let Some(m) = &mut self.metrics {
            m.event(event);
        }
        self.writer.push(event)?;
        Ok(())
    }

    fn tick(&mut self, now_ns: u64) -> anyhow::Result<bool> {
        self.writer.flush_due(Instant::now())?;
        for f in self.watch.tick(now_ns) {
            if !self.quiet {
                if self.status {
                    eprint!("\r\x1b[K");
                }
                eprintln!("lpmtrace: {}", finding_line(&f));
            }
        }
        if let Some(m) = &mut self.metrics {
            m.publish(self.watch.engine(), false);
        }
        if self.status && self.last_status.elapsed() >= Duration::from_secs(1) {
            self.status_line();
        }
        if self.writer.is_full() {
            self.full = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn busy(&self) -> Option<String> {
        self.watch.in_flight()
    }
}

/// `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Runs `record` (or the flight recorder with `--flight-recorder`).
pub async fn run(args: &RecordArgs) -> anyhow::Result<()> {
    if args.flight_recorder {
        return super::flight::run(args).await;
    }
    let capture = Capture::start(args.probes.capture_options(args.duration)?)?;
    let session = capture.session().clone();
    let (metrics, _server) =
        super::common::start_metrics(args.metrics.as_deref(), &session, "record", args.quiet).await?;
    let path = args.output.clone().unwrap_or_else(|| default_name(&session.hostname));
    let writer = Writer::create(
        Path::new(&path),
        &session,
        WriterOptions {
            force: args.force,
            max_size: args.max_size,
            // 100 ms blocks (closed at the next 50 ms tick) + the 20 ms reorder
            // window + a late tick under load keep
            // what a SIGKILL can lose at 250 ms.
            block_interval: CRASH_BLOCK_INTERVAL,
            sync_in_background: !args.no_sync,
            ..WriterOptions::default()
        },
    )?;
    let tty = std::io::stderr().is_terminal();
    if !args.quiet {
        let attached = session.coverage.iter().filter(|c| c.attached()).count();
        eprintln!(
            "lpmtrace: recording to {} ({} of {} probes attached); Ctrl-C to stop",
            path.display(),
            attached,
            session.coverage.len()
        );
    }
    let mut sink = RecordSink {
        writer,
        status: tty && !args.quiet,
        started: Instant::now(),
        last_status: Instant::now(),
        last_events: 0,
        lost: 0,
        full: false,
        watch: Watch::new(&session, Thresholds::default()),
        quiet: args.quiet,
        metrics,
    };
    let result = capture.run(&mut sink).await;
    if sink.status {
        eprintln!();
    }
    let full = sink.full;
    // Finish the file even when the capture failed: what was written stays
    // readable, and the error below still makes the exit code non-zero.
    let finished = sink.writer.finish();
    let capture_summary = result?;
    let summary = finished?;
    if !args.quiet {
        eprintln!(
            "lpmtrace: wrote {} events ({} lost) in {:.1}s to {} ({}, {:.2} bytes/event){}",
            summary.events,
            capture_summary.lost,
            capture_summary.elapsed.as_secs_f64(),
            summary.path.display(),
            human_bytes(summary.bytes),
            if summary.events > 0 {
                summary.bytes as f64 / summary.events as f64
            } else {
                0.0
            },
            if full { "; stopped at --max-size" } else { "" }
        );
    }
    report_sync(&summary, args.quiet);
    Ok(())
}

/// What `live --record` says when its file is finished: the events and
/// how they were synced.
pub fn report_recorded(summary: &crate::record::WriteSummary) {
    eprintln!(
        "lpmtrace: recorded {} events to {}",
        summary.events,
        summary.path.display()
    );
    report_sync(summary, false);
}

/// Says how the recording was synced to disk, and warns (even with
/// `--quiet`) when a sync failed: the file is then only as durable as the
/// page cache.
pub fn report_sync(summary: &crate::record::WriteSummary, quiet: bool) {
    let Some(s) = &summary.sync else { return };
    if let Some(why) = &s.failure {
        eprintln!(
            "lpmtrace: warning: {why}; the recording was written but a power loss could cost more than one block"
        );
    } else if !quiet {
        eprintln!("lpmtrace: {}", s.describe());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_files_by_utc_time() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(1_795_564_800 + 3723), (2026, 11, 25, 1, 2, 3));
        let name = default_name("lpar 7");
        let s = name.to_string_lossy();
        assert!(s.starts_with("lpmtrace-lpar_7-") && s.ends_with("Z.lpmt"), "{s}");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
