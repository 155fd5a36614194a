//! `lpmtrace live --plain`: stream decoded events as text or JSON lines.
//! (Without `--plain`, `live` is the TUI.)

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::analysis::Thresholds;
use crate::capture::{Capture, Sink};
use crate::events::{session::SessionInfo, Event};
use crate::record::{Writer, WriterOptions};
use crate::views::escape::{EscapeWriter, Style};
use crate::views::event_line::{write_event, LineClock, LineFormat};
use crate::watch::{finding_line, Watch};

use super::common::{parse_duration, ProbeArgs};

/// Arguments of `lpmtrace live`.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Print events as lines instead of the interactive screen.
    #[arg(long)]
    pub plain: bool,
    /// Line format with --plain.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LineFormat,
    /// Stop after this long (e.g. 30s, 5m, 1h).
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Also record the events to this file (same events as shown).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Replace an existing --record file.
    #[arg(long, requires = "record")]
    pub force: bool,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464,
    /// [::]:9464) at /metrics (docs/metrics.md).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Probe selection and buffers.
    #[command(flatten)]
    pub probes: ProbeArgs,
}

impl LiveArgs {
    /// The `--record` writer, if asked for (same settings as `record`).
    pub fn open_record(&self, session: &SessionInfo) -> anyhow::Result<Option<Writer>> {
        let Some(path) = &self.record else {
            return Ok(None);
        };
        let options = WriterOptions {
            force: self.force,
            block_interval: super::record::CRASH_BLOCK_INTERVAL,
            sync_in_background: true,
            ..WriterOptions::default()
        };
        Ok(Some(Writer::create(path, session, options)?))
    }
}

struct LineSink<W: Write> {
    out: W,
    session: SessionInfo,
    format: LineFormat,
    /// The first event's time: text lines count from it.
    base_ns: Option<u64>,
    record: Option<Writer>,
    watch: Watch,
    metrics: Option<crate::metrics::Feed>,
}

impl<W: Write> Sink for LineSink<W> {
    fn event(&mut self, event: &Event) -> anyhow::Result<()> {
        self.watch.push(event);
        if let Some(m) = &mut self.metrics {
            m.event(event);
        }
        if let Some(w) = &mut self.record {
            w.push(event)?;
        }
        let clock = LineClock::with_boot(*self.base_ns.get_or_insert(event.ts_ns));
        write_event(&mut self.out, event, &self.session, self.format, clock)?;
        Ok(())
    }

    fn tick(&mut self, now_ns: u64) -> anyhow::Result<bool> {
        if let Some(w) = &mut self.record {
            w.flush_due(Instant::now())?;
        }
        // Findings go to stderr so stdout stays the event stream.
        for f in self.watch.tick(now_ns) {
            eprintln!("lpmtrace: {}", finding_line(&f));
        }
        if let Some(m) = &mut self.metrics {
            m.publish(self.watch.engine(), false);
        }
        // Flush at each tick so a reader of the pipe sees events within
        // ~50 ms without a write(2) per event.
        self.out.flush()?;
        Ok(true)
    }

    fn busy(&self) -> Option<String> {
        self.watch.in_flight()
    }
}

/// Runs `live --plain`.
pub async fn run_plain(args: &LiveArgs) -> anyhow::Result<()> {
    let capture = Capture::start(args.probes.capture_options(args.duration)?)?;
    let session = capture.session().clone();
    let attached = session.coverage.iter().filter(|c| c.attached()).count();
    eprintln!(
        "lpmtrace: tracing {} on {} ({}), {} of {} probes attached; Ctrl-C to stop",
        session.hostname,
        session.kernel_release,
        session.arch,
        attached,
        session.coverage.len()
    );
    let record = args.open_record(&session)?;
    let (metrics, _server) = super::common::start_metrics(args.metrics.as_deref(), &session, "live", false).await?;
    let watch = Watch::new(&session, Thresholds::default());
    let stdout = io::stdout();
    let mut sink = LineSink {
        out: BufWriter::with_capacity(
            1 << 16,
            EscapeWriter::new(
                stdout.lock(),
                match args.format {
                    LineFormat::Text => Style::Text,
                    LineFormat::Jsonl => Style::Json,
                },
            ),
        ),
        session,
        format: args.format,
        base_ns: None,
        record,
        watch,
        metrics,
    };
    let result = capture.run(&mut sink).await;
    if let Some(w) = sink.record.take() {
        let s = w.finish()?;
        super::record::report_recorded(&s);
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) if crate::cli::is_broken_pipe(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    if let Err(e) = sink.out.flush() {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        return Err(e.into());
    }
    eprintln!(
        "lpmtrace: {} events in {:.1}s, {} lost{}",
        summary.events,
        summary.elapsed.as_secs_f64(),
        summary.lost,
        if summary.late > 0 {
            format!(", {} arrived after the reorder window", summary.late)
        } else {
            String::new()
        }
    );
    Ok(())
}
