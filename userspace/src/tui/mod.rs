//! The interactive screen of `lpmtrace live` and `lpmtrace replay FILE`.
//!
//! - [`app`]: the state (focus, overlays, replay clock, selection, filter)
//!   and its intent-named transitions; no I/O, no views.
//! - [`input`]: keys to [`input::Action`]s, pure.
//! - [`model`], [`log`], [`lanes`]: the data behind the panes, fed event by
//!   event (analysis engine, bounded event log, aggregated CPU lanes).
//! - [`view`]: one renderer per pane, reading the state only.
//! - [`run`]: the loop (input → action → effect; data; frames).
//! - [`replay`], [`live`]: where events come from.
//! - [`terminal`]: raw mode / alternate screen, restored on drop and on
//!   panic.
//!
//! docs/tui.md describes the screen and every key.

pub mod app;
pub mod input;
pub mod lanes;
pub mod live;
pub mod log;
pub mod model;
pub mod replay;
pub mod run;
pub mod terminal;
pub mod view;

use std::sync::mpsc::Receiver;

use crate::analysis::Thresholds;
use crate::events::session::SessionInfo;

use app::App;
use run::{CrosstermInput, Driver};
use terminal::TerminalGuard;
use view::Styles;

/// Runs the screen on the real terminal until the user quits; the
/// terminal is restored whatever happens.
pub fn run_on_terminal(app: &mut App, driver: &mut dyn Driver) -> anyhow::Result<()> {
    let styles = Styles::from_env();
    let mut guard = TerminalGuard::enter()?;
    run::run(&mut guard.terminal, app, driver, &mut CrosstermInput, &styles)
}

/// The live screen over the events arriving on `rx` (see [`live`]).
pub fn run_live_ui(session: SessionInfo, rx: Receiver<live::Feed>) -> anyhow::Result<()> {
    let mut app = App::live(session, Thresholds::default());
    let mut driver = live::LiveDriver::new(rx);
    run_on_terminal(&mut app, &mut driver)
}
