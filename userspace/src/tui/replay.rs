//! Replay of a recording: [`open`] reads the file once through the engine
//! (the findings `report` prints, and their evidence events), then the
//! [`ReplayDriver`] feeds the model up to the replay position as the clock
//! runs. Going backwards rewinds the file and feeds the pure engine again
//! from the start.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

use crate::analysis::{Engine, Thresholds};
use crate::record::{FileSource, OpenOptions};
use crate::source::EventSource;

use super::app::{App, ReplayClock};
use super::run::{Driver, Pumped};
use crate::events::Event;

/// Events between deadline checks while feeding.
const CHECK_EVERY: u64 = 4096;

/// Plays a recording into an [`App`].
#[derive(Debug)]
pub struct ReplayDriver {
    source: FileSource,
    peeked: Option<Event>,
    exhausted: bool,
    last_pump: Option<Instant>,
}

/// Opens `path`, analyses it once, and returns the app (positioned at the
/// start, playing at `speed`) and its driver.
pub fn open(path: &Path, salvage: bool, thresholds: Thresholds, speed: f64) -> anyhow::Result<(App, ReplayDriver)> {
    let mut source = FileSource::open(path, OpenOptions { salvage })?;
    let session = source.session().clone();
    let note = source.info().recovery_note();

    // Pass 1: what `report` would say.
    let mut engine = Engine::new(&session, thresholds.clone());
    let (mut first, mut last) = (None, None);
    while let Some(ev) = source.next_event()? {
        first.get_or_insert(ev.ts_ns);
        last = Some(ev.ts_ns);
        engine.push(&ev);
    }
    let report = engine.finish();
    // Pass 2: the evidence events, so details can show and jump to them.
    let wanted: BTreeSet<u64> = report
        .findings
        .iter()
        .flat_map(|f| f.evidence.iter().copied())
        .collect();
    let mut evidence = HashMap::new();
    if !wanted.is_empty() {
        source.rewind();
        let max = *wanted.iter().next_back().unwrap_or(&0);
        let mut pos = 0u64;
        while let Some(ev) = source.next_event()? {
            if wanted.contains(&pos) {
                evidence.insert(pos, ev);
            }
            if pos >= max {
                break;
            }
            pos += 1;
        }
    }
    source.rewind();

    let start = first.unwrap_or(0);
    let clock = ReplayClock {
        speed,
        pos_ns: start,
        start_ns: start,
        end_ns: last.unwrap_or(start),
    };
    let outcomes = report.migrations.iter().map(|m| (m.id, m.outcome)).collect();
    let mut app = App::replay(
        session,
        thresholds,
        path.display().to_string(),
        clock,
        report.findings,
        evidence,
    );
    app.recording_outcomes = Some(outcomes);
    app.status = note.map(|n| format!("{}: {n}", path.display()));
    let mut driver = ReplayDriver {
        source,
        peeked: None,
        exhausted: false,
        last_pump: None,
    };
    driver.seek(&mut app, start)?;
    Ok((app, driver))
}

impl ReplayDriver {
    /// Feeds events with `ts <= target`; stops early at `deadline`.
    /// Returns the time reached and the events fed.
    fn feed_until(&mut self, app: &mut App, target: u64, deadline: Option<Instant>) -> anyhow::Result<(u64, u64)> {
        let mut fed = 0u64;
        loop {
            let ev = match self.peeked.take() {
                Some(e) => e,
                None => match self.source.next_event()? {
                    Some(e) => e,
                    None => {
                        self.exhausted = true;
                        return Ok((target, fed));
                    }
                },
            };
            if ev.ts_ns > target {
                self.peeked = Some(ev);
                return Ok((target, fed));
            }
            app.model.push(&ev);
            fed += 1;
            if fed.is_multiple_of(CHECK_EVERY) && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((ev.ts_ns, fed));
            }
        }
    }

    fn settle(&mut self, app: &mut App, reached: u64) {
        app.set_position(reached);
        let (pos, end) = app.clock().map_or((reached, reached), |c| (c.pos_ns, c.end_ns));
        if pos >= end && self.exhausted {
            // The end: the same closing step as `report`.
            app.model.finish();
        } else {
            app.model.advance_to(pos);
        }
    }
}

impl Driver for ReplayDriver {
    fn pump(&mut self, app: &mut App, deadline: Instant) -> anyhow::Result<Pumped> {
        let now = Instant::now();
        let last = self.last_pump.replace(now);
        let Some(clock) = app.clock().copied() else {
            return Ok(Pumped::default());
        };
        if app.paused || clock.pos_ns >= clock.end_ns && self.exhausted {
            return Ok(Pumped::default());
        }
        let dt = last.map_or(0.0, |l| now.duration_since(l).as_secs_f64());
        let step = (dt * clock.speed * 1e9) as u64;
        let target = clock.pos_ns.saturating_add(step).min(clock.end_ns);
        let (reached, events) = self.feed_until(app, target, Some(deadline))?;
        self.settle(app, reached);
        Ok(Pumped {
            events,
            backlog: reached < target,
        })
    }

    fn seek(&mut self, app: &mut App, ts_ns: u64) -> anyhow::Result<()> {
        let Some(clock) = app.clock().copied() else {
            return Ok(());
        };
        let target = ts_ns.clamp(clock.start_ns, clock.end_ns);
        if target < clock.pos_ns || app.model.is_finished() && target < clock.end_ns || app.model.events == 0 {
            app.model.reset();
            self.source.rewind();
            self.peeked = None;
            self.exhausted = false;
        }
        let (reached, _) = self.feed_until(app, target, None)?;
        if target >= clock.end_ns && !self.exhausted {
            // Read past the last event so the end is known for sure.
            self.feed_until(app, u64::MAX, None)?;
        }
        self.settle(app, reached);
        self.last_pump = Some(Instant::now());
        Ok(())
    }
}
