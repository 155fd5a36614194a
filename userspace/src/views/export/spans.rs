//! Raw events turned into what a timeline draws: spans (an enter paired
//! with its exit on the same CPU and thread) and points (state changes,
//! IPIs sent, loss reports, exits whose enter was not seen).
//!
//! Pure and streaming: [`SpanCollector::push`] takes events in stream
//! order; only the enters still waiting for their exit are kept apart, so
//! the memory is one small record per span and point. An enter still open
//! at the end becomes a span up to the last event, marked `unfinished`
//! (a hang looks exactly like that).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::events::{names, session::SessionInfo, Event, EventKind};
use crate::views::event_line;

/// What a span or point is about (the trace category).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The LPM path: triggers, suspend, join, hcalls, RTAS.
    Lpm,
    /// CPU hotplug.
    Hotplug,
    /// Inter-processor interrupts.
    Ipi,
    /// Events the ring buffer dropped.
    Lost,
}

impl Category {
    /// The lower-case name used as the trace-event `cat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Lpm => "lpm",
            Category::Hotplug => "hotplug",
            Category::Ipi => "ipi",
            Category::Lost => "lost",
        }
    }
}

/// An enter paired with its exit (or cut at the end of the trace).
#[derive(Clone, Debug, PartialEq)]
pub struct RawSpan {
    /// CPU the probes fired on.
    pub cpu: u32,
    /// Enter time.
    pub start_ns: u64,
    /// Exit time (the last event's time when `finished` is false).
    pub end_ns: u64,
    /// False when no exit was seen.
    pub finished: bool,
    /// Display name (`H_JOIN`, `cpuhp sched:active`, `ipi handler ...`).
    pub name: String,
    /// Category.
    pub cat: Category,
    /// Stream position (0-based) of the enter event.
    pub index: u64,
    /// The enter event.
    pub enter: Event,
    /// The exit event, when seen.
    pub exit: Option<Event>,
}

impl RawSpan {
    /// Decoded fields of the enter, then of the exit (`exit_` prefixed),
    /// and `unfinished` when no exit was seen. Built on demand so that a
    /// span costs one small record, not a JSON map, until it is written.
    pub fn args(&self, session: &SessionInfo) -> Map<String, Value> {
        let mut args = event_line::fields(&self.enter, session);
        if let Some(exit) = &self.exit {
            for (k, v) in event_line::fields(exit, session) {
                args.insert(format!("exit_{k}"), v);
            }
        }
        if !self.finished {
            args.insert("unfinished".into(), json!(true));
        }
        args
    }
}

/// A point in time on one CPU.
#[derive(Clone, Debug, PartialEq)]
pub struct RawPoint {
    /// CPU the probe fired on (for `CpuOnline`, the CPU it is about).
    pub cpu: u32,
    /// When.
    pub ts_ns: u64,
    /// Display name.
    pub name: String,
    /// Category.
    pub cat: Category,
    /// Stream position (0-based) of the event.
    pub index: u64,
    /// The event.
    pub event: Event,
}

impl RawPoint {
    /// Decoded fields of the event (built on demand, see [`RawSpan::args`]).
    pub fn args(&self, session: &SessionInfo) -> Map<String, Value> {
        event_line::fields(&self.event, session)
    }
}

/// A loss report: `count` records dropped on `cpu` between the times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LostWindow {
    /// CPU whose ring-buffer share overflowed.
    pub cpu: u32,
    /// First drop.
    pub first_ts_ns: u64,
    /// Last drop.
    pub last_ts_ns: u64,
    /// Records dropped.
    pub count: u64,
}

/// Everything collected from one stream.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    /// Paired spans, in the order their exits arrived (open ones last).
    pub spans: Vec<RawSpan>,
    /// Points, in stream order.
    pub points: Vec<RawPoint>,
    /// Loss reports, in stream order.
    pub lost: Vec<LostWindow>,
    /// CPUs seen (as the firing CPU or as a target), ascending.
    pub cpus: Vec<u32>,
    /// Events pushed.
    pub events: u64,
    /// First event time.
    pub first_ts_ns: Option<u64>,
    /// Last event time.
    pub last_ts_ns: Option<u64>,
}

#[derive(Clone, Debug)]
struct Open {
    start_ns: u64,
    name: String,
    cat: Category,
    index: u64,
    /// Hotplug step index or hcall opcode: an exit closes the innermost
    /// open enter with the same tag.
    tag: i64,
    enter: Event,
}

/// Pairs enters with exits per (CPU, thread, logical probe).
pub struct SpanCollector<'s> {
    session: &'s SessionInfo,
    open: HashMap<(u32, u32, &'static str), Vec<Open>>,
    out: Collected,
    seen_cpus: std::collections::BTreeSet<u32>,
}

fn sym(session: &SessionInfo, addr: u64) -> String {
    session
        .symbol(addr)
        .map_or_else(|| format!("{addr:#x}"), str::to_string)
}

/// Name and tag of an enter event; None for exits and points.
fn enter_name(ev: &Event, session: &SessionInfo) -> Option<(String, Category, i64)> {
    use EventKind::*;
    Some(match ev.kind {
        TriggerEnter { source, .. } => (format!("trigger ({})", tag_of(&source)), Category::Lpm, 0),
        MigrateEnter { .. } => ("pseries_migrate_partition".into(), Category::Lpm, 0),
        SuspendEnter { .. } => ("rtas_ibm_suspend_me".into(), Category::Lpm, 0),
        JoinEnter { path } => (
            match path {
                crate::events::JoinPath::DoJoin => "do_join".into(),
                crate::events::JoinPath::PercpuSuspendMe => "rtas_percpu_suspend_me".into(),
                crate::events::JoinPath::Unknown => "join".into(),
            },
            Category::Lpm,
            0,
        ),
        HcallEnter { opcode, .. } => (
            names::hcall_name(opcode).map_or_else(|| format!("hcall {opcode:#x}"), str::to_string),
            Category::Lpm,
            i64::from(opcode),
        ),
        RtasEnter { .. } => ("ibm,suspend-me".into(), Category::Lpm, 0),
        CpumaskEnter { op } => (format!("cpumask {}", tag_of(&op)), Category::Lpm, 0),
        HotplugEnter { target_cpu, idx, .. } => {
            let state = session
                .hotplug_state_name(idx)
                .map_or_else(|| format!("state {idx}"), str::to_string);
            (
                format!("cpuhp {state} (cpu{target_cpu})"),
                Category::Hotplug,
                i64::from(idx),
            )
        }
        CpuDownEnter { target_cpu, .. } => (
            target_cpu.map_or_else(|| "cpu down".to_string(), |c| format!("cpu down cpu{c}")),
            Category::Hotplug,
            0,
        ),
        IpiHandleEnter { func, .. } => (format!("ipi handler {}", sym(session, func)), Category::Ipi, 0),
        _ => return None,
    })
}

/// The tag an exit closes (see [`Open::tag`]).
fn exit_tag(kind: &EventKind) -> Option<i64> {
    use EventKind::*;
    Some(match *kind {
        HcallExit { opcode, .. } => i64::from(opcode),
        HotplugExit { idx, .. } => i64::from(idx),
        TriggerExit { .. }
        | MigrateExit { .. }
        | SuspendExit { .. }
        | JoinExit { .. }
        | RtasExit { .. }
        | CpumaskExit { .. }
        | CpuDownExit { .. }
        | IpiHandleExit { .. } => 0,
        _ => return None,
    })
}

/// The serde tag of a small enum (`sysfs`, `do-join`, ...).
fn tag_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => "?".into(),
    }
}

impl<'s> SpanCollector<'s> {
    /// A collector interpreting events with `session` (names, symbols).
    pub fn new(session: &'s SessionInfo) -> Self {
        SpanCollector {
            session,
            open: HashMap::new(),
            out: Collected::default(),
            seen_cpus: Default::default(),
        }
    }

    /// Takes the next event of the stream.
    pub fn push(&mut self, ev: &Event) {
        let index = self.out.events;
        self.out.events += 1;
        self.out.first_ts_ns.get_or_insert(ev.ts_ns);
        self.out.last_ts_ns = Some(self.out.last_ts_ns.map_or(ev.ts_ns, |l| l.max(ev.ts_ns)));
        self.seen_cpus.insert(ev.cpu);
        let key = (ev.cpu, ev.tid, ev.kind.probe());
        if let Some((name, cat, tag)) = enter_name(ev, self.session) {
            self.open.entry(key).or_default().push(Open {
                start_ns: ev.ts_ns,
                name,
                cat,
                index,
                tag,
                enter: *ev,
            });
            return;
        }
        if let Some(tag) = exit_tag(&ev.kind) {
            let stack = self.open.entry(key).or_default();
            if let Some(pos) = stack.iter().rposition(|o| o.tag == tag) {
                // Enters above the match never saw their exit: close them
                // here too (a probe missed the exit), marked unfinished.
                let above: Vec<Open> = stack.drain(pos + 1..).collect();
                let open = stack.pop().expect("pos is in range");
                for o in above.into_iter().rev() {
                    self.close(ev.cpu, o, ev.ts_ns, false, None);
                }
                self.close(ev.cpu, open, ev.ts_ns, true, Some(*ev));
                return;
            }
            // An exit without its enter (the recording started inside the
            // call): keep it as a point so nothing disappears.
            let name = format!("{} (exit, enter not seen)", event_line::kind_tag(ev));
            self.point(ev, name, category_of(&ev.kind), index);
            return;
        }
        match ev.kind {
            EventKind::Lost {
                count,
                first_ts_ns,
                last_ts_ns,
            } => {
                self.out.lost.push(LostWindow {
                    cpu: ev.cpu,
                    first_ts_ns: first_ts_ns.min(last_ts_ns),
                    last_ts_ns: last_ts_ns.max(first_ts_ns),
                    count,
                });
            }
            EventKind::CpuOnline { target_cpu, online, .. } => {
                self.seen_cpus.insert(target_cpu);
                let name = format!("cpu{target_cpu} {}", if online { "online" } else { "offline" });
                let mut p = self.make_point(ev, name, Category::Hotplug, index);
                p.cpu = target_cpu;
                self.out.points.push(p);
            }
            EventKind::IpiSend { target_cpu, .. } => {
                self.point(ev, format!("ipi -> cpu{target_cpu}"), Category::Ipi, index);
            }
            EventKind::IpiSendMask { mask, .. } => {
                self.point(ev, format!("ipi -> {} cpus", mask.count()), Category::Ipi, index);
            }
            EventKind::IpiTally { sent, handled } => {
                let name = format!("ipis counted: {sent} sent, {handled} handled");
                self.point(ev, name, Category::Ipi, index);
            }
            _ => {}
        }
    }

    fn make_point(&self, ev: &Event, name: String, cat: Category, index: u64) -> RawPoint {
        RawPoint {
            cpu: ev.cpu,
            ts_ns: ev.ts_ns,
            name,
            cat,
            index,
            event: *ev,
        }
    }

    fn point(&mut self, ev: &Event, name: String, cat: Category, index: u64) {
        let p = self.make_point(ev, name, cat, index);
        self.out.points.push(p);
    }

    fn close(&mut self, cpu: u32, open: Open, end_ns: u64, finished: bool, exit: Option<Event>) {
        self.out.spans.push(RawSpan {
            cpu,
            start_ns: open.start_ns,
            end_ns: end_ns.max(open.start_ns),
            finished,
            name: open.name,
            cat: open.cat,
            index: open.index,
            enter: open.enter,
            exit,
        });
    }

    /// Ends the stream: enters without exits become unfinished spans up to
    /// `end_ns` (the trace end, or a later watermark).
    pub fn finish(mut self, end_ns: Option<u64>) -> Collected {
        let end = end_ns.or(self.out.last_ts_ns).unwrap_or(0);
        let mut keys: Vec<_> = self.open.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let stack = self.open.remove(&key).unwrap_or_default();
            for o in stack.into_iter().rev() {
                self.close(key.0, o, end, false, None);
            }
        }
        self.out.cpus = self.seen_cpus.into_iter().collect();
        self.out
    }
}

fn category_of(kind: &EventKind) -> Category {
    match kind.probe() {
        "cpu.hotplug" | "cpu.down" | "cpu.online" => Category::Hotplug,
        "ipi.send" | "ipi.handle" | "ipi.tally" => Category::Ipi,
        "transport.lost" => Category::Lost,
        _ => Category::Lpm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::session::KernelGeneration;

    fn ev(ts_ns: u64, cpu: u32, kind: EventKind) -> Event {
        Event {
            ts_ns,
            cpu,
            tid: 7,
            kind,
        }
    }

    #[test]
    fn pairs_hcalls_and_keeps_orphans() {
        let s = SessionInfo::synthetic("ppc64le", 2, KernelGeneration::NewPath);
        let mut c = SpanCollector::new(&s);
        let enter = EventKind::HcallEnter {
            opcode: names::H_JOIN,
            args: [0; 3],
        };
        let exit = EventKind::HcallExit {
            opcode: names::H_JOIN,
            retval: 0,
            retbuf0: None,
        };
        c.push(&ev(5, 1, exit)); // enter before the recording started
        c.push(&ev(10, 0, enter));
        c.push(&ev(20, 0, exit));
        c.push(&ev(30, 1, enter)); // never returns
        let out = c.finish(Some(100));
        assert_eq!(out.spans.len(), 2);
        let done = &out.spans[0];
        assert_eq!((done.cpu, done.start_ns, done.end_ns, done.finished), (0, 10, 20, true));
        assert_eq!(done.name, "H_JOIN");
        assert_eq!(done.args(&s)["exit_retval"], 0);
        let hung = &out.spans[1];
        assert_eq!(
            (hung.cpu, hung.start_ns, hung.end_ns, hung.finished),
            (1, 30, 100, false)
        );
        assert_eq!(hung.args(&s)["unfinished"], true);
        assert_eq!(out.points.len(), 1);
        assert!(out.points[0].name.contains("enter not seen"), "{:?}", out.points[0]);
        assert_eq!(out.cpus, vec![0, 1]);
    }
}
