//! Prometheus text exposition format 0.0.4 of a [`Snapshot`]: pure, so the
//! exact output is unit-tested (and checked with `promtool check metrics`
//! in the `metrics_prometheus` test).

use std::fmt::Write;

use super::Snapshot;
use crate::analysis::{FindingKind, Severity};

/// Content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Migration outcomes that end a migration (the counter's label values;
/// in-progress migrations are the gauge).
pub const ENDED_OUTCOMES: [&str; 5] = ["completed", "cancelled", "cancel-rejected", "failed", "unterminated"];

/// Probe states (label values of `lpmtrace_probes`).
pub const PROBE_STATES: [&str; 4] = ["attached", "missing", "n/a", "disabled"];

const SEVERITIES: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

/// Escapes a label value (backslash, double quote, line feed).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    // HELP text escapes backslash and line feed only.
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Renders the whole exposition.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "lpmtrace_build_info",
        "gauge",
        "lpmtrace version and the traced kernel (always 1).",
    );
    sample(
        &mut out,
        "lpmtrace_build_info",
        &[
            ("version", &s.version),
            ("kernel", &s.kernel_release),
            ("arch", &s.arch),
            ("generation", &s.generation),
            ("mode", &s.mode),
        ],
        1,
    );
    family(
        &mut out,
        "lpmtrace_start_time_seconds",
        "gauge",
        "Unix time the capture started.",
    );
    sample(&mut out, "lpmtrace_start_time_seconds", &[], s.start_time_unix);

    family(
        &mut out,
        "lpmtrace_events_total",
        "counter",
        "Events captured (lost-event records included).",
    );
    sample(&mut out, "lpmtrace_events_total", &[], s.events);
    family(
        &mut out,
        "lpmtrace_events_lost_total",
        "counter",
        "Events the kernel could not hand over (ring buffer full), as reported by its per-CPU loss counters.",
    );
    sample(&mut out, "lpmtrace_events_lost_total", &[], s.events_lost);

    family(
        &mut out,
        "lpmtrace_migrations_total",
        "counter",
        "Migrations that ended, by outcome (docs/analysis.md).",
    );
    for outcome in ENDED_OUTCOMES {
        let n = s.migrations.get(outcome).copied().unwrap_or(0);
        sample(&mut out, "lpmtrace_migrations_total", &[("outcome", outcome)], n);
    }
    family(
        &mut out,
        "lpmtrace_migration_in_progress",
        "gauge",
        "Migrations in progress now (0 or 1 normally; more means concurrent triggers).",
    );
    sample(&mut out, "lpmtrace_migration_in_progress", &[], s.in_progress);

    family(
        &mut out,
        "lpmtrace_findings_total",
        "counter",
        "Findings raised by the live analysis, by kind and severity (docs/analysis.md).",
    );
    for kind in FindingKind::ALL {
        for sev in SEVERITIES {
            let n = s.findings.get(&(kind.id(), sev.as_str())).copied().unwrap_or(0);
            sample(
                &mut out,
                "lpmtrace_findings_total",
                &[("kind", kind.id()), ("severity", sev.as_str())],
                n,
            );
        }
    }

    family(
        &mut out,
        "lpmtrace_probes",
        "gauge",
        "Logical probes by state (coverage manifest: attached, missing, n/a, disabled).",
    );
    for state in PROBE_STATES {
        let n = s.probes.iter().filter(|(_, st)| *st == state).count();
        sample(&mut out, "lpmtrace_probes", &[("state", state)], n);
    }
    family(
        &mut out,
        "lpmtrace_probe_attached",
        "gauge",
        "1 when the logical probe is attached, 0 otherwise (see lpmtrace_probes for why).",
    );
    for (probe, state) in &s.probes {
        sample(
            &mut out,
            "lpmtrace_probe_attached",
            &[("probe", probe), ("state", state)],
            u8::from(*state == "attached"),
        );
    }

    if let Some(f) = &s.flight {
        family(
            &mut out,
            "lpmtrace_flight_dumps_total",
            "counter",
            "Flight-recorder dumps written, by the trigger that opened them.",
        );
        for (trigger, n) in &f.dumps {
            sample(&mut out, "lpmtrace_flight_dumps_total", &[("trigger", trigger)], n);
        }
        family(
            &mut out,
            "lpmtrace_flight_dump_errors_total",
            "counter",
            "Flight-recorder dumps that could not be written.",
        );
        sample(&mut out, "lpmtrace_flight_dump_errors_total", &[], f.errors);
        family(
            &mut out,
            "lpmtrace_flight_window_bytes",
            "gauge",
            "Memory the flight recorder's window holds.",
        );
        sample(&mut out, "lpmtrace_flight_window_bytes", &[], f.window_bytes);
        family(
            &mut out,
            "lpmtrace_flight_window_events",
            "gauge",
            "Events the flight recorder's window holds.",
        );
        sample(&mut out, "lpmtrace_flight_window_events", &[], f.window_events);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::FlightStats;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let mut s = Snapshot {
            version: "0.1.0".into(),
            kernel_release: "6.1.0-\"x\"".into(),
            arch: "x86_64".into(),
            generation: "not-pseries".into(),
            mode: "record".into(),
            start_time_unix: 1_700_000_000.5,
            events: 42,
            events_lost: 3,
            in_progress: 1,
            probes: vec![
                ("cpu.hotplug".into(), "attached"),
                ("lpm.join".into(), "n/a"),
                ("ipi.send".into(), "missing"),
            ],
            ..Snapshot::default()
        };
        s.migrations.insert("completed", 2);
        s.findings.insert(("join-stall", "critical"), 1);
        s.flight = Some(FlightStats {
            dumps: vec![("manual".into(), 1)],
            ..FlightStats::default()
        });
        let text = render(&s);
        for name in [
            "lpmtrace_build_info",
            "lpmtrace_events_total",
            "lpmtrace_events_lost_total",
            "lpmtrace_migrations_total",
            "lpmtrace_migration_in_progress",
            "lpmtrace_findings_total",
            "lpmtrace_probes",
            "lpmtrace_probe_attached",
            "lpmtrace_flight_dumps_total",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name} HELP");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} TYPE");
        }
        assert!(text.contains("lpmtrace_events_total 42\n"));
        assert!(text.contains("lpmtrace_events_lost_total 3\n"));
        assert!(text.contains("lpmtrace_migrations_total{outcome=\"completed\"} 2\n"));
        assert!(text.contains("lpmtrace_migrations_total{outcome=\"unterminated\"} 0\n"));
        assert!(text.contains("lpmtrace_findings_total{kind=\"join-stall\",severity=\"critical\"} 1\n"));
        assert!(text.contains("lpmtrace_findings_total{kind=\"offline-race\",severity=\"warning\"} 0\n"));
        assert!(text.contains("lpmtrace_probes{state=\"attached\"} 1\n"));
        assert!(text.contains("lpmtrace_probes{state=\"n/a\"} 1\n"));
        assert!(text.contains("lpmtrace_probe_attached{probe=\"lpm.join\",state=\"n/a\"} 0\n"));
        assert!(text.contains("kernel=\"6.1.0-\\\"x\\\"\""), "label escaping");
        assert!(text.contains("lpmtrace_start_time_seconds 1700000000.5\n"));
        assert!(text.ends_with('\n'));
        // Every sample line belongs to a family announced before it.
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{name} sampled before its TYPE");
            }
        }
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
