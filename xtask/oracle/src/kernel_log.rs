//! Ground truth from the guest's kernel log (dmesg / console) and from the
//! guest scripts' own logs (triggers.txt, hotplug.txt, interrupts-*.txt).
//!
//! The messages come from arch/powerpc/platforms/pseries/mobility.c (v5.11+
//! "partition suspend" code, as in Debian's 6.1 and 6.12):
//! - do_suspend: `calling ibm,suspend-me on CPU %i`, `ibm,suspend-me error: %d`
//! - do_join: `premature return from H_JOIN on CPU %i, retrying`,
//!   `H_JOIN error %ld on CPU %i`, `CPU %u waking all threads`
//! - pseries_suspend: `Partition suspend attempt %u of %u error: %d`,
//!   `Will retry partition suspend after %u ms`
//! - pseries_cancel_migration: `H_VASI_SIGNAL error: %ld`
//! - wait_for_vasi_session_completed (after a successful resume, 6.0+):
//!   `waiting for memory transfer to complete...`

/// Crash signatures looked for on the console and in dmesg.
const CRASH_SIGNATURES: &[(&str, &str)] = &[
    ("Kernel panic - not syncing", "kernel panic"),
    ("Oops: ", "oops"),
    ("BUG: ", "BUG"),
    ("kernel BUG at", "BUG"),
    ("------------[ cut here ]------------", "WARN/BUG (cut here)"),
    ("WARNING: CPU: ", "WARN"),
    ("detected stalls on CPUs", "RCU stall"),
    ("self-detected stall on CPU", "RCU stall"),
    ("rcu_preempt detected stall", "RCU stall"),
    ("soft lockup - CPU#", "soft lockup"),
    ("Watchdog detected hard LOCKUP", "hard lockup"),
    ("blocked for more than", "hung task"),
    ("Unable to handle kernel", "kernel fault"),
    ("general protection fault", "kernel fault"),
    ("Attempted to kill init", "init died"),
];

/// The crash signature a line shows, if any.
pub fn crash_signature(line: &str) -> Option<&'static str> {
    CRASH_SIGNATURES
        .iter()
        .find(|(pat, _)| line.contains(pat))
        .map(|&(_, name)| name)
}

/// Crash lines in a whole log.
pub fn crashes(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| crash_signature(l).map(|s| (s.to_string(), l.trim().to_string())))
        .collect()
}

/// How one migration (one write to /sys/kernel/mobility/migration) ended,
/// as the kernel log tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationEnd {
    /// ibm,suspend-me returned 0 and the partition resumed.
    Resumed,
    /// All attempts failed; the kernel cancelled (H_VASI_SIGNAL; `rejected`
    /// when the hypervisor refused the cancel, as QEMU does with -2).
    Cancelled { rejected: Option<i64> },
    /// The log ends in the middle of this migration.
    Unfinished,
}

/// One migration reconstructed from the kernel log.
#[derive(Clone, Debug)]
pub struct Migration {
    /// `calling ibm,suspend-me` lines (one per attempt that reached the
    /// suspend call).
    pub suspend_calls: u32,
    /// `ibm,suspend-me error: X` statuses.
    pub suspend_errors: Vec<i64>,
    /// `Partition suspend attempt N of M error: E`: (N, M, E).
    pub attempt_errors: Vec<(u32, u32, i64)>,
    /// `premature return from H_JOIN` lines (rate-limited by the kernel).
    pub premature_joins: u32,
    /// `H_JOIN error` lines.
    pub join_errors: u32,
    pub end: MigrationEnd,
}

/// Everything the LPM messages of a kernel log say.
#[derive(Clone, Debug, Default)]
pub struct LpmLog {
    pub migrations: Vec<Migration>,
}

impl LpmLog {
    pub fn resumed(&self) -> usize {
        self.migrations
            .iter()
            .filter(|m| m.end == MigrationEnd::Resumed)
            .count()
    }
    pub fn cancelled(&self) -> usize {
        self.migrations
            .iter()
            .filter(|m| matches!(m.end, MigrationEnd::Cancelled { .. }))
            .count()
    }
    pub fn suspend_calls(&self) -> u32 {
        self.migrations.iter().map(|m| m.suspend_calls).sum()
    }
    /// A one-line summary, e.g. `2 migrations: resumed(1 attempt), cancelled(5 attempts, -9005x5, cancel -2)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .migrations
            .iter()
            .map(|m| {
                let tries = m.attempt_errors.len() as u32 + u32::from(m.end == MigrationEnd::Resumed);
                match &m.end {
                    MigrationEnd::Resumed => format!("resumed after {tries} attempt(s)"),
                    MigrationEnd::Cancelled { rejected } => format!(
                        "cancelled after {} failed attempt(s){}",
                        m.attempt_errors.len(),
                        rejected.map_or(String::new(), |r| format!(" (H_VASI_SIGNAL {r})"))
                    ),
                    MigrationEnd::Unfinished => "unfinished".into(),
                }
            })
            .collect();
        format!("{} migration(s): {}", self.migrations.len(), parts.join(", "))
    }
}

/// The text after `prefix` up to the next whitespace, parsed as i64.
fn num_after(line: &str, prefix: &str) -> Option<i64> {
    let rest = &line[line.find(prefix)? + prefix.len()..];
    let tok: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    tok.parse().ok()
}

fn new_migration() -> Migration {
    Migration {
        suspend_calls: 0,
        suspend_errors: Vec::new(),
        attempt_errors: Vec::new(),
        premature_joins: 0,
        join_errors: 0,
        end: MigrationEnd::Unfinished,
    }
}

/// Reconstructs the migrations from a kernel log.
///
/// A migration opens at `watchdog: Set the NMI watchdog timeout factor to
/// N%` with N != 0 (pseries_migrate_partition raises it first; Debian's 6.1
/// and 6.12 print it) or at the first `calling ibm,suspend-me` when nothing
/// is open. Messages that only qualify an attempt (premature H_JOIN
/// returns, errors) arriving while nothing is open belong to the migration
/// that closed last.
pub fn parse_lpm(log: &str) -> LpmLog {
    let mut out = LpmLog::default();
    let mut cur: Option<Migration> = None;
    // The migration a qualifying message belongs to.
    fn target<'a>(cur: &'a mut Option<Migration>, done: &'a mut [Migration]) -> &'a mut Migration {
        if cur.is_none() && !done.is_empty() {
            return done.last_mut().unwrap();
        }
        cur.get_or_insert_with(new_migration)
    }
    for line in log.lines() {
        if let Some(pct) = num_after(line, "NMI watchdog timeout factor to") {
            if pct != 0 {
                if let Some(m) = cur.take() {
                    out.migrations.push(m);
                }
                cur = Some(new_migration());
            }
        } else if line.contains("calling ibm,suspend-me on CPU") {
            cur.get_or_insert_with(new_migration).suspend_calls += 1;
        } else if line.contains("ibm,suspend-me error:") {
            let e = num_after(line, "ibm,suspend-me error:").unwrap_or(0);
            target(&mut cur, &mut out.migrations).suspend_errors.push(e);
        } else if line.contains("premature return from H_JOIN") {
            target(&mut cur, &mut out.migrations).premature_joins += 1;
        } else if line.contains("H_JOIN error") {
            target(&mut cur, &mut out.migrations).join_errors += 1;
        } else if line.contains("Partition suspend attempt") {
            // "Partition suspend attempt 1 of 5 error: -11"
            let n = num_after(line, "attempt").unwrap_or(0) as u32;
            let m = num_after(line, " of ").unwrap_or(0) as u32;
            let e = num_after(line, "error:").unwrap_or(0);
            let mig = cur.get_or_insert_with(new_migration);
            mig.attempt_errors.push((n, m, e));
            if n == m && m > 0 {
                // Last attempt failed: the cancel follows (or nothing, if the
                // hypervisor accepted it silently).
                let mut done = cur.take().unwrap();
                done.end = MigrationEnd::Cancelled { rejected: None };
                out.migrations.push(done);
            }
        } else if line.contains("H_VASI_SIGNAL error:") {
            let r = num_after(line, "H_VASI_SIGNAL error:");
            match out.migrations.last_mut() {
                Some(Migration {
                    end: MigrationEnd::Cancelled { rejected },
                    ..
                }) if rejected.is_none() && cur.is_none() => *rejected = r,
                _ => {
                    // A cancel without the attempts we know: close what is open.
                    let mut m = cur.take().unwrap_or_else(new_migration);
                    m.end = MigrationEnd::Cancelled { rejected: r };
                    out.migrations.push(m);
                }
            }
        } else if line.contains("waiting for memory transfer to complete") {
            let mut m = cur.take().unwrap_or_else(new_migration);
            m.end = MigrationEnd::Resumed;
            out.migrations.push(m);
        }
    }
    if let Some(m) = cur {
        out.migrations.push(m);
    }
    out
}

/// One write to the migration trigger, from triggers.txt.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub label: String,
    pub rc: i32,
    pub ms: u64,
    /// When the write started (guest uptime seconds, 0 when not logged).
    pub start: f64,
    /// `sysfs` (a write to /sys/kernel/mobility/migration) or `sys_rtas`.
    pub via: String,
    pub err: String,
}

/// Parses `label=L rc=R ms=M start=S [via=V] err=...` lines.
pub fn parse_triggers(text: &str) -> Vec<Trigger> {
    text.lines()
        .filter(|l| l.starts_with("label="))
        .map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .unwrap_or("")
                    .to_string()
            };
            Trigger {
                label: field("label"),
                rc: field("rc").parse().unwrap_or(-1),
                ms: field("ms").parse().unwrap_or(0),
                start: field("start").parse().unwrap_or(0.0),
                via: Some(field("via"))
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "sysfs".into()),
                err: l
                    .split_once("err=")
                    .map(|(_, e)| e.trim().to_string())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// One CPU hotplug write, from hotplug.txt.
#[derive(Clone, Debug)]
pub struct HotplugOp {
    pub cpu: u32,
    pub online: bool,
    pub rc: i32,
    pub ms: u64,
    /// When the write started (guest uptime seconds, 0 when not logged).
    pub start: f64,
    pub err: String,
}

pub fn parse_hotplug(text: &str) -> Vec<HotplugOp> {
    text.lines()
        .filter(|l| l.starts_with("cpu="))
        .map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .unwrap_or("")
                    .to_string()
            };
            HotplugOp {
                cpu: field("cpu").parse().unwrap_or(u32::MAX),
                online: field("to") == "1",
                rc: field("rc").parse().unwrap_or(-1),
                ms: field("ms").parse().unwrap_or(0),
                start: field("start").parse().unwrap_or(0.0),
                err: l
                    .split_once("err=")
                    .map(|(_, e)| e.trim().to_string())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// /proc/interrupts: the online CPU count (header columns) and the IPI
/// rows (name of the controller, total count over all CPUs).
#[derive(Clone, Debug, Default)]
pub struct Interrupts {
    pub cpus: usize,
    /// (description, total) of rows whose description mentions IPI.
    pub ipi_rows: Vec<(String, u64)>,
}

impl Interrupts {
    pub fn ipi_total(&self) -> u64 {
        self.ipi_rows.iter().map(|r| r.1).sum()
    }
}

pub fn parse_interrupts(text: &str) -> Interrupts {
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .map_or(0, |h| h.split_whitespace().filter(|w| w.starts_with("CPU")).count());
    let mut ipi_rows = Vec::new();
    for l in lines {
        let mut words = l.split_whitespace();
        let Some(label) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        let counts: Vec<u64> = rest.iter().take(cpus).filter_map(|w| w.parse().ok()).collect();
        let desc = rest.iter().skip(counts.len()).copied().collect::<Vec<_>>().join(" ");
        // Numbered rows are real IRQs; "XIVE-IPI ... IPI-0" / "XICS ... IPI".
        if label.trim_end_matches(':').parse::<u64>().is_ok() && desc.contains("IPI") {
            ipi_rows.push((desc, counts.iter().sum()));
        }
    }
    Interrupts { cpus, ipi_rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUCCESS: &str = "\
[    3.018014] watchdog: Set the NMI watchdog timeout factor to 200%
[    3.022601] mobility: calling ibm,suspend-me on CPU 0
[    5.116472] mobility: CPU 0 waking all threads
[    5.163271] mobility: waiting for memory transfer to complete...
[    5.163407] mobility: H_VASI_STATE return error (-95)
";

    #[test]
    fn success_then_cancel() {
        let mut log = SUCCESS.to_string();
        for n in 1..=5 {
            log.push_str("[ 9.1] mobility: calling ibm,suspend-me on CPU 2\n");
            log.push_str("[ 9.1] mobility: ibm,suspend-me error: -9005\n");
            log.push_str("[ 9.1] mobility: CPU 2 waking all threads\n");
            log.push_str("[ 9.1] mobility: premature return from H_JOIN on CPU 1, retrying\n");
            log.push_str(&format!(
                "[ 9.2] mobility: Partition suspend attempt {n} of 5 error: -11\n"
            ));
        }
        log.push_str("[ 9.9] mobility: H_VASI_SIGNAL error: -2\n");
        let l = parse_lpm(&log);
        assert_eq!(l.migrations.len(), 2);
        assert_eq!(l.migrations[0].end, MigrationEnd::Resumed);
        assert_eq!(l.migrations[0].suspend_calls, 1);
        let m = &l.migrations[1];
        assert_eq!(m.end, MigrationEnd::Cancelled { rejected: Some(-2) });
        assert_eq!(m.attempt_errors.len(), 5);
        assert_eq!(m.attempt_errors[4], (5, 5, -11));
        assert_eq!(m.suspend_errors, vec![-9005; 5]);
        assert_eq!(m.premature_joins, 5);
        assert_eq!(l.resumed(), 1);
        assert_eq!(l.cancelled(), 1);
    }

    #[test]
    fn retried_then_resumed() {
        let log = "\
mobility: calling ibm,suspend-me on CPU 1
mobility: ibm,suspend-me error: -9005
mobility: Partition suspend attempt 1 of 5 error: -11
mobility: Will retry partition suspend after 1 ms
mobility: calling ibm,suspend-me on CPU 3
mobility: waiting for memory transfer to complete...
";
        let l = parse_lpm(log);
        assert_eq!(l.migrations.len(), 1);
        assert_eq!(l.migrations[0].end, MigrationEnd::Resumed);
        assert_eq!(l.migrations[0].suspend_calls, 2);
        assert_eq!(l.migrations[0].attempt_errors.len(), 1);
    }

    #[test]
    fn stray_lines_after_resume() {
        let log = "\
[ 3.0] watchdog: Set the NMI watchdog timeout factor to 200%
[ 3.1] mobility: calling ibm,suspend-me on CPU 0
[ 5.1] mobility: waiting for memory transfer to complete...
[ 5.2] mobility: premature return from H_JOIN on CPU 2, retrying
[ 5.3] watchdog: Set the NMI watchdog timeout factor to 0%
[ 6.0] watchdog: Set the NMI watchdog timeout factor to 200%
[ 6.1] mobility: premature return from H_JOIN on CPU 1, retrying
[ 6.2] mobility: calling ibm,suspend-me on CPU 3
[ 8.2] mobility: waiting for memory transfer to complete...
";
        let l = parse_lpm(log);
        assert_eq!(l.migrations.len(), 2);
        assert_eq!(l.migrations[0].premature_joins, 1);
        assert_eq!(l.migrations[1].premature_joins, 1);
        assert_eq!(l.resumed(), 2);
    }

    #[test]
    fn crash_lines() {
        assert_eq!(
            crash_signature("[  1.0] BUG: soft lockup - CPU#1 stuck for 22s!"),
            Some("BUG")
        );
        assert_eq!(
            crash_signature("[  1.0] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:"),
            Some("RCU stall")
        );
        assert_eq!(
            crash_signature("[  1.0] mobility: calling ibm,suspend-me on CPU 0"),
            None
        );
    }

    #[test]
    fn triggers_hotplug_interrupts() {
        let t = parse_triggers(
            "label=smp-1 rc=1 ms=1234 start=5.1 err=sh: write error: Resource temporarily unavailable\n",
        );
        assert_eq!(t[0].rc, 1);
        assert!(t[0].err.contains("temporarily"));
        let h = parse_hotplug("cpu=2 to=0 rc=0 ms=70 start=3.0 err=\n");
        assert!(!h[0].online && h[0].cpu == 2 && h[0].rc == 0);
        let i = parse_interrupts(
            "           CPU0       CPU1\n 16:        647        149  XIVE-IPI   0 Edge      IPI-0\n 18:  0 0 XIVE-IRQ 4352 Edge hvc_console\nLOC:  1 2 Local timer interrupts\n",
        );
        assert_eq!(i.cpus, 2);
        assert_eq!(i.ipi_total(), 796);
    }
}
