//! `--metrics ADDR`: Prometheus metrics of a live capture (`record`,
//! `live`), so a fleet's Prometheus and Alertmanager watch many partitions
//! (docs/metrics.md).
//!
//! The capture side owns a [`Feed`]: it counts events as they pass (plain
//! integers, no lock) and, at most every [`PUBLISH_EVERY`], turns the live
//! analysis into a [`Snapshot`] that it swaps into the shared [`Metrics`]
//! under a mutex held for a copy. The HTTP side ([`server`]) only reads
//! that snapshot and renders it ([`exposition`]), so a scrape never waits
//! for, or slows, the capture loop.

pub mod exposition;
pub mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::analysis::{Engine, Outcome};
use crate::events::session::{CoverageStatus, KernelGeneration, SessionInfo};
use crate::events::{Event, EventKind};

/// How often the capture side refreshes the analysis part of the snapshot.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// Flight-recorder figures (only in `record --flight-recorder`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlightStats {
    /// Dumps written, by the trigger that opened them.
    pub dumps: Vec<(String, u64)>,
    /// Dumps that failed to write.
    pub errors: u64,
    /// Bytes the window holds.
    pub window_bytes: u64,
    /// Events the window holds.
    pub window_events: u64,
}

/// Everything one scrape shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// lpmtrace version.
    pub version: String,
    /// Traced kernel.
    pub kernel_release: String,
    /// Architecture.
    pub arch: String,
    /// LPM kernel generation (kebab-case).
    pub generation: String,
    /// `record`, `live`, `record-flight`.
    pub mode: String,
    /// Unix time the capture started.
    pub start_time_unix: f64,
    /// Events captured.
    pub events: u64,
    /// Events the kernel reported lost.
    pub events_lost: u64,
    /// Ended migrations by outcome.
    pub migrations: BTreeMap<&'static str, u64>,
    /// Migrations in progress.
    pub in_progress: u64,
    /// Findings by (kind id, severity).
    pub findings: BTreeMap<(&'static str, &'static str), u64>,
    /// Logical probe → state (`attached`, `missing`, `n/a`, `disabled`).
    pub probes: Vec<(String, &'static str)>,
    /// Flight-recorder figures.
    pub flight: Option<FlightStats>,
}

impl Snapshot {
    /// The fixed part, from the session header.
    pub fn for_session(session: &SessionInfo, mode: &str) -> Self {
        let generation = match session.generation {
            KernelGeneration::OldPath => "old-path",
            KernelGeneration::NewPath => "new-path",
            KernelGeneration::PseriesUnknown => "pseries-unknown",
            KernelGeneration::NotPseries => "not-pseries",
        };
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64 / 1000.0);
        Snapshot {
            version: session.tool_version.clone(),
            kernel_release: session.kernel_release.clone(),
            arch: session.arch.clone(),
            generation: generation.into(),
            mode: mode.into(),
            start_time_unix: start,
            probes: session
                .coverage
                .iter()
                .map(|c| {
                    let state = match c.status {
                        CoverageStatus::Attached { .. } => "attached",
                        CoverageStatus::Missing { .. } => "missing",
                        CoverageStatus::NotApplicable { .. } => "n/a",
                        CoverageStatus::Disabled => "disabled",
                    };
                    (c.probe.clone(), state)
                })
                .collect(),
            ..Snapshot::default()
        }
    }
}

/// The snapshot shared between the capture and the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    current: Mutex<Snapshot>,
}

impl Metrics {
    /// Shared metrics starting from `initial`.
    pub fn new(initial: Snapshot) -> Arc<Self> {
        Arc::new(Metrics {
            current: Mutex::new(initial),
        })
    }

    /// A copy of the current snapshot (a poisoned lock still has a usable
    /// snapshot: the writer only ever replaces it whole).
    pub fn snapshot(&self) -> Snapshot {
        match self.current.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn replace(&self, s: Snapshot) {
        match self.current.lock() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }
}

/// The capture side: counts events and publishes snapshots.
#[derive(Debug)]
pub struct Feed {
    shared: Arc<Metrics>,
    base: Snapshot,
    events: u64,
    events_lost: u64,
    // Counters must never go down; a migration's outcome is counted once,
    // the first time it is seen ended, and findings per label keep their
    // highest count (a merged loss finding can change nothing else).
    ended: BTreeSet<u32>,
    last_publish: Option<Instant>,
}

impl Feed {
    /// A feed publishing into `shared`, starting from its current snapshot.
    pub fn new(shared: Arc<Metrics>) -> Self {
        let base = shared.snapshot();
        Feed {
            shared,
            base,
            events: 0,
            events_lost: 0,
            ended: BTreeSet::new(),
            last_publish: None,
        }
    }

    /// Counts one event.
    #[inline]
    pub fn event(&mut self, ev: &Event) {
        self.events += 1;
        if let EventKind::Lost { count, .. } = ev.kind {
            self.events_lost = self.events_lost.saturating_add(count);
        }
    }

    /// Sets the flight-recorder figures published next.
    pub fn set_flight(&mut self, stats: FlightStats) {
        self.base.flight = Some(stats);
    }

    /// Publishes if [`PUBLISH_EVERY`] passed since the last time (or
    /// `force`), reading the analysis from `engine`.
    pub fn publish(&mut self, engine: &Engine, force: bool) {
        let now = Instant::now();
        if !force && self.last_publish.is_some_and(|t| now.duration_since(t) < PUBLISH_EVERY) {
            return;
        }
        self.last_publish = Some(now);
        let report = engine.snapshot();
        let mut in_progress = 0;
        for m in &report.migrations {
            if m.outcome == Outcome::InProgress {
                in_progress += 1;
            } else if self.ended.insert(m.id) {
                *self.base.migrations.entry(m.outcome.as_str()).or_insert(0) += 1;
            }
        }
        let mut findings: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
        for f in &report.findings {
            *findings.entry((f.kind.id(), f.severity.as_str())).or_insert(0) += 1;
        }
        for (k, n) in findings {
            let e = self.base.findings.entry(k).or_insert(0);
            *e = (*e).max(n);
        }
        self.base.in_progress = in_progress;
        self.base.events = self.events;
        self.base.events_lost = self.events_lost;
        self.shared.replace(self.base.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Thresholds;
    use crate::events::session::ProbeCoverage;

    #[test]
    fn feed_publishes_counts_outcomes_and_findings_from_the_engine() {
        let sc = crate::scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/scenarios/old-hang-ipi-target-offline.scn"
        )))
        .expect("scenario loads");
        let mut session = sc.session.clone();
        session.coverage = vec![ProbeCoverage {
            probe: "lpm.join".into(),
            status: CoverageStatus::NotApplicable { reason: "x86".into() },
        }];
        let shared = Metrics::new(Snapshot::for_session(&session, "record"));
        let mut feed = Feed::new(Arc::clone(&shared));
        let mut engine = Engine::new(&sc.session, Thresholds::default());
        for ev in &sc.events {
            feed.event(ev);
            engine.push(ev);
        }
        if let Some(w) = sc.watermark_ns {
            engine.advance_to(w);
        }
        feed.publish(&engine, true);
        let s = shared.snapshot();
        assert_eq!(s.events, sc.events.len() as u64);
        assert_eq!(s.probes, vec![("lpm.join".to_string(), "n/a")]);
        let report = engine.snapshot();
        let critical = report
            .findings
            .iter()
            .filter(|f| f.severity.as_str() == "critical")
            .count() as u64;
        assert!(critical > 0, "the scenario has a critical finding");
        let published: u64 = s
            .findings
            .iter()
            .filter(|((_, sev), _)| *sev == "critical")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(published, critical);
        let ended = report
            .migrations
            .iter()
            .filter(|m| m.outcome != Outcome::InProgress)
            .count() as u64;
        assert_eq!(s.migrations.values().sum::<u64>(), ended);
        assert_eq!(s.in_progress, report.migrations.len() as u64 - ended);
        // Publishing again counts nothing twice.
        feed.publish(&engine, true);
        assert_eq!(shared.snapshot(), s);
    }
}
