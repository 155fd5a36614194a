//! `dump` and `info` on recordings: the dump prints exactly the lines of
//! `live --plain` (views::event_line), filters by CPU, probe and time, says
//! when a file was recovered, and points at --salvage on damage; `info`
//! describes header, counts and footer state.

mod record_support;

use clap::Parser;
use lpmtrace::commands::dump::{dump, DumpArgs};
use lpmtrace::commands::info::{info_json, write_text, InfoArgs};
use lpmtrace::events::Event;
use lpmtrace::record::{FileSource, OpenOptions, Writer, WriterOptions};
use lpmtrace::views::event_line::{write_event, LineClock, LineFormat};
use record_support::*;

#[derive(Parser)]
struct DumpCli {
    #[command(flatten)]
    args: DumpArgs,
}

#[derive(Parser)]
struct InfoCli {
    #[command(flatten)]
    args: InfoArgs,
}

fn dump_args(argv: &[&str]) -> DumpArgs {
    DumpCli::try_parse_from(std::iter::once("dump").chain(argv.iter().copied()))
        .unwrap()
        .args
}

fn run_dump(args: &DumpArgs) -> (String, String) {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    dump(args, &mut out, &mut notes).unwrap();
    (String::from_utf8(out).unwrap(), String::from_utf8(notes).unwrap())
}

fn lines(events: &[Event], format: LineFormat) -> String {
    let session = full_session();
    let mut out = Vec::new();
    // Text lines count from the recording's first event (1 s here).
    let clock = LineClock::with_boot(1_000_000_000);
    for e in events {
        write_event(&mut out, e, &session, format, clock).unwrap();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn dump_prints_the_live_plain_lines() {
    let dir = TempDir::new("cmd");
    let path = dir.file("d.lpmt");
    let events = every_kind(1_000_000_000);
    write_file(&path, &full_session(), &events, small_blocks());
    let p = path.to_str().unwrap();
    let (out, notes) = run_dump(&dump_args(&[p, "--format", "jsonl"]));
    assert_eq!(out, lines(&events, LineFormat::Jsonl));
    assert_eq!(notes, "");
    let (out, _) = run_dump(&dump_args(&[p]));
    assert_eq!(out, lines(&events, LineFormat::Text));
    // Names resolved from the recorded session, not from this host.
    assert!(out.contains("state_name=cpu:teardown"), "{out}");
    assert!(out.contains("fun=sched_cpu_deactivate"), "{out}");
}

#[test]
fn dump_filters_by_cpu_probe_and_time() {
    let dir = TempDir::new("cmd");
    let path = dir.file("f.lpmt");
    let events = every_kind(1_000_000_000); // 1 ms apart from t0 = 1 s
    write_file(&path, &full_session(), &events, small_blocks());
    let p = path.to_str().unwrap();

    let pick = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).copied().collect::<Vec<_>>();
    let (out, _) = run_dump(&dump_args(&[p, "--cpu", "2", "--format", "jsonl"]));
    assert_eq!(out, lines(&pick(&|e| e.cpu == 2), LineFormat::Jsonl));

    let (out, _) = run_dump(&dump_args(&[
        p, "--probe", "ipi", "--probe", "lpm.join", "--format", "jsonl",
    ]));
    let want = pick(&|e| e.kind.probe().starts_with("ipi.") || e.kind.probe() == "lpm.join");
    assert!(!want.is_empty());
    assert_eq!(out, lines(&want, LineFormat::Jsonl));

    // 5 ms .. 9 ms after the first event, inclusive.
    let (out, _) = run_dump(&dump_args(&[
        p, "--from", "+0.005s", "--to", "9ms", "--format", "jsonl",
    ]));
    assert_eq!(out, lines(&events[5..=9], LineFormat::Jsonl));
    let (out, _) = run_dump(&dump_args(&[p, "--from", "0.02", "--cpu", "0", "--format", "jsonl"]));
    assert_eq!(
        out,
        lines(&pick(&|e| e.ts_ns >= 1_020_000_000 && e.cpu == 0), LineFormat::Jsonl)
    );

    // Any time a line prints selects that line: since the start, boot
    // time as printed, or the same boot time as dmesg spells it.
    let (text, _) = run_dump(&dump_args(&[p]));
    let seventh = text.lines().nth(7).unwrap();
    let since = seventh.split_whitespace().next().unwrap();
    let boot = &seventh[seventh.find('[').unwrap()..=seventh.find(']').unwrap()];
    let secs = boot.trim_matches(['[', ']', ' ']);
    for from in [
        since.to_string(),
        boot.to_string(),
        format!("boot {secs}s"),
        format!("boot:{secs}"),
    ] {
        let (out, _) = run_dump(&dump_args(&[p, "--from", &from, "--to", since]));
        assert_eq!(out.lines().collect::<Vec<_>>(), [seventh], "--from {from:?}");
    }
    // UTC as report prints it (to the millisecond; these events are 1 ms
    // apart), through the session's wall-clock offset.
    let utc = lpmtrace::views::time::utc(events[7].ts_ns, full_session().clock_to_wall_offset_ns).unwrap();
    let (out, _) = run_dump(&dump_args(&[p, "--from", &utc, "--to", since]));
    assert_eq!(out.lines().collect::<Vec<_>>(), [seventh], "--from {utc:?}");

    assert!(DumpCli::try_parse_from(["dump", p, "--probe", "nosuch"]).is_err());
    assert!(DumpCli::try_parse_from(["dump", p, "--from", "-1"]).is_err());
    let mut sink = Vec::new();
    let err = dump(&dump_args(&[p, "--from", "2", "--to", "1"]), &mut sink, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("--from is after --to"));
}

#[test]
fn dump_reports_recovery_and_damage() {
    let dir = TempDir::new("cmd");
    let path = dir.file("r.lpmt");
    let events = every_kind(1_000_000_000);
    let mut w = Writer::create(&path, &full_session(), small_blocks()).unwrap();
    for e in &events {
        w.push(e).unwrap();
    }
    drop(w); // killed recorder: no footer
    let p = path.to_str().unwrap();
    let (out, notes) = run_dump(&dump_args(&[p, "--format", "jsonl"]));
    assert_eq!(out, lines(&events, LineFormat::Jsonl));
    assert!(
        notes.contains(&format!("r.lpmt: no footer: recovered {} events up to", events.len())),
        "{notes}"
    );
    assert!(notes.contains("the recorder did not finish"), "{notes}");

    // Damage the second block of a finished file.
    let path = dir.file("bad.lpmt");
    write_file(&path, &full_session(), &events, small_blocks());
    let b1 = FileSource::open(&path, OpenOptions::default()).unwrap().info().blocks[1];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[b1.offset as usize + 44] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let err = dump(&dump_args(&[p]), &mut out, &mut notes).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("rerun with --salvage"), "{msg}");
    assert!(
        msg.contains(&format!(
            "bad.lpmt: block 1 at byte offset {}: checksum mismatch",
            b1.offset
        )),
        "{msg}"
    );
    let (out, notes) = run_dump(&dump_args(&[p, "--salvage", "--format", "jsonl"]));
    // The block's events are gone; one loss record stands in their place.
    assert_eq!(out.lines().count(), events.len() - b1.events as usize + 1);
    let loss = out
        .lines()
        .find(|l| l.contains(&format!("\"cpu\":{}", lpmtrace::events::DAMAGED_BLOCK_CPU)))
        .unwrap_or_else(|| panic!("no loss record for the block:\n{out}"));
    assert!(loss.contains(&format!("\"count\":{}", b1.events)), "{loss}");
    assert!(
        notes.contains("salvage: skipped") && notes.contains("block 1"),
        "{notes}"
    );
}

#[test]
fn info_describes_the_recording() {
    let dir = TempDir::new("cmd");
    let path = dir.file("i.lpmt");
    let events = ipi_stream(1000, 5);
    let mut all = every_kind(events.last().unwrap().ts_ns + 1);
    all.splice(0..0, events);
    write_file(&path, &full_session(), &all, WriterOptions::default());
    let args = InfoCli::try_parse_from(["info", path.to_str().unwrap(), "--json"])
        .unwrap()
        .args;
    assert!(args.json);
    let src = FileSource::open(&args.file, OpenOptions::default()).unwrap();

    let v = info_json(&src);
    assert_eq!(v["events"], all.len() as u64);
    assert_eq!(v["footer"]["status"], "present");
    assert_eq!(v["lost_events"], 17);
    assert_eq!(v["probe_counts"]["ipi.send"], 1003);
    assert_eq!(v["session"]["hostname"], "lpar-07.example");
    assert_eq!(v["duration_ns"], all.last().unwrap().ts_ns - all[0].ts_ns);
    assert!(v["recovery_note"].is_null());
    assert!(v["blocks"].as_array().is_some_and(|b| !b.is_empty()));

    let mut out = Vec::new();
    write_text(&mut out, &src).unwrap();
    let text = String::from_utf8(out).unwrap();
    for want in [
        "footer      present",
        "host        lpar-07.example",
        "kernel      6.8.0-lpm+ (ppc64le, 16 CPUs, LPM generation new-path)",
        "lpm.rtas         MISSING: kprobe:rtas_call: symbol not in kallsyms",
        "lpm.join         attached via do_join kprobes: kprobe:do_join, kretprobe:do_join",
        "lost        17 events in 1 loss report\n",
        "suspend-me  RTAS token 0x2b",
        "hcalls      H_JOIN",
        &format!("events      {} in 1 blocks", all.len()),
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(text.contains("ipi.send                 1003"), "{text}");
}

#[test]
fn the_binary_dumps_into_a_closed_pipe_quietly_and_reports_errors() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = TempDir::new("cmd");
    let path = dir.file("pipe.lpmt");
    write_file(&path, &full_session(), &ipi_stream(40_000, 1), WriterOptions::default());
    let exe = env!("CARGO_BIN_EXE_lpmtrace");

    // `lpmtrace dump FILE | head -1`
    let mut child = Command::new(exe)
        .args(["dump", path.to_str().unwrap(), "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["ts_ns"], 5_000_000_000_000u64);
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    let out = Command::new(exe)
        .args(["info", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"], 120_000);

    let out = Command::new(exe)
        .args(["dump", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a directory, not an lpmtrace recording"), "{err}");
}
