//! Rendering: one module per pane or overlay, each exposing
//! `render(frame, area, &App, &Styles)`. Renderers read the state and never
//! change it; [`draw`] lays the screen out:
//!
//! ```text
//! header (2 lines): host, kernel, LIVE/REPLAY, events/s, lost, coverage
//! ┌Migrations────────────┐┌Findings──────────┐
//! └──────────────────────┘└──────────────────┘
//! ┌CPU lanes─────────────────────────────────┐
//! └──────────────────────────────────────────┘
//! ┌Event log─────────────────────────────────┐
//! └──────────────────────────────────────────┘
//! footer (1 line): keys, the filter being typed, or a message
//! ```
//!
//! The layout works from 80×24 up; overlays (help, finding detail,
//! coverage) are drawn last, centred.

pub mod cpus;
pub mod detail;
pub mod events;
pub mod findings;
pub mod header;
pub mod help;
pub mod migrations;
pub mod styles;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use ratatui::Frame;

use super::app::{App, Focus, Overlay};
pub use styles::Styles;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, styles: &Styles) {
    let [head, body, foot] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(6), Constraint::Length(1)]).areas(frame.area());
    header::render(frame, head, app, styles);
    let [top, lanes, log] = Layout::vertical([
        Constraint::Percentage(38),
        Constraint::Percentage(27),
        Constraint::Percentage(35),
    ])
    .areas(body);
    let [mig, find] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(top);
    migrations::render(frame, mig, app, styles);
    findings::render(frame, find, app, styles);
    cpus::render(frame, lanes, app, styles);
    events::render(frame, log, app, styles);
    render_footer(frame, foot, app, styles);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(frame, overlay_area(frame.area(), 90, 90), app, styles),
        Overlay::Finding { .. } => detail::render(frame, overlay_area(frame.area(), 94, 90), app, styles),
        Overlay::Coverage => detail::render_coverage(frame, overlay_area(frame.area(), 90, 80), app, styles),
        Overlay::Migration { .. } => detail::render_migration(frame, overlay_area(frame.area(), 94, 90), app, styles),
    }
    scrub_controls(frame.buffer_mut());
}

/// The last guard between a recording and the terminal: ratatui copies a
/// span's characters into cells as they are, so a control character that
/// reached a cell through a path the panes did not escape would be sent to
/// the terminal raw. One riding along with other text is dropped; one
/// alone in a cell is shown as its control picture (␛ for ESC).
pub fn scrub_controls(buf: &mut ratatui::buffer::Buffer) {
    let bad = |c: char| c.is_control() || c == '\u{7f}';
    for cell in buf.content.iter_mut() {
        if !cell.symbol().chars().any(bad) {
            continue;
        }
        let kept: String = cell.symbol().chars().filter(|&c| !bad(c)).collect();
        let shown = if kept.is_empty() {
            let c = cell.symbol().chars().next().unwrap_or(' ');
            match u32::from(c) {
                code @ 0..=0x1f => char::from_u32(0x2400 + code).unwrap_or('?').to_string(),
                0x7f => "\u{2421}".to_string(),
                _ => "\u{fffd}".to_string(),
            }
        } else {
            kept
        };
        cell.set_symbol(&shown);
    }
}

/// The bordered block of a pane, highlighted when focused.
pub fn pane<'a>(title: impl Into<Line<'a>>, focused: bool, styles: &Styles) -> Block<'a> {
    let block = Block::default().borders(Borders::ALL).title(title.into());
    if focused {
        block.border_type(BorderType::Thick).border_style(styles.focused)
    } else {
        block.border_style(styles.border)
    }
}

/// Whether `focus` is the focused pane and no overlay hides it.
pub fn is_focused(app: &App, focus: Focus) -> bool {
    app.focus == focus && app.overlay == Overlay::None
}

/// A centred rectangle of `pct_w`×`pct_h` percent of `area`.
pub fn overlay_area(area: Rect, pct_w: u16, pct_h: u16) -> Rect {
    let w = (area.width as u32 * pct_w as u32 / 100) as u16;
    let h = (area.height as u32 * pct_h as u32 / 100) as u16;
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Time relative to the start of the session, `+1.234s`.
pub fn rel(app: &App, ts_ns: u64) -> String {
    let start = app.time_base();
    if ts_ns >= start {
        format!("+{}", crate::record::format_duration(ts_ns - start))
    } else {
        format!("-{}", crate::record::format_duration(start - ts_ns))
    }
}

fn render_footer(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let line = if let Some(text) = &app.filter_edit {
        Line::from(vec![
            Span::styled("filter /", styles.key),
            Span::raw(text.clone()),
            Span::styled("█", styles.dim),
            Span::styled("  Enter apply · Esc cancel · e.g. cpu3 ipi join", styles.dim),
        ])
    } else if let Some(msg) = &app.status {
        Line::from(Span::styled(msg.clone(), styles.warn))
    } else {
        let mut spans = Vec::new();
        let keys: &[(&str, &str)] = if app.is_live() {
            &[
                ("q", "quit"),
                ("space", "pause"),
                ("n/N", "finding"),
                ("Tab", "focus"),
                ("/", "filter"),
                ("p", "probes"),
                ("?", "help"),
            ]
        } else {
            &[
                ("q", "quit"),
                ("space", "pause"),
                ("←→", "seek"),
                ("+-", "speed"),
                ("n/N", "finding"),
                ("Tab", "focus"),
                ("/", "filter"),
                ("?", "help"),
            ]
        };
        for (k, what) in keys {
            spans.push(Span::styled(*k, styles.key));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}
