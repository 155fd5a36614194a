//! `cargo xtask bench`: lpmtrace against bpftrace, perf (and trace-cmd when
//! it works here) on the same tracepoints, on the same workloads, in one
//! run, and docs/benchmarks.md from the results (GitHub issue #7).
//!
//! Method:
//! - Workloads from `lpmtrace-stress`: the IPI storm, a CPU 1
//!   offline/online loop, and both together.
//! - Repetitions are interleaved: each repetition runs every workload under
//!   every configuration (untraced, lpmtrace record, bpftrace, perf record,
//!   trace-cmd record), in an order rotated from one repetition to the
//!   next, so drift of the machine hits every configuration alike. Ratios
//!   are taken against the untraced run of the same repetition.
//! - Figures are medians with min–max and the interquartile range.
//! - Loss, bytes per event and peak RSS come from the same runs; the
//!   post-mortem comparison (`lpmtrace report` vs `perf script`) uses the
//!   last repetition's IPI-storm captures; analysis throughput comes from
//!   `cargo bench -p lpmtrace --bench analysis`.
//!
//! Needs root, CPU 1 hotpluggable, and installs bpftrace/linux-perf (and
//! tries trace-cmd) with apt-get when they are missing.

mod markdown;
pub mod proc;
mod stats;
mod tracers;
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use tracers::{Bins, Capture, Tracer};
use workload::{Rates, Workload};

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Repetitions of every workload × configuration (interleaved).
    #[arg(long, default_value_t = 11)]
    pub reps: usize,
    /// A short run: 3 repetitions of 1 s each, 2 post-mortem repetitions.
    #[arg(long)]
    pub quick: bool,
    /// Seconds per workload run (default 2, or 1 with --quick).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Where to write the Markdown (the text outside the generated block is
    /// kept).
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub output: PathBuf,
    /// Scratch folder for captures.
    #[arg(long, default_value = "/tmp/lpmtrace-bench")]
    pub workdir: PathBuf,
    /// Do not apt-get install missing tools (they are then left out).
    #[arg(long)]
    pub no_install: bool,
    /// Use the release binaries already built instead of running cargo build.
    #[arg(long)]
    pub no_build: bool,
    /// Skip `cargo bench -p lpmtrace --bench analysis`.
    #[arg(long)]
    pub no_analysis_bench: bool,
}

/// One workload run under one configuration.
#[derive(Clone, Debug)]
pub struct Run {
    /// Repetition index.
    pub rep: usize,
    /// Workload.
    pub workload: Workload,
    /// Configuration.
    pub tracer: Tracer,
    /// What the workload achieved.
    pub rates: Rates,
    /// What the tracer wrote.
    pub capture: Capture,
}

/// One timed post-mortem pass over a capture.
#[derive(Clone, Debug)]
pub struct PostMortem {
    /// `lpmtrace report --json`, `lpmtrace dump --format jsonl` or `perf script`.
    pub what: String,
    /// Events in the capture.
    pub events: u64,
    /// Wall time.
    pub seconds: f64,
    /// Peak RSS (KiB).
    pub maxrss_kib: u64,
}

/// Peak RSS of a command other than record.
#[derive(Clone, Debug)]
pub struct Memory {
    /// What ran.
    pub what: String,
    /// Peak RSS (KiB) of each run.
    pub maxrss_kib: Vec<u64>,
    /// Why it was not measured, if it was not.
    pub note: Option<String>,
}

/// In-kernel cost of a BPF-based tracer's programs during one IPI storm,
/// from `kernel.bpf_stats_enabled` (read with `bpftool prog show -j`).
#[derive(Clone, Debug)]
pub struct ProbeCost {
    /// The tracer.
    pub tracer: Tracer,
    /// Program runs.
    pub runs: u64,
    /// Total run time of the programs (ns).
    pub run_time_ns: u64,
    /// IPI-storm iterations during the measurement.
    pub iterations: u64,
}

/// Everything docs/benchmarks.md is made from.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// Machine, kernel, tool versions, date, settings.
    pub env: Vec<(String, String)>,
    /// Notes about tools left out or pending commands.
    pub notes: Vec<String>,
    /// Configurations compared.
    pub tracers: Vec<Tracer>,
    /// Every run.
    pub runs: Vec<Run>,
    /// Tracepoint hits per IPI-storm iteration counted by `perf stat`
    /// (counting mode: nothing can be lost), one value per calibration run.
    pub events_per_iteration: Vec<f64>,
    /// Post-mortem passes.
    pub postmortem: Vec<PostMortem>,
    /// Analysis-bench output lines and per-run M events/s.
    pub analysis: Option<(Vec<String>, Vec<f64>)>,
    /// Why there is no analysis figure.
    pub analysis_note: Option<String>,
    /// Peak RSS of live/replay.
    pub memory: Vec<Memory>,
    /// In-kernel eBPF run time of the BPF-based tracers.
    pub probe_cost: Vec<ProbeCost>,
    /// Seconds per run.
    pub seconds: f64,
    /// Repetitions.
    pub reps: usize,
    /// Hotplug cycles per run.
    pub hotplug_count: u32,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn have(tool: &str) -> bool {
    which::which(tool).is_ok()
}

/// Installs bpftrace and linux-perf (required) and trace-cmd (optional)
/// when missing; `apt-get update` warnings are tolerated.
fn ensure_tools(no_install: bool, notes: &mut Vec<String>) -> Result<()> {
    let wanted = [
        ("bpftrace", "bpftrace"),
        ("perf", "linux-perf"),
        (proc::TIME, "time"),
        ("bpftool", "bpftool"),
        ("trace-cmd", "trace-cmd"),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(bin, _)| !have(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if no_install {
        notes.push(format!("not installed (--no-install): {}", missing.join(", ")));
        return Ok(());
    }
    eprintln!("bench: installing {}", missing.join(" "));
    let update = proc::run(Command::new("apt-get").arg("update"), Duration::from_secs(600));
    if !update.as_ref().is_ok_and(|e| e.code == 0) {
        eprintln!("bench: apt-get update did not fully succeed; trying the install anyway");
    }
    for pkg in missing {
        let exit = proc::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", pkg])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            Duration::from_secs(900),
        )?;
        if exit.code != 0 {
            let msg = format!(
                "apt-get install {pkg} failed ({}):\n{}",
                exit.code,
                proc::tail(&exit.stderr)
            );
            if pkg == "trace-cmd" || pkg == "bpftool" {
                notes.push(format!("trace-cmd left out: {msg}"));
            } else {
                bail!(msg);
            }
        }
    }
    Ok(())
}

fn first_line(cmd: &mut Command) -> String {
    proc::run(cmd, Duration::from_secs(30))
        .ok()
        .map(|e| format!("{}\n{}", e.stdout, e.stderr))
        .and_then(|t| t.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn environment(bins: &Bins, args_line: &str) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string());
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| tracers::number_after(l, "MemTotal:")))
        .map_or_else(|| "unknown".into(), |kib| format!("{:.1} GiB", kib as f64 / 1048576.0));
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("PRETTY_NAME="))
                .map(|l| l[12..].trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let trace_cmd = if have("trace-cmd") {
        first_line(Command::new("trace-cmd").arg("--version")).replace("trace-cmd version ", "")
    } else {
        "not installed".into()
    };
    vec![
        (
            "date (UTC)".into(),
            first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M"])),
        ),
        ("machine".into(), format!("{model}, {cpus} CPUs, {mem}")),
        ("OS".into(), os),
        ("kernel".into(), first_line(Command::new("uname").args(["-r", "-m"]))),
        (
            "lpmtrace".into(),
            first_line(Command::new(&bins.lpmtrace).arg("--version")),
        ),
        ("bpftrace".into(), first_line(Command::new("bpftrace").arg("--version"))),
        ("perf".into(), first_line(Command::new("perf").arg("--version"))),
        ("trace-cmd".into(), trace_cmd),
        ("rustc".into(), first_line(Command::new("rustc").arg("--version"))),
        ("source".into(), git_describe()),
        ("command".into(), args_line.to_string()),
        ("load average at start".into(), loadavg()),
    ]
}

/// The commit the binaries were built from (`+ local changes` when the
/// tree differs from it).
fn git_describe() -> String {
    let root = workspace_root();
    let head = first_line(
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["rev-parse", "--short", "HEAD"]),
    );
    let dirty = proc::run(
        Command::new("git").arg("-C").arg(&root).args(["status", "--porcelain"]),
        Duration::from_secs(30),
    )
    .is_ok_and(|e| !e.stdout.trim().is_empty());
    format!("commit {head}{}", if dirty { " + local changes" } else { "" })
}

/// `/proc/loadavg`'s 1/5/15-minute figures.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Checks once whether trace-cmd records these tracepoints here.
fn trace_cmd_works(bins: &Bins, workdir: &Path) -> Result<(), String> {
    if !have("trace-cmd") {
        return Err("trace-cmd is not installed".into());
    }
    let out = workdir.join("probe-tracecmd.dat");
    let started = tracers::start(Tracer::TraceCmd, bins, &out).map_err(|e| {
        let e = format!("{e:#}");
        if e.contains("Can't enable ftrace") {
            "trace-cmd record exits at once with \"Operation not permitted: Can't enable ftrace\": trace-cmd writes 1 to \
             /proc/sys/kernel/ftrace_enabled at start and this kernel refuses that write (EPERM), although \
             tracefs events work (perf and bpftrace record them)"
                .to_string()
        } else {
            e
        }
    })?;
    std::thread::sleep(Duration::from_millis(300));
    let cap = match started {
        Some(s) => tracers::stop(s, bins).map_err(|e| format!("{e:#}"))?,
        None => return Err("no tracer".into()),
    };
    let _ = std::fs::remove_file(&out);
    match cap.events {
        Some(n) if n > 0 => Ok(()),
        _ => Err(format!("trace-cmd recorded no events in a 0.3 s probe ({cap:?})")),
    }
}

fn build(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "-p", "lpmtrace", "--bins"]);
    eprintln!("bench: $ {cmd:?}");
    let status = cmd.status().context("cannot start cargo")?;
    if !status.success() {
        bail!("cargo build --release failed with {status}");
    }
    Ok(())
}

fn has_subcommand(lpmtrace: &Path, name: &str) -> bool {
    proc::run(Command::new(lpmtrace).arg("--help"), Duration::from_secs(30)).is_ok_and(|e| {
        e.stdout
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{name} ")))
    })
}

/// Tracepoint hits per IPI-storm iteration, counted by `perf stat -a`
/// around an untraced storm.
fn count_events_per_iteration(bins: &Bins, seconds: f64) -> Result<f64> {
    let mut cmd = Command::new("perf");
    cmd.args(["stat", "-a", "-x", ","]);
    for tp in tracers::TRACEPOINTS {
        cmd.args(["-e", tp]);
    }
    cmd.arg("--")
        .arg(&bins.stress)
        .args(["ipi-storm", "--duration", &format!("{seconds}")]);
    let exit = proc::run(&mut cmd, Duration::from_secs(120))?;
    let (iterations, _) =
        workload::parse_ipi(&exit.stdout).ok_or_else(|| anyhow::anyhow!("perf stat run: {}", exit.stdout))?;
    let total: u64 = exit
        .stderr
        .lines()
        .filter(|l| tracers::TRACEPOINTS.iter().any(|tp| l.contains(tp)))
        .filter_map(|l| l.split(',').next().and_then(|n| n.trim().parse::<u64>().ok()))
        .sum();
    Ok(total as f64 / iterations.max(1) as f64)
}

fn run_one(
    workload: Workload,
    tracer: Tracer,
    bins: &Bins,
    workdir: &Path,
    seconds: f64,
    hotplug_count: u32,
) -> Result<(Rates, Capture)> {
    let output = workdir.join(format!("{}-{}.{}", workload.stem(), tracer.stem(), tracer.ext()));
    let started = tracers::start(tracer, bins, &output)?;
    let rates = workload::run(workload, bins, seconds, hotplug_count);
    workload::restore_cpu1();
    let capture = match started {
        Some(s) => tracers::stop(s, bins)?,
        None => Capture::default(),
    };
    Ok((rates?, capture))
}

fn postmortem(results: &mut Results, bins: &Bins, workdir: &Path, reps: usize) -> Result<()> {
    let lpmt = workdir.join(format!("ipi-{}.lpmt", Tracer::LpmtraceAll.stem()));
    let perf = workdir.join("ipi-perf.data");
    let events = |tracer: Tracer| {
        results
            .runs
            .iter()
            .rev()
            .find(|r| r.workload == Workload::Ipi && r.tracer == tracer)
            .and_then(|r| r.capture.events)
    };
    // The capture with every IPI: the same events as perf's file.
    let (Some(lpm_events), Some(perf_events)) = (events(Tracer::LpmtraceAll), events(Tracer::Perf)) else {
        results
            .notes
            .push("post-mortem comparison skipped: no lpmtrace or perf IPI capture".into());
        return Ok(());
    };
    let report = has_subcommand(&bins.lpmtrace, "report");
    if !report {
        results.notes.push(
            "`lpmtrace report` is not wired into the command line yet: the post-mortem figure below times \
             `lpmtrace dump --format jsonl` instead (REPORT PENDING: rerun `cargo xtask bench` once it lands)"
                .into(),
        );
    }
    for _ in 0..reps {
        let mut lpm = Command::new(&bins.lpmtrace);
        let what = if report {
            lpm.arg("report").arg(&lpmt).arg("--json");
            "lpmtrace report --json"
        } else {
            lpm.arg("dump").arg(&lpmt).args(["--format", "jsonl"]);
            "lpmtrace dump --format jsonl"
        };
        let exit = proc::Running::spawn_measured(&lpm, false, &workdir.join("pm-lpmtrace.rss"))?
            .wait(Duration::from_secs(600))?;
        // report exits 1 when it has findings at --fail-on; that is a result.
        if exit.code > 1 {
            bail!("{what} failed ({}):\n{}", exit.code, proc::tail(&exit.stderr));
        }
        results.postmortem.push(PostMortem {
            what: what.into(),
            events: lpm_events,
            seconds: exit.wall.as_secs_f64(),
            maxrss_kib: exit.maxrss_kib,
        });
        let mut perf_script = Command::new("perf");
        perf_script.args(["script", "-i"]).arg(&perf);
        let exit = proc::Running::spawn_measured(&perf_script, false, &workdir.join("pm-perf.rss"))?
            .wait(Duration::from_secs(600))?;
        if exit.code != 0 {
            bail!("perf script failed ({}):\n{}", exit.code, proc::tail(&exit.stderr));
        }
        results.postmortem.push(PostMortem {
            what: "perf script".into(),
            events: perf_events,
            seconds: exit.wall.as_secs_f64(),
            maxrss_kib: exit.maxrss_kib,
        });
    }
    Ok(())
}

/// Peak RSS of `lpmtrace live --plain --format jsonl` during the IPI storm,
/// and of `replay` when that command exists.
fn memory(results: &mut Results, bins: &Bins, workdir: &Path, seconds: f64, reps: usize) -> Result<()> {
    let mut live = Memory {
        what: "lpmtrace live --plain --format jsonl (IPI storm)".into(),
        maxrss_kib: vec![],
        note: None,
    };
    if has_subcommand(&bins.lpmtrace, "live") {
        for _ in 0..reps {
            let mut cmd = Command::new(&bins.lpmtrace);
            cmd.args(["live", "--plain", "--format", "jsonl"]);
            let running = proc::Running::spawn_measured(&cmd, false, &workdir.join("live.rss"))?;
            std::thread::sleep(Duration::from_millis(1500));
            let rates = workload::run(Workload::Ipi, bins, seconds, 0);
            let exit = running.interrupt(Duration::from_secs(60))?;
            rates?;
            live.maxrss_kib.push(exit.maxrss_kib);
        }
    } else {
        live.note = Some("`lpmtrace live` is not available".into());
    }
    results.memory.push(live);
    let mut replay = Memory {
        what: "lpmtrace replay (IPI-storm capture)".into(),
        maxrss_kib: vec![],
        note: None,
    };
    if has_subcommand(&bins.lpmtrace, "replay") {
        replay.note = Some(
            "`lpmtrace replay` exists but is an interactive screen; the bench does not drive it yet (see What is left)"
                .into(),
        );
    } else {
        replay.note = Some("`lpmtrace replay` (the TUI) is not in this build's command line".into());
    }
    results.memory.push(replay);
    Ok(())
}

fn set_bpf_stats(on: bool) -> Result<()> {
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", if on { "1" } else { "0" })
        .context("writing /proc/sys/kernel/bpf_stats_enabled")
}

/// (id, run_time_ns, run_cnt) of every loaded BPF program.
fn bpf_progs() -> Result<Vec<(u64, u64, u64)>> {
    let json = proc::output_of(Command::new("bpftool").args(["prog", "show", "-j"]))?;
    let progs: serde_json::Value = serde_json::from_str(&json).context("bpftool prog show -j")?;
    Ok(progs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["id"].as_u64()?,
                p["run_time_ns"].as_u64().unwrap_or(0),
                p["run_cnt"].as_u64().unwrap_or(0),
            ))
        })
        .collect())
}

/// Sums run time and runs of the programs whose ids are in `ids`.
fn bpf_run_stats(ids: &[u64]) -> Result<(u64, u64)> {
    Ok(bpf_progs()?
        .iter()
        .filter(|p| ids.contains(&p.0))
        .fold((0, 0), |a, p| (a.0 + p.1, a.1 + p.2)))
}

/// eBPF run time per program run of lpmtrace and bpftrace during the IPI
/// storm. Kept out of the overhead runs: the statistics cost time too.
fn probe_cost(results: &mut Results, bins: &Bins, workdir: &Path, seconds: f64, reps: usize) -> Result<()> {
    set_bpf_stats(true)?;
    let mut outcome = Ok(());
    'outer: for _ in 0..reps {
        for tracer in [Tracer::Lpmtrace, Tracer::LpmtraceAll, Tracer::Bpftrace] {
            let out = workdir.join(format!("cost-{}.{}", tracer.stem(), tracer.ext()));
            let measured = (|| -> Result<ProbeCost> {
                // The tracer's programs: those loaded while it started
                // (bpftool here cannot name the pids holding a program).
                let existing: Vec<u64> = bpf_progs()?.iter().map(|p| p.0).collect();
                let started = tracers::start(tracer, bins, &out)?.context("no tracer")?;
                let ids: Vec<u64> = bpf_progs()?
                    .iter()
                    .map(|p| p.0)
                    .filter(|id| !existing.contains(id))
                    .collect();
                let before = bpf_run_stats(&ids);
                let rates = workload::run(Workload::Ipi, bins, seconds, 0);
                let after = bpf_run_stats(&ids);
                tracers::stop(started, bins)?;
                let (before, after, rates) = (before?, after?, rates?);
                Ok(ProbeCost {
                    tracer,
                    run_time_ns: after.0.saturating_sub(before.0),
                    runs: after.1.saturating_sub(before.1),
                    iterations: rates.ipi_iterations.unwrap_or(0),
                })
            })();
            let _ = std::fs::remove_file(&out);
            match measured {
                Ok(c) => results.probe_cost.push(c),
                Err(e) => {
                    outcome = Err(e);
                    break 'outer;
                }
            }
        }
    }
    set_bpf_stats(false)?;
    outcome
}

/// Runs the analysis micro-benchmark when it exists.
fn analysis_bench(results: &mut Results, root: &Path) {
    if !root.join("userspace/benches/analysis.rs").exists() {
        results.analysis_note = Some("userspace/benches/analysis.rs does not exist yet".into());
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["bench", "-p", "lpmtrace", "--bench", "analysis"]);
    eprintln!("bench: $ {cmd:?}");
    match proc::run(&mut cmd, Duration::from_secs(1800)) {
        Ok(exit) if exit.code == 0 => {
            let lines: Vec<String> = exit
                .stdout
                .lines()
                .filter(|l| l.contains("events/s"))
                .map(str::to_string)
                .collect();
            let per_run: Vec<f64> = lines
                .iter()
                .filter(|l| l.starts_with("run "))
                .filter_map(|l| workload::parse_rate(l, "M events/s"))
                .collect();
            results.analysis = Some((lines, per_run));
        }
        Ok(exit) => {
            results.analysis_note = Some(format!(
                "cargo bench --bench analysis failed ({}):\n{}",
                exit.code,
                proc::tail(&exit.stderr)
            ))
        }
        Err(e) => results.analysis_note = Some(format!("cargo bench --bench analysis: {e:#}")),
    }
}

/// Runs the benchmark and writes the Markdown.
pub fn run(args: &BenchArgs) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the bench loads eBPF programs and hotplugs CPUs: run it as root");
    }
    if !Path::new("/sys/devices/system/cpu/cpu1/online").exists() {
        bail!("the bench needs a hotpluggable CPU 1 (/sys/devices/system/cpu/cpu1/online)");
    }
    let reps = if args.quick { args.reps.min(3) } else { args.reps }.max(1);
    let seconds = args.seconds.unwrap_or(if args.quick { 1.0 } else { 2.0 });
    let pm_reps = if args.quick { 2 } else { 5 };
    let root = workspace_root();
    let mut results = Results {
        reps,
        seconds,
        ..Results::default()
    };

    ensure_tools(args.no_install, &mut results.notes)?;
    if !args.no_build {
        build(&root)?;
    }
    let release = target_dir(&root).join("release");
    let bins = Bins {
        lpmtrace: release.join("lpmtrace"),
        stress: release.join("lpmtrace-stress"),
    };
    for b in [&bins.lpmtrace, &bins.stress] {
        if !b.exists() {
            bail!(
                "{} is missing (build with cargo build --release -p lpmtrace --bins)",
                b.display()
            );
        }
    }
    std::fs::create_dir_all(&args.workdir).with_context(|| format!("creating {}", args.workdir.display()))?;

    let mut tracers = vec![
        Tracer::Untraced,
        Tracer::Lpmtrace,
        Tracer::LpmtraceAll,
        Tracer::LpmtraceNoSync,
    ];
    for (t, bin) in [(Tracer::Bpftrace, "bpftrace"), (Tracer::Perf, "perf")] {
        if have(bin) {
            tracers.push(t);
        } else {
            results.notes.push(format!("{bin} is not installed: left out"));
        }
    }
    match trace_cmd_works(&bins, &args.workdir) {
        Ok(()) => {
            results
                .notes
                .push("trace-cmd was checked once and records these tracepoints here: included".into());
            tracers.push(Tracer::TraceCmd);
        }
        Err(why) => results.notes.push(format!("trace-cmd left out: {why}")),
    }
    results.tracers = tracers.clone();
    let args_line = format!(
        "cargo xtask bench --reps {reps}{} (seconds per run {seconds})",
        if args.quick { " --quick" } else { "" }
    );
    results.env = environment(&bins, &args_line);

    // How many offline/online cycles take about `seconds`.
    let calib = workload::run(Workload::Hotplug, &bins, seconds, 3)?;
    let cps = calib.hotplug_rate.unwrap_or(1.0).max(0.1);
    results.hotplug_count = ((cps * seconds).round() as u32).max(3);
    eprintln!(
        "bench: {cps:.1} hotplug cycles/s untraced: {} cycles per run",
        results.hotplug_count
    );

    if have("perf") {
        for _ in 0..3 {
            match count_events_per_iteration(&bins, seconds) {
                Ok(v) => results.events_per_iteration.push(v),
                Err(e) => {
                    results.notes.push(format!("perf stat calibration failed: {e:#}"));
                    break;
                }
            }
        }
    }

    let workloads = [Workload::Ipi, Workload::Hotplug, Workload::Both];
    let total = reps * workloads.len() * tracers.len();
    let mut done = 0;
    for rep in 0..reps {
        for workload in workloads {
            // Rotate the order every repetition.
            for i in 0..tracers.len() {
                let tracer = tracers[(i + rep) % tracers.len()];
                done += 1;
                eprint!(
                    "bench: [{done}/{total}] rep {rep} {} under {} ... ",
                    workload.label(),
                    tracer.label()
                );
                let (rates, capture) = run_one(workload, tracer, &bins, &args.workdir, seconds, results.hotplug_count)
                    .with_context(|| format!("{} under {}", workload.label(), tracer.label()))?;
                eprintln!(
                    "ipi {:?}/s hotplug {:?}/s events {:?} lost {:?}",
                    rates.ipi_rate.map(|r| r.round()),
                    rates.hotplug_rate,
                    capture.events,
                    capture.lost
                );
                results.runs.push(Run {
                    rep,
                    workload,
                    tracer,
                    rates,
                    capture,
                });
            }
        }
    }

    postmortem(&mut results, &bins, &args.workdir, pm_reps)?;
    if have("bpftool") {
        if let Err(e) = probe_cost(
            &mut results,
            &bins,
            &args.workdir,
            seconds,
            if args.quick { 1 } else { 3 },
        ) {
            results.notes.push(format!("eBPF run-time measurement failed: {e:#}"));
        }
    } else {
        results
            .notes
            .push("bpftool is not installed: no in-kernel eBPF run-time figures".into());
    }
    memory(
        &mut results,
        &bins,
        &args.workdir,
        seconds,
        if args.quick { 1 } else { 3 },
    )?;
    if args.no_analysis_bench {
        results.analysis_note = Some("skipped (--no-analysis-bench)".into());
    } else {
        analysis_bench(&mut results, &root);
    }

    results.env.push(("load average at end".into(), loadavg()));
    let out = if args.output.is_absolute() {
        args.output.clone()
    } else {
        root.join(&args.output)
    };
    let old = std::fs::read_to_string(&out).ok();
    let doc = markdown::document(&results, old.as_deref());
    std::fs::write(&out, doc).with_context(|| format!("writing {}", out.display()))?;
    let raw = args.workdir.join("runs.csv");
    std::fs::write(&raw, markdown::csv(&results)).with_context(|| format!("writing {}", raw.display()))?;
    eprintln!("bench: wrote {} (raw runs: {})", out.display(), raw.display());
    for line in markdown::goal_lines(&results) {
        eprintln!("bench: {line}");
    }
    Ok(())
}
