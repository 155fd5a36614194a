//! The LPM path: triggers, migrate/suspend/join functions, hcalls, RTAS.
//!
//! These fire a handful of times per migration (hcalls: a few per CPU per
//! attempt, premature H_JOIN storms aside), so every record wakes the reader
//! and aya-log may say what happened at debug level.

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes, bpf_probe_read_user},
    macros::{kprobe, kretprobe, raw_tracepoint, tracepoint},
    programs::{ProbeContext, RawTracePointContext, RetProbeContext, TracePointContext},
};
use aya_log_ebpf::debug;
use lpmtrace_common::{
    cpumask_op, join_path, trigger_source, CallRecord, CpumaskRecord, HcallEnterRecord, HcallExitRecord, JoinRecord,
    RtasRecord, TriggerRecord, KIND_CPUMASK_ENTER, KIND_CPUMASK_EXIT, KIND_HCALL_ENTER, KIND_HCALL_EXIT,
    KIND_JOIN_ENTER, KIND_JOIN_EXIT, KIND_MIGRATE_ENTER, KIND_MIGRATE_EXIT, KIND_RTAS_ENTER, KIND_RTAS_EXIT,
    KIND_SUSPEND_ENTER, KIND_SUSPEND_EXIT, KIND_TRIGGER_ENTER, KIND_TRIGGER_EXIT, TRIGGER_BUF_LEN,
};

use crate::emit::{
    emit, hcall_wanted, header, ipi_window_hold, ipi_window_release, slot, stash_peek, stash_put, stash_take, Urgency,
    CONFIG,
};

// --- triggers ----------------------------------------------------------------

/// `migration_store(class, attr, const char *buf, size_t count)`: both the old
/// and the const-qualified new signature keep `buf` third.
#[kprobe]
pub fn migration_store(ctx: ProbeContext) -> u32 {
    let hdr = header(KIND_TRIGGER_ENTER);
    let mut record = trigger(hdr, trigger_source::SYSFS);
    if let Some(buf) = ctx.arg::<u64>(2) {
        // SAFETY: probe-read of a kernel buffer; failure leaves the text empty.
        if let Ok(text) = unsafe { bpf_probe_read_kernel_str_bytes(buf as *const u8, &mut record.buf) } {
            record.buf_len = text.len() as u8;
        }
    }
    debug!(&ctx, "lpm trigger via sysfs migration_store");
    ipi_window_hold();
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}

#[kretprobe]
pub fn migration_store_ret(ctx: RetProbeContext) -> u32 {
    trigger_exit(ctx.ret::<u64>() as i64, trigger_source::SYSFS);
    0
}

/// `rtas_syscall_dispatch_ibm_suspend_me(u64 handle)` (>= 5.11).
#[kprobe]
pub fn dispatch_suspend(ctx: ProbeContext) -> u32 {
    let hdr = header(KIND_TRIGGER_ENTER);
    let mut record = trigger(hdr, trigger_source::SYSCALL_DISPATCH);
    if let Some(handle) = ctx.arg::<u64>(0) {
        record.handle = handle;
        record.has_handle = 1;
    }
    debug!(&ctx, "lpm trigger via sys_rtas dispatch, handle {:x}", record.handle);
    ipi_window_hold();
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}

#[kretprobe]
pub fn dispatch_suspend_ret(ctx: RetProbeContext) -> u32 {
    trigger_exit(ctx.ret::<u64>() as i32 as i64, trigger_source::SYSCALL_DISPATCH);
    0
}

/// `syscalls:sys_enter_rtas`: `__syscall_nr` at 8, `uargs` at 16 (the layout
/// of every syscall tracepoint). Only the ibm,suspend-me token is recorded.
#[tracepoint]
pub fn sys_enter_rtas(ctx: TracePointContext) -> u32 {
    // SAFETY: read of the tracepoint record.
    if let Ok(uargs) = unsafe { ctx.read_at::<u64>(16) } {
        sys_rtas_enter(uargs);
    }
    0
}

/// `syscalls:sys_exit_rtas`: `ret` at 16.
#[tracepoint]
pub fn sys_exit_rtas(ctx: TracePointContext) -> u32 {
    // SAFETY: read of the tracepoint record.
    sys_rtas_exit(unsafe { ctx.read_at::<i64>(16) }.unwrap_or(0));
    0
}

/// `sys_rtas(struct rtas_args __user *uargs)`: the same trigger where the
/// kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS off) and no
/// syscall wrapper (powerpc before 6.1, so the first argument is the user
/// pointer). When the tracepoint is attached too it fires first and holds
/// the stash slot, so each call is reported once.
#[kprobe]
pub fn sys_rtas_kprobe(ctx: ProbeContext) -> u32 {
    if stash_peek(slot::SYS_RTAS).is_none() {
        if let Some(uargs) = ctx.arg::<u64>(0) {
            sys_rtas_enter(uargs);
        }
    }
    0
}

#[kretprobe]
pub fn sys_rtas_kretprobe(ctx: RetProbeContext) -> u32 {
    sys_rtas_exit(ctx.ret::<u64>() as i64);
    0
}

/// Records a sys_rtas call if it carries the ibm,suspend-me token.
#[inline(always)]
fn sys_rtas_enter(uargs: u64) {
    let token = CONFIG.load().suspend_me_token;
    if token == 0 {
        return;
    }
    // struct rtas_args { __be32 token, nargs, nret; __be32 args[16]; ... }
    // SAFETY: read of user memory via the helper (it fails cleanly).
    let Ok(words) = (unsafe { bpf_probe_read_user(uargs as *const [u32; 5]) }) else {
        return;
    };
    if u32::from_be(words[0]) != token {
        return;
    }
    let hdr = header(KIND_TRIGGER_ENTER);
    let mut record = trigger(hdr, trigger_source::SYS_RTAS);
    record.handle = ((u32::from_be(words[3]) as u64) << 32) | u32::from_be(words[4]) as u64;
    record.has_handle = 1;
    stash_put(slot::SYS_RTAS, 1);
    ipi_window_hold();
    emit(&record, hdr.ts_ns, Urgency::Rare);
}

/// Ends the sys_rtas call recorded by [`sys_rtas_enter`] on this thread
/// (the first of kretprobe / exit tracepoint to run takes it).
#[inline(always)]
fn sys_rtas_exit(ret: i64) {
    if stash_take(slot::SYS_RTAS).is_none() {
        return;
    }
    trigger_exit(ret, trigger_source::SYS_RTAS);
}

#[inline(always)]
fn trigger(hdr: lpmtrace_common::RecordHeader, source: u8) -> TriggerRecord {
    TriggerRecord {
        header: hdr,
        handle: 0,
        ret: 0,
        source,
        has_handle: 0,
        buf_len: 0,
        _pad: [0; 5],
        buf: [0; TRIGGER_BUF_LEN],
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    }
}

#[inline(always)]
fn trigger_exit(ret: i64, source: u8) {
    ipi_window_release();
    let hdr = header(KIND_TRIGGER_EXIT);
    let mut record = trigger(hdr, source);
    record.ret = ret;
    emit(&record, hdr.ts_ns, Urgency::Rare);
}

// --- migrate / suspend / join ---------------------------------------------------

/// `pseries_migrate_partition(u64 handle)` (>= 5.11, static: may be inlined).
#[kprobe]
pub fn migrate_enter(ctx: ProbeContext) -> u32 {
    call_enter(KIND_MIGRATE_ENTER, ctx.arg::<u64>(0).unwrap_or(0));
    0
}

#[kretprobe]
pub fn migrate_ret(ctx: RetProbeContext) -> u32 {
    call_exit(KIND_MIGRATE_EXIT, ctx.ret::<u64>() as i32 as i64);
    0
}

/// `rtas_ibm_suspend_me`: old `(u64 handle)`, new `(int *fw_status)`; the
/// decoder interprets `arg0` by the kernel generation in the manifest.
#[kprobe]
pub fn suspend_enter(ctx: ProbeContext) -> u32 {
    call_enter(KIND_SUSPEND_ENTER, ctx.arg::<u64>(0).unwrap_or(0));
    0
}

#[kretprobe]
pub fn suspend_ret(ctx: RetProbeContext) -> u32 {
    call_exit(KIND_SUSPEND_EXIT, ctx.ret::<u64>() as i32 as i64);
    0
}

#[inline(always)]
fn call_enter(kind: u16, arg0: u64) {
    ipi_window_hold();
    let hdr = header(kind);
    emit(
        &CallRecord {
            header: hdr,
            arg0,
            ret: 0,
        },
        hdr.ts_ns,
        Urgency::Rare,
    );
}

#[inline(always)]
fn call_exit(kind: u16, ret: i64) {
    if kind == KIND_MIGRATE_EXIT {
        ipi_window_release();
    }
    let hdr = header(kind);
    emit(
        &CallRecord {
            header: hdr,
            arg0: 0,
            ret,
        },
        hdr.ts_ns,
        Urgency::Rare,
    );
}

/// `do_join(void *info)` on every CPU under stop_machine (>= 5.11).
#[kprobe]
pub fn join_enter(_ctx: ProbeContext) -> u32 {
    join(KIND_JOIN_ENTER, 0, join_path::DO_JOIN);
    0
}

#[kretprobe]
pub fn join_ret(ctx: RetProbeContext) -> u32 {
    join(KIND_JOIN_EXIT, ctx.ret::<u64>() as i32, join_path::DO_JOIN);
    0
}

/// `rtas_percpu_suspend_me(void *info)`, the IPI handler of old kernels.
#[kprobe]
pub fn percpu_join(_ctx: ProbeContext) -> u32 {
    join(KIND_JOIN_ENTER, 0, join_path::PERCPU_SUSPEND_ME);
    0
}

#[inline(always)]
fn join(kind: u16, ret: i32, path: u8) {
    if kind == KIND_JOIN_ENTER {
        ipi_window_hold();
    }
    let hdr = header(kind);
    emit(
        &JoinRecord {
            header: hdr,
            ret,
            path,
            _pad: [0; 3],
        },
        hdr.ts_ns,
        Urgency::Rare,
    );
}

// --- hcalls ---------------------------------------------------------------------

// powerpc:hcall_entry TP_PROTO(unsigned long opcode, unsigned long *args)
#[raw_tracepoint]
pub fn hcall_entry(ctx: RawTracePointContext) -> i32 {
    let opcode = ctx.arg::<u64>(0) as u32;
    if !hcall_wanted(opcode) {
        return 0;
    }
    let args_ptr = ctx.arg::<u64>(1);
    let args = if args_ptr == 0 {
        [0; 3]
    } else {
        // SAFETY: helper read; a fault leaves zeros.
        unsafe { bpf_probe_read_kernel(args_ptr as *const [u64; 3]) }.unwrap_or([0; 3])
    };
    let hdr = header(KIND_HCALL_ENTER);
    let record = HcallEnterRecord {
        header: hdr,
        opcode,
        _pad: 0,
        args,
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}

// powerpc:hcall_exit TP_PROTO(unsigned long opcode, long retval, unsigned long *retbuf)
#[raw_tracepoint]
pub fn hcall_exit(ctx: RawTracePointContext) -> i32 {
    let opcode = ctx.arg::<u64>(0) as u32;
    if !hcall_wanted(opcode) {
        return 0;
    }
    let retbuf = ctx.arg::<u64>(2);
    let (has_retbuf, retbuf0) = if retbuf == 0 {
        (0, 0)
    } else {
        // SAFETY: helper read; a fault reports "no retbuf".
        match unsafe { bpf_probe_read_kernel(retbuf as *const u64) } {
            Ok(v) => (1, v),
            Err(_) => (0, 0),
        }
    };
    let hdr = header(KIND_HCALL_EXIT);
    let record = HcallExitRecord {
        header: hdr,
        opcode,
        has_retbuf,
        retval: ctx.arg::<u64>(1) as i64,
        retbuf0,
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}

// --- RTAS -----------------------------------------------------------------------

/// `rtas_call(int token, int nargs, int nret, int *outputs, ...)`, filtered
/// to the ibm,suspend-me token.
#[kprobe]
pub fn rtas_call(ctx: ProbeContext) -> u32 {
    let token = ctx.arg::<u64>(0).unwrap_or(0) as u32;
    if token == 0 || token != CONFIG.load().suspend_me_token {
        return 0;
    }
    stash_put(slot::RTAS_CALL, token as u64);
    rtas(KIND_RTAS_ENTER, token, 0);
    0
}

#[kretprobe]
pub fn rtas_call_ret(ctx: RetProbeContext) -> u32 {
    let Some(token) = stash_take(slot::RTAS_CALL) else {
        return 0;
    };
    rtas(KIND_RTAS_EXIT, token as u32, ctx.ret::<u64>() as i32);
    0
}

// powerpc:rtas_input TP_PROTO(struct rtas_args *rtas_args, const char *name) (>= 6.3)
#[raw_tracepoint]
pub fn rtas_input(ctx: RawTracePointContext) -> i32 {
    if let Some((token, _)) = rtas_args(ctx.arg::<u64>(0), false) {
        rtas(KIND_RTAS_ENTER, token, 0);
    }
    0
}

// powerpc:rtas_output TP_PROTO(struct rtas_args *rtas_args, const char *name)
#[raw_tracepoint]
pub fn rtas_output(ctx: RawTracePointContext) -> i32 {
    if let Some((token, status)) = rtas_args(ctx.arg::<u64>(0), true) {
        rtas(KIND_RTAS_EXIT, token, status);
    }
    0
}

/// Reads token and (optionally) status from a kernel `struct rtas_args`
/// (`__be32 token, nargs, nret; __be32 args[16]`; rets start at args[nargs]).
#[inline(always)]
fn rtas_args(ptr: u64, want_status: bool) -> Option<(u32, i32)> {
    let wanted = CONFIG.load().suspend_me_token;
    if ptr == 0 || wanted == 0 {
        return None;
    }
    // SAFETY: helper reads of kernel memory.
    let head = unsafe { bpf_probe_read_kernel(ptr as *const [u32; 3]) }.ok()?;
    let token = u32::from_be(head[0]);
    if token != wanted {
        return None;
    }
    if !want_status {
        return Some((token, 0));
    }
    let nargs = u32::from_be(head[1]) & 0xf;
    let at = ptr + 12 + (nargs as u64) * 4;
    let status = unsafe { bpf_probe_read_kernel(at as *const u32) }.ok()?;
    Some((token, u32::from_be(status) as i32))
}

#[inline(always)]
fn rtas(kind: u16, token: u32, status: i32) {
    let hdr = header(kind);
    emit(
        &RtasRecord {
            header: hdr,
            token,
            status,
        },
        hdr.ts_ns,
        Urgency::Rare,
    );
}

// --- old-kernel CPU onlining around the join (<= 5.8) ----------------------------

#[kprobe]
pub fn cpumask_online(_ctx: ProbeContext) -> u32 {
    cpumask_enter(cpumask_op::ONLINE);
    0
}

#[kprobe]
pub fn cpumask_offline(_ctx: ProbeContext) -> u32 {
    cpumask_enter(cpumask_op::OFFLINE);
    0
}

#[inline(always)]
fn cpumask_enter(op: u8) {
    stash_put(slot::CPUMASK, op as u64);
    let hdr = header(KIND_CPUMASK_ENTER);
    emit(
        &CpumaskRecord {
            header: hdr,
            ret: 0,
            op,
            _pad: [0; 3],
        },
        hdr.ts_ns,
        Urgency::Rare,
    );
}

#[kretprobe]
pub fn cpumask_ret(ctx: RetProbeContext) -> u32 {
    let op = stash_take(slot::CPUMASK).unwrap_or(0) as u8;
    let hdr = header(KIND_CPUMASK_EXIT);
    let record = CpumaskRecord {
        header: hdr,
        ret: ctx.ret::<u64>() as i32,
        op,
        _pad: [0; 3],
    };
    emit(&record, hdr.ts_ns, Urgency::Rare);
    0
}
