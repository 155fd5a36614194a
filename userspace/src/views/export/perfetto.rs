//! `lpmtrace export --format perfetto`: the Chrome trace-event JSON (the
//! "JSON Object Format", `{"traceEvents": [...]}`) that ui.perfetto.dev and
//! chrome://tracing open. The mapping is documented in docs/export.md.
//!
//! Two processes: "Migrations" (a findings track, then one track per
//! migration with the migration as a slice, its phases as child slices and
//! each attempt's join / suspend / wake under the attempt) and "CPUs" (a
//! track per CPU with the paired raw events as slices, each CPU's join as
//! a slice with a flow arrow to the attempt's suspend, IPIs, online
//! changes and findings as instants, lost-event windows as slices).
//!
//! Validity by construction: slices of one track are laid out so that
//! they nest (a slice that would partly overlap another moves to an
//! "overlap" track of the same CPU or migration), thread ids are unique
//! across processes (Perfetto treats tids as system-wide), and times are
//! written relative to the first event with a quarter-nanosecond bias so
//! that an importer truncating `µs * 1000` gets the exact nanosecond back.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{json, Map, Number, Value};

use super::spans::{Category, Collected};
use crate::analysis::{Attempt, Migration, PhaseSpan, Report};
use crate::events::session::SessionInfo;

/// Process id of the migrations and findings tracks.
pub const PID_MIGRATIONS: u32 = 1;
/// Process id of the CPU tracks.
pub const PID_CPUS: u32 = 2;
/// Name of the flow from a CPU's join to the suspend.
pub const FLOW_NAME: &str = "join -> suspend";

/// Which track a slice belongs to before overlap lanes are assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Track {
    Findings,
    Migration(u32),
    Cpu(u32),
}

impl Track {
    fn pid(self) -> u32 {
        match self {
            Track::Findings | Track::Migration(_) => PID_MIGRATIONS,
            Track::Cpu(_) => PID_CPUS,
        }
    }

    fn name(self, lane: usize) -> String {
        let base = match self {
            Track::Findings => "findings".to_string(),
            Track::Migration(id) => format!("migration {id}"),
            Track::Cpu(cpu) => format!("cpu {cpu}"),
        };
        if lane == 0 {
            base
        } else {
            format!("{base} (overlap {lane})")
        }
    }

    fn sort_index(self, lane: usize) -> i64 {
        let lane = lane as i64;
        match self {
            Track::Findings => 0,
            Track::Migration(id) => i64::from(id) * 100 + lane,
            Track::Cpu(cpu) => i64::from(cpu) * 100 + lane,
        }
    }
}

#[derive(Clone, Debug)]
struct Slice {
    track: Track,
    start: u64,
    end: u64,
    name: String,
    cat: &'static str,
    args: Args,
    flows_out: Vec<u64>,
    flows_in: Vec<u64>,
}

#[derive(Clone, Debug)]
struct Instant {
    /// None: a global instant (`"s": "g"`).
    track: Option<Track>,
    ts: u64,
    name: String,
    cat: &'static str,
    args: Args,
}

/// The `args` of a trace event: built from the analysis, or rendered from
/// a raw span or point only when written (a JSON map per raw event would
/// multiply the memory of a big recording).
#[derive(Clone, Debug)]
enum Args {
    Json(Map<String, Value>),
    Span(usize),
    Point(usize),
}

impl Args {
    fn from_value(v: Value) -> Self {
        match v {
            Value::Object(m) => Args::Json(m),
            _ => Args::Json(Map::new()),
        }
    }

    fn render(&self, c: &Collected, session: &SessionInfo) -> Value {
        let (mut m, index) = match self {
            Args::Json(m) => return Value::Object(m.clone()),
            Args::Span(i) => (c.spans[*i].args(session), c.spans[*i].index),
            Args::Point(i) => (c.points[*i].args(session), c.points[*i].index),
        };
        m.insert("event_index".into(), json!(index));
        Value::Object(m)
    }
}

/// Builds the trace events; see the module comment for the mapping.
struct Builder<'a> {
    report: &'a Report,
    slices: Vec<Slice>,
    instants: Vec<Instant>,
    next_flow: u64,
    trace_end: u64,
}

fn clamp(p: &PhaseSpan, lo: u64, hi: u64, open_end: u64) -> (u64, u64) {
    let start = p.start_ns.clamp(lo, hi);
    let end = p.end_ns.unwrap_or(open_end).clamp(start, hi);
    (start, end)
}

impl<'a> Builder<'a> {
    fn slice(&mut self, track: Track, start: u64, end: u64, name: String, cat: &'static str, args: Value) -> usize {
        self.raw_slice(track, start, end, name, cat, Args::from_value(args))
    }

    fn raw_slice(&mut self, track: Track, start: u64, end: u64, name: String, cat: &'static str, args: Args) -> usize {
        self.slices.push(Slice {
            track,
            start,
            end: end.max(start),
            name,
            cat,
            args,
            flows_out: Vec::new(),
            flows_in: Vec::new(),
        });
        self.slices.len() - 1
    }

    fn instant(&mut self, track: Option<Track>, ts: u64, name: String, cat: &'static str, args: Value) {
        self.raw_instant(track, ts, name, cat, Args::from_value(args));
    }

    fn raw_instant(&mut self, track: Option<Track>, ts: u64, name: String, cat: &'static str, args: Args) {
        self.instants.push(Instant {
            track,
            ts,
            name,
            cat,
            args,
        });
    }

    fn migration(&mut self, m: &Migration) {
        let track = Track::Migration(m.id);
        let m_end = m.end_ns.unwrap_or(self.trace_end).max(m.start_ns);
        self.slice(
            track,
            m.start_ns,
            m_end,
            format!("migration {} ({})", m.id, m.outcome.as_str()),
            "lpm",
            json!({
                "stream_id": m.stream_id.map(|s| format!("{s:#x}")),
                "trigger": m.trigger,
                "comm": m.comm,
                "path": m.path,
                "outcome": m.outcome.as_str(),
                "result": m.result,
                "vasi_polls": m.vasi_polls,
                "last_vasi_state": m.last_vasi_state,
                "events_lost": m.events_lost,
                "finished": m.end_ns.is_some(),
            }),
        );
        for p in &m.phases {
            let (start, end) = clamp(p, m.start_ns, m_end, m_end);
            let attempt = p
                .name
                .strip_prefix("attempt-")
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(|n| m.attempts.iter().find(|a| a.number == n));
            match attempt {
                Some(a) => self.attempt(m, a, start, end),
                None => {
                    self.slice(
                        track,
                        start,
                        end,
                        p.name.clone(),
                        "lpm",
                        json!({"finished": p.end_ns.is_some()}),
                    );
                }
            }
        }
        for e in &m.errors {
            self.instant(
                Some(track),
                e.ts_ns.clamp(m.start_ns, m_end),
                format!("error: {} returned {}", e.source, e.name.as_deref().unwrap_or("?")),
                "lpm",
                json!({"source": e.source, "code": e.code, "name": e.name, "cpu": e.cpu}),
            );
        }
        if let Some(c) = &m.cancel {
            self.instant(
                Some(track),
                c.ts_ns.clamp(m.start_ns, m_end),
                "H_VASI_SIGNAL cancel".into(),
                "lpm",
                json!({"signal": c.signal, "reason": format!("{:#x}", c.reason),
                       "reason_errno": c.reason_errno, "ret": c.ret}),
            );
        }
    }

    fn attempt(&mut self, m: &Migration, a: &Attempt, start: u64, end: u64) {
        let track = Track::Migration(m.id);
        self.slice(
            track,
            start,
            end,
            format!("attempt {}", a.number),
            "lpm",
            json!({
                "number": a.number,
                "result": a.result,
                "result_name": a.result_name,
                "delay_before_ns": a.delay_before_ns,
                "cpus_expected": a.cpus_expected,
                "cpus_joined": a.cpus_joined,
                "rtas_status": a.rtas_status,
                "premature_joins": a.premature_joins,
                "prods": a.prods,
                "finished": a.end_ns.is_some(),
            }),
        );
        let mut suspend = None;
        for p in &a.phases {
            let (ps, pe) = clamp(p, start, end, end);
            let idx = self.slice(
                track,
                ps,
                pe,
                p.name.clone(),
                "lpm",
                json!({"finished": p.end_ns.is_some()}),
            );
            if p.name == "suspend" {
                suspend = Some(idx);
            }
        }
        for e in &a.errors {
            self.instant(
                Some(track),
                e.ts_ns.clamp(start, end),
                format!("error: {} returned {}", e.source, e.name.as_deref().unwrap_or("?")),
                "lpm",
                json!({"source": e.source, "code": e.code, "name": e.name, "cpu": e.cpu}),
            );
        }
        // Each CPU's join, on its own track: from its first join event to
        // the wake-up (or the attempt's end), with an arrow to the suspend
        // the joins made possible.
        let join_end = crate::views::timeline::cpu_join_end(a, end);
        for j in &a.joins {
            let js = j.joined_ns;
            let je = join_end.max(js);
            let idx = self.slice(
                Track::Cpu(j.cpu),
                js,
                je,
                format!("join (migration {} attempt {})", m.id, a.number),
                "lpm",
                json!({
                    "migration": m.id,
                    "attempt": a.number,
                    "h_join_calls": j.h_join_calls,
                    "last_ret": j.last_ret,
                    "premature": j.premature,
                }),
            );
            if let Some(s) = suspend {
                let (ss, se) = (self.slices[s].start, self.slices[s].end);
                // Flow events bind to the slice open at their time, so both
                // ends sit 1 ns inside their slice; a join that began after
                // the suspend (or a slice too short to hold a point) gets none.
                if je >= js + 2 && se >= ss + 2 && js < ss {
                    let id = self.next_flow;
                    self.next_flow += 1;
                    self.slices[idx].flows_out.push(id);
                    self.slices[s].flows_in.push(id);
                }
            }
        }
    }

    fn findings(&mut self) {
        let report = self.report;
        for f in &report.findings {
            let args = json!({
                "kind": f.kind.id(),
                "variant": f.variant,
                "severity": f.severity.as_str(),
                "summary": f.summary,
                "explanation": f.explanation,
                "next_step": f.next_step,
                "migration": f.migration,
                "cpus": f.cpus,
                "inconclusive": f.inconclusive,
                "inconclusive_reason": f.inconclusive_reason,
                "platform_note": f.platform_note,
                "evidence": f.evidence,
            });
            let name = format!("[{}] {}", f.severity.as_str(), f.kind.id());
            self.instant(Some(Track::Findings), f.ts_ns, name.clone(), "finding", args.clone());
            for &cpu in &f.cpus {
                self.instant(Some(Track::Cpu(cpu)), f.ts_ns, name.clone(), "finding", args.clone());
            }
        }
    }

    fn raw(&mut self, c: &Collected) {
        for (i, s) in c.spans.iter().enumerate() {
            self.raw_slice(
                Track::Cpu(s.cpu),
                s.start_ns,
                s.end_ns,
                s.name.clone(),
                s.cat.as_str(),
                Args::Span(i),
            );
        }
        for (i, p) in c.points.iter().enumerate() {
            self.raw_instant(
                Some(Track::Cpu(p.cpu)),
                p.ts_ns,
                p.name.clone(),
                p.cat.as_str(),
                Args::Point(i),
            );
        }
        for l in &c.lost {
            let name = format!("{} events lost", l.count);
            let args =
                json!({"count": l.count, "cpu": l.cpu, "first_ts_ns": l.first_ts_ns, "last_ts_ns": l.last_ts_ns});
            self.slice(
                Track::Cpu(l.cpu),
                l.first_ts_ns,
                l.last_ts_ns,
                name.clone(),
                Category::Lost.as_str(),
                args.clone(),
            );
            // Global too: a loss makes every track incomplete, not just
            // the CPU whose buffer share overflowed.
            self.instant(None, l.first_ts_ns, format!("{name} on cpu{}", l.cpu), "lost", args);
        }
    }
}

/// Assigns each slice a lane of its track so that the slices of one lane
/// nest (start-sorted, longest first; a slice goes to the first lane whose
/// innermost open slice contains it).
fn lay_out(slices: &[Slice]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..slices.len()).collect();
    order.sort_by_key(|&i| (slices[i].track, slices[i].start, Reverse(slices[i].end), i));
    let mut lane_of = vec![0; slices.len()];
    let mut lanes: BTreeMap<Track, Vec<Vec<u64>>> = BTreeMap::new();
    for i in order {
        let s = &slices[i];
        let stacks = lanes.entry(s.track).or_default();
        let mut placed = None;
        for (lane, stack) in stacks.iter_mut().enumerate() {
            // A slice ending where the next starts is closed (as importers do).
            while stack.last().is_some_and(|&end| end <= s.start) {
                stack.pop();
            }
            if stack.last().is_none_or(|&end| end >= s.end) {
                stack.push(s.end);
                placed = Some(lane);
                break;
            }
        }
        lane_of[i] = placed.unwrap_or_else(|| {
            stacks.push(vec![s.end]);
            stacks.len() - 1
        });
    }
    lane_of
}

/// Microseconds since `origin` as a JSON number: a quarter nanosecond of
/// bias makes `trunc(us * 1000)` (what importers do) land on the exact ns.
fn micros(ns: u64, origin: u64) -> Value {
    let us = (ns.saturating_sub(origin) as f64 + 0.25) / 1000.0;
    Number::from_f64(us).map_or(Value::Null, Value::Number)
}

fn dur_micros(ns: u64) -> Value {
    Number::from_f64((ns as f64 + 0.25) / 1000.0).map_or(Value::Null, Value::Number)
}

/// Write order: time, then slices (0) before instants (1) before flow
/// starts (2) and ends (3), then longer slices first.
type OrderKey = (u64, u8, Reverse<u64>);

/// One trace event to write, in time order.
enum Item {
    Slice(usize, u32),
    FlowOut(u64, usize, u32),
    FlowIn(u64, usize, u32),
    Instant(usize),
}

/// Everything decided before writing: slices, lanes, thread ids, order.
struct Plan<'a> {
    b: Builder<'a>,
    tids: BTreeMap<(Track, usize), u32>,
    items: Vec<Item>,
    origin: u64,
}

fn plan<'a>(report: &'a Report, collected: &Collected) -> Plan<'a> {
    let first = [collected.first_ts_ns, report.first_ts_ns].into_iter().flatten().min();
    let origin = first.unwrap_or(0);
    let trace_end = [collected.last_ts_ns, report.last_ts_ns]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(origin);
    let mut b = Builder {
        report,
        slices: Vec::new(),
        instants: Vec::new(),
        next_flow: 1,
        trace_end,
    };
    for m in &report.migrations {
        b.migration(m);
    }
    b.findings();
    b.raw(collected);

    let lanes = lay_out(&b.slices);
    // Thread ids: one per (track, lane), unique across both processes,
    // handed out in track order so the output is deterministic.
    let mut used: BTreeSet<(Track, usize)> = BTreeSet::new();
    used.insert((Track::Findings, 0));
    for &cpu in &collected.cpus {
        used.insert((Track::Cpu(cpu), 0));
    }
    for m in &report.migrations {
        used.insert((Track::Migration(m.id), 0));
    }
    for (s, &lane) in b.slices.iter().zip(&lanes) {
        used.insert((s.track, lane));
    }
    for i in &b.instants {
        if let Some(t) = i.track {
            used.insert((t, 0));
        }
    }
    let tids: BTreeMap<(Track, usize), u32> = used.iter().enumerate().map(|(n, &k)| (k, 10 + n as u32)).collect();

    // Time order; at one time slices before instants before flows, longer
    // slices first (parents before children).
    let mut keyed: Vec<(OrderKey, Item)> = Vec::new();
    for (i, (s, &lane)) in b.slices.iter().zip(&lanes).enumerate() {
        let tid = tids[&(s.track, lane)];
        keyed.push(((s.start, 0, Reverse(s.end - s.start)), Item::Slice(i, tid)));
        for &id in &s.flows_out {
            keyed.push(((s.start + 1, 2, Reverse(0)), Item::FlowOut(id, i, tid)));
        }
        for &id in &s.flows_in {
            keyed.push(((s.start + 1, 3, Reverse(0)), Item::FlowIn(id, i, tid)));
        }
    }
    for (i, inst) in b.instants.iter().enumerate() {
        keyed.push(((inst.ts, 1, Reverse(0)), Item::Instant(i)));
    }
    keyed.sort_by_key(|(k, _)| *k);
    Plan {
        b,
        tids,
        items: keyed.into_iter().map(|(_, item)| item).collect(),
        origin,
    }
}

impl Plan<'_> {
    fn render(&self, item: &Item, c: &Collected, session: &SessionInfo) -> Value {
        let origin = self.origin;
        match *item {
            Item::Slice(i, tid) => {
                let s = &self.b.slices[i];
                json!({"ph": "X", "name": s.name, "cat": s.cat, "ts": micros(s.start, origin),
                       "dur": dur_micros(s.end - s.start), "pid": s.track.pid(), "tid": tid,
                       "args": s.args.render(c, session)})
            }
            Item::FlowOut(id, i, tid) => {
                let s = &self.b.slices[i];
                json!({"ph": "s", "name": FLOW_NAME, "cat": "lpm.flow", "id": id,
                       "ts": micros(s.start + 1, origin), "pid": s.track.pid(), "tid": tid})
            }
            Item::FlowIn(id, i, tid) => {
                let s = &self.b.slices[i];
                json!({"ph": "f", "bp": "e", "name": FLOW_NAME, "cat": "lpm.flow", "id": id,
                       "ts": micros(s.start + 1, origin), "pid": s.track.pid(), "tid": tid})
            }
            Item::Instant(i) => {
                let inst = &self.b.instants[i];
                // A global instant still names a pid/tid (the findings track).
                let (scope, t) = match inst.track {
                    Some(t) => ("t", t),
                    None => ("g", Track::Findings),
                };
                json!({"ph": "i", "s": scope, "name": inst.name, "cat": inst.cat,
                       "ts": micros(inst.ts, origin), "pid": t.pid(), "tid": self.tids[&(t, 0)],
                       "args": inst.args.render(c, session)})
            }
        }
    }
}

/// Process names and order; process-level metadata names the process's
/// main thread (tid == pid, below the track tids that start at 10) so that
/// no tid is shared between the two processes.
fn metadata(session: &SessionInfo, tids: &BTreeMap<(Track, usize), u32>) -> Vec<Value> {
    let mut out = vec![
        json!({"ph": "M", "name": "process_name", "pid": PID_MIGRATIONS, "tid": PID_MIGRATIONS,
               "args": {"name": format!("Migrations ({})", session.hostname)}}),
        json!({"ph": "M", "name": "process_sort_index", "pid": PID_MIGRATIONS, "tid": PID_MIGRATIONS,
               "args": {"sort_index": 0}}),
        json!({"ph": "M", "name": "process_name", "pid": PID_CPUS, "tid": PID_CPUS,
               "args": {"name": format!("CPUs ({}, {})", session.hostname, session.kernel_release)}}),
        json!({"ph": "M", "name": "process_sort_index", "pid": PID_CPUS, "tid": PID_CPUS,
               "args": {"sort_index": 1}}),
    ];
    for (&(track, lane), &tid) in tids {
        out.push(json!({"ph": "M", "name": "thread_name", "pid": track.pid(), "tid": tid,
                        "args": {"name": track.name(lane)}}));
        out.push(
            json!({"ph": "M", "name": "thread_sort_index", "pid": track.pid(), "tid": tid,
                        "args": {"sort_index": track.sort_index(lane)}}),
        );
    }
    out
}

/// Writes the trace document, one trace event per line (so a big trace
/// can be read and diffed with line tools). Each event's JSON is built
/// just before it is written.
pub fn write(out: &mut dyn Write, report: &Report, session: &SessionInfo, collected: &Collected) -> io::Result<()> {
    let plan = plan(report, collected);
    out.write_all(b"{\"traceEvents\": [\n")?;
    let mut first = true;
    let mut put = |out: &mut dyn Write, v: &Value| -> io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        serde_json::to_writer(&mut *out, v).map_err(io::Error::from)
    };
    for v in metadata(session, &plan.tids) {
        put(out, &v)?;
    }
    for item in &plan.items {
        put(out, &plan.render(item, collected, session))?;
    }
    let other = json!({
        "producer": format!("lpmtrace {}", env!("CARGO_PKG_VERSION")),
        "hostname": session.hostname,
        "kernel_release": session.kernel_release,
        "arch": session.arch,
        "generation": session.generation,
        "clock": session.clock,
        "ts_origin_ns": plan.origin,
        "events": report.events,
        "events_lost": report.events_lost,
        "missing_probes": report.missing_probes,
    });
    out.write_all(b"\n],\n\"displayTimeUnit\": \"ns\",\n\"otherData\": ")?;
    serde_json::to_writer(&mut *out, &other)?;
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(track: Track, start: u64, end: u64) -> Slice {
        Slice {
            track,
            start,
            end,
            name: String::new(),
            cat: "lpm",
            args: Args::Json(Map::new()),
            flows_out: Vec::new(),
            flows_in: Vec::new(),
        }
    }

    #[test]
    fn partial_overlaps_move_to_another_lane() {
        let t = Track::Cpu(0);
        let slices = vec![
            s(t, 0, 100),
            s(t, 10, 20),
            s(t, 50, 150),
            s(t, 100, 120),
            s(Track::Cpu(1), 5, 500),
        ];
        // 50..150 starts inside 0..100 and ends after it: lane 1. 100..120
        // starts when 0..100 ends: back on lane 0.
        assert_eq!(lay_out(&slices), vec![0, 0, 1, 0, 0]);
    }

    #[test]
    fn micros_truncate_back_to_the_nanosecond() {
        for ns in [0u64, 1, 999, 1001, 123_456_789, 987_654_321_123, 4_000_000_000_007] {
            let v = micros(ns + 17, 17).as_f64().unwrap();
            assert_eq!((v * 1000.0) as u64, ns, "{ns}");
            let d = dur_micros(ns).as_f64().unwrap();
            assert_eq!((d * 1000.0) as u64, ns, "{ns}");
        }
    }
}
