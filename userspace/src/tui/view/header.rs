//! The two header lines: what is traced (host, kernel, arch), LIVE or
//! REPLAY (speed, position, paused), events per second, lost events (red
//! when any) and probe coverage, with `p` for the missing probes.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::Styles;
use crate::events::session::CoverageStatus;
use crate::record::format_duration;
use crate::tui::app::{App, Mode};
use crate::views::escape::escape_line;

/// Renders the header.
pub fn render(frame: &mut Frame, area: Rect, app: &App, styles: &Styles) {
    let s = &app.session;
    let mut first = vec![
        Span::styled(" lpmtrace ", styles.title),
        Span::raw(format!(
            "{} · {} · {} ",
            escape_line(&s.hostname),
            escape_line(&s.kernel_release),
            escape_line(&s.arch)
        )),
    ];
    match &app.mode {
        Mode::Live { ended } => {
            first.push(Span::styled(
                " LIVE ",
                styles.good.add_modifier(ratatui::style::Modifier::REVERSED),
            ));
            push_paused(&mut first, app, styles);
            if let Some(why) = ended {
                first.push(Span::styled(format!(" capture ended: {why}"), styles.warn));
            }
        }
        Mode::Replay { clock, .. } => {
            first.push(Span::styled(
                " REPLAY ",
                styles.current.add_modifier(ratatui::style::Modifier::REVERSED),
            ));
            push_paused(&mut first, app, styles);
            let speed = if clock.speed >= 1.0 {
                format!("{}x", clock.speed)
            } else {
                format!("{:.2}x", clock.speed)
            };
            let pos = clock.pos_ns.saturating_sub(clock.start_ns);
            let len = clock.end_ns.saturating_sub(clock.start_ns);
            first.push(Span::raw(format!(
                " {speed} {} / {}",
                format_duration(pos),
                format_duration(len)
            )));
            if clock.pos_ns >= clock.end_ns {
                first.push(Span::styled(" END", styles.dim));
            }
        }
    }
    if let Mode::Replay { file, .. } = &app.mode {
        first.push(Span::styled(format!("  {file}"), styles.dim));
    }

    let lost = app.model.lost_events;
    let attached = s.coverage.iter().filter(|c| c.attached()).count();
    let total = s.coverage.len();
    let missing: Vec<&str> = s
        .coverage
        .iter()
        .filter(|c| matches!(c.status, CoverageStatus::Missing { .. }))
        .map(|c| c.probe.as_str())
        .collect();
    let not_applicable = s
        .coverage
        .iter()
        .filter(|c| matches!(c.status, CoverageStatus::NotApplicable { .. }))
        .count();
    let mut second = vec![
        Span::raw(format!(" events {} ({:.0}/s)  ", app.model.events, app.rate)),
        Span::styled(format!("lost {lost}"), if lost > 0 { styles.bad } else { styles.dim }),
        Span::raw(format!("  probes {attached}/{total} attached")),
    ];
    if not_applicable > 0 {
        second.push(Span::styled(format!(", {not_applicable} n/a"), styles.dim));
    }
    if !missing.is_empty() {
        second.push(Span::styled(
            format!("  missing: {} (p)", missing.join(", ")),
            styles.warn,
        ));
    } else if total > 0 {
        second.push(Span::styled("  (p)", styles.dim));
    }
    let findings = app.findings_so_far().len();
    second.push(Span::raw(format!("  findings {findings}")));
    let third = summary_line(app, styles);
    frame.render_widget(Paragraph::new(vec![Line::from(first), Line::from(second), third]), area);
}

/// The PAUSED badge, next to the mode so that 80 columns still show it.
fn push_paused(line: &mut Vec<Span<'_>>, app: &App, styles: &Styles) {
    if app.paused {
        line.push(Span::raw(" "));
        line.push(Span::styled(
            " PAUSED ",
            styles.warn.add_modifier(ratatui::style::Modifier::REVERSED),
        ));
    }
}

/// What happened, in one line: each migration's outcome (counted when
/// there are many) and the most severe finding.
pub fn summary_line<'a>(app: &App, styles: &Styles) -> Line<'a> {
    let outcomes = app.outcomes();
    // The worst finding first: at 80 columns the tail is what gets cut.
    let mut spans = vec![Span::styled(" worst ", styles.dim)];
    match app.worst_finding() {
        Some(f) => {
            spans.push(Span::styled(
                format!("{} ", super::styles::severity_label(f.severity)),
                styles.severity(f.severity),
            ));
            let at = f.migration.map(|m| format!(" #{m}")).unwrap_or_default();
            spans.push(Span::raw(format!("{}{at}", f.kind.id())));
        }
        None => spans.push(Span::styled("no findings", styles.dim)),
    }
    spans.push(Span::styled(" │ ", styles.dim));
    if outcomes.is_empty() {
        spans.push(Span::styled("no migration", styles.dim));
    } else if outcomes.len() <= 4 {
        for (i, (id, o)) in outcomes.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw(" "));
            }
            spans.push(Span::raw(format!("#{id} ")));
            spans.push(Span::styled(o.as_str().to_uppercase(), styles.outcome(*o)));
        }
    } else {
        let mut counts: Vec<(crate::analysis::Outcome, usize)> = Vec::new();
        for (_, o) in &outcomes {
            match counts.iter_mut().find(|(c, _)| c == o) {
                Some((_, n)) => *n += 1,
                None => counts.push((*o, 1)),
            }
        }
        spans.push(Span::raw(format!("{} migrations: ", outcomes.len())));
        for (i, (o, n)) in counts.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw(", "));
            }
            spans.push(Span::styled(format!("{n} {}", o.as_str()), styles.outcome(*o)));
        }
    }
    Line::from(spans)
}
