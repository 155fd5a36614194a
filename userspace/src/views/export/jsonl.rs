//! `lpmtrace export --format jsonl`: one JSON object per line, each with a
//! `record` field saying what it is (schema in docs/export.md):
//! `header` (the session), one `event` per event in stream order (the
//! same fields as `dump --format jsonl`, plus its stream `index`), then the
//! analysis: `migration`s, `finding`s, `cpu`s and a closing `summary`.
//!
//! Events are written as they are read, so the memory does not grow with
//! the recording; the analysis records follow once the stream has ended.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::analysis::{Report, SCHEMA_VERSION};
use crate::events::{session::SessionInfo, Event};
use crate::views::{event_line, report};

/// Version of this JSONL schema; bumped on any change that is not the
/// addition of a field.
pub const JSONL_VERSION: u32 = 1;

fn record<T: Serialize>(out: &mut dyn Write, kind: &str, value: &T) -> io::Result<()> {
    let mut m = Map::new();
    m.insert("record".into(), json!(kind));
    match serde_json::to_value(value)? {
        Value::Object(fields) => m.extend(fields),
        other => {
            m.insert("value".into(), other);
        }
    }
    serde_json::to_writer(&mut *out, &Value::Object(m))?;
    out.write_all(b"\n")
}

/// The first line: format versions and the session header.
pub fn write_header(out: &mut dyn Write, session: &SessionInfo) -> io::Result<()> {
    record(
        out,
        "header",
        &json!({
            "format": "lpmtrace-export-jsonl",
            "version": JSONL_VERSION,
            "report_schema_version": SCHEMA_VERSION,
            "session": session,
        }),
    )
}

/// One event line; `index` is its 0-based stream position (what findings
/// cite as evidence).
pub fn write_event(out: &mut dyn Write, index: u64, event: &Event, session: &SessionInfo) -> io::Result<()> {
    let mut v = event_line::to_json(event, session);
    if let Value::Object(m) = &mut v {
        m.insert("index".into(), json!(index));
    }
    record(out, "event", &v)
}

/// The analysis records after the last event.
pub fn write_analysis(out: &mut dyn Write, report: &Report, session: &SessionInfo) -> io::Result<()> {
    for m in &report.migrations {
        record(out, "migration", &report::migration_json(m, session))?;
    }
    for f in &report.findings {
        record(out, "finding", &report::finding_json(f, session))?;
    }
    for c in &report.cpus {
        record(out, "cpu", c)?;
    }
    record(
        out,
        "summary",
        &json!({
            "events": report.events,
            "lost_records": report.lost_records,
            "events_lost": report.events_lost,
            "first_ts_ns": report.first_ts_ns,
            "last_ts_ns": report.last_ts_ns,
            "migrations": report.migrations.len(),
            "findings": report.findings.len(),
            "worst_severity": report.worst().map(|s| s.as_str()),
            "missing_probes": report.missing_probes,
        }),
    )
}
