//! The engine: events in (time order), state machines advanced, rules run
//! at checkpoints, findings out. Pure: no I/O, no wall clock. Time only
//! moves with event timestamps and [`Engine::advance_to`], and timeouts are
//! evaluated on that clock, so a live session and a replay of its recording
//! produce the same findings.
//!
//! Hot path: IPI events touch one or two per-CPU counters and return; the
//! migration machinery runs only for the rare LPM, hotplug and loss events,
//! and deadlines are checked against one cached minimum.

use crate::events::{
    names::{self, H_CONTINUE, H_JOIN, H_PROD, H_SUCCESS, H_VASI_SIGNAL, H_VASI_STATE},
    session::{parse_cpu_list, CoverageStatus, KernelGeneration, SessionInfo},
    Event, EventKind, IpiSendVia, JoinPath, TriggerSource,
};

use super::cpus::{CpuState, CpuTracker, MaskSteps};
use super::model::{Cancel, CpuSummary, Finding, FindingKind, Outcome, Report, SCHEMA_VERSION};
use super::rules::{self, Checkpoint, RULES};
use super::state::{error, note, AttemptSt, Gen, JoinSt, MigrationSt, Opener};
use super::Thresholds;

/// VASI states (H_VASI_STATE retbuf[0]).
pub(crate) mod vasi {
    pub const INVALID: u64 = 0;
    pub const ENABLED: u64 = 1;
    pub const ABORTED: u64 = 2;
    pub const SUSPENDING: u64 = 3;
    pub const COMPLETED: u64 = 6;
}

const EAGAIN: i64 = -11;
const EBUSY: i64 = -16;
const EIO: i64 = -5;
/// Kernel addresses on ppc64 start here; old kernels pass a stream id.
const KERNEL_POINTER: u64 = 0xc000_0000_0000_0000;
/// Loss records closer than this share one events-lost finding.
const LOSS_MERGE_NS: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
struct Loss {
    first: u64,
    last: u64,
    count: u64,
    cpu: u32,
}

#[derive(Clone, Copy, Debug)]
struct LossGroup {
    first: u64,
    last: u64,
    total: u64,
}

#[derive(Clone, Copy, Debug)]
struct CpuDownReq {
    tid: u32,
    cpu: Option<u32>,
    ts: u64,
    pos: u64,
}

/// The analysis engine. See the module docs of [`crate::analysis`].
pub struct Engine {
    th: Thresholds,
    session_gen: Gen,
    missing: Vec<String>,
    suspend_token: Option<u32>,
    ipi_handle_attached: bool,
    hcall_attached: bool,
    /// See [`rejoins_after_premature`].
    rejoins: Option<bool>,
    /// The ipi.send probe has a cause_ipi hook next to
    /// smp_call_function_many: an on_each_cpu shows up on both.
    cause_ipi_attached: bool,
    /// The session's platform is QEMU's pseries machine.
    platform_qemu: bool,
    cpus: CpuTracker,
    migrations: Vec<MigrationSt>,
    open: Vec<usize>,
    findings: Vec<Finding>,
    losses: Vec<Loss>,
    loss_group: Option<LossGroup>,
    down_reqs: Vec<CpuDownReq>,
    events: u64,
    lost_records: u64,
    events_lost: u64,
    first_ts: Option<u64>,
    clock: u64,
    next_deadline: u64,
}

/// The CPU table as the kernel described it at the start: the online
/// mask (who is owed an H_JOIN, whether it says anything before the join or
/// not) and the cpuhp steps that move a CPU across it.
fn cpu_tracker(session: &SessionInfo) -> CpuTracker {
    let steps = MaskSteps::from_states(session.hotplug_states.iter().map(|s| (s.idx, s.name.as_str())));
    let tracker = CpuTracker::new(session.cpu_count).with_steps(steps);
    match &session.cpu_masks {
        Some(m) if !m.online.is_empty() => {
            let online = parse_cpu_list(&m.online);
            let mut known = parse_cpu_list(&m.present);
            known.extend(parse_cpu_list(&m.possible));
            tracker.with_masks(&online, &known)
        }
        _ => tracker,
    }
}

/// Whether this kernel's join code calls H_JOIN again after a premature
/// H_SUCCESS: the old path's loop does, 5.12+ do (274cb1ca2e7c), 5.11
/// returns from do_join. None: a new-path kernel older than 5.12 by its
/// version (a distribution kernel may carry the fix).
fn rejoins_after_premature(session: &SessionInfo) -> Option<bool> {
    match (session.generation, session.kernel_version()) {
        (KernelGeneration::OldPath, _) => Some(true),
        (_, Some(v)) if v >= (5, 12) => Some(true),
        (KernelGeneration::NewPath, Some((5, 11))) => Some(false),
        _ => None,
    }
}

/// One of `hooks` is attached for `probe` (coverage manifest).
fn hook_attached(session: &SessionInfo, probe: &str, hooks: &[&str]) -> bool {
    session.probe_coverage(probe).is_some_and(|c| match &c.status {
        CoverageStatus::Attached { hooks: got, .. } => got.iter().any(|h| hooks.contains(&h.as_str())),
        _ => false,
    })
}

fn attached(session: &SessionInfo, probe: &str) -> bool {
    session.probe_coverage(probe).is_none_or(|c| c.attached())
}

impl Engine {
    /// An engine for one session.
    pub fn new(session: &SessionInfo, thresholds: Thresholds) -> Self {
        let session_gen = match session.generation {
            KernelGeneration::OldPath => Gen::Old,
            KernelGeneration::NewPath => Gen::New,
            _ => Gen::Unknown,
        };
        let missing = session
            .coverage
            .iter()
            .filter(|c| !c.attached())
            .map(|c| c.probe.clone())
            .collect();
        Engine {
            th: thresholds,
            session_gen,
            missing,
            suspend_token: session.suspend_me_token,
            ipi_handle_attached: attached(session, "ipi.handle"),
            hcall_attached: attached(session, "lpm.hcall"),
            rejoins: rejoins_after_premature(session),
            platform_qemu: session.platform_is_qemu(),
            cause_ipi_attached: hook_attached(
                session,
                "ipi.send",
                &["kprobe:xive_cause_ipi", "kprobe:icp_hv_cause_ipi"],
            ),
            cpus: cpu_tracker(session),
            migrations: Vec::new(),
            open: Vec::new(),
            findings: Vec::new(),
            losses: Vec::new(),
            loss_group: None,
            down_reqs: Vec::new(),
            events: 0,
            lost_records: 0,
            events_lost: 0,
            first_ts: None,
            clock: 0,
            next_deadline: u64::MAX,
        }
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> &Thresholds {
        &self.th
    }

    /// Findings so far, in report order.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Events pushed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Every CPU down/up operation so far, in start order; a down ends
    /// when the CPU left the online mask, an up when it joined it.
    pub fn cpu_transitions(&self) -> &[super::cpus::Transition] {
        &self.cpus.transitions
    }

    /// Feeds one event. Events must come in time order; an event older
    /// than the clock is analysed at the clock's time.
    #[inline]
    pub fn push(&mut self, ev: &Event) {
        let pos = self.events;
        self.events += 1;
        let ts = ev.ts_ns.max(self.clock);
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        if ts > self.next_deadline {
            self.run_deadlines(ts);
        }
        self.clock = ts;
        match ev.kind {
            EventKind::IpiSend { target_cpu, .. } => {
                self.seen_ipi_sender(ev.cpu);
                if let Some(t) = self.cpus.get(target_cpu) {
                    t.ipis_received += 1;
                    t.ipi_pending = (ts.max(1), pos, ev.tid);
                }
            }
            EventKind::IpiSendMask { mask, via, .. } => {
                // smp_call_function_many says who is asked; the cause_ipi
                // probe then sees each IPI the arch code really sends (one
                // per target whose queue was empty). Count those, once.
                let counted = !(self.cause_ipi_attached && via == IpiSendVia::CallFunctionMany);
                if counted {
                    self.seen_ipi_sender(ev.cpu);
                } else if let Some(c) = self.cpus.get(ev.cpu) {
                    mark_seen(c);
                }
                for (w, &word) in mask.0.iter().enumerate() {
                    let mut bits = word;
                    while bits != 0 {
                        let cpu = w as u32 * 64 + bits.trailing_zeros();
                        bits &= bits - 1;
                        if let Some(t) = self.cpus.get(cpu) {
                            t.ipis_received += u64::from(counted);
                            t.ipi_pending = (ts.max(1), pos, ev.tid);
                        }
                    }
                }
            }
            EventKind::IpiHandleEnter { .. } => {
                if let Some(c) = self.cpus.get(ev.cpu) {
                    mark_seen(c);
                    c.ipis_handled += 1;
                    c.ipi_pending = (0, 0, 0);
                }
            }
            EventKind::IpiHandleExit { .. } => {
                if let Some(c) = self.cpus.get(ev.cpu) {
                    mark_seen(c);
                }
            }
            // IPIs counted outside the IPI window: they add to the CPU's
            // totals; who received them is not known.
            EventKind::IpiTally { sent, handled } => {
                if let Some(c) = self.cpus.get(ev.cpu) {
                    mark_seen(c);
                    c.ipis_sent = c.ipis_sent.saturating_add(sent);
                    c.ipis_handled = c.ipis_handled.saturating_add(handled);
                }
            }
            _ => self.slow(ev, ts, pos),
        }
    }

    #[inline]
    fn seen_ipi_sender(&mut self, cpu: u32) {
        if let Some(c) = self.cpus.get(cpu) {
            mark_seen(c);
            c.ipis_sent += 1;
        }
    }

    /// Moves the event clock to `now_ns` (live mode: wall time while no
    /// events arrive) and evaluates the timeouts that expired.
    pub fn advance_to(&mut self, now_ns: u64) {
        if now_ns > self.next_deadline {
            self.run_deadlines(now_ns);
        }
        self.clock = self.clock.max(now_ns);
    }

    /// The report as of now (open migrations show as in progress).
    pub fn snapshot(&self) -> Report {
        let mut cpus = Vec::new();
        for (i, c) in self.cpus.cpus.iter().enumerate() {
            if !c.seen && c.state == CpuState::Unknown && c.ipis_received == 0 {
                continue;
            }
            cpus.push(CpuSummary {
                cpu: i as u32,
                state: c.state.as_str().into(),
                ipis_sent: c.ipis_sent,
                ipis_received: c.ipis_received,
                ipis_handled: c.ipis_handled,
                offline_count: c.offline_count,
                online_count: c.online_count,
                joins: c.joins,
            });
        }
        Report {
            schema_version: SCHEMA_VERSION,
            events: self.events,
            lost_records: self.lost_records,
            events_lost: self.events_lost,
            first_ts_ns: self.first_ts,
            last_ts_ns: self.first_ts.map(|_| self.clock),
            migrations: self.migrations.iter().map(MigrationSt::to_model).collect(),
            findings: self.findings.clone(),
            cpus,
            missing_probes: self.missing.clone(),
        }
    }

    /// Ends the analysis: migrations seen only through hcalls are closed at
    /// their last event; others still open stay "in progress".
    pub fn finish(mut self) -> Report {
        let open = self.open.clone();
        for idx in open {
            let m = &self.migrations[idx];
            if m.opener == Opener::Inferred && m.cur_ref().is_none() {
                let at = m.last_activity;
                self.end_migration(idx, at, None, None);
            }
        }
        self.snapshot()
    }

    // --- dispatch -------------------------------------------------------------

    fn slow(&mut self, ev: &Event, ts: u64, pos: u64) {
        if let Some(c) = self.cpus.get(ev.cpu) {
            mark_seen(c);
        }
        match ev.kind {
            EventKind::Lost {
                count,
                first_ts_ns,
                last_ts_ns,
            } => self.on_lost(ev.cpu, count, first_ts_ns, last_ts_ns, ts, pos),
            EventKind::TriggerEnter {
                source,
                stream_id,
                comm,
            } => self.on_trigger(ev, source, stream_id, comm.as_text(), ts, pos),
            EventKind::TriggerExit { source, ret } => self.on_trigger_exit(ev.tid, source, ret, ts, pos),
            EventKind::MigrateEnter { handle } => {
                let idx = self.by_tid(ev.tid).or_else(|| self.by_handle(handle));
                let idx = idx.unwrap_or_else(|| self.open_migration(ts, pos, Opener::Migrate, Gen::New, Some(ev.tid)));
                let m = &mut self.migrations[idx];
                m.gen = Gen::New;
                m.stream_id.get_or_insert(handle);
                m.tid.get_or_insert(ev.tid);
                touch(m, ts, pos);
            }
            EventKind::MigrateExit { ret } => {
                if let Some(idx) = self.by_tid(ev.tid) {
                    touch(&mut self.migrations[idx], ts, pos);
                    if ret != 0 {
                        let m = &mut self.migrations[idx];
                        m.errors.push(error(ts, "pseries_migrate_partition", ret, ev.cpu));
                    }
                    if self.migrations[idx].opener == Opener::Migrate {
                        self.end_migration(idx, ts, Some(ret), Some(pos));
                    }
                }
            }
            EventKind::SuspendEnter { arg0 } => self.on_suspend_enter(ev, arg0, ts, pos),
            EventKind::SuspendExit { ret } => self.on_suspend_exit(ev, ret, ts, pos),
            EventKind::JoinEnter { path } => {
                let gen = match path {
                    JoinPath::DoJoin => Gen::New,
                    JoinPath::PercpuSuspendMe => Gen::Old,
                    JoinPath::Unknown => Gen::Unknown,
                };
                let idx = self.joining_or_open(ts, pos, gen);
                if gen != Gen::Unknown {
                    self.migrations[idx].gen = gen;
                }
                self.cpu_join(idx, ev.cpu, ts, pos);
                if path == JoinPath::DoJoin {
                    if let Some(j) = self.migrations[idx].cur().and_then(|a| a.join_mut(ev.cpu)) {
                        j.in_do_join = true;
                    }
                }
            }
            EventKind::JoinExit { ret, .. } => self.on_join_exit(ev.cpu, ret, ts, pos),
            EventKind::HcallEnter { opcode, args } => match opcode {
                H_JOIN => {
                    let idx = self.joining_or_open(ts, pos, Gen::Unknown);
                    self.cpu_join(idx, ev.cpu, ts, pos);
                    if let Some(a) = self.migrations[idx].cur() {
                        if let Some(j) = a.join_mut(ev.cpu) {
                            j.pub_.h_join_calls = j.pub_.h_join_calls.saturating_add(1);
                            j.pending_premature = false;
                        }
                    }
                }
                H_PROD => self.on_prod(ev.cpu, ts),
                H_VASI_STATE => self.on_vasi_enter(ev, args[0], ts, pos),
                H_VASI_SIGNAL => self.on_signal_enter(ev, args, ts, pos),
                _ => {}
            },
            EventKind::HcallExit {
                opcode,
                retval,
                retbuf0,
            } => match opcode {
                H_JOIN => self.on_join_ret(ev.cpu, retval, ts, pos),
                H_VASI_STATE => self.on_vasi_exit(ev, retval, retbuf0, ts, pos),
                H_VASI_SIGNAL => self.on_signal_exit(ev, retval, ts, pos),
                _ => {}
            },
            EventKind::RtasEnter { token } => {
                if self.suspend_token.is_some_and(|t| t != token) {
                    return;
                }
                if let Some(idx) = self.joining() {
                    let m = &mut self.migrations[idx];
                    touch(m, ts, pos);
                    let a = match m.cur() {
                        Some(a) => a,
                        None => return,
                    };
                    a.suspend_start.get_or_insert(ts);
                    a.gather_end.get_or_insert(ts);
                    a.continue_cpu.get_or_insert(ev.cpu);
                    note(&mut a.evidence, pos);
                }
            }
            EventKind::RtasExit { token, status } => {
                if self.suspend_token.is_some_and(|t| t != token) {
                    return;
                }
                self.on_rtas_exit(ev.cpu, status, ts, pos);
            }
            EventKind::CpumaskEnter { .. } => {
                if let Some(idx) = self.by_tid(ev.tid) {
                    touch(&mut self.migrations[idx], ts, pos);
                }
            }
            EventKind::CpumaskExit { op, ret } => {
                if let Some(idx) = self.by_tid(ev.tid) {
                    let m = &mut self.migrations[idx];
                    touch(m, ts, pos);
                    if ret != 0 {
                        let what = match op {
                            crate::events::CpumaskOp::Online => "rtas_online_cpus_mask",
                            crate::events::CpumaskOp::Offline => "rtas_offline_cpus_mask",
                            crate::events::CpumaskOp::Unknown => "rtas cpumask helper",
                        };
                        let e = error(ts, what, ret as i64, ev.cpu);
                        match m.cur() {
                            Some(a) => {
                                a.errors.push(e);
                                a.fail_ret.get_or_insert(ret as i64);
                                note(&mut a.evidence, pos);
                            }
                            None => m.errors.push(e),
                        }
                    }
                }
            }
            EventKind::HotplugEnter {
                target_cpu,
                target,
                idx,
                ..
            } => {
                self.cpus.hotplug_enter(target_cpu, target, idx, ts, pos);
            }
            EventKind::HotplugExit {
                target_cpu,
                state,
                idx,
                ret,
            } => {
                if self.cpus.hotplug_exit(target_cpu, state, idx, ret, ts) == Some(true) {
                    self.cpu_went_offline(target_cpu, ts, pos);
                }
            }
            EventKind::CpuOnline { target_cpu, online, .. } => {
                if self.cpus.set_online(target_cpu, online, ts, pos) && !online {
                    self.cpu_went_offline(target_cpu, ts, pos);
                }
            }
            EventKind::CpuDownEnter { target_cpu, .. } => {
                if self.down_reqs.len() < 4096 {
                    self.down_reqs.push(CpuDownReq {
                        tid: ev.tid,
                        cpu: target_cpu,
                        ts,
                        pos,
                    });
                }
            }
            EventKind::CpuDownExit { ret, .. } => self.on_cpu_down_exit(ev.tid, ret, ts, pos),
            EventKind::IpiSend { .. }
            | EventKind::IpiSendMask { .. }
            | EventKind::IpiHandleEnter { .. }
            | EventKind::IpiHandleExit { .. }
            | EventKind::IpiTally { .. } => {}
        }
        self.recompute_deadline();
    }

    // --- migration lookup -------------------------------------------------------

    fn by_tid(&self, tid: u32) -> Option<usize> {
        self.open
            .iter()
            .rev()
            .copied()
            .find(|&i| self.migrations[i].tid == Some(tid))
    }

    fn by_handle(&self, handle: u64) -> Option<usize> {
        self.open
            .iter()
            .rev()
            .copied()
            .find(|&i| self.migrations[i].stream_id == Some(handle))
    }

    /// The open migration whose attempt is in the join, else the latest open.
    fn joining(&self) -> Option<usize> {
        // Prefer the migration already in a join, then one whose stream was
        // last seen Suspending (the kernel joins right after), then the
        // latest one.
        let rank = |i: usize| {
            let m = &self.migrations[i];
            if m.cur_ref().is_some_and(|a| a.joining()) {
                2
            } else if m.last_vasi_state == Some(vasi::SUSPENDING) && !m.suspended_ok {
                1
            } else {
                0
            }
        };
        let best = self.open.iter().map(|&i| rank(i)).max()?;
        self.open.iter().rev().copied().find(|&i| rank(i) == best)
    }

    fn joining_or_open(&mut self, ts: u64, pos: u64, gen: Gen) -> usize {
        match self.joining() {
            Some(i) => i,
            None => self.open_migration(ts, pos, Opener::Inferred, gen, None),
        }
    }

    fn open_migration(&mut self, ts: u64, pos: u64, opener: Opener, gen: Gen, tid: Option<u32>) -> usize {
        let id = self.migrations.len() as u32 + 1;
        let gen = if gen == Gen::Unknown { self.session_gen } else { gen };
        let mut m = MigrationSt::new(id, ts, pos, opener, gen);
        m.tid = tid;
        // Without the hcall probe the stream state is never seen: assume
        // the worst (findings that rely on it are marked inconclusive).
        m.may_suspend = !self.hcall_attached;
        self.migrations.push(m);
        let idx = self.migrations.len() - 1;
        self.open.push(idx);
        idx
    }

    // --- triggers and ends ------------------------------------------------------

    fn on_trigger(
        &mut self,
        ev: &Event,
        source: TriggerSource,
        stream_id: Option<u64>,
        comm: String,
        ts: u64,
        pos: u64,
    ) {
        let others: Vec<(u32, Option<u64>)> = self
            .open
            .iter()
            .map(|&i| (self.migrations[i].id, self.migrations[i].stream_id))
            .collect();
        let gen = if source == TriggerSource::SyscallDispatch {
            Gen::New
        } else {
            Gen::Unknown
        };
        let idx = self.open_migration(ts, pos, Opener::Trigger, gen, Some(ev.tid));
        let m = &mut self.migrations[idx];
        m.source = Some(source);
        m.stream_id = stream_id;
        m.comm = Some(comm);
        if !others.is_empty() {
            let m = &self.migrations[idx];
            let mut out = Vec::new();
            run_rules(
                &Checkpoint::Triggered {
                    m,
                    others: &others,
                    pos,
                },
                &self.th,
                &mut out,
            );
            self.add_findings(out);
        }
    }

    fn on_trigger_exit(&mut self, tid: u32, source: TriggerSource, ret: i64, ts: u64, pos: u64) {
        let Some(idx) = self.by_tid(tid) else { return };
        if self.migrations[idx].opener != Opener::Trigger {
            return;
        }
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        // sys_rtas returns 0 and puts the status in rets[0]: use what the
        // suspend returned when it was seen.
        let result = if source == TriggerSource::SysRtas && ret == 0 {
            match m
                .cur_ref()
                .and_then(|a| a.result)
                .or_else(|| m.attempts.last().and_then(|a| a.result))
            {
                Some(r) => r,
                None if m.suspended_ok => 0,
                None if m.gen == Gen::Old && !m.attempts.is_empty() => -9004,
                None => 0,
            }
        } else {
            ret
        };
        if result < 0 {
            let e = error(ts, "trigger", result, 0);
            self.migrations[idx].errors.push(e);
        }
        self.end_migration(idx, ts, Some(result), Some(pos));
    }

    /// Closes the migration: attempt, outcome, end-of-migration rules.
    fn end_migration(&mut self, idx: usize, ts: u64, result: Option<i64>, pos: Option<u64>) {
        if self.migrations[idx].cur_ref().is_some() {
            self.close_attempt(idx, ts, result.filter(|r| *r < 0), true);
        }
        let m = &mut self.migrations[idx];
        if let Some(p) = pos {
            note(&mut m.evidence, p);
        }
        m.end_ns = Some(ts);
        m.result = result;
        let success = match (result, m.source) {
            (Some(r), _) => r >= 0,
            (None, _) => m.suspended_ok,
        };
        let outcome = if let Some(c) = &m.cancel {
            if c.ret.is_none_or(|r| r == 0) {
                Outcome::Cancelled
            } else {
                Outcome::CancelRejected
            }
        } else if success {
            Outcome::Completed
        } else if m.may_suspend {
            Outcome::Unterminated
        } else {
            Outcome::Failed
        };
        m.outcome = Some(outcome);
        if m.vasi_wait_start.is_some() && m.vasi_wait_end.is_none() {
            m.vasi_wait_end = Some(ts);
        }
        self.open.retain(|&i| i != idx);
        let mut out = Vec::new();
        run_rules(
            &Checkpoint::MigrationEnded {
                m: &self.migrations[idx],
            },
            &self.th,
            &mut out,
        );
        self.add_findings(out);
    }

    // --- attempts ---------------------------------------------------------------

    fn start_attempt(&mut self, idx: usize, ts: u64, pos: u64) -> &mut AttemptSt {
        let m = &mut self.migrations[idx];
        let delay = m.last_attempt_end.map(|e| ts.saturating_sub(e));
        let mut a = AttemptSt::new(ts, pos, delay);
        // Numbered from the start, so an attempt still open when the trace
        // ends (a hang) is "attempt N" like the others.
        a.number = m.attempts.iter().filter(|a| a.closed).count() as u32 + 1;
        m.attempts.push(a);
        m.attempts.last_mut().expect("just pushed")
    }

    /// Closes the open attempt. `hint` is the result when nothing better is
    /// known; `final_` says the migration is ending (old path: no retry).
    fn close_attempt(&mut self, idx: usize, ts: u64, hint: Option<i64>, final_: bool) {
        let m = &mut self.migrations[idx];
        let gen = m.gen;
        let Some(a) = m.cur() else { return };
        a.closed = true;
        a.end_ns = Some(ts);
        // Without do_join's return in the trace, a CPU whose last H_JOIN
        // came back early and that never called it again left the join only
        // on a kernel whose code does that (5.11).
        if self.rejoins == Some(false) {
            for j in &a.joins {
                if j.pending_premature && !j.in_do_join {
                    a.unhandled_cpus.insert(j.pub_.cpu);
                }
            }
        }
        if a.result.is_none() {
            a.result_inferred = true;
            a.result = match gen {
                Gen::Old => {
                    if a.suspended_ok() {
                        Some(0)
                    } else if !final_ {
                        // migration_store retries only -EAGAIN.
                        Some(EAGAIN)
                    } else {
                        hint.or(a.fail_ret)
                    }
                }
                _ => {
                    if let Some(f) = a.fail_ret {
                        Some(f)
                    } else if a.suspended_ok() {
                        Some(0)
                    } else {
                        hint
                    }
                }
            };
        }
        if a.wake_end.is_none() && a.done_ns.is_some() {
            a.wake_end = Some(ts);
        }
        let result = a.result;
        let vasi_state = a.vasi_state;
        let joined = a.joining();
        let start = a.start_ns;
        // Old path: a call that only found the stream ENABLED is part of the
        // VASI wait, not an attempt.
        let overlapping_down = self.cpus.downs_overlapping(start, ts).next().is_some();
        let m = &mut self.migrations[idx];
        let vasi_only = gen == Gen::Old
            && result == Some(EAGAIN)
            && !joined
            && (vasi_state == Some(vasi::ENABLED) || (vasi_state.is_none() && !overlapping_down));
        if vasi_only {
            let a = m.attempts.pop().expect("open attempt");
            if m.vasi_wait_start.is_none() && m.attempts.is_empty() {
                m.vasi_wait_start = Some(a.start_ns);
            }
            return;
        }
        if m.vasi_wait_start.is_some() && m.vasi_wait_end.is_none() {
            m.vasi_wait_end = Some(start);
        }
        let number = m.attempts.iter().filter(|a| a.closed).count() as u32;
        let a = m.attempts.last_mut().expect("open attempt");
        a.number = number;
        if a.suspended_ok() {
            m.suspended_ok = true;
        }
        m.last_attempt_end = Some(ts);
        let mut out = Vec::new();
        let m = &self.migrations[idx];
        let a = m.attempts.last().expect("closed attempt");
        run_rules(
            &Checkpoint::AttemptClosed { m, a, cpus: &self.cpus },
            &self.th,
            &mut out,
        );
        self.add_findings(out);
    }

    fn cpu_join(&mut self, idx: usize, cpu: u32, ts: u64, pos: u64) {
        if cpu >= super::cpus::MAX_CPU {
            return;
        }
        let need_new = self.migrations[idx].cur_ref().is_none();
        if need_new {
            self.start_attempt(idx, ts, pos);
        }
        let starting = self.migrations[idx].cur_ref().is_some_and(|a| a.join_start.is_none());
        let online = if starting {
            self.cpus.online_set()
        } else {
            Default::default()
        };
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        m.may_suspend = true;
        if m.vasi_wait_start.is_some() && m.vasi_wait_end.is_none() {
            m.vasi_wait_end = Some(ts);
        }
        let a = m.cur().expect("open attempt");
        if a.join_start.is_none() {
            a.join_start = Some(ts);
            a.expected = online;
            a.expected.insert(cpu);
            note(&mut a.evidence, pos);
        }
        if a.joined.insert(cpu) {
            a.joins.push(JoinSt {
                pub_: super::model::CpuJoin {
                    cpu,
                    joined_ns: ts,
                    h_join_calls: 0,
                    last_ret: None,
                    premature: 0,
                },
                left: false,
                pending_premature: false,
                in_do_join: false,
            });
            if let Some(c) = self.cpus.get(cpu) {
                c.joins = c.joins.saturating_add(1);
            }
        }
    }

    fn on_join_exit(&mut self, cpu: u32, ret: i32, ts: u64, pos: u64) {
        let Some(idx) = self.joining() else { return };
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        let gen = m.gen;
        let Some(a) = m.cur() else { return };
        let done = a.done_ns.is_some();
        if let Some(j) = a.join_mut(cpu) {
            j.left = true;
            // do_join returned after a premature H_SUCCESS without calling
            // H_JOIN again, while the suspend was still running: the CPU
            // treated the stray wake-up as the end (5.11 without
            // 274cb1ca2e7c). After the suspend ended, leaving is what every
            // kernel does (it read `done` set).
            if std::mem::take(&mut j.pending_premature) && !done {
                a.unhandled_cpus.insert(cpu);
            }
        }
        if ret != 0 {
            a.errors.push(error(ts, "do_join", ret as i64, cpu));
            a.fail_ret.get_or_insert(ret as i64);
            note(&mut a.evidence, pos);
            mark_done(a, ts);
        }
        if a.wake_complete() {
            a.wake_end.get_or_insert(ts);
            if gen != Gen::Old {
                self.close_attempt(idx, ts, None, false);
            }
        }
    }

    fn on_join_ret(&mut self, cpu: u32, ret: i64, ts: u64, pos: u64) {
        let Some(idx) = self.joining() else { return };
        if self.migrations[idx].cur_ref().is_none() {
            return;
        }
        if self.migrations[idx].cur_ref().is_some_and(|a| !a.joined.contains(cpu)) {
            self.cpu_join(idx, cpu, ts, pos);
        }
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        let gen = m.gen;
        let a = m.cur().expect("open attempt");
        let done = a.done_ns.is_some();
        // Not joined only for CPU numbers the tracker rejects.
        let Some(j) = a.join_mut(cpu) else { return };
        j.pub_.last_ret = Some(ret);
        match ret {
            H_CONTINUE => {
                a.continue_cpu = Some(cpu);
                a.gather_end.get_or_insert(ts);
                a.suspend_start.get_or_insert(ts);
                note(&mut a.evidence, pos);
            }
            H_SUCCESS if !done => {
                j.pub_.premature = j.pub_.premature.saturating_add(1);
                j.pending_premature = true;
                a.premature = a.premature.saturating_add(1);
                a.premature_cpus.insert(cpu);
                note(&mut a.evidence, pos);
            }
            // With do_join probed, only its return says the CPU left: it
            // may still call H_JOIN once more (it read `done` too early).
            H_SUCCESS => j.left |= !j.in_do_join,
            err => {
                j.left = true;
                a.errors.push(error(ts, "H_JOIN", err, cpu));
                a.fail_ret.get_or_insert(if gen == Gen::Old { err } else { EIO });
                note(&mut a.evidence, pos);
                mark_done(a, ts);
            }
        }
        if a.wake_complete() {
            a.wake_end.get_or_insert(ts);
        }
    }

    fn on_prod(&mut self, cpu: u32, ts: u64) {
        let Some(idx) = self.joining() else { return };
        let m = &mut self.migrations[idx];
        m.last_activity = m.last_activity.max(ts);
        let Some(a) = m.cur() else { return };
        a.prods = a.prods.saturating_add(1);
        if a.done_ns.is_none() && a.continue_cpu == Some(cpu) {
            mark_done(a, ts);
        }
    }

    fn on_rtas_exit(&mut self, cpu: u32, status: i32, ts: u64, pos: u64) {
        let Some(idx) = self.joining() else { return };
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        let gen = m.gen;
        let Some(a) = m.cur() else { return };
        a.rtas_status = Some(status);
        a.continue_cpu.get_or_insert(cpu);
        note(&mut a.evidence, pos);
        if status == 0 {
            a.suspend_end = Some(ts);
            mark_done(a, ts);
            m.suspended_ok = true;
            return;
        }
        a.errors.push(error(ts, "ibm,suspend-me", status as i64, cpu));
        if gen == Gen::Old && status == names::RTAS_THREADS_ACTIVE {
            // Old kernels call ibm,suspend-me again in place.
            return;
        }
        a.suspend_end = Some(ts);
        let mapped = if gen == Gen::Old {
            status as i64
        } else {
            match status {
                names::RTAS_SUSPEND_ABORTED => -125,
                names::RTAS_THREADS_ACTIVE => EAGAIN,
                names::RTAS_NOT_SUSPENDABLE | names::RTAS_OUTSTANDING_COPROC => EBUSY,
                _ => EIO,
            }
        };
        a.fail_ret.get_or_insert(mapped);
        mark_done(a, ts);
    }

    fn on_suspend_enter(&mut self, ev: &Event, arg0: u64, ts: u64, pos: u64) {
        let tid_idx = self.by_tid(ev.tid);
        let known_gen = tid_idx.map_or(self.session_gen, |i| self.migrations[i].gen);
        let old = match known_gen {
            Gen::Old => true,
            Gen::New => false,
            Gen::Unknown => arg0 < KERNEL_POINTER,
        };
        if old {
            let idx = tid_idx
                .or_else(|| self.by_handle(arg0))
                .unwrap_or_else(|| self.open_migration(ts, pos, Opener::Suspend, Gen::Old, Some(ev.tid)));
            let m = &mut self.migrations[idx];
            m.gen = Gen::Old;
            m.stream_id.get_or_insert(arg0);
            m.tid.get_or_insert(ev.tid);
            touch(m, ts, pos);
            if m.cur_ref().is_some() {
                self.close_attempt(idx, ts, None, false);
            }
            self.start_attempt(idx, ts, pos);
        } else {
            let Some(idx) = self.joining() else { return };
            let m = &mut self.migrations[idx];
            m.gen = Gen::New;
            touch(m, ts, pos);
            if let Some(a) = m.cur() {
                a.suspend_start.get_or_insert(ts);
                a.gather_end.get_or_insert(ts);
                a.continue_cpu.get_or_insert(ev.cpu);
            }
        }
    }

    fn on_suspend_exit(&mut self, ev: &Event, ret: i64, ts: u64, pos: u64) {
        if let Some(idx) = self.by_tid(ev.tid).filter(|&i| self.migrations[i].gen == Gen::Old) {
            let m = &mut self.migrations[idx];
            touch(m, ts, pos);
            if let Some(a) = m.cur() {
                a.result = Some(ret);
                note(&mut a.evidence, pos);
                if ret != 0 {
                    a.errors.push(error(ts, "rtas_ibm_suspend_me", ret, ev.cpu));
                }
                let final_ = ret != EAGAIN;
                self.close_attempt(idx, ts, Some(ret), final_);
            }
            if self.migrations[idx].opener == Opener::Suspend && ret != EAGAIN {
                self.end_migration(idx, ts, Some(ret), Some(pos));
            }
            return;
        }
        let Some(idx) = self.joining() else { return };
        let m = &mut self.migrations[idx];
        if m.gen == Gen::Old {
            return;
        }
        touch(m, ts, pos);
        let Some(a) = m.cur() else { return };
        a.suspend_end.get_or_insert(ts);
        note(&mut a.evidence, pos);
        if ret != 0 {
            a.errors.push(error(ts, "rtas_ibm_suspend_me", ret, ev.cpu));
            a.fail_ret.get_or_insert(ret);
        } else {
            m.suspended_ok = true;
        }
        let a = m.cur().expect("open attempt");
        mark_done(a, ts);
        if a.wake_complete() {
            a.wake_end.get_or_insert(ts);
        }
    }

    // --- VASI and cancel --------------------------------------------------------

    fn on_vasi_enter(&mut self, ev: &Event, handle: u64, ts: u64, pos: u64) {
        let idx = match self.by_tid(ev.tid).or_else(|| self.by_handle(handle)) {
            Some(i) => i,
            None => {
                let i = self.open_migration(ts, pos, Opener::Inferred, Gen::Unknown, Some(ev.tid));
                self.migrations[i].stream_id = Some(handle);
                i
            }
        };
        let m = &mut self.migrations[idx];
        m.tid.get_or_insert(ev.tid);
        touch(m, ts, pos);
        m.vasi_polls = m.vasi_polls.saturating_add(1);
        let gen = m.gen;
        if gen == Gen::Old {
            let cur_by_vasi = m.cur_ref().map(|a| a.by_vasi);
            match cur_by_vasi {
                Some(true) => {
                    self.close_attempt(idx, ts, None, false);
                    self.start_attempt(idx, ts, pos).by_vasi = true;
                }
                Some(false) => {}
                None => self.start_attempt(idx, ts, pos).by_vasi = true,
            }
        } else {
            let m = &mut self.migrations[idx];
            if m.cur_ref().is_some_and(|a| a.done_ns.is_some() || a.joining()) {
                self.close_attempt(idx, ts, None, false);
            }
            let m = &mut self.migrations[idx];
            if m.suspended_ok {
                m.post_start.get_or_insert(ts);
            }
        }
    }

    fn on_vasi_exit(&mut self, ev: &Event, retval: i64, retbuf0: Option<u64>, ts: u64, pos: u64) {
        let Some(idx) = self.by_tid(ev.tid) else { return };
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        let first_attempt_pending = m.attempts.iter().all(|a| !a.closed && !a.joining());
        if retval != 0 {
            m.vasi_unimplemented |= retval == names::H_FUNCTION;
            m.errors.push(error(ts, "H_VASI_STATE", retval, ev.cpu));
            note(&mut m.evidence, pos);
            match retval {
                names::H_FUNCTION => {}
                names::H_PARAMETER => m.may_suspend = false,
                _ => m.may_suspend = true,
            }
            if m.vasi_wait_start.is_some() && m.vasi_wait_end.is_none() {
                m.vasi_wait_end = Some(ts);
            }
            let gen = m.gen;
            if let Some(a) = m.cur() {
                if gen == Gen::Old {
                    a.fail_ret.get_or_insert(retval);
                }
            }
            return;
        }
        let Some(state) = retbuf0 else { return };
        m.last_vasi_state = Some(state);
        if let Some(a) = m.cur() {
            a.vasi_state = Some(state);
        }
        match state {
            vasi::ENABLED => {
                m.may_suspend = false;
                if m.vasi_wait_start.is_none() && first_attempt_pending && !m.suspended_ok {
                    m.vasi_wait_start = Some(ts);
                }
            }
            vasi::SUSPENDING => {
                m.may_suspend = true;
                if m.vasi_wait_start.is_some() && m.vasi_wait_end.is_none() {
                    m.vasi_wait_end = Some(ts);
                }
            }
            vasi::ABORTED | vasi::INVALID | vasi::COMPLETED => {
                m.may_suspend = false;
                if m.vasi_wait_start.is_some() && m.vasi_wait_end.is_none() {
                    m.vasi_wait_end = Some(ts);
                }
                if state != vasi::COMPLETED {
                    let gen = m.gen;
                    if let Some(a) = m.cur() {
                        if gen == Gen::Old {
                            a.fail_ret.get_or_insert(EIO);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_signal_enter(&mut self, ev: &Event, args: [u64; 3], ts: u64, pos: u64) {
        let idx = self
            .by_tid(ev.tid)
            .or_else(|| self.by_handle(args[0]))
            .or_else(|| self.open.last().copied());
        let Some(idx) = idx else { return };
        if self.migrations[idx].cur_ref().is_some() {
            self.close_attempt(idx, ts, None, false);
        }
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        note(&mut m.evidence, pos);
        m.tid.get_or_insert(ev.tid);
        let reason = args[2];
        m.cancel = Some(Cancel {
            ts_ns: ts,
            signal: args[1],
            reason,
            reason_errno: -((reason & 0xff_ffff) as i64),
            ret: None,
        });
    }

    fn on_signal_exit(&mut self, ev: &Event, retval: i64, ts: u64, pos: u64) {
        let idx = self
            .by_tid(ev.tid)
            .filter(|&i| self.migrations[i].cancel.is_some())
            .or_else(|| {
                self.open
                    .iter()
                    .rev()
                    .copied()
                    .find(|&i| self.migrations[i].cancel.as_ref().is_some_and(|c| c.ret.is_none()))
            });
        let Some(idx) = idx else { return };
        let m = &mut self.migrations[idx];
        touch(m, ts, pos);
        note(&mut m.evidence, pos);
        if let Some(c) = m.cancel.as_mut() {
            c.ret = Some(retval);
        }
        if retval != 0 {
            m.vasi_unimplemented |= retval == names::H_FUNCTION;
            m.errors.push(error(ts, "H_VASI_SIGNAL", retval, ev.cpu));
            let mut out = Vec::new();
            run_rules(
                &Checkpoint::CancelAnswered {
                    m: &self.migrations[idx],
                    pos,
                },
                &self.th,
                &mut out,
            );
            self.add_findings(out);
        }
        if self.migrations[idx].opener == Opener::Inferred {
            self.end_migration(idx, ts, None, Some(pos));
        }
    }

    // --- CPUs ---------------------------------------------------------------------

    fn cpu_went_offline(&mut self, cpu: u32, ts: u64, pos: u64) {
        let (since, ipi_pos, sender) = match self.cpus.get(cpu) {
            Some(c) => std::mem::take(&mut c.ipi_pending),
            None => return,
        };
        if since == 0 || !self.ipi_handle_attached {
            return;
        }
        // Only the join IPI counts: on the old path the migrating thread
        // sends it (on_each_cpu). Other IPIs to a CPU that is going offline
        // (the hotplug machinery's own, a reschedule) are normal; counting
        // them gave false criticals on 5.10 with hotplug during migrations.
        let hit = self.open.iter().rev().copied().find(|&i| {
            let m = &self.migrations[i];
            m.tid.is_none_or(|t| t == sender)
                && m.cur_ref().is_some_and(|a| {
                    a.start_ns <= since && a.done_ns.is_none() && a.gather_end.is_none() && !a.joined.contains(cpu)
                })
        });
        if let Some(idx) = hit {
            let m = &self.migrations[idx];
            let a = m.cur_ref().expect("open attempt");
            let mut out = Vec::new();
            run_rules(
                &Checkpoint::IpiTargetOffline {
                    m,
                    a,
                    cpu,
                    ts,
                    evidence: [ipi_pos, pos],
                },
                &self.th,
                &mut out,
            );
            self.add_findings(out);
        }
    }

    fn on_cpu_down_exit(&mut self, tid: u32, ret: i32, ts: u64, pos: u64) {
        let Some(i) = self.down_reqs.iter().rposition(|r| r.tid == tid) else {
            return;
        };
        let req = self.down_reqs.swap_remove(i);
        let failed = ret as i64 == EBUSY;
        let hit = self.migrations.iter().rev().position(|m| {
            if failed {
                m.start_ns <= req.ts && m.end_ns.is_none_or(|e| e >= req.ts)
            } else {
                m.attempts.iter().any(|a| {
                    a.join_start.is_some_and(|js| js <= req.ts)
                        && a.done_ns.or(a.end_ns).is_none_or(|d| d >= req.ts)
                        && a.wake_end.or(a.end_ns).is_some_and(|e| e <= ts)
                })
            }
        });
        let Some(rev) = hit else { return };
        let idx = self.migrations.len() - 1 - rev;
        let m = &self.migrations[idx];
        let mut out = Vec::new();
        let cp = Checkpoint::HotplugBlocked {
            m,
            cpu: req.cpu,
            start_ns: req.ts,
            ts,
            ret,
            evidence: [req.pos, pos],
        };
        run_rules(&cp, &self.th, &mut out);
        self.add_findings(out);
    }

    // --- losses -------------------------------------------------------------------

    fn on_lost(&mut self, cpu: u32, count: u64, first: u64, last: u64, ts: u64, pos: u64) {
        let (first, last) = (first.min(ts), last.max(first).min(ts));
        self.lost_records += 1;
        self.events_lost = self.events_lost.saturating_add(count);
        self.losses.push(Loss {
            first,
            last,
            count,
            cpu,
        });
        for &i in &self.open {
            self.migrations[i].events_lost = self.migrations[i].events_lost.saturating_add(count);
        }
        for m in self.migrations.iter_mut() {
            if m.end_ns.is_some_and(|e| e >= first && m.start_ns <= last) {
                m.events_lost = m.events_lost.saturating_add(count);
            }
        }
        // Earlier conclusions about this window may rest on missing data.
        let reason = loss_reason(count, cpu, first, last);
        for f in self.findings.iter_mut() {
            if f.kind != FindingKind::EventsLost && f.window_start_ns <= last && f.ts_ns >= first && !f.inconclusive {
                f.inconclusive = true;
                f.inconclusive_reason = Some(reason.clone());
            }
        }
        // A damaged block of the file is its own finding, never merged with
        // the ring's drops.
        if cpu == crate::events::DAMAGED_BLOCK_CPU {
            let in_migration = self.open.first().map(|&i| self.migrations[i].id);
            let f = rules::events_lost(count, cpu, first, last, pos, in_migration);
            self.add_findings(vec![f]);
            return;
        }
        if let Some(g) = self.loss_group.as_mut() {
            if g.last.saturating_add(LOSS_MERGE_NS) >= first {
                g.last = g.last.max(last);
                g.total = g.total.saturating_add(count);
                let (gfirst, total, glast) = (g.first, g.total, g.last);
                if let Some(f) = self
                    .findings
                    .iter_mut()
                    .rev()
                    .find(|f| f.kind == FindingKind::EventsLost && f.ts_ns == gfirst)
                {
                    rules::merge_loss(f, total, cpu, glast, pos);
                }
                return;
            }
        }
        self.loss_group = Some(LossGroup {
            first,
            last,
            total: count,
        });
        let in_migration = self.open.first().map(|&i| self.migrations[i].id);
        let f = rules::events_lost(count, cpu, first, last, pos, in_migration);
        self.add_findings(vec![f]);
    }

    // --- deadlines ----------------------------------------------------------------

    fn recompute_deadline(&mut self) {
        let mut next = u64::MAX;
        for &i in &self.open {
            let m = &self.migrations[i];
            if let Some(a) = m.cur_ref() {
                if let (Some(js), false) = (a.join_start, a.stall_checked) {
                    next = next.min(js.saturating_add(self.th.join_stall_ns));
                }
            } else if m.opener == Opener::Inferred {
                next = next.min(m.last_activity.saturating_add(self.th.settle_ns));
            }
            if let (Some(ws), None, false) = (m.vasi_wait_start, m.vasi_wait_end, m.vasi_wait_checked) {
                next = next.min(ws.saturating_add(self.th.vasi_wait_ns));
            }
        }
        self.next_deadline = next;
    }

    fn run_deadlines(&mut self, now: u64) {
        let open = self.open.clone();
        let mut ends = Vec::new();
        let th = self.th.clone();
        for idx in open {
            let m = &mut self.migrations[idx];
            let mut stall = None;
            if let Some(a) = m.cur() {
                if let (Some(js), false) = (a.join_start, a.stall_checked) {
                    let deadline = js.saturating_add(th.join_stall_ns);
                    if now > deadline {
                        a.stall_checked = true;
                        if a.gather_end.is_none() && a.done_ns.is_none() && !a.missing().is_empty() {
                            stall = Some(deadline);
                        }
                    }
                }
            }
            let mut vasi = None;
            if let (Some(ws), None, false) = (m.vasi_wait_start, m.vasi_wait_end, m.vasi_wait_checked) {
                let deadline = ws.saturating_add(th.vasi_wait_ns);
                if now > deadline {
                    m.vasi_wait_checked = true;
                    vasi = Some(deadline);
                }
            }
            if m.cur_ref().is_none()
                && m.opener == Opener::Inferred
                && now > m.last_activity.saturating_add(th.settle_ns)
            {
                ends.push((idx, m.last_activity));
            }
            let m = &self.migrations[idx];
            let mut out = Vec::new();
            if let Some(deadline) = stall {
                let a = m.cur_ref().expect("open attempt");
                run_rules(
                    &Checkpoint::JoinDeadline {
                        m,
                        a,
                        deadline,
                        cpus: &self.cpus,
                    },
                    &th,
                    &mut out,
                );
            }
            if let Some(deadline) = vasi {
                run_rules(&Checkpoint::VasiDeadline { m, deadline }, &th, &mut out);
            }
            self.add_findings(out);
        }
        for (idx, at) in ends {
            self.end_migration(idx, at, None, None);
        }
        self.recompute_deadline();
    }

    // --- findings -----------------------------------------------------------------

    fn add_findings(&mut self, out: Vec<Finding>) {
        for mut f in out {
            if let Some(reason) = self.inconclusive_reason(&f) {
                f.inconclusive = true;
                f.inconclusive_reason = Some(reason);
            }
            let m = f
                .migration
                .and_then(|id| self.migrations.get((id as usize).wrapping_sub(1)));
            f.platform_note = rules::platform_note(&f, m, self.platform_qemu);
            let at = self.findings.partition_point(|g| g.sort_key() <= f.sort_key());
            self.findings.insert(at, f);
        }
    }

    fn inconclusive_reason(&self, f: &Finding) -> Option<String> {
        if f.kind != FindingKind::EventsLost {
            if let Some(l) = self
                .losses
                .iter()
                .find(|l| l.first <= f.ts_ns && l.last >= f.window_start_ns)
            {
                return Some(loss_reason(l.count, l.cpu, l.first, l.last));
            }
        }
        for group in rules::needed_probes(f.kind, f.variant.as_deref()) {
            if !group.is_empty() && group.iter().all(|p| self.missing.iter().any(|m| m == p)) {
                return Some(format!(
                    "probe {} not attached (coverage manifest): the events that would {} are invisible",
                    group.join(" / "),
                    rules::probe_purpose(f.kind)
                ));
            }
        }
        None
    }
}

#[inline]
fn mark_seen(c: &mut super::cpus::Cpu) {
    if !c.seen {
        c.seen = true;
        if c.state == CpuState::Unknown {
            c.state = CpuState::Online;
        }
    }
}

fn touch(m: &mut MigrationSt, ts: u64, pos: u64) {
    m.last_activity = m.last_activity.max(ts);
    let _ = pos;
}

/// The suspend is over (success or error). A CPU whose premature return is
/// still pending is not judged here: what it does next decides (it calls
/// H_JOIN again: handled; it leaves do_join before this point: unhandled).
fn mark_done(a: &mut AttemptSt, ts: u64) {
    if a.done_ns.is_none() {
        a.done_ns = Some(ts);
    }
}

fn loss_reason(count: u64, cpu: u32, first: u64, last: u64) -> String {
    if cpu == crate::events::DAMAGED_BLOCK_CPU {
        return format!(
            "{count} events lost in a damaged block of the recording between {} and {}",
            rules::fmt_ts(first),
            rules::fmt_ts(last)
        );
    }
    format!(
        "{count} events lost on cpu{cpu} between {} and {}",
        rules::fmt_ts(first),
        rules::fmt_ts(last)
    )
}

fn run_rules(cp: &Checkpoint<'_>, th: &Thresholds, out: &mut Vec<Finding>) {
    for rule in RULES {
        rule.check(cp, th, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::session::ProbeCoverage;
    use crate::events::{CpuMask, IpiSendVia};

    fn ev(ts: u64, cpu: u32, tid: u32, kind: EventKind) -> Event {
        Event {
            ts_ns: ts,
            cpu,
            tid,
            kind,
        }
    }

    fn with_ipi_hooks(hooks: &[&str]) -> SessionInfo {
        let mut s = SessionInfo::synthetic("ppc64le", 4, KernelGeneration::NewPath);
        s.coverage = vec![ProbeCoverage {
            probe: "ipi.send".into(),
            status: CoverageStatus::Attached {
                candidate: "pseries cause_ipi (XIVE/XICS)".into(),
                hooks: hooks.iter().map(|h| h.to_string()).collect(),
                partial: Vec::new(),
            },
        }];
        s
    }

    /// on_each_cpu to cpus 1-2 as 6.1 shows it without the ipi tracepoints:
    /// smp_call_function_many's mask, then one cause_ipi per target.
    fn on_each_cpu_events() -> Vec<Event> {
        let mut mask = CpuMask([0; 4]);
        mask.0[0] = 0b110;
        let send = |t| EventKind::IpiSend {
            target_cpu: t,
            callback: 0,
            via: IpiSendVia::CauseIpi,
        };
        vec![
            ev(
                10,
                0,
                7,
                EventKind::IpiSendMask {
                    mask,
                    callback: 0,
                    via: IpiSendVia::CallFunctionMany,
                },
            ),
            ev(11, 0, 7, send(1)),
            ev(12, 0, 7, send(2)),
        ]
    }

    #[test]
    fn an_ipi_seen_by_both_send_hooks_counts_once() {
        let both = with_ipi_hooks(&[
            "kprobe:xive_cause_ipi",
            "kprobe:icp_hv_cause_ipi",
            "kprobe:smp_call_function_many",
        ]);
        let r = super::super::analyse(&both, Thresholds::default(), &on_each_cpu_events());
        let got: Vec<(u32, u64, u64)> = r.cpus.iter().map(|c| (c.cpu, c.ipis_sent, c.ipis_received)).collect();
        assert_eq!(got, vec![(0, 2, 0), (1, 0, 1), (2, 0, 1)]);
        // With only smp_call_function_many attached the mask is the count.
        let mask_only = with_ipi_hooks(&["kprobe:smp_call_function_many"]);
        let r = super::super::analyse(&mask_only, Thresholds::default(), &on_each_cpu_events()[..1]);
        let got: Vec<(u32, u64, u64)> = r.cpus.iter().map(|c| (c.cpu, c.ipis_sent, c.ipis_received)).collect();
        assert_eq!(got, vec![(0, 1, 0), (1, 0, 1), (2, 0, 1)]);
    }

    #[test]
    fn an_attempt_open_at_the_end_is_numbered_like_the_others() {
        let s = SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath);
        let join = |ts, cpu| {
            ev(
                ts,
                cpu,
                20 + cpu,
                EventKind::HcallEnter {
                    opcode: H_JOIN,
                    args: [0; 3],
                },
            )
        };
        let r = super::super::analyse(&s, Thresholds::default(), &[join(10, 0), join(11, 1)]);
        assert_eq!(r.migrations[0].attempts[0].number, 1);
    }
}
