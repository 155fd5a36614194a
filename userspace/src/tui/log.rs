//! The event log behind the Event log pane: a bounded ring of the newest
//! events with their stream positions, and the `/` filter.
//!
//! Invariants: the ring never holds more than its capacity (memory stays
//! bounded under any event rate); positions are the 0-based stream indices
//! the analysis uses as evidence, ascending in the ring.

use std::collections::VecDeque;

use crate::events::{session::SessionInfo, Event, EventKind, PROBE_NAMES};
use crate::views::event_line::{write_event, LineClock, LineFormat};

/// Events kept for the log pane.
pub const LOG_CAPACITY: usize = 20_000;
/// A text filter formats lines to search them; it looks at most this many
/// of the newest entries per frame so a frame stays cheap.
pub const TEXT_SCAN_LIMIT: usize = 5_000;

/// One logged event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Stream position (0-based index among all events of the session).
    pub pos: u64,
    /// The event.
    pub event: Event,
}

/// The newest events, bounded.
#[derive(Clone, Debug)]
pub struct EventLog {
    entries: VecDeque<LogEntry>,
    capacity: usize,
}

impl EventLog {
    /// An empty log keeping at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        EventLog {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    /// Appends an event, forgetting the oldest when full.
    pub fn push(&mut self, pos: u64, event: Event) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(LogEntry { pos, event });
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Oldest to newest.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The entry at stream position `pos`, when still held.
    pub fn get(&self, pos: u64) -> Option<&LogEntry> {
        let first = self.entries.front()?.pos;
        if pos < first {
            return None;
        }
        // Positions are consecutive in the ring, except after a reset
        // mid-way; fall back to a search when the guess misses.
        match self.entries.get((pos - first) as usize) {
            Some(e) if e.pos == pos => Some(e),
            _ => self
                .entries
                .binary_search_by_key(&pos, |e| e.pos)
                .ok()
                .map(|i| &self.entries[i]),
        }
    }

    /// Position of the newest entry.
    pub fn last_pos(&self) -> Option<u64> {
        self.entries.back().map(|e| e.pos)
    }

    /// Up to `count` matching entries ending at `anchor` (the newest when
    /// `None`), oldest first. Text filters look at [`TEXT_SCAN_LIMIT`]
    /// entries at most.
    pub fn window(
        &self,
        filter: &LogFilter,
        session: &SessionInfo,
        anchor: Option<u64>,
        count: usize,
    ) -> Vec<&LogEntry> {
        let mut out = Vec::with_capacity(count);
        let mut scanned = 0usize;
        for e in self.entries.iter().rev() {
            if anchor.is_some_and(|a| e.pos > a) {
                continue;
            }
            if out.len() == count {
                break;
            }
            if filter.has_text() {
                scanned += 1;
                if scanned > TEXT_SCAN_LIMIT {
                    break;
                }
            }
            if filter.matches(&e.event, session) {
                out.push(e);
            }
        }
        out.reverse();
        out
    }

    /// The matching entry next to `pos`: older (`newer == false`) or newer.
    pub fn neighbour(&self, filter: &LogFilter, session: &SessionInfo, pos: u64, newer: bool) -> Option<u64> {
        if newer {
            self.entries
                .iter()
                .filter(|e| e.pos > pos)
                .find(|e| filter.matches(&e.event, session))
                .map(|e| e.pos)
        } else {
            self.entries
                .iter()
                .rev()
                .filter(|e| e.pos < pos)
                .find(|e| filter.matches(&e.event, session))
                .map(|e| e.pos)
        }
    }

    /// The newest matching entry.
    pub fn newest_match(&self, filter: &LogFilter, session: &SessionInfo) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| filter.matches(&e.event, session))
            .map(|e| e.pos)
    }

    /// The oldest matching entry.
    pub fn oldest_match(&self, filter: &LogFilter, session: &SessionInfo) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| filter.matches(&e.event, session))
            .map(|e| e.pos)
    }
}

/// The text line of an event (what `dump` prints, without its boot time
/// column), timed from `base_ns`, without the newline.
pub fn line_text(event: &Event, session: &SessionInfo, base_ns: u64) -> String {
    let mut buf = Vec::with_capacity(160);
    let clock = LineClock { base_ns, boot: false };
    // Writing to a Vec cannot fail.
    let _ = write_event(&mut buf, event, session, LineFormat::Text, clock);
    while buf.last() == Some(&b'\n') {
        buf.pop();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The CPU an event is about, besides the one it fired on.
fn target_cpu(kind: &EventKind) -> Option<u32> {
    match *kind {
        EventKind::HotplugEnter { target_cpu, .. }
        | EventKind::HotplugExit { target_cpu, .. }
        | EventKind::CpuOnline { target_cpu, .. }
        | EventKind::IpiSend { target_cpu, .. } => Some(target_cpu),
        EventKind::CpuDownEnter { target_cpu, .. } => target_cpu,
        _ => None,
    }
}

/// The event-log filter typed after `/`: whitespace-separated terms, all
/// of which must match.
///
/// - `cpu3` or `cpu=3`: the event fired on CPU 3 or is about it (hotplug
///   target, IPI target); several CPU terms match any of them.
/// - a probe name (`ipi.send`) or family (`ipi`, `lpm`, `cpu`): that probe;
///   several probe terms match any of them.
/// - anything else: case-insensitive text of the event line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    source: String,
    cpus: Vec<u32>,
    probes: Vec<String>,
    text: Vec<String>,
}

impl LogFilter {
    /// Parses the typed filter (empty text: everything matches).
    pub fn parse(text: &str) -> Self {
        let mut f = LogFilter {
            source: text.trim().to_string(),
            ..LogFilter::default()
        };
        for term in text.split_whitespace() {
            let lower = term.to_ascii_lowercase();
            let cpu = lower
                .strip_prefix("cpu=")
                .or_else(|| lower.strip_prefix("cpu"))
                .and_then(|n| n.parse().ok());
            if let Some(cpu) = cpu {
                f.cpus.push(cpu);
            } else if PROBE_NAMES
                .iter()
                .any(|p| *p == lower || p.split('.').next() == Some(lower.as_str()))
            {
                f.probes.push(lower);
            } else {
                f.text.push(lower);
            }
        }
        f
    }

    /// The text the filter was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_empty() && self.probes.is_empty() && self.text.is_empty()
    }

    /// True when the filter searches line text (costly: formats lines).
    pub fn has_text(&self) -> bool {
        !self.text.is_empty()
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Event, session: &SessionInfo) -> bool {
        if !self.cpus.is_empty()
            && !self
                .cpus
                .iter()
                .any(|&c| c == event.cpu || target_cpu(&event.kind) == Some(c))
        {
            return false;
        }
        if !self.probes.is_empty() {
            let probe = event.kind.probe();
            let family = probe.split('.').next().unwrap_or(probe);
            if !self.probes.iter().any(|p| p == probe || p == family) {
                return false;
            }
        }
        if self.text.is_empty() {
            return true;
        }
        // The fields, not the time: a filter text matches what an event
        // says (times are chosen with the clock keys).
        let line = line_text(event, session, event.ts_ns).to_ascii_lowercase();
        self.text.iter().all(|t| line.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::session::KernelGeneration;
    use crate::events::{IpiSendVia, JoinPath};

    fn ev(pos: u64, cpu: u32, kind: EventKind) -> (u64, Event) {
        (
            pos,
            Event {
                ts_ns: 1_000 + pos,
                cpu,
                tid: 1,
                kind,
            },
        )
    }

    fn session() -> SessionInfo {
        SessionInfo::synthetic("ppc64le", 8, KernelGeneration::NewPath)
    }

    #[test]
    fn ring_is_bounded_and_finds_by_position() {
        let mut log = EventLog::new(3);
        for i in 0..5 {
            let (p, e) = ev(i, 0, EventKind::JoinEnter { path: JoinPath::DoJoin });
            log.push(p, e);
        }
        assert_eq!(log.len(), 3);
        assert!(log.get(1).is_none());
        assert_eq!(log.get(3).unwrap().pos, 3);
        assert_eq!(log.last_pos(), Some(4));
    }

    #[test]
    fn filter_by_cpu_probe_family_and_text() {
        let s = session();
        let send = ev(
            0,
            0,
            EventKind::IpiSend {
                target_cpu: 3,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        )
        .1;
        let join = ev(1, 2, EventKind::JoinEnter { path: JoinPath::DoJoin }).1;
        assert!(LogFilter::parse("cpu3").matches(&send, &s), "the IPI target counts");
        assert!(!LogFilter::parse("cpu=3").matches(&join, &s));
        assert!(LogFilter::parse("ipi").matches(&send, &s));
        assert!(LogFilter::parse("ipi.send").matches(&send, &s));
        assert!(!LogFilter::parse("ipi").matches(&join, &s));
        assert!(LogFilter::parse("do-join").matches(&join, &s));
        assert!(!LogFilter::parse("lpm nothing-like-this").matches(&join, &s));
        assert!(LogFilter::parse("cpu2 cpu3").matches(&join, &s));
        assert!(LogFilter::parse("  ").is_empty());
    }

    #[test]
    fn window_and_neighbours_follow_the_filter() {
        let s = session();
        let mut log = EventLog::new(100);
        for i in 0..10 {
            let (p, e) = ev(i, (i % 2) as u32, EventKind::JoinEnter { path: JoinPath::DoJoin });
            log.push(p, e);
        }
        let odd = LogFilter::parse("cpu1");
        let w: Vec<u64> = log.window(&odd, &s, None, 3).iter().map(|e| e.pos).collect();
        assert_eq!(w, vec![5, 7, 9]);
        let w: Vec<u64> = log.window(&odd, &s, Some(6), 2).iter().map(|e| e.pos).collect();
        assert_eq!(w, vec![3, 5]);
        assert_eq!(log.neighbour(&odd, &s, 5, false), Some(3));
        assert_eq!(log.neighbour(&odd, &s, 5, true), Some(7));
        assert_eq!(log.neighbour(&odd, &s, 9, true), None);
        assert_eq!(log.oldest_match(&odd, &s), Some(1));
    }
}
