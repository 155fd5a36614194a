//! `lpmtrace report` output: a compact text timeline per migration followed
//! by the findings with their explanation and advice, or the versioned JSON
//! document described in docs/report-schema.md.
//!
//! Both writers are sinks over any `Write` and depend only on the
//! [`Report`] and the session header, so they are tested on in-memory data.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::analysis::rules::{fmt_dur, fmt_ts};
use crate::analysis::{Attempt, Finding, Migration, PhaseSpan, Report, Severity};
use crate::events::session::{KernelGeneration, SessionInfo};
use crate::views::time::utc;

/// How a kernel generation is named in reports (text and HTML).
pub(crate) fn generation(g: KernelGeneration) -> &'static str {
    match g {
        KernelGeneration::OldPath => "old path (<= 5.10)",
        KernelGeneration::NewPath => "new path (>= 5.11)",
        KernelGeneration::PseriesUnknown => "pseries, LPM functions not found",
        KernelGeneration::NotPseries => "not pseries",
    }
}

fn rel(ts: u64, base: u64) -> String {
    if ts >= base {
        crate::views::time::since(ts, base)
    } else {
        format!("-{}", fmt_ts(base - ts))
    }
}

fn span(p: &PhaseSpan) -> String {
    p.end_ns
        .map_or_else(|| "(running)".to_string(), |e| fmt_dur(e.saturating_sub(p.start_ns)))
}

fn cpus(list: &[u32]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    // Compress runs: 0-3,5
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let mut j = i;
        while j + 1 < list.len() && list[j + 1] == list[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            list[i].to_string()
        } else {
            format!("{}-{}", list[i], list[j])
        });
        i = j + 1;
    }
    out.join(",")
}

fn code(c: i64, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{c} ({n})"),
        None => c.to_string(),
    }
}

/// Writes the human-readable report.
pub fn write_text(out: &mut dyn Write, report: &Report, session: &SessionInfo) -> io::Result<()> {
    writeln!(
        out,
        "lpmtrace report: host {}, kernel {} ({}), {} CPUs",
        session.hostname,
        session.kernel_release,
        generation(session.generation),
        session.cpu_count
    )?;
    let span = match (report.first_ts_ns, report.last_ts_ns) {
        (Some(a), Some(b)) => {
            let off = session.clock_to_wall_offset_ns;
            let wall = match (utc(a, off), utc(b, off)) {
                (Some(x), Some(y)) => format!("{x} .. {y}, "),
                _ => String::new(),
            };
            format!(
                " over {} ({wall}boot {} .. {}; times below are since the first event)",
                fmt_dur(b.saturating_sub(a)),
                fmt_ts(a),
                fmt_ts(b)
            )
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "{} events analysed{span}; {} events lost in {} loss records",
        report.events, report.events_lost, report.lost_records
    )?;
    if !report.missing_probes.is_empty() {
        writeln!(
            out,
            "probes not attached: {} (findings that need them are marked inconclusive)",
            report.missing_probes.join(", ")
        )?;
    }
    writeln!(out)?;
    if report.migrations.is_empty() {
        writeln!(out, "No migration in this trace.")?;
    }
    let clock = Clock::of(report, session);
    for m in &report.migrations {
        write_migration(out, m, &clock)?;
        writeln!(out)?;
    }
    write_findings(out, &report.findings, &clock)
}

/// The times an SRE can use: since the recording's first event, and UTC
/// (what the HMC and `lslparmigr` log), with the kernel's own clock last.
struct Clock {
    first_ns: u64,
    /// Boot clock to Unix time, from the session (0: unknown, e.g. a
    /// scenario).
    wall_offset_ns: i64,
    /// Where a migration without an end was last seen.
    until: &'static str,
}

impl Clock {
    fn of(report: &Report, session: &SessionInfo) -> Self {
        Clock {
            first_ns: report.first_ts_ns.unwrap_or(0),
            wall_offset_ns: session.clock_to_wall_offset_ns,
            until: "at the end of the trace",
        }
    }

    /// `+5.160000s (2026-12-01T10:00:05.160Z, boot 1003.160000s)`.
    fn when(&self, ts_ns: u64) -> String {
        let rel = crate::views::time::since(ts_ns, self.first_ns);
        match utc(ts_ns, self.wall_offset_ns) {
            Some(u) => format!("{rel} ({u}, boot {})", fmt_ts(ts_ns)),
            None => format!("{rel} (boot {})", fmt_ts(ts_ns)),
        }
    }
}

/// What `report` prints for one migration, timed from `first_ns` (the TUI's
/// migration overlay shows exactly this); `until` says where a migration
/// still running was seen last ("at this position" in a replay).
pub fn migration_text(m: &Migration, first_ns: u64, session: &SessionInfo, until: &'static str) -> String {
    let clock = Clock {
        first_ns,
        wall_offset_ns: session.clock_to_wall_offset_ns,
        until,
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_migration(&mut out, m, &clock);
    String::from_utf8_lossy(&out).into_owned()
}

fn write_migration(out: &mut dyn Write, m: &Migration, clock: &Clock) -> io::Result<()> {
    let stream = m
        .stream_id
        .map_or_else(|| "stream ?".to_string(), |s| format!("stream {s:#x}"));
    let by = m.comm.as_deref().map(|c| format!(" by {c}")).unwrap_or_default();
    let result = m.result.map(|r| format!(" (returned {r})")).unwrap_or_default();
    writeln!(
        out,
        "Migration {}  {stream}  {}{by}  {}  -> {}{result}",
        m.id,
        m.trigger,
        m.path,
        m.outcome.as_str().to_uppercase()
    )?;
    let dur = m.end_ns.map_or_else(
        || format!("still running {}", clock.until),
        |e| format!("lasted {}", fmt_dur(e.saturating_sub(m.start_ns))),
    );
    writeln!(
        out,
        "  started {}, {dur}; {} VASI polls, last state {}",
        clock.when(m.start_ns),
        m.vasi_polls,
        m.last_vasi_state.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "  {:<12} {:>16} {:>10}", "phase", "start", "duration")?;
    for p in &m.phases {
        writeln!(
            out,
            "  {:<12} {:>16} {:>10}",
            p.name,
            rel(p.start_ns, clock.first_ns),
            span(p)
        )?;
        if let Some(n) = p.name.strip_prefix("attempt-").and_then(|n| n.parse::<u32>().ok()) {
            if let Some(a) = m.attempts.iter().find(|a| a.number == n) {
                write_attempt(out, a, clock.first_ns)?;
            }
        }
    }
    for e in &m.errors {
        writeln!(
            out,
            "  error: {} returned {} at {}",
            e.source,
            code(e.code, e.name.as_deref()),
            rel(e.ts_ns, clock.first_ns)
        )?;
    }
    if let Some(c) = &m.cancel {
        let ret = c
            .ret
            .map_or_else(|| "no return seen".to_string(), |r| format!("returned {r}"));
        writeln!(
            out,
            "  cancel: H_VASI_SIGNAL signal {} reason {:#x} (errno {}) at {}, {ret}",
            c.signal,
            c.reason,
            c.reason_errno,
            rel(c.ts_ns, clock.first_ns)
        )?;
    }
    if m.events_lost > 0 {
        writeln!(out, "  {} events lost while it ran", m.events_lost)?;
    }
    Ok(())
}

fn write_attempt(out: &mut dyn Write, a: &Attempt, base: u64) -> io::Result<()> {
    let result = a.result.map_or_else(
        || "no result".to_string(),
        |r| format!("result {}", code(r, a.result_name.as_deref())),
    );
    let delay = a
        .delay_before_ns
        .map(|d| format!(", after a {} wait", fmt_dur(d)))
        .unwrap_or_default();
    if a.cpus_expected.is_empty() && a.cpus_joined.is_empty() {
        writeln!(out, "    {result}{delay}; no CPU reached the join")?;
    } else {
        writeln!(
            out,
            "    {result}{delay}; CPUs joined {}/{} (expected {}, joined {})",
            a.cpus_joined.len(),
            a.cpus_expected.len(),
            cpus(&a.cpus_expected),
            cpus(&a.cpus_joined)
        )?;
    }
    for p in &a.phases {
        writeln!(out, "    {:<10} {:>16} {:>10}", p.name, rel(p.start_ns, base), span(p))?;
    }
    if a.premature_joins > 0 {
        writeln!(out, "    premature H_JOIN returns: {}", a.premature_joins)?;
    }
    if let Some(s) = a.rtas_status {
        writeln!(out, "    ibm,suspend-me status {s}, {} H_PROD", a.prods)?;
    }
    for e in &a.errors {
        writeln!(
            out,
            "    error: {} returned {} on cpu{} at {}",
            e.source,
            code(e.code, e.name.as_deref()),
            e.cpu,
            rel(e.ts_ns, base)
        )?;
    }
    Ok(())
}

fn write_findings(out: &mut dyn Write, findings: &[Finding], clock: &Clock) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "Findings: {} critical, {} warning, {} info",
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    )?;
    for f in findings {
        writeln!(out)?;
        let variant = f.variant.as_deref().map(|v| format!(" ({v})")).unwrap_or_default();
        let inc = if f.inconclusive { "  [INCONCLUSIVE]" } else { "" };
        writeln!(
            out,
            "[{}] {}{variant} at {}{inc}",
            f.severity.as_str().to_uppercase(),
            f.kind.id(),
            clock.when(f.ts_ns)
        )?;
        writeln!(out, "  {}", f.summary)?;
        writeln!(out, "  Why: {}", f.explanation)?;
        writeln!(out, "  Next: {}", f.next_step)?;
        if let Some(p) = &f.platform_note {
            writeln!(out, "  Platform: {p}")?;
        }
        if let Some(r) = &f.inconclusive_reason {
            writeln!(out, "  Inconclusive: {r}")?;
        }
        if !f.evidence.is_empty() {
            let ev: Vec<String> = f.evidence.iter().map(|e| format!("#{e}")).collect();
            writeln!(out, "  Evidence (event positions): {}", ev.join(" "))?;
        }
    }
    Ok(())
}

/// A migration as JSON, with UTC beside its kernel times (`start_utc`,
/// `end_utc`; null when the session has no wall clock). `report --json`
/// and `export --format jsonl` both write this.
pub fn migration_json(m: &Migration, session: &SessionInfo) -> Value {
    let off = session.clock_to_wall_offset_ns;
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    v["start_utc"] = json!(utc(m.start_ns, off));
    v["end_utc"] = json!(m.end_ns.and_then(|e| utc(e, off)));
    v
}

/// A finding as JSON, with `utc` beside its kernel time.
pub fn finding_json(f: &Finding, session: &SessionInfo) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    v["utc"] = json!(utc(f.ts_ns, session.clock_to_wall_offset_ns));
    v
}

/// The JSON document (docs/report-schema.md): the report plus a `session`
/// object.
pub fn to_json(report: &Report, session: &SessionInfo) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    v["migrations"] = Value::Array(report.migrations.iter().map(|m| migration_json(m, session)).collect());
    v["findings"] = Value::Array(report.findings.iter().map(|f| finding_json(f, session)).collect());
    if let Value::Object(map) = &mut v {
        map.insert(
            "session".into(),
            json!({
                "hostname": session.hostname,
                "kernel_release": session.kernel_release,
                "arch": session.arch,
                "generation": session.generation,
                "cpu_count": session.cpu_count,
                "clock": session.clock,
                "clock_to_wall_offset_ns": session.clock_to_wall_offset_ns,
                "tool_version": session.tool_version,
            }),
        );
    }
    v
}

/// Writes the JSON document, pretty-printed, with a final newline.
pub fn write_json(out: &mut dyn Write, report: &Report, session: &SessionInfo) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_json(report, session))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Engine, Thresholds};
    use crate::events::{Event, EventKind, TriggerSource};

    fn report() -> (Report, SessionInfo) {
        let s = SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath);
        let mut e = Engine::new(&s, Thresholds::default());
        let comm = crate::events::Comm::from_text("drmgr");
        e.push(&Event {
            ts_ns: 10,
            cpu: 0,
            tid: 1,
            kind: EventKind::TriggerEnter {
                source: TriggerSource::Sysfs,
                stream_id: Some(5),
                comm,
            },
        });
        e.push(&Event {
            ts_ns: 20,
            cpu: 0,
            tid: 1,
            kind: EventKind::HcallEnter {
                opcode: 0x2A4,
                args: [5, 0, 0],
            },
        });
        e.push(&Event {
            ts_ns: 30,
            cpu: 0,
            tid: 1,
            kind: EventKind::HcallExit {
                opcode: 0x2A4,
                retval: -1,
                retbuf0: None,
            },
        });
        e.push(&Event {
            ts_ns: 40,
            cpu: 0,
            tid: 1,
            kind: EventKind::TriggerExit {
                source: TriggerSource::Sysfs,
                ret: -5,
            },
        });
        (e.finish(), s)
    }

    #[test]
    fn text_has_timeline_and_findings() {
        let (r, s) = report();
        let mut out = Vec::new();
        write_text(&mut out, &r, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Migration 1  stream 0x5  sysfs by drmgr"), "{text}");
        assert!(text.contains("UNTERMINATED"), "{text}");
        assert!(text.contains("[CRITICAL] unterminated-migration"), "{text}");
        assert!(text.contains("Next: "), "{text}");
    }

    #[test]
    fn json_is_versioned() {
        let (r, s) = report();
        let mut out = Vec::new();
        write_json(&mut out, &r, &s).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["migrations"][0]["outcome"], "unterminated");
        assert_eq!(v["findings"][0]["kind"], "unterminated-migration");
        assert_eq!(v["findings"][0]["severity"], "critical");
        assert_eq!(v["session"]["generation"], "new-path");
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    /// One time base: everything since the first event, plus UTC when the
    /// session knows the wall clock (2026-12-01T10:00:00Z at boot 1 s).
    #[test]
    fn times_are_since_the_first_event_with_utc() {
        let (r, mut s) = report();
        let mut out = Vec::new();
        write_text(&mut out, &r, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("times below are since the first event"), "{text}");
        assert!(text.contains("started +0.000000s (boot "), "{text}");
        assert!(!text.contains("Z,"), "no wall clock known: {text}");

        s.clock_to_wall_offset_ns = 1_796_119_200_000_000_000 - 1_000_000_000;
        let mut out = Vec::new();
        write_text(&mut out, &r, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("2026-12-01T09:59:59"), "{text}");
        let mut out = Vec::new();
        write_json(&mut out, &r, &s).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(
            v["migrations"][0]["start_utc"]
                .as_str()
                .unwrap()
                .starts_with("2026-12-01T09:59:59"),
            "{v}"
        );
        assert!(v["findings"][0]["utc"].is_string(), "{v}");
    }

    #[test]
    fn cpu_runs_compress() {
        assert_eq!(cpus(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(cpus(&[]), "-");
    }
}
