//! A small QMP client (QEMU Machine Protocol, JSON lines over a Unix socket)
//! and the waker that answers a suspended guest with `system_wakeup`.
//!
//! A pseries guest that completes `ibm,suspend-me` stops in the `suspended`
//! run state until someone wakes it; on real PowerVM the hypervisor resumes
//! the partition on the target system.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// A connected, negotiated QMP session.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Asynchronous events seen while waiting for replies.
    pub events: Vec<Value>,
}

impl Qmp {
    /// Connects (retrying until `deadline`) and leaves capability negotiation.
    pub fn connect(path: &Path, deadline: Instant) -> Result<Self> {
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e).with_context(|| format!("connecting to QMP socket {}", path.display())),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
        };
        let greeting = qmp.read_msg()?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read_msg(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line)?;
        if n == 0 {
            bail!("QMP connection closed");
        }
        serde_json::from_str(&line).with_context(|| format!("bad QMP message {line:?}"))
    }

    /// Runs a command and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes())?;
        loop {
            let reply = self.read_msg()?;
            if reply.get("event").is_some() {
                self.events.push(reply);
                continue;
            }
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(anyhow!("QMP {command} failed: {e}"));
            }
        }
    }

    /// The VM's run state (`running`, `suspended`, `paused`, ...).
    pub fn status(&mut self) -> Result<String> {
        let r = self.execute("query-status", None)?;
        Ok(r.get("status").and_then(Value::as_str).unwrap_or("?").to_string())
    }
}

/// What the waker did, shared with the guest runner.
#[derive(Debug, Default, Clone)]
pub struct WakerLog {
    /// Time from QEMU start to each `system_wakeup`, and how long the guest
    /// had been suspended then.
    pub wakeups: Vec<(Duration, Duration)>,
    /// QMP events (name, time since QEMU start).
    pub events: Vec<(String, Duration)>,
    /// Set when QMP could not be used at all.
    pub error: Option<String>,
    /// Whether the guest is suspended right now.
    pub suspended_now: bool,
}

/// Polls `query-status` every `poll` and wakes a guest that has been
/// suspended for `delay`. Returns when QEMU closes the socket or `stop` is set.
pub fn run_waker(socket: &Path, started: Instant, delay: Duration, stop: Arc<AtomicBool>, log: Arc<Mutex<WakerLog>>) {
    let poll = Duration::from_millis(200);
    let mut qmp = match Qmp::connect(socket, Instant::now() + Duration::from_secs(30)) {
        Ok(q) => q,
        Err(e) => {
            log.lock().unwrap().error = Some(format!("{e:#}"));
            return;
        }
    };
    let mut suspended_since: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let status = match qmp.status() {
            Ok(s) => s,
            Err(_) => break, // QEMU exited
        };
        {
            let mut l = log.lock().unwrap();
            for ev in qmp.events.drain(..) {
                let name = ev.get("event").and_then(Value::as_str).unwrap_or("?").to_string();
                l.events.push((name, started.elapsed()));
            }
            l.suspended_now = status == "suspended";
        }
        if status == "suspended" {
            let since = *suspended_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= delay {
                if qmp.execute("system_wakeup", None).is_err() {
                    break;
                }
                log.lock().unwrap().wakeups.push((started.elapsed(), since.elapsed()));
                suspended_since = None;
            }
        } else {
            suspended_since = None;
        }
        std::thread::sleep(poll);
    }
}
