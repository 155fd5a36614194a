//! Runs one pseries guest under QEMU TCG: captures the console, wakes the
//! guest after a migration (QMP), detects crashes and hangs, and extracts the
//! files the guest prints between `===LPMT-FILE-BEGIN/END===` markers.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use super::kernel_log;
use super::qmp::{self, WakerLog};
use super::util;
use super::{Firmware, IcMode};

const QEMU: &str = "qemu-system-ppc64";
/// How long a guest may go on after the first crash signature (to get the
/// whole oops onto the console) before it is stopped.
const CRASH_GRACE: Duration = Duration::from_secs(10);
/// How long QEMU may take to exit after the guest said it is done.
const EXIT_GRACE: Duration = Duration::from_secs(20);

/// Checks that the host tools the VM stage needs are installed.
pub fn check_host_tools() -> Result<()> {
    let mut missing = Vec::new();
    for (tool, pkg) in [
        (QEMU, "qemu-system-ppc"),
        ("dpkg-deb", "dpkg"),
        ("tar", "tar"),
        ("xz", "xz-utils"),
        ("mkfs.ext4", "e2fsprogs"),
        ("e2fsck", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
    ] {
        if which::which(tool).is_err() {
            missing.push(format!("{tool} (apt-get install {pkg})"));
        }
    }
    if !missing.is_empty() {
        bail!("missing host tools: {}", missing.join(", "));
    }
    Ok(())
}

/// How to boot one guest.
#[derive(Clone, Debug)]
pub struct GuestConfig {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cpu: &'static str,
    pub firmware: Firmware,
    /// Extra kernel command-line words.
    pub extra_append: String,
    pub smp: u32,
    pub memory_mib: u32,
    pub ic_mode: IcMode,
    pub scenario: &'static str,
    pub with_lpmtrace: bool,
    pub timeout: Duration,
    pub hang_timeout: Duration,
    pub wake_delay: Duration,
    pub show_console: bool,
    /// A raw disk image attached as virtio-blk (`/dev/vda` in the guest).
    pub disk: Option<PathBuf>,
    /// Hard-reset the guest through QMP (`system_reset`; with `-no-reboot`
    /// QEMU then exits, so the guest's page cache is gone as in a power
    /// loss) this long after it prints `===LPMT-RESET-ARMED===`.
    pub reset_after: Option<Duration>,
}

/// How a guest run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The guest printed `===LPMT-DONE===` (with the scenario's status).
    Completed { rc: i32 },
    /// A crash signature was seen (oops, panic, BUG, WARN, stall, lockup).
    Crashed { signature: String, line: String },
    /// No console output for the hang timeout.
    Hung { silent_for: Duration },
    /// The wall-clock limit was reached.
    TimedOut,
    /// QEMU exited without the guest saying it was done.
    QemuExited { status: String },
}

/// Everything one guest run produced.
#[derive(Debug)]
pub struct Outcome {
    pub dir: PathBuf,
    pub console_log: PathBuf,
    /// Console text (CR removed).
    pub console: String,
    pub end: End,
    /// Every crash signature seen on the console: (signature, line).
    pub crashes: Vec<(String, String)>,
    /// Extracted artifacts by name.
    pub files: BTreeMap<String, PathBuf>,
    /// Files that failed to transfer, with why.
    pub file_errors: Vec<String>,
    /// QEMU start to the guest's `===LPMT-BOOTED===`.
    pub boot_time: Option<Duration>,
    /// SCENARIO-BEGIN to SCENARIO-END (host clock).
    pub scenario_time: Option<Duration>,
    /// SCENARIO-END to DONE: doctor-free artifact transfer time.
    pub transfer_time: Option<Duration>,
    /// QEMU start to exit.
    pub total_time: Duration,
    pub qmp: WakerLog,
    /// `===LPMT-HEARTBEAT n=N uptime=U===` lines, with when the host read them.
    pub heartbeats: Vec<Heartbeat>,
    /// The hard reset, when the scenario asked for one.
    pub reset: Option<Reset>,
}

/// One heartbeat line of the guest.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    /// QEMU start to the host reading the line.
    pub host: Duration,
    pub n: u64,
    /// The guest's /proc/uptime when it printed the line, seconds.
    pub uptime: f64,
}

/// The host's hard reset of a guest.
#[derive(Clone, Debug, PartialEq)]
pub struct Reset {
    /// QEMU start to QMP's answer to `system_reset` (the reset happened
    /// before this: the latest time it can have happened).
    pub at: Duration,
    /// Set when the reset could not be sent.
    pub error: Option<String>,
}

impl Outcome {
    /// Prints where the console log is and its tail.
    pub fn print_failure_context(&self) {
        println!("vm-test:   console log: {}", self.console_log.display());
        let stderr = self.dir.join("qemu.stderr.log");
        if let Ok(t) = fs::read_to_string(&stderr) {
            if !t.trim().is_empty() {
                println!(
                    "vm-test:   qemu stderr ({}):\n{}",
                    stderr.display(),
                    indent(&util::tail(&t, 10))
                );
            }
        }
        let shown: String = self
            .console
            .lines()
            .filter(|l| !is_base64_line(l.trim()) && !l.starts_with("===LPMT-FILE-"))
            .collect::<Vec<_>>()
            .join("\n");
        println!("vm-test:   console tail:\n{}", indent(&util::tail(&shown, 40)));
    }

    /// An extracted artifact's text, if it came back.
    pub fn text(&self, name: &str) -> Option<String> {
        self.files.get(name).and_then(|p| fs::read_to_string(p).ok())
    }
}

fn indent(t: &str) -> String {
    t.lines().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n")
}

fn is_base64_line(l: &str) -> bool {
    !l.is_empty()
        && l.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// The QEMU command line for a guest.
fn qemu_command(cfg: &GuestConfig, qmp_sock: &Path) -> Command {
    let mut machine = String::from("pseries");
    if cfg.firmware == Firmware::Vof {
        machine.push_str(",x-vof=on");
    }
    machine.push_str(",cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off");
    machine.push_str(match cfg.ic_mode {
        IcMode::Xive => ",ic-mode=xive",
        IcMode::Xics => ",ic-mode=xics",
    });
    let mut append = format!("console=hvc0 printk.time=1 lpmt.scenario={}", cfg.scenario);
    if !cfg.with_lpmtrace {
        append.push_str(" lpmt.nolpmtrace=1");
    }
    if !cfg.extra_append.is_empty() {
        append.push(' ');
        append.push_str(&cfg.extra_append);
    }
    let mut c = Command::new(QEMU);
    c.args(["-M", &machine, "-cpu", cfg.cpu])
        .args(["-smp", &cfg.smp.to_string(), "-m", &format!("{}M", cfg.memory_mib)])
        .args([
            "-accel",
            "tcg,thread=multi",
            "-nographic",
            "-vga",
            "none",
            "-net",
            "none",
            "-no-reboot",
        ])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp_sock.display()))
        .arg("-kernel")
        .arg(&cfg.kernel)
        .arg("-initrd")
        .arg(&cfg.initrd)
        .args(["-append", &append]);
    if let Some(disk) = &cfg.disk {
        // cache=writeback: what the guest wrote reaches the image, what it
        // only had in its page cache dies with it.
        c.arg("-drive")
            .arg(format!(
                "file={},if=none,id=disk0,format=raw,cache=writeback",
                disk.display()
            ))
            .args(["-device", "virtio-blk-pci,drive=disk0"]);
    }
    if cfg.reset_after.is_some() {
        c.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", reset_socket(qmp_sock).display()));
    }
    c
}

/// The second QMP socket, for the reset (the first is the waker's).
fn reset_socket(qmp_sock: &Path) -> PathBuf {
    qmp_sock.with_extension("reset.qmp")
}

/// Per-line console state.
struct Scanner {
    dir: PathBuf,
    started: Instant,
    show: bool,
    console: String,
    crashes: Vec<(String, String)>,
    files: BTreeMap<String, PathBuf>,
    file_errors: Vec<String>,
    current: Option<FileInProgress>,
    booted: Option<Duration>,
    armed: Option<Duration>,
    heartbeats: Vec<Heartbeat>,
    scenario_begin: Option<Duration>,
    scenario_end: Option<Duration>,
    done: Option<(i32, Duration)>,
}

struct FileInProgress {
    name: String,
    size: usize,
    sha256: String,
    data: String,
    bad_lines: usize,
}

/// `key=value` fields of a marker line.
fn marker_fields(line: &str) -> BTreeMap<String, String> {
    line.trim_matches('=')
        .split_whitespace()
        .filter_map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

impl Scanner {
    fn new(dir: &Path, started: Instant, show: bool) -> Self {
        Scanner {
            dir: dir.to_path_buf(),
            started,
            show,
            console: String::new(),
            crashes: Vec::new(),
            files: BTreeMap::new(),
            file_errors: Vec::new(),
            current: None,
            booted: None,
            armed: None,
            heartbeats: Vec::new(),
            scenario_begin: None,
            scenario_end: None,
            done: None,
        }
    }

    fn line(&mut self, raw: &str) {
        let line = raw.trim_end_matches('\r');
        self.console.push_str(line);
        self.console.push('\n');
        if self.show {
            eprintln!("  guest| {line}");
        }
        let t = line.trim();
        if let Some(file) = &mut self.current {
            if let Some(rest) = t.strip_prefix("===LPMT-FILE-END") {
                let _ = rest;
                let f = self.current.take().unwrap();
                self.finish_file(f);
                return;
            }
            if is_base64_line(t) {
                file.data.push_str(t);
                return;
            }
            if !t.is_empty() {
                file.bad_lines += 1;
            }
        }
        if t.starts_with("===LPMT-") {
            let f = marker_fields(t);
            let now = self.started.elapsed();
            if t.starts_with("===LPMT-FILE-BEGIN") {
                self.current = Some(FileInProgress {
                    name: f.get("name").cloned().unwrap_or_else(|| "unnamed".into()),
                    size: f.get("size").and_then(|s| s.parse().ok()).unwrap_or(0),
                    sha256: f.get("sha256").cloned().unwrap_or_default(),
                    data: String::new(),
                    bad_lines: 0,
                });
            } else if t.starts_with("===LPMT-FILE-SKIPPED") {
                self.file_errors.push(format!(
                    "{}: not sent ({})",
                    f.get("name").map_or("?", |s| s),
                    f.get("reason").map_or("?", |s| s)
                ));
            } else if t.starts_with("===LPMT-RESET-ARMED") {
                self.armed.get_or_insert(now);
            } else if t.starts_with("===LPMT-HEARTBEAT") {
                let n = f.get("n").and_then(|s| s.parse().ok());
                let uptime = f.get("uptime").and_then(|s| s.parse().ok());
                if let (Some(n), Some(uptime)) = (n, uptime) {
                    self.heartbeats.push(Heartbeat { host: now, n, uptime });
                }
            } else if t.starts_with("===LPMT-BOOTED") {
                self.booted.get_or_insert(now);
            } else if t.starts_with("===LPMT-SCENARIO-BEGIN") {
                self.scenario_begin.get_or_insert(now);
            } else if t.starts_with("===LPMT-SCENARIO-END") {
                self.scenario_end.get_or_insert(now);
            } else if t.starts_with("===LPMT-DONE") {
                let rc = f.get("rc").and_then(|s| s.parse().ok()).unwrap_or(-1);
                self.done.get_or_insert((rc, now));
            }
            return;
        }
        if let Some(sig) = kernel_log::crash_signature(t) {
            self.crashes.push((sig.to_string(), t.to_string()));
        }
    }

    fn finish_file(&mut self, f: FileInProgress) {
        let res = (|| -> Result<Vec<u8>> {
            let gz = base64::engine::general_purpose::STANDARD
                .decode(f.data.as_bytes())
                .context("base64")?;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .context("gunzip")?;
            if out.len() != f.size {
                bail!("size {} != {} announced", out.len(), f.size);
            }
            let sum = util::sha256_bytes(&out);
            if sum != f.sha256 {
                bail!("sha256 mismatch");
            }
            Ok(out)
        })();
        match res {
            Ok(bytes) => {
                let dest = self.dir.join("artifacts").join(safe_name(&f.name));
                if let Err(e) = fs::create_dir_all(dest.parent().unwrap()).and_then(|_| fs::write(&dest, &bytes)) {
                    self.file_errors
                        .push(format!("{}: cannot write {}: {e}", f.name, dest.display()));
                } else {
                    self.files.insert(f.name, dest);
                }
            }
            Err(e) => self.file_errors.push(format!(
                "{}: transfer corrupted ({e:#}; {} non-base64 line(s) inside the block)",
                f.name, f.bad_lines
            )),
        }
    }
}

fn safe_name(n: &str) -> String {
    n.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Boots one guest and collects its outcome into `dir`.
pub fn run(cfg: &GuestConfig, dir: &Path) -> Result<Outcome> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let sock = std::env::temp_dir().join(format!(
        "lpmt-vm-{}-{}.qmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_file(&sock);
    let mut cmd = qemu_command(cfg, &sock);
    fs::write(dir.join("qemu-cmd.txt"), format!("{cmd:?}\n"))?;
    let console_log = dir.join("console.log");
    let mut console_file = File::create(&console_log)?;
    let stderr_file = File::create(dir.join("qemu.stderr.log"))?;

    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr_file))
        .spawn()
        .with_context(|| format!("cannot start {QEMU}"))?;

    // Console reader.
    let mut stdout = child.stdout.take().context("no QEMU stdout")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });

    // QMP waker.
    let stop = Arc::new(AtomicBool::new(false));
    let wlog = Arc::new(Mutex::new(WakerLog::default()));
    let waker = {
        let (sock, stop, wlog, delay) = (sock.clone(), stop.clone(), wlog.clone(), cfg.wake_delay);
        std::thread::spawn(move || qmp::run_waker(&sock, started, delay, stop, wlog))
    };

    let mut sc = Scanner::new(dir, started, cfg.show_console);
    let mut pending = Vec::<u8>::new();
    let mut last_output = Instant::now();
    let mut crash_deadline: Option<Instant> = None;
    let mut end: Option<End> = None;
    let mut reset: Option<Reset> = None;

    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(chunk) => {
                last_output = Instant::now();
                console_file.write_all(&chunk)?;
                pending.extend_from_slice(&chunk);
                while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    sc.line(&String::from_utf8_lossy(&line[..line.len() - 1]));
                }
                if crash_deadline.is_none() && !sc.crashes.is_empty() {
                    crash_deadline = Some(Instant::now() + CRASH_GRACE);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // QEMU closed its stdout: it exited (or is about to).
                if !pending.is_empty() {
                    let line = std::mem::take(&mut pending);
                    sc.line(&String::from_utf8_lossy(&line));
                }
                let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                if end.is_none() {
                    end = Some(match (&sc.done, sc.crashes.first()) {
                        (_, Some((sig, line))) => End::Crashed {
                            signature: sig.clone(),
                            line: line.clone(),
                        },
                        (Some((rc, _)), None) => End::Completed { rc: *rc },
                        (None, None) => End::QemuExited { status },
                    });
                }
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if end.is_some() {
            continue; // killed; draining until EOF
        }
        if let (Some(after), Some(armed), None) = (cfg.reset_after, sc.armed, &reset) {
            if started.elapsed() >= armed + after {
                reset = Some(hard_reset(&reset_socket(&sock), started));
            }
        }
        let now = Instant::now();
        if wlog.lock().unwrap().suspended_now {
            last_output = now; // a suspended guest is silent by design
        }
        if started.elapsed() > cfg.timeout {
            end = Some(End::TimedOut);
        } else if let Some(dl) = crash_deadline {
            if now > dl && sc.done.is_none() {
                let (signature, line) = sc.crashes[0].clone();
                end = Some(End::Crashed { signature, line });
            }
        } else if now.duration_since(last_output) > cfg.hang_timeout {
            end = Some(End::Hung {
                silent_for: now.duration_since(last_output),
            });
        }
        if let Some((_, at)) = sc.done {
            if started.elapsed() > at + EXIT_GRACE {
                end = Some(if let Some((sig, line)) = sc.crashes.first() {
                    End::Crashed {
                        signature: sig.clone(),
                        line: line.clone(),
                    }
                } else {
                    End::Completed {
                        rc: sc.done.map_or(-1, |d| d.0),
                    }
                });
            }
        }
        if end.is_some() {
            kill(&mut child);
        }
    }
    let total_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let _ = waker.join();
    let _ = fs::remove_file(&sock);
    let _ = fs::remove_file(reset_socket(&sock));
    console_file.flush()?;
    if let Some(f) = sc.current.take() {
        sc.file_errors
            .push(format!("{}: transfer cut off (no end marker)", f.name));
    }
    let qmp = wlog.lock().unwrap().clone();
    let scenario_time = match (sc.scenario_begin, sc.scenario_end) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let transfer_time = match (sc.scenario_end, sc.done) {
        (Some(a), Some((_, b))) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let outcome = Outcome {
        dir: dir.to_path_buf(),
        console_log,
        console: sc.console,
        end: end.unwrap_or(End::QemuExited {
            status: "unknown".into(),
        }),
        crashes: sc.crashes,
        files: sc.files,
        file_errors: sc.file_errors,
        boot_time: sc.booted,
        scenario_time,
        transfer_time,
        total_time,
        qmp,
        heartbeats: sc.heartbeats,
        reset,
    };
    let mut summary = format!(
        "end={:?}\ntotal_s={:.2}\nboot_s={}\nscenario_s={}\ntransfer_s={}\nwakeups={}\nfiles={}\n",
        outcome.end,
        total_time.as_secs_f64(),
        fmt_opt(outcome.boot_time),
        fmt_opt(outcome.scenario_time),
        fmt_opt(outcome.transfer_time),
        outcome.qmp.wakeups.len(),
        outcome.files.keys().cloned().collect::<Vec<_>>().join(",")
    );
    for e in &outcome.file_errors {
        summary.push_str(&format!("file_error={e}\n"));
    }
    if let Some(e) = &outcome.qmp.error {
        summary.push_str(&format!("qmp_error={e}\n"));
    }
    if let Some(r) = &outcome.reset {
        summary.push_str(&format!("reset_s={:.6}\n", r.at.as_secs_f64()));
        if let Some(e) = &r.error {
            summary.push_str(&format!("reset_error={e}\n"));
        }
    }
    // When the host read each heartbeat (the console log has no host times).
    let beats: String = outcome
        .heartbeats
        .iter()
        .map(|h| format!("n={} host_s={:.6} uptime={}\n", h.n, h.host.as_secs_f64(), h.uptime))
        .collect();
    if !beats.is_empty() {
        fs::write(dir.join("heartbeats.txt"), beats)?;
    }
    fs::write(dir.join("guest-summary.txt"), summary)?;
    Ok(outcome)
}

impl Outcome {
    /// Rebuilds the outcome of an earlier guest from its folder (console.log
    /// is scanned again, which also re-extracts the artifacts;
    /// guest-summary.txt supplies how it ended and the timings).
    pub fn reload(dir: &Path) -> Result<Outcome> {
        let console_log = dir.join("console.log");
        let raw = fs::read(&console_log).with_context(|| format!("reading {}", console_log.display()))?;
        let mut sc = Scanner::new(dir, Instant::now(), false);
        for line in String::from_utf8_lossy(&raw).split('\n') {
            sc.line(line);
        }
        if let Some(f) = sc.current.take() {
            sc.file_errors
                .push(format!("{}: transfer cut off (no end marker)", f.name));
        }
        let summary = fs::read_to_string(dir.join("guest-summary.txt")).unwrap_or_default();
        let get = |k: &str| {
            summary
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or("")
                .to_string()
        };
        let secs = |k: &str| get(k).parse::<f64>().ok().map(Duration::from_secs_f64);
        let end_text = get("end");
        let end = if end_text.starts_with("Completed") {
            End::Completed {
                rc: sc.done.map_or(-1, |d| d.0),
            }
        } else if end_text.starts_with("Crashed") {
            let (signature, line) = sc
                .crashes
                .first()
                .cloned()
                .unwrap_or_else(|| ("crash".into(), end_text.clone()));
            End::Crashed { signature, line }
        } else if end_text.starts_with("Hung") {
            End::Hung {
                silent_for: Duration::ZERO,
            }
        } else if end_text.starts_with("TimedOut") {
            End::TimedOut
        } else {
            End::QemuExited { status: end_text }
        };
        let wakeups = get("wakeups").parse::<usize>().unwrap_or(0);
        let reset = secs("reset_s").map(|at| Reset {
            at,
            error: Some(get("reset_error")).filter(|e| !e.is_empty()),
        });
        let beats = fs::read_to_string(dir.join("heartbeats.txt")).unwrap_or_default();
        let heartbeats = beats
            .lines()
            .filter_map(|l| {
                let f = marker_fields(l);
                Some(Heartbeat {
                    host: Duration::from_secs_f64(f.get("host_s")?.parse().ok()?),
                    n: f.get("n")?.parse().ok()?,
                    uptime: f.get("uptime")?.parse().ok()?,
                })
            })
            .collect();
        Ok(Outcome {
            dir: dir.to_path_buf(),
            console_log,
            console: sc.console,
            end,
            crashes: sc.crashes,
            files: sc.files,
            file_errors: sc.file_errors,
            boot_time: secs("boot_s"),
            scenario_time: secs("scenario_s"),
            transfer_time: secs("transfer_s"),
            total_time: secs("total_s").unwrap_or_default(),
            qmp: WakerLog {
                wakeups: vec![(Duration::ZERO, Duration::ZERO); wakeups],
                error: Some(get("qmp_error")).filter(|e| !e.is_empty()),
                ..WakerLog::default()
            },
            heartbeats,
            reset,
        })
    }
}

/// `system_reset` through the reset socket; returns when QMP answered.
fn hard_reset(socket: &Path, started: Instant) -> Reset {
    let res = qmp::Qmp::connect(socket, Instant::now() + Duration::from_secs(5))
        .and_then(|mut q| q.execute("system_reset", None).map(|_| ()));
    Reset {
        at: started.elapsed(),
        error: res.err().map(|e| format!("{e:#}")),
    }
}

fn fmt_opt(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    #[test]
    fn file_roundtrip_and_markers() {
        let dir = std::env::temp_dir().join(format!("lpmt-scan-{}", std::process::id()));
        let mut sc = Scanner::new(&dir, Instant::now(), false);
        let payload = b"hello\nworld\n".repeat(50);
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&payload).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        sc.line("===LPMT-BOOTED uptime=2.1 kernel=x cpus=4===\r");
        sc.line(&format!(
            "===LPMT-FILE-BEGIN name=a.txt size={} sha256={} enc=gzip+base64===",
            payload.len(),
            util::sha256_bytes(&payload)
        ));
        for chunk in b64.as_bytes().chunks(76) {
            sc.line(&format!("{}\r", std::str::from_utf8(chunk).unwrap()));
        }
        sc.line("===LPMT-FILE-END name=a.txt===");
        sc.line("[   12.5] Kernel panic - not syncing: Attempted to kill init!");
        sc.line("===LPMT-DONE rc=0 uptime=9===");
        assert!(sc.booted.is_some());
        assert_eq!(sc.done.map(|d| d.0), Some(0));
        assert!(sc.file_errors.is_empty(), "{:?}", sc.file_errors);
        assert_eq!(fs::read(&sc.files["a.txt"]).unwrap(), payload);
        assert_eq!(sc.crashes.len(), 1);
        let _ = fs::remove_dir_all(dir);
    }
}
