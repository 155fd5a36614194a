//! The flight recorder's decisions, pure: the live analysis ([`Watch`])
//! rides along the ring ([`FlightRing`]); a critical finding (or a manual
//! request) triggers a dump; a migration in flight is pinned so the
//! window keeps its start (and the window before it); a dump that starts inside a migration anyway is
//! noted so its report says inconclusive. No clock and no I/O: the caller
//! passes kernel-clock times and writes the [`DumpPlan`]s it gets
//! (`commands::flight` does, on a worker thread), so a scenario can drive
//! all of it in tests.

use std::time::Duration;

use crate::analysis::{Finding, Outcome, Severity, Thresholds};
use crate::events::{session::SessionInfo, Event};
use crate::record::flight::{self, DumpPlan, FlightOptions, FlightRing};
use crate::watch::Watch;

/// Kernel-clock time between two reads of the pin (the oldest migration in
/// flight): an analysis snapshot is not free, and eviction works in
/// one-second chunks anyway.
pub const PIN_EVERY_NS: u64 = 500_000_000;

/// What one [`FlightCore::tick`] produced.
#[derive(Debug, Default)]
pub struct Tick {
    /// Findings new since the last tick.
    pub findings: Vec<Finding>,
    /// Triggers that opened a new dump (finding kind ids or `manual`).
    pub opened: Vec<String>,
    /// A dump whose tail is complete, to write.
    pub dump: Option<DumpPlan>,
}

/// Live analysis plus ring. See the module docs.
pub struct FlightCore {
    ring: FlightRing,
    watch: Watch,
    last_pin_ns: Option<u64>,
}

impl std::fmt::Debug for FlightCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightCore")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl FlightCore {
    /// A core for `session` with the ring's bounds and the analysis thresholds.
    pub fn new(session: &SessionInfo, options: FlightOptions, thresholds: Thresholds) -> std::io::Result<Self> {
        Ok(FlightCore {
            ring: FlightRing::new(options)?,
            watch: Watch::new(session, thresholds),
            last_pin_ns: None,
        })
    }

    /// The ring (memory, events held).
    pub fn ring(&self) -> &FlightRing {
        &self.ring
    }

    /// The live analysis.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// One event, in time order.
    pub fn push(&mut self, ev: &Event) {
        self.watch.push(ev);
        self.ring.push(ev);
    }

    /// Asks for a dump now (SIGUSR1). Returns true when it opened one.
    pub fn manual(&mut self, now_ns: u64) -> bool {
        self.ring.trigger("manual", now_ns)
    }

    /// Advances to `now_ns`: runs the analysis clock, triggers on critical
    /// findings, keeps in-flight migrations pinned, and hands out a dump
    /// whose tail is complete.
    pub fn tick(&mut self, now_ns: u64) -> Tick {
        let mut out = Tick {
            findings: self.watch.tick(now_ns),
            ..Tick::default()
        };
        for f in &out.findings {
            if f.severity == Severity::Critical && self.ring.trigger(f.kind.id(), now_ns) {
                out.opened.push(f.kind.id().to_string());
            }
        }
        if self
            .last_pin_ns
            .is_none_or(|t| now_ns.saturating_sub(t) >= PIN_EVERY_NS)
        {
            self.last_pin_ns = Some(now_ns);
            let report = self.watch.engine().snapshot();
            // The window before the migration too: the CPUs' state when it
            // started (which were online, their IPIs) is what the analysis
            // of the dump needs to know which CPUs were expected to join.
            let window = self.ring.options().window_ns;
            let pin = report
                .migrations
                .iter()
                .filter(|m| m.outcome == Outcome::InProgress)
                .map(|m| m.start_ns.saturating_sub(window))
                .min();
            self.ring.set_pin(pin);
        }
        out.dump = self.ring.poll(now_ns).map(|p| self.note_cut(p));
        out
    }

    /// The dump waiting for its tail, now (at stop), if any.
    pub fn take_pending(&mut self, now_ns: u64) -> Option<DumpPlan> {
        self.ring.take_pending(now_ns).map(|p| self.note_cut(p))
    }

    /// Notes whether `plan` starts inside a migration, from the live
    /// analysis, which saw that migration whole.
    fn note_cut(&self, mut plan: DumpPlan) -> DumpPlan {
        if let Some((first, last)) = plan.time_range() {
            let report = self.watch.engine().snapshot();
            plan.cut_until_ns = flight::cut_until(&report.migrations, first, last);
        }
        plan
    }
}

/// `10m`, `30s`, `1h`, `1.5s`: a duration for messages.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() == 0 && s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if d.subsec_nanos() == 0 && s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if d.subsec_nanos() == 0 {
        format!("{s}s")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
