//! Shared helpers of the real-kernel tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Output collectors of a running lpmtrace.
pub struct Running {
    /// Joins to the whole stdout.
    pub stdout: Option<JoinHandle<String>>,
    /// Joins to the whole stderr.
    pub stderr: JoinHandle<String>,
}

/// Starts collecting the child's stdout/stderr and waits until stderr shows
/// the line lpmtrace prints once its probes are attached ("Ctrl-C to stop").
/// Waiting on that line instead of sleeping keeps the tests right on a
/// loaded machine.
pub fn wait_attached(child: &mut Child) -> Running {
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).unwrap();
            s
        })
    });
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("Ctrl-C to stop") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        panic!("lpmtrace did not report attached probes within 120 s");
    }
    Running { stdout, stderr }
}
