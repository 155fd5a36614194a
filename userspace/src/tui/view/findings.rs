//! The Findings pane: most severe first, newest first within a severity,
//! one line each — severity (coloured and as a word), kind, time,
//! migration, summary — with `?` marking an inconclusive finding; identical
//! findings are one line with their count (`×11`). Enter opens the
//! selected one.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use super::styles::severity_label;
use super::{is_focused, pane, rel, Styles};
use crate::analysis::Finding;
use crate::tui::app::{App, Focus};
use crate::views::escape::escape_line;

/// One finding (standing for `count` identical ones) as a list line.
pub fn finding_line<'a>(app: &App, f: &Finding, count: usize, styles: &Styles) -> Line<'a> {
    let mut spans = vec![
        Span::styled(format!("{} ", severity_label(f.severity)), styles.severity(f.severity)),
        Span::styled(if f.inconclusive { "? " } else { "  " }, styles.warn),
        Span::styled(format!("{} ", f.kind.id()), styles.title),
    ];
    if count > 1 {
        spans.push(Span::styled(format!("×{count} "), styles.warn));
        if let Some(v) = &f.variant {
            spans.push(Span::styled(format!("{v} "), styles.dim));
        }
    }
    spans.push(Span::styled(format!("{} ", rel(app, f.ts_ns)), styles.dim));
    if let Some(m) = f.migration {
        spans.push(Span::styled(format!("#{m} "), styles.dim));
    }
    spans.push(Span::raw(escape_line(&f.summary).into_owned()));
    Line::from(spans)
}

/// Renders the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let list = app.finding_groups();
    let focused = is_focused(app, Focus::Findings);
    let total: usize = list.iter().map(|(_, n)| n).sum();
    let title = if total == list.len() {
        format!(" Findings ({total}) ")
    } else {
        format!(" Findings ({total} in {} rows, most severe first) ", list.len())
    };
    let block = pane(title, focused, styles);
    if list.is_empty() {
        let empty = List::new(vec![ListItem::new(Line::styled("no findings", styles.dim))]).block(block);
        frame.render_widget(empty, area);
        return;
    }
    let items: Vec<ListItem> = list
        .iter()
        .map(|(f, n)| ListItem::new(finding_line(app, f, *n, styles)))
        .collect();
    let widget = List::new(items)
        .block(block)
        .highlight_style(styles.selected)
        .highlight_symbol("›");
    // A local list state: the selection lives in the App, the renderer only
    // tells ratatui which row to keep visible.
    let mut state = ListState::default();
    if focused || app.finding_sel.is_some() {
        state.select(app.selected_finding_index());
    }
    frame.render_stateful_widget(widget, area, &mut state);
}
