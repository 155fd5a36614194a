//! The loop: input, data, drawing — and the effects the app asks for.
//!
//! Each turn waits for input at most until the next frame is due, maps a
//! key to an action, lets the app apply it and performs the returned
//! effect (quit, seek); then the [`Driver`] moves data into the model for
//! at most [`PUMP_BUDGET`]; then a frame is drawn if [`FRAME`] has passed
//! or input changed something. When the driver reports a backlog, frames
//! are skipped (up to [`MAX_FRAME_GAP`]) so the time goes to the events:
//! under a flood the screen drops frames, never events, and keys are still
//! answered within about one budget.

use std::time::{Duration, Instant};

use crossterm::event::Event as TermEvent;
use ratatui::backend::Backend;
use ratatui::Terminal;

use super::app::{App, Effect};
use super::input::map_key;
use super::view::{self, Styles};

/// Normal time between frames (at most ~10 redraws per second).
pub const FRAME: Duration = Duration::from_millis(100);
/// Longest the driver may take in one turn.
pub const PUMP_BUDGET: Duration = Duration::from_millis(40);
/// Longest time without a frame while catching up with a backlog.
pub const MAX_FRAME_GAP: Duration = Duration::from_millis(500);
/// Longest wait for input in one turn.
const MAX_INPUT_WAIT: Duration = Duration::from_millis(50);

/// What one [`Driver::pump`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pumped {
    /// Events taken in.
    pub events: u64,
    /// More data is waiting (the budget ran out).
    pub backlog: bool,
}

/// Where the data comes from: a recording played on a clock, or a live
/// capture's channel.
pub trait Driver {
    /// Moves data into `app` until there is none or `deadline` passes.
    fn pump(&mut self, app: &mut App, deadline: Instant) -> anyhow::Result<Pumped>;
    /// Shows the data as of `ts_ns` (replay); live ignores it.
    fn seek(&mut self, app: &mut App, ts_ns: u64) -> anyhow::Result<()>;
}

/// Where input comes from: crossterm in real use, a script in tests.
pub trait Input {
    /// The next terminal event, waiting at most `timeout`.
    fn next(&mut self, timeout: Duration) -> anyhow::Result<Option<TermEvent>>;
}

/// Input from the real terminal.
#[derive(Debug, Default)]
pub struct CrosstermInput;

impl Input for CrosstermInput {
    fn next(&mut self, timeout: Duration) -> anyhow::Result<Option<TermEvent>> {
        if crossterm::event::poll(timeout)? {
            Ok(Some(crossterm::event::read()?))
        } else {
            Ok(None)
        }
    }
}

/// Runs until the user quits (or the input ends: `Ok(None)` forever is a
/// quiet terminal, an error ends the loop).
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    driver: &mut dyn Driver,
    input: &mut dyn Input,
    styles: &Styles,
) -> anyhow::Result<()> {
    let mut last_draw: Option<Instant> = None;
    let mut backlog = false;
    let mut rate_since = Instant::now();
    let mut rate_events = 0u64;
    loop {
        // SIGTERM, SIGHUP: leave like `q`, so the guard restores the terminal.
        if let Some(sig) = super::terminal::quit_signal() {
            return Err(sig.into());
        }
        let since_draw = last_draw.map_or(FRAME, |t| t.elapsed());
        let wait = if backlog {
            Duration::ZERO
        } else {
            FRAME.saturating_sub(since_draw).min(MAX_INPUT_WAIT)
        };
        let mut dirty = false;
        let mut next = input.next(wait)?;
        while let Some(ev) = next {
            match ev {
                TermEvent::Key(key) => {
                    if let Some(action) = map_key(key, app.input_mode()) {
                        match app.apply(action) {
                            Effect::Quit => return Ok(()),
                            Effect::Seek(ts) => driver.seek(app, ts)?,
                            Effect::None => {}
                        }
                        dirty = true;
                    }
                }
                TermEvent::Resize(..) => dirty = true,
                _ => {}
            }
            next = input.next(Duration::ZERO)?;
        }
        // A key is answered before the data turn, so a busy driver does
        // not delay it.
        if dirty {
            app.refresh();
            terminal.draw(|f| view::draw(f, app, styles))?;
            last_draw = Some(Instant::now());
        }
        let pumped = driver.pump(app, Instant::now() + PUMP_BUDGET)?;
        backlog = pumped.backlog;
        rate_events += pumped.events;
        let elapsed = rate_since.elapsed();
        if elapsed >= Duration::from_secs(1) {
            app.rate = rate_events as f64 / elapsed.as_secs_f64();
            rate_events = 0;
            rate_since = Instant::now();
        }
        let since_draw = last_draw.map_or(MAX_FRAME_GAP, |t| t.elapsed());
        let due = if backlog {
            since_draw >= MAX_FRAME_GAP
        } else {
            since_draw >= FRAME
        };
        if due {
            app.refresh();
            terminal.draw(|f| view::draw(f, app, styles))?;
            last_draw = Some(Instant::now());
        }
    }
}
