//! Live mode plumbing: the capture side is a [`ChannelSink`] that batches
//! events (and records them when asked) into a bounded channel; the UI
//! side is a [`LiveDriver`] that drains the channel into the model, at most
//! [`MAX_EVENTS_PER_PUMP`] events or one budget per turn.
//!
//! Nothing is ever dropped between the two: when the UI falls behind, the
//! bounded channel blocks the capture's sink, the kernel ring buffer takes
//! up the slack, and drops there are counted by the kernel and shown as
//! lost events. Memory stays bounded by the channel size.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use crate::capture::Sink;
use crate::events::Event;
use crate::record::Writer;

use super::app::App;
use super::run::{Driver, Pumped};

/// Events per channel message.
pub const BATCH: usize = 1024;
/// Messages the channel holds (about a quarter million events).
pub const CHANNEL_DEPTH: usize = 256;
/// Most events one pump takes in.
pub const MAX_EVENTS_PER_PUMP: u64 = 500_000;

/// What the capture sends to the UI.
#[derive(Debug)]
pub enum Feed {
    /// Events in time order.
    Events(Vec<Event>),
    /// The kernel clock now (moves the analysis clock while it is quiet,
    /// so stalls are seen while they last).
    Now(u64),
    /// The capture stopped, and why.
    Ended(String),
}

/// The capture's end of the channel (plus the optional recording).
#[derive(Debug)]
pub struct ChannelSink {
    tx: SyncSender<Feed>,
    batch: Vec<Event>,
    /// The `--record` file, written with every event.
    pub record: Option<Writer>,
    /// `--metrics`: the feed and the analysis it reads.
    pub metrics: Option<(crate::metrics::Feed, crate::watch::Watch)>,
    stop: Arc<AtomicBool>,
}

impl ChannelSink {
    /// A sink sending to `tx`; `stop` set (by the UI quitting) ends the
    /// capture at the next tick.
    pub fn new(tx: SyncSender<Feed>, record: Option<Writer>, stop: Arc<AtomicBool>) -> Self {
        ChannelSink {
            tx,
            batch: Vec::with_capacity(BATCH),
            record,
            metrics: None,
            stop,
        }
    }

    fn send(&mut self, feed: Feed) {
        // Blocks while the channel is full: back-pressure, not loss. An
        // error means the UI has gone; the capture stops at the next tick.
        if self.tx.send(feed).is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn flush_batch(&mut self) {
        if !self.batch.is_empty() && !self.stop.load(Ordering::Relaxed) {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            self.send(Feed::Events(batch));
        }
    }

    /// Tells the UI the capture ended (best effort: the UI may be gone).
    pub fn end(&mut self, why: String) {
        self.flush_batch();
        let _ = self.tx.try_send(Feed::Ended(why));
    }
}

impl Sink for ChannelSink {
    fn event(&mut self, event: &Event) -> anyhow::Result<()> {
        if let Some(w) = &mut self.record {
            w.push(event)?;
        }
        if let Some((feed, watch)) = &mut self.metrics {
            feed.event(event);
            watch.push(event);
        }
        self.batch.push(*event);
        if self.batch.len() >= BATCH {
            self.flush_batch();
        }
        Ok(())
    }

    fn tick(&mut self, now_ns: u64) -> anyhow::Result<bool> {
        if let Some(w) = &mut self.record {
            w.flush_due(Instant::now())?;
        }
        if let Some((feed, watch)) = &mut self.metrics {
            watch.tick(now_ns);
            feed.publish(watch.engine(), false);
        }
        self.flush_batch();
        if !self.stop.load(Ordering::Relaxed) {
            self.send(Feed::Now(now_ns));
        }
        Ok(!self.stop.load(Ordering::Relaxed))
    }
}

/// The UI's end of the channel.
#[derive(Debug)]
pub struct LiveDriver {
    rx: Receiver<Feed>,
    pending: Option<(Vec<Event>, usize)>,
    gone: bool,
}

impl LiveDriver {
    /// Drains `rx`.
    pub fn new(rx: Receiver<Feed>) -> Self {
        LiveDriver {
            rx,
            pending: None,
            gone: false,
        }
    }
}

impl Driver for LiveDriver {
    fn pump(&mut self, app: &mut App, deadline: Instant) -> anyhow::Result<Pumped> {
        let mut taken = 0u64;
        loop {
            if let Some((batch, mut i)) = self.pending.take() {
                while i < batch.len() {
                    app.model.push(&batch[i]);
                    i += 1;
                    taken += 1;
                    if taken >= MAX_EVENTS_PER_PUMP || (taken.is_multiple_of(4096) && Instant::now() >= deadline) {
                        if i < batch.len() {
                            self.pending = Some((batch, i));
                        }
                        return Ok(Pumped {
                            events: taken,
                            backlog: true,
                        });
                    }
                }
            }
            // Some progress is always made, however late the turn.
            if taken >= MAX_EVENTS_PER_PUMP || (taken > 0 && Instant::now() >= deadline) {
                return Ok(Pumped {
                    events: taken,
                    backlog: true,
                });
            }
            match self.rx.try_recv() {
                Ok(Feed::Events(batch)) => self.pending = Some((batch, 0)),
                Ok(Feed::Now(now)) => app.model.advance_to(now),
                Ok(Feed::Ended(why)) => app.capture_ended(why),
                Err(TryRecvError::Empty) => {
                    return Ok(Pumped {
                        events: taken,
                        backlog: false,
                    })
                }
                Err(TryRecvError::Disconnected) => {
                    if !self.gone {
                        self.gone = true;
                        if matches!(app.mode, super::app::Mode::Live { ended: None }) {
                            app.capture_ended("stopped".into());
                        }
                    }
                    return Ok(Pumped {
                        events: taken,
                        backlog: false,
                    });
                }
            }
        }
    }

    fn seek(&mut self, _app: &mut App, _ts_ns: u64) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Thresholds;
    use crate::events::session::{KernelGeneration, SessionInfo};
    use crate::events::{EventKind, JoinPath};

    fn join(ts: u64) -> Event {
        Event {
            ts_ns: ts,
            cpu: 0,
            tid: 1,
            kind: EventKind::JoinEnter { path: JoinPath::DoJoin },
        }
    }

    #[test]
    fn every_event_reaches_the_model_in_order() {
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_DEPTH);
        let stop = Arc::new(AtomicBool::new(false));
        let mut sink = ChannelSink::new(tx, None, stop.clone());
        let n = 3 * BATCH as u64 + 7;
        for i in 0..n {
            sink.event(&join(i)).unwrap();
        }
        assert!(sink.tick(n + 100).unwrap());
        sink.end("done".into());
        drop(sink);
        let session = SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath);
        let mut app = App::live(session, Thresholds::default());
        let mut driver = LiveDriver::new(rx);
        let far = Instant::now() + std::time::Duration::from_secs(5);
        let p = driver.pump(&mut app, far).unwrap();
        assert_eq!(p.events, n);
        assert!(!p.backlog);
        assert_eq!(app.model.events, n);
        assert_eq!(app.model.now_ns, n + 100, "the tick moved the clock");
        assert_eq!(app.model.log.last_pos(), Some(n - 1));
        assert!(matches!(&app.mode, crate::tui::app::Mode::Live { ended: Some(w) } if w == "done"));
    }

    #[test]
    fn a_spent_budget_leaves_the_rest_for_the_next_turn() {
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_DEPTH);
        tx.send(Feed::Events((0..10_000).map(join).collect())).unwrap();
        let session = SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath);
        let mut app = App::live(session, Thresholds::default());
        let mut driver = LiveDriver::new(rx);
        // A deadline in the past: one check interval is taken, no more.
        let p = driver.pump(&mut app, Instant::now()).unwrap();
        assert!(p.backlog);
        assert_eq!(p.events, 4096);
        let p = driver
            .pump(&mut app, Instant::now() + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(app.model.events, 10_000, "nothing dropped: {p:?}");
    }

    #[test]
    fn the_ui_going_away_stops_the_capture() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        drop(rx);
        let stop = Arc::new(AtomicBool::new(false));
        let mut sink = ChannelSink::new(tx, None, stop.clone());
        sink.event(&join(1)).unwrap();
        assert!(!sink.tick(2).unwrap());
        assert!(stop.load(Ordering::Relaxed));
    }
}
