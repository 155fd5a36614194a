//! Live capture: facts → plan → attach → drain the ring buffer in time
//! order into a [`Sink`] until stopped, then detach and account for every
//! lost record. `live --plain`, `record` and the live TUI are sinks.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use crate::events::session::{ClockKind, CpuMasks, SessionInfo};
use crate::events::Event;
use crate::probes::{
    self,
    attach::{AttachOptions, AttachedProbes},
    facts::KernelFacts,
};
use crate::source::reorder::{ReorderBuffer, DEFAULT_WINDOW_NS};
use crate::transport::{LossLedger, RingReader, TallyLedger, TransportStats};

/// Where captured events go.
pub trait Sink {
    /// One event, in time order.
    fn event(&mut self, event: &Event) -> anyhow::Result<()>;
    /// Called about every `TICK` with the current kernel-clock time: flush
    /// what is due, refresh status. Returning `Ok(false)` stops the capture
    /// (e.g. the file reached `--max-size`).
    fn tick(&mut self, _now_ns: u64) -> anyhow::Result<bool> {
        Ok(true)
    }
    /// What would make stopping now unwise (a migration in flight), if
    /// anything; the capture then keeps running up to
    /// [`CaptureOptions::stop_grace`].
    fn busy(&self) -> Option<String> {
        None
    }
}

/// How often the reader drains records submitted without a wakeup.
pub const TICK: Duration = Duration::from_millis(50);

/// Ring records read per wake-up before the loop looks at signals and the
/// tick again: a flood (H_JOIN returns on 5.10, an IPI storm) can refill
/// the ring as fast as it is read, and one unbounded read would then never
/// end. Small enough for a tick every few ms even where decoding is slow
/// (a TCG guest), large enough that the loop's own cost stays negligible.
const DRAIN_BUDGET: usize = 1024;

/// Options of a capture.
#[derive(Clone, Debug, Default)]
pub struct CaptureOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Probe attach options.
    pub attach: AttachOptions,
    /// Reorder window (0 = default).
    pub reorder_window_ns: u64,
    /// On Ctrl-C/SIGTERM while the sink is busy (a migration in flight),
    /// keep tracing up to this long before detaching; a second signal stops
    /// at once.
    pub stop_grace: Duration,
}

/// Default bound of the wait for an in-flight migration at stop.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(30);

/// Summary of a finished capture.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureSummary {
    /// Events delivered to the sink (including `Lost` events).
    pub events: u64,
    /// Records the kernel side could not reserve.
    pub lost: u64,
    /// Events that arrived later than the reorder window.
    pub late: u64,
    /// Reader counters.
    pub transport: TransportStats,
    /// Wall time captured.
    pub elapsed: Duration,
}

/// Reads a kernel clock in nanoseconds.
pub fn clock_ns(clock: ClockKind) -> u64 {
    let id = match clock {
        ClockKind::Boottime => libc::CLOCK_BOOTTIME,
        ClockKind::Monotonic => libc::CLOCK_MONOTONIC,
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into our timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn wall_offset_ns(clock: ClockKind) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let wall = ts.tv_sec * 1_000_000_000 + ts.tv_nsec;
    wall - clock_ns(clock) as i64
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Builds the session header from the facts and the attach outcome.
pub fn session_info(facts: &KernelFacts, attached: &AttachedProbes, options: &AttachOptions) -> SessionInfo {
    let clock = if attached.boot_clock {
        ClockKind::Boottime
    } else {
        ClockKind::Monotonic
    };
    SessionInfo {
        hostname: hostname(),
        kernel_release: facts.release.clone(),
        arch: facts.arch.clone(),
        cpu_count: facts.possible_cpus.max(1),
        clock,
        clock_to_wall_offset_ns: wall_offset_ns(clock),
        command_line: std::env::args().collect(),
        generation: facts.generation(),
        coverage: attached.coverage.clone(),
        hcall_filter: options.hcall_filter.clone(),
        suspend_me_token: facts.suspend_me_token,
        hotplug_states: facts.hotplug_states.clone(),
        symbols: Vec::new(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        ipi_detail: options.ipi_detail,
        flight: None,
        cpu_masks: Some(read_cpu_masks()),
        platform: std::fs::read("/proc/device-tree/model")
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim_end_matches('\0').trim().to_string())
            .filter(|s| !s.is_empty()),
    }
}

/// The kernel's CPU masks now. Read once the probes are attached, so a CPU
/// that changes state afterwards does so in the event stream.
pub fn read_cpu_masks() -> CpuMasks {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/sys/devices/system/cpu/{name}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    CpuMasks {
        online: read("online"),
        present: read("present"),
        possible: read("possible"),
        smt: std::fs::read_to_string("/sys/devices/system/cpu/smt/control")
            .ok()
            .map(|s| s.trim().to_string()),
    }
}

/// Why the capture loop woke up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Ctrl-C or SIGTERM.
    Stop,
    /// The ring buffer has records (a wakeup was forced).
    Ready,
    /// The periodic tick.
    Tick,
}

/// A capture that is attached and ready to run.
pub struct Capture {
    probes: Option<AttachedProbes>,
    reader: RingReader,
    ledger: LossLedger,
    tally: TallyLedger,
    session: SessionInfo,
    options: CaptureOptions,
}

impl Capture {
    /// Checks privileges, reads the kernel's facts, attaches the probes.
    pub fn start(options: CaptureOptions) -> anyhow::Result<Capture> {
        probes::privileges::check().map_err(anyhow::Error::msg)?;
        let facts = KernelFacts::probe_running();
        let plans = probes::resolve(&facts);
        let mut attached =
            probes::attach::attach(&plans, &options.attach, facts.suspend_me_token, facts.has_boot_clock())?;
        for c in &attached.coverage {
            log::info!("probe {}: {:?}", c.probe, c.status);
        }
        let reader = RingReader::new(attached.take_ring()?);
        let ledger = LossLedger::new(
            attached.take_lost()?,
            clock_ns(if attached.boot_clock {
                ClockKind::Boottime
            } else {
                ClockKind::Monotonic
            }),
        );
        let tally = TallyLedger::new(attached.take_ipi_tally()?);
        let session = session_info(&facts, &attached, &options.attach);
        Ok(Capture {
            probes: Some(attached),
            reader,
            ledger,
            tally,
            session,
            options,
        })
    }

    /// Events from the kernel side's per-CPU counters since the last poll:
    /// `Lost` for dropped records, `IpiTally` for IPIs counted outside the
    /// IPI window.
    fn counter_events(&mut self, now_ns: u64) -> Vec<Event> {
        let mut events = self.ledger.poll(now_ns);
        events.extend(self.tally.poll(now_ns));
        events
    }

    /// The session header (coverage manifest included).
    pub fn session(&self) -> &SessionInfo {
        &self.session
    }

    /// Runs until Ctrl-C, SIGTERM, `duration` or the sink says stop; then
    /// detaches, drains what is left and reports unaccounted drops as `Lost`
    /// events, so the sink has seen every record.
    pub async fn run(mut self, sink: &mut dyn Sink) -> anyhow::Result<CaptureSummary> {
        let started = Instant::now();
        let clock = self.session.clock;
        let window = if self.options.reorder_window_ns == 0 {
            DEFAULT_WINDOW_NS
        } else {
            self.options.reorder_window_ns
        };
        let mut reorder = ReorderBuffer::new(window);
        let mut delivered = 0u64;
        let mut sink_error: Option<anyhow::Error> = None;

        // SAFETY: the ring's fd belongs to `self.reader`, which outlives
        // `fd` (a local of this function; `self` is dropped after it).
        let fd =
            unsafe { AsyncFd::register_with_interest(self.reader.ring().as_raw_fd(), tokio::io::Interest::READABLE) }
                .map_err(|e| anyhow::anyhow!("cannot poll the ring buffer: {e}"))?;
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let deadline = self.options.duration.map(|d| tokio::time::Instant::now() + d);
        let sleep_until = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep_until);

        macro_rules! deliver {
            () => {
                |ev: Event| {
                    if sink_error.is_none() {
                        delivered += 1;
                        if let Err(e) = sink.event(&ev) {
                            sink_error = Some(e);
                        }
                    }
                }
            };
        }

        // Set when a stop was requested while the sink was busy.
        let mut stopping: Option<Instant> = None;
        // The last read stopped at its budget: read on without waiting.
        let mut more = false;
        loop {
            // Both wake-ups drain the ring: records submitted without a
            // wakeup are only collected by the tick. The tick comes before
            // the ring: under a flood the ring is always ready, and the tick
            // is what announces time-based findings (a join stall) and
            // accounts lost records, so it must not wait for the flood to
            // end (found on 5.10, where a stalled join floods H_JOIN returns).
            let wake = tokio::select! {
                biased;
                _ = sigint.recv() => Wake::Stop,
                _ = sigterm.recv() => Wake::Stop,
                _ = &mut sleep_until => break,
                _ = ticker.tick() => Wake::Tick,
                guard = fd.readable(), if !more => {
                    guard?.clear_ready();
                    Wake::Ready
                }
                // Not a ready future: the loop must yield, or this
                // single-threaded runtime never polls its timer and signal
                // drivers, and neither the tick nor Ctrl-C would ever come.
                _ = tokio::task::yield_now(), if more => Wake::Ready,
            };
            if wake == Wake::Stop {
                if stopping.is_some() {
                    eprintln!("lpmtrace: second signal: stopping now");
                    break;
                }
                match sink.busy() {
                    Some(what) if !self.options.stop_grace.is_zero() => {
                        eprintln!(
                            "lpmtrace: {what} is in flight; waiting up to {}s for it to end before detaching \
                             (signal again to stop now)",
                            self.options.stop_grace.as_secs()
                        );
                        stopping = Some(Instant::now());
                    }
                    _ => break,
                }
            }
            if let Some(since) = stopping {
                if sink.busy().is_none() {
                    eprintln!("lpmtrace: the migration ended; stopping");
                    break;
                }
                if since.elapsed() >= self.options.stop_grace {
                    eprintln!(
                        "lpmtrace: still in flight after {}s; stopping anyway",
                        self.options.stop_grace.as_secs()
                    );
                    break;
                }
            }
            let tick = wake == Wake::Tick;
            {
                let reorder_ref = &mut reorder;
                let mut out = deliver!();
                more = self
                    .reader
                    .drain_some(DRAIN_BUDGET, &mut |ev| reorder_ref.push(ev, &mut out))
                    == DRAIN_BUDGET;
            }
            if tick {
                let now = clock_ns(clock);
                {
                    let mut out = deliver!();
                    for ev in self.counter_events(now) {
                        reorder.push(ev, &mut out);
                    }
                    reorder.release_until(now.saturating_sub(window), &mut out);
                }
                if sink_error.is_none() {
                    match sink.tick(now) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => sink_error = Some(e),
                    }
                }
            }
            if sink_error.is_some() {
                break;
            }
        }

        // Detach first so nothing new arrives, then take what is left.
        drop(self.probes.take());
        let now = clock_ns(clock);
        {
            let reorder_ref = &mut reorder;
            let mut out = deliver!();
            self.reader.drain(&mut |ev| reorder_ref.push(ev, &mut out));
            for ev in self.counter_events(now) {
                reorder.push(ev, &mut out);
            }
            reorder.drain(&mut out);
        }
        let lost_total = self.ledger.reported();
        if let Some(e) = sink_error {
            return Err(e);
        }
        sink.tick(now)?;
        Ok(CaptureSummary {
            events: delivered,
            lost: lost_total,
            late: reorder.late(),
            transport: self.reader.stats(),
            elapsed: started.elapsed(),
        })
    }
}
