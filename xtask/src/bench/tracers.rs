//! The tracers compared: how each starts, says it is ready, stops, and
//! what its output holds (events, losses, bytes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::proc::{self, Exit, Running};

/// The kernel tracepoints every tracer records (what lpmtrace attaches on
/// this kernel for IPIs and CPU hotplug).
pub const TRACEPOINTS: [&str; 7] = [
    "ipi:ipi_send_cpu",
    "ipi:ipi_send_cpumask",
    "csd:csd_function_entry",
    "csd:csd_function_exit",
    "cpuhp:cpuhp_enter",
    "cpuhp:cpuhp_exit",
    "cpuhp:cpuhp_multi_enter",
];

/// One configuration of the probe-overhead comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tracer {
    /// No tracer: the baseline.
    Untraced,
    /// `lpmtrace record` (release build, default settings: IPIs recorded
    /// one by one only inside the IPI window, counted outside it).
    Lpmtrace,
    /// `lpmtrace record --ipis all`: every IPI recorded, the stream a
    /// migration's window carries and the one to compare with the others'
    /// files.
    LpmtraceAll,
    /// `lpmtrace record --ipis all --no-sync`: the same stream without the
    /// `fdatasync` after every block, so the sync's cost shows side by side.
    LpmtraceNoSync,
    /// bpftrace printing one line per event to a file.
    Bpftrace,
    /// `perf record -a` on the same tracepoints.
    Perf,
    /// `trace-cmd record` on the same tracepoints (only when it works here).
    TraceCmd,
}

impl Tracer {
    /// Name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Tracer::Untraced => "untraced",
            Tracer::Lpmtrace => "lpmtrace record",
            Tracer::LpmtraceAll => "lpmtrace record --ipis all",
            Tracer::LpmtraceNoSync => "lpmtrace record --ipis all --no-sync",
            Tracer::Bpftrace => "bpftrace",
            Tracer::Perf => "perf record",
            Tracer::TraceCmd => "trace-cmd record",
        }
    }

    /// File-name stem.
    pub fn stem(self) -> &'static str {
        match self {
            Tracer::Untraced => "untraced",
            Tracer::Lpmtrace => "lpmtrace",
            Tracer::LpmtraceAll => "lpmtrace-all",
            Tracer::LpmtraceNoSync => "lpmtrace-nosync",
            Tracer::Bpftrace => "bpftrace",
            Tracer::Perf => "perf",
            Tracer::TraceCmd => "tracecmd",
        }
    }

    /// Output file extension.
    pub fn ext(self) -> &'static str {
        match self {
            Tracer::Lpmtrace | Tracer::LpmtraceAll | Tracer::LpmtraceNoSync => "lpmt",
            Tracer::Bpftrace => "txt",
            Tracer::Perf => "data",
            Tracer::TraceCmd => "dat",
            Tracer::Untraced => "none",
        }
    }
}

/// The bpftrace program: one formatted line per event of the same
/// tracepoints, fields comparable to what lpmtrace keeps.
pub const BPFTRACE_PROGRAM: &str = r#"BEGIN { printf("READY\n"); }
tracepoint:ipi:ipi_send_cpu { printf("%llu %d ipi_send_cpu %u %llx\n", nsecs, cpu, args->cpu, args->callback); }
tracepoint:ipi:ipi_send_cpumask { printf("%llu %d ipi_send_cpumask %llx\n", nsecs, cpu, args->callback); }
tracepoint:csd:csd_function_entry { printf("%llu %d csd_entry %llx\n", nsecs, cpu, args->func); }
tracepoint:csd:csd_function_exit { printf("%llu %d csd_exit %llx\n", nsecs, cpu, args->func); }
tracepoint:cpuhp:cpuhp_enter { printf("%llu %d cpuhp_enter %u %d %d\n", nsecs, cpu, args->cpu, args->target, args->idx); }
tracepoint:cpuhp:cpuhp_exit { printf("%llu %d cpuhp_exit %u %d %d %d\n", nsecs, cpu, args->cpu, args->state, args->idx, args->ret); }
tracepoint:cpuhp:cpuhp_multi_enter { printf("%llu %d cpuhp_multi_enter %u %d %d\n", nsecs, cpu, args->cpu, args->target, args->idx); }
"#;

/// Paths of the binaries the bench runs.
#[derive(Clone, Debug)]
pub struct Bins {
    /// Release `lpmtrace`.
    pub lpmtrace: PathBuf,
    /// Release `lpmtrace-stress`.
    pub stress: PathBuf,
}

/// What a tracer's run left behind.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// Events in the output file.
    pub events: Option<u64>,
    /// Events the tool itself says it lost.
    pub lost: Option<u64>,
    /// Size of the output file.
    pub file_bytes: Option<u64>,
    /// Bytes of event data only (lpmtrace: compressed blocks, no header).
    pub data_bytes: Option<u64>,
    /// Peak RSS of the tracer process (KiB).
    pub maxrss_kib: Option<u64>,
    /// User + system CPU seconds of the tracer process.
    pub cpu_seconds: Option<f64>,
    /// lpmtrace's own account of its per-block `fdatasync`s.
    pub sync: Option<SyncLine>,
}

/// `synced to disk after each block: 52 syncs, mean 0.41 ms, longest 3.10 ms`
/// (what `record` prints when it ends).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SyncLine {
    pub syncs: u64,
    pub mean_ms: f64,
    pub longest_ms: f64,
}

/// The sync line of `record`'s stderr, if it printed one.
pub fn sync_stats(stderr: &str) -> Option<SyncLine> {
    let line = stderr
        .lines()
        .find(|l| l.contains("synced to disk after each block:"))?;
    let ms = |key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.trim_start().split(' ').next()?.parse().ok()
    };
    Some(SyncLine {
        syncs: number_after(line, "after each block:")?,
        mean_ms: ms("mean ")?,
        longest_ms: ms("longest ")?,
    })
}

/// A started tracer.
pub struct Started {
    tracer: Tracer,
    running: Running,
    output: PathBuf,
}

/// Starts `tracer` writing to `output` and waits until its probes are
/// attached.
pub fn start(tracer: Tracer, bins: &Bins, output: &Path) -> Result<Option<Started>> {
    let _ = std::fs::remove_file(output);
    let (cmd, capture_stdout) = match tracer {
        Tracer::Untraced => return Ok(None),
        Tracer::Lpmtrace | Tracer::LpmtraceAll | Tracer::LpmtraceNoSync => {
            let mut c = Command::new(&bins.lpmtrace);
            c.arg("record").arg("-o").arg(output).arg("--force");
            if tracer != Tracer::Lpmtrace {
                c.args(["--ipis", "all"]);
            }
            if tracer == Tracer::LpmtraceNoSync {
                c.arg("--no-sync");
            }
            (c, false)
        }
        Tracer::Bpftrace => {
            let mut c = Command::new("bpftrace");
            c.arg("-o").arg(output).arg("-e").arg(BPFTRACE_PROGRAM);
            (c, false)
        }
        Tracer::Perf => {
            let mut c = Command::new("perf");
            c.args(["record", "-a"]);
            for tp in TRACEPOINTS {
                c.args(["-e", tp]);
            }
            c.arg("-o").arg(output);
            (c, false)
        }
        Tracer::TraceCmd => {
            let mut c = Command::new("trace-cmd");
            c.arg("record");
            for tp in TRACEPOINTS {
                c.args(["-e", tp]);
            }
            c.arg("-o").arg(output);
            (c, true)
        }
    };
    let mut running = Running::spawn_measured(&cmd, capture_stdout, &output.with_extension("rss"))?;
    let out = output.to_path_buf();
    let timeout = Duration::from_secs(60);
    match tracer {
        Tracer::Lpmtrace | Tracer::LpmtraceAll | Tracer::LpmtraceNoSync => {
            running.wait_ready(timeout, |_, err| err.contains("recording to"))?
        }
        Tracer::Bpftrace => running.wait_ready(timeout, |_, _| {
            std::fs::read(&out).is_ok_and(|b| b.windows(5).any(|w| w == b"READY"))
        })?,
        // perf writes its header once the events are open.
        Tracer::Perf => running.wait_ready(timeout, |_, _| std::fs::metadata(&out).is_ok_and(|m| m.len() > 0))?,
        Tracer::TraceCmd => running.wait_ready(timeout, |o, e| o.contains("Hit Ctrl^C") || e.contains("Hit Ctrl^C"))?,
        Tracer::Untraced => {}
    }
    // Let every tool settle the same way (perf has no readiness message).
    std::thread::sleep(Duration::from_millis(300));
    Ok(Some(Started {
        tracer,
        running,
        output: output.to_path_buf(),
    }))
}

/// Stops a started tracer with SIGINT and reads what it wrote.
pub fn stop(started: Started, bins: &Bins) -> Result<Capture> {
    let Started {
        tracer,
        running,
        output,
    } = started;
    let exit = running.interrupt(Duration::from_secs(120))?;
    if exit.code != 0 && exit.code != 128 + libc::SIGINT {
        anyhow::bail!(
            "{} exited with {}:\n{}",
            tracer.label(),
            exit.code,
            proc::tail(&exit.stderr)
        );
    }
    let mut cap = inspect(tracer, bins, &output, &exit)?;
    cap.maxrss_kib = Some(exit.maxrss_kib);
    cap.cpu_seconds = exit.cpu_seconds;
    Ok(cap)
}

/// First unsigned number after `key` in `text`.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Sum of every `Lost N events` bpftrace printed.
pub fn bpftrace_lost(text: &str) -> u64 {
    text.match_indices("Lost ")
        .filter_map(|(i, _)| number_after(&text[i..], "Lost "))
        .sum()
}

/// Samples and LOST / LOST_SAMPLES record counts from `perf report --stats`.
pub fn perf_stats(text: &str) -> (Option<u64>, u64) {
    let count = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| number_after(l, ":"))
    };
    let samples = count("SAMPLE events:");
    let lost_records = count("LOST events:").unwrap_or(0) + count("LOST_SAMPLES events:").unwrap_or(0);
    (samples, lost_records)
}

/// Sum of the `lost N` fields of the LOST records in `perf report -D`.
pub fn perf_lost_samples(dump: &str) -> u64 {
    dump.lines()
        .filter(|l| l.contains("PERF_RECORD_LOST"))
        .filter_map(|l| number_after(l, " lost "))
        .sum()
}

fn inspect(tracer: Tracer, bins: &Bins, output: &Path, exit: &Exit) -> Result<Capture> {
    let file_bytes = std::fs::metadata(output).ok().map(|m| m.len());
    let mut cap = Capture {
        file_bytes,
        ..Capture::default()
    };
    match tracer {
        Tracer::Untraced => {}
        Tracer::Lpmtrace | Tracer::LpmtraceAll | Tracer::LpmtraceNoSync => {
            cap.sync = sync_stats(&exit.stderr);
            let json = proc::output_of(Command::new(&bins.lpmtrace).arg("info").arg(output).arg("--json"))?;
            let v: serde_json::Value = serde_json::from_str(&json).context("lpmtrace info --json")?;
            cap.events = v["events"].as_u64();
            cap.lost = v["lost_events"].as_u64();
            cap.data_bytes = v["block_bytes"].as_u64();
        }
        Tracer::Bpftrace => {
            let text = std::fs::read_to_string(output).unwrap_or_default();
            let events = text
                .lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .count() as u64;
            cap.events = Some(events);
            cap.lost = Some(bpftrace_lost(&text) + bpftrace_lost(&exit.stderr));
        }
        Tracer::Perf => {
            let stats = proc::output_of(Command::new("perf").args(["report", "--stats", "-i"]).arg(output))?;
            let (samples, lost_records) = perf_stats(&stats);
            cap.events = samples;
            // LOST records carry how many samples each stands for: only
            // dump the file when there are some.
            cap.lost = Some(if lost_records == 0 {
                0
            } else {
                let mut lost = 0;
                proc::for_each_line(Command::new("perf").args(["report", "-D", "-i"]).arg(output), |l| {
                    lost += perf_lost_samples(l);
                })?;
                lost.max(lost_records)
            });
        }
        Tracer::TraceCmd => {
            let all = format!("{}\n{}", exit.stdout, exit.stderr);
            let mut events = 0;
            let mut lost = 0;
            for line in all.lines() {
                let l = line.trim();
                if let Some(n) = number_after(l, "read events:").filter(|_| l.starts_with("read events:")) {
                    events += n;
                }
                for key in ["overrun:", "dropped events:"] {
                    if l.starts_with(key) {
                        lost += number_after(l, key).unwrap_or(0);
                    }
                }
            }
            cap.events = Some(events);
            cap.lost = Some(lost);
        }
    }
    Ok(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_outputs() {
        assert_eq!(number_after("ipi-storm: 12 iterations", "ipi-storm:"), Some(12));
        assert_eq!(bpftrace_lost("1 0 x\nLost 12 events\nLost 3 events\n"), 15);
        let perf = "Aggregated stats:\n           TOTAL events:     1000\n            SAMPLE events:      990\n              LOST events:        2\n      LOST_SAMPLES events:        7\nipi:x stats:\n          SAMPLE events:   5\n";
        assert_eq!(perf_stats(perf), (Some(990), 9));
        assert_eq!(perf_stats("nothing"), (None, 0));
        assert_eq!(
            sync_stats("lpmtrace: recorded 5 events\nlpmtrace: synced to disk after each block: 107 syncs, mean 3.72 ms, longest 16.07 ms\n"),
            Some(SyncLine {
                syncs: 107,
                mean_ms: 3.72,
                longest_ms: 16.07
            })
        );
        assert_eq!(sync_stats("lpmtrace: recorded 5 events\n"), None);
        assert_eq!(
            perf_lost_samples(
                "0x10 [0x20]: PERF_RECORD_LOST lost 123 id 4\n0x30 [0x20]: PERF_RECORD_LOST_SAMPLES lost 5\n"
            ),
            128
        );
    }
}
