//! Maps, configuration and the one function every program uses to output a
//! record, with per-CPU loss accounting.
//!
//! Loss protocol: a failed reservation adds one to `LOST[cpu].total`.
//! Userspace polls the map at every tick and turns growth into `Lost`
//! events (CPU, count, time window), so the stream says where data is
//! missing without the eBPF side needing ring space to say it.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_boot_ns, bpf_ktime_get_ns},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    Global,
};
use core::intrinsics::{atomic_xadd, AtomicOrdering};

use lpmtrace_common::{Config, IpiTally, IpiWindow, LostState, RecordHeader, HCALL_FILTER_MAX, IPI_WINDOW_GRACE_NS};

/// Default ring size; userspace may resize it before load (`--buffer`).
const RING_BYTES: u32 = 8 << 20;

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

#[map]
pub static LOST: PerCpuArray<LostState> = PerCpuArray::with_max_entries(1, 0);

/// hcall opcodes to record; everything else is dropped in the kernel.
#[map]
pub static HCALL_FILTER: HashMap<u32, u8> = HashMap::with_max_entries(HCALL_FILTER_MAX, 0);

/// Per-thread scratch for entry→return pairing, keyed by `tid | slot << 32`
/// so nested probes on one thread (sys_rtas → rtas_call) do not collide.
#[map]
pub static STASH: HashMap<u64, u64> = HashMap::with_max_entries(4096, 0);

/// Stash slots (one per entry/return pair that needs one).
pub mod slot {
    pub const CPU_DOWN: u64 = 1;
    pub const RTAS_CALL: u64 = 2;
    pub const SYS_RTAS: u64 = 3;
    pub const CPUMASK: u64 = 4;
}

/// When IPIs are recorded one by one (see [`IpiWindow`]).
#[map]
pub static IPI_WINDOW: Array<IpiWindow> = Array::with_max_entries(1, 0);

/// IPIs counted outside the window, per CPU.
#[map]
pub static IPI_TALLY: PerCpuArray<IpiTally> = PerCpuArray::with_max_entries(1, 0);

#[unsafe(no_mangle)]
pub static CONFIG: Global<Config> = Global::new(Config {
    boot_clock: 0,
    ipis_windowed: 0,
    _pad: [0; 2],
    suspend_me_token: 0,
    wakeup_bytes: 1 << 20,
});

/// How urgently the reader must see a record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// High-rate record: batch, wake only when the ring is filling up.
    Hot,
    /// Rare record (LPM, hotplug): wake the reader now.
    Rare,
}

#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: helpers without pointer arguments.
    unsafe {
        if CONFIG.load().boot_clock != 0 {
            bpf_ktime_get_boot_ns()
        } else {
            bpf_ktime_get_ns()
        }
    }
}

#[inline(always)]
pub fn header(kind: u16) -> RecordHeader {
    RecordHeader {
        ts_ns: now_ns(),
        kind,
        // SAFETY: helper without arguments.
        cpu: unsafe { bpf_get_smp_processor_id() } as u16,
        tid: bpf_get_current_pid_tgid() as u32,
    }
}

#[inline(always)]
pub fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

/// Writes `record` (which starts with a [`RecordHeader`]) to the ring buffer;
/// when the ring is full, counts the drop for this CPU instead.
#[inline(always)]
pub fn emit<T: Copy + 'static>(record: &T, ts_ns: u64, urgency: Urgency) {
    match EVENTS.reserve::<T>(0) {
        Some(mut entry) => {
            entry.write(*record);
            entry.submit(wakeup_flags(urgency));
        }
        None => count_loss(ts_ns),
    }
    if urgency == Urgency::Rare {
        ipi_window_extend(ts_ns);
    }
}

// --- the IPI window ---------------------------------------------------------------

/// Keeps the IPI window open for [`IPI_WINDOW_GRACE_NS`] after `ts_ns`
/// (every LPM and hotplug record does this through [`emit`]).
#[inline(always)]
fn ipi_window_extend(ts_ns: u64) {
    if let Some(w) = IPI_WINDOW.get_ptr_mut(0) {
        // SAFETY: a valid map value; a plain store (a race with another
        // CPU's extension keeps one of two nearly equal times).
        unsafe { (*w).open_until_ns = ts_ns + IPI_WINDOW_GRACE_NS };
    }
}

/// Holds the IPI window open while a migration is in flight: called by the
/// LPM entry points (trigger, `pseries_migrate_partition`,
/// `rtas_ibm_suspend_me`, the join), whatever the kernel generation.
#[inline(always)]
pub fn ipi_window_hold() {
    if let Some(w) = IPI_WINDOW.get_ptr_mut(0) {
        // SAFETY: a valid map value.
        unsafe { (*w).held = 1 };
    }
}

/// Ends a migration's hold when its trigger or `pseries_migrate_partition`
/// returns; the grace period of the return's own record keeps the window
/// open a little longer. A kernel whose return probes cannot attach keeps
/// the hold: IPIs are then recorded one by one, which costs more but loses
/// nothing.
#[inline(always)]
pub fn ipi_window_release() {
    if let Some(w) = IPI_WINDOW.get_ptr_mut(0) {
        // SAFETY: a valid map value.
        unsafe { (*w).held = 0 };
    }
}

/// Whether an IPI program should write its record (true) or only count
/// the IPI in [`IPI_TALLY`] (false). The common case outside migrations
/// and hotplug reads one map value and no clock.
#[inline(always)]
pub fn ipi_recorded() -> bool {
    if CONFIG.load().ipis_windowed == 0 {
        return true;
    }
    let Some(w) = IPI_WINDOW.get_ptr_mut(0) else {
        return true;
    };
    // SAFETY: a valid map value.
    unsafe {
        if (*w).held != 0 {
            return true;
        }
        let until = (*w).open_until_ns;
        if until == 0 {
            return false;
        }
        if now_ns() < until {
            return true;
        }
        // Expired: close it so later IPIs skip the clock. Racing with an
        // extension can close a window a record just reopened; the next LPM
        // or hotplug record reopens it, and a migration's hold is a
        // separate field this store never touches.
        (*w).open_until_ns = 0;
    }
    false
}

/// Which count of [`IPI_TALLY`] an IPI outside the window adds to.
#[derive(Clone, Copy)]
pub enum TallyOf {
    Sent,
    Handled,
}

#[inline(always)]
pub fn ipi_tally(of: TallyOf) {
    let Some(t) = IPI_TALLY.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: a valid per-CPU slot; atomic because a handler in interrupt
    // context can nest inside a sender's probe on this CPU.
    unsafe {
        let field = match of {
            TallyOf::Sent => core::ptr::addr_of_mut!((*t).sent),
            TallyOf::Handled => core::ptr::addr_of_mut!((*t).handled),
        };
        atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(field, 1);
    }
}

#[inline(always)]
fn count_loss(ts_ns: u64) {
    let Some(state) = LOST.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: a valid per-CPU slot. The add is atomic because a probe in
    // interrupt context may run in the middle of one in task context on
    // this CPU; the timestamp is a plain store (a torn race only picks one
    // of two recent times).
    unsafe {
        // The bpf target has no `AtomicU64::fetch_add` (no CAS); the
        // intrinsic lowers to BPF_ATOMIC add (XADD), which every kernel has.
        atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(core::ptr::addr_of_mut!((*state).total), 1);
        (*state).last_ts_ns = ts_ns;
    }
}

#[inline(always)]
fn wakeup_flags(urgency: Urgency) -> u64 {
    match urgency {
        Urgency::Rare => BPF_RB_FORCE_WAKEUP,
        Urgency::Hot => {
            if EVENTS.query(BPF_RB_AVAIL_DATA) >= CONFIG.load().wakeup_bytes {
                BPF_RB_FORCE_WAKEUP
            } else {
                BPF_RB_NO_WAKEUP
            }
        }
    }
}

/// Remembers a value for the current thread until its return probe runs.
#[inline(always)]
pub fn stash_put(slot: u64, value: u64) {
    let key = current_tid() as u64 | (slot << 32);
    let _ = STASH.insert(&key, &value, 0);
}

/// Takes the value [`stash_put`] left in `slot` for the current thread.
#[inline(always)]
pub fn stash_take(slot: u64) -> Option<u64> {
    let key = current_tid() as u64 | (slot << 32);
    // SAFETY: the value is copied out before the entry is removed.
    let value = unsafe { STASH.get(&key) }.copied();
    if value.is_some() {
        let _ = STASH.remove(&key);
    }
    value
}

/// Reads, without taking, the value [`stash_put`] left in `slot` for the
/// current thread.
#[inline(always)]
pub fn stash_peek(slot: u64) -> Option<u64> {
    let key = current_tid() as u64 | (slot << 32);
    // SAFETY: the value is copied out.
    unsafe { STASH.get(&key) }.copied()
}

/// The hcall filter: true when userspace asked for this opcode.
#[inline(always)]
pub fn hcall_wanted(opcode: u32) -> bool {
    // SAFETY: read-only lookup of a plain u8.
    unsafe { HCALL_FILTER.get(&opcode) }.is_some()
}
