//! Overlays about one thing: a finding (explanation, evidence events to
//! jump to, next step, inconclusive reason), a migration (what `report`
//! prints for it, and its findings to open) and the probe coverage
//! (attached probes with their hooks, missing ones with the reasons).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::styles::severity_label;
use super::{pane, rel, Styles};
use crate::events::session::CoverageStatus;
use crate::tui::app::{App, Overlay};
use crate::tui::log::line_text;
use crate::views::escape::{escape, escape_line};

/// Renders the finding overlay (nothing when the overlay is another one).
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let Overlay::Finding { key, evidence } = &app.overlay else {
        return;
    };
    frame.render_widget(Clear, area);
    let Some(f) = app.finding(key) else {
        let block = pane(" Finding ", true, styles);
        frame.render_widget(Paragraph::new("this finding is no longer listed").block(block), area);
        return;
    };
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(severity_label(f.severity), styles.severity(f.severity)),
        Span::styled(format!(" {} ", f.kind.id()), styles.title),
        Span::raw(format!("at {} (Esc closes) ", rel(app, f.ts_ns))),
    ]);
    let outer = pane(title, true, styles);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);

    let ev_rows = (f.evidence.len().max(1) + 2).min(10) as u16;
    let [text_area, ev_area, next_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(ev_rows), Constraint::Length(5)]).areas(inner);

    let mut text = vec![Line::styled(escape_line(&f.summary).into_owned(), styles.title)];
    let mut facts = Vec::new();
    if let Some(m) = f.migration {
        facts.push(format!("migration #{m}"));
    }
    if let Some(s) = f.stream_id {
        facts.push(format!("stream {s:#x}"));
    }
    if !f.cpus.is_empty() {
        let cpus: Vec<String> = f.cpus.iter().map(|c| c.to_string()).collect();
        facts.push(format!("CPUs {}", cpus.join(",")));
    }
    if let Some(v) = &f.variant {
        facts.push(format!("variant {v}"));
    }
    if !facts.is_empty() {
        text.push(Line::styled(facts.join(" · "), styles.dim));
    }
    if f.inconclusive {
        let why = f
            .inconclusive_reason
            .clone()
            .unwrap_or_else(|| "the evidence may be incomplete".into());
        text.push(Line::styled(format!("INCONCLUSIVE: {why}"), styles.warn));
    }
    text.push(Line::raw(""));
    text.push(Line::raw(escape(&f.explanation).into_owned()));
    if let Some(p) = &f.platform_note {
        text.push(Line::styled(format!("Platform: {p}"), styles.dim));
    }
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), text_area);

    let items: Vec<ListItem> = if f.evidence.is_empty() {
        vec![ListItem::new(Line::styled("no evidence events recorded", styles.dim))]
    } else {
        f.evidence
            .iter()
            .map(|&pos| {
                let text = match app.evidence_event(pos) {
                    Some(ev) => format!("#{pos} {}", escape_line(&line_text(&ev, &app.session, app.time_base()))),
                    None => format!("#{pos} (no longer in the log)"),
                };
                ListItem::new(Line::raw(text))
            })
            .collect()
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" Evidence (↑↓ select, Enter jumps to the event) ");
    let list = List::new(items)
        .block(block)
        .highlight_style(styles.selected)
        .highlight_symbol("›");
    let mut state = ListState::default();
    if !f.evidence.is_empty() {
        state.select(Some(*evidence));
    }
    frame.render_stateful_widget(list, ev_area, &mut state);

    let block = Block::default().borders(Borders::TOP).title(" Next step ");
    frame.render_widget(
        Paragraph::new(f.next_step.clone())
            .block(block)
            .wrap(Wrap { trim: false }),
        next_area,
    );
}

/// Renders the migration overlay: the report's account of it, then its
/// findings (↑↓ select, Enter opens one).
pub fn render_migration(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let Overlay::Migration { id, finding, scroll } = app.overlay else {
        return;
    };
    frame.render_widget(Clear, area);
    let Some(m) = app.model.report.migrations.iter().find(|m| m.id == id) else {
        let block = pane(" Migration ", true, styles);
        frame.render_widget(
            Paragraph::new("this migration is not known at this position").block(block),
            area,
        );
        return;
    };
    let title = Line::from(vec![
        Span::styled(format!(" Migration #{id} "), styles.title),
        Span::styled(m.outcome.as_str().to_uppercase(), styles.outcome(m.outcome)),
        Span::raw(format!(" at {} (PgUp/PgDn scroll, Esc closes) ", rel(app, m.start_ns))),
    ]);
    let outer = pane(title, true, styles);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);

    let findings = app.migration_findings(id);
    let rows = (findings.len().max(1) + 1).min(10) as u16;
    let [text_area, list_area] = Layout::vertical([Constraint::Min(3), Constraint::Length(rows)]).areas(inner);
    let at = if app.clock().is_some_and(|c| c.pos_ns < c.end_ns) {
        "at this position"
    } else {
        "at the end of the trace"
    };
    let text = crate::views::report::migration_text(m, app.time_base(), &app.session, at);
    let lines: Vec<Line> = text
        .lines()
        .skip(1) // the title says it
        .map(|l| Line::raw(escape_line(l).into_owned()))
        .collect();
    let scroll = scroll.min(lines.len().saturating_sub(1) as u16);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((scroll, 0)),
        text_area,
    );

    let items: Vec<ListItem> = if findings.is_empty() {
        vec![ListItem::new(Line::styled(
            "no finding about this migration",
            styles.dim,
        ))]
    } else {
        findings
            .iter()
            .map(|f| {
                ListItem::new(Line::from(vec![
                    Span::styled(severity_label(f.severity), styles.severity(f.severity)),
                    Span::raw(format!(" {} {} ", rel(app, f.ts_ns), f.kind.id())),
                    Span::raw(escape_line(&f.summary).into_owned()),
                ]))
            })
            .collect()
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" Findings of this migration (↑↓ select, Enter opens) ");
    let list = List::new(items).block(block).highlight_style(styles.selected);
    let mut state = ListState::default();
    if !findings.is_empty() {
        state.select(Some(finding.min(findings.len() - 1)));
    }
    frame.render_stateful_widget(list, list_area, &mut state);
}

/// Renders the coverage overlay: missing probes first, with reasons.
pub fn render_coverage(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    frame.render_widget(Clear, area);
    let cov = &app.session.coverage;
    let attached = cov.iter().filter(|c| c.attached()).count();
    let title = format!(" Probe coverage: {attached}/{} attached (Esc closes) ", cov.len());
    let mut lines = Vec::new();
    if cov.is_empty() {
        lines.push(Line::styled("this session has no coverage manifest", styles.dim));
    }
    let mut sorted: Vec<_> = cov.iter().collect();
    // Missing first (what the user came for), then attached, then the
    // probes that do not apply or were turned off.
    sorted.sort_by_key(|c| match c.status {
        CoverageStatus::Missing { .. } => 0,
        CoverageStatus::Attached { .. } => 1,
        CoverageStatus::NotApplicable { .. } | CoverageStatus::Disabled => 2,
    });
    for c in sorted {
        let (mark, style, detail) = match &c.status {
            CoverageStatus::Attached {
                candidate,
                hooks,
                partial,
            } => {
                let mut d = format!("{candidate}: {}", hooks.join(", "));
                if !partial.is_empty() {
                    d.push_str(&format!(" (not attached: {})", partial.join("; ")));
                }
                ("✓", styles.good, d)
            }
            CoverageStatus::Missing { reasons } => ("✗ MISSING", styles.bad, reasons.join("; ")),
            CoverageStatus::NotApplicable { reason } => ("- n/a", styles.dim, reason.clone()),
            CoverageStatus::Disabled => ("- disabled", styles.dim, "turned off with --disable".into()),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), style),
            Span::styled(format!("{} ", c.probe), styles.title),
            Span::raw(detail),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(pane(title, true, styles))
            .wrap(Wrap { trim: false }),
        area,
    );
}
