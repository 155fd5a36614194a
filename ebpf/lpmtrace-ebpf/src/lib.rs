#![no_std]
// This library target exists so that userspace can list this crate as a
// build-dependency (cargo then rebuilds the probes when it changes); the
// programs themselves are in the `lpmtrace` binary target (main.rs).
