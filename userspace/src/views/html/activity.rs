//! What the CPU lanes of the HTML page draw besides the analysis: when
//! each CPU was offline, how busy it was with IPIs, and where events were
//! lost. Pure and streaming, with bounded memory: offline intervals are
//! few (one per hotplug cycle), and IPI counts live in time buckets whose
//! width doubles whenever there are more than [`MAX_BUCKETS`] of them.

use std::collections::BTreeMap;

use crate::events::{Event, EventKind};

/// Most IPI buckets kept (all CPUs together).
pub const MAX_BUCKETS: usize = 50_000;
/// Starting bucket width: 1 ms (a join lasts milliseconds).
pub const FIRST_BUCKET_NS: u64 = 1_000_000;

/// A time interval; `end_ns` None: still open at the end of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Start.
    pub start_ns: u64,
    /// End.
    pub end_ns: Option<u64>,
}

/// Dropped records reported on one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loss {
    /// CPU.
    pub cpu: u32,
    /// First drop.
    pub first_ts_ns: u64,
    /// Last drop.
    pub last_ts_ns: u64,
    /// Records dropped.
    pub count: u64,
}

/// Per-CPU activity of one stream.
#[derive(Clone, Debug)]
pub struct CpuActivity {
    offline: BTreeMap<u32, Vec<Interval>>,
    ipis: BTreeMap<(u32, u64), u32>,
    bucket_ns: u64,
    /// Loss reports, in stream order.
    pub losses: Vec<Loss>,
    /// CPUs seen (firing or as a target).
    pub cpus: std::collections::BTreeSet<u32>,
    /// First event time.
    pub first_ts_ns: Option<u64>,
    /// Last event time.
    pub last_ts_ns: Option<u64>,
}

impl Default for CpuActivity {
    fn default() -> Self {
        CpuActivity {
            offline: BTreeMap::new(),
            ipis: BTreeMap::new(),
            bucket_ns: FIRST_BUCKET_NS,
            losses: Vec::new(),
            cpus: Default::default(),
            first_ts_ns: None,
            last_ts_ns: None,
        }
    }
}

impl CpuActivity {
    /// Takes the next event.
    pub fn push(&mut self, ev: &Event) {
        self.first_ts_ns.get_or_insert(ev.ts_ns);
        self.last_ts_ns = Some(self.last_ts_ns.map_or(ev.ts_ns, |l| l.max(ev.ts_ns)));
        self.cpus.insert(ev.cpu);
        match ev.kind {
            EventKind::CpuOnline { target_cpu, online, .. } => {
                self.cpus.insert(target_cpu);
                let first = self.first_ts_ns.unwrap_or(ev.ts_ns);
                let list = self.offline.entry(target_cpu).or_default();
                let open = list.last().is_some_and(|i| i.end_ns.is_none());
                match (online, open) {
                    (false, false) => list.push(Interval {
                        start_ns: ev.ts_ns,
                        end_ns: None,
                    }),
                    (true, true) => {
                        if let Some(i) = list.last_mut() {
                            i.end_ns = Some(ev.ts_ns);
                        }
                    }
                    // Came online without having been seen going offline:
                    // it was offline since before the recording.
                    (true, false) if list.is_empty() => list.push(Interval {
                        start_ns: first,
                        end_ns: Some(ev.ts_ns),
                    }),
                    _ => {}
                }
            }
            EventKind::IpiSend { .. } | EventKind::IpiSendMask { .. } | EventKind::IpiHandleEnter { .. } => {
                self.add_ipis(ev, 1)
            }
            EventKind::IpiTally { sent, handled } => self.add_ipis(ev, sent.saturating_add(handled)),
            EventKind::Lost {
                count,
                first_ts_ns,
                last_ts_ns,
            } => self.losses.push(Loss {
                cpu: ev.cpu,
                first_ts_ns: first_ts_ns.min(last_ts_ns),
                last_ts_ns: last_ts_ns.max(first_ts_ns),
                count,
            }),
            _ => {}
        }
    }

    /// Adds `n` IPIs to the bucket of `ev`'s CPU and time.
    fn add_ipis(&mut self, ev: &Event, n: u64) {
        let key = (ev.cpu, ev.ts_ns / self.bucket_ns);
        let slot = self.ipis.entry(key).or_default();
        *slot = slot.saturating_add(n.min(u32::MAX as u64) as u32);
        if self.ipis.len() > MAX_BUCKETS {
            self.coarsen();
        }
    }

    fn coarsen(&mut self) {
        self.bucket_ns *= 2;
        let old = std::mem::take(&mut self.ipis);
        for ((cpu, b), n) in old {
            let e = self.ipis.entry((cpu, b / 2)).or_default();
            *e = e.saturating_add(n);
        }
    }

    /// Offline intervals of a CPU.
    pub fn offline(&self, cpu: u32) -> &[Interval] {
        self.offline.get(&cpu).map_or(&[], Vec::as_slice)
    }

    /// IPI counts of a CPU as (bucket start, width, count) within [from, to).
    pub fn ipis(&self, cpu: u32, from_ns: u64, to_ns: u64) -> impl Iterator<Item = (u64, u64, u32)> + '_ {
        let w = self.bucket_ns;
        self.ipis
            .range((cpu, from_ns / w)..(cpu, to_ns / w + 1))
            .map(move |(&(_, b), &n)| (b * w, w, n))
    }

    /// Current bucket width.
    pub fn bucket_ns(&self) -> u64 {
        self.bucket_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{IpiSendVia, OnlineVia};

    fn ev(ts_ns: u64, cpu: u32, kind: EventKind) -> Event {
        Event {
            ts_ns,
            cpu,
            tid: 1,
            kind,
        }
    }

    #[test]
    fn offline_intervals_and_bounded_ipi_buckets() {
        let mut a = CpuActivity::default();
        let online = |cpu, on| EventKind::CpuOnline {
            target_cpu: cpu,
            online: on,
            via: OnlineVia::SetCpuOnline,
        };
        a.push(&ev(10, 0, online(1, false)));
        a.push(&ev(50, 0, online(1, true)));
        a.push(&ev(60, 0, online(2, true)));
        a.push(&ev(70, 0, online(3, false)));
        assert_eq!(
            a.offline(1),
            &[Interval {
                start_ns: 10,
                end_ns: Some(50)
            }]
        );
        assert_eq!(
            a.offline(2),
            &[Interval {
                start_ns: 10,
                end_ns: Some(60)
            }]
        );
        assert_eq!(a.offline(3)[0].end_ns, None);
        let send = EventKind::IpiSend {
            target_cpu: 1,
            callback: 0,
            via: IpiSendVia::Tracepoint,
        };
        for i in 0..(MAX_BUCKETS as u64 + 10) {
            a.push(&ev(i * FIRST_BUCKET_NS, 0, send));
        }
        assert!(a.ipis.len() <= MAX_BUCKETS);
        assert_eq!(a.bucket_ns(), 2 * FIRST_BUCKET_NS);
        let total: u32 = a.ipis(0, 0, u64::MAX / 4).map(|(_, _, n)| n).sum();
        assert_eq!(total as usize, MAX_BUCKETS + 10, "coarsening keeps every IPI");
    }
}
