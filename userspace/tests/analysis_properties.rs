//! Property tests: a generator composes the kernel sequences of
//! docs/analysis.md (old and new path; success, retries, races, cancels,
//! VASI errors, premature H_JOIN, stalls, hangs) with random CPU counts,
//! join delays, suspend durations, background IPI traffic (some IPIs never
//! handled), CPU hotplug far from the migration or across it, losses, and
//! missing probes. Each case carries the findings it must produce, known by
//! construction; the engine must produce exactly those (no false positives,
//! no false negatives), including the inconclusive flags.
//!
//! Seeded: a failure prints the seed; `LPMTRACE_SEED=<n>` reruns one case,
//! `LPMTRACE_CASES=<n>` changes the count.

use lpmtrace::analysis::{Engine, Finding, Thresholds};
use lpmtrace::events::names::{H_JOIN, H_PROD, H_VASI_SIGNAL, H_VASI_STATE};
use lpmtrace::events::session::{CoverageStatus, KernelGeneration, ProbeCoverage, SessionInfo};
use lpmtrace::events::{
    Comm, CpuDownVia, CpuMask, CpumaskOp, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia,
    TriggerSource, PROBE_NAMES,
};

const MS: u64 = 1_000_000;
const US: u64 = 1_000;
const S: u64 = 1_000_000_000;
const H_CONTINUE: i64 = 18;
const EAGAIN: i64 = -11;
const EBUSY: i64 = -16;
const EIO: i64 = -5;
const ENOMEM: i64 = -12;
const EINVAL: i64 = -22;
const TOKEN: u32 = 0x202a;
const STREAM: u64 = 0x1;
const TRIGGER_TID: u32 = 4242;
const HOTPLUG_TID: u32 = 900;

/// SplitMix64: small, seedable, good enough for test generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coverage {
    Full,
    /// trigger, migrate and suspend probes missing (inlined statics).
    HcallOnly,
    /// hcall, join and RTAS probes missing: function returns only.
    ReturnsOnly,
}

impl Coverage {
    fn missing(self) -> &'static [&'static str] {
        match self {
            Coverage::Full => &[],
            Coverage::HcallOnly => &["lpm.trigger", "lpm.migrate", "lpm.suspend"],
            Coverage::ReturnsOnly => &["lpm.hcall", "lpm.join", "lpm.rtas"],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    kind: &'static str,
    variant: Option<&'static str>,
    cpus: Vec<u32>,
    inconclusive: bool,
}

impl Expected {
    fn of(f: &Finding) -> (String, Option<String>, Vec<u32>, bool) {
        (
            f.kind.id().to_string(),
            f.variant.clone(),
            f.cpus.clone(),
            f.inconclusive,
        )
    }
    fn key(&self) -> (String, Option<String>, Vec<u32>, bool) {
        (
            self.kind.to_string(),
            self.variant.map(str::to_string),
            self.cpus.clone(),
            self.inconclusive,
        )
    }
}

/// Which failure the final attempt window holds (for loss placement).
struct Case {
    session: SessionInfo,
    events: Vec<Event>,
    expected: Vec<Expected>,
    watermark: Option<u64>,
    description: String,
}

struct Gen {
    rng: Rng,
    evs: Vec<Event>,
    ncpu: u32,
    cov: Coverage,
    /// CPUs online during the migration (cpu0 always).
    online: Vec<u32>,
    expected: Vec<Expected>,
    /// Kinds whose window covers the final attempt (made inconclusive by a
    /// loss placed there).
    final_window: Vec<usize>,
    final_attempt_start: Option<u64>,
    desc: Vec<String>,
}

impl Gen {
    fn push(&mut self, ts: u64, cpu: u32, tid: u32, kind: EventKind) {
        self.evs.push(Event {
            ts_ns: ts,
            cpu,
            tid,
            kind,
        });
    }
    fn hcall(&mut self, ts: u64, cpu: u32, tid: u32, opcode: u32, args: [u64; 3]) {
        self.push(ts, cpu, tid, EventKind::HcallEnter { opcode, args });
    }
    fn hret(&mut self, ts: u64, cpu: u32, tid: u32, opcode: u32, retval: i64, state: Option<u64>) {
        self.push(
            ts,
            cpu,
            tid,
            EventKind::HcallExit {
                opcode,
                retval,
                retbuf0: state,
            },
        );
    }
    fn vasi(&mut self, ts: u64, retval: i64, state: Option<u64>) {
        self.hcall(ts, 0, TRIGGER_TID, H_VASI_STATE, [STREAM, 0, 0]);
        self.hret(ts + 20 * US, 0, TRIGGER_TID, H_VASI_STATE, retval, state);
    }
    fn expect(&mut self, kind: &'static str, variant: Option<&'static str>, cpus: Vec<u32>, final_window: bool) {
        let inconclusive = match kind {
            "unterminated-migration" | "migration-failed" | "suspend-retries-exhausted" => {
                self.cov == Coverage::ReturnsOnly
            }
            _ => false,
        };
        self.expected.push(Expected {
            kind,
            variant,
            cpus,
            inconclusive,
        });
        if final_window {
            self.final_window.push(self.expected.len() - 1);
        }
    }
    fn others(&self) -> Vec<u32> {
        self.online.iter().copied().filter(|&c| c != 0).collect()
    }
    fn trigger(&mut self, ts: u64) {
        let comm = Comm::from_text("drmgr");
        self.push(
            ts,
            0,
            TRIGGER_TID,
            EventKind::TriggerEnter {
                source: TriggerSource::Sysfs,
                stream_id: Some(STREAM),
                comm,
            },
        );
    }
    fn trigger_exit(&mut self, ts: u64, ret: i64) {
        self.push(
            ts,
            0,
            TRIGGER_TID,
            EventKind::TriggerExit {
                source: TriggerSource::Sysfs,
                ret,
            },
        );
    }

    // --- new path -----------------------------------------------------------------

    /// One stop_machine(do_join) round. Returns its end.
    #[allow(clippy::too_many_arguments)]
    fn new_round(
        &mut self,
        t0: u64,
        status: i32,
        dur: u64,
        storm: u32,
        unhandled: Option<u32>,
        stall: Option<u32>,
    ) -> u64 {
        // The engine's attempt starts at the first join event.
        self.final_attempt_start = None;
        let cpus = self.online.clone();
        // The CPU that gets H_CONTINUE: the stalled one if any, else random.
        let last = stall.unwrap_or_else(|| {
            let cands: Vec<u32> = cpus.iter().copied().filter(|&c| Some(c) != unhandled).collect();
            self.rng.pick(&cands)
        });
        let mut t = t0;
        let mut storm_cpu = None;
        for &c in cpus.iter().filter(|&&c| c != last) {
            t += self.rng.range(1, 300) * US;
            self.final_attempt_start.get_or_insert(t);
            self.push(t, c, 10 + c, EventKind::JoinEnter { path: JoinPath::DoJoin });
            self.hcall(t + US, c, 10 + c, H_JOIN, [0; 3]);
            t += 2 * US;
            if storm_cpu.is_none() && storm > 0 {
                storm_cpu = Some(c);
            }
        }
        if let Some(c) = storm_cpu {
            for _ in 0..storm {
                t += 3 * US;
                self.hret(t, c, 10 + c, H_JOIN, 0, None);
                self.hcall(t + US, c, 10 + c, H_JOIN, [0; 3]);
            }
        }
        if let Some(c) = unhandled {
            t += 5 * US;
            self.hcall(t, (c + 1) % self.ncpu, 77, H_PROD, [c as u64, 0, 0]);
            self.hret(t + US, c, 10 + c, H_JOIN, 0, None);
            self.push(
                t + 2 * US,
                c,
                10 + c,
                EventKind::JoinExit {
                    path: JoinPath::DoJoin,
                    ret: 0,
                },
            );
            t += 2 * US;
        }
        t += match stall {
            Some(_) => self.rng.range(1500, 2000) * MS,
            None => self.rng.range(1, 300) * US,
        };
        self.final_attempt_start.get_or_insert(t);
        self.push(t, last, 10 + last, EventKind::JoinEnter { path: JoinPath::DoJoin });
        self.hcall(t + US, last, 10 + last, H_JOIN, [0; 3]);
        self.hret(t + 2 * US, last, 10 + last, H_JOIN, H_CONTINUE, None);
        self.push(
            t + 3 * US,
            last,
            10 + last,
            EventKind::SuspendEnter {
                arg0: 0xc000_0000_dead_0000,
            },
        );
        self.push(t + 4 * US, last, 10 + last, EventKind::RtasEnter { token: TOKEN });
        t += 4 * US + dur;
        self.push(t, last, 10 + last, EventKind::RtasExit { token: TOKEN, status });
        let ret = match status {
            0 => 0,
            -9005 => EAGAIN,
            _ => EBUSY,
        };
        self.push(t + US, last, 10 + last, EventKind::SuspendExit { ret });
        t += US;
        for &c in cpus.iter().filter(|&&c| c != last && Some(c) != unhandled) {
            t += US;
            self.hcall(t, last, 10 + last, H_PROD, [c as u64, 0, 0]);
        }
        for &c in cpus.iter().filter(|&&c| c != last && Some(c) != unhandled) {
            t += self.rng.range(1, 50) * US;
            self.hret(t, c, 10 + c, H_JOIN, 0, None);
            self.push(
                t + US,
                c,
                10 + c,
                EventKind::JoinExit {
                    path: JoinPath::DoJoin,
                    ret: 0,
                },
            );
            t += US;
        }
        t += US;
        self.push(
            t,
            last,
            10 + last,
            EventKind::JoinExit {
                path: JoinPath::DoJoin,
                ret: ret as i32,
            },
        );
        t
    }

    fn new_path(&mut self, t0: u64) -> u64 {
        let typ = self.rng.range(0, 5);
        self.trigger(t0);
        self.push(t0 + 10 * US, 0, TRIGGER_TID, EventKind::MigrateEnter { handle: STREAM });
        let mut t = t0 + 100 * US;
        // VASI wait: short, or over the 60 s threshold (never near it).
        let polls = if self.rng.chance(10) {
            self.rng.range(65, 80)
        } else {
            self.rng.range(0, 4)
        };
        for _ in 0..polls {
            self.vasi(t, 0, Some(1));
            t += S;
        }
        if polls >= 65 && self.cov != Coverage::ReturnsOnly {
            self.expect("long-vasi-wait", None, vec![], false);
        }
        let blackout = |g: &mut Gen| -> u64 {
            if g.rng.chance(15) {
                g.rng.range(6000, 9000) * MS
            } else {
                g.rng.range(1, 2500) * MS
            }
        };
        let visible = self.cov != Coverage::ReturnsOnly;
        let end_ret;
        match typ {
            // Success, possibly after failed attempts (1/10/100/1000 ms apart).
            0 | 1 => {
                self.vasi(t, 0, Some(3));
                t += 100 * US;
                let fails = if typ == 1 { self.rng.range(1, 4) } else { 0 };
                let unhandled = if typ == 1 && self.online.len() > 2 && self.rng.chance(30) {
                    Some(self.rng.pick(&self.others()))
                } else {
                    None
                };
                for n in 0..fails {
                    let u = if n == 0 { unhandled } else { None };
                    let d = self.rng.range(5, 200) * US;
                    t = self.new_round(t, -9005, d, 0, u, None);
                    self.vasi(t + 10 * US, 0, Some(3));
                    t += 10 * US + [MS, 10 * MS, 100 * MS, 1000 * MS][n as usize];
                }
                if let (Some(c), true) = (unhandled, visible) {
                    self.expect("premature-join", Some("unhandled"), vec![c], false);
                }
                let storm = if self.online.len() > 1 && self.rng.chance(20) {
                    self.rng.pick(&[0u32, 3, 40, 120, 180])
                } else {
                    0
                };
                let stall = if self.online.len() > 1 && self.rng.chance(10) {
                    Some(self.rng.pick(&self.others()))
                } else {
                    None
                };
                let dur = blackout(self);
                let start = t;
                t = self.new_round(t, 0, dur, storm, None, stall);
                if visible {
                    if storm >= 100 {
                        let c = self.first_joiner(start);
                        self.expect("premature-join", Some("storm"), vec![c], true);
                    }
                    if let Some(c) = stall {
                        self.expect("join-stall", None, vec![c], true);
                    }
                    if t - start > 5 * S + 300 * MS {
                        self.expect("long-blackout", None, vec![], true);
                    } else {
                        assert!(t - start < 5 * S - 100 * MS, "blackout too close to the threshold");
                    }
                }
                t += 50 * MS;
                self.vasi(t, 0, Some(6));
                end_ret = 0;
                self.desc.push(format!(
                    "new: {fails} failures then success, storm {storm}, stall {stall:?}, unhandled {unhandled:?}"
                ));
            }
            // Five failures, then a cancel (accepted or rejected).
            2 => {
                self.vasi(t, 0, Some(3));
                t += 100 * US;
                for n in 0..5 {
                    let d = self.rng.range(5, 200) * US;
                    t = self.new_round(t, -9005, d, 0, None, None);
                    self.vasi(t + 10 * US, 0, Some(3));
                    t += 40 * US;
                    if n < 4 {
                        t += [MS, 10 * MS, 100 * MS, 1000 * MS][n as usize];
                    }
                }
                let rejected = self.rng.chance(40);
                self.hcall(t, 0, TRIGGER_TID, H_VASI_SIGNAL, [STREAM, 1, (6 << 24) | 11]);
                self.hret(
                    t + 10 * US,
                    0,
                    TRIGGER_TID,
                    H_VASI_SIGNAL,
                    if rejected { -2 } else { 0 },
                    None,
                );
                t += 20 * US;
                if visible {
                    self.expect("suspend-retries-exhausted", None, vec![], true);
                    if rejected {
                        self.expect("cancel-rejected", None, vec![], false);
                    }
                } else {
                    self.expect("unterminated-migration", None, vec![], true);
                }
                end_ret = EAGAIN;
                self.desc.push(format!("new: exhausted, cancel rejected {rejected}"));
            }
            // The VASI wait fails: an hcall error (state unknown) or ABORTED.
            3 | 4 => {
                self.final_attempt_start = Some(t);
                if typ == 3 {
                    self.vasi(t, -1, None);
                    self.expect("unterminated-migration", None, vec![], true);
                } else {
                    self.vasi(t, 0, Some(2));
                    if visible {
                        self.expect("migration-failed", Some("failed"), vec![], true);
                    } else {
                        self.expect("unterminated-migration", None, vec![], true);
                    }
                }
                t += 100 * US;
                end_ret = EIO;
                self.desc.push(format!("new: VASI wait error (type {typ})"));
            }
            // A failed attempt whose retry poll finds the stream aborted:
            // pseries_suspend breaks out and the kernel cancels.
            _ => {
                self.vasi(t, 0, Some(3));
                t += 100 * US;
                let d = self.rng.range(5, 200) * US;
                t = self.new_round(t, -9004, d, 0, None, None);
                self.vasi(t + 10 * US, 0, Some(2));
                t += 50 * US;
                self.hcall(t, 0, TRIGGER_TID, H_VASI_SIGNAL, [STREAM, 1, (6 << 24) | 16]);
                self.hret(t + 10 * US, 0, TRIGGER_TID, H_VASI_SIGNAL, 0, None);
                t += 20 * US;
                if visible {
                    self.expect("migration-failed", Some("cancelled"), vec![], true);
                } else {
                    self.expect("unterminated-migration", None, vec![], true);
                }
                end_ret = EBUSY;
                self.desc.push("new: one failure, aborted, cancelled".into());
            }
        }
        self.push(t + 10 * US, 0, TRIGGER_TID, EventKind::MigrateExit { ret: end_ret });
        self.trigger_exit(t + 20 * US, if end_ret == 0 { 4 } else { end_ret });
        t + 20 * US
    }

    fn first_joiner(&self, start: u64) -> u32 {
        self.evs
            .iter()
            .find(|e| e.ts_ns >= start && matches!(e.kind, EventKind::JoinEnter { .. }))
            .map(|e| e.cpu)
            .expect("a join")
    }

    // --- old path -----------------------------------------------------------------

    fn suspend_enter(&mut self, t: u64) {
        self.push(t, 0, TRIGGER_TID, EventKind::SuspendEnter { arg0: STREAM });
    }
    fn suspend_exit(&mut self, t: u64, ret: i64) {
        self.push(t, 0, TRIGGER_TID, EventKind::SuspendExit { ret });
    }

    /// on_each_cpu(rtas_percpu_suspend_me) and the join. `error_on` makes
    /// H_JOIN fail there. Returns the end and the suspend result.
    fn old_join(&mut self, t0: u64, dur: u64, error_on: Option<u32>) -> (u64, i64) {
        let cpus = self.online.clone();
        let others = self.others();
        let mut mask = CpuMask::default();
        for &c in &others {
            mask.0[(c / 64) as usize] |= 1 << (c % 64);
        }
        self.push(
            t0,
            0,
            TRIGGER_TID,
            EventKind::IpiSendMask {
                mask,
                callback: 0,
                via: IpiSendVia::CallFunctionMany,
            },
        );
        let mut t = t0 + US;
        self.push(
            t,
            0,
            TRIGGER_TID,
            EventKind::JoinEnter {
                path: JoinPath::PercpuSuspendMe,
            },
        );
        self.hcall(t + US, 0, TRIGGER_TID, H_JOIN, [0; 3]);
        let last = *cpus.last().expect("cpus");
        let tid = |c: u32| if c == 0 { TRIGGER_TID } else { 0 };
        for &c in &others {
            t += self.rng.range(2, 300) * US;
            self.push(
                t,
                c,
                0,
                EventKind::IpiHandleEnter {
                    func: 0,
                    via: IpiHandleVia::CsdFunction,
                },
            );
            self.push(
                t + US,
                c,
                0,
                EventKind::JoinEnter {
                    path: JoinPath::PercpuSuspendMe,
                },
            );
            self.hcall(t + 2 * US, c, 0, H_JOIN, [0; 3]);
            t += 2 * US;
            if Some(c) == error_on {
                break;
            }
        }
        t += US;
        let (prodder, result) = match error_on {
            Some(c) => {
                self.hret(t, c, 0, H_JOIN, -5, None);
                (c, -5)
            }
            None => {
                self.hret(t, last, tid(last), H_JOIN, H_CONTINUE, None);
                self.push(t + US, last, tid(last), EventKind::RtasEnter { token: TOKEN });
                t += US + dur;
                self.push(
                    t,
                    last,
                    tid(last),
                    EventKind::RtasExit {
                        token: TOKEN,
                        status: 0,
                    },
                );
                (last, 0)
            }
        };
        for &c in &cpus {
            t += US;
            self.hcall(t, prodder, tid(prodder), H_PROD, [c as u64, 0, 0]);
        }
        let joined: Vec<u32> = match error_on {
            Some(e) => cpus.iter().copied().take_while(|&c| c != e).collect(),
            None => cpus.iter().copied().filter(|&c| c != last).collect(),
        };
        for c in joined {
            t += self.rng.range(1, 30) * US;
            self.hret(t, c, tid(c), H_JOIN, 0, None);
        }
        (t + US, result)
    }

    /// A CPU going down through cpuhp, reaching offline at `off`.
    fn cpu_down(&mut self, start: u64, off: u64, c: u32) {
        self.push(
            start,
            1 % self.ncpu,
            HOTPLUG_TID,
            EventKind::CpuDownEnter {
                target_cpu: Some(c),
                via: CpuDownVia::CpuDeviceDown,
                comm: Comm::from_text("ppc64_cpu"),
            },
        );
        self.push(
            start + US,
            c,
            0,
            EventKind::HotplugEnter {
                target_cpu: c,
                target: 0,
                idx: 235,
                multi: false,
                fun: 0,
            },
        );
        self.push(
            off,
            c,
            0,
            EventKind::CpuOnline {
                target_cpu: c,
                online: false,
                via: OnlineVia::SetCpuOnline,
            },
        );
    }
    fn cpu_down_done(&mut self, t: u64, c: u32) {
        self.push(
            t,
            1 % self.ncpu,
            0,
            EventKind::HotplugExit {
                target_cpu: c,
                state: 0,
                idx: 1,
                ret: 0,
            },
        );
        self.push(
            t + US,
            1 % self.ncpu,
            HOTPLUG_TID,
            EventKind::CpuDownExit {
                via: CpuDownVia::CpuDeviceDown,
                ret: 0,
            },
        );
    }
    fn cpu_up(&mut self, t: u64, c: u32) {
        self.push(
            t,
            1 % self.ncpu,
            0,
            EventKind::HotplugEnter {
                target_cpu: c,
                target: 236,
                idx: 91,
                multi: false,
                fun: 0,
            },
        );
        self.push(
            t + 60 * MS,
            c,
            0,
            EventKind::CpuOnline {
                target_cpu: c,
                online: true,
                via: OnlineVia::SetCpuOnline,
            },
        );
        self.push(
            t + 61 * MS,
            c,
            0,
            EventKind::HotplugExit {
                target_cpu: c,
                state: 236,
                idx: 236,
                ret: 0,
            },
        );
    }

    fn old_path(&mut self, t0: u64) -> (u64, bool) {
        let typ = self.rng.range(0, 5);
        self.trigger(t0);
        let mut t = t0 + 100 * US;
        let visible = self.cov != Coverage::ReturnsOnly;
        // ENABLED: rtas_ibm_suspend_me returns -EAGAIN, migration_store
        // sleeps a second and calls again.
        let polls = if self.rng.chance(10) {
            self.rng.range(65, 75)
        } else {
            self.rng.range(0, 3)
        };
        for _ in 0..polls {
            self.suspend_enter(t);
            self.vasi(t + 10 * US, 0, Some(1));
            self.suspend_exit(t + 50 * US, EAGAIN);
            t += S;
        }
        if polls >= 65 {
            self.expect("long-vasi-wait", None, vec![], false);
        }
        let racer = if self.online.len() > 1 {
            Some(self.rng.pick(&self.others()))
        } else {
            None
        };
        let mut hang = false;
        let end_ret: i64 = match (typ, racer) {
            // Success, maybe after a 5.3+ race retry.
            (0 | 1, _) => {
                if let (1, Some(c)) = (typ, racer) {
                    self.final_attempt_start = Some(t);
                    self.suspend_enter(t);
                    self.vasi(t + 10 * US, 0, Some(3));
                    self.cpu_down(t + 40 * US, t + 80 * US, c);
                    self.suspend_exit(t + 100 * US, EAGAIN);
                    self.cpu_down_done(t + 60 * MS, c);
                    self.expect("offline-race", Some("retried-eagain"), vec![c], false);
                    t += S;
                    self.cpu_up(t, c);
                    t += 100 * MS;
                }
                self.final_attempt_start = Some(t);
                self.suspend_enter(t);
                self.vasi(t + 10 * US, 0, Some(3));
                let dur = if self.rng.chance(15) {
                    self.rng.range(6000, 9000) * MS
                } else {
                    self.rng.range(1, 2500) * MS
                };
                let (end, r) = self.old_join(t + 100 * US, dur, None);
                if visible && dur > 5 * S {
                    self.expect("long-blackout", None, vec![], true);
                }
                self.suspend_exit(end, r);
                t = end;
                self.desc.push(format!("old: success (race retry {})", typ == 1));
                4
            }
            // <= 5.2 race: -EBUSY, no cancel.
            (2, Some(c)) => {
                self.final_attempt_start = Some(t);
                self.suspend_enter(t);
                self.vasi(t + 10 * US, 0, Some(3));
                self.cpu_down(t + 40 * US, t + 80 * US, c);
                self.suspend_exit(t + 100 * US, EBUSY);
                self.expect("offline-race", Some("aborted-ebusy"), vec![c], true);
                self.expect("unterminated-migration", None, vec![], true);
                t += 200 * US;
                self.trigger_exit(t, EBUSY);
                self.cpu_down_done(t + 60 * MS, c);
                self.desc.push("old: race -EBUSY".into());
                return (t + 70 * MS, false);
            }
            // Allocation / onlining / join failures after SUSPENDING.
            (3, _) | (2, None) | (5.., None) => {
                self.final_attempt_start = Some(t);
                self.suspend_enter(t);
                self.vasi(t + 10 * US, 0, Some(3));
                let which = self.rng.range(0, 2);
                let r = match which {
                    0 => ENOMEM,
                    1 => {
                        self.push(
                            t + 40 * US,
                            0,
                            TRIGGER_TID,
                            EventKind::CpumaskEnter { op: CpumaskOp::Online },
                        );
                        self.push(
                            t + 60 * US,
                            0,
                            TRIGGER_TID,
                            EventKind::CpumaskExit {
                                op: CpumaskOp::Online,
                                ret: EINVAL as i32,
                            },
                        );
                        EINVAL
                    }
                    _ if self.online.len() > 1 => {
                        let e = self.rng.pick(&self.others());
                        let (end, r) = self.old_join(t + 100 * US, 0, Some(e));
                        t = end;
                        r
                    }
                    _ => ENOMEM,
                };
                self.suspend_exit(t + 100 * US, r);
                self.expect("unterminated-migration", None, vec![], true);
                t += 200 * US;
                self.desc.push(format!("old: failure {r}"));
                r
            }
            // The VASI check finds ABORTED: -EIO, nothing pending.
            (4, _) => {
                self.final_attempt_start = Some(t);
                self.suspend_enter(t);
                self.vasi(t + 10 * US, 0, Some(2));
                self.suspend_exit(t + 100 * US, EIO);
                if visible {
                    self.expect("migration-failed", Some("failed"), vec![], true);
                } else {
                    self.expect("unterminated-migration", None, vec![], true);
                }
                t += 200 * US;
                self.desc.push("old: aborted".into());
                EIO
            }
            // Pre-4.20 hang: the IPI target goes offline before its handler.
            (_, Some(c)) => {
                self.final_attempt_start = Some(t);
                self.suspend_enter(t);
                self.vasi(t + 10 * US, 0, Some(3));
                let others = self.others();
                let mut mask = CpuMask::default();
                for &o in &others {
                    mask.0[(o / 64) as usize] |= 1 << (o % 64);
                }
                let t1 = t + 100 * US;
                self.cpu_down(t1 - 20 * US, t1 + 300 * US, c);
                self.push(
                    t1,
                    0,
                    TRIGGER_TID,
                    EventKind::IpiSendMask {
                        mask,
                        callback: 0,
                        via: IpiSendVia::CallFunctionMany,
                    },
                );
                self.push(
                    t1 + US,
                    0,
                    TRIGGER_TID,
                    EventKind::JoinEnter {
                        path: JoinPath::PercpuSuspendMe,
                    },
                );
                self.hcall(t1 + 2 * US, 0, TRIGGER_TID, H_JOIN, [0; 3]);
                let mut tt = t1 + 2 * US;
                for &o in others.iter().filter(|&&o| o != c) {
                    tt += 3 * US;
                    self.push(
                        tt,
                        o,
                        0,
                        EventKind::IpiHandleEnter {
                            func: 0,
                            via: IpiHandleVia::CsdFunction,
                        },
                    );
                    self.push(
                        tt + US,
                        o,
                        0,
                        EventKind::JoinEnter {
                            path: JoinPath::PercpuSuspendMe,
                        },
                    );
                    self.hcall(tt + 2 * US, o, 0, H_JOIN, [0; 3]);
                }
                self.expect("offline-race", Some("ipi-target-offline"), vec![c], true);
                if visible {
                    self.expect("join-stall", None, vec![c], true);
                }
                hang = true;
                self.desc.push(format!("old: hang, cpu{c} offline before its IPI"));
                0
            }
        };
        if hang {
            return (t + S, true);
        }
        self.trigger_exit(t + 10 * US, end_ret);
        (t + 10 * US, false)
    }
}

fn session(cov: Coverage, ncpu: u32, kernel: KernelGeneration) -> SessionInfo {
    let mut s = SessionInfo::synthetic("ppc64le", ncpu, kernel);
    s.suspend_me_token = Some(TOKEN);
    s.coverage = PROBE_NAMES
        .iter()
        .map(|&p| ProbeCoverage {
            probe: p.into(),
            status: if cov.missing().contains(&p) {
                CoverageStatus::Missing {
                    reasons: vec!["generated".into()],
                }
            } else {
                CoverageStatus::Attached {
                    candidate: "generated".into(),
                    hooks: vec![],
                    partial: vec![],
                }
            },
        })
        .collect();
    s
}

fn generate(seed: u64) -> Case {
    let mut rng = Rng(seed);
    let ncpu = rng.range(1, 16) as u32;
    let old = rng.chance(50);
    let cov = match rng.range(0, 9) {
        0..=5 => Coverage::Full,
        6 | 7 if !old => Coverage::HcallOnly,
        _ => Coverage::ReturnsOnly,
    };
    let mut g = Gen {
        rng,
        evs: Vec::new(),
        ncpu,
        cov,
        online: Vec::new(),
        expected: Vec::new(),
        final_window: Vec::new(),
        final_attempt_start: None,
        desc: vec![format!(
            "seed {seed}: {} cpus, {}, {cov:?}",
            ncpu,
            if old { "old" } else { "new" }
        )],
    };
    // Every CPU shows up early (IPI traffic), so it is known online.
    for c in 0..ncpu {
        let t = S + c as u64 * 10 * US;
        g.push(
            t,
            c,
            0,
            EventKind::IpiSend {
                target_cpu: (c + 1) % ncpu,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        );
        g.push(
            t + 5 * US,
            (c + 1) % ncpu,
            0,
            EventKind::IpiHandleEnter {
                func: 0,
                via: IpiHandleVia::CsdFunction,
            },
        );
    }
    let t0 = 300 * S;
    // Background hotplug: far before, or across the migration (offline the
    // whole time), on CPUs other than 0.
    let mut online: Vec<u32> = (0..ncpu).collect();
    let mut late_up = Vec::new();
    if ncpu > 2 && g.rng.chance(40) {
        let c = g.rng.range(1, ncpu as u64 - 1) as u32;
        let start = g.rng.range(20, 200) * S;
        g.cpu_down(start, start + 30 * MS, c);
        g.cpu_down_done(start + 70 * MS, c);
        if g.rng.chance(50) {
            let up = start + g.rng.range(1, 10) * S;
            g.cpu_up(up, c);
        } else {
            online.retain(|&o| o != c);
            late_up.push(c);
        }
    }
    g.online = online;
    // Background IPIs, some never handled (dropped wake-ups).
    let noise: u64 = g.rng.range(0, 60);
    for _ in 0..noise {
        let t = g.rng.range(2, 250) * S + g.rng.range(0, 999) * MS;
        let (a, b) = (
            g.rng.range(0, ncpu as u64 - 1) as u32,
            g.rng.range(0, ncpu as u64 - 1) as u32,
        );
        if !g.online.contains(&b) {
            continue;
        }
        g.push(
            t,
            a,
            0,
            EventKind::IpiSend {
                target_cpu: b,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        );
        if g.rng.chance(90) {
            g.push(
                t + 20 * US,
                b,
                0,
                EventKind::IpiHandleEnter {
                    func: 0,
                    via: IpiHandleVia::CsdFunction,
                },
            );
        }
    }
    let far_loss = g.rng.chance(10);
    if far_loss {
        let c = g.rng.range(0, ncpu as u64 - 1) as u32;
        let t = 260 * S;
        g.push(
            t,
            c,
            0,
            EventKind::Lost {
                count: 17,
                first_ts_ns: t - 2 * MS,
                last_ts_ns: t - MS,
            },
        );
        g.expected.push(Expected {
            kind: "events-lost",
            variant: None,
            cpus: vec![c],
            inconclusive: false,
        });
    }
    let (end, hang) = if old { g.old_path(t0) } else { (g.new_path(t0), false) };
    // A loss inside the final attempt makes what that window supports
    // inconclusive.
    if g.rng.chance(10) {
        if let Some(fa) = g.final_attempt_start {
            let c = g.rng.range(0, ncpu as u64 - 1) as u32;
            g.push(
                fa + 3 * US,
                c,
                0,
                EventKind::Lost {
                    count: 5,
                    first_ts_ns: fa + US,
                    last_ts_ns: fa + 2 * US,
                },
            );
            g.expected.push(Expected {
                kind: "events-lost",
                variant: None,
                cpus: vec![c],
                inconclusive: false,
            });
            for &i in &g.final_window {
                g.expected[i].inconclusive = true;
            }
            g.desc.push("loss in the final attempt".into());
        }
    }
    let mut watermark = None;
    if hang {
        watermark = Some(end + 3 * S);
    } else {
        // Life goes on: IPIs and hotplug well after the migration.
        for c in late_up {
            g.cpu_up(end + 30 * S, c);
        }
        g.push(
            end + 40 * S,
            0,
            0,
            EventKind::IpiSend {
                target_cpu: 0,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        );
    }
    // Drop what the missing probes would have produced.
    let missing = cov.missing();
    g.evs.retain(|e| !missing.contains(&e.kind.probe()));
    g.evs.sort_by_key(|e| e.ts_ns);
    let kernel = if old {
        KernelGeneration::OldPath
    } else {
        KernelGeneration::NewPath
    };
    Case {
        session: session(cov, ncpu, kernel),
        events: g.evs,
        expected: g.expected,
        watermark,
        description: g.desc.join("; "),
    }
}

fn check(seed: u64) -> Result<(), String> {
    let case = generate(seed);
    let mut engine = Engine::new(&case.session, Thresholds::default());
    for ev in &case.events {
        engine.push(ev);
    }
    if let Some(w) = case.watermark {
        engine.advance_to(w);
    }
    let report = engine.finish();
    let mut got: Vec<_> = report.findings.iter().map(Expected::of).collect();
    let mut want: Vec<_> = case.expected.iter().map(Expected::key).collect();
    got.sort();
    want.sort();
    if got == want {
        Ok(())
    } else {
        let summaries: Vec<String> = report
            .findings
            .iter()
            .map(|f| format!("  {} {:?}: {}", f.kind.id(), f.variant, f.summary))
            .collect();
        Err(format!(
            "{}\n want {want:?}\n got  {got:?}\n{}\n outcomes {:?}",
            case.description,
            summaries.join("\n"),
            report
                .migrations
                .iter()
                .map(|m| (m.outcome, m.attempts.len()))
                .collect::<Vec<_>>()
        ))
    }
}

#[test]
fn generated_cases_have_no_false_positives_or_negatives() {
    if let Some(seed) = std::env::var("LPMTRACE_SEED").ok().and_then(|s| s.parse().ok()) {
        check(seed).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let n: u64 = std::env::var("LPMTRACE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..n {
        let seed = 0x1f2e_3d4c_0000_0000 ^ i;
        if let Err(e) = check(seed) {
            failures.push(e);
            if failures.len() >= 5 {
                break;
            }
        }
        for e in generate(seed).expected {
            *kinds.entry(e.kind).or_default() += 1;
        }
    }
    eprintln!("{n} generated cases; expected findings by kind: {kinds:?}");
    assert!(
        failures.is_empty(),
        "{} failing case(s), first ones:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // The generator must exercise every kind it claims to.
    for k in [
        "unterminated-migration",
        "cancel-rejected",
        "offline-race",
        "join-stall",
        "premature-join",
        "suspend-retries-exhausted",
        "long-vasi-wait",
        "long-blackout",
        "migration-failed",
        "events-lost",
    ] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) >= n as usize / 500,
            "kind {k} too rare: {kinds:?}"
        );
    }
}

#[test]
fn the_generator_is_deterministic() {
    let a = generate(42);
    let b = generate(42);
    assert_eq!(a.events, b.events);
    assert_eq!(a.expected, b.expected);
}

/// Arbitrary (even nonsensical) event streams never panic the engine, the
/// findings stay in report order, and the report serialises.
#[test]
fn arbitrary_streams_never_panic() {
    for seed in 0..300u64 {
        let mut rng = Rng(seed ^ 0xabcd);
        let ncpu = rng.range(1, 300) as u32;
        let kernel = rng.pick(&[
            KernelGeneration::OldPath,
            KernelGeneration::NewPath,
            KernelGeneration::PseriesUnknown,
            KernelGeneration::NotPseries,
        ]);
        let session = session(Coverage::Full, ncpu, kernel);
        let mut engine = Engine::new(&session, Thresholds::default());
        let mut t = rng.range(0, 10);
        for _ in 0..2_000 {
            t += rng.range(0, 3) * rng.pick(&[1, US, MS, S]);
            let cpu = if rng.chance(2) {
                rng.next() as u32
            } else {
                rng.range(0, ncpu as u64 + 2) as u32
            };
            let tid = rng.range(0, 4) as u32;
            let small = |r: &mut Rng| r.pick(&[0i64, 18, -1, -2, -5, -11, -16, -9005, 9000, i64::MIN, i64::MAX]);
            let kind = match rng.range(0, 22) {
                0 => EventKind::Lost {
                    count: rng.next(),
                    first_ts_ns: rng.next(),
                    last_ts_ns: rng.next(),
                },
                1 => EventKind::TriggerEnter {
                    source: rng.pick(&[TriggerSource::Sysfs, TriggerSource::SysRtas, TriggerSource::Unknown]),
                    stream_id: rng.chance(50).then(|| rng.range(0, 3)),
                    comm: Comm::from_text("x"),
                },
                2 => EventKind::TriggerExit {
                    source: TriggerSource::Sysfs,
                    ret: small(&mut rng),
                },
                3 => EventKind::MigrateEnter {
                    handle: rng.range(0, 3),
                },
                4 => EventKind::MigrateExit { ret: small(&mut rng) },
                5 => EventKind::SuspendEnter {
                    arg0: rng.pick(&[1, 2, 0xc000_0000_0000_0000]),
                },
                6 => EventKind::SuspendExit { ret: small(&mut rng) },
                7 => EventKind::JoinEnter {
                    path: rng.pick(&[JoinPath::DoJoin, JoinPath::PercpuSuspendMe, JoinPath::Unknown]),
                },
                8 => EventKind::JoinExit {
                    path: JoinPath::DoJoin,
                    ret: small(&mut rng) as i32,
                },
                9 => EventKind::HcallEnter {
                    opcode: rng.pick(&[H_JOIN, H_PROD, H_VASI_STATE, H_VASI_SIGNAL, 0]),
                    args: [rng.range(0, 3), rng.range(0, 2), rng.next()],
                },
                10 => EventKind::HcallExit {
                    opcode: rng.pick(&[H_JOIN, H_PROD, H_VASI_STATE, H_VASI_SIGNAL]),
                    retval: small(&mut rng),
                    retbuf0: rng.chance(70).then(|| rng.range(0, 8)),
                },
                11 => EventKind::RtasEnter {
                    token: rng.pick(&[TOKEN, 1]),
                },
                12 => EventKind::RtasExit {
                    token: TOKEN,
                    status: small(&mut rng) as i32,
                },
                13 => EventKind::CpumaskEnter { op: CpumaskOp::Online },
                14 => EventKind::CpumaskExit {
                    op: CpumaskOp::Online,
                    ret: small(&mut rng) as i32,
                },
                15 => EventKind::HotplugEnter {
                    target_cpu: rng.range(0, ncpu as u64 + 2) as u32,
                    target: rng.pick(&[0, 236]),
                    idx: rng.range(0, 240) as i32,
                    multi: false,
                    fun: 0,
                },
                16 => EventKind::HotplugExit {
                    target_cpu: rng.next() as u32 % (ncpu + 2),
                    state: rng.pick(&[0, 236, 5]),
                    idx: 1,
                    ret: rng.pick(&[0, -16]),
                },
                17 => EventKind::CpuDownEnter {
                    target_cpu: Some(rng.range(0, 4) as u32),
                    via: CpuDownVia::Unknown,
                    comm: Comm::default(),
                },
                18 => EventKind::CpuDownExit {
                    via: CpuDownVia::Unknown,
                    ret: rng.pick(&[0, -16]),
                },
                19 => EventKind::CpuOnline {
                    target_cpu: rng.next() as u32 % (ncpu + 2),
                    online: rng.chance(50),
                    via: OnlineVia::Unknown,
                },
                20 => EventKind::IpiSendMask {
                    mask: CpuMask([rng.next(), rng.next(), rng.next(), rng.next()]),
                    callback: 0,
                    via: IpiSendVia::Unknown,
                },
                _ => EventKind::IpiSend {
                    target_cpu: rng.next() as u32,
                    callback: 0,
                    via: IpiSendVia::Unknown,
                },
            };
            // Some events arrive out of order (the clock must not go back).
            let ts = if rng.chance(3) {
                t.saturating_sub(rng.range(0, S))
            } else {
                t
            };
            engine.push(&Event {
                ts_ns: ts,
                cpu,
                tid,
                kind,
            });
            if rng.chance(5) {
                engine.advance_to(t + rng.range(0, 3 * S));
            }
        }
        let report = engine.finish();
        let keys: Vec<_> = report.findings.iter().map(|f| f.sort_key()).collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "seed {seed}: findings out of order"
        );
        serde_json::to_string(&report).expect("report serialises");
    }
}
