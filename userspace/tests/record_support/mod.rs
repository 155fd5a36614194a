//! Shared helpers of the `record_*` tests: temporary directories, a
//! session with every header field set, one event of every kind, and the
//! IPI-shaped synthetic stream.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lpmtrace::events::session::{
    ClockKind, CoverageStatus, HotplugState, IpiDetail, KernelGeneration, ProbeCoverage, SessionInfo,
};
use lpmtrace::events::{
    Comm, CpuDownVia, CpuMask, CpumaskOp, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia,
    TriggerSource,
};
use lpmtrace::record::{FileSource, OpenOptions, WriteSummary, Writer, WriterOptions};
use lpmtrace::source::EventSource;

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "lpmtrace-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const IPI_FUNC: u64 = 0xc000_0000_0023_4560;
pub const IPI_FUNC2: u64 = 0xc000_0000_0045_6780;
pub const HP_FUN: u64 = 0xc000_0000_0011_2340;

/// A session with every field set to something non-default.
pub fn full_session() -> SessionInfo {
    SessionInfo {
        hostname: "lpar-07.example".into(),
        kernel_release: "6.8.0-lpm+".into(),
        arch: "ppc64le".into(),
        cpu_count: 16,
        clock: ClockKind::Boottime,
        clock_to_wall_offset_ns: 1_795_000_000_000_000_000 - 1_000_000_000,
        command_line: vec!["lpmtrace".into(), "record".into(), "-o".into(), "x.lpmt".into()],
        generation: KernelGeneration::NewPath,
        coverage: vec![
            ProbeCoverage {
                probe: "lpm.join".into(),
                status: CoverageStatus::Attached {
                    candidate: "do_join kprobes".into(),
                    hooks: vec!["kprobe:do_join".into(), "kretprobe:do_join".into()],
                    partial: vec!["kprobe:x: not found".into()],
                },
            },
            ProbeCoverage {
                probe: "lpm.rtas".into(),
                status: CoverageStatus::Missing {
                    reasons: vec!["kprobe:rtas_call: symbol not in kallsyms".into()],
                },
            },
            ProbeCoverage {
                probe: "lpm.cpumask".into(),
                status: CoverageStatus::NotApplicable {
                    reason: "new-path kernel".into(),
                },
            },
            ProbeCoverage {
                probe: "ipi.send".into(),
                status: CoverageStatus::Disabled,
            },
        ],
        hcall_filter: vec![0x298, 0xe8, 0x2a4, 0x2a0, 0xe0],
        suspend_me_token: Some(0x2b),
        hotplug_states: vec![
            HotplugState {
                idx: 0,
                name: "offline".into(),
            },
            HotplugState {
                idx: 146,
                name: "cpu:teardown".into(),
            },
            HotplugState {
                idx: 233,
                name: "online".into(),
            },
        ],
        symbols: vec![(HP_FUN, "sched_cpu_deactivate".into()), (IPI_FUNC, "do_nothing".into())],
        tool_version: "test-1.2.3".into(),
        ipi_detail: IpiDetail::Window,
        // Left out: the fixture of record_fixture was written without it.
        flight: None,
        cpu_masks: None,
        platform: None,
    }
}

/// One event of every kind (and several enum values), in time order from
/// `base`, 1 ms apart.
pub fn every_kind(base: u64) -> Vec<Event> {
    use EventKind::*;
    let kinds = vec![
        Lost {
            count: 17,
            first_ts_ns: base - 5_000,
            last_ts_ns: base - 10,
        },
        TriggerEnter {
            source: TriggerSource::Sysfs,
            stream_id: Some(0x1234_5678_9abc),
            comm: Comm::from_text("drmgr"),
        },
        TriggerEnter {
            source: TriggerSource::SyscallDispatch,
            stream_id: None,
            comm: Comm::from_text("a-very-long-command-name"),
        },
        TriggerExit {
            source: TriggerSource::SysRtas,
            ret: -16,
        },
        TriggerExit {
            source: TriggerSource::Unknown,
            ret: 8,
        },
        MigrateEnter { handle: u64::MAX },
        MigrateExit { ret: -125 },
        SuspendEnter { arg0: 0xc000_1234 },
        SuspendExit { ret: -9000 },
        JoinEnter { path: JoinPath::DoJoin },
        JoinEnter {
            path: JoinPath::PercpuSuspendMe,
        },
        JoinExit {
            path: JoinPath::Unknown,
            ret: -22,
        },
        HcallEnter {
            opcode: 0x2a0,
            args: [1, 1, 0x8000_0000_0000_0000],
        },
        HcallExit {
            opcode: 0x2a4,
            retval: 0,
            retbuf0: Some(3),
        },
        HcallExit {
            opcode: 0x298,
            retval: 18,
            retbuf0: None,
        },
        RtasEnter { token: 0x2b },
        RtasExit {
            token: 0x2b,
            status: 9000,
        },
        CpumaskEnter { op: CpumaskOp::Offline },
        CpumaskExit {
            op: CpumaskOp::Online,
            ret: -1,
        },
        CpumaskExit {
            op: CpumaskOp::Unknown,
            ret: 0,
        },
        HotplugEnter {
            target_cpu: 3,
            target: 0,
            idx: 146,
            multi: true,
            fun: HP_FUN,
        },
        HotplugEnter {
            target_cpu: 3,
            target: 0,
            idx: 145,
            multi: false,
            fun: 0,
        },
        HotplugExit {
            target_cpu: 3,
            state: 145,
            idx: 146,
            ret: -16,
        },
        CpuDownEnter {
            target_cpu: Some(3),
            via: CpuDownVia::CpuDeviceDown,
            comm: Comm::from_text("bash"),
        },
        CpuDownEnter {
            target_cpu: None,
            via: CpuDownVia::CpuDown,
            comm: Comm([0; 16]),
        },
        CpuDownExit {
            via: CpuDownVia::RemoveCpu,
            ret: -16,
        },
        CpuOnline {
            target_cpu: 3,
            online: false,
            via: OnlineVia::PseriesCpuDisable,
        },
        CpuOnline {
            target_cpu: 3,
            online: true,
            via: OnlineVia::SetCpuOnline,
        },
        CpuOnline {
            target_cpu: 4,
            online: false,
            via: OnlineVia::PseriesOfflineSelf,
        },
        IpiSend {
            target_cpu: 1,
            callback: IPI_FUNC,
            via: IpiSendVia::Tracepoint,
        },
        IpiSend {
            target_cpu: 2,
            callback: 0,
            via: IpiSendVia::CauseIpi,
        },
        IpiSendMask {
            mask: CpuMask([0b1010, 0, 1 << 63, 0]),
            callback: IPI_FUNC2,
            via: IpiSendVia::CallFunctionMany,
        },
        IpiHandleEnter {
            func: IPI_FUNC,
            via: IpiHandleVia::CsdFunction,
        },
        IpiHandleExit {
            func: IPI_FUNC,
            via: IpiHandleVia::IrqHandler,
        },
        IpiHandleExit {
            func: 0,
            via: IpiHandleVia::Unknown,
        },
        IpiTally { sent: 0, handled: 1 },
        IpiTally {
            sent: u64::MAX,
            handled: 12_345,
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            ts_ns: base + i as u64 * 1_000_000,
            cpu: (i % 5) as u32,
            tid: 100 + (i % 3) as u32,
            kind,
        })
        .collect()
}

/// xorshift64*: deterministic noise for synthetic streams.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// `ipis` IPIs between two CPUs at ~65k IPIs/s, alternating sender and
/// target: each an `IpiSend` on the sender, then the csd entry and exit on
/// the target, with jittered gaps and realistic thread churn.
pub fn ipi_stream(ipis: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(ipis * 3);
    let mut t: u64 = 5_000_000_000_000; // 5000 s after boot
    let mut current = [1200u32, 3400u32]; // task running on cpu0, cpu1
    for i in 0..ipis {
        let sender = (i % 2) as u32;
        let target = 1 - sender;
        for task in current.iter_mut() {
            if rng.range(0, 100) < 3 {
                *task = rng.range(1000, 40_000) as u32;
            }
        }
        let func = match rng.range(0, 10) {
            0 => IPI_FUNC2,
            _ => IPI_FUNC,
        };
        out.push(Event {
            ts_ns: t,
            cpu: sender,
            tid: current[sender as usize],
            kind: EventKind::IpiSend {
                target_cpu: target,
                callback: func,
                via: IpiSendVia::Tracepoint,
            },
        });
        let enter = t + rng.range(1_500, 4_000);
        out.push(Event {
            ts_ns: enter,
            cpu: target,
            tid: current[target as usize],
            kind: EventKind::IpiHandleEnter {
                func,
                via: IpiHandleVia::CsdFunction,
            },
        });
        out.push(Event {
            ts_ns: enter + rng.range(400, 2_000),
            cpu: target,
            tid: current[target as usize],
            kind: EventKind::IpiHandleExit {
                func,
                via: IpiHandleVia::CsdFunction,
            },
        });
        // 65k IPIs/s: 15.4 us apart on average.
        t += rng.range(10_800, 20_000);
    }
    out
}

/// Writes `events` to a new file and finishes it.
pub fn write_file(path: &Path, session: &SessionInfo, events: &[Event], opts: WriterOptions) -> WriteSummary {
    let mut w = Writer::create(path, session, opts).unwrap();
    for e in events {
        w.push(e).unwrap();
    }
    w.finish().unwrap()
}

/// Every event of a recording.
pub fn read_all(path: &Path, opts: OpenOptions) -> (FileSource, Vec<Event>) {
    let mut src = FileSource::open(path, opts).unwrap();
    let mut events = Vec::new();
    while let Some(e) = src.next_event().unwrap() {
        events.push(e);
    }
    (src, events)
}

/// Options that cut a block every 100 events' worth of 1 ms spacing, to
/// get several blocks out of a small recording.
pub fn small_blocks() -> WriterOptions {
    WriterOptions {
        block_interval: std::time::Duration::from_millis(10),
        ..WriterOptions::default()
    }
}
