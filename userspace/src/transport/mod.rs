//! Transport: draining the BPF ring buffer into decoded events, and
//! accounting for every record that did not make it.
//!
//! Loss accounting: the eBPF side counts failed reservations per CPU in the
//! `LOST` map (ebpf/lpmtrace-ebpf/src/emit.rs); [`LossLedger`] polls it at
//! every tick and after detaching, and turns growth into `Lost` events
//! (CPU, count, time window) in the stream, so every drop is accounted for
//! and a replay knows where data is missing.
//!
//! IPI tally: outside the IPI window the eBPF side counts IPIs per CPU in
//! `IPI_TALLY` instead of writing a record each; [`TallyLedger`] turns the
//! counts' growth into `IpiTally` events at the same polls, so totals per
//! CPU stay exact while an application's IPI storm costs no ring traffic.

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::Pod;
use lpmtrace_common::{IpiTally, LostState};

use crate::events::{decode::decode, Event, EventKind};

/// Counts of what the reader saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Records decoded into events.
    pub events: u64,
    /// Records that failed to decode (a mismatch between object and reader).
    pub undecodable: u64,
}

/// Drains the ring buffer and decodes its records.
pub struct RingReader {
    ring: RingBuf<MapData>,
    stats: TransportStats,
}

impl RingReader {
    /// Wraps the `EVENTS` ring buffer.
    pub fn new(ring: RingBuf<MapData>) -> Self {
        RingReader {
            ring,
            stats: TransportStats::default(),
        }
    }

    /// The ring buffer's fd, for readiness polling.
    pub fn ring(&self) -> &RingBuf<MapData> {
        &self.ring
    }

    /// Decodes every record available now; returns how many were read.
    /// Only for the final drain after detaching: while probes are attached a
    /// flood can refill the ring as fast as it is read, so live reads use
    /// [`Self::drain_some`].
    pub fn drain(&mut self, out: &mut impl FnMut(Event)) -> usize {
        self.drain_some(usize::MAX, out)
    }

    /// Decodes at most `max` records; returns how many were read (`max`
    /// means there may be more).
    pub fn drain_some(&mut self, max: usize, out: &mut impl FnMut(Event)) -> usize {
        let mut n = 0;
        while n < max {
            let Some(item) = self.ring.next() else { break };
            n += 1;
            match decode(&item) {
                Ok(event) => {
                    self.stats.events += 1;
                    out(event);
                }
                Err(e) => {
                    self.stats.undecodable += 1;
                    log::warn!("undecodable ring-buffer record: {e}");
                }
            }
        }
        n
    }

    /// What the reader saw so far.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }
}

/// Turns the growth of the per-CPU `LOST` totals into `Lost` events.
pub struct LossLedger {
    map: PerCpuArray<MapData, LostState>,
    seen: Vec<u64>,
    last_poll_ns: u64,
}

impl LossLedger {
    /// Wraps the `LOST` map; `start_ns` is when the probes were attached.
    pub fn new(map: PerCpuArray<MapData, LostState>, start_ns: u64) -> Self {
        LossLedger {
            map,
            seen: Vec::new(),
            last_poll_ns: start_ns,
        }
    }

    /// Per-CPU states as the kernel sees them now.
    pub fn read(&self) -> Vec<LostState> {
        per_cpu_values(&self.map, "LOST")
    }

    /// Total drops reported so far.
    pub fn reported(&self) -> u64 {
        self.seen.iter().sum()
    }

    /// `Lost` events for drops counted since the last poll, one per CPU that
    /// dropped, stamped `now_ns`; the window runs from the previous poll to
    /// the CPU's last drop.
    pub fn poll(&mut self, now_ns: u64) -> Vec<Event> {
        let states = self.read();
        if self.seen.len() < states.len() {
            self.seen.resize(states.len(), 0);
        }
        let mut out = Vec::new();
        for (cpu, st) in states.iter().enumerate() {
            let grown = st.total.saturating_sub(self.seen[cpu]);
            if grown > 0 {
                self.seen[cpu] = st.total;
                let last = st.last_ts_ns.clamp(self.last_poll_ns, now_ns.max(self.last_poll_ns));
                out.push(Event {
                    ts_ns: now_ns,
                    cpu: cpu as u32,
                    tid: 0,
                    kind: EventKind::Lost {
                        count: grown,
                        first_ts_ns: self.last_poll_ns,
                        last_ts_ns: last,
                    },
                });
            }
        }
        self.last_poll_ns = now_ns;
        out
    }
}

/// Turns the growth of the per-CPU `IPI_TALLY` counts into `IpiTally`
/// events.
pub struct TallyLedger {
    map: PerCpuArray<MapData, IpiTally>,
    seen: Vec<IpiTally>,
}

impl TallyLedger {
    /// Wraps the `IPI_TALLY` map.
    pub fn new(map: PerCpuArray<MapData, IpiTally>) -> Self {
        TallyLedger { map, seen: Vec::new() }
    }

    /// `IpiTally` events for IPIs counted since the last poll, one per CPU
    /// whose counts grew, stamped `now_ns`.
    pub fn poll(&mut self, now_ns: u64) -> Vec<Event> {
        let counts = per_cpu_values(&self.map, "IPI_TALLY");
        tally_events(&mut self.seen, &counts, now_ns)
    }
}

/// Entry 0 of a per-CPU array, one value per CPU; empty (and a warning)
/// when the map cannot be read, so a poll then reports nothing new.
fn per_cpu_values<T: Pod>(map: &PerCpuArray<MapData, T>, name: &str) -> Vec<T> {
    match map.get(&0, 0) {
        Ok(values) => values.iter().copied().collect(),
        Err(e) => {
            log::warn!("reading the {name} map failed: {e}");
            Vec::new()
        }
    }
}

/// The growth of `counts` over `seen` as events (and `seen` updated).
fn tally_events(seen: &mut Vec<IpiTally>, counts: &[IpiTally], now_ns: u64) -> Vec<Event> {
    if seen.len() < counts.len() {
        seen.resize(counts.len(), IpiTally::default());
    }
    let mut out = Vec::new();
    for (cpu, (now, before)) in counts.iter().zip(seen.iter_mut()).enumerate() {
        let sent = now.sent.saturating_sub(before.sent);
        let handled = now.handled.saturating_sub(before.handled);
        if sent > 0 || handled > 0 {
            *before = *now;
            out.push(Event {
                ts_ns: now_ns,
                cpu: cpu as u32,
                tid: 0,
                kind: EventKind::IpiTally { sent, handled },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sent: u64, handled: u64) -> IpiTally {
        IpiTally { sent, handled }
    }

    #[test]
    fn tally_reports_growth_once_per_cpu() {
        let mut seen = Vec::new();
        let first = tally_events(&mut seen, &[t(3, 0), t(0, 0), t(0, 5)], 100);
        let kinds: Vec<_> = first.iter().map(|e| (e.cpu, e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (0, EventKind::IpiTally { sent: 3, handled: 0 }),
                (2, EventKind::IpiTally { sent: 0, handled: 5 })
            ]
        );
        assert!(first.iter().all(|e| e.ts_ns == 100 && e.tid == 0));
        // Unchanged counts say nothing; growth is the difference.
        assert!(tally_events(&mut seen, &[t(3, 0), t(0, 0), t(0, 5)], 200).is_empty());
        let again = tally_events(&mut seen, &[t(10, 1), t(0, 0), t(0, 5)], 300);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].kind, EventKind::IpiTally { sent: 7, handled: 1 });
    }
}
