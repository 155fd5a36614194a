//! The verdict oracle: what a guest kernel's own account of a run implies
//! and rules out, per finding kind, held against `lpmtrace report --json`.
//!
//! The account comes from three sources, never from lpmtrace:
//! - the kernel log (mobility.c / rtas.c messages, their timestamps);
//! - the fault-injection module's lines in that log (`lpm-faultinject:`),
//!   which say what the platform was made to answer and which CPU was held;
//! - the scenario's own logs: each migration write (`triggers.txt`,
//!   `rtas-triggers.txt`: start, duration, result) and each hotplug write
//!   (`hotplug.txt`).
//!
//! From them [`account`] rebuilds every migration with how the kernel ended
//! it ([`End`]), and [`judge`] checks each report finding kind (the table in
//! docs/vm-tests.md, "The verdict oracle"): an implied finding must be there
//! with the right migration, variant and CPUs; a finding the account rules
//! out is a violation, inconclusive or not. Where lost events overlap a
//! migration, its implied findings are reported as not checked (with the
//! reason); what is ruled out is always checked.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::kernel_log::{self, HotplugOp, Trigger};

/// lpmtrace's default thresholds (userspace/src/analysis/mod.rs); the guest
/// runs use them.
pub const JOIN_STALL_S: f64 = 1.0;
pub const BLACKOUT_S: f64 = 5.0;
pub const VASI_WAIT_S: f64 = 60.0;
/// Slack for comparing kernel-log times with the thresholds (log lines are
/// printed a little after the event; TCG adds jitter).
const MARGIN_S: f64 = 0.5;
/// Slack when placing kernel lines into a trigger's time window (the
/// script's uptime stamps have 10 ms resolution).
const WINDOW_SLACK_S: f64 = 0.05;

/// A kernel-log line with its `[seconds]` stamp.
#[derive(Clone, Debug)]
pub struct Line<'a> {
    pub ts: f64,
    pub text: &'a str,
}

/// The timestamped lines of a kernel log (lines without a stamp are kept
/// with the previous line's time).
pub fn lines(log: &str) -> Vec<Line<'_>> {
    let mut last = 0.0;
    log.lines()
        .map(|l| {
            let ts = l
                .trim_start()
                .strip_prefix('[')
                .and_then(|r| r.split(']').next())
                .and_then(|t| t.trim().parse::<f64>().ok());
            if let Some(t) = ts {
                last = t;
            }
            Line { ts: last, text: l }
        })
        .collect()
}

/// How the kernel ended one migration.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// ibm,suspend-me succeeded and the partition resumed.
    Resumed,
    /// The kernel sent H_VASI_SIGNAL(CANCEL); `rejected` is the hypervisor's
    /// error when it refused (`H_VASI_SIGNAL error: X`).
    Cancelled { rejected: Option<i64> },
    /// The kernel gave up before the platform could be in Suspending (the
    /// stream was ENABLED→ABORTED, or VASI is not implemented): nothing to
    /// cancel.
    FailedBeforeSuspending,
    /// The kernel gave up while the platform may be in Suspending and sent
    /// no cancel (≤ 5.10 after the join; 5.11+ when polling the stream
    /// failed).
    FailedNoCancel,
    /// sys_rtas(ibm,suspend-me) refused by the kernel's RTAS filter.
    Refused,
    /// The account does not say (the log ends inside it, or its lines are
    /// missing).
    Unknown,
}

impl End {
    /// The report outcome this end implies.
    pub fn outcome(&self) -> Option<&'static str> {
        Some(match self {
            End::Resumed => "completed",
            End::Cancelled { rejected: None } => "cancelled",
            End::Cancelled { rejected: Some(_) } => "cancel-rejected",
            End::FailedBeforeSuspending | End::Refused => "failed",
            End::FailedNoCancel => "unterminated",
            End::Unknown => return None,
        })
    }
}

/// A CPU the fault-injection module held out of the join.
#[derive(Clone, Debug, PartialEq)]
pub struct Hold {
    pub cpu: u32,
    /// When the module started holding it.
    pub from: f64,
    /// How long (the `releasing … after N ms` line, else the requested time).
    pub ms: u64,
}

/// One migration as the kernel and the script tell it.
#[derive(Clone, Debug)]
pub struct Migration {
    /// The script's label (`smp-1`), or `log-N` without trigger logs.
    pub label: String,
    /// Start (script's uptime, or the first kernel line without trigger
    /// logs) and duration in seconds.
    pub start: f64,
    pub duration: f64,
    pub end: End,
    /// `Partition suspend attempt N of M error` lines.
    pub failed_attempts: u32,
    /// The last of them was attempt M of M (5.11+ then cancels).
    pub retries_exhausted: bool,
    /// CPUs the kernel logged `premature return from H_JOIN on CPU N,
    /// retrying` for (rate-limited: a lower bound).
    pub retrying_cpus: BTreeSet<u32>,
    /// CPUs held out of the join.
    pub holds: Vec<Hold>,
    /// Lower and upper bound of the freeze (first CPU in the join → resume)
    /// of the attempt that suspended, in seconds, where the log bounds it.
    pub freeze: (Option<f64>, Option<f64>),
    /// A hotplug write overlapped the migration's window.
    pub hotplug_overlap: bool,
}

/// The whole account of one run.
#[derive(Clone, Debug)]
pub struct Account {
    /// Per CPU: successful offline and online writes wholly inside the
    /// recording, and whether a write straddled its edges (not countable).
    pub hotplug_counts: Vec<(u32, u32, u32, bool)>,
    /// `uname -r`.
    pub release: String,
    /// The ≤ 5.10 path (rtas_ibm_suspend_me with on_each_cpu).
    pub old_path: bool,
    pub migrations: Vec<Migration>,
    /// Trigger windows overlap (two writers at once).
    pub concurrent: bool,
}

/// `(major, minor)` of a release string.
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut p = release.split(|c: char| !c.is_ascii_digit());
    Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?))
}

impl Account {
    fn version(&self) -> Option<(u32, u32)> {
        version(&self.release)
    }

    /// The kernel's join code calls H_JOIN again after a premature return:
    /// the old path's loop (`while (rc == H_SUCCESS && !done …)`), and
    /// 5.12+ (274cb1ca2e7c, "premature return from H_JOIN … retrying").
    pub fn rejoins(&self) -> bool {
        self.old_path || self.version().is_some_and(|v| v >= (5, 12))
    }

    /// The offline race of the 2019 thread cannot happen: since 5.9
    /// (ec2fc2a9e9bb) offline CPUs are stopped and not onlined for the join,
    /// 5.10 disables hotplug under the device-hotplug lock before
    /// on_each_cpu and has no present/online check to fail, and 5.11+ joins
    /// under stop_machine (cpus_read_lock).
    pub fn no_offline_race(&self) -> bool {
        self.version().is_some_and(|v| v >= (5, 9))
    }
}

/// What the scenario's own logs hold (empty strings when absent).
#[derive(Clone, Debug, Default)]
pub struct ScriptLogs<'a> {
    /// triggers.txt followed by rtas-triggers.txt.
    pub triggers: &'a str,
    pub hotplug: &'a str,
    /// When the recording saw events (uptime seconds: ready → stop), for
    /// the per-CPU hotplug counts; None skips them.
    pub recorded: Option<(f64, f64)>,
}

fn num_after(text: &str, prefix: &str) -> Option<i64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let tok: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    tok.parse().ok()
}

/// `start=` of a trigger line, in uptime seconds.
fn trigger_start(t: &Trigger) -> f64 {
    t.start
}

/// Rebuilds the migrations of a run. With trigger logs, one migration per
/// write, its window [start, start + ms]; without (the demo), the windows
/// come from the kernel log's own migration boundaries.
pub fn account(release: &str, old_path: bool, dmesg: &str, script: &ScriptLogs<'_>) -> Account {
    let all = lines(dmesg);
    let mut triggers = kernel_log::parse_triggers(script.triggers);
    triggers.sort_by(|a, b| trigger_start(a).total_cmp(&trigger_start(b)));
    let hotplug = kernel_log::parse_hotplug(script.hotplug);
    // Kernel lines are placed by their printk stamp (the scheduler clock),
    // the writes by /proc/uptime (boot time): the two differ by a fraction
    // of a second in these guests (seen: printk ~0.15 s ahead). So a
    // write's lines are those from its start up to the next write's start,
    // and durations come from the script's own measurement.
    let windows: Vec<(String, f64, f64, f64, Option<&Trigger>)> = if triggers.iter().any(|t| t.start > 0.0) {
        triggers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let next = triggers.get(i + 1).map_or(f64::INFINITY, |n| n.start - WINDOW_SLACK_S);
                (
                    t.label.clone(),
                    t.start - WINDOW_SLACK_S,
                    next,
                    t.ms as f64 / 1000.0,
                    Some(t),
                )
            })
            .collect()
    } else {
        log_windows(&all)
            .into_iter()
            .map(|(l, a, b)| (l, a, b, b - a, None))
            .collect()
    };
    let concurrent = triggers
        .windows(2)
        .any(|w| w[1].start + WINDOW_SLACK_S < w[0].start + w[0].ms as f64 / 1000.0 - WINDOW_SLACK_S);
    let migrations = windows
        .iter()
        .map(|(label, a, b, dur, t)| {
            let inside: Vec<&Line> = all.iter().filter(|l| l.ts >= *a && l.ts < *b).collect();
            one(label, *a, *dur, &inside, *t, old_path, &hotplug)
        })
        .collect();
    let mut hotplug_counts: Vec<(u32, u32, u32, bool)> = Vec::new();
    if let Some((from, to)) = script.recorded {
        for h in hotplug.iter().filter(|h| h.rc == 0) {
            let (a, b) = (h.start, h.start + h.ms as f64 / 1000.0);
            if b < from || a > to {
                continue;
            }
            let i = match hotplug_counts.iter().position(|c| c.0 == h.cpu) {
                Some(i) => i,
                None => {
                    hotplug_counts.push((h.cpu, 0, 0, false));
                    hotplug_counts.len() - 1
                }
            };
            let c = &mut hotplug_counts[i];
            if a < from || b > to {
                c.3 = true;
            } else if h.online {
                c.2 += 1;
            } else {
                c.1 += 1;
            }
        }
    }
    Account {
        hotplug_counts,
        release: release.to_string(),
        old_path,
        migrations,
        concurrent,
    }
}

/// Migration windows from the kernel log alone (5.11+): a migration opens
/// at the NMI-watchdog factor line pseries_migrate_partition prints (or its
/// first suspend call) and closes at its resume, its cancel or its last
/// failed attempt.
fn log_windows(all: &[Line]) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    let mut open: Option<f64> = None;
    let mut last = 0.0;
    for l in all {
        let t = l.text;
        let opens = num_after(t, "NMI watchdog timeout factor to").is_some_and(|p| p != 0)
            || (open.is_none() && t.contains("calling ibm,suspend-me on"));
        if opens && open.is_none() {
            open = Some(l.ts);
        }
        let Some(start) = open else { continue };
        last = l.ts;
        let closes = t.contains("waiting for memory transfer to complete")
            || t.contains("H_VASI_SIGNAL error:")
            || num_after(t, "Partition suspend attempt")
                .zip(num_after(t, " of "))
                .is_some_and(|(n, m)| n == m && m > 0 && t.contains("error"));
        if closes {
            // A rejected cancel's line follows the last attempt's.
            let end = if t.contains("H_VASI_SIGNAL error:") {
                l.ts
            } else {
                l.ts + 0.001
            };
            out.push((format!("log-{}", out.len() + 1), start, end));
            open = None;
        }
    }
    if let Some(start) = open {
        out.push((format!("log-{}", out.len() + 1), start, last + 0.001));
    }
    // A cancel's rejection line lands just after the window of its last
    // attempt: extend that window to it.
    for w in 0..out.len() {
        let next = out.get(w + 1).map_or(f64::MAX, |n| n.1);
        if let Some(l) = all
            .iter()
            .find(|l| l.ts > out[w].2 && l.ts < next && l.text.contains("H_VASI_SIGNAL error:"))
        {
            out[w].2 = l.ts + 0.001;
        }
    }
    out
}

fn one(
    label: &str,
    start: f64,
    duration: f64,
    inside: &[&Line],
    trigger: Option<&Trigger>,
    old_path: bool,
    hotplug: &[HotplugOp],
) -> Migration {
    let has = |needle: &str| inside.iter().any(|l| l.text.contains(needle));
    let first = |needle: &str| inside.iter().find(|l| l.text.contains(needle)).map(|l| l.ts);
    let last = |needle: &str| inside.iter().rev().find(|l| l.text.contains(needle)).map(|l| l.ts);
    let mut failed_attempts = 0;
    let mut retries_exhausted = false;
    let mut rejected = None;
    let mut retrying_cpus = BTreeSet::new();
    let mut holds: Vec<Hold> = Vec::new();
    for l in inside {
        let t = l.text;
        if t.contains("Partition suspend attempt") {
            failed_attempts += 1;
            let n = num_after(t, "attempt").unwrap_or(0);
            let m = num_after(t, " of ").unwrap_or(0);
            retries_exhausted = m > 0 && n == m;
        } else if let Some(r) = num_after(t, "H_VASI_SIGNAL error:") {
            rejected = Some(r);
        } else if t.contains("premature return from H_JOIN on CPU") {
            if let Some(c) = num_after(t, "on CPU").and_then(|c| u32::try_from(c).ok()) {
                retrying_cpus.insert(c);
            }
        } else if let Some(rest) = t.split("lpm-faultinject: ").nth(1) {
            if let Some(c) = rest.strip_prefix("holding cpu").and_then(|r| num_after(r, "")) {
                let ms = num_after(rest, " for ").unwrap_or(0).max(0) as u64;
                holds.push(Hold {
                    cpu: c as u32,
                    from: l.ts,
                    ms,
                });
            } else if let Some(c) = rest.strip_prefix("releasing cpu").and_then(|r| num_after(r, "")) {
                if let Some(h) = holds.iter_mut().rev().find(|h| h.cpu == c as u32) {
                    if let Some(ms) = num_after(rest, "after ") {
                        h.ms = ms.max(0) as u64;
                    }
                }
            }
        }
    }
    let failed_write = trigger.is_some_and(|t| t.rc != 0);
    let end = if trigger.is_some_and(|t| t.via == "sys_rtas") && has("RTAS call blocked") {
        End::Refused
    } else if old_path {
        match trigger {
            Some(t) if t.rc == 0 => End::Resumed,
            Some(_) if has("Error doing global join") => End::FailedNoCancel,
            Some(_) if has("vasi_state returned state") => End::FailedBeforeSuspending,
            // An H_VASI_STATE error: no stream (H_FUNCTION, H_PARAMETER), or
            // a state nobody knows.
            Some(_) => match inside
                .iter()
                .find_map(|l| num_after(l.text, "rtas_ibm_suspend_me: vasi_state returned"))
            {
                Some(-2 | -4) => End::FailedBeforeSuspending,
                Some(_) => End::FailedNoCancel,
                None => End::Unknown,
            },
            None => End::Unknown,
        }
    } else if has("waiting for memory transfer to complete") {
        End::Resumed
    } else if retries_exhausted || rejected.is_some() {
        End::Cancelled { rejected }
    } else if failed_write && !has("calling ibm,suspend-me") {
        // wait_for_vasi_session_suspending gave up: an hcall error (the
        // state is unknown: no cancel follows) or a state other than
        // ENABLED/SUSPENDING (the platform ended the stream).
        match inside
            .iter()
            .find_map(|l| num_after(l.text, "unexpected H_VASI_STATE result"))
        {
            Some(r) if r < 0 => End::FailedNoCancel,
            Some(_) => End::FailedBeforeSuspending,
            None => End::Unknown,
        }
    } else if trigger.is_some_and(|t| t.rc == 0) {
        End::Resumed
    } else {
        End::Unknown
    };
    // The freeze of the attempt that suspended.
    let freeze = if end != End::Resumed {
        (None, None)
    } else if old_path {
        // 5.10 logs the suspend call (KERN_DEBUG) but not the resume: the
        // held CPU's hold start is when the others joined.
        let call = first("calling ibm,suspend-me on cpu");
        let lower = holds.first().zip(call).map(|(h, c)| c - h.from);
        (lower, Some(duration + WINDOW_SLACK_S * 2.0))
    } else {
        let call = last("calling ibm,suspend-me on CPU");
        let wake = call.and_then(|c| {
            inside
                .iter()
                .find(|l| l.ts >= c && l.text.contains("waking all threads"))
                .map(|l| l.ts)
        });
        let before = call.and_then(|c| {
            inside
                .iter()
                .rev()
                .find(|l| {
                    l.ts < c
                        && (l.text.contains("Will retry partition suspend")
                            || l.text.contains("Partition suspend attempt"))
                })
                .map(|l| l.ts)
        });
        let lower = call.zip(wake).map(|(c, w)| w - c);
        let upper = wake.map(|w| w + 0.1 - before.or(inside.first().map(|l| l.ts)).unwrap_or(start));
        (lower, upper)
    };
    let hotplug_overlap = hotplug.iter().any(|h| {
        let (a, b) = (h.start, h.start + h.ms as f64 / 1000.0);
        a <= start + duration + 2.0 * WINDOW_SLACK_S && b >= start
    });
    Migration {
        label: label.to_string(),
        start,
        duration,
        end,
        failed_attempts,
        retries_exhausted,
        retrying_cpus,
        holds,
        freeze,
        hotplug_overlap,
    }
}

/// The oracle's result.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// What was checked and held (one line each).
    pub checked: Vec<String>,
    /// Findings the account implies that are missing, findings it rules
    /// out that are present, outcomes that disagree.
    pub violations: Vec<String>,
    /// Checks that could not be made, with the reason.
    pub unchecked: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn cpus_of(f: &Value) -> Vec<u32> {
    f.get("cpus")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.as_u64().map(|c| c as u32)).collect())
        .unwrap_or_default()
}

fn describe(f: &Value) -> String {
    let variant = f
        .get("variant")
        .and_then(Value::as_str)
        .map_or(String::new(), |v| format!("/{v}"));
    format!(
        "{}{variant} (migration {}, cpus {:?}): {}",
        s(f, "kind"),
        f.get("migration")
            .and_then(Value::as_u64)
            .map_or("-".into(), |m| m.to_string()),
        cpus_of(f),
        s(f, "summary")
    )
}

/// Holds the report's findings and outcomes against the account.
pub fn judge(acc: &Account, report: &Value) -> Verdict {
    let mut v = Verdict::default();
    let findings: Vec<&Value> = report
        .get("findings")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let migs: Vec<&Value> = report
        .get("migrations")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let of_kind = |kind: &str, id: Option<u64>| -> Vec<&Value> {
        findings
            .iter()
            .copied()
            .filter(|f| s(f, "kind") == kind && (id.is_none() || f.get("migration").and_then(Value::as_u64) == id))
            .collect()
    };
    let rule_out = |v: &mut Verdict, kind: &str, variant: Option<&[&str]>, id: Option<u64>, why: &str| {
        let hits: Vec<&Value> = of_kind(kind, id)
            .into_iter()
            .filter(|f| variant.is_none_or(|vs| vs.contains(&s(f, "variant"))))
            .collect();
        let what = format!(
            "{kind}{}{}",
            variant.map_or(String::new(), |vs| format!("/{}", vs.join("|"))),
            id.map_or(String::new(), |i| format!(" on migration {i}"))
        );
        if hits.is_empty() {
            v.checked.push(format!("no {what}: {why}"));
        } else {
            for f in hits {
                v.violations
                    .push(format!("ruled out by the kernel ({why}): {}", describe(f)));
            }
        }
    };
    // Migrations: one report migration per kernel migration, in order.
    if migs.len() != acc.migrations.len() {
        v.violations.push(format!(
            "report has {} migration(s), the kernel's account {} ({})",
            migs.len(),
            acc.migrations.len(),
            acc.migrations
                .iter()
                .map(|m| m.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if acc.migrations.is_empty() {
        for kind in [
            "unterminated-migration",
            "cancel-rejected",
            "suspend-retries-exhausted",
            "join-stall",
            "premature-join",
            "long-blackout",
            "long-vasi-wait",
            "migration-failed",
            "concurrent-migrations",
        ] {
            rule_out(&mut v, kind, None, None, "the kernel log shows no migration");
        }
        rule_out(
            &mut v,
            "offline-race",
            Some(&[
                "aborted-ebusy",
                "retried-eagain",
                "ipi-target-offline",
                "hotplug-blocked",
            ]),
            None,
            "the kernel log shows no migration",
        );
    }
    // CPU hotplug: each offline and online write the recording saw is one
    // transition of that CPU, counted once (a down runs in two parts, the
    // CPU's own thread and the control CPU: one offline all the same).
    let report_lost = report.get("events_lost").and_then(Value::as_u64).unwrap_or(0);
    let cpus: Vec<&Value> = report
        .get("cpus")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for &(cpu, off, on, straddles) in &acc.hotplug_counts {
        if straddles {
            v.unchecked.push(format!(
                "cpu{cpu} hotplug counts: a write straddles the recording's edges"
            ));
            continue;
        }
        let got = cpus
            .iter()
            .find(|c| c.get("cpu").and_then(Value::as_u64) == Some(cpu as u64))
            .map(|c| {
                (
                    c.get("offline_count").and_then(Value::as_u64).unwrap_or(0),
                    c.get("online_count").and_then(Value::as_u64).unwrap_or(0),
                )
            })
            .unwrap_or((0, 0));
        let want = (off as u64, on as u64);
        if got == want {
            v.checked.push(format!(
                "cpu{cpu}: {off} offline and {on} online transitions, as written"
            ));
        } else if report_lost > 0 {
            v.unchecked.push(format!(
                "cpu{cpu} hotplug counts {got:?} vs written {want:?}: events lost"
            ));
        } else {
            v.violations.push(format!(
                "cpu{cpu}: the report counts {} offline / {} online transitions, the script wrote {off} / {on} (hotplug.txt)",
                got.0, got.1
            ));
        }
    }
    if !acc.concurrent {
        rule_out(
            &mut v,
            "concurrent-migrations",
            None,
            None,
            "the migration writes ran one after another",
        );
    }
    for (k, (km, rm)) in acc.migrations.iter().zip(&migs).enumerate() {
        let id = rm.get("id").and_then(Value::as_u64).unwrap_or(k as u64 + 1);
        let lost = rm.get("events_lost").and_then(Value::as_u64).unwrap_or(0);
        let label = &km.label;
        let imply = |v: &mut Verdict, kind: &str, variant: Option<&str>, cpus: Option<&[u32]>, why: String| {
            let hit = of_kind(kind, Some(id))
                .into_iter()
                .find(|f| variant.is_none_or(|x| s(f, "variant") == x) && cpus.is_none_or(|c| cpus_of(f) == c));
            let what = format!(
                "{kind}{}{} on migration {id} ({label})",
                variant.map_or(String::new(), |x| format!("/{x}")),
                cpus.map_or(String::new(), |c| format!(" naming cpus {c:?}"))
            );
            match hit {
                Some(_) => v.checked.push(format!("{what}: {why}")),
                None if lost > 0 => v.unchecked.push(format!(
                    "{what} implied ({why}) but not required: {lost} events lost in that migration"
                )),
                None => v.violations.push(format!(
                    "implied by the kernel ({why}) but missing: {what}; the report has: {}",
                    of_kind(kind, Some(id))
                        .iter()
                        .map(|f| describe(f))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
        };
        // Outcome.
        let outcome = s(rm, "outcome");
        match km.end.outcome() {
            Some(want) if outcome == want => v.checked.push(format!("migration {id} ({label}) {want}")),
            Some(want) if lost > 0 => v.unchecked.push(format!(
                "migration {id} ({label}): outcome {outcome:?}, the kernel's {want:?}; {lost} events lost"
            )),
            Some(want) => v.violations.push(format!(
                "migration {id} ({label}): report outcome {outcome:?}, the kernel's account says {want:?} ({:?})",
                km.end
            )),
            None => v.unchecked.push(format!(
                "migration {id} ({label}): the kernel log does not say how it ended"
            )),
        }
        // unterminated-migration
        match km.end {
            End::FailedNoCancel => imply(
                &mut v,
                "unterminated-migration",
                None,
                None,
                "the kernel gave up while the stream may be Suspending and sent no cancel".into(),
            ),
            End::Unknown => {}
            _ => rule_out(
                &mut v,
                "unterminated-migration",
                None,
                Some(id),
                &format!("{:?}", km.end).to_lowercase(),
            ),
        }
        // cancel-rejected
        match km.end {
            End::Cancelled { rejected: Some(r) } => imply(
                &mut v,
                "cancel-rejected",
                None,
                None,
                format!("`H_VASI_SIGNAL error: {r}`"),
            ),
            End::Unknown => {}
            _ => rule_out(
                &mut v,
                "cancel-rejected",
                None,
                Some(id),
                "no `H_VASI_SIGNAL error` line",
            ),
        }
        // suspend-retries-exhausted
        if km.retries_exhausted && !acc.old_path {
            imply(
                &mut v,
                "suspend-retries-exhausted",
                None,
                None,
                format!("`Partition suspend attempt {n} of {n}`", n = km.failed_attempts),
            );
        } else if km.end != End::Unknown {
            rule_out(
                &mut v,
                "suspend-retries-exhausted",
                None,
                Some(id),
                "the kernel did not use up its suspend attempts",
            );
        }
        // migration-failed
        match km.end {
            End::Refused => imply(
                &mut v,
                "migration-failed",
                Some("sys-rtas-rejected"),
                None,
                "`sys_rtas: RTAS call blocked`".into(),
            ),
            End::FailedBeforeSuspending => imply(
                &mut v,
                "migration-failed",
                Some("failed"),
                None,
                "the kernel gave up before the stream reached Suspending".into(),
            ),
            End::Resumed => rule_out(&mut v, "migration-failed", None, Some(id), "the partition resumed"),
            _ => {}
        }
        // join-stall: exactly the CPUs held longer than the threshold.
        let held: Vec<u32> = {
            let mut c: Vec<u32> = km
                .holds
                .iter()
                .filter(|h| h.ms as f64 / 1000.0 > JOIN_STALL_S + MARGIN_S)
                .map(|h| h.cpu)
                .collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        if held.is_empty() {
            if km.end != End::Unknown {
                rule_out(&mut v, "join-stall", None, Some(id), "no CPU was held out of the join");
            }
        } else {
            imply(
                &mut v,
                "join-stall",
                None,
                Some(&held),
                format!("lpm-faultinject held {held:?} out of the join"),
            );
            for f in of_kind("join-stall", Some(id)) {
                if cpus_of(f).iter().any(|c| !held.contains(c)) {
                    v.violations.push(format!(
                        "ruled out by the kernel (only {held:?} was held): {}",
                        describe(f)
                    ));
                }
            }
        }
        // premature-join/unhandled
        if acc.rejoins() {
            rule_out(
                &mut v,
                "premature-join",
                Some(&["unhandled"]),
                Some(id),
                if acc.old_path {
                    "the old path's join loop calls H_JOIN again after every early return"
                } else {
                    "5.12+ do_join calls H_JOIN again after a premature return (274cb1ca2e7c)"
                },
            );
        } else {
            for f in of_kind("premature-join", Some(id)) {
                if s(f, "variant") == "unhandled" {
                    if let Some(c) = cpus_of(f).iter().find(|c| km.retrying_cpus.contains(c)) {
                        v.violations.push(format!(
                            "ruled out by the kernel (`premature return from H_JOIN on CPU {c}, retrying`): {}",
                            describe(f)
                        ));
                    }
                }
            }
        }
        // offline-race
        if acc.no_offline_race() {
            rule_out(
                &mut v,
                "offline-race",
                Some(&["aborted-ebusy", "retried-eagain", "ipi-target-offline"]),
                Some(id),
                "no offline race in this kernel's code (5.9+: offline CPUs stay stopped; hotplug is held off during the join)",
            );
        }
        if !km.hotplug_overlap {
            rule_out(
                &mut v,
                "offline-race",
                Some(&["hotplug-blocked"]),
                Some(id),
                "no CPU hotplug write overlapped the migration",
            );
        }
        // long-blackout
        match km.freeze {
            (Some(lo), _) if lo > BLACKOUT_S + MARGIN_S => imply(
                &mut v,
                "long-blackout",
                None,
                None,
                format!("the kernel log bounds the freeze below by {lo:.1}s"),
            ),
            (_, Some(hi)) if hi < BLACKOUT_S - MARGIN_S => rule_out(
                &mut v,
                "long-blackout",
                None,
                Some(id),
                &format!("the kernel log bounds the freeze by {hi:.1}s"),
            ),
            (_, _) if km.end != End::Resumed => {
                rule_out(&mut v, "long-blackout", None, Some(id), "the partition never suspended")
            }
            (lo, hi) => v.unchecked.push(format!(
                "long-blackout on migration {id}: the log bounds the freeze only to {lo:?}..{hi:?} s"
            )),
        }
        // long-vasi-wait
        let dur = km.duration;
        if dur < VASI_WAIT_S - MARGIN_S {
            rule_out(
                &mut v,
                "long-vasi-wait",
                None,
                Some(id),
                &format!("the whole migration took {dur:.1}s"),
            );
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEMO: &str = "\
[   12.5] watchdog: Set the NMI watchdog timeout factor to 200%
[   12.8] mobility: premature return from H_JOIN on CPU 1, retrying
[   13.1] mobility: calling ibm,suspend-me on CPU 3
[   13.2] mobility: ibm,suspend-me error: -9005
[   13.3] mobility: Partition suspend attempt 1 of 5 error: -11
[   13.3] mobility: Will retry partition suspend after 1 ms
[   13.4] mobility: calling ibm,suspend-me on CPU 3
[   15.4] mobility: CPU 3 waking all threads
[   15.7] mobility: waiting for memory transfer to complete...
[   17.0] watchdog: Set the NMI watchdog timeout factor to 200%
[   17.1] mobility: calling ibm,suspend-me on CPU 2
[   17.2] mobility: Partition suspend attempt 5 of 5 error: -11
[   17.3] mobility: H_VASI_SIGNAL error: -2
";

    fn f(kind: &str, variant: Option<&str>, m: u64, cpus: &[u32]) -> Value {
        json!({"kind": kind, "variant": variant, "migration": m, "cpus": cpus, "summary": "x"})
    }

    #[test]
    fn the_log_alone_gives_the_migrations() {
        let acc = account("6.1.0-54-powerpc64le", false, DEMO, &ScriptLogs::default());
        assert_eq!(acc.migrations.len(), 2);
        assert_eq!(acc.migrations[0].end, End::Resumed);
        assert_eq!(acc.migrations[0].retrying_cpus, BTreeSet::from([1]));
        assert_eq!(acc.migrations[1].end, End::Cancelled { rejected: Some(-2) });
        let (lo, hi) = acc.migrations[0].freeze;
        assert!((lo.unwrap() - 2.0).abs() < 1e-6 && hi.unwrap() < 3.0, "{lo:?} {hi:?}");
    }

    #[test]
    fn implied_and_ruled_out_findings() {
        let acc = account("6.1.0-54-powerpc64le", false, DEMO, &ScriptLogs::default());
        let good = json!({
            "migrations": [{"id": 1, "outcome": "completed"}, {"id": 2, "outcome": "cancel-rejected"}],
            "findings": [f("cancel-rejected", None, 2, &[]), f("suspend-retries-exhausted", None, 2, &[]),
                         f("premature-join", Some("storm"), 1, &[0, 1])]
        });
        let v = judge(&acc, &good);
        assert!(v.ok(), "{:#?}", v.violations);
        // The demo's defect: unhandled on a kernel that re-joins.
        let mut bad = good.clone();
        bad["findings"]
            .as_array_mut()
            .unwrap()
            .push(f("premature-join", Some("unhandled"), 1, &[1]));
        // And a missing implied finding, and a wrong outcome.
        bad["findings"].as_array_mut().unwrap().remove(0);
        bad["migrations"][0]["outcome"] = json!("in-progress");
        let v = judge(&acc, &bad);
        assert_eq!(v.violations.len(), 3, "{:#?}", v.violations);
        assert!(v.violations.iter().any(|x| x.contains("premature-join/unhandled")));
        assert!(v.violations.iter().any(|x| x.contains("missing: cancel-rejected")));
        assert!(v.violations.iter().any(|x| x.contains("outcome \"in-progress\"")));
    }

    #[test]
    fn holds_imply_a_join_stall_naming_exactly_that_cpu() {
        let dmesg = "\
[ 9.0] watchdog: Set the NMI watchdog timeout factor to 200%
[ 9.1] lpm-faultinject: holding cpu2 out of the join (do_join) for 4000 ms
[ 13.1] lpm-faultinject: releasing cpu2 into the join after 4000 ms
[ 13.3] mobility: calling ibm,suspend-me on CPU 0
[ 15.3] mobility: CPU 0 waking all threads
[ 15.5] mobility: waiting for memory transfer to complete...
";
        let script = ScriptLogs {
            triggers: "label=stall-1 rc=0 ms=7000 start=8.9 err=\n",
            hotplug: "",
            recorded: None,
        };
        let acc = account("6.12.113+deb13-powerpc64le", false, dmesg, &script);
        assert_eq!(
            acc.migrations[0].holds,
            vec![Hold {
                cpu: 2,
                from: 9.1,
                ms: 4000
            }]
        );
        let report = |cpus: &[u32]| {
            json!({"migrations": [{"id": 1, "outcome": "completed", "events_lost": 0}],
                   "findings": [f("join-stall", None, 1, cpus)]})
        };
        assert!(judge(&acc, &report(&[2])).ok());
        assert!(!judge(&acc, &report(&[1, 2])).ok());
        assert!(!judge(&acc, &report(&[])).ok());
        // Lost events excuse a missing implied finding, never a ruled-out one.
        let lost = json!({"migrations": [{"id": 1, "outcome": "in-progress", "events_lost": 9}], "findings": []});
        let v = judge(&acc, &lost);
        assert!(v.ok() && v.unchecked.len() >= 2, "{v:#?}");
    }

    #[test]
    fn old_path_ends_from_the_write_and_the_log() {
        let dmesg = "\
[ 5.0] rtas_ibm_suspend_me: vasi_state returned state 2
[ 8.0] calling ibm,suspend-me on cpu 1
[ 8.1] ibm,suspend-me returned -9004
[ 8.2] Error doing global join
";
        let script = ScriptLogs {
            triggers: "label=a rc=1 ms=100 start=4.9 err=Input/output error\nlabel=b rc=1 ms=400 start=7.9 err=x\n",
            hotplug: "cpu=1 to=0 rc=0 ms=50 start=30 err=\n",
            recorded: None,
        };
        let acc = account("5.10.223", true, dmesg, &script);
        assert_eq!(acc.migrations[0].end, End::FailedBeforeSuspending);
        assert_eq!(acc.migrations[1].end, End::FailedNoCancel);
        assert!(acc.rejoins() && acc.no_offline_race() && !acc.concurrent);
        let report = json!({"migrations": [{"id": 1, "outcome": "failed"}, {"id": 2, "outcome": "unterminated"}],
            "findings": [f("migration-failed", Some("failed"), 1, &[]), f("unterminated-migration", None, 2, &[])]});
        assert!(judge(&acc, &report).ok(), "{:#?}", judge(&acc, &report).violations);
    }

    #[test]
    fn hotplug_writes_inside_the_recording_are_counted_once() {
        let script = ScriptLogs {
            triggers: "",
            hotplug: "cpu=1 to=0 rc=0 ms=50 start=10 err=\ncpu=1 to=1 rc=0 ms=80 start=11 err=\n\
                      cpu=2 to=0 rc=0 ms=50 start=4 err=\ncpu=3 to=0 rc=0 ms=900 start=19.5 err=\n",
            recorded: Some((5.0, 20.0)),
        };
        let acc = account("6.12.1", false, "", &script);
        let report = |off1: u64| {
            json!({"migrations": [], "findings": [], "events_lost": 0,
                   "cpus": [{"cpu": 1, "offline_count": off1, "online_count": 1}]})
        };
        let v = judge(&acc, &report(1));
        assert!(v.ok(), "{:#?}", v.violations);
        assert!(v.unchecked.iter().any(|u| u.contains("cpu3")), "{v:#?}");
        // A down counted twice (its two halves) is a violation.
        assert!(!judge(&acc, &report(2)).ok());
    }

    #[test]
    fn no_migration_rules_out_every_migration_finding() {
        let acc = account("6.1.0", false, "[1.0] nothing\n", &ScriptLogs::default());
        assert!(acc.migrations.is_empty());
        let report = json!({"migrations": [], "findings": [f("join-stall", None, 1, &[1])]});
        assert!(!judge(&acc, &report).ok());
        let report = json!({"migrations": [], "findings": [{"kind": "events-lost", "cpus": [0]}]});
        assert!(judge(&acc, &report).ok());
    }
}
