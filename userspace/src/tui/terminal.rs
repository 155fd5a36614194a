//! The real terminal: raw mode and the alternate screen while the TUI runs,
//! restored by a guard's `Drop` AND by a panic hook (a panic on any thread
//! must not leave the user's shell in raw mode), plus the check that
//! stdout is a terminal at all.

use std::io::{self, IsTerminal, Stdout};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Fails with advice when stdout is not a terminal (a pipe, a file, cron).
pub fn require_terminal(command: &str) -> anyhow::Result<()> {
    if io::stdout().is_terminal() {
        return Ok(());
    }
    anyhow::bail!(
        "`lpmtrace {command}` draws an interactive screen and stdout is not a terminal; \
         for text use `lpmtrace report FILE` (analysis), `lpmtrace dump FILE` (events) \
         or `lpmtrace live --plain` (live events as lines)"
    )
}

/// Puts the terminal back: raw mode off, main screen, cursor shown.
/// Harmless when the terminal is already restored.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The terminal in TUI mode; restores it when dropped.
pub struct TerminalGuard {
    /// The ratatui terminal to draw on.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl std::fmt::Debug for TerminalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalGuard").finish_non_exhaustive()
    }
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen (installing the panic hook
    /// first, so even a failure half-way is undone).
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let setup = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match setup {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
