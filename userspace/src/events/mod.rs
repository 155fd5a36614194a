//! Decoded events: the one model every stage after the transport speaks.
//!
//! The ring buffer carries `lpmtrace-common` records; [`decode`] turns them
//! into [`Event`]s. Recordings store events, the analysis consumes them, the
//! views print them. An `Event` is `Copy` and small so the analysis can run
//! at tens of millions of events per second.
//!
//! Invariants:
//! - `ts_ns` is the kernel clock of the session ([`session::ClockKind`]).
//! - `cpu` is the CPU the probe fired on; the CPU an event is *about* (the one
//!   going offline, the IPI target) is a field of the kind (`target_cpu`).

pub mod decode;
pub mod names;
pub mod session;

use serde::{Deserialize, Serialize};

/// One decoded kernel event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Kernel timestamp in nanoseconds (boot clock where available).
    pub ts_ns: u64,
    /// CPU the probe fired on.
    pub cpu: u32,
    /// Thread that was running (kernel pid).
    pub tid: u32,
    /// What happened.
    pub kind: EventKind,
}

/// The CPU of a [`EventKind::Lost`] record that the reader puts in place of
/// a damaged block skipped with `--salvage`: the events it held are lost
/// to the recording, not to one CPU's ring.
pub const DAMAGED_BLOCK_CPU: u32 = u32::MAX;

/// Whether an event marks entering a function, leaving it, or a point event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Function or step entered.
    Enter,
    /// Function or step returned.
    Exit,
    /// Point event (a state change, a loss report, an IPI sent).
    Event,
}

/// A task command name (`comm`), NUL padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    /// Builds a comm from text, truncated to 15 bytes.
    pub fn from_text(text: &str) -> Self {
        let mut bytes = [0u8; 16];
        let n = text.len().min(15);
        bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
        Comm(bytes)
    }

    /// The name up to the first NUL, lossily decoded.
    pub fn as_text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

/// A set of up to 256 CPUs (what one IPI-mask record carries).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CpuMask(pub [u64; 4]);

impl CpuMask {
    /// Whether `cpu` is in the mask.
    pub fn contains(&self, cpu: u32) -> bool {
        let (word, bit) = ((cpu / 64) as usize, cpu % 64);
        word < self.0.len() && self.0[word] & (1 << bit) != 0
    }

    /// CPUs in the mask, ascending.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        (0..256u32).filter(|&c| self.contains(c))
    }

    /// Number of CPUs in the mask.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// How a migration was triggered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerSource {
    /// A write to /sys/kernel/mobility/migration (`migration_store`).
    Sysfs,
    /// `rtas_syscall_dispatch_ibm_suspend_me` (sys_rtas, >= 5.11).
    SyscallDispatch,
    /// `sys_rtas` with the ibm,suspend-me token (legacy drmgr, API v0).
    SysRtas,
    /// Not known (a newer record).
    Unknown,
}

/// Which function a CPU joined through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinPath {
    /// `do_join` under stop_machine (>= 5.11).
    DoJoin,
    /// `rtas_percpu_suspend_me` IPI handler (<= 5.10).
    PercpuSuspendMe,
    /// Not known.
    Unknown,
}

/// Old kernels online/offline CPUs around the join (<= 5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpumaskOp {
    /// `rtas_online_cpus_mask`.
    Online,
    /// `rtas_offline_cpus_mask`.
    Offline,
    /// Not known.
    Unknown,
}

/// Which entry point asked for a CPU to go offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuDownVia {
    /// `cpu_device_down` (sysfs online=0, DLPAR; >= 5.7).
    CpuDeviceDown,
    /// `remove_cpu` / `cpu_down` with a CPU number.
    RemoveCpu,
    /// `cpu_down` (< 5.7).
    CpuDown,
    /// Not known.
    Unknown,
}

/// Which hook saw a CPU's online bit change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnlineVia {
    /// `set_cpu_online`.
    SetCpuOnline,
    /// Trap probe in `pseries_cpu_disable` (dying CPU).
    PseriesCpuDisable,
    /// Trap probe in `pseries_cpu_offline_self` (dying CPU stops).
    PseriesOfflineSelf,
    /// Not known.
    Unknown,
}

/// Which hook saw an IPI being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpiSendVia {
    /// `ipi:ipi_send_cpu` / `ipi_send_cpumask`.
    Tracepoint,
    /// `xive_cause_ipi` / `icp_hv_cause_ipi`.
    CauseIpi,
    /// `smp_call_function_many`.
    CallFunctionMany,
    /// Not known.
    Unknown,
}

/// Which hook saw an IPI being handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpiHandleVia {
    /// `csd:csd_function_entry/exit`.
    CsdFunction,
    /// The IPI interrupt handler (`generic_smp_call_function_single_interrupt`).
    IrqHandler,
    /// Not known.
    Unknown,
}

/// What an event says. Field meanings follow the kernel functions named in
/// the probe catalogue (docs/probes.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    /// Records were dropped on `cpu` (ring buffer full) between the times.
    Lost {
        /// Number of dropped records.
        count: u64,
        /// First drop.
        first_ts_ns: u64,
        /// Last drop.
        last_ts_ns: u64,
    },
    /// A migration trigger was entered.
    TriggerEnter {
        /// Which entry point.
        source: TriggerSource,
        /// The stream id, when the probe could read it.
        stream_id: Option<u64>,
        /// Command name of the caller.
        comm: Comm,
    },
    /// A migration trigger returned.
    TriggerExit {
        /// Which entry point.
        source: TriggerSource,
        /// Return value (bytes written, or -errno).
        ret: i64,
    },
    /// `pseries_migrate_partition` entered.
    MigrateEnter {
        /// Stream id.
        handle: u64,
    },
    /// `pseries_migrate_partition` returned.
    MigrateExit {
        /// 0 or -errno.
        ret: i64,
    },
    /// `rtas_ibm_suspend_me` entered.
    SuspendEnter {
        /// Old kernels: the stream id; new kernels: a pointer (ignore).
        arg0: u64,
    },
    /// `rtas_ibm_suspend_me` returned.
    SuspendExit {
        /// Old kernels: -errno or raw hcall/RTAS code; new: 0/-errno.
        ret: i64,
    },
    /// A CPU entered the join.
    JoinEnter {
        /// Which function.
        path: JoinPath,
    },
    /// A CPU left `do_join`.
    JoinExit {
        /// Which function.
        path: JoinPath,
        /// 0 or -errno.
        ret: i32,
    },
    /// An LPM hcall was made.
    HcallEnter {
        /// Opcode (see [`names::hcall_name`]).
        opcode: u32,
        /// First three arguments.
        args: [u64; 3],
    },
    /// An LPM hcall returned.
    HcallExit {
        /// Opcode.
        opcode: u32,
        /// Return code.
        retval: i64,
        /// `retbuf[0]` when readable (H_VASI_STATE: the state).
        retbuf0: Option<u64>,
    },
    /// ibm,suspend-me was called.
    RtasEnter {
        /// RTAS token.
        token: u32,
    },
    /// ibm,suspend-me returned.
    RtasExit {
        /// RTAS token.
        token: u32,
        /// RTAS status.
        status: i32,
    },
    /// Old kernels: CPUs brought online/offline around the join.
    CpumaskEnter {
        /// Which direction.
        op: CpumaskOp,
    },
    /// The cpumask helper returned.
    CpumaskExit {
        /// Which direction.
        op: CpumaskOp,
        /// 0 or error.
        ret: i32,
    },
    /// A hotplug step started for `target_cpu` (`cpuhp_enter`/`multi_enter`).
    HotplugEnter {
        /// CPU being brought up or down.
        target_cpu: u32,
        /// Target state of the whole operation.
        target: i32,
        /// The step (state index) being run.
        idx: i32,
        /// From `cpuhp_multi_enter`.
        multi: bool,
        /// Address of the step's callback.
        fun: u64,
    },
    /// A hotplug step finished (`cpuhp_exit`).
    HotplugExit {
        /// CPU being brought up or down.
        target_cpu: u32,
        /// State reached.
        state: i32,
        /// The step.
        idx: i32,
        /// Step result (0 ok, -errno).
        ret: i32,
    },
    /// Someone asked for a CPU to go offline.
    CpuDownEnter {
        /// The CPU, when the hook can read it.
        target_cpu: Option<u32>,
        /// Entry point.
        via: CpuDownVia,
        /// Requester.
        comm: Comm,
    },
    /// The offline request returned.
    CpuDownExit {
        /// Entry point.
        via: CpuDownVia,
        /// 0, -EBUSY (hotplug disabled), ...
        ret: i32,
    },
    /// A CPU's online bit changed (or it reached the code that changes it).
    CpuOnline {
        /// The CPU.
        target_cpu: u32,
        /// New state.
        online: bool,
        /// Which hook.
        via: OnlineVia,
    },
    /// An IPI was sent to one CPU.
    IpiSend {
        /// Target.
        target_cpu: u32,
        /// Callback address, 0 when unknown.
        callback: u64,
        /// Which hook.
        via: IpiSendVia,
    },
    /// An IPI was sent to several CPUs.
    IpiSendMask {
        /// Targets (first 256 CPUs).
        mask: CpuMask,
        /// Callback address, 0 when unknown.
        callback: u64,
        /// Which hook.
        via: IpiSendVia,
    },
    /// A cross-CPU call started running on this CPU.
    IpiHandleEnter {
        /// Function, 0 when unknown.
        func: u64,
        /// Which hook.
        via: IpiHandleVia,
    },
    /// A cross-CPU call finished on this CPU.
    IpiHandleExit {
        /// Function, 0 when unknown.
        func: u64,
        /// Which hook.
        via: IpiHandleVia,
    },
    /// IPIs on this CPU that were counted, not recorded one by one, since
    /// the previous tally of this CPU: they came outside the IPI window
    /// (no migration in flight, no CPU hotplug in the last seconds; see
    /// docs/architecture.md). Stamped when userspace read the counters.
    IpiTally {
        /// IPI send operations by this CPU (one per single or mask send).
        sent: u64,
        /// Cross-CPU calls that started running on this CPU.
        handled: u64,
    },
}

impl EventKind {
    /// The logical probe (catalogue name) that produces this kind.
    pub fn probe(&self) -> &'static str {
        use EventKind::*;
        match self {
            Lost { .. } => "transport.lost",
            TriggerEnter { .. } | TriggerExit { .. } => "lpm.trigger",
            MigrateEnter { .. } | MigrateExit { .. } => "lpm.migrate",
            SuspendEnter { .. } | SuspendExit { .. } => "lpm.suspend",
            JoinEnter { .. } | JoinExit { .. } => "lpm.join",
            HcallEnter { .. } | HcallExit { .. } => "lpm.hcall",
            RtasEnter { .. } | RtasExit { .. } => "lpm.rtas",
            CpumaskEnter { .. } | CpumaskExit { .. } => "lpm.cpumask",
            HotplugEnter { .. } | HotplugExit { .. } => "cpu.hotplug",
            CpuDownEnter { .. } | CpuDownExit { .. } => "cpu.down",
            CpuOnline { .. } => "cpu.online",
            IpiSend { .. } | IpiSendMask { .. } => "ipi.send",
            IpiHandleEnter { .. } | IpiHandleExit { .. } => "ipi.handle",
            IpiTally { .. } => "ipi.tally",
        }
    }

    /// Enter, exit or point event.
    pub fn phase(&self) -> Phase {
        use EventKind::*;
        match self {
            TriggerEnter { .. }
            | MigrateEnter { .. }
            | SuspendEnter { .. }
            | JoinEnter { .. }
            | HcallEnter { .. }
            | RtasEnter { .. }
            | CpumaskEnter { .. }
            | HotplugEnter { .. }
            | CpuDownEnter { .. }
            | IpiHandleEnter { .. } => Phase::Enter,
            TriggerExit { .. }
            | MigrateExit { .. }
            | SuspendExit { .. }
            | JoinExit { .. }
            | HcallExit { .. }
            | RtasExit { .. }
            | CpumaskExit { .. }
            | HotplugExit { .. }
            | CpuDownExit { .. }
            | IpiHandleExit { .. } => Phase::Exit,
            Lost { .. } | CpuOnline { .. } | IpiSend { .. } | IpiSendMask { .. } | IpiTally { .. } => Phase::Event,
        }
    }
}

/// All logical probe names an event can carry, in catalogue order.
pub const PROBE_NAMES: &[&str] = &[
    "lpm.trigger",
    "lpm.migrate",
    "lpm.suspend",
    "lpm.join",
    "lpm.hcall",
    "lpm.rtas",
    "lpm.cpumask",
    "cpu.hotplug",
    "cpu.down",
    "cpu.online",
    "ipi.send",
    "ipi.handle",
    "ipi.tally",
    "transport.lost",
];
