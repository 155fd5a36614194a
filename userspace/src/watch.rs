//! The analysis engine riding along a live capture: it sees every event
//! the sink sees, advances its clock with the kernel clock at each tick (so
//! a join stall is flagged while it happens), announces new findings, and
//! says whether a migration is in flight (so lpmtrace does not detach in
//! the middle of one: text patching during a join is risky on old kernels).

use crate::analysis::{Engine, Finding, Outcome, Thresholds};
use crate::events::{session::SessionInfo, Event};

/// Live analysis state.
pub struct Watch {
    engine: Engine,
    announced: usize,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("events", &self.engine.events())
            .field("announced", &self.announced)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// A watch over `session` with `thresholds`.
    pub fn new(session: &SessionInfo, thresholds: Thresholds) -> Self {
        Watch {
            engine: Engine::new(session, thresholds),
            announced: 0,
        }
    }

    /// Feeds one event.
    pub fn push(&mut self, event: &Event) {
        self.engine.push(event);
    }

    /// Advances the event clock to `now_ns` and returns findings that are
    /// new since the last call.
    pub fn tick(&mut self, now_ns: u64) -> Vec<Finding> {
        self.engine.advance_to(now_ns);
        let all = self.engine.findings();
        let new = all[self.announced.min(all.len())..].to_vec();
        self.announced = all.len();
        new
    }

    /// A description of the migration in flight, if any.
    pub fn in_flight(&self) -> Option<String> {
        let report = self.engine.snapshot();
        report
            .migrations
            .iter()
            .rev()
            .find(|m| m.outcome == Outcome::InProgress)
            .map(|m| match m.stream_id {
                Some(id) => format!("migration {} (stream {id:#x})", m.id),
                None => format!("migration {}", m.id),
            })
    }

    /// The engine (for views that want the whole report).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// One line for a finding, for stderr of the plain modes.
pub fn finding_line(f: &Finding) -> String {
    let cpus = if f.cpus.is_empty() {
        String::new()
    } else {
        format!(
            " cpus {}",
            f.cpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        )
    };
    // The summary can quote the recording (a task name): escaped for stderr.
    format!(
        "FINDING [{}] {}{}{}: {}{}",
        f.severity.as_str(),
        f.kind.id(),
        f.stream_id.map(|s| format!(" stream {s:#x}")).unwrap_or_default(),
        cpus,
        crate::views::escape::escape_line(&f.summary),
        if f.inconclusive { " (inconclusive)" } else { "" }
    )
}
