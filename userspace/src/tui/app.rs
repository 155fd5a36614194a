//! The TUI state: the [`Model`] (data), which pane has the focus, the open
//! overlay, the replay clock, scroll positions and the log filter, with
//! methods named after what the user asked for.
//!
//! [`App::apply`] carries out an [`Action`] and returns an [`Effect`] for
//! the loop to perform (quitting, repositioning the replay); the app never
//! does I/O and never reads the wall clock, so every transition is unit
//! tested. This module never imports the views.

use std::collections::HashMap;

use crate::analysis::{Finding, FindingKind, Migration, Thresholds};
use crate::events::{session::SessionInfo, Event};

use super::input::{Action, InputMode};
use super::log::LogFilter;
use super::model::Model;

/// Replay speeds `+` and `-` step through.
pub const SPEEDS: &[f64] = &[0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0];
/// Rows PgUp / PgDn move.
pub const PAGE: usize = 10;

/// The panes, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// Migrations and their attempts.
    Migrations,
    /// Findings, newest first.
    Findings,
    /// CPU lanes.
    Cpus,
    /// Event log.
    Events,
}

impl Focus {
    const ORDER: [Focus; 4] = [Focus::Migrations, Focus::Findings, Focus::Cpus, Focus::Events];

    fn step(self, by: isize) -> Focus {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0) as isize;
        Self::ORDER[(i + by).rem_euclid(Self::ORDER.len() as isize) as usize]
    }
}

/// What identifies a finding across report refreshes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingKey {
    /// Its time.
    pub ts_ns: u64,
    /// Its kind.
    pub kind: FindingKind,
    /// Its migration.
    pub migration: Option<u32>,
    /// Its CPUs.
    pub cpus: Vec<u32>,
}

/// Whether two findings are shown as one row of the Findings pane.
fn same_group(a: &Finding, b: &Finding) -> bool {
    a.severity == b.severity && a.kind == b.kind && a.variant == b.variant && a.inconclusive == b.inconclusive
}

impl FindingKey {
    /// The key of `f`.
    pub fn of(f: &Finding) -> Self {
        FindingKey {
            ts_ns: f.ts_ns,
            kind: f.kind,
            migration: f.migration,
            cpus: f.cpus.clone(),
        }
    }

    fn is(&self, f: &Finding) -> bool {
        f.ts_ns == self.ts_ns && f.kind == self.kind && f.migration == self.migration && f.cpus == self.cpus
    }
}

/// An overlay over the main screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// Nothing open.
    None,
    /// Key help.
    Help,
    /// One finding: explanation, evidence, next step.
    Finding {
        /// Which finding.
        key: FindingKey,
        /// Selected evidence entry.
        evidence: usize,
    },
    /// Probe coverage.
    Coverage,
    /// One migration: its whole account (what `report` prints for it) and
    /// its findings, Enter opening the selected one.
    Migration {
        /// The migration's id.
        id: u32,
        /// Selected entry of its findings.
        finding: usize,
        /// First line of its account shown (PgUp/PgDn).
        scroll: u16,
    },
}

/// The replay clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayClock {
    /// Speed factor (1.0 = real time).
    pub speed: f64,
    /// Current position (event clock); events up to it are shown.
    pub pos_ns: u64,
    /// First event of the recording.
    pub start_ns: u64,
    /// Last event of the recording.
    pub end_ns: u64,
}

/// Live capture or replay of a recording.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Live capture.
    Live {
        /// Set when the capture stopped (why).
        ended: Option<String>,
    },
    /// Replay of a recording.
    Replay {
        /// The file shown in the header.
        file: String,
        /// Position and speed.
        clock: ReplayClock,
    },
}

/// What the loop must do after an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond redrawing.
    None,
    /// Restore the terminal and exit.
    Quit,
    /// Replay: show the recording as of this time (feeding or re-feeding
    /// the model), then redraw.
    Seek(u64),
}

/// The whole TUI state.
#[derive(Debug)]
pub struct App {
    /// Session header of the capture or recording.
    pub session: SessionInfo,
    /// Data behind the panes.
    pub model: Model,
    /// Live or replay.
    pub mode: Mode,
    /// Paused (replay: the clock stands; live: the display is frozen).
    pub paused: bool,
    /// Focused pane.
    pub focus: Focus,
    /// Open overlay.
    pub overlay: Overlay,
    /// Applied event-log filter.
    pub filter: LogFilter,
    /// Filter being typed (after `/`).
    pub filter_edit: Option<String>,
    /// Event log: `None` follows the tail, `Some(pos)` pins that event as
    /// the selected bottom line.
    pub log_anchor: Option<u64>,
    /// Selected migration (`None`: the newest, at the top of the pane).
    pub migration_sel: Option<u32>,
    /// First CPU row shown.
    pub cpu_scroll: usize,
    /// Group CPUs so all fit the lanes pane.
    pub compress: bool,
    /// Selected finding (`None`: the newest).
    pub finding_sel: Option<FindingKey>,
    /// Replay: the findings of the whole recording (what `report` prints),
    /// shown as the position passes them.
    pub all_findings: Option<Vec<Finding>>,
    /// Replay: evidence events of every finding, by stream position.
    pub evidence_events: HashMap<u64, Event>,
    /// Events per second (set by the loop).
    pub rate: f64,
    /// A one-line message for the footer (cleared on the next key).
    pub status: Option<String>,
    /// Time the lanes and migrations are drawn at (frozen while a live
    /// display is paused).
    pub view_now_ns: u64,
    /// Replay: every migration's outcome in the whole recording (the
    /// header's summary line says how the recording ends, wherever the
    /// position is); live: none, the engine's migrations are used.
    pub recording_outcomes: Option<Vec<(u32, crate::analysis::Outcome)>>,
}

impl App {
    /// State for a live capture.
    pub fn live(session: SessionInfo, thresholds: Thresholds) -> Self {
        Self::with_mode(session, thresholds, Mode::Live { ended: None })
    }

    /// State for the replay of `file`, with the recording's findings and
    /// their evidence events (from a first pass over the file).
    pub fn replay(
        session: SessionInfo,
        thresholds: Thresholds,
        file: String,
        clock: ReplayClock,
        findings: Vec<Finding>,
        evidence_events: HashMap<u64, Event>,
    ) -> Self {
        let mut app = Self::with_mode(session, thresholds, Mode::Replay { file, clock });
        app.all_findings = Some(findings);
        app.evidence_events = evidence_events;
        app.view_now_ns = clock.pos_ns;
        app
    }

    fn with_mode(session: SessionInfo, thresholds: Thresholds, mode: Mode) -> Self {
        App {
            model: Model::new(&session, thresholds),
            session,
            mode,
            paused: false,
            focus: Focus::Migrations,
            overlay: Overlay::None,
            filter: LogFilter::default(),
            filter_edit: None,
            log_anchor: None,
            migration_sel: None,
            cpu_scroll: 0,
            compress: false,
            finding_sel: None,
            all_findings: None,
            evidence_events: HashMap::new(),
            rate: 0.0,
            status: None,
            view_now_ns: 0,
            recording_outcomes: None,
        }
    }

    /// Each migration's outcome for the header's summary line: the whole
    /// recording's in replay, the engine's as they change in live.
    pub fn outcomes(&self) -> Vec<(u32, crate::analysis::Outcome)> {
        match &self.recording_outcomes {
            Some(o) => o.clone(),
            None => self.model.report.migrations.iter().map(|m| (m.id, m.outcome)).collect(),
        }
    }

    /// The most severe finding known so far (the earliest of its severity).
    pub fn worst_finding(&self) -> Option<&Finding> {
        match &self.all_findings {
            Some(all) => all.iter().min_by_key(|f| (f.severity, f.ts_ns)),
            None => self.model.report.findings.iter().min_by_key(|f| (f.severity, f.ts_ns)),
        }
    }

    /// Which keys apply now.
    pub fn input_mode(&self) -> InputMode {
        if self.filter_edit.is_some() {
            InputMode::FilterEdit
        } else if self.overlay != Overlay::None {
            InputMode::Overlay
        } else {
            InputMode::Normal
        }
    }

    /// The time every pane counts from: the recording's first event in
    /// replay, the session's first event live.
    pub fn time_base(&self) -> u64 {
        self.clock().map(|c| c.start_ns).or(self.model.first_ts_ns).unwrap_or(0)
    }

    /// The replay clock, in replay mode.
    pub fn clock(&self) -> Option<&ReplayClock> {
        match &self.mode {
            Mode::Replay { clock, .. } => Some(clock),
            Mode::Live { .. } => None,
        }
    }

    /// Mutable replay clock.
    pub fn clock_mut(&mut self) -> Option<&mut ReplayClock> {
        match &mut self.mode {
            Mode::Replay { clock, .. } => Some(clock),
            Mode::Live { .. } => None,
        }
    }

    /// True in live mode.
    pub fn is_live(&self) -> bool {
        matches!(self.mode, Mode::Live { .. })
    }

    /// Called once per frame before drawing: refreshes the report and the
    /// drawing time unless a live display is paused.
    pub fn refresh(&mut self) {
        if self.is_live() && self.paused {
            return;
        }
        self.model.refresh();
        self.view_now_ns = match self.clock() {
            Some(c) => c.pos_ns,
            None => self.model.now_ns,
        };
    }

    /// Every finding known at the position, newest first. Replay: the
    /// recording's findings up to the position (all of them at the end);
    /// live: the engine's.
    pub fn findings_so_far(&self) -> Vec<&Finding> {
        match (&self.all_findings, self.clock()) {
            (Some(all), Some(c)) => {
                let at_end = c.pos_ns >= c.end_ns;
                all.iter().rev().filter(|f| at_end || f.ts_ns <= c.pos_ns).collect()
            }
            _ => self.model.report.findings.iter().rev().collect(),
        }
    }

    /// The Findings pane's rows: most severe first, newest first within a
    /// severity, and identical findings (same severity, kind, variant and
    /// conclusiveness: eleven premature-join storms over three
    /// migrations) as one row, the newest standing for them, with their
    /// count.
    pub fn finding_groups(&self) -> Vec<(&Finding, usize)> {
        let mut groups: Vec<(&Finding, usize)> = Vec::new();
        for f in self.findings_so_far() {
            match groups.iter_mut().find(|(g, _)| same_group(g, f)) {
                Some((_, n)) => *n += 1,
                None => groups.push((f, 1)),
            }
        }
        groups.sort_by_key(|(f, _)| f.severity);
        groups
    }

    /// Selects the most severe finding of the recording (the earliest of
    /// its severity) and focuses the Findings pane; its time, if any.
    pub fn select_most_severe(&mut self) -> Option<u64> {
        let all = self.all_findings.as_ref()?;
        let f = all.iter().min_by_key(|f| (f.severity, f.ts_ns))?;
        let ts = f.ts_ns;
        self.finding_sel = Some(FindingKey::of(f));
        self.focus = Focus::Findings;
        Some(ts)
    }

    /// One finding per row of the Findings pane (see [`App::finding_groups`]).
    pub fn visible_findings(&self) -> Vec<&Finding> {
        self.finding_groups().into_iter().map(|(f, _)| f).collect()
    }

    /// Index of the selected finding's row in [`App::visible_findings`]
    /// (the row of its group when another finding stands for it).
    pub fn selected_finding_index(&self) -> Option<usize> {
        let list = self.visible_findings();
        if list.is_empty() {
            return None;
        }
        let Some(k) = &self.finding_sel else { return Some(0) };
        if let Some(i) = list.iter().position(|f| k.is(f)) {
            return Some(i);
        }
        let member = self.findings_so_far().into_iter().find(|f| k.is(f));
        Some(
            member
                .and_then(|m| list.iter().position(|f| same_group(f, m)))
                .unwrap_or(0),
        )
    }

    /// The selected finding.
    pub fn selected_finding(&self) -> Option<&Finding> {
        let i = self.selected_finding_index()?;
        self.visible_findings().get(i).copied()
    }

    /// The finding an overlay shows.
    pub fn finding(&self, key: &FindingKey) -> Option<&Finding> {
        match &self.all_findings {
            Some(all) => all.iter().find(|f| key.is(f)),
            None => self.model.report.findings.iter().find(|f| key.is(f)),
        }
    }

    /// An evidence event by stream position, when known (replay: always;
    /// live: while it is still in the log).
    pub fn evidence_event(&self, pos: u64) -> Option<Event> {
        self.evidence_events
            .get(&pos)
            .copied()
            .or_else(|| self.model.log.get(pos).map(|e| e.event))
    }

    /// Carries out one action.
    pub fn apply(&mut self, action: Action) -> Effect {
        if !matches!(action, Action::Quit | Action::FilterChar(_) | Action::FilterBackspace) {
            self.status = None;
        }
        match action {
            Action::Quit => return Effect::Quit,
            // Esc never quits while something is open or filtered.
            Action::Back if self.overlay != Overlay::None => self.overlay = Overlay::None,
            Action::Back if !self.filter.is_empty() => {
                self.set_filter("");
                self.status = Some("filter cleared (Esc again quits)".into());
            }
            Action::Back => return Effect::Quit,
            Action::Close => self.overlay = Overlay::None,
            Action::TogglePause => self.toggle_pause(),
            Action::Seek(secs) => return self.seek_by(secs),
            Action::Faster => self.change_speed(true),
            Action::Slower => self.change_speed(false),
            Action::Start => return self.go_start(),
            Action::End => return self.go_end(),
            Action::NextFinding => return self.jump_finding(true),
            Action::PrevFinding => return self.jump_finding(false),
            Action::FocusNext => self.focus = self.focus.step(1),
            Action::FocusPrev => self.focus = self.focus.step(-1),
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-(PAGE as isize)),
            Action::PageDown => self.scroll(PAGE as isize),
            Action::Enter => return self.enter(),
            Action::Help => self.overlay = Overlay::Help,
            Action::Coverage => self.overlay = Overlay::Coverage,
            Action::Compress => self.compress = !self.compress,
            Action::Filter => self.filter_edit = Some(self.filter.source().to_string()),
            Action::FilterChar(c) => {
                if let Some(t) = &mut self.filter_edit {
                    t.push(c);
                }
            }
            Action::FilterBackspace => {
                if let Some(t) = &mut self.filter_edit {
                    t.pop();
                }
            }
            Action::FilterApply => {
                if let Some(t) = self.filter_edit.take() {
                    self.set_filter(&t);
                }
            }
            Action::FilterCancel => self.filter_edit = None,
        }
        Effect::None
    }

    /// Applies a log filter and shows its newest match (up to the pause
    /// point of a paused live display).
    pub fn set_filter(&mut self, text: &str) {
        self.filter = LogFilter::parse(text);
        // A paused live display stays where it was paused.
        self.log_anchor = if self.is_live() && self.paused {
            self.log_anchor
        } else {
            None
        };
        self.focus = Focus::Events;
    }

    /// Pause or resume.
    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if self.is_live() && self.paused && self.log_anchor.is_none() {
            // Freeze the log where it is; new events keep arriving below.
            self.log_anchor = self.model.log.last_pos();
        }
    }

    fn seek_to(&mut self, target: i128) -> Effect {
        match self.clock() {
            Some(c) => {
                let t = target.clamp(c.start_ns as i128, c.end_ns as i128) as u64;
                Effect::Seek(t)
            }
            None => {
                self.status = Some("seeking works in replay (lpmtrace replay FILE)".into());
                Effect::None
            }
        }
    }

    /// Replay: move the position by `secs` seconds.
    pub fn seek_by(&mut self, secs: i64) -> Effect {
        let pos = self.clock().map_or(0, |c| c.pos_ns);
        self.log_anchor = None;
        self.seek_to(pos as i128 + i128::from(secs) * 1_000_000_000)
    }

    /// Replay: next speed up or down.
    pub fn change_speed(&mut self, faster: bool) {
        let Some(c) = self.clock_mut() else {
            self.status = Some("speed applies to replay".into());
            return;
        };
        let next = if faster {
            SPEEDS.iter().copied().find(|&s| s > c.speed * 1.0001)
        } else {
            SPEEDS.iter().rev().copied().find(|&s| s < c.speed * 0.9999)
        };
        if let Some(s) = next {
            c.speed = s;
        }
    }

    /// Replay: to the start. Live: the top of the focused pane.
    pub fn go_start(&mut self) -> Effect {
        if let Some(c) = self.clock() {
            let start = c.start_ns;
            self.log_anchor = None;
            return Effect::Seek(start);
        }
        match self.focus {
            Focus::Migrations => self.migration_sel = None,
            Focus::Cpus => self.cpu_scroll = 0,
            Focus::Findings => self.finding_sel = None,
            Focus::Events => self.log_anchor = self.model.log.oldest_match(&self.filter, &self.session),
        }
        Effect::None
    }

    /// Replay: to the end. Live: follow the tail again.
    pub fn go_end(&mut self) -> Effect {
        self.log_anchor = None;
        if let Some(c) = self.clock() {
            return Effect::Seek(c.end_ns);
        }
        self.finding_sel = None;
        Effect::None
    }

    /// `n` / `N`: the next or previous finding in time. Replay moves the
    /// position to it; both select it in the Findings pane.
    pub fn jump_finding(&mut self, forward: bool) -> Effect {
        self.focus = Focus::Findings;
        if let (Some(all), Some(c)) = (&self.all_findings, self.clock()) {
            let pos = c.pos_ns;
            let cur = self
                .finding_sel
                .as_ref()
                .and_then(|k| all.iter().position(|f| k.is(f)))
                .filter(|&i| all[i].ts_ns == pos);
            let target = match (cur, forward) {
                (Some(i), true) => Some(i + 1).filter(|&j| j < all.len()),
                (Some(i), false) => i.checked_sub(1),
                (None, true) => all.iter().position(|f| f.ts_ns > pos),
                (None, false) => all.iter().rposition(|f| f.ts_ns < pos),
            };
            return match target {
                Some(j) => {
                    let f = &all[j];
                    let ts = f.ts_ns;
                    self.finding_sel = Some(FindingKey::of(f));
                    self.log_anchor = None;
                    Effect::Seek(ts)
                }
                None => {
                    self.status = Some(
                        if forward {
                            "no later finding"
                        } else {
                            "no earlier finding"
                        }
                        .into(),
                    );
                    Effect::None
                }
            };
        }
        // Live: the list is newest first; "next" in time is one row up.
        self.move_finding_selection(if forward { -1 } else { 1 });
        Effect::None
    }

    fn move_finding_selection(&mut self, by: isize) {
        let list = self.visible_findings();
        if list.is_empty() {
            return;
        }
        let cur = self.selected_finding_index().unwrap_or(0) as isize;
        let next = (cur + by).clamp(0, list.len() as isize - 1) as usize;
        self.finding_sel = Some(FindingKey::of(list[next]));
    }

    /// The selected migration: the chosen one while it exists, else the
    /// newest.
    pub fn selected_migration(&self) -> Option<&Migration> {
        let ms = &self.model.report.migrations;
        self.migration_sel
            .and_then(|id| ms.iter().find(|m| m.id == id))
            .or_else(|| ms.last())
    }

    /// The findings of migration `id` shown so far, most severe first.
    pub fn migration_findings(&self, id: u32) -> Vec<&Finding> {
        let mut list: Vec<&Finding> = self
            .findings_so_far()
            .into_iter()
            .filter(|f| f.migration == Some(id))
            .collect();
        list.sort_by_key(|f| (f.severity, f.ts_ns));
        list
    }

    /// Moves the migration selection; the pane lists the newest first, so
    /// down (`by > 0`) is older.
    fn move_migration_selection(&mut self, by: isize) {
        let ids: Vec<u32> = self.model.report.migrations.iter().rev().map(|m| m.id).collect();
        let Some(cur) = self.selected_migration().map(|m| m.id) else {
            return;
        };
        let i = ids.iter().position(|&id| id == cur).unwrap_or(0) as isize;
        let next = (i + by).clamp(0, ids.len() as isize - 1) as usize;
        self.migration_sel = Some(ids[next]);
    }

    /// Scrolls the focused pane (or the list of an open overlay).
    pub fn scroll(&mut self, by: isize) {
        if let Overlay::Migration { id, finding, scroll } = self.overlay {
            // PgUp/PgDn scroll the account, ↑↓ pick a finding.
            if by.unsigned_abs() >= PAGE {
                let scroll = (scroll as isize + by).clamp(0, u16::MAX as isize) as u16;
                self.overlay = Overlay::Migration { id, finding, scroll };
                return;
            }
            let n = self.migration_findings(id).len();
            let next = (finding as isize + by).clamp(0, n.saturating_sub(1) as isize) as usize;
            self.overlay = Overlay::Migration {
                id,
                finding: next,
                scroll,
            };
            return;
        }
        if let Overlay::Finding { key, evidence } = &self.overlay {
            let n = self.finding(key).map_or(0, |f| f.evidence.len());
            let next = (*evidence as isize + by).clamp(0, n.saturating_sub(1) as isize) as usize;
            if let Overlay::Finding { evidence, .. } = &mut self.overlay {
                *evidence = next;
            }
            return;
        }
        let step = |v: usize| (v as isize + by).max(0) as usize;
        match self.focus {
            Focus::Migrations => self.move_migration_selection(by),
            Focus::Cpus => self.cpu_scroll = step(self.cpu_scroll),
            Focus::Findings => self.move_finding_selection(by),
            Focus::Events => self.scroll_log(by),
        }
    }

    fn scroll_log(&mut self, by: isize) {
        let log = &self.model.log;
        let mut anchor = self
            .log_anchor
            .or_else(|| log.newest_match(&self.filter, &self.session));
        for _ in 0..by.unsigned_abs() {
            let Some(a) = anchor else { break };
            match log.neighbour(&self.filter, &self.session, a, by > 0) {
                Some(n) => anchor = Some(n),
                None if by > 0 => {
                    // Past the newest: follow the tail again.
                    self.log_anchor = None;
                    return;
                }
                None => break,
            }
        }
        self.log_anchor = anchor;
    }

    /// Enter: open the selected migration or finding; in a migration open
    /// the selected finding of it; in a finding jump to the selected
    /// evidence event.
    pub fn enter(&mut self) -> Effect {
        match self.overlay.clone() {
            Overlay::Migration { id, finding, .. } => {
                if let Some(f) = self.migration_findings(id).get(finding) {
                    let key = FindingKey::of(f);
                    self.finding_sel = Some(key.clone());
                    self.overlay = Overlay::Finding { key, evidence: 0 };
                }
                Effect::None
            }
            Overlay::None if self.focus == Focus::Migrations => {
                match self.selected_migration().map(|m| m.id) {
                    Some(id) => {
                        self.migration_sel = Some(id);
                        self.overlay = Overlay::Migration {
                            id,
                            finding: 0,
                            scroll: 0,
                        };
                    }
                    None => self.status = Some("no migration yet".into()),
                }
                Effect::None
            }
            Overlay::Finding { key, evidence } => {
                let Some(pos) = self.finding(&key).and_then(|f| f.evidence.get(evidence).copied()) else {
                    return Effect::None;
                };
                self.jump_to_event(pos)
            }
            Overlay::None if self.focus == Focus::Findings => {
                if let Some(f) = self.selected_finding() {
                    let key = FindingKey::of(f);
                    self.finding_sel = Some(key.clone());
                    self.overlay = Overlay::Finding { key, evidence: 0 };
                }
                Effect::None
            }
            _ => Effect::None,
        }
    }

    /// Shows the event at stream position `pos` selected in the event log
    /// (replay: moving the position to it).
    pub fn jump_to_event(&mut self, pos: u64) -> Effect {
        let Some(ev) = self.evidence_event(pos) else {
            self.status = Some(format!("event #{pos} is no longer in the log"));
            return Effect::None;
        };
        self.overlay = Overlay::None;
        self.focus = Focus::Events;
        self.filter = LogFilter::default();
        self.log_anchor = Some(pos);
        match self.clock() {
            Some(c) if ev.ts_ns != c.pos_ns => Effect::Seek(ev.ts_ns),
            _ => Effect::None,
        }
    }

    /// Replay: the position after a seek or a step of the clock.
    pub fn set_position(&mut self, pos_ns: u64) {
        if let Some(c) = self.clock_mut() {
            c.pos_ns = pos_ns.clamp(c.start_ns, c.end_ns);
        }
    }

    /// Live: the capture stopped.
    pub fn capture_ended(&mut self, why: String) {
        if let Mode::Live { ended } = &mut self.mode {
            *ended = Some(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Severity;
    use crate::events::session::KernelGeneration;
    use crate::events::{EventKind, JoinPath};

    fn finding(ts: u64, kind: FindingKind, evidence: Vec<u64>) -> Finding {
        Finding {
            kind,
            variant: None,
            severity: Severity::Warning,
            ts_ns: ts,
            window_start_ns: ts,
            migration: Some(1),
            stream_id: None,
            cpus: vec![],
            summary: format!("{kind} at {ts}"),
            explanation: String::new(),
            evidence,
            next_step: String::new(),
            inconclusive: false,
            inconclusive_reason: None,
            platform_note: None,
        }
    }

    fn replay_app() -> App {
        let s = SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath);
        let clock = ReplayClock {
            speed: 1.0,
            pos_ns: 0,
            start_ns: 0,
            end_ns: 20_000_000_000,
        };
        let findings = vec![
            finding(2_000_000_000, FindingKind::JoinStall, vec![1]),
            finding(2_000_000_000, FindingKind::OfflineRace, vec![0]),
            finding(7_000_000_000, FindingKind::MigrationFailed, vec![]),
        ];
        let mut ev = HashMap::new();
        ev.insert(
            1,
            Event {
                ts_ns: 1_500_000_000,
                cpu: 1,
                tid: 0,
                kind: EventKind::JoinEnter { path: JoinPath::DoJoin },
            },
        );
        App::replay(s, Thresholds::default(), "t.lpmt".into(), clock, findings, ev)
    }

    fn live_app() -> App {
        App::live(
            SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath),
            Thresholds::default(),
        )
    }

    #[test]
    fn seek_is_clamped_to_the_recording() {
        let mut app = replay_app();
        assert_eq!(app.apply(Action::Seek(1)), Effect::Seek(1_000_000_000));
        assert_eq!(app.apply(Action::Seek(-10)), Effect::Seek(0));
        app.set_position(15_000_000_000);
        assert_eq!(app.apply(Action::Seek(10)), Effect::Seek(20_000_000_000));
        assert_eq!(app.apply(Action::Start), Effect::Seek(0));
        assert_eq!(app.apply(Action::End), Effect::Seek(20_000_000_000));
    }

    #[test]
    fn live_refuses_seeking_with_a_message() {
        let mut app = live_app();
        assert_eq!(app.apply(Action::Seek(1)), Effect::None);
        assert!(app.status.as_deref().unwrap().contains("replay"));
        assert_eq!(app.apply(Action::Quit), Effect::Quit);
    }

    #[test]
    fn pause_toggles_and_freezes_the_live_log() {
        let mut app = live_app();
        app.model.push(&Event {
            ts_ns: 5,
            cpu: 0,
            tid: 0,
            kind: EventKind::JoinEnter { path: JoinPath::DoJoin },
        });
        app.apply(Action::TogglePause);
        assert!(app.paused);
        assert_eq!(app.log_anchor, Some(0));
        app.apply(Action::TogglePause);
        assert!(!app.paused);
    }

    #[test]
    fn speed_steps_through_the_table() {
        let mut app = replay_app();
        app.apply(Action::Faster);
        assert_eq!(app.clock().unwrap().speed, 2.0);
        app.apply(Action::Slower);
        app.apply(Action::Slower);
        assert_eq!(app.clock().unwrap().speed, 0.5);
        for _ in 0..20 {
            app.apply(Action::Faster);
        }
        assert_eq!(app.clock().unwrap().speed, 1000.0);
    }

    #[test]
    fn next_finding_walks_findings_with_equal_times() {
        let mut app = replay_app();
        assert_eq!(app.apply(Action::NextFinding), Effect::Seek(2_000_000_000));
        app.set_position(2_000_000_000);
        assert_eq!(app.selected_finding().unwrap().kind, FindingKind::JoinStall);
        assert_eq!(app.focus, Focus::Findings);
        // The second finding at the same time is next, without moving.
        assert_eq!(app.apply(Action::NextFinding), Effect::Seek(2_000_000_000));
        assert_eq!(app.selected_finding().unwrap().kind, FindingKind::OfflineRace);
        assert_eq!(app.apply(Action::NextFinding), Effect::Seek(7_000_000_000));
        app.set_position(7_000_000_000);
        assert_eq!(app.apply(Action::NextFinding), Effect::None);
        assert!(app.status.is_some());
        assert_eq!(app.apply(Action::PrevFinding), Effect::Seek(2_000_000_000));
    }

    #[test]
    fn findings_appear_as_the_position_passes_them() {
        let mut app = replay_app();
        assert!(app.visible_findings().is_empty());
        app.set_position(3_000_000_000);
        let kinds: Vec<_> = app.visible_findings().iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![FindingKind::OfflineRace, FindingKind::JoinStall],
            "newest first"
        );
        app.set_position(20_000_000_000);
        assert_eq!(app.visible_findings().len(), 3);
    }

    #[test]
    fn enter_opens_details_and_jumps_to_evidence() {
        let mut app = replay_app();
        app.set_position(3_000_000_000);
        app.focus = Focus::Findings;
        app.apply(Action::Down);
        assert_eq!(app.selected_finding().unwrap().kind, FindingKind::JoinStall);
        app.apply(Action::Enter);
        assert!(matches!(app.overlay, Overlay::Finding { .. }));
        assert_eq!(app.input_mode(), InputMode::Overlay);
        assert_eq!(app.apply(Action::Enter), Effect::Seek(1_500_000_000));
        assert_eq!(app.overlay, Overlay::None);
        assert_eq!(app.focus, Focus::Events);
        assert_eq!(app.log_anchor, Some(1));
    }

    /// Two sysfs migrations that fail with EIO: each ends unterminated
    /// (H_VASI_STATE failed), so each has a critical finding.
    fn live_app_with_two_migrations() -> App {
        use crate::events::{Comm, TriggerSource};
        let mut app = live_app();
        for (i, t) in [10u64, 1_000].into_iter().enumerate() {
            let ev = |ts: u64, kind: EventKind| Event {
                ts_ns: ts,
                cpu: 0,
                tid: 1,
                kind,
            };
            app.model.push(&ev(
                t,
                EventKind::TriggerEnter {
                    source: TriggerSource::Sysfs,
                    stream_id: Some(i as u64 + 5),
                    comm: Comm::from_text("drmgr"),
                },
            ));
            app.model.push(&ev(
                t + 10,
                EventKind::HcallEnter {
                    opcode: 0x2A4,
                    args: [5, 0, 0],
                },
            ));
            app.model.push(&ev(
                t + 20,
                EventKind::HcallExit {
                    opcode: 0x2A4,
                    retval: -1,
                    retbuf0: None,
                },
            ));
            app.model.push(&ev(
                t + 30,
                EventKind::TriggerExit {
                    source: TriggerSource::Sysfs,
                    ret: -5,
                },
            ));
        }
        app.model.refresh();
        app
    }

    #[test]
    fn enter_opens_the_selected_migration_and_its_findings() {
        let mut app = live_app_with_two_migrations();
        assert_eq!(app.model.report.migrations.len(), 2);
        app.focus = Focus::Migrations;
        // The newest is selected first; down is older, and stops there.
        assert_eq!(app.selected_migration().unwrap().id, 2);
        app.apply(Action::Down);
        app.apply(Action::Down);
        assert_eq!(app.selected_migration().unwrap().id, 1);
        app.apply(Action::Enter);
        assert_eq!(
            app.overlay,
            Overlay::Migration {
                id: 1,
                finding: 0,
                scroll: 0
            }
        );
        app.apply(Action::PageDown);
        assert!(matches!(
            app.overlay,
            Overlay::Migration {
                scroll: 10,
                finding: 0,
                ..
            }
        ));
        assert_eq!(app.input_mode(), InputMode::Overlay);
        let findings = app.migration_findings(1);
        assert!(!findings.is_empty());
        assert!(findings.iter().all(|f| f.migration == Some(1)));
        // Enter on its finding opens that finding; Esc closes.
        app.apply(Action::Enter);
        let Overlay::Finding { key, .. } = &app.overlay else {
            panic!("{:?}", app.overlay)
        };
        assert_eq!(key.migration, Some(1));
        app.apply(Action::Back);
        assert_eq!(app.overlay, Overlay::None);
        // Nothing to open without migrations: a message, no overlay.
        let mut empty = live_app();
        empty.focus = Focus::Migrations;
        empty.apply(Action::Enter);
        assert_eq!(empty.overlay, Overlay::None);
        assert_eq!(empty.status.as_deref(), Some("no migration yet"));
    }

    #[test]
    fn filter_edit_applies_or_cancels() {
        let mut app = live_app();
        app.apply(Action::Filter);
        assert_eq!(app.input_mode(), InputMode::FilterEdit);
        for c in "cpu1 x".chars() {
            app.apply(Action::FilterChar(c));
        }
        app.apply(Action::FilterBackspace);
        app.apply(Action::FilterBackspace);
        app.apply(Action::FilterApply);
        assert_eq!(app.filter.source(), "cpu1");
        assert_eq!(app.focus, Focus::Events);
        app.apply(Action::Filter);
        app.apply(Action::FilterChar('z'));
        app.apply(Action::FilterCancel);
        assert_eq!(app.filter.source(), "cpu1");
        assert_eq!(app.input_mode(), InputMode::Normal);
    }

    #[test]
    fn log_scrolls_among_matches_and_returns_to_the_tail() {
        let mut app = live_app();
        for i in 0..6u64 {
            let ev = Event {
                ts_ns: i,
                cpu: (i % 2) as u32,
                tid: 0,
                kind: EventKind::JoinEnter { path: JoinPath::DoJoin },
            };
            app.model.push(&ev);
        }
        app.set_filter("cpu0");
        app.apply(Action::Up);
        assert_eq!(app.log_anchor, Some(2));
        app.apply(Action::Up);
        app.apply(Action::Up);
        assert_eq!(app.log_anchor, Some(0), "stops at the oldest");
        app.apply(Action::PageDown);
        assert_eq!(app.log_anchor, None, "back to following the tail");
    }

    #[test]
    fn filtering_a_paused_live_log_keeps_it_pinned() {
        let mut app = live_app();
        for i in 0..4u64 {
            let ev = Event {
                ts_ns: i,
                cpu: (i % 2) as u32,
                tid: 0,
                kind: EventKind::JoinEnter { path: JoinPath::DoJoin },
            };
            app.model.push(&ev);
        }
        app.apply(Action::TogglePause);
        assert_eq!(app.log_anchor, Some(3));
        app.model.push(&Event {
            ts_ns: 9,
            cpu: 0,
            tid: 0,
            kind: EventKind::JoinEnter { path: JoinPath::DoJoin },
        });
        app.set_filter("cpu0");
        assert_eq!(app.log_anchor, Some(3), "new events stay below the pause point");
        app.apply(Action::TogglePause);
        app.set_filter("");
        assert_eq!(app.log_anchor, None);
    }

    #[test]
    fn focus_cycles_both_ways() {
        let mut app = live_app();
        app.apply(Action::FocusNext);
        assert_eq!(app.focus, Focus::Findings);
        app.apply(Action::FocusPrev);
        app.apply(Action::FocusPrev);
        assert_eq!(app.focus, Focus::Events);
        app.apply(Action::Help);
        assert_eq!(app.overlay, Overlay::Help);
        app.apply(Action::Close);
        assert_eq!(app.overlay, Overlay::None);
    }

    #[test]
    fn esc_closes_then_clears_the_filter_then_quits() {
        let mut app = replay_app();
        app.overlay = Overlay::Help;
        assert_eq!(app.apply(Action::Back), Effect::None);
        assert_eq!(app.overlay, Overlay::None);
        app.set_filter("cpu1");
        assert_eq!(app.apply(Action::Back), Effect::None, "Esc quit with a filter applied");
        assert!(app.filter.is_empty());
        assert_eq!(app.apply(Action::Back), Effect::Quit);
    }

    #[test]
    fn identical_findings_are_one_row_and_the_most_severe_comes_first() {
        let mut app = replay_app();
        let mut all = Vec::new();
        for i in 0..11u64 {
            let mut f = finding(1_000_000_000 + i, FindingKind::PrematureJoin, vec![]);
            f.variant = Some("storm".into());
            f.migration = Some(1 + (i % 3) as u32);
            all.push(f);
        }
        let mut crit = finding(500_000_000, FindingKind::CancelRejected, vec![]);
        crit.severity = Severity::Critical;
        all.push(crit);
        all.push(finding(9_000_000_000, FindingKind::MigrationFailed, vec![]));
        all.sort_by_key(|f| f.ts_ns);
        app.all_findings = Some(all);
        app.apply(Action::End);
        if let Mode::Replay { clock, .. } = &mut app.mode {
            clock.pos_ns = clock.end_ns;
        }
        let groups: Vec<(FindingKind, usize)> = app.finding_groups().iter().map(|(f, n)| (f.kind, *n)).collect();
        assert_eq!(
            groups,
            vec![
                (FindingKind::CancelRejected, 1),
                (FindingKind::MigrationFailed, 1),
                (FindingKind::PrematureJoin, 11)
            ]
        );
        assert_eq!(app.findings_so_far().len(), 13);
        // A grouped-away member selects its group's row.
        let member = app
            .findings_so_far()
            .into_iter()
            .find(|f| f.ts_ns == 1_000_000_003)
            .unwrap();
        app.finding_sel = Some(FindingKey::of(member));
        assert_eq!(app.selected_finding_index(), Some(2));
    }
}
