//! lpmtrace: trace and diagnose Live Partition Migration (LPM) on IBM POWER
//! pseries Linux with eBPF.
//!
//! The modules follow the data (docs/architecture.md):
//! probes → transport → events → (record) → analysis → views.
//!
//! - [`probes`]: the probe catalogue (data), kernel facts, resolution and
//!   attaching; produces the coverage manifest.
//! - [`transport`]: the ring-buffer reader and loss accounting.
//! - [`events`]: the decoded event model and the session header.
//! - [`record`]: the trace file format (writer, reader, salvage).
//! - [`source`]: one ordered event stream from live capture or a file.
//! - [`scenario`]: the text scenario format (hand-written event sequences).
//! - [`analysis`]: the pure engine — events in, migrations and findings out.
//! - [`outfile`]: outputs that never replace an input (or, without
//!   `--force`, any existing file).
//! - [`views`]: plain/JSON lines, report, doctor (and the TUI).
//! - [`watch`]: the analysis riding along a live capture.
//! - [`cli`]: the command line (clap) and its dispatch; man pages and
//!   completions are generated from it.
#![deny(missing_docs)]

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod events;
pub mod flight;
pub mod metrics;
pub mod outfile;
pub mod probes;
pub mod record;
pub mod scenario;
pub mod source;
pub mod transport;
pub mod tui;
pub mod views;
pub mod watch;
