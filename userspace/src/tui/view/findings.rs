//! The Findings pane: newest first, one line each — severity (coloured and
//! as a word), kind, time, migration, summary — with `?` marking an
//! inconclusive finding. Enter opens the selected one.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use super::styles::severity_label;
use super::{is_focused, pane, rel, Styles};
use crate::analysis::Finding;
use crate::tui::app::{App, Focus};
use crate::views::escape::escape_line;

/// One finding as a list line.
pub fn finding_line<'a>(app: &App, f: &Finding, styles: &Styles) -> Line<'a> {
    let mut spans = vec![
        Span::styled(format!("{} ", severity_label(f.severity)), styles.severity(f.severity)),
        Span::styled(if f.inconclusive { "? " } else { "  " }, styles.warn),
        Span::styled(format!("{} ", f.kind.id()), styles.title),
        Span::styled(format!("{} ", rel(app, f.ts_ns)), styles.dim),
    ];
    if let Some(m) = f.migration {
        spans.push(Span::styled(format!("#{m} "), styles.dim));
    }
    spans.push(Span::raw(escape_line(&f.summary).into_owned()));
    Line::from(spans)
}

/// Renders the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let list = app.visible_findings();
    let focused = is_focused(app, Focus::Findings);
    let title = format!(" Findings ({}) ", list.len());
    let block = pane(title, focused, styles);
    if list.is_empty() {
        let empty = List::new(vec![ListItem::new(Line::styled("no findings", styles.dim))]).block(block);
        frame.render_widget(empty, area);
        return;
    }
    let items: Vec<ListItem> = list
        .iter()
        .map(|f| ListItem::new(finding_line(app, f, styles)))
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
