//! First contact, tried as a hostile local user would: outputs never
//! replace an input (or, without `--force`, any file), and nothing a
//! recording holds reaches the terminal raw. Runs the real binary.

mod record_support;

use std::path::Path;
use std::process::{Command, Output};

use lpmtrace::events::{Comm, EventKind};
use record_support::*;

const HOSTILE_HOST: &str = "lpar\x1b]0;pwned\x07\x1b[2J\x1b[H";
const HOSTILE_RELEASE: &str = "6.1.0\u{9b}2J-evil";
const HOSTILE_COMM: &str = "d\x1b[31mmgr\r";

fn lpmtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run lpmtrace")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small valid recording at `path`.
fn recording(path: &Path) {
    write_file(path, &full_session(), &every_kind(1_000_000_000), small_blocks());
}

/// A recording whose strings hold terminal escape sequences.
fn hostile_recording(path: &Path) {
    let mut session = full_session();
    session.hostname = HOSTILE_HOST.into();
    session.kernel_release = HOSTILE_RELEASE.into();
    let mut events = every_kind(1_000_000_000);
    for e in &mut events {
        match &mut e.kind {
            EventKind::TriggerEnter { comm, .. } | EventKind::CpuDownEnter { comm, .. } => {
                *comm = Comm::from_text(HOSTILE_COMM)
            }
            _ => {}
        }
    }
    write_file(path, &session, &events, small_blocks());
}

#[test]
fn export_and_html_never_write_over_their_input() {
    let dir = TempDir::new("fc-input");
    let input = dir.file("in.lpmt");
    recording(&input);
    let before = std::fs::read(&input).unwrap();
    let alias = dir.file("alias.lpmt");
    std::fs::hard_link(&input, &alias).unwrap();
    let p = input.to_str().unwrap();
    for out in [p, alias.to_str().unwrap()] {
        for force in [&[][..], &["--force"][..]] {
            let mut args = vec!["export", p, "--format", "jsonl", "-o", out];
            args.extend(force);
            let o = lpmtrace(&args);
            assert_eq!(o.status.code(), Some(2), "export {args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains("refusing to write over an input"), "{}", stderr(&o));
            let mut args = vec!["report", p, "--html", out];
            args.extend(force);
            let o = lpmtrace(&args);
            assert_eq!(o.status.code(), Some(2), "report {args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains("refusing to write over an input"), "{}", stderr(&o));
        }
    }
    assert_eq!(std::fs::read(&input).unwrap(), before, "the recording is intact");
    // Nothing but the two names of the input is left in the folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn an_existing_output_needs_force() {
    let dir = TempDir::new("fc-force");
    let input = dir.file("in.lpmt");
    recording(&input);
    let p = input.to_str().unwrap();
    for (what, flag, name) in [("export", "-o", "out.json"), ("report", "--html", "page.html")] {
        let out = dir.file(name);
        std::fs::write(&out, b"someone's file").unwrap();
        let o = lpmtrace(&[what, p, flag, out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("already exists") && stderr(&o).contains("--force"),
            "{}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"someone's file");
        let o = lpmtrace(&[what, p, flag, out.to_str().unwrap(), "--force"]);
        assert!(o.status.code().is_some_and(|c| c < 2), "{what} --force: {}", stderr(&o));
        assert_ne!(std::fs::read(&out).unwrap(), b"someone's file");
    }
}

fn assert_no_raw_controls(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}')
        .collect();
    assert!(bad.is_empty(), "{what}: raw control characters {bad:?} in\n{text}");
}

#[test]
fn nothing_from_a_recording_reaches_the_terminal_raw() {
    let dir = TempDir::new("fc-escape");
    let path = dir.file("evil.lpmt");
    hostile_recording(&path);
    let p = path.to_str().unwrap();
    for args in [
        vec!["info", p],
        vec!["report", p],
        vec!["dump", p],
        vec!["dump", p, "--format", "jsonl"],
        vec!["info", p, "--json"],
        vec!["report", p, "--json"],
        vec!["export", p, "--format", "jsonl", "-o", "-"],
        vec!["export", p, "-o", "-"],
    ] {
        let o = lpmtrace(&args);
        assert!(o.status.code().is_some_and(|c| c < 2), "{args:?}: {}", stderr(&o));
        assert_no_raw_controls(&format!("{args:?} stdout"), &o.stdout);
        assert_no_raw_controls(&format!("{args:?} stderr"), &o.stderr);
        let out = String::from_utf8(o.stdout).unwrap();
        if args.contains(&"--json") || args.contains(&"export") {
            // Still JSON, and it still says what the recording holds.
            let docs: Vec<serde_json::Value> = if args.contains(&"jsonl") || args[0] == "dump" {
                out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
            } else {
                vec![serde_json::from_str(&out).unwrap()]
            };
            let all = serde_json::to_string(&docs).unwrap();
            assert!(all.contains("pwned"), "{args:?}");
        } else if args[0] != "dump" || args.len() == 2 {
            // Text shows the escapes, readably.
            assert!(
                out.contains("\\x1b") || out.contains("\\u{9b}"),
                "{args:?} shows no escape:\n{out}"
            );
        }
    }
    // The hostile comm shows up escaped in the text dump.
    let o = lpmtrace(&["dump", p]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("d\\x1b[31mmgr\\x0d"), "{out}");
}

#[test]
fn the_demo_trusts_nothing_on_disk_and_leaves_nothing() {
    let dir = TempDir::new("fc-demo");
    // A planted file where earlier versions looked for the demo, the
    // right size and all.
    let planted = dir.file(&format!(
        "lpmtrace-demo-{}-{}.lpmt",
        env!("CARGO_PKG_VERSION"),
        lpmtrace::demo::DEMO_RECORDING.len()
    ));
    let mut fake = full_session();
    fake.hostname = "planted-host".into();
    write_file(&planted, &fake, &every_kind(1_000_000_000), small_blocks());
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let o = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["info", "--demo"])
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.contains("planted-host"), "{out}");
    assert!(out.contains("ppc64le"), "{out}");
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "the demo wrote into TMPDIR");
}

#[test]
fn a_recording_from_standard_input_or_a_pipe() {
    let dir = TempDir::new("fc-stdin");
    let path = dir.file("r.lpmt");
    recording(&path);
    let from_file = lpmtrace(&["report", path.to_str().unwrap(), "--json"]);
    for what in ["report", "dump", "info"] {
        let mut args = vec![what, "-"];
        if what == "report" {
            args.push("--json");
        }
        let o = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
            .args(&args)
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .unwrap();
        assert!(o.status.code().is_some_and(|c| c < 2), "{what} -: {}", stderr(&o));
        assert!(!o.stdout.is_empty(), "{what} -: no output");
        if what == "report" {
            assert_eq!(o.stdout, from_file.stdout, "report - reads the same as report FILE");
        }
    }
    // Through a real pipe (what `ssh lpar cat f | lpmtrace report -` is).
    let sh = format!(
        "cat {} | {} info - && {} info <(cat {})",
        path.display(),
        env!("CARGO_BIN_EXE_lpmtrace"),
        env!("CARGO_BIN_EXE_lpmtrace"),
        path.display()
    );
    let o = Command::new("bash").args(["-c", &sh]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.matches("lpar-07.example").count(), 2, "{out}");
    // Garbage on stdin is an error naming standard input.
    let o = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["info", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("standard input"), "{}", stderr(&o));
}

#[test]
fn a_closed_pipe_ends_quietly_with_status_0() {
    for args in [
        &["dump", "--demo"][..],
        &["report", "--demo", "--fail-on", "never"][..],
        &[
            "report",
            "--demo",
            "--html",
            "/dev/null",
            "--force",
            "-j",
            "--fail-on",
            "never",
        ][..],
        &["info", "--demo"][..],
        &["export", "--demo", "--format", "jsonl", "-o", "-"][..],
        &["completions", "bash"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the first write: every write is EPIPE.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).matches("error").count(), 0, "{args:?}: {}", stderr(&o));
    }
    // The report's status stays its verdict: the demo has critical findings.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["report", "--demo"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
}

#[test]
fn an_error_says_each_cause_once() {
    let o = lpmtrace(&["report", "/nonexistent/x.lpmt"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("/nonexistent/x.lpmt"), "{err}");
}

#[test]
fn force_never_removes_a_device_or_fifo() {
    let dir = TempDir::new("fc-fifo");
    let fifo = dir.file("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let opts = lpmtrace::record::WriterOptions {
        force: true,
        ..Default::default()
    };
    let e = lpmtrace::record::Writer::create(&fifo, &full_session(), opts).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO is gone"
    );
    // An HTML page or an export onto a device is written into it.
    let p = dir.file("r.lpmt");
    recording(&p);
    let o = lpmtrace(&["export", p.to_str().unwrap(), "-o", "/dev/null", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = lpmtrace(&[
        "report",
        p.to_str().unwrap(),
        "--html",
        "/dev/null",
        "--fail-on",
        "never",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
}

#[test]
fn a_damaged_recording_is_said_so_everywhere_and_salvage_counts_the_loss() {
    let dir = TempDir::new("fc-damage");
    let good = dir.file("good.lpmt");
    std::fs::write(&good, lpmtrace::demo::DEMO_RECORDING).unwrap();
    let src = lpmtrace::record::FileSource::open(&good, Default::default()).unwrap();
    let blocks = src.info().blocks.clone();
    let b = blocks[blocks.len() / 2];
    let mut bytes = lpmtrace::demo::DEMO_RECORDING.to_vec();
    bytes[(b.offset + 44 + u64::from(b.stored_len) / 2) as usize] ^= 0x04;
    let bad = dir.file("bad.lpmt");
    std::fs::write(&bad, &bytes).unwrap();
    let (g, d) = (good.to_str().unwrap(), bad.to_str().unwrap());

    // info reads every block: good says so, damaged exits 1 and names it.
    let o = lpmtrace(&["info", g]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains(&format!("all {} blocks verified", blocks.len())), "{out}");
    let o = lpmtrace(&["info", d]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("DAMAGED: 1 of") && out.contains(&format!("offset {}", b.offset)),
        "{out}"
    );
    let o = lpmtrace(&["info", d, "--no-verify"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("not verified"));

    // Every reader stops with advice, and takes --salvage.
    for args in [vec!["report", d], vec!["dump", d], vec!["export", d, "-o", "-"]] {
        let o = lpmtrace(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("--salvage"), "{args:?}: {}", stderr(&o));
        let mut salvaged = args.clone();
        salvaged.extend(["--salvage"]);
        if args[0] == "report" {
            salvaged.extend(["--fail-on", "never"]);
        }
        let o = lpmtrace(&salvaged);
        assert_eq!(o.status.code(), Some(0), "{salvaged:?}: {}", stderr(&o));
    }
    let o = lpmtrace(&["report", d, "--salvage", "-j", "--fail-on", "never"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("damaged-recording"), "no damaged-recording finding");
    let lost = v["summary"]["events_lost"]
        .as_u64()
        .or_else(|| v["events_lost"].as_u64());
    assert_eq!(
        lost,
        Some(u64::from(b.events)),
        "the header's lost counts the block's events"
    );
}
