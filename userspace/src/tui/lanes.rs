//! CPU lanes: per CPU, what it was doing in each time bucket (hotplug
//! state, in the join, IPIs sent and handled), aggregated as events arrive
//! so drawing never walks events.
//!
//! Invariants: memory is fixed at creation (a ring of buckets per CPU, at
//! most [`MAX_CELLS`] cells in all); one event updates one or two cells
//! (plus a gap fill bounded by the ring length); events for CPUs beyond
//! the session's CPU count are ignored.

use crate::events::{names::H_JOIN, Event, EventKind};

/// Width of one bucket (one screen column) in nanoseconds.
pub const BUCKET_NS: u64 = 100_000_000;
/// Upper bound of cells across all CPUs (about 16 MiB).
pub const MAX_CELLS: usize = 1 << 20;
/// Most buckets kept per CPU (one minute at [`BUCKET_NS`]).
pub const MAX_BUCKETS: usize = 600;
/// Fewest buckets kept per CPU, whatever the CPU count.
pub const MIN_BUCKETS: usize = 120;

/// Hotplug state of a CPU, in display priority order (a bucket shows the
/// highest state it saw).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LaneState {
    /// Nothing seen yet.
    #[default]
    Unknown,
    /// Running.
    Online,
    /// Offline.
    Offline,
    /// Being brought up.
    ComingUp,
    /// Being taken down.
    GoingDown,
}

/// What a CPU did during one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// Highest-priority state seen in the bucket.
    pub state: LaneState,
    /// In the join at some point of the bucket.
    pub join: bool,
    /// IPIs sent from the CPU (one per target).
    pub sent: u32,
    /// Cross-CPU calls handled on the CPU.
    pub handled: u32,
}

impl Cell {
    /// Merges another CPU's cell into this one (grouped rows).
    pub fn merge(&mut self, other: Cell) {
        self.state = self.state.max(other.state);
        self.join |= other.join;
        self.sent = self.sent.saturating_add(other.sent);
        self.handled = self.handled.saturating_add(other.handled);
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    bucket: u64,
    cell: Cell,
}

#[derive(Clone, Copy, Debug, Default)]
struct CpuNow {
    state: LaneState,
    in_join: bool,
    /// Hotplug target of the running operation and its direction.
    target: Option<(i32, bool)>,
    last_bucket: Option<u64>,
}

/// The lanes of every CPU of a session.
#[derive(Clone, Debug)]
pub struct CpuLanes {
    cpus: usize,
    buckets: usize,
    slots: Vec<Slot>,
    now: Vec<CpuNow>,
}

impl CpuLanes {
    /// Lanes for `cpu_count` CPUs.
    pub fn new(cpu_count: u32) -> Self {
        let cpus = (cpu_count as usize).max(1);
        let buckets = (MAX_CELLS / cpus).clamp(MIN_BUCKETS, MAX_BUCKETS);
        CpuLanes {
            cpus,
            buckets,
            slots: vec![
                Slot {
                    bucket: u64::MAX,
                    cell: Cell::default()
                };
                cpus * buckets
            ],
            now: vec![CpuNow::default(); cpus],
        }
    }

    /// Number of CPUs.
    pub fn cpu_count(&self) -> usize {
        self.cpus
    }

    /// Buckets of history kept per CPU.
    pub fn history(&self) -> usize {
        self.buckets
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = CpuLanes::new(self.cpus as u32);
    }

    fn cell_mut(&mut self, cpu: usize, bucket: u64) -> Option<&mut Cell> {
        if cpu >= self.cpus {
            return None;
        }
        let now = self.now[cpu];
        // Fill the buckets since this CPU's last event with its state, so
        // a quiet CPU's lane keeps showing what it was doing.
        if let Some(last) = now.last_bucket {
            if bucket > last {
                let from = last
                    .saturating_add(1)
                    .max(bucket.saturating_sub(self.buckets as u64 - 1));
                for b in from..bucket {
                    let s = &mut self.slots[cpu * self.buckets + (b % self.buckets as u64) as usize];
                    *s = Slot {
                        bucket: b,
                        cell: Cell {
                            state: now.state,
                            join: now.in_join,
                            sent: 0,
                            handled: 0,
                        },
                    };
                }
            }
        }
        if now.last_bucket.is_none_or(|l| bucket > l) {
            self.now[cpu].last_bucket = Some(bucket);
        }
        let i = cpu * self.buckets + (bucket % self.buckets as u64) as usize;
        let slot = &mut self.slots[i];
        if slot.bucket != bucket {
            *slot = Slot {
                bucket,
                cell: Cell {
                    state: now.state,
                    join: now.in_join,
                    sent: 0,
                    handled: 0,
                },
            };
        }
        Some(&mut self.slots[i].cell)
    }

    fn set_state(&mut self, cpu: u32, bucket: u64, state: LaneState) {
        if let Some(c) = self.cell_mut(cpu as usize, bucket) {
            c.state = c.state.max(state);
            self.now[cpu as usize].state = state;
        }
    }

    fn set_join(&mut self, cpu: u32, bucket: u64, in_join: bool) {
        if let Some(c) = self.cell_mut(cpu as usize, bucket) {
            c.join |= in_join;
            self.now[cpu as usize].in_join = in_join;
        }
    }

    /// Takes one event into account.
    pub fn push(&mut self, ev: &Event) {
        let b = ev.ts_ns / BUCKET_NS;
        let here = ev.cpu as usize;
        // A CPU that runs code is online unless we know better.
        if here < self.cpus && self.now[here].state == LaneState::Unknown {
            self.now[here].state = LaneState::Online;
        }
        match ev.kind {
            EventKind::IpiSend { .. } => {
                if let Some(c) = self.cell_mut(here, b) {
                    c.sent = c.sent.saturating_add(1);
                }
            }
            EventKind::IpiSendMask { mask, .. } => {
                let n = mask.count();
                if let Some(c) = self.cell_mut(here, b) {
                    c.sent = c.sent.saturating_add(n);
                }
            }
            EventKind::IpiHandleEnter { .. } => {
                if let Some(c) = self.cell_mut(here, b) {
                    c.handled = c.handled.saturating_add(1);
                }
            }
            // Counted outside the IPI window, reported every 50 ms: the
            // counts land in the bucket of the report.
            EventKind::IpiTally { sent, handled } => {
                if let Some(c) = self.cell_mut(here, b) {
                    c.sent = c.sent.saturating_add(sent.min(u32::MAX as u64) as u32);
                    c.handled = c.handled.saturating_add(handled.min(u32::MAX as u64) as u32);
                }
            }
            EventKind::HotplugEnter {
                target_cpu,
                target,
                idx,
                ..
            } => {
                let down = idx > target;
                let Some(n) = self.now.get_mut(target_cpu as usize) else {
                    return;
                };
                n.target = Some((target, down));
                // Going down is staged: the dying CPU tears itself down to
                // `cpu:teardown` (the control CPU's kick reaches that
                // target), then the control CPU runs the remaining "dead"
                // steps towards `offline` with a new target. The CPU no
                // longer runs once the first stage is over, so the lane
                // stays offline through the second (the analysis in
                // `analysis::cpus::hotplug_enter` follows the same rule).
                if down && n.state == LaneState::Offline {
                    let _ = self.cell_mut(target_cpu as usize, b);
                    return;
                }
                let st = if down {
                    LaneState::GoingDown
                } else {
                    LaneState::ComingUp
                };
                self.set_state(target_cpu, b, st);
            }
            EventKind::HotplugExit { target_cpu, state, .. } => {
                let Some(n) = self.now.get(target_cpu as usize).copied() else {
                    return;
                };
                match n.target {
                    Some((target, down)) if state == target => {
                        self.set_state(target_cpu, b, if down { LaneState::Offline } else { LaneState::Online });
                        self.now[target_cpu as usize].target = None;
                    }
                    _ => {
                        let _ = self.cell_mut(target_cpu as usize, b);
                    }
                }
            }
            EventKind::CpuOnline { target_cpu, online, .. } => {
                let cur = self.now.get(target_cpu as usize).map(|n| n.state);
                let st = match (online, cur) {
                    (true, Some(LaneState::ComingUp)) => LaneState::ComingUp,
                    (true, _) => LaneState::Online,
                    (false, _) => LaneState::GoingDown,
                };
                self.set_state(target_cpu, b, st);
            }
            EventKind::JoinEnter { .. } => self.set_join(ev.cpu, b, true),
            EventKind::HcallEnter { opcode: H_JOIN, .. } => self.set_join(ev.cpu, b, true),
            EventKind::JoinExit { .. } => self.set_join(ev.cpu, b, false),
            _ => {
                let _ = self.cell_mut(here, b);
            }
        }
    }

    /// The cells of `cpu` for the `count` buckets ending with the one that
    /// holds `now_ns`, oldest first. Buckets older than the history, or
    /// before anything was seen, are empty.
    pub fn row(&self, cpu: usize, now_ns: u64, count: usize) -> Vec<Cell> {
        let end = now_ns / BUCKET_NS;
        let mut out = Vec::with_capacity(count);
        let now = self.now.get(cpu).copied().unwrap_or_default();
        for k in 0..count as u64 {
            let Some(b) = (end + 1 + k).checked_sub(count as u64) else {
                out.push(Cell::default());
                continue;
            };
            let cell = match now.last_bucket {
                Some(last) if b > last => Cell {
                    state: now.state,
                    join: now.in_join,
                    sent: 0,
                    handled: 0,
                },
                Some(_) if cpu < self.cpus => {
                    let s = self.slots[cpu * self.buckets + (b % self.buckets as u64) as usize];
                    if s.bucket == b {
                        s.cell
                    } else {
                        Cell::default()
                    }
                }
                _ => Cell::default(),
            };
            out.push(cell);
        }
        out
    }

    /// The current state of `cpu`.
    pub fn state(&self, cpu: usize) -> LaneState {
        self.now.get(cpu).map(|n| n.state).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CpuMask, IpiHandleVia, IpiSendVia, JoinPath};

    fn at(ts: u64, cpu: u32, kind: EventKind) -> Event {
        Event {
            ts_ns: ts,
            cpu,
            tid: 1,
            kind,
        }
    }

    #[test]
    fn hotplug_down_then_up_shows_each_state() {
        let mut l = CpuLanes::new(4);
        let s = BUCKET_NS;
        l.push(&at(
            0,
            0,
            EventKind::HotplugEnter {
                target_cpu: 3,
                target: 0,
                idx: 200,
                multi: false,
                fun: 0,
            },
        ));
        l.push(&at(
            2 * s,
            0,
            EventKind::HotplugExit {
                target_cpu: 3,
                state: 0,
                idx: 1,
                ret: 0,
            },
        ));
        l.push(&at(
            4 * s,
            0,
            EventKind::HotplugEnter {
                target_cpu: 3,
                target: 230,
                idx: 1,
                multi: false,
                fun: 0,
            },
        ));
        l.push(&at(
            5 * s,
            0,
            EventKind::HotplugExit {
                target_cpu: 3,
                state: 230,
                idx: 230,
                ret: 0,
            },
        ));
        let row: Vec<LaneState> = l.row(3, 6 * s, 7).iter().map(|c| c.state).collect();
        use LaneState::*;
        // A bucket with a transition shows the transition.
        assert_eq!(
            row,
            vec![GoingDown, GoingDown, GoingDown, Offline, ComingUp, ComingUp, Online]
        );
        assert_eq!(l.state(3), Online);
    }

    /// The order a real `echo 0 > .../cpu1/online` produces on Linux 6.18
    /// (recorded on the CI host): the kick to the dying CPU (target
    /// `cpu:teardown`, 144), its own steps, then the control CPU's steps
    /// from 144 towards `offline` (0), which never report reaching 0
    /// because the lowest steps have no teardown callback.
    #[test]
    fn staged_offline_ends_offline_and_stays_there() {
        let mut l = CpuLanes::new(2);
        let s = BUCKET_NS;
        let enter = |target, idx| EventKind::HotplugEnter {
            target_cpu: 1,
            target,
            idx,
            multi: false,
            fun: 0,
        };
        let exit = |state, idx| EventKind::HotplugExit {
            target_cpu: 1,
            state,
            idx,
            ret: 0,
        };
        l.push(&at(0, 0, enter(144, 236)));
        l.push(&at(s / 2, 1, enter(144, 235)));
        l.push(&at(s / 2, 1, exit(234, 235)));
        l.push(&at(s, 0, exit(144, 236)));
        assert_eq!(l.state(1), LaneState::Offline);
        l.push(&at(s, 0, enter(0, 144)));
        l.push(&at(s, 0, exit(84, 144)));
        l.push(&at(2 * s, 0, enter(0, 3)));
        l.push(&at(2 * s, 0, exit(2, 3)));
        assert_eq!(l.state(1), LaneState::Offline);
        let row: Vec<LaneState> = l.row(1, 3 * s, 4).iter().map(|c| c.state).collect();
        use LaneState::*;
        // The bucket of the transition shows the transition.
        assert_eq!(row, vec![GoingDown, GoingDown, Offline, Offline]);
    }

    #[test]
    fn ipis_and_join_are_counted_per_bucket() {
        let mut l = CpuLanes::new(4);
        let mut mask = CpuMask::default();
        mask.0[0] = 0b1110;
        l.push(&at(
            10,
            0,
            EventKind::IpiSendMask {
                mask,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        ));
        l.push(&at(
            20,
            0,
            EventKind::IpiSend {
                target_cpu: 1,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        ));
        l.push(&at(
            30,
            1,
            EventKind::IpiHandleEnter {
                func: 0,
                via: IpiHandleVia::CsdFunction,
            },
        ));
        l.push(&at(40, 1, EventKind::JoinEnter { path: JoinPath::DoJoin }));
        l.push(&at(
            BUCKET_NS + 5,
            1,
            EventKind::JoinExit {
                path: JoinPath::DoJoin,
                ret: 0,
            },
        ));
        let r0 = l.row(0, 10, 1);
        assert_eq!(r0[0].sent, 4);
        let r1 = l.row(1, BUCKET_NS * 2, 3);
        assert_eq!(r1[0].handled, 1);
        assert!(r1[0].join && r1[1].join, "join spans into the exit's bucket");
        assert!(!r1[2].join, "after the exit the CPU is out of the join");
    }

    #[test]
    fn memory_is_bounded_for_many_cpus() {
        let l = CpuLanes::new(4096);
        assert!(l.history() >= MIN_BUCKETS);
        let mut l = CpuLanes::new(2);
        // A far jump in time fills at most the ring, not the gap.
        l.push(&at(0, 0, EventKind::JoinEnter { path: JoinPath::DoJoin }));
        l.push(&at(
            u64::MAX / 2,
            0,
            EventKind::JoinExit {
                path: JoinPath::DoJoin,
                ret: 0,
            },
        ));
        l.push(&at(0, 9, EventKind::JoinEnter { path: JoinPath::DoJoin }));
        assert_eq!(l.row(9, 0, 2), vec![Cell::default(); 2]);
    }
}
