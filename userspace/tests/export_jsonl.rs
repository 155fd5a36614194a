//! `lpmtrace export --format jsonl`: the schema of docs/export.md on the
//! demo recording: a header, every event in stream order with the same
//! fields as `dump --format jsonl`, then the analysis records agreeing
//! with `report --json`, then a summary.

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let o = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(args)
        .output()
        .unwrap();
    (o.status.code(), o.stdout)
}

#[test]
fn demo_jsonl_follows_the_schema_and_matches_report_and_dump() {
    let (code, out) = run(&["export", "--demo", "--format", "jsonl", "-o", "-"]);
    assert_eq!(code, Some(0));
    let lines: Vec<Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is one JSON object"))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["record"].as_str().unwrap()).collect();

    // Order: header, events, migrations, findings, cpus, summary.
    assert_eq!(kinds[0], "header");
    assert_eq!(*kinds.last().unwrap(), "summary");
    let rank = |k: &str| {
        ["header", "event", "migration", "finding", "cpu", "summary"]
            .iter()
            .position(|&x| x == k)
    };
    let ranks: Vec<usize> = kinds
        .iter()
        .map(|k| rank(k).unwrap_or_else(|| panic!("unknown record {k}")))
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "records in schema order");

    let header = &lines[0];
    assert_eq!(header["format"], "lpmtrace-export-jsonl");
    assert_eq!(header["version"], 1);
    assert_eq!(header["session"]["kernel_release"], "6.1.0-54-powerpc64le");

    // Events: consecutive indices, same content as dump's JSON lines.
    let events: Vec<&Value> = lines.iter().filter(|l| l["record"] == "event").collect();
    let summary = lines.last().unwrap();
    assert_eq!(events.len() as u64, summary["events"].as_u64().unwrap());
    let (_, dump) = run(&["dump", "--demo", "--format", "jsonl"]);
    let dumped: Vec<Value> = dump
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(dumped.len(), events.len());
    for (i, (e, d)) in events.iter().zip(&dumped).enumerate() {
        assert_eq!(e["index"], i as u64);
        let mut e = (*e).clone();
        let m = e.as_object_mut().unwrap();
        m.remove("record");
        m.remove("index");
        assert_eq!(&e, d, "event {i} differs from dump");
    }

    // Analysis records equal the report's.
    let (_, json) = run(&["report", "--demo", "--json"]);
    let report: Value = serde_json::from_slice(&json).unwrap();
    let strip = |kind: &str| -> Vec<Value> {
        lines
            .iter()
            .filter(|l| l["record"] == kind)
            .map(|l| {
                let mut l = l.clone();
                l.as_object_mut().unwrap().remove("record");
                l
            })
            .collect()
    };
    assert_eq!(Value::Array(strip("migration")), report["migrations"]);
    assert_eq!(Value::Array(strip("finding")), report["findings"]);
    assert_eq!(Value::Array(strip("cpu")), report["cpus"]);
    assert_eq!(summary["worst_severity"], "critical");
    assert_eq!(summary["events_lost"], report["events_lost"]);
}
