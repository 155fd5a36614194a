//! The workloads: the IPI storm, the CPU offline/online loop, and both at
//! once, run through `lpmtrace-stress`.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

use super::proc::{self, Running};
use super::tracers::{number_after, Bins};

/// A workload of the overhead comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// `ipi-storm --duration D` on CPUs 0 and 1.
    Ipi,
    /// `hotplug-loop --cpu 1 --count N --delay-ms 0`.
    Hotplug,
    /// Both at the same time.
    Both,
}

impl Workload {
    /// Name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Ipi => "IPI storm",
            Workload::Hotplug => "CPU offline/online loop",
            Workload::Both => "both together",
        }
    }

    /// File-name stem.
    pub fn stem(self) -> &'static str {
        match self {
            Workload::Ipi => "ipi",
            Workload::Hotplug => "hotplug",
            Workload::Both => "both",
        }
    }
}

/// What one workload run achieved.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    /// IPI-storm iterations per second.
    pub ipi_rate: Option<f64>,
    /// IPI-storm iterations done.
    pub ipi_iterations: Option<u64>,
    /// Offline/online cycles per second.
    pub hotplug_rate: Option<f64>,
    /// Function-call IPIs every CPU handled per second during the IPI
    /// storm (/proc/interrupts `CAL`): the storm's real work. Its
    /// iterations need fewer IPIs when a tracer keeps the other storm
    /// thread off its CPU (the kernel then skips the shootdown IPI), so
    /// iterations/s alone can flatter a tracer that perturbs scheduling.
    pub call_ipi_rate: Option<f64>,
}

/// Sum over CPUs of the `CAL:` (function call interrupts) line of
/// /proc/interrupts; None where there is no such line (not x86).
pub fn call_ipis() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    parse_call_ipis(&text)
}

fn parse_call_ipis(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.trim_start().starts_with("CAL:"))?;
    let counts = line.trim_start()["CAL:".len()..]
        .split_whitespace()
        .map_while(|w| w.parse::<u64>().ok());
    Some(counts.sum())
}

/// `R` from `...: R iterations/s` or `...: R cycles/s`.
pub fn parse_rate(line: &str, unit: &str) -> Option<f64> {
    let end = line.find(unit)?;
    let start = line[..end].trim_end().rfind(' ').map_or(0, |i| i + 1);
    line[start..end].trim().parse().ok()
}

/// Parses `ipi-storm: N iterations in Xs: R iterations/s`.
pub fn parse_ipi(out: &str) -> Option<(u64, f64)> {
    let line = out.lines().find(|l| l.starts_with("ipi-storm:"))?;
    Some((number_after(line, "ipi-storm:")?, parse_rate(line, "iterations/s")?))
}

/// Parses `hotplug-loop: C cycles of cpuN in Xs: R cycles/s`.
pub fn parse_hotplug(out: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.starts_with("hotplug-loop:"))?;
    parse_rate(line, "cycles/s")
}

fn ipi_cmd(bins: &Bins, seconds: f64) -> Command {
    let mut c = Command::new(&bins.stress);
    c.args(["ipi-storm", "--duration", &format!("{seconds}"), "--cpus", "0,1"]);
    c
}

fn hotplug_cmd(bins: &Bins, count: u32) -> Command {
    let mut c = Command::new(&bins.stress);
    c.args([
        "hotplug-loop",
        "--cpu",
        "1",
        "--count",
        &count.to_string(),
        "--delay-ms",
        "0",
    ]);
    c
}

fn finish(name: &str, running: Running) -> Result<String> {
    let exit = running.wait(Duration::from_secs(300))?;
    if exit.code != 0 {
        bail!(
            "{name} exited with {}:\n{}{}",
            exit.code,
            proc::tail(&exit.stdout),
            proc::tail(&exit.stderr)
        );
    }
    Ok(exit.stdout)
}

/// Runs `workload` for about `seconds` (`hotplug_count` cycles for the
/// loop) and returns its rates.
pub fn run(workload: Workload, bins: &Bins, seconds: f64, hotplug_count: u32) -> Result<Rates> {
    let mut rates = Rates::default();
    let (cal0, t0) = (call_ipis(), std::time::Instant::now());
    let ipi = matches!(workload, Workload::Ipi | Workload::Both)
        .then(|| Running::spawn(&mut ipi_cmd(bins, seconds), true))
        .transpose()?;
    let hot = matches!(workload, Workload::Hotplug | Workload::Both)
        .then(|| Running::spawn(&mut hotplug_cmd(bins, hotplug_count), true))
        .transpose()?;
    if let Some(r) = ipi {
        let out = finish("ipi-storm", r)?;
        let secs = t0.elapsed().as_secs_f64();
        rates.call_ipi_rate = cal0.zip(call_ipis()).map(|(a, b)| b.saturating_sub(a) as f64 / secs);
        let (n, rate) = parse_ipi(&out).ok_or_else(|| anyhow::anyhow!("unexpected ipi-storm output: {out}"))?;
        rates.ipi_iterations = Some(n);
        rates.ipi_rate = Some(rate);
    }
    if let Some(r) = hot {
        let out = finish("hotplug-loop", r)?;
        rates.hotplug_rate =
            Some(parse_hotplug(&out).ok_or_else(|| anyhow::anyhow!("unexpected hotplug-loop output: {out}"))?);
    }
    Ok(rates)
}

/// Puts CPU 1 back online if a failed run left it offline.
pub fn restore_cpu1() {
    let path = "/sys/devices/system/cpu/cpu1/online";
    if std::fs::read_to_string(path).is_ok_and(|s| s.trim() == "0") {
        let _ = std::fs::write(path, "1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_cal_line() {
        let t = "           CPU0       CPU1\n  0:         46          0  IO-APIC    2-edge      timer\nNMI:          0          0   Non-maskable interrupts\nCAL:     123456      65432   Function call interrupts\nTLB:         10         20   TLB shootdowns\n";
        assert_eq!(parse_call_ipis(t), Some(188888));
        assert_eq!(parse_call_ipis("  0: 1 2 x\n"), None);
    }

    #[test]
    fn parses_workload_lines() {
        assert_eq!(
            parse_ipi("ipi-storm: 131072 iterations in 2.001s: 65503 iterations/s\n"),
            Some((131_072, 65503.0))
        );
        assert_eq!(
            parse_hotplug("hotplug-loop: 40 cycles of cpu1 in 2.010s: 19.90 cycles/s"),
            Some(19.9)
        );
        assert_eq!(parse_ipi("garbage"), None);
    }
}
