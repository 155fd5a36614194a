//! The scenarios: which guest script runs, on which interrupt controllers,
//! and the host-side `check` that turns the artifacts into a verdict.
//!
//! Every check starts with [`common`] (the guest finished, nothing crashed,
//! the artifacts came back, doctor's JSON parses), then compares the guest
//! scripts' logs with the kernel's own messages ([`super::kernel_log`]),
//! then reads the recording with the host lpmtrace ([`recording`]).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::Value;

use super::debian::Kernel;
use super::guest::{End, Outcome};
use super::host_tool::{self, HostLpmtrace};
use super::kernel_log::{self, MigrationEnd};
use super::IcMode;

pub(super) mod faults;
pub(super) mod power_loss;

/// What a check sees.
pub struct CheckContext<'a> {
    pub outcome: &'a Outcome,
    /// The guest's output folder (artifacts/ is inside).
    pub dir: &'a Path,
    /// None when the run has no lpmtrace (`--without-lpmtrace`).
    pub host: Option<&'a HostLpmtrace>,
    pub smp: u32,
    pub ic_mode: IcMode,
    /// The guest kernel (for kernel-specific expectations).
    pub kernel: &'a Kernel,
}

/// A scenario's result.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub passed: bool,
    pub failures: Vec<String>,
    /// What was observed, for the one-line summary.
    pub facts: Vec<String>,
    pub timing: String,
}

impl Verdict {
    pub fn fail(msg: impl Into<String>) -> Self {
        Verdict {
            passed: false,
            failures: vec![msg.into()],
            ..Default::default()
        }
    }
    fn new() -> Self {
        Verdict {
            passed: true,
            ..Default::default()
        }
    }
    /// Records a failure unless `ok`.
    fn require(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(msg());
        }
    }
    fn fact(&mut self, f: impl Into<String>) {
        self.facts.push(f.into());
    }
    fn done(mut self) -> Result<Self> {
        self.passed = self.failures.is_empty();
        Ok(self)
    }
    /// Adds the guest's timings.
    pub fn with_timings(mut self, o: &Outcome) -> Self {
        let s = |d: Option<std::time::Duration>| d.map_or("-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
        // lpmtrace doctor runs between boot and the scenario.
        let doctor = o
            .text("timings.txt")
            .and_then(|t| t.lines().find(|l| l.starts_with("doctor ")).map(str::to_string))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("ms="))
                    .and_then(|m| m.parse::<f64>().ok())
            })
            .map_or(String::new(), |ms| format!(" doctor {:.1}s", ms / 1000.0));
        self.timing = format!(
            "boot {}{doctor} scenario {} transfer {} total {:.1}s",
            s(o.boot_time),
            s(o.scenario_time),
            s(o.transfer_time),
            o.total_time.as_secs_f64()
        );
        self
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", if self.passed { "PASS" } else { "FAIL" }, self.timing)?;
        if !self.facts.is_empty() {
            write!(f, " | {}", self.facts.join("; "))?;
        }
        for x in &self.failures {
            write!(f, "\n      - {x}")?;
        }
        Ok(())
    }
}

/// One scenario.
pub struct Scenario {
    pub name: &'static str,
    /// The guest script (xtask/vm/scenarios/NAME.sh).
    pub script: &'static str,
    /// Interrupt controllers it runs on when `--ic-mode` is not given.
    pub default_ic_modes: &'static [IcMode],
    /// Part of the default set.
    pub default: bool,
    /// The kernels it is written for (others skip it).
    pub runs_on: fn(&Kernel) -> bool,
    pub check: fn(&CheckContext) -> Result<Verdict>,
    /// Records onto a disk and is hard-reset by the host (`power-loss`).
    pub power_loss: Option<PowerLoss>,
}

/// A guest that records onto an ext4 disk image and is hard-reset.
#[derive(Clone, Copy, Debug)]
pub struct PowerLoss {
    /// Size of the raw image the host formats (ext4) and attaches.
    pub disk_mib: u64,
    /// How long after `===LPMT-RESET-ARMED===` the host resets the guest.
    pub reset_after: std::time::Duration,
}

/// The old (≤5.10) LPM path: the kernel built from source.
pub fn old_path(k: &Kernel) -> bool {
    k.label == "5.10"
}

/// The 5.11+ path (Debian's 6.1 and 6.12, or a local .deb).
fn new_path(k: &Kernel) -> bool {
    !old_path(k)
}

fn any_kernel(_: &Kernel) -> bool {
    true
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

pub static ALL: &[Scenario] = &[
    Scenario {
        name: "migrate-solo",
        runs_on: new_path,
        script: include_str!("../../vm/scenarios/migrate-solo.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: check_migrate_solo,
        power_loss: None,
    },
    Scenario {
        name: "migrate-smp",
        runs_on: new_path,
        script: include_str!("../../vm/scenarios/migrate-smp.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: check_migrate_smp,
        power_loss: None,
    },
    Scenario {
        name: "migrate-hotplug",
        runs_on: new_path,
        script: include_str!("../../vm/scenarios/migrate-hotplug.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: check_migrate_hotplug,
        power_loss: None,
    },
    Scenario {
        name: "hotplug-ipi",
        runs_on: new_path,
        script: include_str!("../../vm/scenarios/hotplug-ipi.sh"),
        default_ic_modes: &[IcMode::Xive, IcMode::Xics],
        default: true,
        check: check_hotplug_ipi,
        power_loss: None,
    },
    Scenario {
        name: "boot",
        runs_on: any_kernel,
        script: include_str!("../../vm/scenarios/boot.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: false,
        check: check_boot,
        power_loss: None,
    },
    Scenario {
        name: "old-migrate",
        runs_on: old_path,
        script: include_str!("../../vm/scenarios/old-migrate.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_old_migrate,
        power_loss: None,
    },
    Scenario {
        name: "old-suspend-fail",
        runs_on: old_path,
        script: include_str!("../../vm/scenarios/old-suspend-fail.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_old_suspend_fail,
        power_loss: None,
    },
    Scenario {
        name: "old-vasi-enabled",
        runs_on: old_path,
        script: include_str!("../../vm/scenarios/old-vasi-enabled.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_old_vasi_enabled,
        power_loss: None,
    },
    Scenario {
        name: "old-hotplug",
        runs_on: old_path,
        script: include_str!("../../vm/scenarios/old-hotplug.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_old_hotplug,
        power_loss: None,
    },
    Scenario {
        name: "vasi-fail",
        runs_on: faults::new_path_with_faultinject,
        script: include_str!("../../vm/scenarios/vasi-fail.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_vasi_fail,
        power_loss: None,
    },
    Scenario {
        name: "cancel",
        runs_on: faults::new_path_with_faultinject,
        script: include_str!("../../vm/scenarios/cancel.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_cancel,
        power_loss: None,
    },
    Scenario {
        name: "join-stall",
        runs_on: faults::has_faultinject,
        script: include_str!("../../vm/scenarios/join-stall.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: faults::check_join_stall,
        power_loss: None,
    },
    Scenario {
        name: "power-loss",
        runs_on: power_loss::has_disk_support,
        script: include_str!("../../vm/scenarios/power-loss.sh"),
        default_ic_modes: &[IcMode::Xive],
        default: true,
        check: power_loss::check,
        power_loss: Some(PowerLoss {
            disk_mib: 64,
            reset_after: std::time::Duration::from_secs(8),
        }),
    },
];

/// The scenarios named (all default ones when none).
pub fn select(names: &[String]) -> Result<Vec<&'static Scenario>> {
    if names.is_empty() {
        return Ok(ALL.iter().filter(|s| s.default).collect());
    }
    let mut out = Vec::new();
    for n in names {
        if n == "all" {
            out.extend(ALL.iter().filter(|s| s.default));
            continue;
        }
        match ALL.iter().find(|s| s.name == n) {
            Some(s) => out.push(s),
            None => bail!(
                "unknown scenario {n:?}; known: {}",
                ALL.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Shared checks

/// Guest finished, no crash on the console or in dmesg, artifacts intact,
/// QMP worked, doctor's JSON parses. Returns the kernel log, or None when
/// the guest did not finish (the scenario's own checks would only add noise).
fn common(ctx: &CheckContext, v: &mut Verdict) -> Option<String> {
    let o = ctx.outcome;
    match &o.end {
        End::Completed { .. } => {}
        End::Crashed { signature, line } => v.failures.push(format!("crash ({signature}): {line}")),
        End::Hung { silent_for } => v.failures.push(format!(
            "guest hung: no console output for {:.0}s",
            silent_for.as_secs_f64()
        )),
        End::TimedOut => v
            .failures
            .push(format!("guest timed out after {:.0}s", o.total_time.as_secs_f64())),
        End::QemuExited { status } => v
            .failures
            .push(format!("QEMU exited ({status}) before the guest finished")),
    }
    if let Some(e) = &o.qmp.error {
        v.failures.push(format!("QMP: {e}"));
    }
    for e in &o.file_errors {
        v.failures.push(format!("artifact {e}"));
    }
    let dmesg = o.text("dmesg.txt").unwrap_or_default();
    if dmesg.is_empty() && matches!(o.end, End::Completed { .. }) {
        v.failures.push("dmesg.txt did not come back".into());
    }
    // Every crash line, from the console and from dmesg (which also has
    // what the quiet console loglevel hid during the transfer), once.
    let mut seen = std::collections::BTreeSet::new();
    if let End::Crashed { line, .. } = &o.end {
        seen.insert(line.clone());
    }
    let console = o.crashes.iter().map(|(s, l)| ("console", s.clone(), l.clone()));
    let from_dmesg = kernel_log::crashes(&dmesg).into_iter().map(|(s, l)| ("dmesg", s, l));
    for (src, sig, line) in console.chain(from_dmesg) {
        if seen.insert(line.clone()) {
            v.failures.push(format!("{src} shows {sig}: {line}"));
        }
    }
    if !matches!(o.end, End::Completed { .. }) {
        return None;
    }
    if ctx.host.is_some() {
        check_doctor(ctx, v);
    }
    Some(dmesg)
}

/// `lpmtrace doctor --json` ran in the guest and printed JSON.
fn check_doctor(ctx: &CheckContext, v: &mut Verdict) {
    match ctx.outcome.text("doctor.json") {
        None => v
            .failures
            .push("doctor.json did not come back (lpmtrace doctor --json did not run?)".into()),
        Some(t) => match serde_json::from_str::<Value>(&t) {
            Ok(_) => {}
            Err(e) => {
                let err = ctx.outcome.text("doctor.stderr").unwrap_or_default();
                v.failures.push(format!(
                    "doctor --json output is not JSON ({e}); stderr: {}",
                    super::util::tail(err.trim(), 3)
                ));
            }
        },
    }
}

/// Reads `NAME.lpmt` with the host lpmtrace: `info --json` and `dump
/// --format jsonl` must succeed, `report --json` must print JSON, and the
/// events must include the hcalls in `want` ((opcode, name, retval)).
/// Also checks that the guest's `record` exited cleanly on SIGINT. Returns
/// the recording's events and `report --json`, when they could be read.
fn recording(
    ctx: &CheckContext,
    v: &mut Verdict,
    name: &str,
    want: &[(u64, &str, Option<i64>)],
    lpm: Option<&kernel_log::LpmLog>,
) -> Recording {
    let mut got = Recording::default();
    let Some(host) = ctx.host else { return got };
    let timings = ctx.outcome.text("timings.txt").unwrap_or_default();
    match timings
        .lines()
        .find(|l| l.starts_with(&format!("record-stop name={name} ")))
    {
        None => v
            .failures
            .push(format!("record {name}: no record-stop line (recorder never started?)")),
        Some(l) => v.require(l.contains(" how=sigint ") && l.contains(" rc=0 "), || {
            let log = ctx.outcome.text(&format!("{name}.record.log")).unwrap_or_default();
            format!(
                "record {name} did not exit cleanly on SIGINT: {l}; log: {}",
                super::util::tail(log.trim(), 3)
            )
        }),
    }
    let file = format!("{name}.lpmt");
    let Some(path) = ctx.outcome.files.get(&file) else {
        v.failures.push(format!("{file} did not come back"));
        return got;
    };
    let save = ctx.dir.join("host");
    if let Err(e) = host.info(path, &save.join(format!("{name}.info"))) {
        v.failures.push(format!("{e:#}"));
    }
    match host.dump(path, &save.join(format!("{name}.dump"))) {
        Err(e) => v.failures.push(format!("{e:#}")),
        Ok(events) => {
            v.fact(format!("{file}: {} events", events.len()));
            for &(op, hname, ret) in want {
                let n = events
                    .iter()
                    .filter(|e| host_tool::mentions_hcall(e, op, hname, ret))
                    .count();
                v.require(n > 0, || {
                    format!(
                        "{file} has no {hname}{} event",
                        ret.map_or(String::new(), |r| format!(" returning {r}"))
                    )
                });
            }
            if let Some(lpm) = lpm {
                let trig = kernel_log::parse_triggers(&ctx.outcome.text("triggers.txt").unwrap_or_default());
                recording_matches_kernel(v, &file, &events, lpm, &trig);
            }
            got.events = events;
        }
    }
    got.report = report_checks(host, v, path, &save.join(format!("{name}.report")), lpm);
    if let Some(report) = &got.report {
        verdict_oracle(ctx, v, report, name, &save.join(format!("{name}.oracle.txt")));
    }
    got
}

/// When recording `name` saw events, in guest uptime seconds: from the
/// recorder being ready (`record-start name=N … ms=M start=S`, or live's
/// `live-start`) to its stop (`record-stop name=N … start=S` / `live how=…
/// start=S`).
fn recorded_window(timings: &str, name: &str) -> Option<(f64, f64)> {
    let field = |l: &str, k: &str| -> Option<f64> {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|x| x.parse().ok())
    };
    let tagged = format!(" name={name} ");
    let start_line = timings
        .lines()
        .find(|l| (l.starts_with("record-start") && l.contains(&tagged)) || l.starts_with("live-start "))?;
    let stop_line = timings
        .lines()
        .find(|l| (l.starts_with("record-stop") && l.contains(&tagged)) || l.starts_with("live how="))?;
    let from = field(start_line, "start=")? + field(start_line, "ms=")? / 1000.0;
    Some((from, field(stop_line, "start=")?))
}

/// The verdict oracle ([`lpmtrace_oracle::oracle`]): every finding the
/// kernel's account implies is in the report, none it rules out, outcomes
/// agree. Runs on every recording of every scenario; what it checked is
/// saved next to the report (`host/NAME.oracle.txt`).
fn verdict_oracle(ctx: &CheckContext, v: &mut Verdict, report: &Value, name: &str, save: &Path) {
    use lpmtrace_oracle::oracle;
    let o = ctx.outcome;
    let dmesg = o.text("dmesg.txt").unwrap_or_default();
    let release = o
        .text("guest-info.txt")
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("kernel=").map(str::to_string)))
        .unwrap_or_default();
    let triggers = format!(
        "{}{}",
        o.text("triggers.txt").unwrap_or_default(),
        o.text("rtas-triggers.txt").unwrap_or_default()
    );
    let hotplug = o.text("hotplug.txt").unwrap_or_default();
    let acc = oracle::account(
        &release,
        old_path(ctx.kernel),
        &dmesg,
        &oracle::ScriptLogs {
            triggers: &triggers,
            hotplug: &hotplug,
            recorded: recorded_window(&o.text("timings.txt").unwrap_or_default(), name),
        },
    );
    let verdict = oracle::judge(&acc, report);
    let mut text = String::new();
    for (head, items) in [
        ("violations", &verdict.violations),
        ("checked", &verdict.checked),
        ("not checked", &verdict.unchecked),
    ] {
        text.push_str(&format!("{head} ({}):\n", items.len()));
        for i in items {
            text.push_str(&format!("  {i}\n"));
        }
    }
    let _ = std::fs::write(save, text);
    v.fact(format!(
        "oracle: {} check(s) held, {} not checked{}",
        verdict.checked.len(),
        verdict.unchecked.len(),
        if verdict.unchecked.is_empty() {
            String::new()
        } else {
            format!(" ({})", verdict.unchecked.join("; "))
        }
    ));
    for x in verdict.violations {
        v.failures.push(format!("oracle: {x}"));
    }
}

/// What [`recording`] read back.
#[derive(Default)]
struct Recording {
    /// `lpmtrace dump --format jsonl`.
    events: Vec<Value>,
    /// `lpmtrace report --json`.
    report: Option<Value>,
}

/// The recording's events (`lpmtrace dump --format jsonl`) tell the same
/// story as the kernel log and the trigger writes: one sysfs trigger
/// enter/exit per write with the same outcome, one successful
/// rtas_ibm_suspend_me per resume, one failed one per `ibm,suspend-me
/// error`, one H_VASI_SIGNAL per cancel. Counts are only compared when the
/// recording lost nothing.
fn recording_matches_kernel(
    v: &mut Verdict,
    file: &str,
    events: &[Value],
    lpm: &kernel_log::LpmLog,
    trig: &[kernel_log::Trigger],
) {
    let kind = |e: &Value| e.get("event").and_then(Value::as_str).unwrap_or("").to_string();
    let int = |e: &Value, k: &str| e.get(k).and_then(Value::as_i64);
    if events.iter().any(|e| kind(e) == "lost") {
        v.fact(format!("{file} lost events: counts not compared"));
        return;
    }
    let exits: Vec<i64> = events
        .iter()
        .filter(|e| kind(e) == "trigger-exit" && e.get("source").and_then(Value::as_str) == Some("sysfs"))
        .filter_map(|e| int(e, "ret"))
        .collect();
    v.require(exits.len() == trig.len(), || {
        format!("{file}: {} sysfs trigger exits for {} writes", exits.len(), trig.len())
    });
    for (t, ret) in trig.iter().zip(&exits) {
        v.require((t.rc == 0) == (*ret >= 0), || {
            format!("{file}: {} wrote rc={} but the trigger returned {ret}", t.label, t.rc)
        });
    }
    let suspend: Vec<i64> = events
        .iter()
        .filter(|e| kind(e) == "suspend-exit")
        .filter_map(|e| int(e, "ret"))
        .collect();
    let ok = suspend.iter().filter(|r| **r == 0).count();
    let errors: usize = lpm.migrations.iter().map(|m| m.suspend_errors.len()).sum();
    v.require(ok == lpm.resumed(), || {
        format!(
            "{file}: {ok} successful rtas_ibm_suspend_me returns for {} resumes",
            lpm.resumed()
        )
    });
    v.require(suspend.len() - ok == errors, || {
        format!(
            "{file}: {} failed rtas_ibm_suspend_me returns for {errors} `ibm,suspend-me error` lines",
            suspend.len() - ok
        )
    });
    let cancels = events
        .iter()
        .filter(|e| kind(e) == "hcall-enter" && int(e, "opcode") == Some(H_VASI_SIGNAL.0 as i64))
        .count();
    v.require(cancels == lpm.cancelled(), || {
        format!("{file}: {cancels} H_VASI_SIGNAL calls for {} cancels", lpm.cancelled())
    });
}

/// `lpmtrace report FILE --json` prints JSON and, when the kernel log is
/// given, tells the same migration story ([`report_matches_kernel`]).
/// Skipped (noted in the verdict) while the host lpmtrace has no `report`.
fn report_checks(
    host: &HostLpmtrace,
    v: &mut Verdict,
    path: &Path,
    save: &Path,
    lpm: Option<&kernel_log::LpmLog>,
) -> Option<Value> {
    if !host.supports("report") {
        v.fact("report: not in this lpmtrace, skipped");
        return None;
    }
    match host.report(path, save) {
        Err(e) => {
            v.failures.push(format!("{e:#}"));
            None
        }
        Ok(report) => {
            if let Some(lpm) = lpm {
                report_matches_kernel(v, &report, lpm);
            }
            Some(report)
        }
    }
}

/// The report's `migrations[]` match the kernel log: as many migrations;
/// each resumed one has `outcome` "completed" and as many `attempts` as the
/// kernel made (failed ones + the successful one); each cancelled one is not
/// "completed", has a `cancel`, and 5 attempts.
fn report_matches_kernel(v: &mut Verdict, report: &Value, lpm: &kernel_log::LpmLog) {
    let Some(migs) = report.get("migrations").and_then(Value::as_array) else {
        v.failures.push("report: no migrations[] array".into());
        return;
    };
    if report.get("events_lost").and_then(Value::as_u64).unwrap_or(0) > 0 {
        v.fact("report: events lost, migration details not compared");
        return;
    }
    // A sys_rtas call the kernel refused before doing anything (EINVAL, no
    // attempt) is a migration for lpmtrace but none in the kernel log.
    let refused = |m: &&Value| {
        m.get("trigger").and_then(Value::as_str) == Some("sys-rtas")
            && m.get("result").and_then(Value::as_i64) == Some(-22)
            && m.get("attempts").and_then(Value::as_array).is_some_and(Vec::is_empty)
    };
    let migs: Vec<&Value> = migs.iter().filter(|m| !refused(m)).collect();
    v.require(migs.len() == lpm.migrations.len(), || {
        format!(
            "report: {} migration(s), the kernel log {}",
            migs.len(),
            lpm.migrations.len()
        )
    });
    for (i, (r, k)) in migs.iter().zip(&lpm.migrations).enumerate() {
        let outcome = r.get("outcome").and_then(Value::as_str).unwrap_or("?");
        let attempts = r.get("attempts").and_then(Value::as_array).map_or(0, Vec::len);
        let n = i + 1;
        match &k.end {
            MigrationEnd::Resumed => {
                let want = k.attempt_errors.len() + 1;
                v.require(outcome == "completed", || {
                    format!("report: migration {n} outcome {outcome:?}, the kernel resumed")
                });
                v.require(attempts == want, || {
                    format!("report: migration {n} has {attempts} attempt(s), the kernel made {want} (dmesg: Partition suspend attempt lines)")
                });
            }
            MigrationEnd::Cancelled { .. } => {
                v.require(outcome != "completed", || {
                    format!("report: migration {n} outcome {outcome:?}, the kernel cancelled")
                });
                v.require(r.get("cancel").is_some_and(|c| !c.is_null()), || {
                    format!("report: migration {n} has no cancel, the kernel sent H_VASI_SIGNAL")
                });
                v.require(attempts == k.attempt_errors.len(), || {
                    format!(
                        "report: migration {n} has {attempts} attempt(s), the kernel made {}",
                        k.attempt_errors.len()
                    )
                });
            }
            MigrationEnd::Unfinished => {}
        }
    }
}

const H_JOIN: (u64, &str) = (0x298, "H_JOIN");
const H_VASI_SIGNAL: (u64, &str) = (0x2a0, "H_VASI_SIGNAL");
const H_CONTINUE: i64 = 18;

/// Every trigger has one migration in the kernel log, and they agree:
/// rc 0 <=> resumed; a failed write is an EAGAIN after 5 failed attempts.
/// Each resume needed exactly one QMP wake-up.
fn triggers_vs_kernel(ctx: &CheckContext, v: &mut Verdict, dmesg: &str, default_expect: usize) -> kernel_log::LpmLog {
    // The script states how many triggers it ran (lpmt.triggers=N overrides).
    let expect = ctx
        .outcome
        .text("expect.txt")
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("triggers=").and_then(|n| n.trim().parse().ok()))
        })
        .unwrap_or(default_expect);
    let trig = kernel_log::parse_triggers(&ctx.outcome.text("triggers.txt").unwrap_or_default());
    let lpm = kernel_log::parse_lpm(dmesg);
    v.fact(lpm.summary());
    if !trig.is_empty() {
        let ms: Vec<String> = trig.iter().map(|t| t.ms.to_string()).collect();
        v.fact(format!("trigger writes took {} ms", ms.join("/")));
    }
    v.require(trig.len() == expect, || {
        format!("{} trigger write(s) completed, expected {expect}", trig.len())
    });
    v.require(lpm.migrations.len() == trig.len(), || {
        format!(
            "the kernel log shows {} migration(s) for {} trigger(s)",
            lpm.migrations.len(),
            trig.len()
        )
    });
    for (t, m) in trig.iter().zip(&lpm.migrations) {
        match &m.end {
            MigrationEnd::Resumed => v.require(t.rc == 0, || {
                format!("{}: kernel resumed but the write failed: {}", t.label, t.err)
            }),
            MigrationEnd::Cancelled { rejected } => {
                v.require(t.rc != 0, || {
                    format!("{}: kernel cancelled but the write succeeded", t.label)
                });
                v.require(t.err.contains("temporarily unavailable"), || {
                    format!("{}: expected EAGAIN, got {:?}", t.label, t.err)
                });
                v.require(m.attempt_errors.len() == 5, || {
                    format!(
                        "{}: {} failed attempts before the cancel, expected 5",
                        t.label,
                        m.attempt_errors.len()
                    )
                });
                v.require(*rejected == Some(-2), || {
                    format!(
                        "{}: expected QEMU to reject H_VASI_SIGNAL with -2, log says {rejected:?}",
                        t.label
                    )
                });
            }
            MigrationEnd::Unfinished => v
                .failures
                .push(format!("{}: the kernel log ends inside the migration", t.label)),
        }
    }
    let wakes = ctx.outcome.qmp.wakeups.len();
    v.require(wakes == lpm.resumed(), || {
        format!("{wakes} QMP wake-up(s) for {} resumed migration(s)", lpm.resumed())
    });
    lpm
}

fn hotplug_ops(ctx: &CheckContext) -> Vec<kernel_log::HotplugOp> {
    kernel_log::parse_hotplug(&ctx.outcome.text("hotplug.txt").unwrap_or_default())
}

/// All CPUs online at the end (the final /proc/interrupts has a column each).
fn all_online_at_end(ctx: &CheckContext, v: &mut Verdict) {
    let irq = kernel_log::parse_interrupts(&ctx.outcome.text("interrupts-final.txt").unwrap_or_default());
    v.require(irq.cpus == ctx.smp as usize, || {
        format!("{} CPU(s) online at the end, expected {}", irq.cpus, ctx.smp)
    });
}

// ---------------------------------------------------------------------------
// The scenarios

fn check_boot(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    if common(ctx, &mut v).is_none() {
        return v.done();
    }
    all_online_at_end(ctx, &mut v);
    v.done()
}

/// migrate-solo: one deterministic successful migration.
fn check_migrate_solo(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let lpm = triggers_vs_kernel(ctx, &mut v, &dmesg, 1);
    v.require(lpm.resumed() == 1 && lpm.cancelled() == 0, || {
        "the solo migration did not resume".into()
    });
    v.require(lpm.suspend_calls() == 1, || {
        format!("{} ibm,suspend-me calls, expected 1", lpm.suspend_calls())
    });
    // The legacy trigger: newer little-endian kernels refuse rtas(2)
    // ibm,suspend-me (RTAS syscall filter) with EINVAL and log it.
    let rtas = kernel_log::parse_triggers(&ctx.outcome.text("rtas-triggers.txt").unwrap_or_default());
    let blocked = dmesg.matches("RTAS call blocked").count();
    v.require(rtas.len() == 1 && rtas[0].via == "sys_rtas", || {
        format!("{} sys_rtas trigger(s), expected 1", rtas.len())
    });
    let refused = rtas.first().is_some_and(|t| t.rc != 0 && t.err.contains("errno=22"));
    v.require(refused == (blocked == 1), || {
        format!(
            "sys_rtas trigger {:?} vs {blocked} `RTAS call blocked` kernel line(s): they must agree",
            rtas.first().map(|t| &t.err)
        )
    });
    if refused {
        v.fact("the kernel's RTAS filter refused sys_rtas(ibm,suspend-me) (EINVAL)");
    }
    let ops = hotplug_ops(ctx);
    let want = 2 * (ctx.smp as usize).saturating_sub(1);
    v.require(ops.len() == want && ops.iter().all(|o| o.rc == 0), || {
        format!(
            "{} hotplug write(s), {} failed; expected {want} successful",
            ops.len(),
            ops.iter().filter(|o| o.rc != 0).count()
        )
    });
    all_online_at_end(ctx, &mut v);
    // One CPU online: its H_JOIN returns H_CONTINUE and it suspends.
    let rec = recording(
        ctx,
        &mut v,
        "solo",
        &[(H_JOIN.0, H_JOIN.1, Some(H_CONTINUE))],
        Some(&lpm),
    );
    // Each migration attributed to its trigger, and a refused syscall
    // explained as such.
    if let Some(report) = &rec.report {
        let seen: Vec<(&str, &str)> = faults::migrations(report)
            .iter()
            .map(|m| (faults::str_of(m, "trigger"), faults::str_of(m, "outcome")))
            .collect();
        let second = if refused { "failed" } else { "completed" };
        v.require(
            seen.len() == 2
                && seen[0] == ("sysfs", "completed")
                && matches!(seen[1].0, "sys-rtas" | "syscall-dispatch")
                && seen[1].1 == second,
            || format!("report: (trigger, outcome) {seen:?}, expected sysfs/completed then sys-rtas/{second}"),
        );
        if refused {
            let explained = faults::findings(report)
                .iter()
                .any(|f| faults::str_of(f, "variant") == "sys-rtas-rejected");
            v.require(explained, || {
                "report: no migration-failed/sys-rtas-rejected finding for the refused syscall".into()
            });
        }
        v.fact(format!("report: {seen:?}"));
    }
    v.done()
}

/// migrate-smp: random success or 5-attempt failure + rejected cancel;
/// whatever happened must be consistent everywhere.
fn check_migrate_smp(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let lpm = triggers_vs_kernel(ctx, &mut v, &dmesg, 3);
    let mut want = vec![(H_JOIN.0, H_JOIN.1, None)];
    if lpm.cancelled() > 0 {
        want.push((H_VASI_SIGNAL.0, H_VASI_SIGNAL.1, Some(-2)));
    }
    if lpm.resumed() > 0 || lpm.suspend_calls() > 0 {
        want.push((H_JOIN.0, H_JOIN.1, Some(H_CONTINUE)));
    }
    recording(ctx, &mut v, "smp", &want, Some(&lpm));
    v.done()
}

/// migrate-hotplug: migrations while CPUs come and go; everything completes.
fn check_migrate_hotplug(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let lpm = triggers_vs_kernel(ctx, &mut v, &dmesg, 2);
    let ops = hotplug_ops(ctx);
    let ok = ops.iter().filter(|o| o.rc == 0).count();
    let slowest = ops.iter().map(|o| o.ms).max().unwrap_or(0);
    v.fact(format!(
        "{} hotplug writes ({} failed, slowest {slowest} ms)",
        ops.len(),
        ops.len() - ok
    ));
    v.require(ok >= 2, || {
        format!("only {ok} successful hotplug write(s) during the migrations")
    });
    for o in ops.iter().filter(|o| o.rc != 0) {
        // On 6.x hotplug waits for stop_machine (cpus_read_lock); a failed
        // write is unexpected.
        v.failures.push(format!(
            "cpu{} {}: {}",
            o.cpu,
            if o.online { "online" } else { "offline" },
            o.err
        ));
    }
    all_online_at_end(ctx, &mut v);
    let mut want = vec![(H_JOIN.0, H_JOIN.1, None)];
    if lpm.cancelled() > 0 {
        want.push((H_VASI_SIGNAL.0, H_VASI_SIGNAL.1, Some(-2)));
    }
    recording(ctx, &mut v, "hotplug", &want, Some(&lpm));
    v.done()
}

/// hotplug-ipi: hotplug + IPIs, no migration; the IPI counters moved and
/// the interrupt controller is the requested one.
fn check_hotplug_ipi(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let lpm = kernel_log::parse_lpm(&dmesg);
    v.require(lpm.migrations.is_empty(), || {
        format!("unexpected migration activity: {}", lpm.summary())
    });
    let ops = hotplug_ops(ctx);
    v.require(!ops.is_empty() && ops.iter().all(|o| o.rc == 0), || {
        format!(
            "{} hotplug write(s), {} failed",
            ops.len(),
            ops.iter().filter(|o| o.rc != 0).count()
        )
    });
    let before = kernel_log::parse_interrupts(&ctx.outcome.text("interrupts-before.txt").unwrap_or_default());
    let after = kernel_log::parse_interrupts(&ctx.outcome.text("interrupts-after.txt").unwrap_or_default());
    let delta = after.ipi_total().saturating_sub(before.ipi_total());
    let controller = after.ipi_rows.first().map(|r| r.0.clone()).unwrap_or_default();
    v.fact(format!("{} hotplug writes, {delta} IPIs ({controller})", ops.len()));
    v.require(delta > 100, || format!("only {delta} IPIs during the run"));
    let want = match ctx.ic_mode {
        IcMode::Xive => "XIVE",
        IcMode::Xics => "XICS",
    };
    v.require(controller.contains(want), || {
        format!("IPI controller {controller:?}, expected {want}")
    });
    all_online_at_end(ctx, &mut v);
    check_live_output(ctx, &mut v);
    // live --record's file: no migration, so the oracle rules out every
    // migration finding, and counts each CPU's transitions.
    if let (Some(host), Some(path)) = (ctx.host, ctx.outcome.files.get("ipi.lpmt")) {
        match report_checks(host, &mut v, path, &ctx.dir.join("host/ipi.report"), None) {
            Some(report) => verdict_oracle(ctx, &mut v, &report, "ipi", &ctx.dir.join("host/ipi.oracle.txt")),
            None => v.failures.push("ipi.lpmt: no report".into()),
        }
    } else if ctx.host.is_some() {
        v.failures.push("ipi.lpmt (live --record) did not come back".into());
    }
    v.done()
}

/// `lpmtrace live --plain --format jsonl` was still running when the workload
/// ended, exited 0 on SIGINT and printed JSON lines.
fn check_live_output(ctx: &CheckContext, v: &mut Verdict) {
    if ctx.host.is_none() {
        return;
    }
    let timings = ctx.outcome.text("timings.txt").unwrap_or_default();
    match timings.lines().find(|l| l.starts_with("live ")) {
        None => v.failures.push("live did not run".into()),
        Some(l) => v.require(l.contains(" how=sigint ") && l.contains(" rc=0 "), || {
            let err = ctx.outcome.text("live.stderr").unwrap_or_default();
            format!("live: {l}; stderr: {}", super::util::tail(err.trim(), 3))
        }),
    }
    match ctx.outcome.text("live.jsonl") {
        None => v.failures.push("live.jsonl did not come back".into()),
        Some(t) => match host_tool::parse_jsonl(&t) {
            Err(e) => v.failures.push(format!("live.jsonl: {e:#}")),
            Ok(lines) => {
                v.fact(format!("live: {} JSON lines", lines.len()));
                v.require(!lines.is_empty(), || "live printed nothing".into());
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recording_vs_kernel_agree_and_disagree() {
        let log = "\
mobility: calling ibm,suspend-me on CPU 0
mobility: waiting for memory transfer to complete...
";
        let lpm = kernel_log::parse_lpm(log);
        let trig = kernel_log::parse_triggers("label=solo-1 rc=0 ms=2400 start=1 err=\n");
        let good = vec![
            json!({"event": "trigger-enter", "source": "sysfs"}),
            json!({"event": "hcall-exit", "hcall": "H_JOIN", "opcode": 664, "retval": 18}),
            json!({"event": "suspend-exit", "ret": 0}),
            json!({"event": "trigger-exit", "source": "sysfs", "ret": 4}),
        ];
        let mut v = Verdict::new();
        recording_matches_kernel(&mut v, "x.lpmt", &good, &lpm, &trig);
        assert!(v.failures.is_empty(), "{:?}", v.failures);

        let bad = vec![
            json!({"event": "suspend-exit", "ret": -11}),
            json!({"event": "trigger-exit", "source": "sysfs", "ret": -11}),
        ];
        let mut v = Verdict::new();
        recording_matches_kernel(&mut v, "x.lpmt", &bad, &lpm, &trig);
        assert_eq!(v.failures.len(), 3, "{:?}", v.failures);
    }

    #[test]
    fn report_vs_kernel() {
        let mut log = String::new();
        for n in 1..=5 {
            log.push_str("mobility: calling ibm,suspend-me on CPU 1\nmobility: ibm,suspend-me error: -9005\n");
            log.push_str(&format!("mobility: Partition suspend attempt {n} of 5 error: -11\n"));
        }
        log.push_str("mobility: H_VASI_SIGNAL error: -2\n");
        log.push_str(
            "mobility: calling ibm,suspend-me on CPU 2\nmobility: waiting for memory transfer to complete...\n",
        );
        let lpm = kernel_log::parse_lpm(&log);
        let attempts = |n: usize| serde_json::Value::Array(vec![json!({}); n]);
        let good = json!({"events_lost": 0, "migrations": [
            {"outcome": "cancel-rejected", "cancel": {"ret": -2}, "attempts": attempts(5)},
            {"outcome": "completed", "cancel": null, "attempts": attempts(1)}]});
        let mut v = Verdict::new();
        report_matches_kernel(&mut v, &good, &lpm);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        // A phantom attempt (seen in a real run) and a wrong outcome.
        let bad = json!({"events_lost": 0, "migrations": [
            {"outcome": "cancel-rejected", "cancel": {"ret": -2}, "attempts": attempts(6)},
            {"outcome": "failed", "cancel": null, "attempts": attempts(1)}]});
        let mut v = Verdict::new();
        report_matches_kernel(&mut v, &bad, &lpm);
        assert_eq!(v.failures.len(), 2, "{:?}", v.failures);
    }
}
