//! The CPU lanes pane: one row per CPU (or per group of CPUs with `c`)
//! over the last seconds, one column per [`BUCKET_NS`], ending at the
//! current time, plus IPIs sent (`s`) and handled (`h`) in the window.
//!
//! Glyphs carry the meaning without colour: `─` online, `•` online with
//! IPI traffic, `↓` going down, `░` offline, `↑` coming up, `J` in the join.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{is_focused, pane, Styles};
use crate::tui::app::{App, Focus};
use crate::tui::lanes::{Cell, LaneState, BUCKET_NS};

/// The legend line.
pub const LEGEND: &str = "─ online  • IPIs  ↓ going down  ░ offline  ↑ coming up  J join";

/// Glyph and style of a cell.
pub fn glyph(cell: &Cell, styles: &Styles) -> (char, Style) {
    if cell.join {
        return ('J', styles.current);
    }
    match cell.state {
        LaneState::Unknown => (' ', Style::default()),
        LaneState::Online if cell.sent + cell.handled > 0 => ('•', styles.good),
        LaneState::Online => ('─', styles.dim),
        LaneState::Offline => ('░', styles.bad),
        LaneState::ComingUp => ('↑', styles.warn),
        LaneState::GoingDown => ('↓', styles.warn),
    }
}

/// Renders the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let lanes = &app.model.lanes;
    let cpus = lanes.cpu_count();
    let inner_h = area.height.saturating_sub(2) as usize;
    let inner_w = area.width.saturating_sub(2) as usize;
    let legend = inner_h >= 3;
    let rows = inner_h.saturating_sub(usize::from(legend)).max(1);
    let group = if app.compress { cpus.div_ceil(rows).max(1) } else { 1 };
    let row_count = cpus.div_ceil(group);
    let first = if app.compress {
        0
    } else {
        app.cpu_scroll.min(row_count.saturating_sub(rows))
    };
    let label_w = if group > 1 {
        format!("cpu{}-{} ", cpus - 1, cpus - 1).len()
    } else {
        format!("cpu{} ", cpus - 1).len()
    };
    let stats_w = if inner_w >= 40 { 14 } else { 0 };
    let cols = inner_w.saturating_sub(label_w + stats_w).clamp(1, lanes.history());
    let now = app.view_now_ns;

    let mut lines = Vec::with_capacity(rows + 1);
    for r in first..(first + rows).min(row_count) {
        let lo = r * group;
        let hi = (lo + group).min(cpus);
        let mut cells = lanes.row(lo, now, cols);
        for cpu in lo + 1..hi {
            for (c, other) in cells.iter_mut().zip(lanes.row(cpu, now, cols)) {
                c.merge(other);
            }
        }
        let label = if hi - lo > 1 {
            format!("cpu{lo}-{}", hi - 1)
        } else {
            format!("cpu{lo}")
        };
        let mut spans = vec![Span::styled(format!("{label:<label_w$}"), styles.dim)];
        // Runs of equal glyphs share one span.
        let mut run = String::new();
        let mut run_style = Style::default();
        for cell in &cells {
            let (g, st) = glyph(cell, styles);
            if st != run_style && !run.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut run), run_style));
            }
            run_style = st;
            run.push(g);
        }
        if !run.is_empty() {
            spans.push(Span::styled(run, run_style));
        }
        if stats_w > 0 {
            let sent: u64 = cells.iter().map(|c| u64::from(c.sent)).sum();
            let handled: u64 = cells.iter().map(|c| u64::from(c.handled)).sum();
            spans.push(Span::styled(format!(" s{sent:<5} h{handled:<5}"), styles.dim));
        }
        lines.push(Line::from(spans));
    }
    if legend {
        lines.push(Line::styled(LEGEND, styles.dim));
    }
    let span_s = cols as f64 * BUCKET_NS as f64 / 1e9;
    let hidden = if row_count > rows && !app.compress {
        format!(
            ", rows {}-{} of {}",
            first + 1,
            (first + rows).min(row_count),
            row_count
        )
    } else {
        String::new()
    };
    let grouping = if group > 1 {
        format!(", {group} CPUs/row")
    } else {
        String::new()
    };
    let title = format!(
        " CPU lanes (last {span_s:.1}s, {}ms/col{grouping}{hidden}) ",
        BUCKET_NS / 1_000_000
    );
    let block = pane(title, is_focused(app, Focus::Cpus), styles);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
