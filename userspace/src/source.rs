//! One ordered event stream, whatever its origin: the live ring buffer, a
//! recording, or a scenario. Everything downstream (analysis, TUI, report,
//! dump) reads an [`EventSource`], so live and post-mortem share one path.

pub mod reorder;

use crate::events::{session::SessionInfo, Event};

/// Why a source could not deliver the next event.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The recording is unreadable at some point (see the message: it names
    /// the file, block and byte offset).
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    /// Any other failure, with its context.
    #[error("{0}")]
    Other(String),
}

/// A time-ordered stream of events plus the session they belong to.
pub trait EventSource {
    /// Host, kernel, probe coverage and names for interpreting the events.
    fn session(&self) -> &SessionInfo;

    /// The next event in time order, `Ok(None)` at the end.
    fn next_event(&mut self) -> Result<Option<Event>, SourceError>;

    /// How far through its input the source is, as (bytes consumed, total
    /// bytes), for a progress bar; `None` when that has no meaning (live
    /// capture, in-memory sources).
    fn progress(&self) -> Option<(u64, u64)> {
        None
    }
}

/// An in-memory source (scenarios, tests, fixtures).
pub struct VecSource {
    session: SessionInfo,
    events: std::vec::IntoIter<Event>,
}

impl VecSource {
    /// Wraps events that are already in time order.
    pub fn new(session: SessionInfo, events: Vec<Event>) -> Self {
        VecSource {
            session,
            events: events.into_iter(),
        }
    }
}

impl EventSource for VecSource {
    fn session(&self) -> &SessionInfo {
        &self.session
    }

    fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        Ok(self.events.next())
    }
}
