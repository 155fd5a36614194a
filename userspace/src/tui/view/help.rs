//! The `?` overlay: every key from [`KEYS`], and what live and replay mean.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{pane, Styles};
use crate::tui::app::App;
use crate::tui::input::KEYS;

/// Renders the overlay.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let width = KEYS.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 2;
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!("{k:<width$}"), styles.key), Span::raw(*what)]))
        .collect();
    lines.push(Line::raw(""));
    let mode = if app.is_live() {
        "LIVE: events come from the kernel now; pausing freezes the display while the analysis keeps up."
    } else {
        "REPLAY: the recording plays at the chosen speed; findings are those `lpmtrace report` prints, shown as the position passes them."
    };
    lines.push(Line::styled(mode, styles.dim));
    lines.push(Line::styled(
        "CPU lanes: ─ online  • IPIs  ↓ going down  ░ offline  ↑ coming up  J in the join",
        styles.dim,
    ));
    lines.push(Line::styled(
        "Findings: CRIT / WARN / INFO, ? = inconclusive (events lost or a probe missing)",
        styles.dim,
    ));
    frame.render_widget(Clear, area);
    let block = pane(" Keys (? or Esc closes) ", true, styles);
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}
