//! Times the timeline views (Perfetto export, HTML page) derive from the
//! analysis model in the same way, so both draw the same picture.

use crate::analysis::Attempt;

/// When a CPU's join ends in the drawings: the CPUs stay in the join until
/// the wake-up is over, so the end of the attempt's `wake` phase; else the
/// attempt's end; else `fallback` (the attempt is still running).
pub fn cpu_join_end(a: &Attempt, fallback: u64) -> u64 {
    a.phases
        .iter()
        .find(|p| p.name == "wake")
        .and_then(|p| p.end_ns)
        .or(a.end_ns)
        .unwrap_or(fallback)
}
