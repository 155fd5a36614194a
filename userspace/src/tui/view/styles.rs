//! The styles every renderer takes: colours, or plain text attributes when
//! `NO_COLOR` is set (<https://no-color.org>): then only bold, reverse and
//! underline mark things, and every coloured marker also has a glyph or a
//! word so nothing is carried by colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::analysis::{Outcome, Severity};

/// Styles for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Styles {
    /// Colours are on.
    pub color: bool,
    /// Pane borders.
    pub border: Style,
    /// Border of the focused pane.
    pub focused: Style,
    /// Pane titles.
    pub title: Style,
    /// Secondary text.
    pub dim: Style,
    /// Selected row.
    pub selected: Style,
    /// Something bad (lost events, failures).
    pub bad: Style,
    /// Something good (completed, online).
    pub good: Style,
    /// Needs attention.
    pub warn: Style,
    /// The running phase.
    pub current: Style,
    /// Keys in help and footer.
    pub key: Style,
}

impl Styles {
    /// Colours on or off.
    pub fn new(color: bool) -> Self {
        let c = |style: Style, fg: Color| if color { style.fg(fg) } else { style };
        Styles {
            color,
            border: c(Style::default(), Color::DarkGray),
            focused: c(Style::default().add_modifier(Modifier::BOLD), Color::Cyan),
            title: Style::default().add_modifier(Modifier::BOLD),
            dim: if color {
                Style::default().fg(Color::DarkGray)
            } else {
                Style::default()
            },
            selected: Style::default().add_modifier(Modifier::REVERSED),
            bad: c(Style::default().add_modifier(Modifier::BOLD), Color::Red),
            good: c(Style::default(), Color::Green),
            warn: c(Style::default().add_modifier(Modifier::BOLD), Color::Yellow),
            current: c(
                Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                Color::Cyan,
            ),
            key: c(Style::default().add_modifier(Modifier::BOLD), Color::Cyan),
        }
    }

    /// Colours unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Styles::new(!no_color)
    }

    /// Style of a severity.
    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.bad,
            Severity::Warning => self.warn,
            Severity::Info => {
                if self.color {
                    Style::default().fg(Color::Blue)
                } else {
                    Style::default()
                }
            }
        }
    }

    /// Style of a migration outcome.
    pub fn outcome(&self, o: Outcome) -> Style {
        match o {
            Outcome::Completed => self.good,
            Outcome::Cancelled | Outcome::Failed => self.warn,
            Outcome::CancelRejected | Outcome::Unterminated => self.bad,
            Outcome::InProgress => self.current,
        }
    }
}

/// Short upper-case label of a severity (readable without colour).
pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::Warning => "WARN",
        Severity::Info => "INFO",
    }
}
