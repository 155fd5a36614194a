//! lpmtrace's eBPF programs.
//!
//! Every program is a thin entry point that builds one record from
//! `lpmtrace-common` and hands it to [`emit`]. Which kernel hook each program
//! is attached to is decided in userspace by the probe catalogue
//! (`userspace/src/probes/catalogue.rs`); programs here only know how to read
//! their arguments.
//!
//! Tracepoints are read as *raw* tracepoints: the arguments are the
//! tracepoint's `TP_PROTO` (stable across kernels), not the `format` record
//! (whose offsets move). Raw tracepoints work without BTF (4.17+).
//!
//! Hot programs (IPIs, hcalls) filter in the kernel and submit without
//! waking the reader unless the ring is filling up; rare LPM and hotplug
//! records always wake it so a live view sees them at once.
#![no_std]
#![no_main]
// Atomic add on the per-CPU loss counter (emit.rs).
#![allow(internal_features)]
#![feature(core_intrinsics)]

mod emit;
mod hotplug;
mod ipi;
mod lpm;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
