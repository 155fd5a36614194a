//! Records that lpmtrace's eBPF programs write into the ring buffer, shared
//! byte for byte with userspace.
//!
//! Invariants:
//! - Every record starts with a [`RecordHeader`]; its `kind` says which struct
//!   follows. Kind numbers are stable: they are never reused or renumbered
//!   (retired numbers stay commented out), because old recordings and old
//!   userspace builds must keep decoding them.
//! - Kinds are grouped in ranges by subsystem: 1–9 transport, 10–39 LPM path,
//!   40–59 CPU hotplug, 60–79 IPIs.
//! - All structs are `#[repr(C)]`, `Copy`, with explicit padding so that the
//!   eBPF side writes every byte (the verifier and the reader both want no
//!   uninitialised holes). Sizes are pinned by `const` asserts below.
//! - Hot records (IPIs, hcalls) stay at 32 bytes or less.
#![no_std]

/// Common prefix of every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// Kernel clock in nanoseconds: CLOCK_BOOTTIME where the kernel has
    /// `bpf_ktime_get_boot_ns` (5.8+), CLOCK_MONOTONIC otherwise (see
    /// [`Config::boot_clock`]).
    pub ts_ns: u64,
    /// One of the `KIND_*` constants.
    pub kind: u16,
    /// CPU the probe fired on.
    pub cpu: u16,
    /// Thread id (kernel "pid") that was running.
    pub tid: u32,
}

// --- kind numbers (stable) ----------------------------------------------------

/// Records lost because the ring buffer was full (synthesised by userspace
/// from the `LOST` map; the eBPF side never has room to say it).
pub const KIND_LOST: u16 = 1;

/// Migration trigger entered: `migration_store` (sysfs), or
/// `rtas_syscall_dispatch_ibm_suspend_me` / `sys_rtas` (legacy drmgr path).
pub const KIND_TRIGGER_ENTER: u16 = 10;
/// Migration trigger returned.
pub const KIND_TRIGGER_EXIT: u16 = 11;
/// `pseries_migrate_partition(handle)` entered (>= 5.11).
pub const KIND_MIGRATE_ENTER: u16 = 12;
/// `pseries_migrate_partition` returned.
pub const KIND_MIGRATE_EXIT: u16 = 13;
/// `rtas_ibm_suspend_me` entered (old: `u64 handle`; new: `int *fw_status`).
pub const KIND_SUSPEND_ENTER: u16 = 14;
/// `rtas_ibm_suspend_me` returned.
pub const KIND_SUSPEND_EXIT: u16 = 15;
/// A CPU entered the join: `do_join` (>= 5.11) or `rtas_percpu_suspend_me`.
pub const KIND_JOIN_ENTER: u16 = 16;
/// `do_join` returned on a CPU.
pub const KIND_JOIN_EXIT: u16 = 17;
/// An LPM-relevant hcall was made (filtered in the kernel by opcode).
pub const KIND_HCALL_ENTER: u16 = 18;
/// An LPM-relevant hcall returned.
pub const KIND_HCALL_EXIT: u16 = 19;
/// An RTAS call of interest (ibm,suspend-me) was made.
pub const KIND_RTAS_ENTER: u16 = 20;
/// An RTAS call of interest returned.
pub const KIND_RTAS_EXIT: u16 = 21;
/// `rtas_online_cpus_mask` / `rtas_offline_cpus_mask` entered (old kernels).
pub const KIND_CPUMASK_ENTER: u16 = 22;
/// `rtas_online_cpus_mask` / `rtas_offline_cpus_mask` returned.
pub const KIND_CPUMASK_EXIT: u16 = 23;

/// `cpuhp:cpuhp_enter` or `cpuhp:cpuhp_multi_enter`.
pub const KIND_HOTPLUG_ENTER: u16 = 40;
/// `cpuhp:cpuhp_exit`.
pub const KIND_HOTPLUG_EXIT: u16 = 41;
/// A CPU-offline request entered (`cpu_device_down`, `remove_cpu`, ...).
pub const KIND_CPU_DOWN_ENTER: u16 = 42;
/// A CPU-offline request returned.
pub const KIND_CPU_DOWN_EXIT: u16 = 43;
/// A CPU changed its bit in `cpu_online_mask` (or reached the code that does).
pub const KIND_CPU_ONLINE: u16 = 44;

/// An IPI was sent to one CPU.
pub const KIND_IPI_SEND: u16 = 60;
/// An IPI was sent to a mask of CPUs.
pub const KIND_IPI_SEND_MASK: u16 = 61;
/// A cross-CPU function call (or IPI handler) started on this CPU.
pub const KIND_IPI_HANDLE_ENTER: u16 = 62;
/// A cross-CPU function call (or IPI handler) finished on this CPU.
pub const KIND_IPI_HANDLE_EXIT: u16 = 63;

// --- sub-codes ----------------------------------------------------------------

/// Which trigger function fired ([`TriggerRecord::source`]).
pub mod trigger_source {
    /// `migration_store`: a write to /sys/kernel/mobility/migration.
    pub const SYSFS: u8 = 1;
    /// `rtas_syscall_dispatch_ibm_suspend_me` (>= 5.11 sys_rtas path).
    pub const SYSCALL_DISPATCH: u8 = 2;
    /// `sys_rtas` with the ibm,suspend-me token (any kernel; old drmgr).
    pub const SYS_RTAS: u8 = 3;
}

/// Which join function fired ([`JoinRecord::path`]).
pub mod join_path {
    /// `do_join` under stop_machine (>= 5.11).
    pub const DO_JOIN: u8 = 1;
    /// `rtas_percpu_suspend_me` IPI handler (<= 5.10).
    pub const PERCPU_SUSPEND_ME: u8 = 2;
}

/// Which mask function fired ([`CpumaskRecord::op`]).
pub mod cpumask_op {
    /// `rtas_online_cpus_mask`.
    pub const ONLINE: u8 = 1;
    /// `rtas_offline_cpus_mask`.
    pub const OFFLINE: u8 = 2;
}

/// Which offline entry point fired ([`CpuDownRecord::via`]).
pub mod cpu_down_via {
    /// `cpu_device_down(struct device *)` (>= 5.7): sysfs / DLPAR.
    pub const CPU_DEVICE_DOWN: u8 = 1;
    /// `remove_cpu(unsigned int)` (>= 5.7): in-kernel API.
    pub const REMOVE_CPU: u8 = 2;
    /// `cpu_down(unsigned int)` (< 5.7, exported).
    pub const CPU_DOWN: u8 = 3;
}

/// Which mechanism reported [`CpuOnlineRecord`].
pub mod online_via {
    /// `set_cpu_online(cpu, online)` (real function since 5.6).
    pub const SET_CPU_ONLINE: u8 = 1;
    /// Trap kprobe inside `pseries_cpu_disable` (runs on the dying CPU).
    pub const PSERIES_CPU_DISABLE: u8 = 2;
    /// Trap kprobe inside `pseries_cpu_offline_self` (the dying CPU stops).
    pub const PSERIES_OFFLINE_SELF: u8 = 3;
}

/// Which hook reported an IPI handler ([`IpiHandleRecord::via`]).
pub mod ipi_handle_via {
    /// `csd:csd_function_entry/exit` (>= 6.6): `func` is the callback.
    pub const CSD_FUNCTION: u8 = 1;
    /// `generic_smp_call_function_single_interrupt` / `smp_ipi_demux`.
    pub const IRQ_HANDLER: u8 = 2;
}

/// Which hook reported an IPI send ([`IpiSendRecord::via`]).
pub mod ipi_send_via {
    /// `ipi:ipi_send_cpu` / `ipi_send_cpumask` (>= 6.4).
    pub const IPI_TRACEPOINT: u8 = 1;
    /// `xive_cause_ipi` / `icp_hv_cause_ipi` kprobe (pseries).
    pub const CAUSE_IPI: u8 = 2;
    /// `smp_call_function_many` kprobe (mask of targets).
    pub const CALL_FUNCTION_MANY: u8 = 3;
}

// --- records --------------------------------------------------------------------

/// [`KIND_LOST`]: `count` records could not be reserved on `header.cpu`
/// between `first_ts_ns` and `last_ts_ns`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LostRecord {
    /// Common header; `ts_ns` is when the loss was reported.
    pub header: RecordHeader,
    /// How many records were dropped.
    pub count: u64,
    /// Time of the first dropped record.
    pub first_ts_ns: u64,
    /// Time of the last dropped record.
    pub last_ts_ns: u64,
}

/// Length of the sysfs buffer copied from `migration_store`.
pub const TRIGGER_BUF_LEN: usize = 24;

/// [`KIND_TRIGGER_ENTER`] / [`KIND_TRIGGER_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TriggerRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Stream id (handle) when the probe could read it as a number; for the
    /// sysfs trigger the text in `buf` is authoritative.
    pub handle: u64,
    /// Return value on exit (bytes written, or -errno).
    pub ret: i64,
    /// One of [`trigger_source`].
    pub source: u8,
    /// 1 when `handle` is valid.
    pub has_handle: u8,
    /// Bytes of `buf` that were copied.
    pub buf_len: u8,
    /// Explicit padding.
    pub _pad: [u8; 5],
    /// Text written to the sysfs file, as the kernel will parse it.
    pub buf: [u8; TRIGGER_BUF_LEN],
    /// Command name of the writer (drmgr, sh, ...).
    pub comm: [u8; 16],
}

/// [`KIND_MIGRATE_ENTER`] / [`KIND_MIGRATE_EXIT`] and
/// [`KIND_SUSPEND_ENTER`] / [`KIND_SUSPEND_EXIT`]: a function with one u64
/// argument and an int return.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallRecord {
    /// Common header.
    pub header: RecordHeader,
    /// First argument (entry) — meaning depends on the function and kernel.
    pub arg0: u64,
    /// Return value (exit), sign-extended.
    pub ret: i64,
}

/// [`KIND_JOIN_ENTER`] / [`KIND_JOIN_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JoinRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Return value on exit.
    pub ret: i32,
    /// One of [`join_path`].
    pub path: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
}

/// [`KIND_HCALL_ENTER`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcallEnterRecord {
    /// Common header.
    pub header: RecordHeader,
    /// hcall opcode (H_JOIN 0x298, ...).
    pub opcode: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// First three arguments (e.g. H_VASI_SIGNAL: handle, signal, reason).
    pub args: [u64; 3],
}

/// [`KIND_HCALL_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcallExitRecord {
    /// Common header.
    pub header: RecordHeader,
    /// hcall opcode.
    pub opcode: u32,
    /// 1 when `retbuf0` was read.
    pub has_retbuf: u32,
    /// Return code (H_SUCCESS 0, H_CONTINUE 18, negative errors).
    pub retval: i64,
    /// `retbuf[0]` (H_VASI_STATE: the state).
    pub retbuf0: u64,
}

/// [`KIND_RTAS_ENTER`] / [`KIND_RTAS_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtasRecord {
    /// Common header.
    pub header: RecordHeader,
    /// RTAS token.
    pub token: u32,
    /// Status (exit): 0, -9004, -9005, 9000, ...
    pub status: i32,
}

/// [`KIND_CPUMASK_ENTER`] / [`KIND_CPUMASK_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpumaskRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Return value (exit).
    pub ret: i32,
    /// One of [`cpumask_op`].
    pub op: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
}

/// [`KIND_HOTPLUG_ENTER`] / [`KIND_HOTPLUG_EXIT`]: the cpuhp tracepoints.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HotplugRecord {
    /// Common header.
    pub header: RecordHeader,
    /// The CPU being brought up or down.
    pub target_cpu: u32,
    /// Enter: target state. Exit: state reached.
    pub state: i32,
    /// Index of the step's state.
    pub idx: i32,
    /// Exit: return value of the step. Enter: 1 for cpuhp_multi_enter.
    pub ret: i32,
    /// Enter: address of the step's callback (for name lookup).
    pub fun: u64,
}

/// [`KIND_CPU_DOWN_ENTER`] / [`KIND_CPU_DOWN_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuDownRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Target CPU when the probe could read it, else u32::MAX.
    pub target_cpu: u32,
    /// Return value (exit).
    pub ret: i32,
    /// One of [`cpu_down_via`].
    pub via: u8,
    /// Explicit padding.
    pub _pad: [u8; 7],
    /// Command name of the requester.
    pub comm: [u8; 16],
}

/// [`KIND_CPU_ONLINE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuOnlineRecord {
    /// Common header.
    pub header: RecordHeader,
    /// The CPU whose online bit changes.
    pub target_cpu: u32,
    /// 1 online, 0 offline.
    pub online: u8,
    /// One of [`online_via`].
    pub via: u8,
    /// Explicit padding.
    pub _pad: [u8; 2],
}

/// [`KIND_IPI_SEND`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpiSendRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Target CPU.
    pub target_cpu: u32,
    /// One of [`ipi_send_via`].
    pub via: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
    /// Callback (function pointer) the IPI will run, 0 when unknown.
    pub callback: u64,
}

/// Words of CPU mask carried by [`IpiSendMaskRecord`] (256 CPUs).
pub const MASK_WORDS: usize = 4;

/// [`KIND_IPI_SEND_MASK`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpiSendMaskRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Callback the IPI will run, 0 when unknown.
    pub callback: u64,
    /// First [`MASK_WORDS`] words of the target mask (CPUs 0..255).
    pub mask: [u64; MASK_WORDS],
    /// One of [`ipi_send_via`].
    pub via: u8,
    /// Explicit padding.
    pub _pad: [u8; 7],
}

/// [`KIND_IPI_HANDLE_ENTER`] / [`KIND_IPI_HANDLE_EXIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpiHandleRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Function run by the call (0 when the hook cannot see it).
    pub func: u64,
    /// One of [`ipi_handle_via`].
    pub via: u8,
    /// Explicit padding.
    pub _pad: [u8; 7],
}

// --- per-CPU loss accounting ----------------------------------------------------

/// Per-CPU loss state in the `LOST` map. The eBPF side only adds to
/// `total` (atomically: a probe in interrupt context can nest inside one in
/// task context on the same CPU) and stamps `last_ts_ns`; userspace turns
/// the growth of `total` into [`LostRecord`]-shaped events at each poll.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LostState {
    /// All drops on this CPU since load (monotonic).
    pub total: u64,
    /// Time of the most recent drop.
    pub last_ts_ns: u64,
}

// --- the IPI window ---------------------------------------------------------------

/// When IPIs are recorded one by one (the single entry of the `IPI_WINDOW`
/// array). IPIs matter to the analysis around a migration (the join IPI,
/// an IPI to a CPU going offline) and around CPU hotplug; elsewhere an
/// application's IPIs would cost a record each for nothing. So LPM and
/// hotplug programs open the window, and IPI programs outside it only add
/// to the per-CPU [`IpiTally`].
///
/// Two fields, written by different sides, so that a hold is never lost
/// to a race with an expiry: `held` is written only by the LPM programs
/// (1 from a migration's entry points until its trigger or
/// `pseries_migrate_partition` returns); `open_until_ns` is pushed forward
/// by every LPM and hotplug record and cleared by IPI programs once it has
/// passed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpiWindow {
    /// 1 while a migration is in flight.
    pub held: u64,
    /// Kernel time until which the window stays open; 0 closed.
    pub open_until_ns: u64,
}

/// How long the window stays open after the last LPM or hotplug record.
pub const IPI_WINDOW_GRACE_NS: u64 = 2_000_000_000;

/// Per-CPU counts of IPIs seen outside the [`IpiWindow`] (the `IPI_TALLY`
/// map); userspace turns their growth into `ipi-tally` events at each
/// poll. Added to atomically: an IPI handler nests inside a sender's probe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpiTally {
    /// IPI send operations by this CPU (one per single or mask send).
    pub sent: u64,
    /// Cross-CPU calls that started running on this CPU.
    pub handled: u64,
}

// --- configuration written by userspace before load ------------------------------

/// Global configuration the loader writes into the eBPF object (`.rodata`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// 1: use `bpf_ktime_get_boot_ns` (kernel >= 5.8).
    pub boot_clock: u8,
    /// 1: record IPIs in full only while the [`IpiWindow`] is open and
    /// count them in [`IpiTally`] otherwise; 0: record every IPI.
    pub ipis_windowed: u8,
    /// Explicit padding.
    pub _pad: [u8; 2],
    /// RTAS token of ibm,suspend-me (from /proc/device-tree/rtas), 0 unknown.
    pub suspend_me_token: u32,
    /// Ring-buffer fill level (bytes) above which a hot record wakes the
    /// reader; below it hot records are submitted without a wakeup and the
    /// reader's periodic poll collects them.
    pub wakeup_bytes: u64,
}

/// Size of the hcall opcode filter map (`HCALL_FILTER`).
pub const HCALL_FILTER_MAX: u32 = 64;

/// Name of the ring-buffer map.
pub const MAP_EVENTS: &str = "EVENTS";
/// Name of the per-CPU loss map.
pub const MAP_LOST: &str = "LOST";
/// Name of the IPI window map.
pub const MAP_IPI_WINDOW: &str = "IPI_WINDOW";
/// Name of the per-CPU IPI tally map.
pub const MAP_IPI_TALLY: &str = "IPI_TALLY";
/// Name of the hcall filter map.
pub const MAP_HCALL_FILTER: &str = "HCALL_FILTER";
/// Name of the global config symbol.
pub const GLOBAL_CONFIG: &str = "CONFIG";

const _: () = {
    assert!(core::mem::size_of::<RecordHeader>() == 16);
    assert!(core::mem::size_of::<LostRecord>() == 40);
    assert!(core::mem::size_of::<TriggerRecord>() == 80);
    assert!(core::mem::size_of::<CallRecord>() == 32);
    assert!(core::mem::size_of::<JoinRecord>() == 24);
    assert!(core::mem::size_of::<HcallEnterRecord>() == 48);
    assert!(core::mem::size_of::<HcallExitRecord>() == 40);
    assert!(core::mem::size_of::<RtasRecord>() == 24);
    assert!(core::mem::size_of::<CpumaskRecord>() == 24);
    assert!(core::mem::size_of::<HotplugRecord>() == 40);
    assert!(core::mem::size_of::<CpuDownRecord>() == 48);
    assert!(core::mem::size_of::<CpuOnlineRecord>() == 24);
    assert!(core::mem::size_of::<IpiSendRecord>() == 32);
    assert!(core::mem::size_of::<IpiSendMaskRecord>() == 64);
    assert!(core::mem::size_of::<IpiHandleRecord>() == 32);
    assert!(core::mem::size_of::<LostState>() == 16);
    assert!(core::mem::size_of::<Config>() == 16);
    assert!(core::mem::size_of::<IpiWindow>() == 16);
    assert!(core::mem::size_of::<IpiTally>() == 16);
};

#[cfg(feature = "user")]
mod user {
    use super::*;
    // SAFETY: all of these are repr(C), Copy, with explicit padding and no
    // pointers or niches, so any byte pattern is a valid value.
    unsafe impl aya::Pod for LostState {}
    unsafe impl aya::Pod for Config {}
    unsafe impl aya::Pod for IpiWindow {}
    unsafe impl aya::Pod for IpiTally {}
}
