//! Replay behaviour end to end without a terminal: the real loop
//! (`tui::run::run`) on a `TestBackend`, driven by scripted keys, over a
//! recording; and the replay driver's clock, seeking and final report.

mod tui_support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use lpmtrace::tui::app::{App, Focus, Overlay};
use lpmtrace::tui::run::{self, Driver, Input};
use lpmtrace::tui::view::Styles;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tui_support::*;

/// Keys fed to the loop one per turn, then `q`.
struct Script(VecDeque<TermEvent>);

impl Script {
    fn keys(keys: &[KeyCode]) -> Self {
        let mut q: VecDeque<TermEvent> = keys
            .iter()
            .map(|&k| TermEvent::Key(KeyEvent::new(k, KeyModifiers::NONE)))
            .collect();
        q.push_back(TermEvent::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)));
        Script(q)
    }

    fn text(text: &str) -> Vec<KeyCode> {
        text.chars().map(KeyCode::Char).collect()
    }
}

impl Input for Script {
    fn next(&mut self, _timeout: Duration) -> anyhow::Result<Option<TermEvent>> {
        Ok(self.0.pop_front())
    }
}

/// Runs the loop with `keys` and returns the final screen.
fn run_keys(app: &mut App, driver: &mut dyn Driver, keys: &[KeyCode]) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    run::run(&mut term, app, driver, &mut Script::keys(keys), &Styles::new(false)).unwrap();
    // The loop quits before drawing the `q`; draw the state it left.
    app.refresh();
    term.draw(|f| lpmtrace::tui::view::draw(f, app, &Styles::new(false)))
        .unwrap();
    lines(term.backend().buffer())
}

#[test]
fn the_end_of_a_replay_is_exactly_the_report() {
    let dir = TempDir::new("final");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let expected = report();
    assert_eq!(app.all_findings.as_ref().unwrap(), &expected.findings);
    let end = app.clock().unwrap().end_ns;
    drv.seek(&mut app, end).unwrap();
    app.refresh();
    assert!(app.model.is_finished());
    assert_eq!(app.model.report.findings, expected.findings);
    assert_eq!(app.model.report.migrations, expected.migrations);
    assert_eq!(app.model.report.events, expected.events);
}

#[test]
fn seeking_back_rewinds_and_replays_the_same_state() {
    let dir = TempDir::new("back");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let mid = base() + 3_001_500_000;
    drv.seek(&mut app, mid).unwrap();
    app.refresh();
    let first = (
        app.model.events,
        app.model.report.migrations.clone(),
        app.model.log.last_pos(),
    );
    let end = app.clock().unwrap().end_ns;
    drv.seek(&mut app, end).unwrap();
    drv.seek(&mut app, mid).unwrap();
    app.refresh();
    assert!(!app.model.is_finished());
    assert_eq!(
        (
            app.model.events,
            app.model.report.migrations.clone(),
            app.model.log.last_pos()
        ),
        first
    );
    assert_eq!(app.clock().unwrap().pos_ns, mid);
}

#[test]
fn the_clock_plays_at_the_chosen_speed_and_stops_at_the_end() {
    let dir = TempDir::new("clock");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let start = app.clock().unwrap().pos_ns;
    // Paused: nothing moves.
    drv.pump(&mut app, Instant::now() + Duration::from_millis(40)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drv.pump(&mut app, Instant::now() + Duration::from_millis(40)).unwrap();
    assert_eq!(app.clock().unwrap().pos_ns, start);
    // 1000x: 20 ms of wall time is about 20 s of trace, past the end.
    app.paused = false;
    app.clock_mut().unwrap().speed = 1000.0;
    let t0 = Instant::now();
    while !app.model.is_finished() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
        drv.pump(&mut app, Instant::now() + Duration::from_millis(40)).unwrap();
    }
    let c = *app.clock().unwrap();
    assert_eq!(c.pos_ns, c.end_ns);
    assert!(app.model.is_finished());
    assert_eq!(app.model.report.findings, report().findings);
}

#[test]
fn keys_pause_seek_and_change_speed() {
    let dir = TempDir::new("keys");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let start = app.clock().unwrap().start_ns;
    let screen = run_keys(
        &mut app,
        &mut drv,
        &[KeyCode::Right, KeyCode::Right, KeyCode::Left, KeyCode::Char('+')],
    );
    let c = *app.clock().unwrap();
    assert!(app.paused);
    assert_eq!(c.pos_ns, start + 1_000_000_000);
    assert_eq!(c.speed, 2.0);
    assert_shows(&screen, "2x 1.000s / 15.000s");
    assert_shows(&screen, "PAUSED");

    let screen = run_keys(&mut app, &mut drv, &[KeyCode::Char(' ')]);
    assert!(!app.paused);
    assert!(!screen.iter().any(|l| l.contains("PAUSED")));
    let mut shift_right = Script(VecDeque::from(vec![
        TermEvent::Key(KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE)),
        TermEvent::Key(KeyEvent::new(KeyCode::Right, KeyModifiers::SHIFT)),
        TermEvent::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)),
    ]));
    app.clock_mut().unwrap().pos_ns = start;
    drv.seek(&mut app, start).unwrap();
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    run::run(&mut term, &mut app, &mut drv, &mut shift_right, &Styles::new(false)).unwrap();
    assert!(app.paused);
    assert_eq!(app.clock().unwrap().pos_ns, start + 10_000_000_000);

    run_keys(&mut app, &mut drv, &[KeyCode::Char('g')]);
    assert_eq!(app.clock().unwrap().pos_ns, start);
    run_keys(&mut app, &mut drv, &[KeyCode::Char('G')]);
    assert!(app.model.is_finished());
}

#[test]
fn next_finding_moves_the_position_and_opens_details() {
    let dir = TempDir::new("next");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let findings = report().findings;
    let first = findings.iter().min_by_key(|f| f.ts_ns).unwrap().clone();
    let screen = run_keys(&mut app, &mut drv, &[KeyCode::Char('n')]);
    assert_eq!(app.clock().unwrap().pos_ns, first.ts_ns);
    assert_eq!(app.focus, Focus::Findings);
    assert_eq!(app.selected_finding().unwrap().kind, first.kind);
    assert_shows(&screen, first.kind.id());

    let screen = run_keys(&mut app, &mut drv, &[KeyCode::Enter]);
    assert!(matches!(app.overlay, Overlay::Finding { .. }));
    assert_shows(&screen, "Next step");
    if let Some(&pos) = first.evidence.first() {
        // Enter again jumps to the first evidence event in the log.
        run_keys(&mut app, &mut drv, &[KeyCode::Enter]);
        assert_eq!(app.overlay, Overlay::None);
        assert_eq!(app.focus, Focus::Events);
        assert_eq!(app.log_anchor, Some(pos));
        assert!(app.model.log.get(pos).is_some(), "the evidence event is in the log");
    }

    // Past the last finding: a message, the position stays.
    let end = app.clock().unwrap().end_ns;
    drv.seek(&mut app, end).unwrap();
    let screen = run_keys(&mut app, &mut drv, &[KeyCode::Char('n')]);
    assert_eq!(app.clock().unwrap().pos_ns, end);
    assert_shows(&screen, "no later finding");
    run_keys(&mut app, &mut drv, &[KeyCode::Char('N')]);
    let last = findings.iter().max_by_key(|f| f.ts_ns).unwrap();
    assert_eq!(app.clock().unwrap().pos_ns, last.ts_ns);
}

#[test]
fn slash_filters_the_event_log() {
    let dir = TempDir::new("filter");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let end = app.clock().unwrap().end_ns;
    drv.seek(&mut app, end).unwrap();
    let mut keys = vec![KeyCode::Char('/')];
    keys.extend(Script::text("lpm.hcall cpu1"));
    keys.push(KeyCode::Enter);
    let screen = run_keys(&mut app, &mut drv, &keys);
    assert_eq!(app.filter.source(), "lpm.hcall cpu1");
    assert_shows(&screen, "/lpm.hcall cpu1");
    let log: Vec<&String> = screen
        .iter()
        .filter(|l| l.contains(" cpu") && l.contains('#'))
        .collect();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|l| l.contains("lpm.hcall") && l.contains("cpu1")),
        "{}",
        screen.join("\n")
    );

    // Esc while typing keeps the old filter; `q` while typing is a letter.
    let screen = run_keys(
        &mut app,
        &mut drv,
        &[KeyCode::Char('/'), KeyCode::Char('q'), KeyCode::Esc],
    );
    assert_eq!(app.filter.source(), "lpm.hcall cpu1");
    assert_shows(&screen, "/lpm.hcall cpu1");
}

#[test]
fn help_opens_and_closes() {
    let dir = TempDir::new("helpkeys");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let screen = run_keys(&mut app, &mut drv, &[KeyCode::Char('?')]);
    assert_shows(&screen, "Keys (? or Esc closes)");
    let screen = run_keys(&mut app, &mut drv, &[KeyCode::Esc]);
    assert!(!screen.iter().any(|l| l.contains("Keys (? or Esc closes)")));
    assert_eq!(app.overlay, Overlay::None);
}
