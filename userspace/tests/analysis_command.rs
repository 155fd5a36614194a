//! `lpmtrace report` (commands/report.rs) end to end on scenarios: output,
//! exit status per --fail-on, threshold flags.

use std::path::PathBuf;

use clap::Parser;
use lpmtrace::commands::report::{open_scenario, run_to, ReportArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ReportArgs,
}

fn scn(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

fn run(argv: &[&str], name: &str) -> (u8, String) {
    let path = scn(name);
    let mut all = vec!["report", "--scenario", path.to_str().expect("utf-8 path")];
    all.extend_from_slice(argv);
    let cli = Cli::try_parse_from(all).expect("valid flags");
    let mut source = open_scenario(&path).expect("scenario");
    let mut out = Vec::new();
    let code = run_to(&cli.args, &mut source, &mut out).expect("report runs");
    (code, String::from_utf8(out).expect("utf-8"))
}

#[test]
fn clean_migration_exits_zero() {
    let (code, text) = run(&[], "new-success.scn");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("COMPLETED"), "{text}");
    assert!(text.contains("No findings."), "{text}");
}

#[test]
fn critical_finding_exits_one_unless_never() {
    let (code, text) = run(&[], "old-race-5.2-ebusy.scn");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("[CRITICAL] unterminated-migration"), "{text}");
    assert!(text.contains("[CRITICAL] offline-race (aborted-ebusy)"), "{text}");
    let (code, _) = run(&["--fail-on", "never"], "old-race-5.2-ebusy.scn");
    assert_eq!(code, 0);
}

#[test]
fn warning_trips_only_with_fail_on_warning() {
    let (code, _) = run(&[], "new-long-blackout.scn");
    assert_eq!(code, 0);
    let (code, _) = run(&["--fail-on", "warning"], "new-long-blackout.scn");
    assert_eq!(code, 1);
    // Raising the threshold removes the finding.
    let (code, text) = run(&["--fail-on", "warning", "--blackout", "20s"], "new-long-blackout.scn");
    assert_eq!(code, 0, "{text}");
}

#[test]
fn json_output_follows_the_schema() {
    let (_, text) = run(&["--json"], "new-retries-cancel-rejected.scn");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["migrations"][0]["outcome"], "cancel-rejected");
    assert_eq!(v["migrations"][0]["attempts"].as_array().map(Vec::len), Some(5));
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"cancel-rejected") && kinds.contains(&"suspend-retries-exhausted"),
        "{kinds:?}"
    );
}

#[test]
fn scenario_watermark_reaches_the_join_stall() {
    let (code, text) = run(&[], "old-hang-ipi-target-offline.scn");
    assert_eq!(code, 1);
    assert!(text.contains("join-stall"), "{text}");
    let (_, text) = run(&["--join-stall", "10s"], "old-hang-ipi-target-offline.scn");
    assert!(!text.contains("[CRITICAL] join-stall"), "{text}");
}

#[test]
fn bad_scenario_is_an_error_naming_the_line() {
    let dir = std::env::temp_dir().join(format!("lpmtrace-bad-{}.scn", std::process::id()));
    std::fs::write(&dir, "kernel: new-path\n+0 cpu0 frobnicate\n").expect("write temp");
    let err = open_scenario(&dir).err().expect("error").to_string();
    std::fs::remove_file(&dir).ok();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
#[ignore = "prints every scenario's report; run with --ignored --nocapture"]
fn print_reports() {
    for e in std::fs::read_dir(scn("")).expect("dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        let (_, text) = run(&[], &name);
        println!("===== {name}\n{text}");
    }
}
