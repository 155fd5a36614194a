//! A critical finding triggers a flight-recorder dump. No LPM happens on
//! the x86 test host, so the scenarios with critical findings drive the
//! pure core (`lpmtrace::flight::FlightCore`: live analysis + ring) the way
//! the live loop does (events in time order, a tick every 50 ms of kernel
//! time, the clock running on after the last event while a hang lasts);
//! the dump is then written with the product's writer and analysed by
//! `report` like any recording.

use std::path::{Path, PathBuf};

use lpmtrace::analysis::Severity;
use lpmtrace::commands::report::ReportArgs;
use lpmtrace::flight::{FlightCore, Tick};
use lpmtrace::record::flight::{write_dump, DumpPlan, FlightOptions};
use lpmtrace::record::{FileSource, OpenOptions};
use lpmtrace::scenario;
use lpmtrace::source::EventSource;

const TICK_NS: u64 = 50_000_000;
const S: u64 = 1_000_000_000;

fn load(name: &str) -> scenario::Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Plays the scenario through the core like the capture loop; returns
/// every tick's outcome that opened a trigger or produced a dump.
fn play(sc: &scenario::Scenario, opts: FlightOptions, run_on_ns: u64) -> (FlightCore, Vec<Tick>) {
    play_with_manual(sc, opts, run_on_ns, None)
}

/// [`play`], with a manual trigger (SIGUSR1) at `manual_at` if given.
fn play_with_manual(
    sc: &scenario::Scenario,
    opts: FlightOptions,
    run_on_ns: u64,
    manual_at: Option<u64>,
) -> (FlightCore, Vec<Tick>) {
    let mut core = FlightCore::new(&sc.session, opts, sc.thresholds.clone()).unwrap();
    let mut seen = Vec::new();
    let mut next_tick = sc.events[0].ts_ns + TICK_NS;
    let mut keep = |t: Tick| {
        if !t.opened.is_empty() || t.dump.is_some() {
            seen.push(t);
        }
    };
    for ev in &sc.events {
        while ev.ts_ns >= next_tick {
            keep(core.tick(next_tick));
            next_tick += TICK_NS;
        }
        core.push(ev);
    }
    let end = sc.events.last().unwrap().ts_ns + run_on_ns;
    while next_tick <= end {
        if manual_at.is_some_and(|m| m <= next_tick && m > next_tick - TICK_NS) {
            assert!(core.manual(next_tick));
        }
        keep(core.tick(next_tick));
        next_tick += TICK_NS;
    }
    (core, seen)
}

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lpmtrace-test-ftrig-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the dump and runs `report --json` on it.
fn report_of(dir: &Path, sc: &scenario::Scenario, plan: &DumpPlan) -> (PathBuf, serde_json::Value) {
    let summary = write_dump(dir, &sc.session, plan, 1_795_564_800).unwrap();
    let mut src = FileSource::open(&summary.path, OpenOptions::default()).unwrap();
    assert_eq!(
        src.session().flight.as_ref().map(|f| f.triggers[0].clone()),
        Some(plan.first_kind().to_string())
    );
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        report: ReportArgs,
    }
    let args = Cli::parse_from(["report", "--json", "--fail-on", "never"]).report;
    let mut out = Vec::new();
    lpmtrace::commands::report::run_to(&args, &mut src, &mut out).unwrap();
    (summary.path, serde_json::from_slice(&out).unwrap())
}

fn conclusive(report: &serde_json::Value, kind: &str) -> bool {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == kind && f["inconclusive"] == false)
}

#[test]
fn a_critical_finding_dumps_window_and_tail_and_the_dump_reports_it() {
    for (name, kind) in [
        ("old-hang-ipi-target-offline.scn", "offline-race"),
        ("new-retries-cancel-rejected.scn", "cancel-rejected"),
    ] {
        let sc = load(name);
        let full = sc.analyse();
        assert!(full
            .findings
            .iter()
            .any(|f| f.kind.id() == kind && f.severity == Severity::Critical));
        let opts = FlightOptions {
            window_ns: 600 * S,
            tail_ns: 2 * S,
            ..FlightOptions::default()
        };
        let (mut core, ticks) = play(&sc, opts, 10 * S);
        let opened: Vec<&str> = ticks.iter().flat_map(|t| t.opened.iter().map(String::as_str)).collect();
        assert_eq!(opened.first().copied(), Some(kind), "{name}: opened {opened:?}");
        let dumps: Vec<&DumpPlan> = ticks.iter().filter_map(|t| t.dump.as_ref()).collect();
        assert_eq!(dumps.len(), 1, "{name}: one dump (later criticals join its tail)");
        let plan = dumps[0];
        assert!(core.take_pending(u64::MAX).is_none());
        // The tail: the dump was taken tail_ns after the trigger.
        let trig = plan.triggers[0].ts_ns;
        assert_eq!(plan.taken_ns, trig + 2 * S, "{name}");
        assert!(
            plan.gap.is_none() && plan.cut_until_ns.is_none(),
            "{name}: the whole trace fits"
        );
        assert_eq!(
            plan.events(),
            sc.events.len() as u64,
            "{name}: every event is in the dump"
        );
        assert!(trig >= sc.events[0].ts_ns);

        let dir = tmpdir(&name.replace('.', "-"));
        let (path, report) = report_of(&dir, &sc, plan);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(file, format!("lpmtrace-synthetic-20261125T000000Z-{kind}.lpmt"));
        assert!(
            conclusive(&report, kind),
            "{name}: the dump's report lacks {kind}: {report}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_window_shorter_than_the_migration_still_holds_its_start() {
    // The hang: the migration starts 1 s into the trace and never ends
    // (the clock runs on). A manual dump 6 s after the last event, with a
    // 1.5 s window, would hold nothing of it; the pin keeps the migration
    // and the window before it, so the dump's report finds what the whole
    // trace has.
    let sc = load("old-hang-ipi-target-offline.scn");
    let opts = FlightOptions {
        window_ns: 1_500_000_000,
        tail_ns: S,
        ..FlightOptions::default()
    };
    let last = sc.events.last().unwrap().ts_ns;
    let (_, ticks) = play_with_manual(&sc, opts, 8 * S, Some(last + 6 * S));
    let plans: Vec<&DumpPlan> = ticks.iter().filter_map(|t| t.dump.as_ref()).collect();
    assert_eq!(plans.len(), 2, "the critical dump and the manual one");
    let plan = plans[1];
    assert_eq!(plan.first_kind(), "manual");
    assert!(plan.triggers[0].ts_ns >= last + 6 * S);
    let full = sc.analyse();
    let start = full.migrations[0].start_ns;
    let (first, _) = plan.time_range().unwrap();
    assert!(
        first <= start,
        "dump starts at {first}, after the migration's start {start}"
    );
    assert!(plan.cut_until_ns.is_none());
    assert_eq!(
        plan.events(),
        sc.events.len() as u64,
        "everything since the window before the migration"
    );
    let dir = tmpdir("pin");
    let (_, report) = report_of(&dir, &sc, plan);
    assert!(conclusive(&report, "join-stall"), "{report}");
    assert!(conclusive(&report, "offline-race"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_migration_in_flight_the_window_is_the_bound() {
    // The same manual dump on a trace whose migration completed: nothing
    // is pinned, the window (1.5 s) holds nothing older, and the dump says
    // how many events it left out.
    let sc = load("new-success.scn");
    let opts = FlightOptions {
        window_ns: 1_500_000_000,
        tail_ns: S,
        ..FlightOptions::default()
    };
    let last = sc.events.last().unwrap().ts_ns;
    let (_, ticks) = play_with_manual(&sc, opts, 8 * S, Some(last + S));
    let plan = ticks.iter().find_map(|t| t.dump.as_ref()).expect("a dump");
    let gap = plan.gap.expect("events left out");
    assert_eq!(gap.count + plan.events(), sc.events.len() as u64);
    let (first, _) = plan.time_range().unwrap();
    assert!(
        first + 1_500_000_000 + lpmtrace::record::flight::CHUNK_SPAN_NS >= last + S,
        "window too long"
    );
    let dir = tmpdir("nopin");
    let (_, report) = report_of(&dir, &sc, plan);
    for f in report["findings"].as_array().unwrap() {
        assert!(
            f["kind"] == "events-lost" && f["severity"] == "info" || f["inconclusive"] == true,
            "a dump of a quiet window reports nothing conclusive: {f}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scenario with IPI traffic every millisecond across it (as a busy
/// partition has), callbacks varying so the encoding cannot shrink it.
fn with_ipi_noise(sc: &scenario::Scenario) -> scenario::Scenario {
    use lpmtrace::events::{Event, EventKind, IpiSendVia};
    let (first, last) = (sc.events[0].ts_ns, sc.events.last().unwrap().ts_ns);
    let mut events = sc.events.clone();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut t = first + 1;
    while t < last {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        events.push(Event {
            ts_ns: t,
            cpu: 0,
            tid: 7,
            kind: EventKind::IpiSend {
                target_cpu: 1,
                callback: x,
                via: IpiSendVia::Tracepoint,
            },
        });
        t += 1_000_000;
    }
    events.sort_by_key(|e| e.ts_ns);
    let mut out = sc.clone();
    out.events = events;
    out
}

#[test]
fn a_dump_cut_inside_a_migration_by_the_memory_bound_reads_inconclusive() {
    // No pin can help when memory runs out: with a 16 KiB budget the busy
    // partition's IPIs push the migration's start out before its critical
    // finding. The core notes it and the report says inconclusive instead
    // of inventing a failure.
    let sc = with_ipi_noise(&load("new-retries-cancel-rejected.scn"));
    let opts = FlightOptions {
        window_ns: 600 * S,
        tail_ns: S,
        max_memory: 16 << 10,
        compression_level: 0,
    };
    let (_, ticks) = play(&sc, opts, 5 * S);
    let plan = ticks.iter().find_map(|t| t.dump.as_ref()).expect("a dump");
    assert_eq!(plan.first_kind(), "cancel-rejected");
    assert!(
        plan.cut_until_ns.is_some(),
        "the migration's start should not fit in 16 KiB"
    );
    let gap = plan.gap.expect("events left out");
    assert_eq!(gap.count + plan.events(), sc.events.len() as u64);
    let dir = tmpdir("mem");
    let (_, report) = report_of(&dir, &sc, plan);
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] != "events-lost"),
        "the dump still shows its findings"
    );
    for f in findings {
        if f["kind"] != "events-lost" {
            assert_eq!(f["inconclusive"], true, "{f}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
