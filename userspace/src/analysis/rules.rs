//! The diagnoses, one [`Rule`] per finding kind (the tokio-console `Warn`
//! pattern): the engine calls every rule at each [`Checkpoint`] (an attempt
//! closed, a migration ended, a deadline passed, ...) and a rule that
//! recognises its pattern pushes a [`Finding`] with a full-sentence
//! explanation, the evidence positions and the SRE's next step.
//!
//! Rules only read state; they never decide *when* to look (the engine's
//! checkpoints do), so each finding is produced exactly once.

use crate::events::names;
use crate::events::TriggerSource;

use super::cpus::{CpuState, CpuTracker};
use super::engine::vasi;
use super::model::{Finding, FindingKind, Outcome, Severity};
use super::state::{ret_name, AttemptSt, Gen, MigrationSt, EVIDENCE_CAP};
use super::Thresholds;

/// New kernels' `pseries_suspend` gives up after this many attempts.
pub const MAX_SUSPEND_ATTEMPTS: usize = 5;

const EAGAIN: i64 = -11;
const EBUSY: i64 = -16;

/// A moment at which rules look at the state.
pub enum Checkpoint<'a> {
    /// A trigger arrived while `others` (id, stream) were still open.
    Triggered {
        /// The new migration.
        m: &'a MigrationSt,
        /// Migrations already running.
        others: &'a [(u32, Option<u64>)],
        /// Position of the trigger.
        pos: u64,
    },
    /// An attempt ended.
    AttemptClosed {
        /// Its migration.
        m: &'a MigrationSt,
        /// The attempt.
        a: &'a AttemptSt,
        /// CPU state (hotplug history).
        cpus: &'a CpuTracker,
    },
    /// A migration ended (outcome set).
    MigrationEnded {
        /// The migration.
        m: &'a MigrationSt,
    },
    /// H_VASI_SIGNAL returned an error.
    CancelAnswered {
        /// The migration.
        m: &'a MigrationSt,
        /// Position of the hcall return.
        pos: u64,
    },
    /// The join-stall deadline passed with CPUs missing.
    JoinDeadline {
        /// The migration.
        m: &'a MigrationSt,
        /// The attempt.
        a: &'a AttemptSt,
        /// When the threshold was crossed.
        deadline: u64,
        /// CPU states.
        cpus: &'a CpuTracker,
    },
    /// The VASI-wait deadline passed while still waiting.
    VasiDeadline {
        /// The migration.
        m: &'a MigrationSt,
        /// When the threshold was crossed.
        deadline: u64,
    },
    /// A CPU that had an unhandled IPI went offline while the attempt
    /// gathered CPUs.
    IpiTargetOffline {
        /// The migration.
        m: &'a MigrationSt,
        /// The attempt.
        a: &'a AttemptSt,
        /// The CPU.
        cpu: u32,
        /// When it went offline.
        ts: u64,
        /// IPI send and offline positions.
        evidence: [u64; 2],
    },
    /// A CPU offline request failed (-EBUSY) or waited because of the
    /// migration.
    HotplugBlocked {
        /// The migration.
        m: &'a MigrationSt,
        /// The CPU, when the hook knew it.
        cpu: Option<u32>,
        /// When the request started.
        start_ns: u64,
        /// When it returned.
        ts: u64,
        /// Its return value.
        ret: i32,
        /// Request and return positions.
        evidence: [u64; 2],
    },
}

/// One diagnosis.
pub trait Rule: Sync {
    /// The kind of finding it produces.
    fn kind(&self) -> FindingKind;
    /// Looks at a checkpoint; pushes findings for what it recognises.
    fn check(&self, cp: &Checkpoint<'_>, th: &Thresholds, out: &mut Vec<Finding>);
}

/// Every rule, in kind order.
pub static RULES: &[&dyn Rule] = &[
    &CancelRejected,
    &ConcurrentMigrations,
    &JoinStall,
    &LongBlackout,
    &LongVasiWait,
    &MigrationFailed,
    &OfflineRace,
    &PrematureJoin,
    &SuspendRetriesExhausted,
    &UnterminatedMigration,
];

/// Probe groups a finding kind depends on: when every probe of one group is
/// missing from the coverage manifest, the finding is inconclusive.
pub fn needed_probes(kind: FindingKind, variant: Option<&str>) -> &'static [&'static [&'static str]] {
    match (kind, variant) {
        (FindingKind::UnterminatedMigration, _) => &[&["lpm.hcall"]],
        (FindingKind::OfflineRace, Some("aborted-ebusy" | "retried-eagain")) => &[&["cpu.hotplug", "cpu.online"]],
        (FindingKind::JoinStall, _) => &[&["cpu.hotplug", "cpu.online"], &["lpm.join"], &["lpm.hcall"]],
        (FindingKind::MigrationFailed | FindingKind::SuspendRetriesExhausted, _) => &[&["lpm.hcall"]],
        _ => &[],
    }
}

/// What the probes of [`needed_probes`] would have shown.
pub fn probe_purpose(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::UnterminatedMigration | FindingKind::MigrationFailed | FindingKind::SuspendRetriesExhausted => {
            "show an H_VASI_SIGNAL cancel"
        }
        FindingKind::OfflineRace => "show which CPU went offline",
        FindingKind::JoinStall => "show whether the missing CPUs were online or joined",
        _ => "support this finding",
    }
}

/// `12.345678s` for a nanosecond timestamp.
pub fn fmt_ts(ns: u64) -> String {
    format!("{}.{:06}s", ns / 1_000_000_000, (ns % 1_000_000_000) / 1_000)
}

/// A duration in the unit that reads best.
pub fn fmt_dur(ns: u64) -> String {
    if ns >= 10_000_000_000 {
        format!("{:.0}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}µs", ns as f64 / 1e3)
    }
}

fn code(c: i64) -> String {
    match ret_name(c) {
        Some(n) => format!("{c} ({n})"),
        None => c.to_string(),
    }
}

fn cpu_list(cpus: &[u32]) -> String {
    if cpus.is_empty() {
        return "none".into();
    }
    let v: Vec<String> = cpus.iter().map(|c| format!("cpu{c}")).collect();
    v.join(", ")
}

fn subject(m: &MigrationSt) -> String {
    match m.stream_id {
        Some(s) => format!("migration {} (stream {s:#x})", m.id),
        None => format!("migration {}", m.id),
    }
}

fn evidence(m: &MigrationSt, extra: &[&[u64]]) -> Vec<u64> {
    let mut v: Vec<u64> = m.evidence.clone();
    for e in extra {
        v.extend_from_slice(e);
    }
    v.sort_unstable();
    v.dedup();
    v.truncate(EVIDENCE_CAP * 2);
    v
}

struct Draft<'a> {
    kind: FindingKind,
    variant: Option<&'static str>,
    severity: Severity,
    ts: u64,
    window_start: u64,
    m: Option<&'a MigrationSt>,
    cpus: Vec<u32>,
}

impl Draft<'_> {
    fn done(self, summary: String, explanation: String, evidence: Vec<u64>, next_step: &str) -> Finding {
        Finding {
            kind: self.kind,
            variant: self.variant.map(str::to_string),
            severity: self.severity,
            ts_ns: self.ts,
            window_start_ns: self.window_start.min(self.ts),
            migration: self.m.map(|m| m.id),
            stream_id: self.m.and_then(|m| m.stream_id),
            cpus: self.cpus,
            summary,
            explanation,
            evidence,
            next_step: next_step.to_string(),
            inconclusive: false,
            inconclusive_reason: None,
            platform_note: None,
        }
    }
}

fn last_error(m: &MigrationSt) -> Option<i64> {
    m.result
        .filter(|r| *r < 0)
        .or_else(|| m.attempts.iter().rev().find_map(|a| a.result.filter(|r| *r != 0)))
        .or_else(|| m.errors.last().map(|e| e.code))
}

// --- unterminated-migration ------------------------------------------------------

struct UnterminatedMigration;

impl Rule for UnterminatedMigration {
    fn kind(&self) -> FindingKind {
        FindingKind::UnterminatedMigration
    }

    fn check(&self, cp: &Checkpoint<'_>, _th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::MigrationEnded { m } = cp else { return };
        if m.outcome != Some(Outcome::Unterminated) {
            return;
        }
        let end = m.end_ns.unwrap_or(m.last_activity);
        let err = last_error(m).map_or_else(|| "an error".to_string(), code);
        let why = match m.gen {
            Gen::Old => "Kernels up to 5.10 (the rtas_ibm_suspend_me path) never send H_VASI_SIGNAL: every failure after the VASI check leaves the stream for the platform to time out (Lynch named the rtas_online_cpus_mask failure, the cpumask allocation failure and data.error after the IPIs; the -EBUSY offline race is the 2019 report).",
            _ => "On 5.11+ pseries_migrate_partition cancels only failures of pseries_suspend; when wait_for_vasi_session_suspending fails (an H_VASI_STATE error or an unexpected state) it goes straight to the exit without pseries_cancel_migration.",
        };
        let seen = match m.last_vasi_state {
            Some(vasi::SUSPENDING) => "H_VASI_STATE last reported SUSPENDING".to_string(),
            Some(s) => format!(
                "H_VASI_STATE last reported {}",
                names::vasi_state_name(s).unwrap_or("an unknown state")
            ),
            None if m.attempts.iter().any(|a| a.joining()) => {
                "CPUs had started joining, which the kernel only does once the stream is Suspending".to_string()
            }
            None => "the stream state could not be read (H_VASI_STATE failed), so it may be Suspending".to_string(),
        };
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Critical,
            ts: end,
            window_start: m.start_ns,
            m: Some(m),
            cpus: Vec::new(),
        };
        let ev = evidence(m, &[m.attempts.last().map_or(&[][..], |a| &a.evidence[..])]);
        out.push(d.done(
            format!("{} failed with {err} and was never cancelled; the platform may still be in Suspending", subject(m)),
            format!(
                "The migration failed after the platform may have entered Suspending ({seen}), and no H_VASI_SIGNAL(CANCEL) followed. {why} While the stream stays in Suspending the hypervisor blocks further migrations and DLPAR operations on this partition until it gives up on its own."
            ),
            ev,
            "On the HMC check the partition's migration state (lslparmigr -r lpar -m <system>); if it is still migrating/suspending, stop it (migrlpar -o s) and, if that fails, recover it (migrlpar -o r) before retrying. Then fix the cause shown in the attempt errors (offline race, allocation or join failure).",
        ));
    }
}

// --- cancel-rejected ---------------------------------------------------------------

struct CancelRejected;

impl Rule for CancelRejected {
    fn kind(&self) -> FindingKind {
        FindingKind::CancelRejected
    }

    fn check(&self, cp: &Checkpoint<'_>, _th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::CancelAnswered { m, pos } = cp else {
            return;
        };
        let Some(c) = &m.cancel else { return };
        let Some(ret) = c.ret.filter(|r| *r != 0) else { return };
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Critical,
            ts: m.last_activity,
            window_start: c.ts_ns,
            m: Some(m),
            cpus: Vec::new(),
        };
        let signal = names::vasi_signal_name(c.signal).unwrap_or("unknown signal");
        let code = |r: i64| match names::hcall_ret_name(r) {
            Some(n) => format!("{r} ({n})"),
            None => r.to_string(),
        };
        out.push(d.done(
            format!("{}: H_VASI_SIGNAL({signal}) was rejected with {}", subject(m), code(ret)),
            format!(
                "After the suspend failed the kernel signalled {signal} with reason {:#x} (entity {}, errno {}), and the hypervisor answered {}. The cancel did not take effect, so the platform may keep the stream in Suspending as if no cancel had been sent (H_PARAMETER: wrong stream id or signal; H_FUNCTION: the platform does not implement VASI signalling).",
                c.reason,
                c.reason >> 24,
                c.reason_errno,
                code(ret)
            ),
            evidence(m, &[&[*pos]]),
            "Treat the migration as unterminated: check and stop it on the HMC (lslparmigr, migrlpar -o s / -o r). Report the rejected H_VASI_SIGNAL with this trace to the platform team; H_FUNCTION here means the firmware lacks VASI signalling.",
        ));
    }
}

// --- offline-race -------------------------------------------------------------------

struct OfflineRace;

impl Rule for OfflineRace {
    fn kind(&self) -> FindingKind {
        FindingKind::OfflineRace
    }

    fn check(&self, cp: &Checkpoint<'_>, _th: &Thresholds, out: &mut Vec<Finding>) {
        match cp {
            Checkpoint::AttemptClosed { m, a, cpus } => {
                if m.gen != Gen::Old || a.joining() {
                    return;
                }
                let end = a.end_ns.unwrap_or(a.start_ns);
                let downs: Vec<_> = cpus.downs_overlapping(a.start_ns, end).collect();
                let mut cpu_ids: Vec<u32> = downs.iter().map(|t| t.cpu).collect();
                let mut ev: Vec<u64> = downs.iter().map(|t| t.evidence).collect();
                ev.extend_from_slice(&a.evidence);
                let (variant, severity) = match a.result {
                    Some(EBUSY) => ("aborted-ebusy", Severity::Critical),
                    Some(EAGAIN) if a.vasi_state != Some(vasi::ENABLED) => ("retried-eagain", Severity::Info),
                    _ => return,
                };
                if cpu_ids.is_empty() && variant == "aborted-ebusy" {
                    cpu_ids = cpus.not_online();
                }
                cpu_ids.sort_unstable();
                cpu_ids.dedup();
                let d = Draft {
                    kind: self.kind(),
                    variant: Some(variant),
                    severity,
                    ts: end,
                    window_start: a.start_ns,
                    m: Some(m),
                    cpus: cpu_ids.clone(),
                };
                let (summary, explanation, next) = if variant == "aborted-ebusy" {
                    (
                        format!("{} attempt {}: {} went offline while CPUs were gathered; rtas_ibm_suspend_me gave up with -EBUSY", subject(m), a.number, cpu_list(&cpu_ids)),
                        "After cpu_hotplug_disable() the old path compares the present and online masks; a CPU that left (or was leaving) the online mask in that window makes it return -EBUSY (kernels before 5.3, commit dfd718a2ed1f). The error goes back to the caller without H_VASI_SIGNAL, so the platform stays in Suspending (the 2019 linuxppc-dev report).".to_string(),
                        "Find who offlined the CPU at that moment (SMT changes via ppc64_cpu, DLPAR, a power-management daemon) and keep it quiet during migrations; check the HMC for a stuck migration. Kernels with 9fb603050ffd (5.3+) retry instead.",
                    )
                } else {
                    (
                        format!("{} attempt {}: {} went offline while CPUs were gathered; the kernel retried (-EAGAIN)", subject(m), a.number, cpu_list(&cpu_ids)),
                        "The old path's present/online check failed because a CPU was going offline; since 5.3 (9fb603050ffd) rtas_ibm_suspend_me returns -EAGAIN and migration_store retries after one second, so the race only delayed the migration.".to_string(),
                        "No action needed if the migration completed; if retries repeat, stop CPU hotplug activity (SMT changes, DLPAR) for the duration of the migration.",
                    )
                };
                out.push(d.done(summary, explanation, evidence(m, &[&ev]), next));
            }
            Checkpoint::IpiTargetOffline {
                m,
                a,
                cpu,
                ts,
                evidence: e,
            } => {
                let d = Draft {
                    kind: self.kind(),
                    variant: Some("ipi-target-offline"),
                    severity: Severity::Critical,
                    ts: *ts,
                    window_start: a.start_ns,
                    m: Some(m),
                    cpus: vec![*cpu],
                };
                out.push(d.done(
                    format!("{} attempt: cpu{cpu} went offline with the join IPI still unhandled", subject(m)),
                    format!(
                        "An IPI was sent to cpu{cpu} while the migration gathered CPUs, and the CPU left the online mask before its handler ran, so it never entered the join. The hypervisor still counts it, so the other CPUs wait in H_JOIN for a thread that is gone: this is the hang fixed by 85a88cabad57 (disable CPU hotplug across migrations)."
                    ),
                    evidence(m, &[&e[..], &a.evidence]),
                    "Expect the partition to hang in the join: get a dump from the HMC if it does not recover. Make sure the kernel has 85a88cabad57 (4.20+ or the stable backports) and keep CPU hotplug quiet during migrations.",
                ));
            }
            Checkpoint::HotplugBlocked {
                m,
                cpu,
                start_ns,
                ts,
                ret,
                evidence: e,
            } => {
                let failed = *ret as i64 == EBUSY;
                let d = Draft {
                    kind: self.kind(),
                    variant: Some("hotplug-blocked"),
                    severity: if failed { Severity::Warning } else { Severity::Info },
                    ts: *ts,
                    window_start: *start_ns,
                    m: Some(m),
                    cpus: cpu.map(|c| vec![c]).unwrap_or_default(),
                };
                let who = cpu.map_or_else(|| "a CPU".to_string(), |c| format!("cpu{c}"));
                let (summary, explanation) = if failed {
                    (
                        format!("offlining {who} failed with -EBUSY because {} had CPU hotplug disabled", subject(m)),
                        "The migration path disables CPU hotplug while it gathers CPUs (cpu_hotplug_disable on old kernels); cpu_down_maps_locked then fails with -EBUSY. The migration was protected, the offline request was lost.".to_string(),
                    )
                } else {
                    (
                        format!("offlining {who} waited for {} ({})", subject(m), fmt_dur(ts.saturating_sub(*start_ns))),
                        "The offline request arrived while the CPUs were held in the join (stop_machine holds cpus_read_lock on 5.11+), so it waited until the join ended. The migration was protected, the request was delayed.".to_string(),
                    )
                };
                out.push(d.done(
                    summary,
                    explanation,
                    evidence(m, &[&e[..]]),
                    "Retry the CPU offline (SMT change, DLPAR) after the migration; schedule such changes outside migration windows.",
                ));
            }
            _ => {}
        }
    }
}

// --- join-stall -------------------------------------------------------------------------

struct JoinStall;

impl Rule for JoinStall {
    fn kind(&self) -> FindingKind {
        FindingKind::JoinStall
    }

    fn check(&self, cp: &Checkpoint<'_>, th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::JoinDeadline { m, a, deadline, cpus } = cp else {
            return;
        };
        let missing = a.missing().to_vec();
        if missing.is_empty() {
            return;
        }
        let states: Vec<String> = missing
            .iter()
            .map(|&c| match cpus.state(c) {
                CpuState::Online => format!("cpu{c} online"),
                s => format!("cpu{c} {}", s.as_str()),
            })
            .collect();
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Critical,
            ts: *deadline,
            window_start: a.start_ns,
            m: Some(m),
            cpus: missing.clone(),
        };
        let how = match m.gen {
            Gen::Old => "the rtas_percpu_suspend_me IPI handler",
            _ => "do_join under stop_machine",
        };
        out.push(d.done(
            format!(
                "{}: {} of {} expected CPUs had not joined {} after the join started ({})",
                subject(m),
                missing.len(),
                a.expected.len(),
                fmt_dur(th.join_stall_ns),
                cpu_list(&missing)
            ),
            format!(
                "Every CPU online when the join started must enter {how} and call H_JOIN before the last one gets H_CONTINUE and suspends; the joined CPUs sit with interrupts off meanwhile, so the whole partition is frozen. Missing now: {}.",
                states.join(", ")
            ),
            evidence(m, &[&a.evidence]),
            "If it persists, the partition is hung: take a dump from the HMC (restart with dump) rather than a plain reboot. Look at what the missing CPUs were doing (a CPU going offline, a long irq-off section, a hung stopper thread).",
        ));
    }
}

// --- premature-join -------------------------------------------------------------------

struct PrematureJoin;

impl Rule for PrematureJoin {
    fn kind(&self) -> FindingKind {
        FindingKind::PrematureJoin
    }

    fn check(&self, cp: &Checkpoint<'_>, th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::AttemptClosed { m, a, .. } = cp else {
            return;
        };
        if a.premature == 0 {
            return;
        }
        // The old path's join loop runs while `rc == H_SUCCESS && !done &&
        // !error`: a CPU that returned early either joins again or leaves
        // because the suspend is done, so it is never "unhandled" there
        // (only 5.11's do_join left the join on a premature return). Seen
        // on a real 5.10 kernel: a wake-up just before the suspend ended.
        let unhandled = !a.unhandled_cpus.is_empty() && m.gen != Gen::Old;
        if !unhandled && a.premature < th.premature_storm {
            return;
        }
        let cpus = if unhandled {
            a.unhandled_cpus.to_vec()
        } else {
            a.premature_cpus.to_vec()
        };
        let d = Draft {
            kind: self.kind(),
            variant: Some(if unhandled { "unhandled" } else { "storm" }),
            severity: Severity::Warning,
            ts: a.end_ns.unwrap_or(a.start_ns),
            window_start: a.start_ns,
            m: Some(m),
            cpus: cpus.clone(),
        };
        let (summary, explanation, next) = if unhandled {
            (
                format!("{} attempt {}: H_JOIN returned early on {} and the CPU left the join", subject(m), a.number, cpu_list(&cpus)),
                format!(
                    "H_JOIN returned H_SUCCESS before the suspend was done ({} premature returns), a stray H_PROD (paravirt spinlocks) woke the CPU, and it left do_join instead of joining again. The still-running thread makes ibm,suspend-me fail (THREADS_ACTIVE) and the attempt {}. Kernels with 274cb1ca2e7c (5.12) join again.",
                    a.premature,
                    a.result.map_or_else(|| "fail".to_string(), |r| format!("end with {}", code(r)))
                ),
                "Update the kernel to 5.12+ (or a distribution kernel with 274cb1ca2e7c \"handle premature return from H_JOIN\"); until then retry the migration.",
            )
        } else {
            (
                format!("{} attempt {}: {} premature H_JOIN returns (storm) on {}", subject(m), a.number, a.premature, cpu_list(&cpus)),
                format!(
                    "H_JOIN returned H_SUCCESS {} times before the suspend was done; the kernel joins again each time, but a storm this size (threshold {}) means something keeps producing H_PROD or wake-ups at the parked CPUs, which stretches the join and the freeze.",
                    a.premature, th.premature_storm
                ),
                "Look for what prods the parked CPUs (paravirt spinlock contention, pending decrementer interrupts); if the attempts fail, report it with this trace.",
            )
        };
        out.push(d.done(summary, explanation, evidence(m, &[&a.evidence]), next));
    }
}

// --- suspend-retries-exhausted and migration-failed ----------------------------------------

fn exhausted(m: &MigrationSt) -> bool {
    m.gen == Gen::New && m.failed_attempts() >= MAX_SUSPEND_ATTEMPTS && m.outcome != Some(Outcome::Completed)
}

struct SuspendRetriesExhausted;

impl Rule for SuspendRetriesExhausted {
    fn kind(&self) -> FindingKind {
        FindingKind::SuspendRetriesExhausted
    }

    fn check(&self, cp: &Checkpoint<'_>, _th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::MigrationEnded { m } = cp else { return };
        if !exhausted(m) {
            return;
        }
        let errs: Vec<String> = m
            .attempts
            .iter()
            .filter_map(|a| a.result.filter(|r| *r != 0).map(code))
            .collect();
        let delays: Vec<String> = m
            .attempts
            .iter()
            .filter_map(|a| a.delay_before_ns.map(fmt_dur))
            .collect();
        let cancel = match &m.cancel {
            Some(c) if c.ret.is_none_or(|r| r == 0) => {
                "the kernel then cancelled the migration (H_VASI_SIGNAL accepted)"
            }
            Some(_) => "the kernel's cancel was rejected (see cancel-rejected)",
            None => "no cancel was seen",
        };
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Warning,
            ts: m.end_ns.unwrap_or(m.last_activity),
            window_start: m.start_ns,
            m: Some(m),
            cpus: Vec::new(),
        };
        out.push(d.done(
            format!("{}: all {} suspend attempts failed ({})", subject(m), m.failed_attempts(), errs.join(", ")),
            format!(
                "pseries_suspend tries stop_machine(do_join) up to {MAX_SUSPEND_ATTEMPTS} times, sleeping 1/10/100/1000 ms between tries (seen: {}); every try failed and {cancel}. -EAGAIN comes from ibm,suspend-me THREADS_ACTIVE (a thread did not stay parked), -EBUSY from NOT_SUSPENDABLE or outstanding coprocessor work.",
                if delays.is_empty() { "none".to_string() } else { delays.join(", ") }
            ),
            evidence(m, &[]),
            "Retry the migration from the HMC. If it keeps failing with -EAGAIN, look at premature-join findings and at CPUs that wake up during the join; with -EBUSY, quiesce coprocessor (NX/VAS) users first.",
        ));
    }
}

struct MigrationFailed;

impl Rule for MigrationFailed {
    fn kind(&self) -> FindingKind {
        FindingKind::MigrationFailed
    }

    fn check(&self, cp: &Checkpoint<'_>, _th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::MigrationEnded { m } = cp else { return };
        let outcome = m.outcome.unwrap_or(Outcome::InProgress);
        if !matches!(outcome, Outcome::Failed | Outcome::Cancelled) || exhausted(m) {
            return;
        }
        let err = last_error(m).map_or_else(|| "an error".to_string(), code);
        // rtas(2) refused before the kernel did anything: no VASI poll, no
        // attempt. Newer little-endian kernels' RTAS syscall filter does not
        // list ibm,suspend-me (seen on 6.1 and 6.12; 5.10.223 still takes
        // it), so an old drmgr (migration API v0) can never migrate there.
        let rejected_syscall = outcome == Outcome::Failed
            && m.source == Some(TriggerSource::SysRtas)
            && m.result == Some(-22)
            && m.vasi_polls == 0
            && m.attempts.is_empty();
        let d = Draft {
            kind: self.kind(),
            variant: Some(if rejected_syscall {
                "sys-rtas-rejected"
            } else if outcome == Outcome::Cancelled {
                "cancelled"
            } else {
                "failed"
            }),
            severity: Severity::Warning,
            ts: m.end_ns.unwrap_or(m.last_activity),
            window_start: m.start_ns,
            m: Some(m),
            cpus: Vec::new(),
        };
        let (explanation, advice) = if rejected_syscall {
            (
                format!(
                    "The rtas(2) system call with the ibm,suspend-me token{} returned EINVAL before the kernel polled the VASI stream: the migration never started and the platform was not touched. Newer little-endian kernels' RTAS system-call filter (CONFIG_PPC_RTAS_FILTER) does not accept ibm,suspend-me from user space (5.10 still does), so a drmgr that migrates this way (migration API v0) cannot migrate this partition.",
                    m.comm.as_deref().map(|c| format!(" (from {c})")).unwrap_or_default()
                ),
                "Update powerpc-utils so drmgr writes the stream id to /sys/kernel/mobility/migration (the kernel's migration API v1: /sys/kernel/mobility/api_version), then retry the migration from the HMC.",
            )
        } else if outcome == Outcome::Cancelled {
            (
                format!(
                    "The migration failed with {err} and the kernel cancelled it with H_VASI_SIGNAL, which the platform accepted: the partition keeps running on the source system and nothing is left pending."
                ),
                "Read the attempt errors in the timeline; retry the migration from the HMC once the cause is addressed.",
            )
        } else {
            (
                format!(
                    "The migration failed with {err} before the platform reached Suspending (last VASI state: {}), so there was nothing to cancel.",
                    m.last_vasi_state.and_then(names::vasi_state_name).unwrap_or("not seen")
                ),
                "Read the attempt errors in the timeline; retry the migration from the HMC once the cause is addressed.",
            )
        };
        out.push(d.done(
            format!(
                "{} {} ({err})",
                subject(m),
                if rejected_syscall {
                    "was refused by the kernel: sys_rtas(ibm,suspend-me) is not allowed here"
                } else if outcome == Outcome::Cancelled {
                    "failed and was cancelled"
                } else {
                    "failed"
                }
            ),
            explanation,
            evidence(m, &[m.attempts.last().map_or(&[][..], |a| &a.evidence[..])]),
            advice,
        ));
    }
}

// --- long-vasi-wait, long-blackout ------------------------------------------------------------

struct LongVasiWait;

impl Rule for LongVasiWait {
    fn kind(&self) -> FindingKind {
        FindingKind::LongVasiWait
    }

    fn check(&self, cp: &Checkpoint<'_>, th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::VasiDeadline { m, deadline } = cp else {
            return;
        };
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Warning,
            ts: *deadline,
            window_start: m.vasi_wait_start.unwrap_or(m.start_ns),
            m: Some(m),
            cpus: Vec::new(),
        };
        out.push(d.done(
            format!("{}: the stream has not reached Suspending after {} ({} polls)", subject(m), fmt_dur(th.vasi_wait_ns), m.vasi_polls),
            "The kernel polls H_VASI_STATE once a second while the stream is ENABLED (wait_for_vasi_session_suspending on 5.11+, migration_store's -EAGAIN loop before) and has no upper limit: the platform is still copying memory or the HMC side stalled.".to_string(),
            evidence(m, &[]),
            "Check the migration's progress on the HMC (lslparmigr -r lpar); a write-heavy workload slows the memory copy. Stop the migration there if it makes no progress.",
        ));
    }
}

struct LongBlackout;

impl Rule for LongBlackout {
    fn kind(&self) -> FindingKind {
        FindingKind::LongBlackout
    }

    fn check(&self, cp: &Checkpoint<'_>, th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::AttemptClosed { m, a, .. } = cp else {
            return;
        };
        if !a.suspended_ok() {
            return;
        }
        let Some(start) = a.join_start.or(a.suspend_start) else {
            return;
        };
        let end = a.wake_end.or(a.suspend_end).or(a.end_ns).unwrap_or(start);
        let dur = end.saturating_sub(start);
        if dur <= th.blackout_ns {
            return;
        }
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Warning,
            ts: end,
            window_start: a.start_ns.min(start),
            m: Some(m),
            cpus: Vec::new(),
        };
        let suspend = match (a.suspend_start, a.suspend_end) {
            (Some(s), Some(e)) => format!(", of which {} inside ibm,suspend-me", fmt_dur(e.saturating_sub(s))),
            _ => String::new(),
        };
        out.push(d.done(
            format!("{}: the partition was frozen for {} (threshold {})", subject(m), fmt_dur(dur), fmt_dur(th.blackout_ns)),
            format!(
                "From the first CPU entering the join to the last CPU leaving it the partition ran nothing{suspend}. Applications see this as a pause; timeouts shorter than it (cluster heartbeats, watchdogs) may have fired. With a monotonic clock the suspended time itself is not counted."
            ),
            evidence(m, &[&a.evidence]),
            "Compare with the HMC's reported blackout; check cluster and application logs for timeouts at this time, and raise their tolerance if migrations are routine.",
        ));
    }
}

// --- concurrent-migrations ---------------------------------------------------------------------

struct ConcurrentMigrations;

impl Rule for ConcurrentMigrations {
    fn kind(&self) -> FindingKind {
        FindingKind::ConcurrentMigrations
    }

    fn check(&self, cp: &Checkpoint<'_>, _th: &Thresholds, out: &mut Vec<Finding>) {
        let Checkpoint::Triggered { m, others, pos } = cp else {
            return;
        };
        let list: Vec<String> = others
            .iter()
            .map(|(id, s)| match s {
                Some(s) => format!("migration {id} (stream {s:#x})"),
                None => format!("migration {id}"),
            })
            .collect();
        let d = Draft {
            kind: self.kind(),
            variant: None,
            severity: Severity::Warning,
            ts: m.start_ns,
            window_start: m.start_ns,
            m: Some(m),
            cpus: Vec::new(),
        };
        out.push(d.done(
            format!("{} was triggered while {} was still running", subject(m), list.join(", ")),
            "Two writers drove the migration interface at once (two drmgr instances, a manual write to /sys/kernel/mobility/migration, or a retried sys_rtas). The kernel does not serialise them: both poll the stream and may both join, and one of them will fail or act on a stream the other already finished.".to_string(),
            vec![*pos],
            "Find the second caller (the comm in the timeline) and make sure only the HMC-driven drmgr triggers migrations.",
        ));
    }
}

// --- platform-origin notes ------------------------------------------------------------

/// The platform-origin note of a finding: which part of it is the
/// emulator's answer rather than PowerVM's. A platform that answered a VASI
/// hcall with H_FUNCTION in the finding's migration is not PowerVM (which
/// runs a VASI stream for every migration); QEMU's pseries machine answers
/// H_VASI_STATE and H_VASI_SIGNAL that way, and the session may name QEMU
/// outright (`/proc/device-tree/model`).
pub fn platform_note(f: &Finding, m: Option<&MigrationSt>, qemu: bool) -> Option<String> {
    let no_vasi = m.is_some_and(|m| m.vasi_unimplemented);
    if !qemu && !no_vasi {
        return None;
    }
    let who = if qemu {
        "This recording comes from a QEMU pseries guest."
    } else {
        "The platform answered a VASI hcall with H_FUNCTION (not implemented), which PowerVM never does during a migration: this is an emulated platform such as QEMU's pseries machine."
    };
    let what = match (f.kind, f.variant.as_deref()) {
        (FindingKind::CancelRejected, _) if m.and_then(|m| m.cancel.as_ref()).and_then(|c| c.ret) == Some(names::H_FUNCTION) => {
            "The rejected cancel is the emulator's answer: QEMU implements no VASI stream and answers every H_VASI_SIGNAL with H_FUNCTION. The kernel's side (it sent the cancel) is real; on PowerVM the same cancel is accepted."
        }
        (FindingKind::PrematureJoin, _) => {
            "QEMU's H_JOIN parks a vCPU only until its next interrupt (it is a confer-to-self), so early H_JOIN returns by the thousand are the emulator's; PowerVM holds a joined CPU until H_PROD. The kernel's handling of them (it joins again) is real."
        }
        (FindingKind::SuspendRetriesExhausted, _) | (FindingKind::MigrationFailed, Some("cancelled" | "failed")) => {
            "QEMU's ibm,suspend-me answers THREADS_ACTIVE (-9005) whenever a vCPU is awake at that moment (its H_JOIN returned early), so failed attempts there are the emulator's; the kernel's retries and cancel are real."
        }
        _ => "Platform answers in it (hcall and RTAS results) are the emulator's, not PowerVM's; what the kernel did with them is real.",
    };
    Some(format!("{who} {what}"))
}

// --- events-lost (built by the engine, which merges nearby losses) ------------------------

/// A new events-lost finding.
pub fn events_lost(count: u64, cpu: u32, first: u64, last: u64, pos: u64, migration: Option<u32>) -> Finding {
    if cpu == crate::events::DAMAGED_BLOCK_CPU {
        return Finding {
            kind: FindingKind::EventsLost,
            variant: Some("damaged-recording".into()),
            severity: Severity::Warning,
            ts_ns: first,
            window_start_ns: first,
            migration,
            stream_id: None,
            cpus: Vec::new(),
            summary: format!(
                "{count} events lost in a damaged block of the recording between {} and {}",
                fmt_ts(first),
                fmt_ts(last)
            ),
            explanation: "A block of the recording failed its checks (a torn write, a disk error, a truncated copy) and --salvage skipped it. Its events are missing from the analysis; findings whose time window overlaps it are marked inconclusive.".to_string(),
            evidence: vec![pos],
            next_step: "Look for an intact copy of the file (the flight recorder's dump, the original on the partition); `lpmtrace info FILE` lists the damaged blocks.".to_string(),
            inconclusive: false,
            inconclusive_reason: None,
            platform_note: None,
        };
    }
    Finding {
        kind: FindingKind::EventsLost,
        variant: None,
        severity: Severity::Warning,
        ts_ns: first,
        window_start_ns: first,
        migration,
        stream_id: None,
        cpus: vec![cpu],
        summary: format!("{count} events lost on cpu{cpu} between {} and {}", fmt_ts(first), fmt_ts(last)),
        explanation: "The ring buffer was full, so the kernel side dropped records and reported how many. Findings whose time window overlaps the loss are marked inconclusive: the missing records could have held a cancel, a join or a CPU transition.".to_string(),
        evidence: vec![pos],
        next_step: "Record again with a larger buffer (--buffer 64M) or leave out the busiest probes (--disable ipi.send,ipi.handle).".to_string(),
        inconclusive: false,
        inconclusive_reason: None,
            platform_note: None,
    }
}

/// Folds another loss record into an events-lost finding; `total` is the
/// running count of the group, `last` its latest drop.
pub fn merge_loss(f: &mut Finding, total: u64, cpu: u32, last: u64, pos: u64) {
    if !f.cpus.contains(&cpu) {
        f.cpus.push(cpu);
        f.cpus.sort_unstable();
    }
    if f.evidence.len() < EVIDENCE_CAP {
        f.evidence.push(pos);
    }
    let cpus: Vec<String> = f.cpus.iter().map(|c| format!("cpu{c}")).collect();
    f.summary = format!(
        "{total} events lost on {} between {} and {}",
        cpus.join(", "),
        fmt_ts(f.ts_ns),
        fmt_ts(last.max(f.ts_ns))
    );
}
