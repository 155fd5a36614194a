//! The committed version-1 recording (tests/fixtures/v1-small.lpmt) must
//! stay readable, with exactly these events and this header, forever: a
//! reader change that breaks it breaks every recording SREs have on disk.
//!
//! The file was produced once by the ignored test below
//! (`cargo test --test record_fixture -- --ignored generate`) and must not
//! be regenerated unless a new version is added next to it.

use std::path::PathBuf;

use lpmtrace::events::session::{
    ClockKind, CoverageStatus, HotplugState, IpiDetail, KernelGeneration, ProbeCoverage, SessionInfo,
};
use lpmtrace::events::{
    Comm, CpuDownVia, CpuMask, CpumaskOp, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia,
    TriggerSource,
};
use lpmtrace::record::{FileSource, FooterStatus, OpenOptions, Writer, WriterOptions};
use lpmtrace::source::EventSource;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-small.lpmt")
}

/// The header of the fixture, spelled out (not shared with other tests,
/// so changing a helper cannot change the expectation).
fn v1_session() -> SessionInfo {
    SessionInfo {
        hostname: "fixture-lpar".into(),
        kernel_release: "5.14.0-fixture.ppc64le".into(),
        arch: "ppc64le".into(),
        cpu_count: 4,
        clock: ClockKind::Boottime,
        clock_to_wall_offset_ns: 1_795_000_000_000_000_000,
        command_line: vec!["lpmtrace".into(), "record".into(), "-o".into(), "v1-small.lpmt".into()],
        generation: KernelGeneration::NewPath,
        coverage: vec![
            ProbeCoverage {
                probe: "lpm.join".into(),
                status: CoverageStatus::Attached {
                    candidate: "do_join kprobes".into(),
                    hooks: vec!["kprobe:do_join".into(), "kretprobe:do_join".into()],
                    partial: Vec::new(),
                },
            },
            ProbeCoverage {
                probe: "lpm.rtas".into(),
                status: CoverageStatus::Missing {
                    reasons: vec!["kprobe:rtas_call: not in kallsyms".into()],
                },
            },
            ProbeCoverage {
                probe: "lpm.cpumask".into(),
                status: CoverageStatus::NotApplicable {
                    reason: "new-path kernel".into(),
                },
            },
            ProbeCoverage {
                probe: "ipi.handle".into(),
                status: CoverageStatus::Disabled,
            },
        ],
        hcall_filter: vec![0x298, 0xe8, 0x2a4, 0x2a0],
        suspend_me_token: Some(0x2b),
        hotplug_states: vec![
            HotplugState {
                idx: 0,
                name: "offline".into(),
            },
            HotplugState {
                idx: 233,
                name: "online".into(),
            },
        ],
        symbols: vec![
            (0xc000_0000_0011_2340, "sched_cpu_deactivate".into()),
            (0xc000_0000_0023_4560, "do_nothing".into()),
        ],
        tool_version: "0.1.0".into(),
        // A 1.0 header has no such field: those sessions recorded every IPI.
        ipi_detail: IpiDetail::All,
        flight: None,
        cpu_masks: None,
        platform: None,
    }
}

/// Every v1 event kind, then an IPI burst, over ~0.9 s (4 blocks).
fn v1_events() -> Vec<Event> {
    use EventKind::*;
    let f = 0xc000_0000_0023_4560;
    let kinds = [
        TriggerEnter {
            source: TriggerSource::Sysfs,
            stream_id: Some(0x5a5a_0001),
            comm: Comm::from_text("drmgr"),
        },
        MigrateEnter { handle: 0x5a5a_0001 },
        SuspendEnter {
            arg0: 0xc000_0000_dead_0000,
        },
        HcallEnter {
            opcode: 0x2a4,
            args: [0x5a5a_0001, 0, 0],
        },
        HcallExit {
            opcode: 0x2a4,
            retval: 0,
            retbuf0: Some(5),
        },
        JoinEnter { path: JoinPath::DoJoin },
        HcallEnter {
            opcode: 0x298,
            args: [0, 0, 0],
        },
        HcallExit {
            opcode: 0x298,
            retval: 18,
            retbuf0: None,
        },
        RtasEnter { token: 0x2b },
        RtasExit { token: 0x2b, status: 0 },
        JoinExit {
            path: JoinPath::DoJoin,
            ret: 0,
        },
        CpumaskEnter { op: CpumaskOp::Offline },
        CpumaskExit {
            op: CpumaskOp::Offline,
            ret: 0,
        },
        CpuDownEnter {
            target_cpu: Some(3),
            via: CpuDownVia::CpuDeviceDown,
            comm: Comm::from_text("drmgr"),
        },
        HotplugEnter {
            target_cpu: 3,
            target: 0,
            idx: 233,
            multi: false,
            fun: 0xc000_0000_0011_2340,
        },
        HotplugExit {
            target_cpu: 3,
            state: 232,
            idx: 233,
            ret: 0,
        },
        CpuOnline {
            target_cpu: 3,
            online: false,
            via: OnlineVia::SetCpuOnline,
        },
        CpuDownExit {
            via: CpuDownVia::CpuDeviceDown,
            ret: -16,
        },
        IpiSend {
            target_cpu: 1,
            callback: f,
            via: IpiSendVia::Tracepoint,
        },
        IpiSendMask {
            mask: CpuMask([0b110, 0, 0, 0]),
            callback: f,
            via: IpiSendVia::CallFunctionMany,
        },
        IpiHandleEnter {
            func: f,
            via: IpiHandleVia::CsdFunction,
        },
        IpiHandleExit {
            func: f,
            via: IpiHandleVia::CsdFunction,
        },
        SuspendExit { ret: 0 },
        MigrateExit { ret: 0 },
        TriggerExit {
            source: TriggerSource::Sysfs,
            ret: 8,
        },
        Lost {
            count: 42,
            first_ts_ns: 1_000_100_000,
            last_ts_ns: 1_000_200_000,
        },
    ];
    let mut out: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            ts_ns: 1_000_000_000 + i as u64 * 37_000_000,
            cpu: (i % 4) as u32,
            tid: 4000 + (i % 3) as u32,
            kind,
        })
        .collect();
    for i in 0..30u64 {
        let t = 1_950_000_000 + i * 15_000;
        let (s, r) = ((i % 2) as u32, 1 - (i % 2) as u32);
        out.push(Event {
            ts_ns: t,
            cpu: s,
            tid: 100 + s,
            kind: IpiSend {
                target_cpu: r,
                callback: f,
                via: IpiSendVia::Tracepoint,
            },
        });
        out.push(Event {
            ts_ns: t + 2_000,
            cpu: r,
            tid: 100 + r,
            kind: IpiHandleEnter {
                func: f,
                via: IpiHandleVia::CsdFunction,
            },
        });
        out.push(Event {
            ts_ns: t + 3_000,
            cpu: r,
            tid: 100 + r,
            kind: IpiHandleExit {
                func: f,
                via: IpiHandleVia::CsdFunction,
            },
        });
    }
    out
}

#[test]
fn v1_small_fixture_stays_readable() {
    let path = fixture();
    let mut src = FileSource::open(&path, OpenOptions::default())
        .unwrap_or_else(|e| panic!("{e} (regenerate only with a format change: see the module docs)"));
    assert_eq!(src.session(), &v1_session());
    let info = src.info().clone();
    assert_eq!((info.format_major, info.format_minor), (1, 0));
    assert_eq!(info.footer, FooterStatus::Present);
    assert_eq!(info.blocks.len(), 4);
    assert_eq!(info.lost_records, 1);
    assert_eq!(info.lost_events, 42);
    assert_eq!(info.probe_counts.get("ipi.handle"), Some(&62));
    let mut got = Vec::new();
    while let Some(e) = src.next_event().unwrap() {
        got.push(e);
    }
    assert_eq!(got, v1_events());

    // Seeking by time through the footer index.
    src.seek_to(1_950_000_000);
    let e = src.next_event().unwrap().unwrap();
    assert_eq!(e.ts_ns, 1_950_000_000);
    assert!(matches!(e.kind, EventKind::IpiSend { .. }));
}

#[test]
#[ignore = "writes tests/fixtures/v1-small.lpmt; run once per new format version"]
fn generate_v1_small_fixture() {
    let path = fixture();
    let opts = WriterOptions {
        force: true,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&path, &v1_session(), opts).unwrap();
    for e in v1_events() {
        w.push(&e).unwrap();
    }
    let s = w.finish().unwrap();
    eprintln!(
        "wrote {} ({} events, {} blocks, {} bytes)",
        path.display(),
        s.events,
        s.blocks,
        s.bytes
    );
}
