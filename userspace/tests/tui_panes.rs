//! Pane snapshot tests: each pane rendered with ratatui's `TestBackend`
//! from a replayed recording, asserting that the key strings and markers
//! appear in the right pane (not pixel-exact golden files).

mod tui_support;

use lpmtrace::tui::app::{App, Focus, Overlay};
use lpmtrace::tui::input::Action;
use lpmtrace::tui::run::Driver;
use lpmtrace::tui::view::{self, Styles};
use ratatui::style::Color;
use tui_support::*;

fn at(app: &mut App, driver: &mut lpmtrace::tui::replay::ReplayDriver, offset_ns: u64) {
    driver.seek(app, base() + offset_ns).unwrap();
    app.refresh();
}

fn end(app: &mut App, driver: &mut lpmtrace::tui::replay::ReplayDriver) {
    let end = app.clock().unwrap().end_ns;
    driver.seek(app, end).unwrap();
    app.refresh();
}

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

#[test]
fn migrations_pane_shows_the_timeline_and_the_outcome() {
    let dir = TempDir::new("mig");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    end(&mut app, &mut drv);
    let styles = Styles::new(true);
    let (lines, _) = render_with(80, 12, |f, a| view::migrations::render(f, a, &app, &styles));
    let report = report();
    let m = &report.migrations[0];
    assert_shows(&lines, "Migrations (1)");
    assert_shows(
        &lines,
        &format!("#1 {} stream 0x1 sysfs (drmgr)", m.outcome.as_str().to_uppercase()),
    );
    assert_shows(&lines, &m.outcome.as_str().to_uppercase());
    assert_shows(&lines, "trigger");
    assert_shows(&lines, "a1 join");
    for p in &m.attempts[0].phases {
        assert_shows(&lines, view::migrations::phase_label(&p.name));
    }
    assert!(
        !lines.iter().any(|l| l.contains('▶')),
        "nothing runs at the end:\n{}",
        lines.join("\n")
    );
}

#[test]
fn a_running_phase_is_marked_while_the_migration_is_in_progress() {
    let dir = TempDir::new("mig-live");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    at(&mut app, &mut drv, 3 * S + MS + 600_000); // inside the suspend
    let styles = Styles::new(true);
    let (lines, buf) = render_with(80, 12, |f, a| view::migrations::render(f, a, &app, &styles));
    assert_shows(&lines, "IN-PROGRESS");
    assert_shows(&lines, "▶suspend");
    // The running phase is highlighted, not only marked.
    let y = lines.iter().position(|l| l.contains("▶suspend")).unwrap();
    let x = lines[y].chars().position(|c| c == '▶').unwrap();
    assert_eq!(buf[(x as u16, y as u16)].fg, Color::Cyan);
}

#[test]
fn findings_pane_lists_what_report_finds_newest_first() {
    let dir = TempDir::new("find");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let styles = Styles::new(true);
    let (before, _) = render_with(80, 10, |f, a| view::findings::render(f, a, &app, &styles));
    assert_shows(&before, "no findings");

    end(&mut app, &mut drv);
    let (lines, _) = render_with(100, 10, |f, a| view::findings::render(f, a, &app, &styles));
    let report = report();
    assert!(!report.findings.is_empty(), "the fixture must produce findings");
    assert_shows(&lines, &format!("Findings ({})", report.findings.len()));
    let row = |id: &str| {
        lines
            .iter()
            .position(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{}", lines.join("\n")))
    };
    for f in &report.findings {
        let y = row(f.kind.id());
        let label = match f.severity {
            lpmtrace::analysis::Severity::Critical => "CRIT",
            lpmtrace::analysis::Severity::Warning => "WARN",
            lpmtrace::analysis::Severity::Info => "INFO",
        };
        assert!(lines[y].contains(label), "{}", lines[y]);
        assert_eq!(
            lines[y].contains(&format!("{label} ? ")),
            f.inconclusive,
            "inconclusive marker: {}",
            lines[y]
        );
    }
    let newest = report.findings.iter().max_by_key(|f| f.ts_ns).unwrap();
    let oldest = report.findings.iter().min_by_key(|f| f.ts_ns).unwrap();
    if newest.ts_ns != oldest.ts_ns {
        assert!(
            row(newest.kind.id()) < row(oldest.kind.id()),
            "newest first:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        report.findings.iter().any(|f| f.inconclusive),
        "the lost records make one inconclusive"
    );
}

#[test]
fn finding_detail_shows_explanation_evidence_and_next_step() {
    let dir = TempDir::new("detail");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    end(&mut app, &mut drv);
    app.focus = Focus::Findings;
    app.apply(Action::Enter);
    let Overlay::Finding { key, .. } = app.overlay.clone() else {
        panic!("Enter opens the finding")
    };
    let f = app.finding(&key).unwrap().clone();
    let styles = Styles::new(true);
    let lines = screen(&mut app, 120, 40, &styles);
    assert_shows(&lines, f.kind.id());
    assert_shows(&lines, "Evidence");
    assert_shows(&lines, "Next step");
    let first_words: String = f.explanation.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert_shows(&lines, &first_words);
    let step_words: String = f.next_step.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert_shows(&lines, &step_words);
    if let Some(&pos) = f.evidence.first() {
        assert_shows(&lines, &format!("#{pos} "));
    }
    if f.inconclusive {
        assert_shows(&lines, "INCONCLUSIVE");
    }
}

#[test]
fn cpu_lanes_show_hotplug_join_and_ipis() {
    let dir = TempDir::new("lanes");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    let styles = Styles::new(true);
    let lane = |lines: &[String], cpu: &str| -> String {
        lines
            .iter()
            .find(|l| l.trim_start_matches('│').starts_with(&format!("{cpu} ")))
            .cloned()
            .unwrap_or_default()
    };

    at(&mut app, &mut drv, 250 * MS);
    let (lines, _) = render_with(80, 8, |f, a| view::cpus::render(f, a, &app, &styles));
    assert!(lane(&lines, "cpu3").contains('↓'), "going down:\n{}", lines.join("\n"));
    assert!(lane(&lines, "cpu0").contains('•'), "IPI traffic:\n{}", lines.join("\n"));
    assert_shows(&lines, "s");

    at(&mut app, &mut drv, 2 * S);
    let (lines, _) = render_with(80, 8, |f, a| view::cpus::render(f, a, &app, &styles));
    assert!(lane(&lines, "cpu3").contains('░'), "offline:\n{}", lines.join("\n"));

    at(&mut app, &mut drv, 3 * S + 2 * MS);
    let (lines, _) = render_with(80, 8, |f, a| view::cpus::render(f, a, &app, &styles));
    assert!(
        lane(&lines, "cpu0").ends_with("J│") || lane(&lines, "cpu0").contains('J'),
        "join:\n{}",
        lines.join("\n")
    );
    assert!(lane(&lines, "cpu1").contains('J'), "join:\n{}", lines.join("\n"));
    assert!(!lane(&lines, "cpu3").contains('J'), "the offline CPU does not join");

    at(&mut app, &mut drv, 14 * S + 80 * MS);
    let (lines, _) = render_with(80, 8, |f, a| view::cpus::render(f, a, &app, &styles));
    assert!(lane(&lines, "cpu3").contains('↑'), "coming up:\n{}", lines.join("\n"));
}

#[test]
fn many_cpus_scroll_or_compress() {
    let session = lpmtrace::events::session::SessionInfo::synthetic(
        "ppc64le",
        128,
        lpmtrace::events::session::KernelGeneration::NewPath,
    );
    let mut app = App::live(session, lpmtrace::analysis::Thresholds::default());
    let styles = Styles::new(false);
    let (lines, _) = render_with(80, 10, |f, a| view::cpus::render(f, a, &app, &styles));
    assert_shows(&lines, "rows 1-7 of 128");
    app.focus = Focus::Cpus;
    app.apply(Action::PageDown);
    let (lines, _) = render_with(80, 10, |f, a| view::cpus::render(f, a, &app, &styles));
    assert_shows(&lines, "cpu10 ");
    app.apply(Action::Compress);
    let (lines, _) = render_with(80, 10, |f, a| view::cpus::render(f, a, &app, &styles));
    assert_shows(&lines, "CPUs/row");
    assert_shows(&lines, "cpu0-18");
    assert_shows(&lines, "-127");
}

#[test]
fn event_log_follows_the_tail_and_filters() {
    let dir = TempDir::new("log");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    end(&mut app, &mut drv);
    let styles = Styles::new(true);
    let (lines, _) = render_with(120, 8, |f, a| view::events::render(f, a, &app, &styles));
    assert_shows(&lines, "(following)");
    let last = lines[lines.len() - 2].clone();
    assert!(
        last.contains("ipi.handle") && last.contains("cpu3"),
        "the tail is the last event: {last}"
    );

    app.set_filter("cpu3 hotplug");
    let (lines, _) = render_with(120, 8, |f, a| view::events::render(f, a, &app, &styles));
    assert_shows(&lines, "/cpu3 hotplug");
    let shown: Vec<&String> = lines.iter().filter(|l| l.contains("cpu.hotplug")).collect();
    assert!(shown.len() >= 3, "{}", lines.join("\n"));
    assert!(!lines.iter().any(|l| l.contains("ipi.")), "{}", lines.join("\n"));

    app.set_filter("no-such-text");
    let (lines, _) = render_with(120, 8, |f, a| view::events::render(f, a, &app, &styles));
    assert_shows(&lines, "no event matches");
}

#[test]
fn header_shows_mode_position_lost_events_and_coverage() {
    let dir = TempDir::new("head");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    end(&mut app, &mut drv);
    let styles = Styles::new(true);
    let (lines, buf) = render_with(120, 2, |f, a| view::header::render(f, a, &app, &styles));
    assert_shows(&lines, "REPLAY");
    assert_shows(&lines, "PAUSED");
    assert_shows(&lines, "15.000s / 15.000s");
    assert_shows(&lines, "synthetic");
    assert_shows(&lines, "missing: lpm.rtas (p)");
    assert_shows(&lines, "lost 812");
    let x = lines[1].find("lost 812").unwrap();
    let x = lines[1][..x].chars().count() as u16;
    assert_eq!(buf[(x, 1)].fg, Color::Red, "lost events are red");

    let live = App::live(app.session.clone(), lpmtrace::analysis::Thresholds::default());
    let (lines, buf) = render_with(120, 2, |f, a| view::header::render(f, a, &live, &styles));
    assert_shows(&lines, "LIVE");
    let x = lines[1].find("lost 0").unwrap() as u16;
    assert_ne!(buf[(x, 1)].fg, Color::Red);
}

#[test]
fn the_screen_fits_80x24_and_survives_resizes() {
    let dir = TempDir::new("screen");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    end(&mut app, &mut drv);
    let styles = Styles::new(true);
    let lines = screen(&mut app, 80, 24, &styles);
    for title in ["Migrations", "Findings", "CPU lanes", "Event log", "REPLAY", "q quit"] {
        assert_shows(&lines, title);
    }
    for (w, h) in [(200, 60), (100, 30), (40, 12), (20, 8), (1, 1)] {
        let _ = screen(&mut app, w, h, &styles);
    }
}

#[test]
fn no_color_draws_without_colours() {
    let dir = TempDir::new("nocolor");
    let (mut app, mut drv) = replay_app(&recording(dir.path()));
    end(&mut app, &mut drv);
    app.refresh();
    let styles = Styles::new(false);
    let (lines, buf) = render_with(100, 30, |f, _| view::draw(f, &app, &styles));
    assert_shows(&lines, "lost 812");
    for cell in buf.content() {
        assert_eq!(cell.fg, Color::Reset, "a foreground colour with NO_COLOR: {cell:?}");
        assert_eq!(cell.bg, Color::Reset, "a background colour with NO_COLOR: {cell:?}");
    }
}

#[test]
fn help_lists_every_key_and_coverage_lists_missing_probes() {
    let dir = TempDir::new("help");
    let (mut app, _drv) = replay_app(&recording(dir.path()));
    let styles = Styles::new(true);
    app.apply(Action::Help);
    let lines = screen(&mut app, 120, 40, &styles);
    for (keys, what) in lpmtrace::tui::input::KEYS {
        assert_shows(&lines, keys);
        let words: String = what.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_shows(&lines, &words);
    }
    app.apply(Action::Close);
    app.apply(Action::Coverage);
    let lines = screen(&mut app, 120, 40, &styles);
    assert_shows(&lines, "MISSING lpm.rtas");
}

#[test]
fn nothing_from_a_recording_reaches_a_cell_raw() {
    use lpmtrace::events::{Comm, EventKind};
    let dir = TempDir::new("hostile");
    let mut sc = lpmtrace::scenario::parse(SCENARIO).unwrap();
    sc.session.hostname = "lpar\x1b]0;pwned\x07\x1b[2J".into();
    sc.session.kernel_release = "6.1\u{9b}2J".into();
    for e in &mut sc.events {
        if let EventKind::TriggerEnter { comm, .. } = &mut e.kind {
            *comm = Comm::from_text("dr\x1b[31mgr");
        }
    }
    let path = dir.path().join("evil.lpmt");
    let mut w = lpmtrace::record::Writer::create(&path, &sc.session, Default::default()).unwrap();
    for ev in &sc.events {
        w.push(ev).unwrap();
    }
    w.finish().unwrap();
    let (mut app, mut drv) = replay_app(&path);
    end(&mut app, &mut drv);
    let styles = Styles::new(true);
    app.refresh();
    let (lines, buf) = render_with(100, 30, |f, _| view::draw(f, &app, &styles));
    for cell in buf.content.iter() {
        assert!(
            !cell.symbol().chars().any(|c| c.is_control()),
            "raw control in a cell: {:?}\n{}",
            cell.symbol(),
            lines.join("\n")
        );
    }
    assert_shows(&lines, "lpar\\x1b]0;pwned\\x07\\x1b[2J");
    assert_shows(&lines, "6.1\\u{9b}2J");
    assert_shows(&lines, "(dr\\x1b[31mgr)");
    // The last guard on its own: a raw ESC put straight into a cell.
    let (_, mut raw) = render_with(10, 1, |f, a| {
        f.render_widget(ratatui::widgets::Paragraph::new("a\x1bb"), a)
    });
    view::scrub_controls(&mut raw);
    assert!(raw.content.iter().all(|c| !c.symbol().chars().any(char::is_control)));
}
