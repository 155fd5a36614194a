//! The Migrations pane: each migration (newest first) as a timeline of
//! phases — trigger, VASI wait, attempts (join, suspend, wake), fix-ups,
//! cancel — with durations and the outcome; the phase still running is
//! marked `▶` and highlighted. ↑↓ select a migration (its first line is
//! highlighted), Enter opens it.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{is_focused, pane, rel, Styles};
use crate::analysis::rules::fmt_dur;
use crate::analysis::{Attempt, Migration, PhaseSpan};
use crate::tui::app::{App, Focus};
use crate::views::escape::escape_line;

/// What a phase is called on screen.
pub fn phase_label(name: &str) -> &str {
    match name {
        "vasi-wait" => "VASI wait",
        "retry-wait" => "retry wait",
        "post" => "fix-ups",
        other => other,
    }
}

fn phase_span<'a>(p: &PhaseSpan, now: u64, styles: &Styles) -> Span<'a> {
    match p.end_ns {
        Some(end) => Span::raw(format!(
            "{} {}",
            phase_label(&p.name),
            fmt_dur(end.saturating_sub(p.start_ns))
        )),
        None => Span::styled(
            format!("▶{} {}…", phase_label(&p.name), fmt_dur(now.saturating_sub(p.start_ns))),
            styles.current,
        ),
    }
}

fn push_timeline<'a>(spans: &mut Vec<Span<'a>>, parts: Vec<Span<'a>>, styles: &Styles) {
    for (i, s) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", styles.dim));
        }
        spans.push(s);
    }
}

fn attempt_line<'a>(a: &Attempt, now: u64, styles: &Styles) -> Line<'a> {
    let mut spans = vec![Span::styled(format!("   a{} ", a.number), styles.dim)];
    let parts = a.phases.iter().map(|p| phase_span(p, now, styles)).collect();
    push_timeline(&mut spans, parts, styles);
    if a.phases.is_empty() {
        spans.push(Span::raw("started"));
    }
    if !a.cpus_expected.is_empty() {
        spans.push(Span::styled(
            format!("  joined {}/{}", a.cpus_joined.len(), a.cpus_expected.len()),
            styles.dim,
        ));
    }
    match a.result {
        Some(0) => spans.push(Span::styled("  ok", styles.good)),
        Some(r) => {
            let name = a.result_name.clone().unwrap_or_default();
            spans.push(Span::styled(format!("  → {r} {name}"), styles.warn));
        }
        None => {}
    }
    if a.premature_joins > 0 {
        spans.push(Span::styled(
            format!("  premature H_JOIN ×{}", a.premature_joins),
            styles.warn,
        ));
    }
    Line::from(spans)
}

/// The lines of one migration.
pub fn migration_lines<'a>(app: &App, m: &Migration, styles: &Styles) -> Vec<Line<'a>> {
    let now = app.view_now_ns;
    let mut head = vec![
        Span::styled(format!("#{} ", m.id), styles.title),
        Span::styled(m.outcome.as_str().to_uppercase(), styles.outcome(m.outcome)),
        Span::raw(" "),
    ];
    if let Some(s) = m.stream_id {
        head.push(Span::raw(format!("stream {s:#x} ")));
    }
    head.push(Span::raw(format!("{} ", m.trigger)));
    if let Some(c) = &m.comm {
        head.push(Span::raw(format!("({}) ", escape_line(c))));
    }
    head.push(Span::styled(
        format!("{} {} ", m.path, rel(app, m.start_ns)),
        styles.dim,
    ));
    let dur = m.end_ns.unwrap_or(now).saturating_sub(m.start_ns);
    head.push(Span::raw(fmt_dur(dur)));
    let mut lines = vec![Line::from(head)];

    // Migration-level timeline; attempts are summarised and detailed below.
    let mut parts = vec![Span::raw("trigger")];
    let mut attempts_shown = false;
    for p in &m.phases {
        if p.name.starts_with("attempt-") || p.name == "retry-wait" {
            if !attempts_shown {
                attempts_shown = true;
                let running = m.attempts.iter().any(|a| a.end_ns.is_none());
                let n = m.attempts.len();
                let text = format!("{n} attempt{}", if n == 1 { "" } else { "s" });
                parts.push(if running {
                    Span::styled(format!("▶{text}"), styles.current)
                } else {
                    Span::raw(text)
                });
            }
            continue;
        }
        parts.push(phase_span(p, now, styles));
    }
    let mut spans = vec![Span::raw("   ")];
    push_timeline(&mut spans, parts, styles);
    if m.vasi_polls > 0 {
        let state = m.last_vasi_state.clone().unwrap_or_default();
        spans.push(Span::styled(format!("  VASI {state} ×{}", m.vasi_polls), styles.dim));
    }
    if m.events_lost > 0 {
        spans.push(Span::styled(format!("  lost {}", m.events_lost), styles.bad));
    }
    lines.push(Line::from(spans));
    for a in &m.attempts {
        lines.push(attempt_line(a, now, styles));
    }
    if let Some(c) = &m.cancel {
        let ret = match c.ret {
            Some(0) => Span::styled("accepted", styles.good),
            Some(r) => Span::styled(format!("rejected ({r})"), styles.bad),
            None => Span::styled("no answer seen", styles.warn),
        };
        lines.push(Line::from(vec![Span::styled("   cancel ", styles.dim), ret]));
    }
    lines
}

/// Renders the pane.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let migrations = &app.model.report.migrations;
    let title = format!(" Migrations ({}) ", migrations.len());
    let block = pane(title, is_focused(app, Focus::Migrations), styles);
    let mut lines: Vec<Line> = Vec::new();
    let focused = is_focused(app, Focus::Migrations);
    let selected = app.selected_migration().map(|m| m.id);
    // The selected migration's first line is the top of the pane.
    let mut scroll = 0;
    for m in migrations.iter().rev() {
        let mut ml = migration_lines(app, m, styles);
        if selected == Some(m.id) {
            scroll = lines.len();
            if focused && migrations.len() > 1 {
                if let Some(head) = ml.first_mut() {
                    *head = std::mem::take(head).patch_style(styles.selected);
                }
            }
        }
        lines.extend(ml);
    }
    if lines.is_empty() {
        lines.push(Line::styled("no migration yet", styles.dim));
        lines.push(Line::styled(
            "(a trigger, H_VASI_STATE or H_JOIN starts one)",
            styles.dim,
        ));
    }
    // Keep the pane full when the selection is near the end.
    let rows = area.height.saturating_sub(2) as usize;
    let scroll = scroll.min(lines.len().saturating_sub(rows)) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .style(Style::default()),
        area,
    );
}
