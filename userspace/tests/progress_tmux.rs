//! The progress bar on a real terminal (tmux, its own socket): `dump` of the
//! demo recording into a pipe that stalls for 2 s runs longer than a
//! second, so the bar appears on stderr; it is erased when the run ends;
//! and with stderr redirected to a file the same run writes nothing there.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("lpmtrace-progress-{}", std::process::id()),
        };
        let ok = t.run(&["new-session", "-d", "-x", "120", "-y", "10", "-s", "p", command]);
        assert!(ok.status.success(), "tmux: {}", String::from_utf8_lossy(&ok.stderr));
        t
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (cargo xtask setup)")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "p"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn the_bar_shows_on_a_terminal_is_erased_and_never_reaches_a_file() {
    let exe = env!("CARGO_BIN_EXE_lpmtrace");
    let dir = std::env::temp_dir().join(format!("lpmtrace-progress-tmux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log: PathBuf = dir.join("stderr.txt");
    // The demo's 17 MB of lines fill the pipe at once; the reader waits 2 s.
    let command = format!(
        "sh -c '{exe} dump --demo | (sleep 2; cat > /dev/null); echo FIRST-DONE; \
         {exe} dump --demo 2> {log} | (sleep 2; cat > /dev/null); echo SECOND-DONE; sleep 30'",
        log = log.display()
    );
    let tmux = Tmux::start(&command);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut saw_bar = None;
    loop {
        let screen = tmux.screen();
        if saw_bar.is_none() {
            saw_bar = screen.lines().find(|l| l.starts_with("dump [")).map(str::to_string);
        }
        if screen.contains("SECOND-DONE") {
            let bar = saw_bar.expect("no progress bar appeared while dump ran for over a second");
            assert!(bar.contains('%') && bar.contains("KiB"), "{bar}");
            // Not erased, its tail would stay after the shorter "FIRST-DONE".
            assert!(
                !screen.lines().any(|l| l.contains("dump [") || l.contains("KiB/")),
                "the bar was not erased:\n{screen}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "dump did not finish:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = std::fs::read(&log).unwrap();
    assert!(
        written.is_empty(),
        "stderr to a file got: {:?}",
        String::from_utf8_lossy(&written)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
