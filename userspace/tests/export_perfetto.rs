//! `lpmtrace export --format perfetto`: the demo recording and every
//! scenario export to traces that pass the strict trace-event checker
//! (tests/trace_event_checker), and the trace says what the analysis
//! says: a track per CPU, each migration with its attempts and phases,
//! each CPU's join with a flow to the suspend, findings as instants with
//! their explanation, lost events marked. The checker itself is shown to
//! reject broken traces.

mod trace_event_checker;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use trace_event_checker::{check, Checked};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lpmtrace-export-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `lpmtrace export ARGS -o OUT` and parses OUT.
fn export(args: &[&str], out: &Path) -> Value {
    let o = bin().arg("export").args(args).arg("-o").arg(out).output().unwrap();
    assert!(
        o.status.success(),
        "export {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out).unwrap()).expect("the export is JSON")
}

fn report_json(args: &[&str]) -> Value {
    let o = bin().arg("report").args(args).arg("--json").output().unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn checked(doc: &Value) -> Checked {
    match check(doc) {
        Ok(c) => c,
        Err(errs) => panic!("{} violations, first: {:#?}", errs.len(), &errs[..errs.len().min(10)]),
    }
}

fn scenarios() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    v.sort();
    v
}

#[test]
fn demo_exports_a_valid_trace_that_matches_the_report() {
    let out = tmp("demo.json");
    let doc = export(&["--demo"], &out);
    let c = checked(&doc);
    let report = report_json(&["--demo"]);

    // A track per CPU, named, in the CPUs process.
    let cpus = report["cpus"].as_array().unwrap();
    assert_eq!(cpus.len(), 4);
    for cpu in cpus {
        let name = format!("cpu {}", cpu["cpu"]);
        let t = c.thread(&name).unwrap_or_else(|| panic!("no track {name}"));
        assert!(c.process_names[&t.0].starts_with("CPUs"), "{:?}", c.process_names);
        assert!(c.on_thread(t).count() > 100, "{name} has events");
    }

    // Each migration: a top-level slice with its attempts inside, and each
    // attempt with its join / suspend / wake phases inside it.
    let migrations = report["migrations"].as_array().unwrap();
    for m in migrations {
        let t = c.thread(&format!("migration {}", m["id"])).expect("migration track");
        let slices: Vec<_> = c.on_thread(t).collect();
        let top = slices
            .iter()
            .position(|s| {
                s.depth == 0 && s.name == format!("migration {} ({})", m["id"], m["outcome"].as_str().unwrap())
            })
            .expect("migration slice");
        let top_idx = c.slices.iter().position(|s| s == slices[top]).unwrap();
        let attempts = m["attempts"].as_array().unwrap();
        for a in attempts {
            let name = format!("attempt {}", a["number"]);
            let (ai, att) = c
                .slices
                .iter()
                .enumerate()
                .find(|(_, s)| (s.pid, s.tid) == t && s.name == name)
                .unwrap_or_else(|| panic!("{name} of migration {}", m["id"]));
            assert!(c.within(ai, top_idx), "{name} inside its migration");
            assert_eq!(att.args["result"], a["result"]);
            for p in a["phases"].as_array().unwrap() {
                let start = p["start_ns"].as_i64().unwrap() - doc["otherData"]["ts_origin_ns"].as_i64().unwrap();
                let pi = c
                    .slices
                    .iter()
                    .position(|s| (s.pid, s.tid) == t && s.name == p["name"] && s.start == start)
                    .unwrap_or_else(|| panic!("phase {} of {name}", p["name"]));
                assert!(c.within(pi, ai), "phase {} inside {name}", p["name"]);
            }
        }
    }

    // Each CPU's join is a slice on its CPU track; joins before the
    // suspend carry a flow that ends on that attempt's suspend slice.
    let joins: usize = migrations
        .iter()
        .flat_map(|m| m["attempts"].as_array().unwrap())
        .map(|a| a["joins"].as_array().unwrap().len())
        .sum();
    let join_slices: Vec<usize> = (0..c.slices.len())
        .filter(|&i| c.slices[i].name.starts_with("join (migration "))
        .collect();
    assert_eq!(join_slices.len(), joins);
    assert!(!c.flows.is_empty());
    for f in &c.flows {
        let from = &c.slices[f.from];
        let to = &c.slices[f.to];
        assert!(
            join_slices.iter().any(|&j| c.within(f.from, j)),
            "flow starts in a join: {}",
            from.name
        );
        assert_eq!(to.name, "suspend", "flow ends on the suspend");
        assert!(c.thread_names[&(from.pid, from.tid)].starts_with("cpu "));
        assert!(c.thread_names[&(to.pid, to.tid)].starts_with("migration "));
        assert!(to.start >= from.start, "the join comes first");
    }

    // Findings as instants with kind, severity and explanation.
    let findings = report["findings"].as_array().unwrap();
    let ft = c.thread("findings").unwrap();
    let instants: Vec<_> = c.on_thread(ft).collect();
    assert_eq!(instants.len(), findings.len());
    for (f, i) in findings.iter().zip(&instants) {
        assert_eq!(i.ph, "i");
        assert_eq!(i.args["kind"], f["kind"]);
        assert_eq!(i.args["severity"], f["severity"]);
        assert_eq!(i.args["explanation"], f["explanation"]);
        assert!(!f["explanation"].as_str().unwrap().is_empty());
    }
    assert!(instants.iter().any(|i| i.name == "[critical] cancel-rejected"));

    // The raw events are all there: one slice per enter/exit pair or one
    // instant per point event (the demo has no unpaired probes).
    let raw: usize = c.slices.iter().filter(|s| s.args.get("event_index").is_some()).count();
    assert!(
        raw * 2 > report["events"].as_u64().unwrap() as usize,
        "{raw} raw slices"
    );
    let _ = std::fs::remove_file(out);
}

#[test]
fn every_scenario_exports_a_valid_trace() {
    for path in scenarios() {
        let out = tmp(&format!("{}.json", path.file_stem().unwrap().to_string_lossy()));
        let doc = export(&["--scenario", path.to_str().unwrap()], &out);
        let c = match check(&doc) {
            Ok(c) => c,
            Err(e) => panic!("{}: {:#?}", path.display(), &e[..e.len().min(10)]),
        };
        let report = report_json(&["--scenario", path.to_str().unwrap()]);
        let ft = c.thread("findings").unwrap();
        assert_eq!(
            c.on_thread(ft).count(),
            report["findings"].as_array().unwrap().len(),
            "{}",
            path.display()
        );
        assert_eq!(
            c.thread_names
                .keys()
                .filter(|k| c.thread_names[k].starts_with("migration "))
                .count(),
            report["migrations"].as_array().unwrap().len(),
            "{}",
            path.display()
        );
        let _ = std::fs::remove_file(out);
    }
}

#[test]
fn lost_events_are_marked_on_the_cpu_and_globally() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/lost-in-migration.scn");
    let doc = export(&["--scenario", path.to_str().unwrap()], &tmp("lost.json"));
    let c = checked(&doc);
    let lost: Vec<_> = c.slices.iter().filter(|s| s.cat == "lost").collect();
    assert!(!lost.is_empty(), "a lost window slice");
    assert!(lost[0].name.ends_with("events lost"), "{}", lost[0].name);
    assert!(c.thread_names[&(lost[0].pid, lost[0].tid)].starts_with("cpu "));
    let events = doc["traceEvents"].as_array().unwrap();
    assert!(c
        .global_instants
        .iter()
        .any(|&i| events[i]["s"] == "g" && events[i]["cat"] == "lost"));
    assert!(doc["otherData"]["events_lost"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_file(tmp("lost.json"));
}

#[test]
fn a_hang_shows_as_unfinished_slices() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/old-hang-ipi-target-offline.scn");
    let doc = export(&["--scenario", path.to_str().unwrap()], &tmp("hang.json"));
    let c = checked(&doc);
    assert!(
        c.slices.iter().any(|s| s.args.get("unfinished") == Some(&json!(true))),
        "an enter without exit becomes an unfinished slice"
    );
    assert!(c
        .slices
        .iter()
        .any(|s| s.name.starts_with("migration ") && s.args["finished"] == json!(false)));
    let _ = std::fs::remove_file(tmp("hang.json"));
}

#[test]
fn an_unwritable_output_is_a_clear_error_and_leaves_nothing() {
    let dir = tmp("ro");
    let out = dir.join("missing-folder/trace.json");
    let o = bin().args(["export", "--demo", "-o"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing-folder/trace.json") || err.contains("missing-folder/.trace.json"),
        "{err}"
    );
    assert!(!out.exists());
    let o = bin().args(["export", "-o", "x.json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs a recording"));
}

// ---- the checker rejects what the specification forbids ----

fn ok_doc() -> Value {
    json!({"traceEvents": [
        {"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "p"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 10, "args": {"name": "a"}},
        {"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": 10, "args": {"sort_index": 3}},
        {"ph": "X", "name": "outer", "cat": "c", "ts": 1.0, "dur": 10.0, "pid": 1, "tid": 10},
        {"ph": "X", "name": "inner", "cat": "c", "ts": 2.0, "dur": 3.0, "pid": 1, "tid": 10},
        {"ph": "B", "name": "b", "ts": 20.0, "pid": 1, "tid": 10},
        {"ph": "E", "ts": 25.0, "pid": 1, "tid": 10},
        {"ph": "X", "name": "target", "cat": "c", "ts": 1.0, "dur": 11.0, "pid": 1, "tid": 11},
        {"ph": "s", "name": "fl", "cat": "c", "id": 1, "ts": 2.5, "pid": 1, "tid": 10},
        {"ph": "f", "bp": "e", "name": "fl", "cat": "c", "id": 1, "ts": 5.0, "pid": 1, "tid": 11},
        {"ph": "i", "s": "g", "name": "global", "ts": 3.0, "pid": 1, "tid": 10},
        {"ph": "C", "name": "ctr", "ts": 3.0, "pid": 1, "tid": 10, "args": {"v": 3}}
    ], "displayTimeUnit": "ns"})
}

fn rejected(doc: Value, expect: &str) {
    match check(&doc) {
        Ok(_) => panic!("accepted a trace that should fail with {expect:?}"),
        Err(errs) => assert!(
            errs.iter().any(|e| e.contains(expect)),
            "expected {expect:?} among {errs:#?}"
        ),
    }
}

fn with(mut doc: Value, index: usize, field: &str, v: Value) -> Value {
    doc["traceEvents"][index][field] = v;
    doc
}

fn push(mut doc: Value, ev: Value) -> Value {
    doc["traceEvents"].as_array_mut().unwrap().push(ev);
    doc
}

#[test]
fn checker_accepts_a_correct_trace() {
    let c = checked(&ok_doc());
    assert_eq!(c.flows.len(), 1);
    let inner = c.slices.iter().position(|s| s.name == "inner").unwrap();
    let outer = c.slices.iter().position(|s| s.name == "outer").unwrap();
    assert!(c.within(inner, outer));
    assert_eq!(c.flows[0].from, inner, "the s binds to the deepest open slice");
    assert_eq!(c.slices[c.flows[0].to].name, "target");
}

#[test]
fn checker_rejects_broken_traces() {
    rejected(json!([]), "not a JSON object");
    rejected(json!({"events": []}), "traceEvents missing");
    rejected(
        with(ok_doc(), 3, "dur", json!(-1.0)),
        "dur missing, not a number or negative",
    );
    rejected(with(ok_doc(), 3, "dur", Value::Null), "dur missing");
    rejected(with(ok_doc(), 3, "ts", json!("1.0")), "is not a number");
    rejected(with(ok_doc(), 3, "ph", json!("Z")), "unknown phase");
    rejected(with(ok_doc(), 3, "pid", json!(-1)), "non-negative integers");
    rejected(with(ok_doc(), 3, "tid", json!("main")), "non-negative integers");
    rejected(with(ok_doc(), 3, "name", json!(5)), "name missing or not a string");
    rejected(with(ok_doc(), 3, "args", json!([1])), "args is not an object");
    // inner ends after outer: partial overlap.
    rejected(with(ok_doc(), 4, "dur", json!(9.5)), "partly overlaps");
    // One nanosecond past the parent after truncation is already too much.
    rejected(with(ok_doc(), 4, "dur", json!(9.0011)), "partly overlaps");
    rejected(with(ok_doc(), 6, "ph", json!("B")), "never ends");
    rejected(
        push(ok_doc(), json!({"ph": "E", "ts": 30.0, "pid": 1, "tid": 12})),
        "without an open B",
    );
    rejected(with(ok_doc(), 6, "ts", json!(19.0)), "time goes backwards");
    // Flows: unpaired, reversed, unbound, bad bind point, no id.
    rejected(with(ok_doc(), 9, "id", json!(2)), "never ends");
    rejected(with(ok_doc(), 9, "ts", json!(2.0)), "ends before it starts");
    rejected(with(ok_doc(), 8, "ts", json!(15.0)), "binds to no slice");
    rejected(with(ok_doc(), 9, "bp", json!("x")), "bp must be");
    rejected(with(ok_doc(), 8, "id", Value::Null), "id missing");
    rejected(with(ok_doc(), 8, "cat", Value::Null), "cat missing");
    rejected(
        push(
            ok_doc(),
            json!({"ph": "s", "name": "fl", "cat": "c", "id": 1, "ts": 2.6, "pid": 1, "tid": 10}),
        ),
        "starts twice",
    );
    // Instants, counters, metadata.
    rejected(with(ok_doc(), 10, "s", json!("x")), "scope");
    rejected(with(ok_doc(), 11, "args", json!({"v": "three"})), "object of numbers");
    rejected(
        with(ok_doc(), 1, "name", json!("thread_title")),
        "unknown metadata name",
    );
    rejected(
        with(ok_doc(), 1, "args", json!({"title": "a"})),
        "args.name must be a string",
    );
    rejected(
        with(ok_doc(), 2, "args", json!({"sort_index": 1.5})),
        "sort_index must be an integer",
    );
    // A tid in two processes.
    rejected(
        push(
            ok_doc(),
            json!({"ph": "X", "name": "y", "ts": 1.0, "dur": 1.0, "pid": 2, "tid": 10}),
        ),
        "used in pid 2 and pid 1",
    );
    let mut bad_unit = ok_doc();
    bad_unit["displayTimeUnit"] = json!("s");
    rejected(bad_unit, "displayTimeUnit");
}

#[test]
fn checker_rejects_a_real_export_once_broken() {
    // The demo export, with one join slice stretched past its parent
    // track's next slice, must fail: the checker is not vacuous on
    // real-size input.
    let mut doc = export(&["--demo"], &tmp("demo-broken.json"));
    let events = doc["traceEvents"].as_array_mut().unwrap();
    let i = events
        .iter()
        .position(|e| e["ph"] == "X" && e["name"] == "attempt 1")
        .unwrap();
    let d = events[i]["dur"].as_f64().unwrap();
    events[i]["dur"] = json!(d * 100.0);
    rejected(doc.clone(), "partly overlaps");
    let events = doc["traceEvents"].as_array_mut().unwrap();
    let f = events.iter().position(|e| e["ph"] == "f").unwrap();
    events.remove(f);
    rejected(doc, "never ends");
    let _ = std::fs::remove_file(tmp("demo-broken.json"));
    let _ = std::fs::remove_dir(tmp("ro"));
}
