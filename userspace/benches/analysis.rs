//! Analysis throughput: events per second through `analysis::Engine` for a
//! synthetic IPI-heavy stream (64 CPUs, cross-CPU calls dominating as on
//! real systems) with a few complete migrations and some CPU hotplug mixed
//! in. Plain `std::time`, no harness: `cargo bench -p lpmtrace --bench
//! analysis` prints one line per run and the best figure.

use std::hint::black_box;
use std::time::Instant;

use lpmtrace::analysis::{Engine, Thresholds};
use lpmtrace::events::names::{H_JOIN, H_PROD, H_VASI_STATE};
use lpmtrace::events::session::{KernelGeneration, SessionInfo};
use lpmtrace::events::{Comm, CpuMask, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia, TriggerSource};

const CPUS: u32 = 64;
const EVENTS: usize = 4_000_000;
const RUNS: usize = 5;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn migration(evs: &mut Vec<Event>, t: &mut u64, stream: u64) {
    let tid = 4242;
    let push = |evs: &mut Vec<Event>, t: &mut u64, cpu: u32, tid: u32, kind: EventKind| {
        *t += 1_000;
        evs.push(Event {
            ts_ns: *t,
            cpu,
            tid,
            kind,
        });
    };
    push(
        evs,
        t,
        0,
        tid,
        EventKind::TriggerEnter {
            source: TriggerSource::Sysfs,
            stream_id: Some(stream),
            comm: Comm::from_text("drmgr"),
        },
    );
    push(
        evs,
        t,
        0,
        tid,
        EventKind::HcallEnter {
            opcode: H_VASI_STATE,
            args: [stream, 0, 0],
        },
    );
    push(
        evs,
        t,
        0,
        tid,
        EventKind::HcallExit {
            opcode: H_VASI_STATE,
            retval: 0,
            retbuf0: Some(3),
        },
    );
    for c in 0..CPUS {
        push(evs, t, c, 10 + c, EventKind::JoinEnter { path: JoinPath::DoJoin });
        push(
            evs,
            t,
            c,
            10 + c,
            EventKind::HcallEnter {
                opcode: H_JOIN,
                args: [0; 3],
            },
        );
    }
    push(
        evs,
        t,
        CPUS - 1,
        10 + CPUS - 1,
        EventKind::HcallExit {
            opcode: H_JOIN,
            retval: 18,
            retbuf0: None,
        },
    );
    push(evs, t, CPUS - 1, 10 + CPUS - 1, EventKind::RtasEnter { token: 0x202a });
    *t += 1_500_000_000;
    push(
        evs,
        t,
        CPUS - 1,
        10 + CPUS - 1,
        EventKind::RtasExit {
            token: 0x202a,
            status: 0,
        },
    );
    for c in 0..CPUS - 1 {
        push(
            evs,
            t,
            CPUS - 1,
            10 + CPUS - 1,
            EventKind::HcallEnter {
                opcode: H_PROD,
                args: [c as u64, 0, 0],
            },
        );
    }
    for c in 0..CPUS {
        if c != CPUS - 1 {
            push(
                evs,
                t,
                c,
                10 + c,
                EventKind::HcallExit {
                    opcode: H_JOIN,
                    retval: 0,
                    retbuf0: None,
                },
            );
        }
        push(
            evs,
            t,
            c,
            10 + c,
            EventKind::JoinExit {
                path: JoinPath::DoJoin,
                ret: 0,
            },
        );
    }
    push(
        evs,
        t,
        0,
        tid,
        EventKind::TriggerExit {
            source: TriggerSource::Sysfs,
            ret: 4,
        },
    );
}

fn stream() -> Vec<Event> {
    let mut rng = Lcg(7);
    let mut evs = Vec::with_capacity(EVENTS + 10_000);
    let mut t = 1_000_000_000u64;
    let mut n = 0u64;
    while evs.len() < EVENTS {
        n += 1;
        t += 1 + rng.next() % 400;
        let src = (rng.next() % CPUS as u64) as u32;
        let dst = (rng.next() % CPUS as u64) as u32;
        match rng.next() % 100 {
            0..=44 => evs.push(Event {
                ts_ns: t,
                cpu: src,
                tid: 0,
                kind: EventKind::IpiSend {
                    target_cpu: dst,
                    callback: 0xc000_0000_0010_0000,
                    via: IpiSendVia::Tracepoint,
                },
            }),
            45..=94 => {
                let via = IpiHandleVia::CsdFunction;
                let kind = if n.is_multiple_of(2) {
                    EventKind::IpiHandleEnter {
                        func: 0xc000_0000_0010_0000,
                        via,
                    }
                } else {
                    EventKind::IpiHandleExit {
                        func: 0xc000_0000_0010_0000,
                        via,
                    }
                };
                evs.push(Event {
                    ts_ns: t,
                    cpu: dst,
                    tid: 0,
                    kind,
                });
            }
            _ => {
                let mut mask = CpuMask::default();
                mask.0[0] = rng.next() | (rng.next() << 31);
                evs.push(Event {
                    ts_ns: t,
                    cpu: src,
                    tid: 0,
                    kind: EventKind::IpiSendMask {
                        mask,
                        callback: 0,
                        via: IpiSendVia::CallFunctionMany,
                    },
                });
            }
        }
        if n % 1_000_000 == 500_000 {
            migration(&mut evs, &mut t, n);
        }
        if n.is_multiple_of(700_000) {
            let c = 1 + (rng.next() % (CPUS as u64 - 1)) as u32;
            evs.push(Event {
                ts_ns: t,
                cpu: c,
                tid: 0,
                kind: EventKind::CpuOnline {
                    target_cpu: c,
                    online: false,
                    via: OnlineVia::SetCpuOnline,
                },
            });
            t += 50_000_000;
            evs.push(Event {
                ts_ns: t,
                cpu: c,
                tid: 0,
                kind: EventKind::CpuOnline {
                    target_cpu: c,
                    online: true,
                    via: OnlineVia::SetCpuOnline,
                },
            });
        }
    }
    evs
}

fn main() {
    let events = stream();
    let session = SessionInfo::synthetic("ppc64le", CPUS, KernelGeneration::NewPath);
    let mut best = 0f64;
    for run in 1..=RUNS {
        let start = Instant::now();
        let mut engine = Engine::new(&session, Thresholds::default());
        for ev in &events {
            engine.push(ev);
        }
        let report = black_box(engine.finish());
        let secs = start.elapsed().as_secs_f64();
        let rate = events.len() as f64 / secs;
        best = best.max(rate);
        println!(
            "run {run}: {} events ({} migrations, {} findings) in {:.1} ms: {:.1} M events/s",
            events.len(),
            report.migrations.len(),
            report.findings.len(),
            secs * 1e3,
            rate / 1e6
        );
    }
    println!(
        "analysis: best {:.1} M events/s (one core, IPI-heavy stream, {CPUS} CPUs)",
        best / 1e6
    );
}
