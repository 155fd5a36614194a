//! Child processes for the bench: spawn, wait for a readiness line, stop
//! with SIGINT (by pid, never by name), and reap.
//!
//! Peak RSS comes from `/usr/bin/time -f %M` wrapped around the command,
//! not from this process's `wait4`: Linux carries the RSS high-water mark
//! of the process that calls exec into the child's `ru_maxrss`, so a child
//! spawned straight from the (much larger) bench would report the bench's
//! own size. `time` is small, and it forks before it execs the command.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// GNU time, which measures peak RSS.
pub const TIME: &str = "/usr/bin/time";

/// How a reaped child ended.
#[derive(Clone, Debug, Default)]
pub struct Exit {
    /// `exit` code, or `128 + signal` when a signal ended it.
    pub code: i32,
    /// Peak resident set size of the command (KiB); 0 when not measured.
    pub maxrss_kib: u64,
    /// User + system CPU seconds of the command, when measured.
    pub cpu_seconds: Option<f64>,
    /// Wall time from spawn to reap.
    pub wall: Duration,
    /// Everything the child wrote to stdout (when captured).
    pub stdout: String,
    /// Everything the child wrote to stderr.
    pub stderr: String,
}

/// A running child whose output is collected by reader threads.
pub struct Running {
    child: Child,
    started: Instant,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    name: String,
    /// Where `/usr/bin/time` writes the peak RSS, when measured.
    rss_file: Option<PathBuf>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if let Ok(mut s) = into.lock() {
                s.push_str(&String::from_utf8_lossy(&line));
            }
            line.clear();
        }
    })
}

impl Running {
    /// Spawns `cmd` with stdin closed. `capture_stdout`: keep stdout
    /// (otherwise it goes to /dev/null); stderr is always kept.
    pub fn spawn(cmd: &mut Command, capture_stdout: bool) -> Result<Running> {
        let name = format!("{cmd:?}");
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
        cmd.stdout(if capture_stdout { Stdio::piped() } else { Stdio::null() });
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(err, stderr.clone()));
        }
        Ok(Running {
            child,
            started,
            stdout,
            stderr,
            readers,
            name,
            rss_file: None,
        })
    }

    /// Like [`Running::spawn`], with the command's peak RSS measured by
    /// `/usr/bin/time` (which writes it to `rss_file`).
    pub fn spawn_measured(cmd: &Command, capture_stdout: bool, rss_file: &Path) -> Result<Running> {
        let _ = std::fs::remove_file(rss_file);
        let mut wrapped = Command::new(TIME);
        wrapped
            .args(["-f", "%M %U %S", "-o"])
            .arg(rss_file)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        let mut running = Running::spawn(&mut wrapped, capture_stdout)?;
        running.name = format!("{cmd:?}");
        running.rss_file = Some(rss_file.to_path_buf());
        Ok(running)
    }

    /// The pid to signal: the command itself (under `time`, its child;
    /// `time` ignores SIGINT while it waits).
    fn target_pid(&self) -> u32 {
        let pid = self.child.id();
        if self.rss_file.is_none() {
            return pid;
        }
        for _ in 0..400 {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            if let Some(c) = children.split_whitespace().next().and_then(|c| c.parse().ok()) {
                return c;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        pid
    }

    /// The child's pid (under `/usr/bin/time`, time's own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Output so far (stdout, stderr).
    pub fn output(&self) -> (String, String) {
        let get = |m: &Arc<Mutex<String>>| m.lock().map(|s| s.clone()).unwrap_or_default();
        (get(&self.stdout), get(&self.stderr))
    }

    /// Waits until `ready` says yes about (stdout, stderr), the child exits
    /// (an error), or `timeout` passes (an error).
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut(&str, &str) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let (out, err) = self.output();
            if ready(&out, &err) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "{} exited with {status} before it was ready:\n{}{}",
                    self.name,
                    tail(&out),
                    tail(&err)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after {timeout:?}:\n{}{}",
                    self.name,
                    tail(&out),
                    tail(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the command (by its pid).
    pub fn signal(&self, signal: i32) {
        let pid = self.target_pid();
        // SAFETY: kill(2) on our own child's (or time's child's) pid.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }

    /// Reaps the child (SIGKILL after `timeout`), returning its exit, peak
    /// RSS and output.
    pub fn wait(mut self, timeout: Duration) -> Result<Exit> {
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.name))?
            {
                break status;
            }
            if !killed && Instant::now() >= deadline {
                eprintln!("bench: {} still running after {timeout:?}: SIGKILL", self.name);
                self.signal(libc::SIGKILL);
                let _ = self.child.kill();
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall = self.started.elapsed();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let (stdout, stderr) = self.output();
        let code = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(c), _) => c,
            (None, Some(sig)) => 128 + sig,
            (None, None) => -1,
        };
        let (maxrss_kib, cpu_seconds) = self
            .rss_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| t.lines().rev().find_map(parse_time_line))
            .map_or((0, None), |(k, c)| (k, Some(c)));
        Ok(Exit {
            code,
            maxrss_kib,
            cpu_seconds,
            wall,
            stdout,
            stderr,
        })
    }

    /// SIGINT, then [`Running::wait`].
    pub fn interrupt(self, timeout: Duration) -> Result<Exit> {
        self.signal(libc::SIGINT);
        self.wait(timeout)
    }
}

/// Parses `time -f "%M %U %S"`: (peak RSS KiB, user + system seconds).
pub fn parse_time_line(line: &str) -> Option<(u64, f64)> {
    let mut it = line.split_whitespace();
    let rss = it.next()?.parse().ok()?;
    let user: f64 = it.next()?.parse().ok()?;
    let sys: f64 = it.next()?.parse().ok()?;
    Some((rss, user + sys))
}

/// Runs a command to completion, capturing its output.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Exit> {
    Running::spawn(cmd, true)?.wait(timeout)
}

/// Runs a command and returns its stdout when it succeeds.
pub fn output_of(cmd: &mut Command) -> Result<String> {
    let name = format!("{cmd:?}");
    let exit = run(cmd, Duration::from_secs(120))?;
    if exit.code != 0 {
        bail!("{name} exited with {}:\n{}", exit.code, tail(&exit.stderr));
    }
    Ok(exit.stdout)
}

/// Runs a command and feeds each line of its stdout to `f` without
/// keeping the output (for big dumps).
pub fn for_each_line(cmd: &mut Command, mut f: impl FnMut(&str)) -> Result<()> {
    let name = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    if let Some(out) = child.stdout.take() {
        let mut reader = BufReader::new(out);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            f(&String::from_utf8_lossy(&line));
            line.clear();
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{name} failed with {status}");
    }
    Ok(())
}

/// The last lines of a text, for error messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(8);
    lines[from..].iter().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_output() {
        assert_eq!(parse_time_line("37132 0.51 0.12"), Some((37132, 0.63)));
        assert_eq!(parse_time_line("Command exited with non-zero status 1"), None);
    }
}
