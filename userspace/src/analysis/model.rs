//! The analysis output: migrations with their attempts and phases, findings,
//! CPU summaries. Everything here is plain data (serde), shared by the
//! report view, the JSON export (docs/report-schema.md) and the TUI.
//!
//! Invariants: times are event-clock nanoseconds of the session; CPU lists
//! are ascending; findings are sorted by [`Finding::sort_key`].

use serde::{Deserialize, Serialize};

/// Version of the JSON report schema (docs/report-schema.md). Bump on any
/// change that is not a pure addition of an optional field.
pub const SCHEMA_VERSION: u32 = 1;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The partition or the platform is (or may be) stuck; act now.
    Critical,
    /// A migration failed or degraded; look into it.
    Warning,
    /// Worth knowing, nothing failed because of it.
    Info,
}

impl Severity {
    /// Lower-case name (`critical`, `warning`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Whether `self` is at least as severe as `other`.
    pub fn at_least(self, other: Severity) -> bool {
        self <= other
    }

    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "critical" => Severity::Critical,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            _ => return None,
        })
    }
}

/// The stable identity of a finding. The kebab-case id ([`Self::id`]) is
/// part of the report schema and never changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A failed migration left the platform possibly in Suspending with no
    /// H_VASI_SIGNAL cancel.
    UnterminatedMigration,
    /// H_VASI_SIGNAL(CANCEL) returned an error.
    CancelRejected,
    /// A CPU went (or was going) offline while the migration gathered CPUs.
    OfflineRace,
    /// An expected CPU did not join within the threshold.
    JoinStall,
    /// H_JOIN returned H_SUCCESS before the suspend was done.
    PrematureJoin,
    /// The new kernel's five suspend attempts all failed.
    SuspendRetriesExhausted,
    /// The platform took long to reach Suspending.
    LongVasiWait,
    /// The partition was frozen longer than the threshold.
    LongBlackout,
    /// A second migration was triggered while one was in progress.
    ConcurrentMigrations,
    /// A migration failed or was cancelled (no more specific finding).
    MigrationFailed,
    /// The trace lost events.
    EventsLost,
}

impl FindingKind {
    /// Every kind, in id order.
    pub const ALL: &'static [FindingKind] = &[
        FindingKind::CancelRejected,
        FindingKind::ConcurrentMigrations,
        FindingKind::EventsLost,
        FindingKind::JoinStall,
        FindingKind::LongBlackout,
        FindingKind::LongVasiWait,
        FindingKind::MigrationFailed,
        FindingKind::OfflineRace,
        FindingKind::PrematureJoin,
        FindingKind::SuspendRetriesExhausted,
        FindingKind::UnterminatedMigration,
    ];

    /// The stable kebab-case id.
    pub fn id(self) -> &'static str {
        match self {
            FindingKind::UnterminatedMigration => "unterminated-migration",
            FindingKind::CancelRejected => "cancel-rejected",
            FindingKind::OfflineRace => "offline-race",
            FindingKind::JoinStall => "join-stall",
            FindingKind::PrematureJoin => "premature-join",
            FindingKind::SuspendRetriesExhausted => "suspend-retries-exhausted",
            FindingKind::LongVasiWait => "long-vasi-wait",
            FindingKind::LongBlackout => "long-blackout",
            FindingKind::ConcurrentMigrations => "concurrent-migrations",
            FindingKind::MigrationFailed => "migration-failed",
            FindingKind::EventsLost => "events-lost",
        }
    }

    /// The kind with this id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.id() == id)
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// One diagnosis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kind.
    pub kind: FindingKind,
    /// Kind-specific refinement (offline-race: `aborted-ebusy`,
    /// `retried-eagain`, `hotplug-blocked`, `ipi-target-offline`;
    /// premature-join: `unhandled`, `storm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How bad.
    pub severity: Severity,
    /// When it happened (or the deadline that was crossed).
    pub ts_ns: u64,
    /// Start of the time window the finding is about (for loss overlap).
    pub window_start_ns: u64,
    /// Migration id in this report, if any.
    pub migration: Option<u32>,
    /// Stream id of that migration, if known.
    pub stream_id: Option<u64>,
    /// CPUs concerned, ascending.
    pub cpus: Vec<u32>,
    /// One line.
    pub summary: String,
    /// What it means, in full sentences.
    pub explanation: String,
    /// Stream positions (0-based event indices) of the evidence.
    pub evidence: Vec<u64>,
    /// What the SRE should do next.
    pub next_step: String,
    /// The evidence may be incomplete (lost events, missing probes).
    pub inconclusive: bool,
    /// Why it may be incomplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_reason: Option<String>,
    /// Set when what the finding rests on is the platform's own answer and
    /// the platform is not PowerVM (QEMU's pseries machine): says which
    /// part comes from the emulator, so nobody takes it for PowerVM's
    /// behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_note: Option<String>,
}

impl Finding {
    /// The deterministic order: time, severity, kind, migration, CPUs, variant.
    pub fn sort_key(&self) -> (u64, Severity, &'static str, Option<u32>, &[u32], Option<&str>) {
        (
            self.ts_ns,
            self.severity,
            self.kind.id(),
            self.migration,
            &self.cpus,
            self.variant.as_deref(),
        )
    }
}

/// How a migration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Suspended, resumed and reported success.
    Completed,
    /// Failed, and the kernel cancelled it with H_VASI_SIGNAL (accepted).
    Cancelled,
    /// Failed, the kernel sent a cancel, the platform rejected it.
    CancelRejected,
    /// Failed before the platform reached Suspending (nothing to cancel).
    Failed,
    /// Failed after the platform may have entered Suspending, no cancel.
    Unterminated,
    /// The trace ended before the migration did.
    InProgress,
}

impl Outcome {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Cancelled => "cancelled",
            Outcome::CancelRejected => "cancel-rejected",
            Outcome::Failed => "failed",
            Outcome::Unterminated => "unterminated",
            Outcome::InProgress => "in-progress",
        }
    }
}

/// A named stretch of time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    /// `vasi-wait`, `join`, `suspend`, `wake`, `retry-wait`, `post`, `cancel`.
    pub name: String,
    /// Start.
    pub start_ns: u64,
    /// End (None: still running when the report was made).
    pub end_ns: Option<u64>,
}

/// An error seen during a migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// When.
    pub ts_ns: u64,
    /// Where it came from (`rtas_ibm_suspend_me`, `H_JOIN`, `ibm,suspend-me`...).
    pub source: String,
    /// The raw value.
    pub code: i64,
    /// Its name, when known (`EAGAIN`, `H_HARDWARE`, `RTAS_THREADS_ACTIVE`).
    pub name: Option<String>,
    /// CPU it was seen on.
    pub cpu: u32,
}

/// What one CPU did in one join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuJoin {
    /// The CPU.
    pub cpu: u32,
    /// First time it entered the join (do_join / handler / H_JOIN).
    pub joined_ns: u64,
    /// H_JOIN calls it made.
    pub h_join_calls: u32,
    /// Last H_JOIN return code.
    pub last_ret: Option<i64>,
    /// H_SUCCESS returns before the suspend was done.
    pub premature: u32,
}

/// One try at suspending (new kernels: one stop_machine(do_join) round;
/// old kernels: one rtas_ibm_suspend_me call that got past the VASI check).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// Start.
    pub start_ns: u64,
    /// End (None: still running).
    pub end_ns: Option<u64>,
    /// Time since the previous attempt ended (the retry sleep).
    pub delay_before_ns: Option<u64>,
    /// 0 ok, -errno, or a raw hcall/RTAS code (old kernels).
    pub result: Option<i64>,
    /// Name of the result.
    pub result_name: Option<String>,
    /// join / suspend / wake.
    pub phases: Vec<PhaseSpan>,
    /// Errors inside the attempt.
    pub errors: Vec<ErrorEntry>,
    /// CPUs that had to join (online when the join started).
    pub cpus_expected: Vec<u32>,
    /// CPUs seen joining.
    pub cpus_joined: Vec<u32>,
    /// Per-CPU join details.
    pub joins: Vec<CpuJoin>,
    /// ibm,suspend-me status, when seen.
    pub rtas_status: Option<i32>,
    /// Premature H_JOIN returns in total.
    pub premature_joins: u32,
    /// H_PROD calls.
    pub prods: u32,
}

/// The cancel the kernel sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    /// H_VASI_SIGNAL entry time.
    pub ts_ns: u64,
    /// Signal (1 = CANCEL).
    pub signal: u64,
    /// Reason word, `(6 << 24) | errno`.
    pub reason: u64,
    /// The errno carried in the reason.
    pub reason_errno: i64,
    /// H_VASI_SIGNAL return (None: not seen).
    pub ret: Option<i64>,
}

/// One migration (one trigger, or one stream seen through hcalls alone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// 1-based id within the report.
    pub id: u32,
    /// Stream id (the VASI handle), when known.
    pub stream_id: Option<u64>,
    /// Which kernel path it took (`old-path`, `new-path`, or unknown).
    pub path: String,
    /// How it was triggered (`sysfs`, `syscall-dispatch`, `sys-rtas`, `unknown`).
    pub trigger: String,
    /// Command name of the trigger, when known.
    pub comm: Option<String>,
    /// Start.
    pub start_ns: u64,
    /// End (None: trace ended first).
    pub end_ns: Option<u64>,
    /// Outcome.
    pub outcome: Outcome,
    /// Final return value, when seen.
    pub result: Option<i64>,
    /// Attempts, in order.
    pub attempts: Vec<Attempt>,
    /// Migration-level phases (vasi-wait, attempts, post, cancel).
    pub phases: Vec<PhaseSpan>,
    /// H_VASI_STATE polls.
    pub vasi_polls: u32,
    /// Last VASI state seen.
    pub last_vasi_state: Option<String>,
    /// The cancel, if one was sent.
    pub cancel: Option<Cancel>,
    /// Errors outside attempts (VASI, trigger return).
    pub errors: Vec<ErrorEntry>,
    /// Events lost while it ran.
    pub events_lost: u64,
}

/// Per-CPU totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSummary {
    /// The CPU.
    pub cpu: u32,
    /// State at the end of the trace (`online`, `offline`, `going-down`,
    /// `coming-up`, `unknown`).
    pub state: String,
    /// IPIs sent from it.
    pub ipis_sent: u64,
    /// IPIs addressed to it.
    pub ipis_received: u64,
    /// Cross-CPU calls it ran.
    pub ipis_handled: u64,
    /// Times it went offline.
    pub offline_count: u32,
    /// Times it came online.
    pub online_count: u32,
    /// Joins it took part in.
    pub joins: u32,
}

/// Everything the analysis concluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Events analysed (including loss records).
    pub events: u64,
    /// Loss records seen.
    pub lost_records: u64,
    /// Events those records said were dropped.
    pub events_lost: u64,
    /// First and last event time.
    pub first_ts_ns: Option<u64>,
    /// Last event time (or watermark).
    pub last_ts_ns: Option<u64>,
    /// Migrations in start order.
    pub migrations: Vec<Migration>,
    /// Findings, deterministic order.
    pub findings: Vec<Finding>,
    /// CPUs that appeared in the trace.
    pub cpus: Vec<CpuSummary>,
    /// Logical probes the coverage manifest says are missing.
    pub missing_probes: Vec<String>,
}

impl Report {
    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}
