//! Shared helpers of the `tui_*` tests: a small recording made from a
//! scenario (a failing migration with lost events, CPU hotplug and IPI
//! traffic), the same analysis `report` runs, and rendering to text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lpmtrace::analysis::{Report, Thresholds};
use lpmtrace::record::{Writer, WriterOptions};
use lpmtrace::tui::app::App;
use lpmtrace::tui::view::Styles;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal};

/// The recorded scenario: CPU 3 goes offline long before the migration,
/// then a migration fails on its first attempt while the ring buffer loses
/// 812 records (an inconclusive finding plus events-lost), and CPU 3 comes
/// back after it.
pub const SCENARIO: &str = "\
title: tui fixture
kernel: new-path
cpus: 4
token: 0x202a
missing: lpm.rtas

repeat 4 every 50ms from +0
+0      cpu0 ipi-send target=1
+1us    cpu1 ipi-handle
+2us    cpu2 ipi-send target=3
+3us    cpu3 ipi-handle
end
+0.2000 cpu2 tid=900 cpu-down cpu=3 comm=ppc64_cpu
+0.2001 cpu3 hotplug cpu=3 target=0 idx=235
+0.2300 cpu3 offline cpu=3
+0.2700 cpu2 hotplug-exit cpu=3 state=0 idx=1 ret=0
+0.2701 cpu2 tid=900 cpu-down-exit ret=0
repeat 19 every 100ms from +1
+0      cpu0 ipi-send target=1
+1us    cpu1 ipi-handle
end
+3.0000 cpu0 tid=4242 trigger sysfs stream=0x1 comm=drmgr
+3.0001 cpu0 tid=4242 migrate handle=0x1
+3.0002 cpu0 tid=4242 hcall H_VASI_STATE handle=0x1
+3.0003 cpu0 tid=4242 hcall-exit H_VASI_STATE ret=H_SUCCESS state=SUSPENDING
+3.0010 cpu0 tid=15 join do-join
+3.0011 cpu0 tid=15 hcall H_JOIN
+3.0012 cpu1 tid=20 join do-join
+3.0013 cpu1 tid=20 hcall H_JOIN
+3.0014 cpu1 tid=20 hcall-exit H_JOIN ret=H_CONTINUE
+3.0015 cpu1 tid=20 suspend
+3.0018 cpu1 tid=20 suspend-exit ret=-EBUSY
+3.0019 cpu1 tid=20 hcall H_PROD target=0
+3.0020 cpu0 tid=15 hcall-exit H_JOIN ret=H_SUCCESS
+3.0021 cpu0 tid=15 join-exit do-join ret=0
+3.0022 cpu1 tid=20 join-exit do-join ret=-EBUSY
+3.0500 cpu0 tid=4242 lost count=812 first=+3.0023 last=+3.0400
+3.0501 cpu0 tid=4242 migrate-exit ret=-EBUSY
+3.0502 cpu0 tid=4242 trigger-exit sysfs ret=-EBUSY
+14.000 cpu2 hotplug cpu=3 target=236 idx=91
+14.060 cpu3 online cpu=3
+14.100 cpu2 hotplug-exit cpu=3 state=236 idx=236 ret=0
+15.000 cpu0 ipi-send target=3
+15.0001 cpu3 ipi-handle
";

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lpmtrace-tui-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes [`SCENARIO`] as a recording in `dir`.
pub fn recording(dir: &Path) -> PathBuf {
    let sc = lpmtrace::scenario::parse(SCENARIO).expect("fixture scenario parses");
    let path = dir.join("fixture.lpmt");
    let mut w = Writer::create(&path, &sc.session, WriterOptions::default()).unwrap();
    for ev in &sc.events {
        w.push(ev).unwrap();
    }
    w.finish().unwrap();
    path
}

/// What `lpmtrace report` concludes about [`SCENARIO`].
pub fn report() -> Report {
    let sc = lpmtrace::scenario::parse(SCENARIO).unwrap();
    lpmtrace::analysis::analyse(&sc.session, Thresholds::default(), &sc.events)
}

/// The time of `+0` in the scenario.
pub fn base() -> u64 {
    lpmtrace::scenario::BASE_TS_NS
}

/// Opens the recording for replay, paused at the start.
pub fn replay_app(path: &Path) -> (App, lpmtrace::tui::replay::ReplayDriver) {
    let (mut app, driver) = lpmtrace::tui::replay::open(path, false, Thresholds::default(), 1.0).unwrap();
    app.paused = true;
    (app, driver)
}

/// The buffer as lines of text.
pub fn lines(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

/// Renders with `f` on a `w`×`h` test terminal and returns the lines.
pub fn render_with(w: u16, h: u16, f: impl FnOnce(&mut Frame, Rect)) -> (Vec<String>, Buffer) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let frame = term
        .draw(|frame| {
            let area = frame.area();
            f(frame, area)
        })
        .unwrap();
    let buf = frame.buffer.clone();
    (lines(&buf), buf)
}

/// The whole screen at `w`×`h`.
pub fn screen(app: &mut App, w: u16, h: u16, styles: &Styles) -> Vec<String> {
    app.refresh();
    render_with(w, h, |f, _| lpmtrace::tui::view::draw(f, app, styles)).0
}

/// Asserts that some line contains `needle`, printing the screen if not.
#[track_caller]
pub fn assert_shows(lines: &[String], needle: &str) {
    assert!(
        lines.iter().any(|l| l.contains(needle)),
        "{needle:?} not on screen:\n{}",
        lines.join("\n")
    );
}
