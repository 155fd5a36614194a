//! The Event log pane: the newest events (the `dump` text lines), following
//! the tail unless scrolled or paused, filtered by the `/` filter. The
//! selected (anchored) event is highlighted.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{is_focused, pane, Styles};
use crate::tui::app::{App, Focus};
use crate::tui::log::line_text;
use crate::views::escape::escape_line;

/// Renders the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let rows = area.height.saturating_sub(2) as usize;
    let log = &app.model.log;
    let window = log.window(&app.filter, &app.session, app.log_anchor, rows);
    let mut title = vec![Span::raw(" Event log ")];
    match app.log_anchor {
        None => title.push(Span::styled("(following) ", styles.dim)),
        Some(pos) => title.push(Span::styled(format!("(at #{pos}, G follows) "), styles.warn)),
    }
    if !app.filter.is_empty() {
        title.push(Span::styled(format!("/{} ", app.filter.source()), styles.key));
    }
    let block = pane(Line::from(title), is_focused(app, Focus::Events), styles);
    let mut lines: Vec<Line> = window
        .iter()
        .map(|e| {
            let text = format!(
                "#{} {}",
                e.pos,
                escape_line(&compact(&line_text(&e.event, &app.session, app.time_base())))
            );
            if app.log_anchor == Some(e.pos) {
                Line::styled(text, styles.selected)
            } else if matches!(e.event.kind, crate::events::EventKind::Lost { .. }) {
                Line::styled(text, styles.bad)
            } else {
                Line::raw(text)
            }
        })
        .collect();
    if lines.is_empty() {
        let msg = if log.is_empty() {
            "no events yet"
        } else {
            "no event matches the filter (/ to change it)"
        };
        lines.push(Line::styled(msg, styles.dim));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The event line with runs of spaces (column padding) folded, so narrow
/// terminals show the fields rather than the alignment.
pub fn compact(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut space = false;
    for c in line.trim_start().chars() {
        if c == ' ' {
            if !space {
                out.push(c);
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_folds_padding() {
        assert_eq!(
            super::compact("   1.5 cpu0   ipi.send    event x=1"),
            "1.5 cpu0 ipi.send event x=1"
        );
    }
}
