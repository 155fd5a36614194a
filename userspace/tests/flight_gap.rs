//! A flight-recorder dump starts wherever its window starts, often in the
//! middle of a migration. The dump carries the events it left out as one
//! `lost` record at its start (the gap), so the analysis marks what rests
//! on the missing part inconclusive instead of inventing findings.
//!
//! Property checked on every scenario and every cut point: a finding of
//! the dump that is *not* inconclusive also exists (same kind) in the
//! analysis of the whole stream.

use std::path::PathBuf;

use lpmtrace::analysis::{Engine, Report};
use lpmtrace::events::{session::FlightDumpInfo, Event, EventKind};
use lpmtrace::record::flight;
use lpmtrace::scenario;

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    files
}

fn analyse(sc: &scenario::Scenario, events: &[Event]) -> Report {
    let mut engine = Engine::new(&sc.session, sc.thresholds.clone());
    for ev in events {
        engine.push(ev);
    }
    if let Some(w) = sc.watermark_ns {
        engine.advance_to(w);
    }
    engine.finish()
}

#[test]
fn dumps_cut_anywhere_report_inconclusive_not_false_findings() {
    let mut problems = Vec::new();
    let mut cuts = 0;
    let mut marked = 0;
    let mut false_without_note = 0;
    for path in scenario_files() {
        let sc = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let full = analyse(&sc, &sc.events);
        let last_ts = sc.events.last().map_or(0, |e| e.ts_ns);
        for cut in 1..sc.events.len() {
            let kept = &sc.events[cut..];
            let gap = lpmtrace::record::flight::gap_event(sc.events[0].ts_ns, cut as u64, kept[0].ts_ns);
            let mut dump = vec![gap];
            dump.extend_from_slice(kept);
            let mut report = analyse(&sc, &dump);
            // What the recorder's live analysis knows at dump time: it saw
            // the whole stream, so its report is the whole trace's.
            let info = FlightDumpInfo {
                triggers: vec!["manual".into()],
                trigger_ts_ns: 0,
                window_ns: 0,
                tail_ns: 0,
                events_left_out: cut as u64,
                window_start_ns: Some(kept[0].ts_ns),
                cut_migrations_until_ns: flight::cut_until(&full.migrations, kept[0].ts_ns, last_ts),
                watched_until_ns: None,
            };
            let unqualified = report.clone();
            marked += flight::qualify_report(&mut report, &info);
            // Without the recorder's note the same dump has false findings
            // in some cuts (checked below), so the note is what keeps them out.
            if unqualified.findings.iter().any(|f| {
                !f.inconclusive
                    && f.kind != lpmtrace::analysis::FindingKind::EventsLost
                    && !full.findings.iter().any(|g| g.kind == f.kind)
            }) {
                false_without_note += 1;
            }
            cuts += 1;
            for f in &report.findings {
                if f.inconclusive || f.kind == lpmtrace::analysis::FindingKind::EventsLost {
                    continue;
                }
                if !full.findings.iter().any(|g| g.kind == f.kind) {
                    problems.push(format!(
                        "{} cut at event {cut} (ts {}): conclusive {} not in the whole trace: {}",
                        path.file_name().unwrap().to_string_lossy(),
                        kept[0].ts_ns,
                        f.kind.id(),
                        f.summary
                    ));
                }
            }
        }
    }
    assert!(cuts > 500, "too few cuts: {cuts}");
    assert!(marked > 0 && false_without_note > 0, "the property was never exercised");
    eprintln!("{cuts} cuts; {marked} findings marked inconclusive; {false_without_note} cuts would report a false finding without the note");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_gap_is_a_lost_record_at_the_first_kept_event() {
    let ev = lpmtrace::record::flight::gap_event(100, 7, 500);
    assert_eq!(ev.ts_ns, 500);
    assert!(matches!(
        ev.kind,
        EventKind::Lost {
            count: 7,
            first_ts_ns: 100,
            last_ts_ns: 500
        }
    ));
}
