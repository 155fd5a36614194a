//! Keys to [`Action`]s: a pure mapping from a key press and the current
//! [`InputMode`] to what the user asked for. The app carries the action
//! out ([`crate::tui::app::App::apply`]); nothing here touches state.
//!
//! [`KEYS`] is the one list of bindings: the help overlay and docs/tui.md
//! show it, and a test checks that every listed key maps to an action.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the program.
    Quit,
    /// Esc on the main screen: clear an applied filter, or else quit.
    Back,
    /// Close the overlay (help, detail, coverage).
    Close,
    /// Pause or resume (replay: the clock; live: the display).
    TogglePause,
    /// Move the replay position by this many seconds.
    Seek(i64),
    /// Next faster replay speed.
    Faster,
    /// Next slower replay speed.
    Slower,
    /// Go to the start (replay) or the top of the focused pane (live).
    Start,
    /// Go to the end (replay) or follow the tail (live).
    End,
    /// Next finding in time (replay: moves the position there).
    NextFinding,
    /// Previous finding in time.
    PrevFinding,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Scroll or select up (older in the event log).
    Up,
    /// Scroll or select down (newer in the event log).
    Down,
    /// Ten rows up.
    PageUp,
    /// Ten rows down.
    PageDown,
    /// Open the details of the selection, or jump to the selected evidence.
    Enter,
    /// Show or hide the key help.
    Help,
    /// Start editing the event-log filter.
    Filter,
    /// A character typed into the filter.
    FilterChar(char),
    /// Delete the last filter character.
    FilterBackspace,
    /// Apply the edited filter.
    FilterApply,
    /// Stop editing, keep the previous filter.
    FilterCancel,
    /// Show the probe coverage (attached and missing probes).
    Coverage,
    /// Toggle one row per CPU / CPUs grouped to fit the pane.
    Compress,
}

/// Which keys are active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// The main screen.
    Normal,
    /// An overlay (help, finding detail, coverage) is open.
    Overlay,
    /// Typing the event-log filter.
    FilterEdit,
}

/// Every binding as (keys, meaning), in the order the help shows them.
pub const KEYS: &[(&str, &str)] = &[
    (
        "q, Esc",
        "quit (Esc first closes an overlay, the filter editor, then clears the filter)",
    ),
    ("Ctrl-C", "quit from anywhere"),
    (
        "space",
        "pause / resume (live: freeze the display, events keep being analysed)",
    ),
    ("← →", "replay: seek 1 s back / forward"),
    ("Shift-← Shift-→", "replay: seek 10 s back / forward"),
    ("+ -", "replay: faster / slower"),
    ("g G", "replay: go to start / end; live: top / follow the tail"),
    ("n N", "next / previous finding (replay: moves the position there)"),
    ("Tab Shift-Tab", "focus the next / previous pane"),
    ("↑ ↓, k j", "scroll, or move the selection, in the focused pane"),
    ("PgUp PgDn", "ten rows up / down"),
    (
        "Enter",
        "open the selected migration or finding; in a migration: open its finding; in a finding: jump to the evidence event",
    ),
    (
        "/",
        "filter the event log: cpu3, a probe (ipi.send) or family (ipi), text",
    ),
    ("p", "probe coverage: attached and missing probes with the reasons"),
    ("c", "CPU lanes: one row per CPU / group CPUs to fit"),
    ("?", "this help"),
];

/// Maps one key event; `None` for keys without a meaning in `mode`.
pub fn map_key(key: KeyEvent, mode: InputMode) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    if mode == InputMode::FilterEdit {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterApply),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let action = match key.code {
        KeyCode::Esc if mode == InputMode::Overlay => Action::Close,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') if mode == InputMode::Overlay => Action::Close,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Left => Action::Seek(if shift { -10 } else { -1 }),
        KeyCode::Right => Action::Seek(if shift { 10 } else { 1 }),
        KeyCode::Char('+' | '=') => Action::Faster,
        KeyCode::Char('-' | '_') => Action::Slower,
        KeyCode::Char('g') | KeyCode::Home => Action::Start,
        KeyCode::Char('G') | KeyCode::End => Action::End,
        KeyCode::Char('n') => Action::NextFinding,
        KeyCode::Char('N') => Action::PrevFinding,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::BackTab => Action::FocusPrev,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Enter => Action::Enter,
        KeyCode::Char('/') if mode == InputMode::Normal => Action::Filter,
        KeyCode::Char('p') => Action::Coverage,
        KeyCode::Char('c') => Action::Compress,
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn shifted(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::SHIFT)
    }

    #[test]
    fn normal_keys_map_to_actions() {
        let n = InputMode::Normal;
        assert_eq!(map_key(key(KeyCode::Char('q')), n), Some(Action::Quit));
        assert_eq!(map_key(key(KeyCode::Esc), n), Some(Action::Back));
        assert_eq!(map_key(key(KeyCode::Char(' ')), n), Some(Action::TogglePause));
        assert_eq!(map_key(key(KeyCode::Left), n), Some(Action::Seek(-1)));
        assert_eq!(map_key(key(KeyCode::Right), n), Some(Action::Seek(1)));
        assert_eq!(map_key(shifted(KeyCode::Left), n), Some(Action::Seek(-10)));
        assert_eq!(map_key(shifted(KeyCode::Right), n), Some(Action::Seek(10)));
        assert_eq!(map_key(key(KeyCode::Char('+')), n), Some(Action::Faster));
        assert_eq!(map_key(key(KeyCode::Char('-')), n), Some(Action::Slower));
        assert_eq!(map_key(key(KeyCode::Char('g')), n), Some(Action::Start));
        assert_eq!(map_key(shifted(KeyCode::Char('G')), n), Some(Action::End));
        assert_eq!(map_key(key(KeyCode::Char('n')), n), Some(Action::NextFinding));
        assert_eq!(map_key(shifted(KeyCode::Char('N')), n), Some(Action::PrevFinding));
        assert_eq!(map_key(key(KeyCode::Tab), n), Some(Action::FocusNext));
        assert_eq!(map_key(shifted(KeyCode::BackTab), n), Some(Action::FocusPrev));
        assert_eq!(map_key(key(KeyCode::Char('k')), n), Some(Action::Up));
        assert_eq!(map_key(key(KeyCode::Down), n), Some(Action::Down));
        assert_eq!(map_key(key(KeyCode::Enter), n), Some(Action::Enter));
        assert_eq!(map_key(key(KeyCode::Char('?')), n), Some(Action::Help));
        assert_eq!(map_key(key(KeyCode::Char('/')), n), Some(Action::Filter));
        assert_eq!(map_key(key(KeyCode::Char('p')), n), Some(Action::Coverage));
        assert_eq!(map_key(key(KeyCode::Char('x')), n), None);
    }

    #[test]
    fn overlays_close_on_esc_and_help_key() {
        let o = InputMode::Overlay;
        assert_eq!(map_key(key(KeyCode::Esc), o), Some(Action::Close));
        assert_eq!(map_key(key(KeyCode::Char('?')), o), Some(Action::Close));
        assert_eq!(map_key(key(KeyCode::Char('q')), o), Some(Action::Quit));
        assert_eq!(map_key(key(KeyCode::Char('/')), o), None);
    }

    #[test]
    fn filter_editing_takes_every_character() {
        let f = InputMode::FilterEdit;
        assert_eq!(map_key(key(KeyCode::Char('q')), f), Some(Action::FilterChar('q')));
        assert_eq!(map_key(key(KeyCode::Char(' ')), f), Some(Action::FilterChar(' ')));
        assert_eq!(map_key(key(KeyCode::Enter), f), Some(Action::FilterApply));
        assert_eq!(map_key(key(KeyCode::Esc), f), Some(Action::FilterCancel));
        assert_eq!(map_key(key(KeyCode::Backspace), f), Some(Action::FilterBackspace));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map_key(ctrl_c, f), Some(Action::Quit));
    }

    #[test]
    fn releases_are_ignored() {
        let mut k = key(KeyCode::Char('q'));
        k.kind = KeyEventKind::Release;
        assert_eq!(map_key(k, InputMode::Normal), None);
    }

    #[test]
    fn every_documented_key_is_bound() {
        // One representative key per KEYS row; a row without a binding
        // would be help text lying to the user.
        let samples = [
            key(KeyCode::Char('q')),
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            key(KeyCode::Char(' ')),
            key(KeyCode::Left),
            shifted(KeyCode::Right),
            key(KeyCode::Char('+')),
            key(KeyCode::Char('G')),
            key(KeyCode::Char('N')),
            key(KeyCode::BackTab),
            key(KeyCode::Char('j')),
            key(KeyCode::PageDown),
            key(KeyCode::Enter),
            key(KeyCode::Char('/')),
            key(KeyCode::Char('p')),
            key(KeyCode::Char('c')),
            key(KeyCode::Char('?')),
        ];
        assert_eq!(samples.len(), KEYS.len());
        for (k, (keys, _)) in samples.iter().zip(KEYS) {
            assert!(map_key(*k, InputMode::Normal).is_some(), "{keys} is not bound");
        }
    }
}
