//! IPIs: who sends a cross-CPU call to whom, and when it runs there.

use aya_ebpf::{
    helpers::bpf_probe_read_kernel,
    macros::{kprobe, kretprobe, raw_tracepoint},
    programs::{ProbeContext, RawTracePointContext, RetProbeContext},
};
use lpmtrace_common::{
    ipi_handle_via, ipi_send_via, IpiHandleRecord, IpiSendMaskRecord, IpiSendRecord, KIND_IPI_HANDLE_ENTER,
    KIND_IPI_HANDLE_EXIT, KIND_IPI_SEND, KIND_IPI_SEND_MASK, MASK_WORDS,
};

use crate::emit::{emit, header, ipi_recorded, ipi_tally, TallyOf, Urgency};

// ipi:ipi_send_cpu TP_PROTO(const unsigned int cpu, unsigned long callsite, void *callback)
#[raw_tracepoint]
pub fn ipi_send_cpu(ctx: RawTracePointContext) -> i32 {
    send_one(
        ctx.arg::<u64>(0) as u32,
        ctx.arg::<u64>(2),
        ipi_send_via::IPI_TRACEPOINT,
    );
    0
}

// ipi:ipi_send_cpumask TP_PROTO(const struct cpumask *cpumask, unsigned long callsite, void *callback)
#[raw_tracepoint]
pub fn ipi_send_mask(ctx: RawTracePointContext) -> i32 {
    send_mask(ctx.arg::<u64>(0), ctx.arg::<u64>(2), ipi_send_via::IPI_TRACEPOINT);
    0
}

/// `xive_cause_ipi(int cpu)` / `icp_hv_cause_ipi(int cpu)` on pseries.
#[kprobe]
pub fn cause_ipi(ctx: ProbeContext) -> u32 {
    let cpu = ctx.arg::<u64>(0).unwrap_or(u64::MAX) as u32;
    send_one(cpu, 0, ipi_send_via::CAUSE_IPI);
    0
}

/// `smp_call_function_many(const struct cpumask *mask, smp_call_func_t func, ...)`.
#[kprobe]
pub fn call_func_many(ctx: ProbeContext) -> u32 {
    let mask = ctx.arg::<u64>(0).unwrap_or(0);
    let func = ctx.arg::<u64>(1).unwrap_or(0);
    send_mask(mask, func, ipi_send_via::CALL_FUNCTION_MANY);
    0
}

#[inline(always)]
fn send_one(target_cpu: u32, callback: u64, via: u8) {
    if !ipi_recorded() {
        ipi_tally(TallyOf::Sent);
        return;
    }
    let hdr = header(KIND_IPI_SEND);
    let record = IpiSendRecord {
        header: hdr,
        target_cpu,
        via,
        _pad: [0; 3],
        callback,
    };
    emit(&record, hdr.ts_ns, Urgency::Hot);
}

#[inline(always)]
fn send_mask(mask_ptr: u64, callback: u64, via: u8) {
    if !ipi_recorded() {
        ipi_tally(TallyOf::Sent);
        return;
    }
    let hdr = header(KIND_IPI_SEND_MASK);
    // A NULL or unreadable mask leaves zeros: the record still says an IPI
    // went out, userspace shows "targets unknown".
    let mask = if mask_ptr == 0 {
        [0u64; MASK_WORDS]
    } else {
        // SAFETY: bpf_probe_read_kernel tolerates bad pointers.
        unsafe { bpf_probe_read_kernel(mask_ptr as *const [u64; MASK_WORDS]) }.unwrap_or([0; MASK_WORDS])
    };
    let record = IpiSendMaskRecord {
        header: hdr,
        callback,
        mask,
        via,
        _pad: [0; 7],
    };
    emit(&record, hdr.ts_ns, Urgency::Hot);
}

// csd:csd_function_entry TP_PROTO(smp_call_func_t func, call_single_data_t *csd)
#[raw_tracepoint]
pub fn csd_entry(ctx: RawTracePointContext) -> i32 {
    handle(KIND_IPI_HANDLE_ENTER, ctx.arg::<u64>(0), ipi_handle_via::CSD_FUNCTION);
    0
}

// csd:csd_function_exit TP_PROTO(smp_call_func_t func, call_single_data_t *csd)
#[raw_tracepoint]
pub fn csd_exit(ctx: RawTracePointContext) -> i32 {
    handle(KIND_IPI_HANDLE_EXIT, ctx.arg::<u64>(0), ipi_handle_via::CSD_FUNCTION);
    0
}

/// `generic_smp_call_function_single_interrupt` / `smp_ipi_demux` entry,
/// for kernels without the csd tracepoints (< 6.6).
#[kprobe]
pub fn ipi_irq_enter(_ctx: ProbeContext) -> u32 {
    handle(KIND_IPI_HANDLE_ENTER, 0, ipi_handle_via::IRQ_HANDLER);
    0
}

#[kretprobe]
pub fn ipi_irq_exit(_ctx: RetProbeContext) -> u32 {
    handle(KIND_IPI_HANDLE_EXIT, 0, ipi_handle_via::IRQ_HANDLER);
    0
}

#[inline(always)]
fn handle(kind: u16, func: u64, via: u8) {
    if !ipi_recorded() {
        if kind == KIND_IPI_HANDLE_ENTER {
            ipi_tally(TallyOf::Handled);
        }
        return;
    }
    let hdr = header(kind);
    let record = IpiHandleRecord {
        header: hdr,
        func,
        via,
        _pad: [0; 7],
    };
    emit(&record, hdr.ts_ns, Urgency::Hot);
}
