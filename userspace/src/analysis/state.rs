//! Per-migration and per-attempt state the engine builds from events, and
//! its conversion into the report model. Rules read these structs.

use crate::events::{names, TriggerSource};

use super::cpus::CpuSet;
use super::model::{Attempt, Cancel, CpuJoin, ErrorEntry, Migration, Outcome, PhaseSpan};

/// Most evidence positions kept per object (the first ones matter most).
pub const EVIDENCE_CAP: usize = 24;

/// Which LPM implementation a migration went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    /// <= 5.10.
    Old,
    /// >= 5.11.
    New,
    /// Not decided yet.
    Unknown,
}

impl Gen {
    /// Report name.
    pub fn as_str(self) -> &'static str {
        match self {
            Gen::Old => "old-path",
            Gen::New => "new-path",
            Gen::Unknown => "unknown",
        }
    }
}

/// Which event opened a migration (decides how its end is detected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opener {
    /// TriggerEnter: ends at TriggerExit.
    Trigger,
    /// MigrateEnter (trigger probe missing): ends at MigrateExit.
    Migrate,
    /// Old-path SuspendEnter (trigger probe missing): ends at a
    /// non-EAGAIN SuspendExit.
    Suspend,
    /// An hcall, RTAS or join event: ends after a quiet period.
    Inferred,
}

/// Pushes a position unless the list is full.
pub fn note(evidence: &mut Vec<u64>, pos: u64) {
    if evidence.len() < EVIDENCE_CAP && evidence.last() != Some(&pos) {
        evidence.push(pos);
    }
}

/// Name of a return value the way the kernel would mean it.
pub fn ret_name(code: i64) -> Option<String> {
    if code == 0 {
        return Some("success".into());
    }
    // errno_name negates its argument: keep i64::MIN (a corrupt record)
    // away from it.
    (code != i64::MIN)
        .then(|| names::errno_name(code))
        .flatten()
        .or_else(|| names::hcall_ret_name(code))
        .or_else(|| i32::try_from(code).ok().and_then(names::rtas_suspend_status_name))
        .map(str::to_string)
}

/// An error with its origin.
pub fn error(ts: u64, source: &str, code: i64, cpu: u32) -> ErrorEntry {
    // Name the code in the domain it comes from: hcall returns, RTAS
    // status, or kernel errnos (which may carry raw codes on old kernels).
    let name = if source.starts_with("H_") {
        names::hcall_ret_name(code).map(str::to_string)
    } else if source == "ibm,suspend-me" {
        i32::try_from(code)
            .ok()
            .and_then(names::rtas_suspend_status_name)
            .map(str::to_string)
    } else {
        None
    };
    ErrorEntry {
        ts_ns: ts,
        source: source.to_string(),
        code,
        name: name.or_else(|| ret_name(code)),
        cpu,
    }
}

/// One CPU's part in a join.
#[derive(Clone, Debug)]
pub struct JoinSt {
    /// Public part.
    pub pub_: CpuJoin,
    /// Left the join (JoinExit or H_JOIN return after done).
    pub left: bool,
    /// Returned prematurely and has not called H_JOIN again yet.
    pub pending_premature: bool,
    /// Entered through a `do_join` entry event: its `do_join` return will
    /// be seen too, and only that means it left. (A CPU that read
    /// `info->done` just before it was set calls H_JOIN once more after
    /// the wake-up: seen in QEMU pseries guests on 6.1 and 6.12.)
    pub in_do_join: bool,
}

/// One attempt.
#[derive(Clone, Debug)]
pub struct AttemptSt {
    /// 1-based (among counted attempts).
    pub number: u32,
    /// Start time and position.
    pub start_ns: u64,
    /// Stream position of the first event.
    pub start_pos: u64,
    /// End.
    pub end_ns: Option<u64>,
    /// Time since the previous attempt.
    pub delay_before_ns: Option<u64>,
    /// Result.
    pub result: Option<i64>,
    /// The result was inferred (not read from a return probe).
    pub result_inferred: bool,
    /// Errors.
    pub errors: Vec<ErrorEntry>,
    /// Online CPUs when the join started.
    pub expected: CpuSet,
    /// CPUs that entered the join.
    pub joined: CpuSet,
    /// Per-CPU details, in join order.
    pub joins: Vec<JoinSt>,
    /// First join event (time).
    pub join_start: Option<u64>,
    /// H_CONTINUE (all CPUs joined) time.
    pub gather_end: Option<u64>,
    /// CPU that got H_CONTINUE.
    pub continue_cpu: Option<u32>,
    /// The suspend (ibm,suspend-me) started.
    pub suspend_start: Option<u64>,
    /// ibm,suspend-me returned.
    pub suspend_end: Option<u64>,
    /// ibm,suspend-me status.
    pub rtas_status: Option<i32>,
    /// The suspend is done (success or error): later H_JOIN successes are
    /// wake-ups, not premature.
    pub done_ns: Option<u64>,
    /// All joined CPUs left the join.
    pub wake_end: Option<u64>,
    /// Premature H_JOIN returns.
    pub premature: u32,
    /// CPUs with premature returns.
    pub premature_cpus: CpuSet,
    /// CPUs that left the join after a premature return (5.11 behaviour).
    pub unhandled_cpus: CpuSet,
    /// H_PROD calls.
    pub prods: u32,
    /// Join-stall deadline already evaluated.
    pub stall_checked: bool,
    /// VASI state seen by this attempt (old path: its own check).
    pub vasi_state: Option<u64>,
    /// Positions of the key events.
    pub evidence: Vec<u64>,
    /// Closed (no more events belong to it).
    pub closed: bool,
    /// Opened by a VASI poll (old path without the suspend probe).
    pub by_vasi: bool,
    /// First failure a do_join / handler return would carry.
    pub fail_ret: Option<i64>,
}

impl AttemptSt {
    /// A new attempt starting at `ts`.
    pub fn new(ts: u64, pos: u64, delay_before_ns: Option<u64>) -> Self {
        AttemptSt {
            number: 0,
            start_ns: ts,
            start_pos: pos,
            end_ns: None,
            delay_before_ns,
            result: None,
            result_inferred: false,
            errors: Vec::new(),
            expected: CpuSet::default(),
            joined: CpuSet::default(),
            joins: Vec::new(),
            join_start: None,
            gather_end: None,
            continue_cpu: None,
            suspend_start: None,
            suspend_end: None,
            rtas_status: None,
            done_ns: None,
            wake_end: None,
            premature: 0,
            premature_cpus: CpuSet::default(),
            unhandled_cpus: CpuSet::default(),
            prods: 0,
            stall_checked: false,
            vasi_state: None,
            evidence: vec![pos],
            closed: false,
            by_vasi: false,
            fail_ret: None,
        }
    }

    /// Join record of `cpu`.
    pub fn join_mut(&mut self, cpu: u32) -> Option<&mut JoinSt> {
        self.joins.iter_mut().find(|j| j.pub_.cpu == cpu)
    }

    /// Whether the join activity started.
    pub fn joining(&self) -> bool {
        self.join_start.is_some()
    }

    /// The suspend window is over and every joined CPU left the join.
    pub fn wake_complete(&self) -> bool {
        self.done_ns.is_some()
            && self
                .joins
                .iter()
                .all(|j| j.left || (Some(j.pub_.cpu) == self.continue_cpu && !j.in_do_join))
    }

    /// Expected CPUs that have not joined.
    pub fn missing(&self) -> CpuSet {
        self.expected.difference(&self.joined)
    }

    /// Whether the partition suspended (ibm,suspend-me returned 0).
    pub fn suspended_ok(&self) -> bool {
        self.rtas_status == Some(0) || (self.result == Some(0) && self.suspend_start.is_some())
    }

    /// Report form.
    pub fn to_model(&self) -> Attempt {
        let mut phases = Vec::new();
        if let Some(js) = self.join_start {
            let end = self.gather_end.or(self.suspend_start).or(self.done_ns).or(self.end_ns);
            phases.push(PhaseSpan {
                name: "join".into(),
                start_ns: js,
                end_ns: end,
            });
        }
        if let Some(ss) = self.suspend_start.or(self.gather_end) {
            phases.push(PhaseSpan {
                name: "suspend".into(),
                start_ns: ss,
                end_ns: self.suspend_end.or(self.done_ns),
            });
        }
        if let Some(done) = self.done_ns {
            phases.push(PhaseSpan {
                name: "wake".into(),
                start_ns: done,
                end_ns: self.wake_end.or(self.end_ns),
            });
        }
        Attempt {
            number: self.number,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            delay_before_ns: self.delay_before_ns,
            result: self.result,
            result_name: self.result.and_then(ret_name),
            phases,
            errors: self.errors.clone(),
            cpus_expected: self.expected.to_vec(),
            cpus_joined: self.joined.to_vec(),
            joins: self.joins.iter().map(|j| j.pub_.clone()).collect(),
            rtas_status: self.rtas_status,
            premature_joins: self.premature,
            prods: self.prods,
        }
    }
}

/// One migration.
#[derive(Clone, Debug)]
pub struct MigrationSt {
    /// 1-based id.
    pub id: u32,
    /// Stream id.
    pub stream_id: Option<u64>,
    /// Path.
    pub gen: Gen,
    /// Trigger.
    pub source: Option<TriggerSource>,
    /// Trigger comm.
    pub comm: Option<String>,
    /// Thread that triggered (runs the VASI polls and the cancel).
    pub tid: Option<u32>,
    /// How it was opened.
    pub opener: Opener,
    /// Start.
    pub start_ns: u64,
    /// Position of the first event.
    pub start_pos: u64,
    /// End.
    pub end_ns: Option<u64>,
    /// Final return value.
    pub result: Option<i64>,
    /// Outcome once ended.
    pub outcome: Option<Outcome>,
    /// Counted attempts (closed ones) and the open one (last, not closed).
    pub attempts: Vec<AttemptSt>,
    /// VASI polls.
    pub vasi_polls: u32,
    /// First ENABLED poll (wait start).
    pub vasi_wait_start: Option<u64>,
    /// When the wait ended.
    pub vasi_wait_end: Option<u64>,
    /// Long wait already evaluated.
    pub vasi_wait_checked: bool,
    /// Last state seen.
    pub last_vasi_state: Option<u64>,
    /// The platform may be in Suspending (state seen, join started, or a
    /// poll failed so the state is unknown).
    pub may_suspend: bool,
    /// A suspend succeeded.
    pub suspended_ok: bool,
    /// Post-migration started.
    pub post_start: Option<u64>,
    /// The cancel.
    pub cancel: Option<Cancel>,
    /// Errors outside attempts.
    pub errors: Vec<ErrorEntry>,
    /// Events lost while it ran.
    pub events_lost: u64,
    /// Last event that belonged to it.
    pub last_activity: u64,
    /// Positions of the key events.
    pub evidence: Vec<u64>,
    /// End of the last closed attempt (for retry delays).
    pub last_attempt_end: Option<u64>,
    /// The platform answered a VASI hcall with H_FUNCTION: it does not
    /// implement the VASI stream, which PowerVM always does for a
    /// migration (QEMU's pseries machine does not).
    pub vasi_unimplemented: bool,
}

impl MigrationSt {
    /// A migration opened at `ts`.
    pub fn new(id: u32, ts: u64, pos: u64, opener: Opener, gen: Gen) -> Self {
        MigrationSt {
            id,
            stream_id: None,
            gen,
            source: None,
            comm: None,
            tid: None,
            opener,
            start_ns: ts,
            start_pos: pos,
            end_ns: None,
            result: None,
            outcome: None,
            attempts: Vec::new(),
            vasi_polls: 0,
            vasi_wait_start: None,
            vasi_wait_end: None,
            vasi_wait_checked: false,
            last_vasi_state: None,
            may_suspend: false,
            suspended_ok: false,
            post_start: None,
            cancel: None,
            errors: Vec::new(),
            events_lost: 0,
            last_activity: ts,
            evidence: vec![pos],
            last_attempt_end: None,
            vasi_unimplemented: false,
        }
    }

    /// Still running.
    pub fn open(&self) -> bool {
        self.end_ns.is_none()
    }

    /// The open attempt.
    pub fn cur(&mut self) -> Option<&mut AttemptSt> {
        self.attempts.last_mut().filter(|a| !a.closed)
    }

    /// The open attempt (shared).
    pub fn cur_ref(&self) -> Option<&AttemptSt> {
        self.attempts.last().filter(|a| !a.closed)
    }

    /// Attempts that ended in failure.
    pub fn failed_attempts(&self) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.closed && a.result.is_some_and(|r| r != 0))
            .count()
    }

    /// Report form.
    pub fn to_model(&self) -> Migration {
        let mut phases = Vec::new();
        if let Some(ws) = self.vasi_wait_start {
            phases.push(PhaseSpan {
                name: "vasi-wait".into(),
                start_ns: ws,
                end_ns: self.vasi_wait_end.or(self.end_ns),
            });
        }
        let mut prev_end: Option<u64> = None;
        for a in &self.attempts {
            if let Some(pe) = prev_end {
                phases.push(PhaseSpan {
                    name: "retry-wait".into(),
                    start_ns: pe,
                    end_ns: Some(a.start_ns),
                });
            }
            phases.push(PhaseSpan {
                name: format!("attempt-{}", a.number),
                start_ns: a.start_ns,
                end_ns: a.end_ns,
            });
            prev_end = a.end_ns;
        }
        if let Some(ps) = self.post_start {
            phases.push(PhaseSpan {
                name: "post".into(),
                start_ns: ps,
                end_ns: self.end_ns,
            });
        }
        if let Some(c) = &self.cancel {
            phases.push(PhaseSpan {
                name: "cancel".into(),
                start_ns: c.ts_ns,
                end_ns: self.end_ns,
            });
        }
        Migration {
            id: self.id,
            stream_id: self.stream_id,
            path: self.gen.as_str().into(),
            trigger: match self.source {
                Some(TriggerSource::Sysfs) => "sysfs",
                Some(TriggerSource::SyscallDispatch) => "syscall-dispatch",
                Some(TriggerSource::SysRtas) => "sys-rtas",
                _ => "unknown",
            }
            .into(),
            comm: self.comm.clone(),
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            outcome: self.outcome.unwrap_or(Outcome::InProgress),
            result: self.result,
            attempts: self.attempts.iter().map(AttemptSt::to_model).collect(),
            phases,
            vasi_polls: self.vasi_polls,
            last_vasi_state: self
                .last_vasi_state
                .map(|s| names::vasi_state_name(s).map_or_else(|| s.to_string(), str::to_string)),
            cancel: self.cancel.clone(),
            errors: self.errors.clone(),
            events_lost: self.events_lost,
        }
    }
}
