//! What the screen shows, fed event by event: the analysis engine and its
//! latest report, the event-log ring, the CPU lanes and the counters.
//!
//! Live and replay feed the same [`Model`]; replay resets it and feeds the
//! recording again from the start to move backwards (the engine is pure and
//! fast, so this is the simplest correct way to go back in time).

use crate::analysis::{Engine, Report, Thresholds};
use crate::events::{session::SessionInfo, Event, EventKind};

use super::lanes::CpuLanes;
use super::log::{EventLog, LOG_CAPACITY};

/// The data behind the panes.
pub struct Model {
    session: SessionInfo,
    thresholds: Thresholds,
    engine: Engine,
    finished: bool,
    /// Latest report (refreshed once per frame, or final after [`Model::finish`]).
    pub report: Report,
    /// Newest events.
    pub log: EventLog,
    /// Per-CPU activity over time.
    pub lanes: CpuLanes,
    /// Events taken in (the next event's stream position).
    pub events: u64,
    /// Events the kernel reported lost (sum of `Lost` counts).
    pub lost_events: u64,
    /// Latest event time or clock watermark.
    pub now_ns: u64,
    /// First event time.
    pub first_ts_ns: Option<u64>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("events", &self.events)
            .field("lost_events", &self.lost_events)
            .field("now_ns", &self.now_ns)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// An empty model for a session.
    pub fn new(session: &SessionInfo, thresholds: Thresholds) -> Self {
        let engine = Engine::new(session, thresholds.clone());
        let report = engine.snapshot();
        Model {
            session: session.clone(),
            thresholds,
            engine,
            finished: false,
            report,
            log: EventLog::new(LOG_CAPACITY),
            lanes: CpuLanes::new(session.cpu_count),
            events: 0,
            lost_events: 0,
            now_ns: 0,
            first_ts_ns: None,
        }
    }

    /// Back to the empty state (before re-feeding a recording).
    pub fn reset(&mut self) {
        *self = Model::new(&self.session, self.thresholds.clone());
    }

    /// Takes one event (in time order).
    pub fn push(&mut self, ev: &Event) {
        self.engine.push(ev);
        self.log.push(self.events, *ev);
        self.lanes.push(ev);
        self.events += 1;
        if let EventKind::Lost { count, .. } = ev.kind {
            self.lost_events = self.lost_events.saturating_add(count);
        }
        self.now_ns = self.now_ns.max(ev.ts_ns);
        self.first_ts_ns.get_or_insert(ev.ts_ns);
    }

    /// Moves the analysis clock (timeouts such as join stalls fire).
    pub fn advance_to(&mut self, now_ns: u64) {
        self.engine.advance_to(now_ns);
        self.now_ns = self.now_ns.max(now_ns);
    }

    /// Refreshes [`Model::report`] from the engine (once per frame).
    pub fn refresh(&mut self) {
        if !self.finished {
            self.report = self.engine.snapshot();
        }
    }

    /// Ends the analysis the way `report` does (closes migrations seen
    /// only through hcalls); the report is final until [`Model::reset`].
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let engine = std::mem::replace(&mut self.engine, Engine::new(&self.session, self.thresholds.clone()));
        self.report = engine.finish();
        self.finished = true;
    }

    /// True after [`Model::finish`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}
