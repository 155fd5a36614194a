//! The real terminal: raw mode and the alternate screen while the TUI runs,
//! restored by a guard's `Drop` AND by a panic hook (a panic on any thread
//! must not leave the user's shell in raw mode), plus the check that
//! stdout is a terminal at all.
//!
//! Signals that end the program (SIGTERM, SIGHUP, SIGINT, SIGQUIT) are
//! caught while the screen is up: the handler only sets a flag, the loop
//! sees it within one turn and returns, and the guard restores the
//! terminal on the way out, as for `q`. The command then ends with
//! [`Signalled`] (exit status 128 + the signal's number, as a shell
//! reports a program killed by it).

use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};

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

/// The screen was ended by a signal (the terminal is restored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signalled(pub i32);

impl Signalled {
    /// The exit status a shell shows for a program killed by the signal.
    pub fn exit_status(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(u8::MAX)
    }
}

impl std::fmt::Display for Signalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            signal_hook::consts::SIGTERM => "SIGTERM",
            signal_hook::consts::SIGHUP => "SIGHUP",
            signal_hook::consts::SIGINT => "SIGINT",
            signal_hook::consts::SIGQUIT => "SIGQUIT",
            _ => "a signal",
        };
        write!(f, "stopped by {name} (terminal restored)")
    }
}

impl std::error::Error for Signalled {}

/// The signal number that asked the screen to end, 0 for none.
fn quit_flag() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// The signal that asked the screen to end, once one has.
pub fn quit_signal() -> Option<Signalled> {
    match quit_flag().load(Ordering::Relaxed) {
        0 => None,
        n => Some(Signalled(n as i32)),
    }
}

fn install_signal_flags() -> io::Result<()> {
    static ONCE: OnceLock<io::Result<()>> = OnceLock::new();
    let done = ONCE.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        for sig in [SIGTERM, SIGHUP, SIGINT, SIGQUIT] {
            signal_hook::flag::register_usize(sig, Arc::clone(quit_flag()), sig as usize)?;
        }
        Ok(())
    });
    match done {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("cannot catch SIGTERM/SIGHUP: {e}"))),
    }
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
        install_signal_flags()?;
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
