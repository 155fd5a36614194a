//! Ground truth for lpmtrace's verdicts.
//!
//! - [`kernel_log`]: what the guest kernel, the test-only fault-injection
//!   module and the guest scripts logged, parsed.
//! - [`oracle`]: what that account implies and rules out, per finding
//!   kind, held against `lpmtrace report --json`.
//!
//! Used by `cargo xtask vm-test` on every guest run and by lpmtrace's own
//! tests on the embedded demo (a real guest recording with its kernel log).
//! Pure: text and JSON in, a verdict out.

pub mod kernel_log;
pub mod oracle;
