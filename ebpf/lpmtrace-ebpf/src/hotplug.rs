//! CPU hotplug: cpuhp tracepoints, offline requests, online-mask changes.

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_smp_processor_id},
    macros::{kprobe, kretprobe, raw_tracepoint},
    programs::{ProbeContext, RawTracePointContext, RetProbeContext},
};
use lpmtrace_common::{
    online_via, CpuDownRecord, CpuOnlineRecord, HotplugRecord, KIND_CPU_DOWN_ENTER, KIND_CPU_DOWN_EXIT,
    KIND_CPU_ONLINE, KIND_HOTPLUG_ENTER, KIND_HOTPLUG_EXIT,
};

use crate::emit::{emit, header, slot, stash_put, stash_take, Urgency};

// TP_PROTO(unsigned int cpu, int target, int idx, int (*fun)(unsigned int))
#[raw_tracepoint]
pub fn cpuhp_enter(ctx: RawTracePointContext) -> i32 {
    hotplug_enter(&ctx, 0);
    0
}

// TP_PROTO(unsigned int cpu, int target, int idx,
//          int (*fun)(unsigned int, struct hlist_node *), struct hlist_node *node)
#[raw_tracepoint]
pub fn cpuhp_multi(ctx: RawTracePointContext) -> i32 {
    hotplug_enter(&ctx, 1);
    0
}

#[inline(always)]
fn hotplug_enter(ctx: &RawTracePointContext, multi: i32) {
    let hdr = header(KIND_HOTPLUG_ENTER);
    let record = HotplugRecord {
        header: hdr,
        target_cpu: ctx.arg::<u64>(0) as u32,
        state: ctx.arg::<u64>(1) as i32,
        idx: ctx.arg::<u64>(2) as i32,
        ret: multi,
        fun: ctx.arg::<u64>(3),
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
}

// TP_PROTO(unsigned int cpu, int state, int idx, int ret)
#[raw_tracepoint]
pub fn cpuhp_exit(ctx: RawTracePointContext) -> i32 {
    let hdr = header(KIND_HOTPLUG_EXIT);
    let record = HotplugRecord {
        header: hdr,
        target_cpu: ctx.arg::<u64>(0) as u32,
        state: ctx.arg::<u64>(1) as i32,
        idx: ctx.arg::<u64>(2) as i32,
        ret: ctx.arg::<u64>(3) as i32,
        fun: 0,
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}

/// `cpu_device_down(struct device *dev)`: the CPU number lives inside the
/// device, whose layout we do not know without BTF; the cpuhp events that
/// follow name the CPU.
#[kprobe]
pub fn cpu_dev_down(_ctx: ProbeContext) -> u32 {
    cpu_down_enter(u32::MAX, lpmtrace_common::cpu_down_via::CPU_DEVICE_DOWN);
    0
}

/// `remove_cpu(unsigned int cpu)` and `cpu_down(unsigned int cpu)`.
#[kprobe]
pub fn cpu_down_num(ctx: ProbeContext) -> u32 {
    let cpu = ctx.arg::<u64>(0).unwrap_or(u64::MAX) as u32;
    cpu_down_enter(cpu, lpmtrace_common::cpu_down_via::REMOVE_CPU);
    0
}

#[inline(always)]
fn cpu_down_enter(target_cpu: u32, via: u8) {
    let hdr = header(KIND_CPU_DOWN_ENTER);
    stash_put(slot::CPU_DOWN, via as u64);
    let record = CpuDownRecord {
        header: hdr,
        target_cpu,
        ret: 0,
        via,
        _pad: [0; 7],
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
}

#[kretprobe]
pub fn cpu_down_ret(ctx: RetProbeContext) -> u32 {
    let hdr = header(KIND_CPU_DOWN_EXIT);
    let via = stash_take(slot::CPU_DOWN).unwrap_or(0) as u8;
    let record = CpuDownRecord {
        header: hdr,
        target_cpu: u32::MAX,
        ret: ctx.ret::<u64>() as i32,
        via,
        _pad: [0; 7],
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}

/// `set_cpu_online(unsigned int cpu, bool online)` (a real function since 5.6).
#[kprobe]
pub fn set_cpu_online(ctx: ProbeContext) -> u32 {
    let cpu = ctx.arg::<u64>(0).unwrap_or(u64::MAX) as u32;
    let online = ctx.arg::<u64>(1).unwrap_or(0) as u8 & 1;
    online_record(cpu, online, online_via::SET_CPU_ONLINE);
    0
}

/// Trap kprobe a few instructions into `pseries_cpu_disable`: runs on the
/// dying CPU after ftrace was turned off for it, so an entry probe would not
/// fire (qemu-pseries.md).
#[kprobe]
pub fn cpu_disable_trap(_ctx: ProbeContext) -> u32 {
    online_record(this_cpu(), 0, online_via::PSERIES_CPU_DISABLE);
    0
}

/// Trap kprobe inside `pseries_cpu_offline_self`: the CPU is about to stop.
#[kprobe]
pub fn offline_self_trap(_ctx: ProbeContext) -> u32 {
    online_record(this_cpu(), 0, online_via::PSERIES_OFFLINE_SELF);
    0
}

#[inline(always)]
fn this_cpu() -> u32 {
    // SAFETY: helper without arguments.
    unsafe { bpf_get_smp_processor_id() }
}

#[inline(always)]
fn online_record(target_cpu: u32, online: u8, via: u8) {
    let hdr = header(KIND_CPU_ONLINE);
    let record = CpuOnlineRecord {
        header: hdr,
        target_cpu,
        online,
        via,
        _pad: [0; 2],
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
}
