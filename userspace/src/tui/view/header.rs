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
            if let Some(why) = ended {
                first.push(Span::styled(format!(" capture ended: {why}"), styles.warn));
            }
        }
        Mode::Replay { clock, .. } => {
            first.push(Span::styled(
                " REPLAY ",
                styles.current.add_modifier(ratatui::style::Modifier::REVERSED),
            ));
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
    if app.paused {
        first.push(Span::raw(" "));
        first.push(Span::styled(
            " PAUSED ",
            styles.warn.add_modifier(ratatui::style::Modifier::REVERSED),
        ));
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
    let findings = app.visible_findings().len();
    second.push(Span::raw(format!("  findings {findings}")));
    frame.render_widget(Paragraph::new(vec![Line::from(first), Line::from(second)]), area);
}
