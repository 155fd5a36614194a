//! Runs every scenario in tests/scenarios/ through the engine and compares
//! the findings and outcomes with the scenario's `expect:` lines. Also
//! checks that a live-style run (the clock advanced between events, as the
//! live view does with wall time) gives exactly the replay's findings.

use std::path::PathBuf;

use lpmtrace::analysis::Engine;
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

#[test]
fn every_scenario_produces_its_expected_findings() {
    let files = scenario_files();
    assert!(files.len() >= 15, "scenario corpus shrank: {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let sc = scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(sc.has_expectations(), "{}: no expect lines", path.display());
        let report = sc.analyse();
        if let Err(problems) = sc.check(&report) {
            let mut text = Vec::new();
            lpmtrace::views::report::write_text(&mut text, &report, &sc.session).expect("write to Vec");
            failures.push(format!(
                "{}:\n  {}\n--- report ---\n{}",
                path.display(),
                problems.join("\n  "),
                String::from_utf8_lossy(&text)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn live_and_replay_give_the_same_findings() {
    for path in scenario_files() {
        let sc = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let replay = sc.analyse();
        let mut live = Engine::new(&sc.session, sc.thresholds.clone());
        let mut prev = 0u64;
        for ev in &sc.events {
            // Wall-clock ticks every 50 ms while waiting for the next event.
            let mut t = prev;
            while t + 50_000_000 < ev.ts_ns {
                t += 50_000_000;
                live.advance_to(t);
            }
            if ev.ts_ns > 0 {
                live.advance_to(ev.ts_ns - 1);
            }
            live.push(ev);
            prev = ev.ts_ns;
        }
        if let Some(w) = sc.watermark_ns {
            live.advance_to(w);
        }
        let live = live.finish();
        assert_eq!(live.findings, replay.findings, "{}", path.display());
        assert_eq!(live.migrations, replay.migrations, "{}", path.display());
    }
}

#[test]
fn join_stall_fires_while_the_hang_lasts() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/old-hang-ipi-target-offline.scn");
    let sc = scenario::load(&path).expect("scenario");
    let mut engine = Engine::new(&sc.session, sc.thresholds.clone());
    for ev in &sc.events {
        engine.push(ev);
    }
    let last = sc.events.last().expect("events").ts_ns;
    assert!(
        engine.findings().iter().all(|f| f.kind.id() != "join-stall"),
        "too early"
    );
    engine.advance_to(last + 2_000_000_000);
    let stall = engine
        .findings()
        .iter()
        .find(|f| f.kind.id() == "join-stall")
        .expect("stall flagged by advance_to");
    assert_eq!(stall.cpus, vec![3]);
}
