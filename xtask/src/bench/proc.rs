//! Child processes for the bench: spawn, wait for a readiness line, stop
//! with SIGINT (by pid, never by name), and reap with `wait4` to get the
//! child's peak RSS.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How a reaped child ended.
#[derive(Clone, Debug, Default)]
pub struct Exit {
    /// `exit` code, or `128 + signal` when a signal ended it.
    pub code: i32,
    /// Peak resident set size of the child (KiB, from `ru_maxrss`).
    pub maxrss_kib: u64,
    /// Wall time from spawn to reap.
    pub wall: Duration,
    /// Everything the child wrote to stdout (when captured).
    pub stdout: String,
    /// Everything the child wrote to stderr (when captured).
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
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Ok(mut s) = into.lock() {
                        s.push_str(&line);
                    }
                }
            }
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
        })
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

    /// Sends `signal` to the child (by its pid).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Reaps the child (SIGKILL after `timeout`), returning its exit, peak
    /// RSS and output.
    pub fn wait(mut self, timeout: Duration) -> Result<Exit> {
        let pid = self.child.id() as libc::pid_t;
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        let (status, usage) = loop {
            let mut status = 0;
            // SAFETY: zeroed rusage is a valid out-parameter.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: wait4 on our own child with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == pid {
                break (status, usage);
            }
            if r < 0 {
                bail!("wait4 {}: {}", self.name, std::io::Error::last_os_error());
            }
            if !killed && Instant::now() >= deadline {
                eprintln!("bench: {} still running after {timeout:?}: SIGKILL", self.name);
                self.signal(libc::SIGKILL);
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall = self.started.elapsed();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        // The std Child must not reap again; it never does on drop.
        let (stdout, stderr) = self.output();
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            -1
        };
        Ok(Exit {
            code,
            maxrss_kib: usage.ru_maxrss.max(0) as u64,
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

/// The last lines of a text, for error messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(8);
    lines[from..].iter().map(|l| format!("  {l}\n")).collect()
}
