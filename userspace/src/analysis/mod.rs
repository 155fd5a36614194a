//! The analysis engine: decoded events in, migrations and findings out.
//!
//! Pure and deterministic (no I/O, no wall clock): [`Engine::push`] takes
//! events in time order, [`Engine::advance_to`] moves the event clock when
//! nothing arrives (live mode), and every timeout is evaluated on that clock,
//! so a live session and the replay of its recording give the same findings.
//!
//! Per migration the engine follows the state machine of the kernel path it
//! sees (docs/analysis.md): trigger → VASI wait (H_VASI_STATE polls) →
//! attempts (join: the CPUs expected and joined, H_JOIN results; suspend:
//! ibm,suspend-me; wake: H_PROD and the CPUs leaving the join) → post
//! migration → outcome (completed, cancelled, cancel-rejected, failed,
//! unterminated). Function probes that are missing (inlined statics) are
//! replaced by what the hcall, RTAS and join events imply. Per CPU it keeps
//! the hotplug state and IPI counts in Vecs indexed by CPU number.
//!
//! Findings come from [`rules::Rule`]s run at checkpoints; each carries a
//! stable kind id, severity, evidence (stream positions), an explanation and
//! the SRE's next step, and is marked inconclusive when events were lost in
//! its window or a probe it depends on is missing.
//!
//! ```
//! use lpmtrace::analysis::{Engine, Thresholds};
//! use lpmtrace::events::session::{KernelGeneration, SessionInfo};
//!
//! let session = SessionInfo::synthetic("ppc64le", 4, KernelGeneration::NewPath);
//! let mut engine = Engine::new(&session, Thresholds::default());
//! engine.advance_to(1_000_000_000);
//! let report = engine.finish();
//! assert!(report.findings.is_empty());
//! ```

pub mod cpus;
pub mod engine;
pub mod model;
pub mod rules;
pub mod state;

pub use engine::Engine;
pub use model::{
    Attempt, Cancel, CpuJoin, CpuSummary, ErrorEntry, Finding, FindingKind, Migration, Outcome, PhaseSpan, Report,
    Severity, SCHEMA_VERSION,
};

use crate::events::Event;

/// Default join-stall threshold: a CPU that has not joined this long after
/// the join started (stop_machine normally gathers all CPUs in microseconds
/// to milliseconds).
pub const DEFAULT_JOIN_STALL_NS: u64 = 1_000_000_000;
/// Default VASI-wait threshold: the stream still ENABLED this long after the
/// first poll.
pub const DEFAULT_VASI_WAIT_NS: u64 = 60_000_000_000;
/// Default blackout threshold: the partition frozen (first CPU joined → last
/// CPU woke) longer than this. PowerVM usually stays within 1–2 s.
pub const DEFAULT_BLACKOUT_NS: u64 = 5_000_000_000;
/// Default premature-join storm: this many premature H_JOIN returns in one
/// attempt (on kernels that join again).
pub const DEFAULT_PREMATURE_STORM: u32 = 100;
/// Default settle time: a migration seen only through hcall/RTAS/join events
/// (no function probes) ends after this much silence. Longer than the
/// kernels' 1 s retry sleeps.
pub const DEFAULT_SETTLE_NS: u64 = 5_000_000_000;

/// Finding thresholds (all on the event clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// See [`DEFAULT_JOIN_STALL_NS`].
    pub join_stall_ns: u64,
    /// See [`DEFAULT_VASI_WAIT_NS`].
    pub vasi_wait_ns: u64,
    /// See [`DEFAULT_BLACKOUT_NS`].
    pub blackout_ns: u64,
    /// See [`DEFAULT_PREMATURE_STORM`].
    pub premature_storm: u32,
    /// See [`DEFAULT_SETTLE_NS`].
    pub settle_ns: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            join_stall_ns: DEFAULT_JOIN_STALL_NS,
            vasi_wait_ns: DEFAULT_VASI_WAIT_NS,
            blackout_ns: DEFAULT_BLACKOUT_NS,
            premature_storm: DEFAULT_PREMATURE_STORM,
            settle_ns: DEFAULT_SETTLE_NS,
        }
    }
}

/// Analyses a whole in-memory stream (tests, scenarios, benches).
pub fn analyse(session: &crate::events::session::SessionInfo, thresholds: Thresholds, events: &[Event]) -> Report {
    let mut engine = Engine::new(session, thresholds);
    for ev in events {
        engine.push(ev);
    }
    engine.finish()
}
