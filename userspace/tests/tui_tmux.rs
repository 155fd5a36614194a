//! The real terminal: `lpmtrace replay FILE` inside a detached tmux
//! session (100×30), driven with `send-keys` and read back with
//! `capture-pane -p`: pause, seek, next finding, filter, help, quit, and
//! the terminal restored afterwards.
//!
//! `lpmtrace live` the same way as root: CPU 1 goes offline and back and
//! its lane changes on screen.
//!
//! tmux comes from `cargo xtask setup`; without it these tests fail with
//! that advice rather than pass without testing anything.

mod tui_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tui_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_lpmtrace");

/// A tmux server of our own (its own socket) with one session; killed on
/// drop so a failing test leaves nothing behind.
struct Tmux {
    socket: String,
    target: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        Tmux::start_sized(command, 100, 30)
    }

    fn start_sized(command: &str, w: u16, h: u16) -> Tmux {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("lpmtrace-tui-test-{}-{n}", std::process::id());
        let t = Tmux {
            socket,
            target: "tui".into(),
        };
        let (w, h) = (w.to_string(), h.to_string());
        let out = t.tmux(&["new-session", "-d", "-x", &w, "-y", &h, "-s", "tui", command]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.target.as_str()];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    fn text(&self, text: &str) {
        assert!(self
            .tmux(&["send-keys", "-t", &self.target, "-l", text])
            .status
            .success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", &self.target]).stdout).into_owned()
    }

    /// Waits until `pred` holds for the screen; panics with the screen
    /// after a generous timeout.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait(&format!("{needle:?}"), |s| s.contains(needle))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn require_tmux() {
    let ok = Command::new("tmux").arg("-V").output().map(|o| o.status.success());
    assert!(
        matches!(ok, Ok(true)),
        "tmux is not installed: run `cargo xtask setup` (it installs tmux)"
    );
}

fn position_text(offset_ns: u64) -> String {
    format!("{} / 15.000s", lpmtrace::record::format_duration(offset_ns))
}

#[test]
fn replay_in_a_real_terminal() {
    require_tmux();
    let dir = TempDir::new("tmux");
    let file = recording(dir.path());
    let cmd = format!(
        "{} replay {} --paused; echo EXITED $?; sleep 30",
        BIN,
        shell_quote(&file)
    );
    let t = Tmux::start(&cmd);

    // Start: paused at the beginning.
    let start = position_text(0);
    let needed = [
        "REPLAY",
        "PAUSED",
        &start,
        "Migrations",
        "Findings",
        "CPU lanes",
        "Event log",
        "q quit",
    ];
    t.wait("a complete first frame", |s| needed.iter().all(|n| s.contains(n)));

    // Seek: → and Shift-→.
    t.keys(&["Right"]);
    t.wait_for(&position_text(1_000_000_000));
    t.keys(&["S-Right"]);
    t.wait_for(&position_text(11_000_000_000));
    t.keys(&["Left"]);
    t.wait_for(&position_text(10_000_000_000));

    // Pause / resume: playing moves the position and drops the marker.
    t.keys(&["g"]);
    t.wait_for(&position_text(0));
    t.keys(&["Space"]);
    t.wait("playing", |s| !s.contains("PAUSED") && !s.contains(&position_text(0)));
    t.keys(&["Space"]);
    t.wait_for("PAUSED");

    // Next finding: the position moves to the first finding's time.
    let report = report();
    let first = report
        .findings
        .iter()
        .min_by_key(|f| f.ts_ns)
        .expect("fixture has findings");
    t.keys(&["g"]);
    t.wait_for(&position_text(0));
    t.keys(&["n"]);
    let s = t.wait_for(&position_text(first.ts_ns - base()));
    assert!(s.contains(first.kind.id()), "{s}");

    // Filter the event log.
    t.keys(&["/"]);
    t.wait_for("filter /");
    t.text("cpu3 hotplug");
    t.keys(&["Enter"]);
    let s = t.wait_for("/cpu3 hotplug");
    assert!(!s.contains("ipi.send"), "the filter hides IPI lines:\n{s}");

    // Help.
    t.keys(&["?"]);
    // A frame can be captured half drawn: wait for the title and a row.
    t.wait("the help", |s| {
        s.contains("Keys (? or Esc closes)") && s.contains("next / previous finding")
    });
    t.keys(&["Escape"]);
    t.wait("help closed", |s| !s.contains("Keys (? or Esc closes)"));

    // Quit: exit status 0, and the shell's screen is back.
    t.keys(&["q"]);
    let s = t.wait_for("EXITED 0");
    assert!(!s.contains("CPU lanes"), "the alternate screen is gone:\n{s}");
}

#[test]
fn the_terminal_comes_back_when_a_signal_ends_the_screen() {
    require_tmux();
    let dir = TempDir::new("tmux-sig");
    let file = recording(dir.path());
    for (sig, status) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        // `stty -a` after the exit shows whether the line discipline is
        // back in canonical mode with echo (raw mode would say -icanon).
        let cmd = format!(
            "{BIN} replay {} --paused; echo EXITED $?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon'; sleep 30",
            shell_quote(&file)
        );
        let t = Tmux::start(&cmd);
        t.wait("the first frame", |s| s.contains("PAUSED") && s.contains("CPU lanes"));
        let pane_pid = String::from_utf8_lossy(&t.tmux(&["display", "-p", "-t", "tui", "#{pane_pid}"]).stdout)
            .trim()
            .to_string();
        let found = Command::new("pgrep")
            .args(["-P", &pane_pid, "-x", "lpmtrace"])
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&found.stdout).trim().to_string();
        assert!(!pid.is_empty(), "no lpmtrace under the pane's shell {pane_pid}");
        assert!(Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap()
            .success());
        let s = t.wait_for(&format!("EXITED {status}"));
        assert!(!s.contains("CPU lanes"), "SIG{sig}: the alternate screen is gone:\n{s}");
        assert!(s.contains("lpmtrace: stopped by SIG"), "SIG{sig}: says why:\n{s}");
        let s = t.wait("stty's answer", |s| {
            s.lines().any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
        });
        assert!(
            s.lines().any(|l| l.trim() == "icanon"),
            "SIG{sig}: the terminal is still raw:\n{s}"
        );
        let alt = t.tmux(&["display", "-p", "-t", "tui", "#{alternate_on}"]);
        assert_eq!(
            String::from_utf8_lossy(&alt.stdout).trim(),
            "0",
            "SIG{sig}: alternate screen"
        );
    }
}

#[test]
fn the_first_screen_says_what_happened_at_80x24() {
    require_tmux();
    let cmd = format!("{BIN} replay --demo; echo EXITED $?; sleep 30");
    let t = Tmux::start_sized(&cmd, 80, 24);
    let s = t.wait("the verdict screen", |s| s.contains("PAUSED") && s.contains("worst"));
    // Every migration's outcome and the most severe finding, on one line.
    assert!(
        s.contains("worst CRIT cancel-rejected #2 │ #1 COMPLETED #2 CANCEL-REJECTED #3 COMPLETED"),
        "no outcome line:\n{s}"
    );
    // Opened at that finding, the Findings pane most severe first, the
    // eleven premature-join storms as one row.
    let rows: Vec<&str> = s.lines().collect();
    let crit = rows
        .iter()
        .position(|l| l.contains("CRIT") && l.contains("cancel-rejected") && !l.contains("worst"));
    let storm = rows.iter().position(|l| l.contains("premature-join ×"));
    assert!(
        crit.is_some() && storm.is_some(),
        "grouped, sorted findings missing:\n{s}"
    );
    assert!(crit < storm, "the critical finding is not first:\n{s}");
    // Esc with a filter applied clears it; only the next Esc quits.
    t.keys(&["/"]);
    t.wait_for("filter /");
    t.text("cpu1");
    t.keys(&["Enter"]);
    t.wait_for("/cpu1");
    t.keys(&["Escape"]);
    let s = t.wait_for("filter cleared");
    assert!(!s.contains("EXITED"), "Esc quit with a filter applied:\n{s}");
    t.keys(&["Escape"]);
    t.wait_for("EXITED 0");
}

#[test]
fn enter_on_a_migration_opens_its_account_and_findings() {
    require_tmux();
    let cmd = format!("{BIN} replay --demo; echo EXITED $?; sleep 30");
    let t = Tmux::start_sized(&cmd, 100, 40);
    t.wait("the verdict screen", |s| s.contains("PAUSED") && s.contains("worst"));
    // Opened on the Findings pane at the cancel-rejected finding; Shift-Tab
    // focuses Migrations, whose newest migration at this position is #2,
    // still in progress here (the cancel's answer comes later).
    t.keys(&["BTab", "Enter"]);
    // What report prints for it, as seen at this position (waiting for
    // the whole frame: a capture can catch one half drawn).
    let wants = [
        "Migration #2 IN-PROGRESS",
        "still running at this",
        "attempt-1",
        "RTAS_THREADS_ACTIVE",
        "Findings of this migration",
    ];
    t.wait("the migration overlay", |s| wants.iter().all(|w| s.contains(w)));
    // PgDn scrolls the account to its later attempts.
    t.keys(&["NPage", "NPage"]);
    t.wait("later attempts", |s| s.contains("attempt-4") || s.contains("attempt-5"));
    // Its findings, the critical one first; Enter opens it.
    t.keys(&["Enter"]);
    t.wait("its finding", |s| {
        s.contains("Next step") && s.contains("cancel-rejected")
    });
    t.keys(&["Escape"]);
    let s = t.wait("the overlay closed", |s| !s.contains("Next step"));
    assert!(!s.contains("EXITED"), "Esc quit from an overlay:\n{s}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn replay_refuses_a_non_terminal_with_advice() {
    let dir = TempDir::new("notty");
    let file = recording(dir.path());
    let out = Command::new(BIN).arg("replay").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for hint in ["not a terminal", "lpmtrace report", "lpmtrace dump", "live --plain"] {
        assert!(err.contains(hint), "{hint:?} missing from: {err}");
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Puts CPU 1 back online whatever happens to the test.
struct Cpu1Online;

impl Cpu1Online {
    fn set(online: bool) {
        std::fs::write(CPU1, if online { "1" } else { "0" }).expect("write cpu1/online (needs root)");
    }
}

impl Drop for Cpu1Online {
    fn drop(&mut self) {
        let _ = std::fs::write(CPU1, "1");
    }
}

const CPU1: &str = "/sys/devices/system/cpu/cpu1/online";

/// The cpu1 lane row of the screen (`│cpu1 ...│`), without the border.
fn cpu1_lane(screen: &str) -> Option<String> {
    screen
        .lines()
        .find_map(|l| l.trim_start_matches('│').strip_prefix("cpu1 ").map(str::to_owned))
}

#[test]
fn live_screen_shows_cpu1_going_offline_and_back() {
    require_tmux();
    assert!(
        Path::new(CPU1).exists(),
        "this test needs a hotpluggable CPU 1 ({CPU1}) and root, like the CI machine"
    );
    let _restore = Cpu1Online;
    Cpu1Online::set(true);
    let t = Tmux::start(&format!("{BIN} live; echo EXITED $?; sleep 30"));
    let before = t.wait("the cpu1 lane with probes attached", |s| {
        s.contains("LIVE") && s.contains("attached") && cpu1_lane(s).is_some()
    });
    let lane = cpu1_lane(&before).unwrap();
    assert!(!lane.contains('░'), "cpu1 offline before the test took it down: {lane}");

    Cpu1Online::set(false);
    let down = t.wait("cpu1 shown offline (░)", |s| {
        cpu1_lane(s).is_some_and(|l| l.contains('░'))
    });
    let lane = cpu1_lane(&down).unwrap();
    // The transition is drawn before the offline stretch.
    let (going, offline) = (lane.find('↓'), lane.find('░'));
    assert!(
        matches!((going, offline), (Some(g), Some(o)) if g < o),
        "expected ↓ then ░ on the cpu1 lane: {lane}"
    );

    Cpu1Online::set(true);
    // The ↑ that follows this offline stretch. The lanes show the last
    // ~8 s, so on a slow machine the ↓ and ░ may already have scrolled out
    // when the ↑ is drawn; an ↑ older than the ↓ would scroll out first.
    let up = t.wait("cpu1 coming back (↑ after the offline stretch)", |s| {
        cpu1_lane(s).is_some_and(|l| {
            let Some(u) = l.rfind('↑') else { return false };
            match l.rfind('↓') {
                Some(d) => d < u && l[d..u].contains('░'),
                None => true,
            }
        })
    });
    // Back online, the lane goes on after the ↑ (IPIs or the online line).
    let lane = cpu1_lane(&up).unwrap();
    let tail = &lane[lane.rfind('↑').unwrap() + '↑'.len_utf8()..];
    assert!(!tail.contains('░'), "cpu1 still drawn offline after coming up: {lane}");

    t.keys(&["q"]);
    let end = t.wait_for("EXITED");
    assert!(end.contains("EXITED 0"), "live did not exit cleanly:\n{end}");
}
