//! Per-CPU state, kept in Vecs indexed by CPU number so the hot path (IPI
//! events, which dominate real streams) is a bounds check and an add.
//!
//! Hotplug direction follows `cpuhp_enter`: a step index above the target
//! means the CPU is going down, below means it is coming up. A CPU counts as
//! known-online once it produced any event or was seen coming online.

/// A growable set of CPUs (bitset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuSet {
    words: Vec<u64>,
}

impl CpuSet {
    /// Adds `cpu`; CPU numbers at or above [`MAX_CPU`] (corrupt records)
    /// are ignored.
    pub fn insert(&mut self, cpu: u32) -> bool {
        if cpu >= MAX_CPU {
            return false;
        }
        let w = (cpu / 64) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let bit = 1u64 << (cpu % 64);
        let new = self.words[w] & bit == 0;
        self.words[w] |= bit;
        new
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: u32) -> bool {
        let w = (cpu / 64) as usize;
        w < self.words.len() && self.words[w] & (1u64 << (cpu % 64)) != 0
    }

    /// Number of CPUs.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// CPUs ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + b)
            })
        })
    }

    /// CPUs of `self` not in `other`.
    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        let words = self
            .words
            .iter()
            .enumerate()
            .map(|(i, &w)| w & !other.words.get(i).copied().unwrap_or(0))
            .collect();
        CpuSet { words }
    }

    /// As an ascending Vec.
    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }
}

/// Where a CPU is in its hotplug life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuState {
    /// Nothing seen yet.
    Unknown,
    /// Online.
    Online,
    /// A down operation is running, the CPU is still in the online mask.
    GoingDown,
    /// Out of the online mask.
    Offline,
    /// An up operation is running.
    ComingUp,
}

impl CpuState {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuState::Unknown => "unknown",
            CpuState::Online => "online",
            CpuState::GoingDown => "going-down",
            CpuState::Offline => "offline",
            CpuState::ComingUp => "coming-up",
        }
    }
}

/// One CPU.
#[derive(Clone, Debug)]
pub struct Cpu {
    /// Hotplug state.
    pub state: CpuState,
    /// Any event was seen on it.
    pub seen: bool,
    /// Target state of the running hotplug operation.
    pub hp_target: i32,
    /// When the running down/up operation started (0: none).
    pub transition_since: u64,
    /// IPIs sent by this CPU.
    pub ipis_sent: u64,
    /// IPIs addressed to it.
    pub ipis_received: u64,
    /// Cross-CPU calls run on it.
    pub ipis_handled: u64,
    /// Latest IPI sent to it since it last ran a cross-CPU call (time, 0:
    /// none; stream position; sending thread).
    pub ipi_pending: (u64, u64, u32),
    /// Offline transitions.
    pub offline_count: u32,
    /// Online transitions.
    pub online_count: u32,
    /// Joins.
    pub joins: u32,
}

impl Cpu {
    fn new() -> Self {
        Cpu {
            state: CpuState::Unknown,
            seen: false,
            hp_target: 0,
            transition_since: 0,
            ipis_sent: 0,
            ipis_received: 0,
            ipis_handled: 0,
            ipi_pending: (0, 0, 0),
            offline_count: 0,
            online_count: 0,
            joins: 0,
        }
    }
}

/// A hotplug transition, logged for overlap questions ("was a CPU going
/// down while the join gathered CPUs?").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The CPU.
    pub cpu: u32,
    /// Start of the operation.
    pub start_ns: u64,
    /// When it finished (u64::MAX while running).
    pub end_ns: u64,
    /// Going down (true) or coming up.
    pub down: bool,
    /// Stream position of its first event.
    pub evidence: u64,
}

/// All CPUs.
#[derive(Clone, Debug, Default)]
pub struct CpuTracker {
    /// Indexed by CPU number.
    pub cpus: Vec<Cpu>,
    /// Every down/up operation, in start order.
    pub transitions: Vec<Transition>,
    /// Index into `transitions` of each CPU's running operation.
    open: Vec<Option<usize>>,
    /// The cpuhp steps that move a CPU across `cpu_online_mask`, when the
    /// session knows the state names.
    steps: MaskSteps,
}

/// Where a CPU crosses `cpu_online_mask` in the cpuhp state machine.
///
/// A down operation runs in two parts: the CPU's own hotplug thread steps
/// it down to `cpu:teardown` (the operation's target for that part), then
/// the control CPU runs `cpu:teardown` itself (`takedown_cpu`:
/// `stop_machine(take_cpu_down)` → `__cpu_disable` → `set_cpu_online(cpu,
/// false)`) and the rest down to `offline`. So the CPU is out of the online
/// mask once the `cpu:teardown` step returns, not when its own thread's
/// part ends. Up: the CPU marks itself online in `start_secondary` and
/// reaches `ap:online-idle` (the state just above `cpu:teardown`); only
/// then does its own hotplug thread run the steps above it. So the first
/// up step above `cpu:teardown` says the CPU is online (the control CPU's
/// `cpu:bringup` step returns only after the whole up, seen on this
/// machine's 6.18). `cpuhp_exit` reports the state already stepped, so a
/// step is identified by its `idx`, never the exit's `state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskSteps {
    /// Index of `cpu:teardown` (CPUHP_TEARDOWN_CPU).
    pub teardown: Option<i32>,
}

impl MaskSteps {
    /// From `/sys/devices/system/cpu/hotplug/states` entries.
    pub fn from_states<'a>(states: impl IntoIterator<Item = (i32, &'a str)>) -> Self {
        let mut steps = MaskSteps::default();
        for (idx, name) in states {
            if name == "cpu:teardown" {
                steps.teardown = Some(idx);
            }
        }
        steps
    }
}

/// CPU numbers from here on are treated as corrupt records.
pub const MAX_CPU: u32 = 1 << 16;

impl CpuTracker {
    /// A tracker that expects `cpu_count` CPUs (grows on demand).
    pub fn new(cpu_count: u32) -> Self {
        let n = cpu_count.min(MAX_CPU) as usize;
        CpuTracker {
            cpus: (0..n).map(|_| Cpu::new()).collect(),
            transitions: Vec::new(),
            open: vec![None; n],
            steps: MaskSteps::default(),
        }
    }

    /// Uses the step indices of `steps` to place the online-mask changes.
    pub fn with_steps(mut self, steps: MaskSteps) -> Self {
        self.steps = steps;
        self
    }

    /// Starts from what the kernel said: `online` CPUs are online, the
    /// other `known` ones (present, possible) offline.
    pub fn with_masks(mut self, online: &[u32], known: &[u32]) -> Self {
        for &cpu in known.iter().chain(online) {
            if let Some(c) = self.get(cpu) {
                c.state = CpuState::Offline;
            }
        }
        for &cpu in online {
            if let Some(c) = self.get(cpu) {
                c.state = CpuState::Online;
            }
        }
        self
    }

    /// The CPU, growing the table when needed; None for absurd numbers.
    #[inline]
    pub fn get(&mut self, cpu: u32) -> Option<&mut Cpu> {
        if (cpu as usize) < self.cpus.len() {
            return Some(&mut self.cpus[cpu as usize]);
        }
        self.grow(cpu)
    }

    #[cold]
    fn grow(&mut self, cpu: u32) -> Option<&mut Cpu> {
        if cpu >= MAX_CPU {
            return None;
        }
        let n = cpu as usize + 1;
        self.cpus.resize_with(n, Cpu::new);
        self.open.resize(n, None);
        Some(&mut self.cpus[cpu as usize])
    }

    /// Marks `cpu` as alive (it ran a probe).
    #[inline]
    pub fn seen(&mut self, cpu: u32) {
        if let Some(c) = self.get(cpu) {
            if !c.seen {
                c.seen = true;
                if c.state == CpuState::Unknown {
                    c.state = CpuState::Online;
                }
            }
        }
    }

    /// State of `cpu`.
    pub fn state(&self, cpu: u32) -> CpuState {
        self.cpus.get(cpu as usize).map_or(CpuState::Unknown, |c| c.state)
    }

    /// CPUs that are online or going down (still in the online mask).
    pub fn online_set(&self) -> CpuSet {
        let mut set = CpuSet::default();
        for (i, c) in self.cpus.iter().enumerate() {
            if matches!(c.state, CpuState::Online | CpuState::GoingDown) {
                set.insert(i as u32);
            }
        }
        set
    }

    /// CPUs that are offline, going down or coming up.
    pub fn not_online(&self) -> Vec<u32> {
        self.cpus
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.state, CpuState::Offline | CpuState::GoingDown | CpuState::ComingUp))
            .map(|(i, _)| i as u32)
            .collect()
    }

    fn begin(&mut self, cpu: u32, ts: u64, down: bool, pos: u64) {
        if let Some(Some(i)) = self.open.get(cpu as usize) {
            if self.transitions[*i].down == down {
                return;
            }
            self.transitions[*i].end_ns = ts;
        }
        let Some(c) = self.get(cpu) else { return };
        c.state = if down { CpuState::GoingDown } else { CpuState::ComingUp };
        c.transition_since = ts;
        self.transitions.push(Transition {
            cpu,
            start_ns: ts,
            end_ns: u64::MAX,
            down,
            evidence: pos,
        });
        let idx = self.transitions.len() - 1;
        self.open[cpu as usize] = Some(idx);
    }

    fn end(&mut self, cpu: u32, ts: u64) {
        if let Some(slot) = self.open.get_mut(cpu as usize) {
            if let Some(i) = slot.take() {
                self.transitions[i].end_ns = ts;
            }
        }
    }

    /// A `cpuhp_enter` step. Returns true when a new down operation began.
    pub fn hotplug_enter(&mut self, cpu: u32, target: i32, idx: i32, ts: u64, pos: u64) -> bool {
        let down = idx > target;
        let teardown = self.steps.teardown;
        let Some(c) = self.get(cpu) else { return false };
        c.hp_target = target;
        if !down && c.state == CpuState::ComingUp && teardown.is_some_and(|t| idx > t) {
            // The CPU's own thread runs above ap:online-idle: it is online.
            c.state = CpuState::Online;
            c.online_count = c.online_count.saturating_add(1);
            self.end(cpu, ts);
            return false;
        }
        let running = matches!(
            (c.state, down),
            (CpuState::GoingDown, true) | (CpuState::ComingUp, false)
        );
        // The control CPU's steps after the CPU left the mask (down), or
        // the CPU's own steps after it joined it (up), continue the same
        // operation.
        let past_the_mask = (down && c.state == CpuState::Offline) || (!down && c.state == CpuState::Online);
        if running || past_the_mask {
            return false;
        }
        self.begin(cpu, ts, down, pos);
        down
    }

    /// A `cpuhp_exit` of step `idx`; returns `Some(went_offline)` when the
    /// CPU crossed the online mask. With the step names known a down
    /// crosses at the return of `cpu:teardown` ([`MaskSteps`]); without
    /// them, the operation reaching its target (`state`) stands in.
    pub fn hotplug_exit(&mut self, cpu: u32, state: i32, idx: i32, ret: i32, ts: u64) -> Option<bool> {
        let steps = self.steps;
        let c = self.get(cpu)?;
        if ret != 0 {
            // A failed step rolls back: the CPU stays where it was.
            let back = if c.state == CpuState::GoingDown {
                CpuState::Online
            } else {
                c.state
            };
            c.state = back;
            self.end(cpu, ts);
            return None;
        }
        let crossed = match c.state {
            // Offline already: set_cpu_online(false) was seen first.
            CpuState::GoingDown | CpuState::Offline => steps.teardown.map_or(state == c.hp_target, |t| idx == t),
            // With the step names known, up ends in hotplug_enter.
            CpuState::ComingUp => steps.teardown.is_none() && state == c.hp_target,
            _ => state == c.hp_target,
        };
        if !crossed {
            return None;
        }
        match c.state {
            CpuState::GoingDown | CpuState::Offline => {
                let first = c.state == CpuState::GoingDown;
                c.state = CpuState::Offline;
                if first {
                    c.offline_count = c.offline_count.saturating_add(1);
                }
                self.end(cpu, ts);
                Some(true)
            }
            CpuState::ComingUp => {
                c.state = CpuState::Online;
                c.online_count = c.online_count.saturating_add(1);
                self.end(cpu, ts);
                Some(false)
            }
            _ => None,
        }
    }

    /// The online bit changed. Returns true when it actually changed.
    pub fn set_online(&mut self, cpu: u32, online: bool, ts: u64, pos: u64) -> bool {
        let Some(c) = self.get(cpu) else { return false };
        match (c.state, online) {
            (CpuState::Offline, false) | (CpuState::Online, true) => false,
            (_, false) => {
                let hotplug_running = c.state == CpuState::GoingDown;
                if !hotplug_running {
                    // No cpuhp steps seen: a point transition.
                    self.begin(cpu, ts, true, pos);
                    self.end(cpu, ts);
                }
                // With cpuhp steps the operation keeps running (teardown)
                // until its exit, but for the join the CPU is gone now.
                let c = &mut self.cpus[cpu as usize];
                c.state = CpuState::Offline;
                c.offline_count = c.offline_count.saturating_add(1);
                true
            }
            (_, true) => {
                let was_coming = c.state == CpuState::ComingUp;
                c.state = CpuState::Online;
                c.online_count = c.online_count.saturating_add(1);
                if was_coming {
                    self.end(cpu, ts);
                }
                true
            }
        }
    }

    /// Down transitions overlapping `[start, end]`.
    pub fn downs_overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Transition> + '_ {
        self.transitions
            .iter()
            .filter(move |t| t.down && t.start_ns <= end && t.end_ns >= start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_basics() {
        let mut s = CpuSet::default();
        assert!(s.insert(3));
        assert!(!s.insert(3));
        s.insert(70);
        assert_eq!(s.to_vec(), vec![3, 70]);
        assert_eq!(s.len(), 2);
        let mut o = CpuSet::default();
        o.insert(3);
        assert_eq!(s.difference(&o).to_vec(), vec![70]);
        assert!(CpuSet::default().is_empty());
    }

    #[test]
    fn hotplug_down_then_up() {
        let mut t = CpuTracker::new(4);
        t.seen(2);
        assert!(t.hotplug_enter(2, 0, 235, 10, 0));
        assert_eq!(t.state(2), CpuState::GoingDown);
        assert_eq!(t.hotplug_exit(2, 0, 1, 0, 20), Some(true));
        assert_eq!(t.state(2), CpuState::Offline);
        assert!(!t.hotplug_enter(2, 236, 91, 30, 1));
        assert_eq!(t.state(2), CpuState::ComingUp);
        assert_eq!(t.hotplug_exit(2, 236, 235, 0, 40), Some(false));
        assert_eq!(t.state(2), CpuState::Online);
        assert_eq!(t.downs_overlapping(15, 16).count(), 1);
        assert_eq!(t.downs_overlapping(25, 50).count(), 0);
    }
}
