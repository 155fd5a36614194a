//! Restores time order across CPUs.
//!
//! The BPF ring buffer is one shared queue, but records are committed in
//! reservation order, and a producer may be delayed between taking its
//! timestamp and reserving (an interrupt, an NMI, a slow probe read). So
//! records from different CPUs arrive slightly out of order. This buffer
//! holds events for a bounded window and releases them sorted: an event is
//! released once the newest timestamp seen is more than `window_ns` ahead of
//! it. An event that arrives older than the last released one (later than the
//! window allows) is released immediately and counted in
//! [`ReorderBuffer::late`], never dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::events::Event;

/// Default reorder window: 20 ms, far above the few microseconds between
/// `bpf_ktime_get_*` and `bpf_ringbuf_reserve` seen in practice, and below
/// what a live view notices.
pub const DEFAULT_WINDOW_NS: u64 = 20_000_000;

#[derive(PartialEq, Eq)]
struct Keyed {
    ts_ns: u64,
    seq: u64,
    event: EventOrd,
}

#[derive(PartialEq, Eq)]
struct EventOrd(Event);

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ts_ns, self.seq).cmp(&(other.ts_ns, other.seq))
    }
}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A bounded-window sorter for events.
pub struct ReorderBuffer {
    window_ns: u64,
    heap: BinaryHeap<Reverse<Keyed>>,
    newest_ns: u64,
    released_ns: u64,
    seq: u64,
    late: u64,
}

impl ReorderBuffer {
    /// A buffer that holds events for `window_ns`.
    pub fn new(window_ns: u64) -> Self {
        ReorderBuffer {
            window_ns,
            heap: BinaryHeap::new(),
            newest_ns: 0,
            released_ns: 0,
            seq: 0,
            late: 0,
        }
    }

    /// Adds an event; sorted events that left the window go to `out`.
    pub fn push(&mut self, event: Event, out: &mut impl FnMut(Event)) {
        if event.ts_ns < self.released_ns {
            // Too late to sort in: release as is and count it.
            self.late += 1;
            out(event);
            return;
        }
        self.newest_ns = self.newest_ns.max(event.ts_ns);
        self.seq += 1;
        self.heap.push(Reverse(Keyed {
            ts_ns: event.ts_ns,
            seq: self.seq,
            event: EventOrd(event),
        }));
        let horizon = self.newest_ns.saturating_sub(self.window_ns);
        self.release_until(horizon, out);
    }

    /// Releases everything older than `ts_ns` (e.g. wall-clock progress when
    /// no events arrive).
    pub fn release_until(&mut self, ts_ns: u64, out: &mut impl FnMut(Event)) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.ts_ns > ts_ns {
                break;
            }
            let Reverse(k) = self.heap.pop().expect("peeked");
            self.released_ns = k.ts_ns;
            out(k.event.0);
        }
    }

    /// Releases everything (end of stream).
    pub fn drain(&mut self, out: &mut impl FnMut(Event)) {
        self.release_until(u64::MAX, out);
    }

    /// Events that arrived after the window had passed them.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Events currently held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventKind, IpiHandleVia};

    fn ev(ts: u64) -> Event {
        Event {
            ts_ns: ts,
            cpu: 0,
            tid: 0,
            kind: EventKind::IpiHandleEnter {
                func: 0,
                via: IpiHandleVia::CsdFunction,
            },
        }
    }

    #[test]
    fn sorts_within_window_and_counts_late() {
        let mut rb = ReorderBuffer::new(100);
        let mut out = Vec::new();
        for ts in [10, 5, 30, 20, 200, 150, 400] {
            rb.push(ev(ts), &mut |e| out.push(e.ts_ns));
        }
        // 400 arrives: everything <= 300 released in order.
        assert_eq!(out, vec![5, 10, 20, 30, 150, 200]);
        rb.push(ev(100), &mut |e| out.push(e.ts_ns)); // older than released 200
        assert_eq!(rb.late(), 1);
        rb.drain(&mut |e| out.push(e.ts_ns));
        assert_eq!(out, vec![5, 10, 20, 30, 150, 200, 100, 400]);
    }
}
