//! A progress bar on stderr for long runs over big recordings (`report`,
//! `dump`, `export`).
//!
//! It is drawn only when stderr is a terminal, and only when the run is worth
//! one: the file is big ([`BIG_FILE`]) or the run has taken longer than
//! [`SHOW_AFTER`]. Redraws are rate-limited ([`REDRAW_EVERY`]) and the line is
//! cleared when the run ends, so nothing of it stays in the scrollback, and a
//! pipe or a log file never sees a byte of it.
//!
//! ```no_run
//! use lpmtrace::views::progress::Progress;
//! let total = 1 << 30;
//! let mut bar = Progress::for_file("report big.lpmt", total);
//! for _chunk in 0..1024 {
//!     bar.advance(1 << 20); // or bar.set(position) with an absolute offset
//! }
//! bar.finish();
//! ```
//!
//! [`render`] is the pure formatter; the rest decides when to call it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Files at least this big get the bar from the start.
pub const BIG_FILE: u64 = 32 << 20;
/// Smaller files get it once the run has taken this long.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);
/// At most one redraw per this interval (a terminal is slow; a bar that
/// redraws per event would cost more than the work it reports on).
pub const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// A progress bar, or nothing when it is off.
pub struct Progress {
    bar: Option<Bar>,
}

struct Bar {
    label: String,
    total: u64,
    done: u64,
    width: usize,
    start: Instant,
    last_draw: Option<Instant>,
    out: Box<dyn Write>,
}

impl Progress {
    /// A bar on stderr over `total_bytes`, on only when stderr is a
    /// terminal.
    pub fn for_file(label: impl Into<String>, total_bytes: u64) -> Progress {
        let stderr = std::io::stderr();
        if !stderr.is_terminal() {
            return Progress::off();
        }
        let width = crossterm::terminal::size().map(|(w, _)| usize::from(w)).unwrap_or(80);
        Progress::to_writer(label, total_bytes, Box::new(stderr), width, Instant::now())
    }

    /// A bar that never draws (not a terminal, or not wanted).
    pub fn off() -> Progress {
        Progress { bar: None }
    }

    /// A bar drawing into `out` as if it were a terminal `width` columns
    /// wide, started at `start` (tests, and callers with their own writer).
    pub fn to_writer(
        label: impl Into<String>,
        total_bytes: u64,
        out: Box<dyn Write>,
        width: usize,
        start: Instant,
    ) -> Progress {
        Progress {
            bar: Some(Bar {
                label: label.into(),
                total: total_bytes,
                done: 0,
                width,
                start,
                last_draw: None,
                out,
            }),
        }
    }

    /// Whether this bar can ever draw.
    pub fn is_on(&self) -> bool {
        self.bar.is_some()
    }

    /// `bytes` more are done.
    pub fn advance(&mut self, bytes: u64) {
        if let Some(done) = self.bar.as_ref().map(|b| b.done.saturating_add(bytes)) {
            self.set(done);
        }
    }

    /// The run has reached byte `position` of the total.
    pub fn set(&mut self, position: u64) {
        if self.bar.is_some() {
            self.set_at(position, Instant::now());
        }
    }

    /// [`set`](Self::set) at a given instant (tests drive the clock).
    pub fn set_at(&mut self, position: u64, now: Instant) {
        let Some(bar) = &mut self.bar else { return };
        bar.done = position.min(bar.total);
        let elapsed = now.saturating_duration_since(bar.start);
        if bar.total < BIG_FILE && elapsed < SHOW_AFTER {
            return;
        }
        if bar
            .last_draw
            .is_some_and(|t| now.saturating_duration_since(t) < REDRAW_EVERY)
        {
            return;
        }
        bar.last_draw = Some(now);
        let line = render(&bar.label, bar.done, bar.total, elapsed, bar.width);
        // A failed write to stderr must not fail the run it decorates.
        if write!(bar.out, "\r{line}\x1b[K")
            .and_then(|()| bar.out.flush())
            .is_err()
        {
            self.bar = None;
        }
    }

    /// Clears the bar's line (if it was drawn) and turns it off; call it
    /// before printing anything else to the terminal. Dropping does it too.
    pub fn finish(&mut self) {
        if let Some(mut bar) = self.bar.take() {
            if bar.last_draw.is_some() {
                let _ = write!(bar.out, "\r\x1b[K").and_then(|()| bar.out.flush());
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One line of the bar, at most `width - 1` columns (a full-width line
/// would wrap on some terminals):
/// `LABEL [=====>    ]  45%  12.0/26.7 MiB  8.0 MiB/s  ETA 2s`.
/// When the width is short the tail loses parts from the right (ETA, rate,
/// sizes); the bar goes when not even 10 cells of it fit.
pub fn render(label: &str, done: u64, total: u64, elapsed: Duration, width: usize) -> String {
    let done = done.min(total);
    let percent = (u128::from(done) * 100).checked_div(u128::from(total)).unwrap_or(100);
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let mut tail = vec![format!("{percent:>3}%"), format!("{}/{}", bytes(done), bytes(total))];
    if rate > 0.0 {
        tail.push(format!("{}/s", bytes(rate as u64)));
        let left = (total - done) as f64 / rate;
        tail.push(format!("ETA {}", clock(left)));
    }
    let max = width.saturating_sub(1);
    let label: String = label.chars().take(max).collect();
    loop {
        let fixed = label.chars().count() + tail.iter().map(|t| t.chars().count() + 2).sum::<usize>();
        // " [" + "]" around at least 10 cells of bar.
        if fixed + 3 + 10 <= max {
            let cells = (max - fixed - 3).min(50);
            let full = (u128::from(done) * cells as u128)
                .checked_div(u128::from(total))
                .map_or(cells, |f| f as usize);
            let mut bar = "=".repeat(full);
            if full < cells {
                bar.push('>');
                bar.push_str(&" ".repeat(cells - full - 1));
            }
            return format!("{label} [{bar}]  {}", tail.join("  "));
        }
        if fixed <= max || tail.is_empty() {
            let line = format!("{label}  {}", tail.join("  "));
            return line.trim_end().chars().take(max).collect();
        }
        tail.pop();
    }
}

/// Bytes in binary units with one decimal (`12.5 MiB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Seconds as `42s`, `3m05s` or `1h02m`.
fn clock(secs: f64) -> String {
    let s = secs.ceil() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn render_fits_the_width_and_says_everything() {
        let line = render("report big.lpmt", 12 * MIB, 48 * MIB, Duration::from_secs(2), 100);
        assert_eq!(
            line,
            "report big.lpmt [=========>                           ]   25%  12.0 MiB/48.0 MiB  6.0 MiB/s  ETA 6s"
        );
        // 37 cells (99 columns less the 62 of text), a quarter of them full.
        assert_eq!(line.chars().count(), 99);
        for width in [0, 1, 5, 20, 40, 60, 80, 200] {
            let l = render("report big.lpmt", 12 * MIB, 48 * MIB, Duration::from_secs(2), width);
            assert!(l.chars().count() < width.max(1), "{width}: {l:?}");
        }
    }

    #[test]
    fn render_edges() {
        // Done: a full bar, no ETA to speak of.
        let l = render("dump", 10 * MIB, 10 * MIB, Duration::from_secs(5), 80);
        assert!(l.contains("[====") && l.contains("=]") && l.contains("100%"), "{l}");
        assert!(l.contains("ETA 0s"), "{l}");
        // Nothing yet and no time: no rate, no ETA, no division by zero.
        let l = render("dump", 0, 10 * MIB, Duration::ZERO, 80);
        assert!(l.contains("  0%") && !l.contains("ETA") && l.contains("[>"), "{l}");
        // An empty file is complete.
        assert!(render("x", 0, 0, Duration::ZERO, 80).contains("100%"));
        // Past the end (a file that grew) is clamped.
        assert!(render("x", 20, 10, Duration::from_secs(1), 80).contains("100%"));
        // Narrow: the tail loses parts from the right before the bar goes.
        let l = render("report", 12 * MIB, 48 * MIB, Duration::from_secs(2), 30);
        assert_eq!(l, "report [===>          ]   25%");
        let l = render("report", 12 * MIB, 48 * MIB, Duration::from_secs(2), 20);
        assert_eq!(l, "report   25%");
        assert_eq!(clock(3725.0), "1h02m");
        assert_eq!(clock(185.2), "3m06s");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn off_never_writes() {
        let mut p = Progress::off();
        p.advance(u64::MAX);
        p.set(5);
        p.finish();
        assert!(!p.is_on());
        // And the real constructor, with stderr not a terminal (as under
        // `cargo test`, whose stderr is captured): off.
        if !std::io::stderr().is_terminal() {
            assert!(!Progress::for_file("x", 1 << 40).is_on());
        }
    }

    #[test]
    fn small_quick_runs_stay_silent_and_slow_ones_show() {
        let out = Shared::default();
        let t0 = Instant::now();
        let mut p = Progress::to_writer("report", MIB, Box::new(out.clone()), 80, t0);
        p.set_at(MIB / 2, t0 + Duration::from_millis(900));
        assert_eq!(out.text(), "", "a small file under a second draws nothing");
        p.set_at(MIB / 2, t0 + Duration::from_millis(1100));
        assert!(out.text().starts_with("\rreport [") && out.text().ends_with("\x1b[K"));
        p.finish();
        assert!(out.text().ends_with("\r\x1b[K"), "finish clears the line");
    }

    #[test]
    fn big_files_show_at_once_and_redraws_are_rate_limited() {
        let out = Shared::default();
        let t0 = Instant::now();
        let mut p = Progress::to_writer("dump", 64 * MIB, Box::new(out.clone()), 80, t0);
        // 1000 updates within 1 s: at most one per 100 ms.
        for i in 0..1000u64 {
            p.set_at(i * 64 * MIB / 1000, t0 + Duration::from_millis(i));
        }
        let draws = out.text().matches('\r').count();
        assert!((10..=11).contains(&draws), "{draws} redraws");
        drop(p);
        assert!(out.text().ends_with("\r\x1b[K"), "drop clears the line");
    }

    #[test]
    fn a_bar_never_drawn_leaves_nothing_at_finish() {
        let out = Shared::default();
        let t0 = Instant::now();
        let mut p = Progress::to_writer("report", MIB, Box::new(out.clone()), 80, t0);
        p.advance(MIB);
        p.finish();
        assert_eq!(out.text(), "");
    }
}
