//! Fault injection through the real binaries (issue #8): disk full, a
//! read-only output folder, an existing output file, a symlink at the output
//! path, ring-buffer overflow, and damaged or unreadable input files.
//!
//! The `record` cases run on this machine's kernel and need root (BPF, and
//! `mount` for the small and read-only tmpfs); they print why and return
//! when they cannot run. The reader cases need nothing but the binaries,
//! except the unreadable-file case, which drops to `nobody` with `setpriv`
//! when run as root.
//!
//! The kernel cases hold one lock: two recordings at once would share the
//! CPUs and the IPI storm and blur the loss figures.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const LPMTRACE: &str = env!("CARGO_BIN_EXE_lpmtrace");
const STRESS: &str = env!("CARGO_BIN_EXE_lpmtrace-stress");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-small.lpmt");
const MAGIC: &[u8; 8] = b"\x89LPMT\r\n\x1a";

static KERNEL: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Why a kernel case cannot run here, if it cannot.
fn kernel_skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root (BPF programs, mount)");
    }
    if !Path::new("/sys/devices/system/cpu/cpu1").exists() {
        return Some("the IPI storm needs two CPUs");
    }
    None
}

macro_rules! kernel_case {
    ($name:literal) => {{
        if let Some(why) = kernel_skip_reason() {
            eprintln!("SKIPPED {}: {why}", $name);
            return;
        }
        KERNEL.lock().unwrap_or_else(|e| e.into_inner())
    }};
}

/// A directory (mode 0755, so `nobody` can look into it) removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lpmtrace-faults-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(tag: &str, options: &str) -> Self {
        let dir = TempDir::new(tag);
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir.0)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs -o {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.file(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a child not yet reaped): detach it lazily.
            let _ = Command::new("umount").arg("-l").arg(&self.dir.0).status();
        }
    }
}

fn lpmtrace(args: &[&str], file: &Path) -> Output {
    Command::new(LPMTRACE)
        .args(args)
        .arg(file)
        .output()
        .expect("run lpmtrace")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A plain error: exit 2, one message naming the file, no panic.
fn assert_clear_error(out: &Output, file: &Path, what: &str, context: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{context}: exit status {:?}; stderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{context}: panicked: {stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "{context}: the message does not name {}: {stderr}",
        file.display()
    );
    assert!(stderr.contains(what), "{context}: expected {what:?} in: {stderr}");
    stderr
}

fn record_cmd(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(LPMTRACE);
    c.arg("record")
        .arg("-o")
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn storm(args: &[&str]) -> Child {
    Command::new(STRESS)
        .arg("ipi-storm")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lpmtrace-stress")
}

fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if start.elapsed() > limit {
            // Where it is stuck, before it is killed: the kernel stack and
            // state say whether it is blocked in a syscall (detach, write).
            let pid = child.id();
            let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let state = read("status")
                .lines()
                .find(|l| l.starts_with("State:"))
                .unwrap_or("")
                .to_string();
            let (wchan, stack) = (read("wchan"), read("stack"));
            let _ = child.kill();
            panic!("process {pid} still running after {limit:?}: {state}, wchan {wchan}, stack:\n{stack}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupt(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: signals our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

/// `(events, lost)` from "lpmtrace: wrote N events (L lost) in ...".
fn summary_counts(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("lpmtrace: wrote "))
        .unwrap_or_else(|| panic!("no summary line in: {stderr}"));
    let mut words = line.split_whitespace();
    let events = words.nth(2).and_then(|w| w.parse().ok());
    let lost = words.nth(1).and_then(|w| w.trim_start_matches('(').parse().ok());
    match (events, lost) {
        (Some(e), Some(l)) => (e, l),
        _ => panic!("cannot parse the summary: {line}"),
    }
}

fn info_json(file: &Path) -> Value {
    let out = lpmtrace(&["info", "--json"], file);
    assert!(
        out.status.success(),
        "lpmtrace info {}: {}",
        file.display(),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("info --json prints JSON")
}

/// Every event of `dump --format jsonl`.
fn dump_jsonl(file: &Path) -> Vec<Value> {
    let out = lpmtrace(&["dump", "--format", "jsonl"], file);
    assert!(
        out.status.success(),
        "lpmtrace dump {}: {}",
        file.display(),
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn lost_in(events: &[Value]) -> (u64, u64) {
    let lost: Vec<&Value> = events.iter().filter(|e| e["probe"] == "transport.lost").collect();
    let sum = lost.iter().map(|e| e["count"].as_u64().expect("lost count")).sum();
    (lost.len() as u64, sum)
}

// ---------------------------------------------------------------- record

#[test]
fn disk_full_stops_the_recording_with_a_message_and_leaves_a_readable_file() {
    let _k = kernel_case!("disk_full");
    let fs = Tmpfs::mount("full", "size=256k,mode=0755");
    let path = fs.file("full.lpmt");
    let mut rec = record_cmd(&path, &["--duration", "60s", "--ipis", "all"])
        .spawn()
        .expect("start record");
    let running = support::wait_attached(&mut rec);
    let mut load = storm(&["--duration", "30"]);
    let status = wait_timeout(&mut rec, Duration::from_secs(90));
    let _ = load.kill();
    let _ = load.wait();
    let stderr = running.stderr.join().unwrap();

    assert!(!status.success(), "record kept going on a full disk: {stderr}");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("lpmtrace: error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        error.contains(&path.display().to_string()),
        "error does not name the file: {error}"
    );
    assert!(error.contains("No space left on device"), "{error}");

    // Valid up to the last complete block: no footer, nothing torn.
    let info = info_json(&path);
    assert_eq!(info["footer"]["status"], "missing", "{info}");
    assert_eq!(info["trailing_bytes"], 0, "{info}");
    let events = info["events"].as_u64().unwrap();
    assert!(events > 1000, "only {events} events before the disk filled: {info}");
    let dumped = dump_jsonl(&path);
    assert_eq!(dumped.len() as u64, events, "dump and info disagree");
    assert!(std::fs::metadata(&path).unwrap().len() <= 256 * 1024);
}

#[test]
fn a_read_only_output_folder_is_a_clear_error() {
    let _k = kernel_case!("read_only_folder");
    let fs = Tmpfs::mount("ro", "ro,size=64k,mode=0755");
    let path = fs.file("out.lpmt");
    let out = record_cmd(&path, &["--duration", "1s"]).output().expect("run record");
    assert_clear_error(&out, &path, "Read-only file system", "record into a read-only folder");
    assert!(!path.exists());
}

#[test]
fn an_existing_output_is_refused_without_force_and_replaced_with_it() {
    let _k = kernel_case!("existing_output");
    let dir = TempDir::new("exists");
    let path = dir.file("out.lpmt");
    std::fs::write(&path, b"precious\n").unwrap();

    let out = record_cmd(&path, &["--duration", "1s"]).output().expect("run record");
    assert_clear_error(
        &out,
        &path,
        "file exists (use --force to overwrite it)",
        "record without --force",
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"precious\n",
        "the existing file was touched"
    );

    let out = record_cmd(&path, &["--duration", "1s", "--force"])
        .output()
        .expect("run record");
    assert!(out.status.success(), "record --force: {}", text(&out.stderr));
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], MAGIC, "not replaced by a recording");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a recording is private to its owner");
    assert_eq!(info_json(&path)["footer"]["status"], "present");
}

#[test]
fn a_symlink_at_the_output_path_is_never_followed() {
    let _k = kernel_case!("symlink_output");
    let dir = TempDir::new("link");
    let victim = dir.file("victim");
    std::fs::write(&victim, b"precious\n").unwrap();
    let link = dir.file("out.lpmt");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let absent = dir.file("created-through-link");
    let dangling = dir.file("dangling.lpmt");
    std::os::unix::fs::symlink(&absent, &dangling).unwrap();

    let out = record_cmd(&link, &["--duration", "1s"]).output().expect("run record");
    assert_clear_error(&out, &link, "file exists", "record onto a symlink");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
    let out = record_cmd(&dangling, &["--duration", "1s"])
        .output()
        .expect("run record");
    assert_clear_error(&out, &dangling, "file exists", "record onto a dangling symlink");
    assert!(!absent.exists(), "a file was created through the dangling symlink");

    // --force replaces the link itself, never what it points to.
    let out = record_cmd(&link, &["--duration", "1s", "--force"])
        .output()
        .expect("run record");
    assert!(out.status.success(), "record --force: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious\n",
        "the symlink target was written"
    );
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file(), "the link was not replaced by a file");
    assert_eq!(&std::fs::read(&link).unwrap()[..8], MAGIC);
}

/// Turns `kernel.bpf_stats_enabled` on (the kernel then counts every run
/// of every BPF program) and back off on drop.
struct BpfStats;

impl BpfStats {
    fn on() -> BpfStats {
        std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").expect("enable kernel.bpf_stats_enabled");
        BpfStats
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "0");
    }
}

/// Runs of the programs with these ids, as the kernel counts them.
fn program_runs(ids: &[u32]) -> u64 {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| ids.contains(&p.id()))
        .map(|p| p.run_count())
        .sum()
}

/// Records an IPI storm of `iterations`; returns the file's events, the
/// summary's `(events, lost)` and the kernel's count of the recorder's
/// program runs read after the storm, just before the stop.
fn record_storm(dir: &TempDir, name: &str, buffer: &str, iterations: u64) -> (PathBuf, Vec<Value>, (u64, u64), u64) {
    let path = dir.file(name);
    let _stats = BpfStats::on();
    let mut rec = record_cmd(&path, &["--duration", "120s", "--buffer", buffer, "--ipis", "all"])
        .spawn()
        .expect("start record");
    let running = support::wait_attached(&mut rec);
    let (progs, _) = bpf_objects_of(rec.id());
    let load = storm(&["--iterations", &iterations.to_string()])
        .wait_with_output()
        .expect("ipi storm");
    assert!(load.status.success(), "ipi-storm: {}", text(&load.stderr));
    let runs = program_runs(&progs);
    interrupt(&rec);
    let status = wait_timeout(&mut rec, Duration::from_secs(60));
    let stderr = running.stderr.join().unwrap();
    assert!(status.success(), "record --buffer {buffer}: {stderr}");
    let summary = summary_counts(&stderr);
    (path.clone(), dump_jsonl(&path), summary, runs)
}

#[test]
fn a_tiny_ring_buffer_overflows_and_every_loss_is_accounted() {
    let _k = kernel_case!("ring_overflow");
    let dir = TempDir::new("lost");
    const ITERATIONS: u64 = 20_000;
    let (path, events, (sum_events, sum_lost), runs) = record_storm(&dir, "tiny.lpmt", "4096", ITERATIONS);
    let (lost_records, lost_count) = lost_in(&events);
    let info = info_json(&path);

    // Exact: the kernel's per-CPU drop counter, the summary, the Lost
    // records in the file and the file's footer totals all agree.
    assert!(sum_lost > 0, "a 4 KiB ring did not overflow under an IPI storm");
    assert_eq!(lost_count, sum_lost, "Lost records in the file vs the summary");
    assert_eq!(info["lost_events"].as_u64(), Some(sum_lost), "{info}");
    assert_eq!(info["lost_records"].as_u64(), Some(lost_records), "{info}");
    // Exact: what was delivered is what was written, Lost records included.
    assert_eq!(events.len() as u64, sum_events, "summary events vs events in the file");
    assert_eq!(info["events"].as_u64(), Some(sum_events));
    // A Lost record stands where the drops were noticed, never ahead of them.
    for e in events.iter().filter(|e| e["probe"] == "transport.lost") {
        let (first, last, ts) = (&e["first_ts_ns"], &e["last_ts_ns"], &e["ts_ns"]);
        assert!(first.as_u64() <= last.as_u64() && last.as_u64() <= ts.as_u64(), "{e}");
    }

    // Exact against the kernel: every run of the recorder's programs
    // (counted by the kernel with bpf_stats) either delivered a record or
    // counted one drop. The counters were read after the storm and before
    // the stop, so the few runs in between (background IPIs) can only make
    // the file hold more, never less.
    let delivered = events.len() as u64 - lost_records;
    eprintln!("tiny ring: {delivered} delivered + {sum_lost} lost; the kernel counted {runs} program runs");
    assert!(
        delivered + sum_lost >= runs,
        "{} program runs neither recorded nor counted as lost ({delivered} delivered + {sum_lost} lost < {runs} runs)",
        runs - delivered - sum_lost
    );
    assert!(
        delivered + sum_lost - runs <= 1_000,
        "{} more records than program runs: runs after the stop, or double counting",
        delivered + sum_lost - runs
    );
}

// ---------------------------------------------------------------- reading

fn fixture() -> Vec<u8> {
    std::fs::read(FIXTURE).expect("fixture")
}

/// Offset of the first block (end of the session JSON).
fn first_block(bytes: &[u8]) -> usize {
    28 + u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize
}

/// Runs `info` and `dump` on `bytes` written to a file; both must fail
/// cleanly, naming the file and saying `what`.
fn both_refuse(name: &str, bytes: &[u8], what: &str) {
    let dir = TempDir::new("read");
    let path = dir.file(name);
    std::fs::write(&path, bytes).unwrap();
    for cmd in [
        &["info"][..],
        &["info", "--json"],
        &["dump"],
        &["dump", "--salvage"],
        &["report"],
    ] {
        let out = lpmtrace(cmd, &path);
        assert_clear_error(&out, &path, what, &format!("lpmtrace {}", cmd.join(" ")));
        assert!(
            out.stdout.is_empty() || cmd[0] == "dump",
            "{cmd:?} printed output for a bad file"
        );
    }
}

#[test]
fn a_file_with_the_wrong_magic_is_not_a_recording() {
    both_refuse(
        "notes.lpmt",
        b"# notes, not a trace\n",
        "not an lpmtrace recording (bad magic",
    );
    // An empty file cannot be told from a cut one: it is a short header.
    both_refuse("empty.lpmt", b"", "truncated header: the file has 0 bytes");
}

#[test]
fn a_future_major_version_is_refused_with_the_version() {
    let mut bytes = fixture();
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    bytes[10..12].copy_from_slice(&3u16.to_le_bytes());
    both_refuse(
        "future.lpmt",
        &bytes,
        "format version 2.3 is newer than this lpmtrace supports (major 1)",
    );
}

#[test]
fn a_truncated_header_says_how_long_the_file_is() {
    let bytes = fixture();
    both_refuse("short.lpmt", &bytes[..20], "truncated header: the file has 20 bytes");
    // Cut inside the session JSON.
    let cut = first_block(&bytes) - 10;
    both_refuse("short-session.lpmt", &bytes[..cut], "");
}

#[test]
fn a_directory_is_refused() {
    let dir = TempDir::new("dir");
    let sub = dir.file("trace.lpmt");
    std::fs::create_dir(&sub).unwrap();
    for cmd in [&["info"][..], &["dump"], &["report"]] {
        let out = lpmtrace(cmd, &sub);
        assert_clear_error(&out, &sub, "is a directory", &format!("lpmtrace {}", cmd.join(" ")));
    }
}

#[test]
fn an_unreadable_file_is_a_permission_error() {
    let dir = TempDir::new("perm");
    let path = dir.file("secret.lpmt");
    std::fs::write(&path, fixture()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = |cmd: &[&str]| -> Output {
        if is_root() {
            // Root reads anything: drop to nobody. The binary is copied next
            // to the file so nobody can execute it whatever the target
            // folder's permissions are.
            let exe = dir.file("lpmtrace");
            if !exe.exists() {
                std::fs::copy(LPMTRACE, &exe).unwrap();
                std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&exe)
                .args(cmd)
                .arg(&path)
                .output()
                .expect("run setpriv")
        } else {
            lpmtrace(cmd, &path)
        }
    };
    for cmd in [&["info"][..], &["dump"], &["report"]] {
        let out = run(cmd);
        assert_clear_error(&out, &path, "Permission denied", &format!("lpmtrace {}", cmd.join(" ")));
    }
}

#[test]
fn checksum_mismatches_name_the_file_and_the_place() {
    let good = fixture();

    // Header: one byte of the session JSON changed.
    let mut bytes = good.clone();
    bytes[40] ^= 0x01;
    both_refuse("session.lpmt", &bytes, "corrupt header at byte offset");

    // Header CRC itself.
    let mut bytes = good.clone();
    bytes[25] ^= 0x80;
    both_refuse("header.lpmt", &bytes, "corrupt header at byte offset 24");

    // A block payload: `dump` stops at the block and says how to go on,
    // `dump --salvage` skips it and says so.
    let mut bytes = good.clone();
    let block = first_block(&bytes);
    bytes[block + 44 + 3] ^= 0x10;
    let dir = TempDir::new("crc");
    let path = dir.file("block.lpmt");
    std::fs::write(&path, &bytes).unwrap();
    let out = lpmtrace(&["dump"], &path);
    let msg = assert_clear_error(
        &out,
        &path,
        &format!("block 0 at byte offset {block}"),
        "dump of a damaged block",
    );
    assert!(msg.contains("--salvage"), "{msg}");
    let out = lpmtrace(&["dump", "--salvage"], &path);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "dump --salvage: {stderr}");
    assert!(stderr.contains("salvage: skipped"), "{stderr}");
    let out = lpmtrace(&["report"], &path);
    assert_clear_error(
        &out,
        &path,
        &format!("block 0 at byte offset {block}"),
        "report of a damaged block",
    );
}

/// BPF program and link ids that process `pid` holds open, from
/// /proc/PID/fdinfo (a program fd shows `prog_id:`, a link fd `link_id:`
/// and the `prog_id:` of its program).
fn bpf_objects_of(pid: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut progs, mut links) = (Vec::new(), Vec::new());
    let dir = format!("/proc/{pid}/fdinfo");
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
    {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            let mut kv = line.split(':');
            let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                continue;
            };
            let Ok(id) = v.trim().parse::<u32>() else { continue };
            match k {
                "prog_id" => progs.push(id),
                "link_id" => links.push(id),
                _ => {}
            }
        }
    }
    progs.sort_unstable();
    progs.dedup();
    (progs, links)
}

/// The kernel keeps nothing of lpmtrace's after it dies, however it dies:
/// every program and link is owned through a file descriptor of the process
/// (nothing is pinned), so the kernel detaches and frees them when the
/// process's descriptors close, even when no destructor runs. SIGKILL is
/// the hardest case; SIGABRT is how a panic ends under panic=abort; SIGQUIT
/// (core dump, no handler of ours) stands for a crash. (A SIGSEGV sent with
/// kill(2) is no crash: Rust's stack-overflow handler returns from it and
/// the process runs on.) A panic that unwinds drops the attachments in
/// order, the normal path of every other test.
#[test]
fn no_probe_or_link_outlives_the_process_on_any_exit_path() {
    let _k = kernel_case!("no_probe_or_link_outlives_the_process_on_any_exit_path");
    let dir = TempDir::new("exit-paths");
    for (signal, name) in [
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGQUIT, "SIGQUIT"),
    ] {
        for mode in ["record", "live"] {
            let mut cmd = Command::new(LPMTRACE);
            match mode {
                "record" => cmd.arg("record").arg("-o").arg(dir.file(&format!("{name}.lpmt"))),
                _ => cmd.args(["live", "--plain"]),
            };
            // No core file: SIGQUIT and SIGABRT would otherwise dump one
            // where core_pattern says, which is not what this test is about
            // and can take long on a busy machine.
            // SAFETY: setrlimit is async-signal-safe; nothing else runs in
            // the child between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                    let zero = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::setrlimit(libc::RLIMIT_CORE, &zero) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start lpmtrace");
            let out = support::wait_attached(&mut child);
            let (progs, links) = bpf_objects_of(child.id());
            assert!(
                !progs.is_empty() && !links.is_empty(),
                "{mode}: expected attached programs and links, found {progs:?} / {links:?}"
            );
            let pid = libc::pid_t::try_from(child.id()).expect("pid");
            // SAFETY: signals our own child, not reaped yet.
            assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
            // Generous: detaching ~20 links waits for RCU grace periods,
            // slow on a loaded 2-CPU machine; the stack is printed if not.
            let status = wait_timeout(&mut child, Duration::from_secs(60));
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(signal),
                "{mode} {name}: {status}"
            );
            drop(out.stdout.map(|h| h.join()));
            let _ = out.stderr.join();
            // Freeing is asynchronous (RCU): allow it a moment.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let live_progs: Vec<u32> = aya::programs::loaded_programs()
                    .filter_map(Result::ok)
                    .map(|p| p.id())
                    .filter(|id| progs.contains(id))
                    .collect();
                let live_links: Vec<u32> = aya::programs::loaded_links()
                    .filter_map(Result::ok)
                    .map(|l| l.id())
                    .filter(|id| links.contains(id))
                    .collect();
                if live_progs.is_empty() && live_links.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{mode} killed by {name}: programs {live_progs:?} and links {live_links:?} still in the kernel"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
