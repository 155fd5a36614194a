//! A strict checker of the Chrome trace-event format ("Trace Event Format",
//! the published Google document that Perfetto's JSON importer follows),
//! used because Perfetto's trace processor cannot run here: the PyPI
//! `perfetto` package downloads `trace_processor_shell` at run time, which
//! fails without network (docs/export.md).
//!
//! What it enforces, per the specification:
//! - the JSON Object Format: an object whose `traceEvents` is an array;
//!   `displayTimeUnit`, when present, is `ms` or `ns`; `otherData` an object;
//! - every event: `ph` one of the specified phases; `name` a string (except
//!   on `E`); `cat` a string when present; `ts` a number >= 0 (except on `M`);
//!   `pid` and `tid` non-negative integers; `args` an object when present;
//! - `X`: `dur` a number >= 0; `B`/`E`: per thread in file order, with
//!   non-decreasing times, every `E` closing an open `B`, none left open;
//! - slices of one thread (`X`, `B`/`E` pairs and thread-scoped instants)
//!   nest properly: no partial overlap;
//! - `i`/`I`: scope `s` one of `g`, `p`, `t`; `C`: numeric `args`;
//! - flows `s`/`t`/`f`: `id` and `cat` present; per (cat, name, id) exactly
//!   one `s` and one `f`, `f` not before `s`; `bp` only `e`; the `s` and an
//!   `f` with `bp: e` bind to a slice of their thread open at their time,
//!   an `f` without `bp` to the next slice starting on its thread;
//! - `M`: one of `process_name`, `process_labels`, `process_sort_index`,
//!   `thread_name`, `thread_sort_index` with the argument each needs
//!   (`name` / `labels` a string, `sort_index` an integer).
//!
//! And what Perfetto's importer adds: times are turned into nanoseconds as
//! `trunc(µs * 1000)` (so nesting is checked on those), and a thread id
//! belongs to one process only (it treats tids as system-wide).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Phases the specification defines.
const PHASES: &[&str] = &[
    "B", "E", "X", "i", "I", "C", "b", "n", "e", "S", "T", "p", "F", "s", "t", "f", "P", "N", "O", "D", "M", "V", "v",
    "R", "c", "(", ")",
];

/// A slice as the importer sees it (nanoseconds since the trace's zero).
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// Index of the event in `traceEvents`.
    pub event: usize,
    /// Process.
    pub pid: u64,
    /// Thread.
    pub tid: u64,
    /// Name.
    pub name: String,
    /// Category (empty when absent).
    pub cat: String,
    /// Start.
    pub start: i64,
    /// End (== start for instants).
    pub end: i64,
    /// Nesting depth on its thread (0 = top level).
    pub depth: usize,
    /// The parent slice (index into [`Checked::slices`]).
    pub parent: Option<usize>,
    /// Args.
    pub args: Value,
    /// Phase (`X`, `B`, `i`).
    pub ph: String,
}

/// A flow with the slices its ends bound to.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// (cat, name, id).
    pub key: (String, String, String),
    /// Slice the `s` bound to.
    pub from: usize,
    /// Slice the `f` bound to.
    pub to: usize,
}

/// One end of a flow (`s`, `t` or `f`), bound once all slices are known.
struct FlowEnd {
    event: usize,
    key: (String, String, String),
    ph: String,
    ts: i64,
    thread: (u64, u64),
    /// `"bp": "e"`: binds to the enclosing slice.
    bp_e: bool,
}

/// What a valid trace contains.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// Events in `traceEvents`.
    pub events: usize,
    /// Every slice and thread-scoped instant, by thread then start.
    pub slices: Vec<Slice>,
    /// Global and process-scoped instants (event indices).
    pub global_instants: Vec<usize>,
    /// Flows.
    pub flows: Vec<Flow>,
    /// `thread_name` metadata.
    pub thread_names: BTreeMap<(u64, u64), String>,
    /// `process_name` metadata.
    pub process_names: BTreeMap<u64, String>,
}

impl Checked {
    /// Thread (pid, tid) called `name`.
    pub fn thread(&self, name: &str) -> Option<(u64, u64)> {
        self.thread_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(k, _)| *k)
    }

    /// Slices on a thread.
    pub fn on_thread(&self, t: (u64, u64)) -> impl Iterator<Item = &Slice> {
        self.slices.iter().filter(move |s| (s.pid, s.tid) == t)
    }

    /// Whether slice `i` is `ancestor` or lies inside it.
    pub fn within(&self, mut i: usize, ancestor: usize) -> bool {
        loop {
            if i == ancestor {
                return true;
            }
            match self.slices[i].parent {
                Some(p) => i = p,
                None => return false,
            }
        }
    }
}

/// Importer time: microseconds (number) to nanoseconds, truncated.
fn ns(v: &Value) -> Option<i64> {
    v.as_f64().map(|us| (us * 1000.0) as i64)
}

fn uint(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// Checks a whole document; `Err` lists every violation found.
pub fn check(doc: &Value) -> Result<Checked, Vec<String>> {
    let mut errs = Vec::new();
    let Some(obj) = doc.as_object() else {
        return Err(vec!["document: not a JSON object (JSON Object Format expected)".into()]);
    };
    let Some(events) = obj.get("traceEvents").and_then(Value::as_array) else {
        return Err(vec!["document: traceEvents missing or not an array".into()]);
    };
    if let Some(u) = obj.get("displayTimeUnit") {
        if u != "ms" && u != "ns" {
            errs.push(format!("document: displayTimeUnit {u} is not \"ms\" or \"ns\""));
        }
    }
    if let Some(o) = obj.get("otherData") {
        if !o.is_object() {
            errs.push("document: otherData is not an object".into());
        }
    }

    let mut out = Checked {
        events: events.len(),
        ..Checked::default()
    };
    // Per thread: open B slices (index into out.slices).
    let mut open_b: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    let mut last_be_ts: HashMap<(u64, u64), i64> = HashMap::new();
    let mut tid_owner: HashMap<u64, u64> = HashMap::new();
    // Flow ends to bind once all slices are known.
    let mut flow_ends: Vec<FlowEnd> = Vec::new();
    let mut async_open: HashMap<(String, String), i64> = HashMap::new();

    for (i, ev) in events.iter().enumerate() {
        let at = |msg: String| format!("event {i}: {msg}");
        let Some(e) = ev.as_object() else {
            errs.push(at("not an object".into()));
            continue;
        };
        let Some(ph) = e.get("ph").and_then(Value::as_str) else {
            errs.push(at("ph missing or not a string".into()));
            continue;
        };
        if !PHASES.contains(&ph) {
            errs.push(at(format!("unknown phase {ph:?}")));
            continue;
        }
        let name = e.get("name").and_then(Value::as_str);
        if name.is_none() && ph != "E" {
            errs.push(at(format!("ph {ph}: name missing or not a string")));
        }
        if let Some(c) = e.get("cat") {
            if !c.is_string() {
                errs.push(at("cat is not a string".into()));
            }
        }
        let cat = e.get("cat").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(a) = e.get("args") {
            if !a.is_object() {
                errs.push(at("args is not an object".into()));
            }
        }
        let (Some(pid), Some(tid)) = (e.get("pid").and_then(uint), e.get("tid").and_then(uint)) else {
            errs.push(at("pid and tid must be non-negative integers".into()));
            continue;
        };
        let thread = (pid, tid);
        if ph != "M" || tid != 0 {
            if let Some(&owner) = tid_owner.get(&tid) {
                if owner != pid && tid != 0 {
                    errs.push(at(format!(
                        "tid {tid} used in pid {pid} and pid {owner} (importers treat tids as system-wide)"
                    )));
                }
            } else if tid != 0 {
                tid_owner.insert(tid, pid);
            }
        }
        let ts = match e.get("ts") {
            Some(v) if v.is_number() => match ns(v) {
                Some(t) if t >= 0 => Some(t),
                _ => {
                    errs.push(at(format!("ts {v} is negative")));
                    None
                }
            },
            Some(v) => {
                errs.push(at(format!("ts {v} is not a number")));
                None
            }
            None if ph == "M" => None,
            None => {
                errs.push(at("ts missing".into()));
                None
            }
        };
        let name_s = name.unwrap_or("").to_string();
        let args = e.get("args").cloned().unwrap_or(Value::Null);
        match ph {
            "X" => {
                let Some(ts) = ts else { continue };
                let dur = match e.get("dur") {
                    Some(v) if v.is_number() => ns(v).filter(|d| *d >= 0),
                    _ => None,
                };
                let Some(dur) = dur else {
                    errs.push(at("X: dur missing, not a number or negative".into()));
                    continue;
                };
                out.slices.push(Slice {
                    event: i,
                    pid,
                    tid,
                    name: name_s,
                    cat,
                    start: ts,
                    end: ts + dur,
                    depth: 0,
                    parent: None,
                    args,
                    ph: ph.into(),
                });
            }
            "B" | "E" => {
                let Some(ts) = ts else { continue };
                if let Some(&last) = last_be_ts.get(&thread) {
                    if ts < last {
                        errs.push(at(format!("{ph}: time goes backwards on thread {pid}/{tid}")));
                    }
                }
                last_be_ts.insert(thread, ts);
                if ph == "B" {
                    out.slices.push(Slice {
                        event: i,
                        pid,
                        tid,
                        name: name_s,
                        cat,
                        start: ts,
                        end: i64::MAX,
                        depth: 0,
                        parent: None,
                        args,
                        ph: ph.into(),
                    });
                    open_b.entry(thread).or_default().push(out.slices.len() - 1);
                } else {
                    match open_b.get_mut(&thread).and_then(Vec::pop) {
                        Some(b) => {
                            if name.is_some_and(|n| n != out.slices[b].name) {
                                errs.push(at(format!(
                                    "E {:?} closes B {:?} (improper nesting)",
                                    name.unwrap_or(""),
                                    out.slices[b].name
                                )));
                            }
                            out.slices[b].end = ts;
                        }
                        None => errs.push(at(format!("E on thread {pid}/{tid} without an open B"))),
                    }
                }
            }
            "i" | "I" => {
                let Some(ts) = ts else { continue };
                let scope = e.get("s").map(|s| s.as_str().unwrap_or("?")).unwrap_or("t");
                match scope {
                    "t" => out.slices.push(Slice {
                        event: i,
                        pid,
                        tid,
                        name: name_s,
                        cat,
                        start: ts,
                        end: ts,
                        depth: 0,
                        parent: None,
                        args,
                        ph: ph.into(),
                    }),
                    "g" | "p" => out.global_instants.push(i),
                    other => errs.push(at(format!("instant scope {other:?} is not g, p or t"))),
                }
            }
            "C" => match e.get("args").and_then(Value::as_object) {
                Some(a) if a.values().all(Value::is_number) => {}
                _ => errs.push(at("C: args must be an object of numbers".into())),
            },
            "s" | "t" | "f" => {
                let Some(ts) = ts else { continue };
                let id = match e.get("id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        errs.push(at(format!("flow {ph}: id missing")));
                        continue;
                    }
                };
                if cat.is_empty() {
                    errs.push(at(format!("flow {ph}: cat missing")));
                }
                let bp = e.get("bp");
                if bp.is_some_and(|b| b != "e") {
                    errs.push(at(format!("flow {ph}: bp must be \"e\"")));
                }
                flow_ends.push(FlowEnd {
                    event: i,
                    key: (cat, name_s, id),
                    ph: ph.into(),
                    ts,
                    thread,
                    bp_e: bp.is_some(),
                });
            }
            "b" | "e" | "n" => {
                let id = e
                    .get("id")
                    .map(|v| v.to_string())
                    .or_else(|| e.get("id2").map(|v| v.to_string()));
                let Some(id) = id else {
                    errs.push(at(format!("async {ph}: id missing")));
                    continue;
                };
                if cat.is_empty() {
                    errs.push(at(format!("async {ph}: cat missing")));
                }
                let c = async_open.entry((cat, id)).or_default();
                match ph {
                    "b" => *c += 1,
                    "e" if *c == 0 => errs.push(at("async e without b".into())),
                    "e" => *c -= 1,
                    _ => {}
                }
            }
            "M" => {
                let a = e.get("args");
                let need = |k: &str| a.and_then(|a| a.get(k));
                match name.unwrap_or("") {
                    "process_name" | "thread_name" => match need("name").and_then(Value::as_str) {
                        Some(n) if name == Some("thread_name") => {
                            out.thread_names.insert(thread, n.to_string());
                        }
                        Some(n) => {
                            out.process_names.insert(pid, n.to_string());
                        }
                        None => errs.push(at(format!("M {}: args.name must be a string", name.unwrap_or("")))),
                    },
                    "process_labels" => {
                        if !need("labels").is_some_and(Value::is_string) {
                            errs.push(at("M process_labels: args.labels must be a string".into()));
                        }
                    }
                    "process_sort_index" | "thread_sort_index" => {
                        if !need("sort_index").is_some_and(|v| v.is_i64() || v.is_u64()) {
                            errs.push(at(format!(
                                "M {}: args.sort_index must be an integer",
                                name.unwrap_or("")
                            )));
                        }
                    }
                    other => errs.push(at(format!("M: unknown metadata name {other:?}"))),
                }
            }
            _ => {}
        }
    }
    for (thread, stack) in &open_b {
        for &b in stack {
            errs.push(format!(
                "event {}: B {:?} on thread {}/{} never ends",
                out.slices[b].event, out.slices[b].name, thread.0, thread.1
            ));
        }
    }
    for ((cat, id), n) in &async_open {
        if *n != 0 {
            errs.push(format!("async {cat}/{id}: {n} b without e"));
        }
    }

    // Nesting per thread, on the importer's nanoseconds.
    let mut order: Vec<usize> = (0..out.slices.len()).collect();
    order.sort_by_key(|&i| {
        let s = &out.slices[i];
        (s.pid, s.tid, s.start, std::cmp::Reverse(s.end), s.event)
    });
    let mut stack: Vec<usize> = Vec::new();
    let mut thread = None;
    for &i in &order {
        let t = (out.slices[i].pid, out.slices[i].tid);
        if thread != Some(t) {
            stack.clear();
            thread = Some(t);
        }
        let (start, end) = (out.slices[i].start, out.slices[i].end);
        // A slice ending where the next one starts is closed by then.
        while stack.last().is_some_and(|&p| out.slices[p].end <= start) {
            stack.pop();
        }
        if let Some(&p) = stack.last() {
            if end > out.slices[p].end {
                errs.push(format!(
                    "event {}: slice {:?} [{start}, {end}] ns partly overlaps {:?} [{}, {}] ns on thread {}/{} (slices must nest)",
                    out.slices[i].event,
                    out.slices[i].name,
                    out.slices[p].name,
                    out.slices[p].start,
                    out.slices[p].end,
                    t.0,
                    t.1
                ));
                continue;
            }
            out.slices[i].parent = Some(p);
            out.slices[i].depth = out.slices[p].depth + 1;
        }
        stack.push(i);
    }

    // Flows: pair ends, then bind each to a slice.
    let deepest_open = |thread: (u64, u64), ts: i64| -> Option<usize> {
        out.slices
            .iter()
            .enumerate()
            .filter(|(_, s)| (s.pid, s.tid) == thread && s.ph != "i" && s.ph != "I" && s.start <= ts && ts < s.end)
            .max_by_key(|(_, s)| (s.depth, s.start))
            .map(|(i, _)| i)
    };
    let next_starting = |thread: (u64, u64), ts: i64| -> Option<usize> {
        out.slices
            .iter()
            .enumerate()
            .filter(|(_, s)| (s.pid, s.tid) == thread && s.start >= ts)
            .min_by_key(|(_, s)| s.start)
            .map(|(i, _)| i)
    };
    let mut starts: BTreeMap<(String, String, String), (usize, i64, usize)> = BTreeMap::new();
    let mut ends: BTreeMap<(String, String, String), (usize, i64, usize)> = BTreeMap::new();
    for FlowEnd {
        event: ev,
        key,
        ph,
        ts,
        thread,
        bp_e,
    } in &flow_ends
    {
        let bound = match (ph.as_str(), bp_e) {
            ("f", false) => next_starting(*thread, *ts),
            _ => deepest_open(*thread, *ts),
        };
        let Some(slice) = bound else {
            errs.push(format!(
                "event {ev}: flow {ph} {key:?} binds to no slice on thread {}/{}",
                thread.0, thread.1
            ));
            continue;
        };
        let (map, what) = match ph.as_str() {
            "s" => (&mut starts, "starts"),
            "f" => (&mut ends, "ends"),
            _ => continue,
        };
        if map.insert(key.clone(), (*ev, *ts, slice)).is_some() {
            errs.push(format!("event {ev}: flow {key:?} {what} twice"));
        }
    }
    for (key, &(ev, ts, from)) in &starts {
        match ends.get(key) {
            None => errs.push(format!("event {ev}: flow {key:?} starts but never ends")),
            Some(&(fev, fts, to)) => {
                if fts < ts {
                    errs.push(format!("event {fev}: flow {key:?} ends before it starts"));
                } else {
                    out.flows.push(Flow {
                        key: key.clone(),
                        from,
                        to,
                    });
                }
            }
        }
    }
    for (key, &(ev, _, _)) in &ends {
        if !starts.contains_key(key) {
            errs.push(format!("event {ev}: flow {key:?} ends but never starts"));
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}
