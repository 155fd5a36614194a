//! `lpmtrace record --flight-recorder`: the capture feeds a
//! [`FlightRing`](crate::record::flight::FlightRing) and the live analysis;
//! a critical finding or SIGUSR1 triggers a dump, written by a worker
//! thread so the capture never waits for the disk. The ring logic, the
//! dump format and the retention policy live in `record::flight`; this
//! module only wires them (docs/flight-recorder.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::analysis::Thresholds;
use crate::capture::{Capture, Sink};
use crate::events::{session::SessionInfo, Event};
use crate::flight::{fmt_duration, FlightCore};
use crate::metrics::{Feed, FlightStats};
use crate::record::flight::{self, DumpPlan, FlightOptions};
use crate::record::WriteSummary;
use crate::watch::finding_line;

use super::record::{human_bytes, RecordArgs};

/// A dump handed to the writer thread.
struct Job {
    plan: DumpPlan,
    unix_secs: u64,
}

/// What the writer thread reports back.
enum Done {
    Written {
        summary: WriteSummary,
        kind: String,
        deleted: Vec<String>,
    },
    Failed {
        kind: String,
        error: String,
    },
}

/// The writer thread: writes dumps one after the other, then applies the
/// retention caps.
fn writer_thread(
    dir: PathBuf,
    session: SessionInfo,
    max_dumps: usize,
    max_disk: u64,
    jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<Done>,
) {
    for job in jobs {
        let kind = job.plan.first_kind().to_string();
        let result = flight::write_dump(&dir, &session, &job.plan, job.unix_secs)
            .map_err(|e| e.to_string())
            .map(|summary| {
                let new_name = summary.path.file_name().map(|n| n.to_string_lossy().into_owned());
                let mut deleted = Vec::new();
                match flight::list_dumps(&dir, &session.hostname) {
                    Ok(files) => {
                        let others: Vec<_> = files
                            .into_iter()
                            .filter(|f| Some(&f.name) != new_name.as_ref())
                            .collect();
                        for name in flight::retention(&others, summary.bytes, max_dumps, max_disk) {
                            match std::fs::remove_file(dir.join(&name)) {
                                Ok(()) => deleted.push(name),
                                Err(e) => log::warn!("flight recorder: cannot delete old dump {name}: {e}"),
                            }
                        }
                    }
                    Err(e) => log::warn!("flight recorder: cannot list {}: {e}", dir.display()),
                }
                (summary, deleted)
            });
        let msg = match result {
            Ok((summary, deleted)) => Done::Written { summary, kind, deleted },
            Err(error) => Done::Failed { kind, error },
        };
        if done.send(msg).is_err() {
            return;
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct FlightSink {
    core: FlightCore,
    metrics: Option<Feed>,
    manual: Arc<AtomicU64>,
    manual_seen: u64,
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    dumps: Vec<(String, u64)>,
    errors: u64,
    quiet: bool,
    max_dumps: usize,
    max_disk: u64,
}

impl FlightSink {
    fn send(&mut self, plan: DumpPlan) {
        if plan.cut_until_ns.is_some() {
            eprintln!(
                "lpmtrace: flight recorder: the {} dump starts inside a migration whose start no longer fits \
                 in --max-memory; its findings about that migration will read as inconclusive",
                plan.first_kind()
            );
        }
        let job = Job {
            plan,
            unix_secs: unix_now(),
        };
        if let Some(tx) = &self.jobs {
            if tx.send(job).is_err() {
                self.errors += 1;
                eprintln!("lpmtrace: flight recorder: the dump writer is gone; dump lost");
            }
        }
    }

    fn collect(&mut self, block: bool) {
        loop {
            let msg = if block {
                match self.done.recv() {
                    Ok(m) => m,
                    Err(_) => return,
                }
            } else {
                match self.done.try_recv() {
                    Ok(m) => m,
                    Err(_) => return,
                }
            };
            match msg {
                Done::Written { summary, kind, deleted } => {
                    match self.dumps.iter_mut().find(|(k, _)| *k == kind) {
                        Some((_, n)) => *n += 1,
                        None => self.dumps.push((kind.clone(), 1)),
                    }
                    if !self.quiet {
                        eprintln!(
                            "lpmtrace: flight recorder: wrote {} ({} events, {})",
                            summary.path.display(),
                            summary.events,
                            human_bytes(summary.bytes)
                        );
                    }
                    for name in deleted {
                        // Said even with --quiet: deleting files is never silent.
                        eprintln!(
                            "lpmtrace: flight recorder: deleted the oldest dump {name} (--max-dumps {} / --max-disk {})",
                            self.max_dumps,
                            human_bytes(self.max_disk)
                        );
                    }
                }
                Done::Failed { kind, error } => {
                    self.errors += 1;
                    eprintln!("lpmtrace: flight recorder: cannot write the {kind} dump: {error}");
                }
            }
        }
    }

    fn stats(&self) -> FlightStats {
        FlightStats {
            dumps: self.dumps.clone(),
            errors: self.errors,
            window_bytes: self.core.ring().memory() as u64,
            window_events: self.core.ring().events(),
        }
    }
}

impl Sink for FlightSink {
    fn event(&mut self, event: &Event) -> anyhow::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.event(event);
        }
        self.core.push(event);
        Ok(())
    }

    fn tick(&mut self, now_ns: u64) -> anyhow::Result<bool> {
        let manual = self.manual.load(Ordering::Relaxed);
        if manual != self.manual_seen {
            self.manual_seen = manual;
            if self.core.manual(now_ns) && !self.quiet {
                eprintln!(
                    "lpmtrace: flight recorder: SIGUSR1; dumping the window plus {} of tail",
                    fmt_duration(Duration::from_nanos(self.core.ring().options().tail_ns))
                );
            }
        }
        let tick = self.core.tick(now_ns);
        if !self.quiet {
            for f in &tick.findings {
                eprintln!("lpmtrace: {}", finding_line(f));
            }
            for kind in &tick.opened {
                eprintln!(
                    "lpmtrace: flight recorder: {kind} fired; dumping the window plus {} of tail",
                    fmt_duration(Duration::from_nanos(self.core.ring().options().tail_ns))
                );
            }
        }
        if let Some(plan) = tick.dump {
            self.send(plan);
        }
        self.collect(false);
        if self.metrics.is_some() {
            let stats = self.stats();
            if let Some(m) = &mut self.metrics {
                m.set_flight(stats);
                m.publish(self.core.watch().engine(), false);
            }
        }
        Ok(true)
    }

    fn busy(&self) -> Option<String> {
        self.core.watch().in_flight()
    }
}

fn check_dir(dir: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| anyhow::anyhow!("flight recorder folder {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("flight recorder folder {}: not a directory", dir.display());
    }
    Ok(())
}

/// Runs `record --flight-recorder`.
pub async fn run(args: &RecordArgs) -> anyhow::Result<()> {
    if args.max_size.is_some() || args.force {
        anyhow::bail!(
            "--max-size and --force apply to one recording; the flight recorder uses --max-dumps and --max-disk"
        );
    }
    let dir = args.output.clone().unwrap_or_else(|| PathBuf::from("."));
    check_dir(&dir)?;
    let max_memory = usize::try_from(args.max_memory).unwrap_or(usize::MAX);
    if max_memory < 1 << 20 {
        anyhow::bail!("--max-memory {}: at least 1M", args.max_memory);
    }
    let opts = FlightOptions {
        window_ns: args.window.as_nanos().min(u128::from(u64::MAX)) as u64,
        tail_ns: args.tail.as_nanos().min(u128::from(u64::MAX)) as u64,
        max_memory,
        ..FlightOptions::default()
    };

    // Registered before the capture starts so a SIGUSR1 sent as soon as the
    // "recording" line appears is never the default action (terminate).
    let manual = Arc::new(AtomicU64::new(0));
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    let counter = Arc::clone(&manual);
    let usr1_task = tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    let capture = Capture::start(args.probes.capture_options(args.duration)?)?;
    let session = capture.session().clone();
    let core = FlightCore::new(&session, opts, Thresholds::default())
        .map_err(|e| anyhow::anyhow!("flight recorder: cannot set up zstd: {e}"))?;
    let (metrics, _server) =
        super::common::start_metrics(args.metrics.as_deref(), &session, "record-flight", args.quiet).await?;

    let (job_tx, job_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let writer = {
        let (dir, session) = (dir.clone(), session.clone());
        let (max_dumps, max_disk) = (args.max_dumps, args.max_disk);
        std::thread::Builder::new()
            .name("lpmtrace-flight".into())
            .spawn(move || writer_thread(dir, session, max_dumps, max_disk, job_rx, done_tx))?
    };
    if !args.quiet {
        let attached = session.coverage.iter().filter(|c| c.attached()).count();
        eprintln!(
            "lpmtrace: flight recorder: keeping {} (at most {}) of events in memory, {} of {} probes attached; \
             dumps go to {} on a critical finding or SIGUSR1 (kill -USR1 {}); Ctrl-C to stop",
            fmt_duration(args.window),
            human_bytes(args.max_memory),
            attached,
            session.coverage.len(),
            flight::describe_dir(&dir).display(),
            std::process::id()
        );
    }
    let mut sink = FlightSink {
        core,
        metrics,
        manual,
        manual_seen: 0,
        jobs: Some(job_tx),
        done: done_rx,
        dumps: Vec::new(),
        errors: 0,
        quiet: args.quiet,
        max_dumps: args.max_dumps,
        max_disk: args.max_disk,
    };
    let result = capture.run(&mut sink).await;
    usr1_task.abort();
    // A dump still waiting for its tail is written with the tail so far.
    let now = crate::capture::clock_ns(session.clock);
    if let Some(plan) = sink.core.take_pending(now) {
        if !args.quiet {
            eprintln!("lpmtrace: flight recorder: stopping; writing the pending dump with the tail so far");
        }
        sink.send(plan);
    }
    sink.jobs = None; // the writer thread ends after the queued dumps
    sink.collect(true);
    let _ = writer.join();
    let summary = result?;
    if !args.quiet {
        let total: u64 = sink.dumps.iter().map(|(_, n)| n).sum();
        eprintln!(
            "lpmtrace: flight recorder: {} events ({} lost) in {:.1}s; {total} dumps written{}",
            summary.events,
            summary.lost,
            summary.elapsed.as_secs_f64(),
            if sink.errors > 0 {
                format!(", {} failed", sink.errors)
            } else {
                String::new()
            }
        );
    }
    if sink.errors > 0 {
        anyhow::bail!("{} flight-recorder dumps could not be written (see above)", sink.errors);
    }
    Ok(())
}
