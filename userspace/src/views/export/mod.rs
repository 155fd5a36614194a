//! Exports of a recording for other tools: the Chrome trace-event JSON
//! that Perfetto UI opens ([`perfetto`]) and JSON lines with a documented
//! schema ([`jsonl`]). Both are described in docs/export.md.
pub mod jsonl;
pub mod perfetto;
pub mod spans;

/// What `lpmtrace export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Chrome trace-event JSON for ui.perfetto.dev / chrome://tracing.
    Perfetto,
    /// One JSON object per line: header, events, migrations, findings, CPUs.
    Jsonl,
}
