//! The scenario text format: hand-written event sequences with the findings
//! they must produce (docs/scenarios.md).
//!
//! ```text
//! title: successful migration, new kernel
//! kernel: new-path
//! cpus: 2
//! expect: none
//!
//! +0.000  cpu0 tid=100 trigger sysfs stream=0x1 comm=drmgr
//! +0.001  cpu0 tid=100 hcall H_VASI_STATE handle=0x1
//! +0.0011 cpu0 tid=100 hcall-exit H_VASI_STATE ret=H_SUCCESS state=SUSPENDING
//! ```
//!
//! The parser never panics: every problem is a [`ScenarioError`] naming the
//! line. Sizes are bounded (events, CPUs, repeat counts) so a hostile input
//! cannot exhaust memory.

use std::path::Path;

use crate::analysis::{FindingKind, Outcome, Report, Severity, Thresholds};
use crate::events::session::{CoverageStatus, KernelGeneration, ProbeCoverage, SessionInfo};
use crate::events::{
    names, Comm, CpuDownVia, CpuMask, CpumaskOp, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia,
    TriggerSource, PROBE_NAMES,
};
use crate::source::VecSource;

/// Time of `+0` in a scenario (1000 s of uptime: nothing is at zero).
pub const BASE_TS_NS: u64 = 1_000_000_000_000;
/// Most events a scenario may expand to.
pub const MAX_EVENTS: usize = 2_000_000;
/// Highest CPU number accepted.
pub const MAX_CPU: u32 = 4095;
/// tid of events that do not name one.
pub const DEFAULT_TID: u32 = 100;

/// A scenario that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A line is malformed.
    #[error("{path}line {line}: {msg}")]
    Line {
        /// `file:` prefix, or empty.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One `expect:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Finding kind.
    pub kind: FindingKind,
    /// Required variant.
    pub variant: Option<String>,
    /// Required severity.
    pub severity: Option<Severity>,
    /// Required CPUs (exact list).
    pub cpus: Option<Vec<u32>>,
    /// Required inconclusive flag.
    pub inconclusive: Option<bool>,
    /// Required migration id.
    pub migration: Option<u32>,
    /// Source line.
    pub line: usize,
}

impl Expect {
    fn matches(&self, f: &crate::analysis::Finding) -> bool {
        f.kind == self.kind
            && self
                .variant
                .as_ref()
                .is_none_or(|v| f.variant.as_deref() == Some(v.as_str()))
            && self.severity.is_none_or(|s| f.severity == s)
            && self.cpus.as_ref().is_none_or(|c| &f.cpus == c)
            && self.inconclusive.is_none_or(|i| f.inconclusive == i)
            && self.migration.is_none_or(|m| f.migration == Some(m))
    }
}

/// One `expect-outcome:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectOutcome {
    /// Migration id (1-based).
    pub migration: u32,
    /// Its outcome.
    pub outcome: Outcome,
    /// Number of attempts, when given.
    pub attempts: Option<usize>,
    /// Source line.
    pub line: usize,
}

/// A parsed scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `title:` text.
    pub title: Option<String>,
    /// The session (generation, CPU count, coverage).
    pub session: SessionInfo,
    /// Thresholds (defaults plus `threshold:` overrides).
    pub thresholds: Thresholds,
    /// Events in time order.
    pub events: Vec<Event>,
    /// Expected findings (exactly these).
    pub expects: Vec<Expect>,
    /// `expect: none` was given.
    pub expect_none: bool,
    /// Expected migration outcomes.
    pub outcomes: Vec<ExpectOutcome>,
    /// `watermark: +T`: the clock the analysis is advanced to after the
    /// last event (what live mode does with wall time while a hang lasts).
    pub watermark_ns: Option<u64>,
}

impl Scenario {
    /// Runs the engine over the events (and the watermark).
    pub fn analyse(&self) -> Report {
        let mut engine = crate::analysis::Engine::new(&self.session, self.thresholds.clone());
        for ev in &self.events {
            engine.push(ev);
        }
        if let Some(w) = self.watermark_ns {
            engine.advance_to(w);
        }
        engine.finish()
    }

    /// An event source over the scenario's events.
    pub fn source(&self) -> VecSource {
        VecSource::new(self.session.clone(), self.events.clone())
    }

    /// Whether the scenario states any expectation.
    pub fn has_expectations(&self) -> bool {
        self.expect_none || !self.expects.is_empty() || !self.outcomes.is_empty()
    }

    /// Compares a report with the expectations; each problem is one line.
    /// Every expect line must match a distinct finding, and (when any
    /// `expect:` line is present) every finding must be expected.
    pub fn check(&self, report: &Report) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut used = vec![false; report.findings.len()];
        for e in &self.expects {
            let hit = report
                .findings
                .iter()
                .enumerate()
                .find(|(i, f)| !used[*i] && e.matches(f));
            match hit {
                Some((i, _)) => used[i] = true,
                None => problems.push(format!("line {}: expected {} not found", e.line, describe(e))),
            }
        }
        if self.expect_none || !self.expects.is_empty() {
            for (f, u) in report.findings.iter().zip(&used) {
                if !u {
                    problems.push(format!(
                        "unexpected finding {}{} (cpus {:?}, inconclusive {}): {}",
                        f.kind.id(),
                        f.variant
                            .as_deref()
                            .map(|v| format!(" variant={v}"))
                            .unwrap_or_default(),
                        f.cpus,
                        f.inconclusive,
                        f.summary
                    ));
                }
            }
        }
        for o in &self.outcomes {
            match report.migrations.iter().find(|m| m.id == o.migration) {
                None => problems.push(format!("line {}: migration {} not in the report", o.line, o.migration)),
                Some(m) => {
                    if m.outcome != o.outcome {
                        problems.push(format!(
                            "line {}: migration {} outcome {} (expected {})",
                            o.line,
                            o.migration,
                            m.outcome.as_str(),
                            o.outcome.as_str()
                        ));
                    }
                    if let Some(n) = o.attempts.filter(|&n| n != m.attempts.len()) {
                        problems.push(format!(
                            "line {}: migration {} has {} attempts (expected {n})",
                            o.line,
                            o.migration,
                            m.attempts.len()
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn describe(e: &Expect) -> String {
    let mut s = e.kind.id().to_string();
    if let Some(v) = &e.variant {
        s += &format!(" variant={v}");
    }
    if let Some(v) = e.severity {
        s += &format!(" severity={}", v.as_str());
    }
    if let Some(c) = &e.cpus {
        s += &format!(" cpus={c:?}");
    }
    if let Some(i) = e.inconclusive {
        s += if i { " inconclusive" } else { " conclusive" };
    }
    if let Some(m) = e.migration {
        s += &format!(" migration={m}");
    }
    s
}

/// Reads and parses a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|e| match e {
        ScenarioError::Line { line, msg, .. } => ScenarioError::Line {
            path: format!("{}: ", path.display()),
            line,
            msg,
        },
        other => other,
    })
}

/// Parses scenario text.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Parser::default().run(text)
}

#[derive(Default)]
struct Parser {
    title: Option<String>,
    generation: Option<KernelGeneration>,
    cpus: Option<u32>,
    missing: Vec<String>,
    token: Option<u32>,
    release: Option<String>,
    online: Option<String>,
    states: Vec<crate::events::session::HotplugState>,
    thresholds: Thresholds,
    events: Vec<Event>,
    expects: Vec<Expect>,
    expect_none: bool,
    outcomes: Vec<ExpectOutcome>,
    last_ts: u64,
    repeat: Option<Repeat>,
    watermark: Option<u64>,
}

struct Repeat {
    count: u64,
    every: u64,
    start: u64,
    line: usize,
    body: Vec<(usize, String)>,
}

fn err<T>(line: usize, msg: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError::Line {
        path: String::new(),
        line,
        msg: msg.into(),
    })
}

impl Parser {
    fn run(mut self, text: &str) -> Result<Scenario, ScenarioError> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            if let Some(rep) = self.repeat.as_mut() {
                if content == "end" {
                    let rep = self.repeat.take().expect("checked");
                    self.expand(rep)?;
                } else {
                    rep.body.push((line, content.to_string()));
                }
                continue;
            }
            if content.starts_with('+') {
                let (ts, rest) = self.time(line, content, self.last_ts)?;
                let ev = event(line, ts, rest, self.token)?;
                self.add(line, ev)?;
            } else if let Some(rest) = content.strip_prefix("repeat ") {
                self.start_repeat(line, rest)?;
            } else if let Some((key, value)) = content.split_once(':') {
                self.header(line, key.trim(), value.trim())?;
            } else {
                return err(
                    line,
                    format!("expected an event (+time cpuN kind ...) or a `key: value` header, got {content:?}"),
                );
            }
        }
        if let Some(rep) = &self.repeat {
            return err(rep.line, "repeat block without `end`");
        }
        let generation = self.generation.unwrap_or(KernelGeneration::NewPath);
        let max_cpu = self.events.iter().map(|e| e.cpu).max().unwrap_or(0);
        let cpu_count = self.cpus.unwrap_or(max_cpu + 1);
        let mut session = SessionInfo::synthetic("ppc64le", cpu_count, generation);
        session.suspend_me_token = self.token;
        if let Some(r) = &self.release {
            session.kernel_release = r.clone();
        }
        session.hotplug_states = self.states.clone();
        if let Some(online) = &self.online {
            let all = format!("0-{}", cpu_count.saturating_sub(1));
            session.cpu_masks = Some(crate::events::session::CpuMasks {
                online: online.clone(),
                present: all.clone(),
                possible: all,
                smt: None,
            });
        }
        session.coverage = PROBE_NAMES
            .iter()
            .map(|&p| ProbeCoverage {
                probe: p.to_string(),
                status: if self.missing.iter().any(|m| m == p) {
                    CoverageStatus::Missing {
                        reasons: vec!["scenario: probe marked missing".into()],
                    }
                } else {
                    CoverageStatus::Attached {
                        candidate: "scenario".into(),
                        hooks: Vec::new(),
                        partial: Vec::new(),
                    }
                },
            })
            .collect();
        Ok(Scenario {
            title: self.title,
            session,
            thresholds: self.thresholds,
            events: self.events,
            expects: self.expects,
            expect_none: self.expect_none,
            outcomes: self.outcomes,
            watermark_ns: self.watermark,
        })
    }

    fn add(&mut self, line: usize, ev: Event) -> Result<(), ScenarioError> {
        if ev.ts_ns < self.last_ts {
            return err(line, "time goes backwards (events must be in time order)");
        }
        if self.events.len() >= MAX_EVENTS {
            return err(line, format!("more than {MAX_EVENTS} events"));
        }
        self.last_ts = ev.ts_ns;
        self.events.push(ev);
        Ok(())
    }

    /// `+T` (since the scenario start) or `++T` (since the previous event).
    fn time<'a>(&self, line: usize, content: &'a str, prev: u64) -> Result<(u64, &'a str), ScenarioError> {
        let (tok, rest) = content.split_once(char::is_whitespace).unwrap_or((content, ""));
        // Found by fuzzing: `from µs+0` sliced inside a multi-byte char.
        let (base, t) = if let Some(t) = tok.strip_prefix("++") {
            (prev, Some(t))
        } else {
            (BASE_TS_NS, tok.strip_prefix('+'))
        };
        let d = t.and_then(duration).ok_or_else(|| ScenarioError::Line {
            path: String::new(),
            line,
            msg: format!("bad time {tok:?} (try +1.5, +20ms, ++10us)"),
        })?;
        let ts = base.checked_add(d).ok_or_else(|| ScenarioError::Line {
            path: String::new(),
            line,
            msg: "time overflows".into(),
        })?;
        Ok((ts, rest.trim()))
    }

    fn start_repeat(&mut self, line: usize, rest: &str) -> Result<(), ScenarioError> {
        // repeat N every DUR [from +T]
        let words: Vec<&str> = rest.split_whitespace().collect();
        let (count, every) = match words.as_slice() {
            [n, "every", d, ..] => (n.parse::<u64>().ok(), duration(d)),
            _ => (None, None),
        };
        let (Some(count), Some(every)) = (count, every) else {
            return err(line, "expected `repeat N every DURATION [from +TIME]`");
        };
        let start = match words.get(3..) {
            Some(["from", t]) => self.time(line, t, self.last_ts)?.0,
            Some([]) | None => self.last_ts.max(BASE_TS_NS),
            _ => return err(line, "expected `repeat N every DURATION [from +TIME]`"),
        };
        if count > MAX_EVENTS as u64 {
            return err(line, format!("repeat count above {MAX_EVENTS}"));
        }
        self.repeat = Some(Repeat {
            count,
            every,
            start,
            line,
            body: Vec::new(),
        });
        Ok(())
    }

    fn expand(&mut self, rep: Repeat) -> Result<(), ScenarioError> {
        let mut parsed = Vec::with_capacity(rep.body.len());
        for (line, text) in &rep.body {
            if !text.starts_with('+') || text.starts_with("++") {
                return err(
                    *line,
                    "inside repeat, lines are `+OFFSET cpuN kind ...` (offset within one round)",
                );
            }
            let (off, rest) = self.time(*line, text, 0)?;
            let ev = event(*line, off - BASE_TS_NS, rest, self.token)?;
            parsed.push((*line, ev));
        }
        if (parsed.len() as u64).saturating_mul(rep.count) > MAX_EVENTS as u64 {
            return err(rep.line, format!("repeat expands to more than {MAX_EVENTS} events"));
        }
        for k in 0..rep.count {
            let round = rep.start.checked_add(k.saturating_mul(rep.every));
            for (line, ev) in &parsed {
                let ts = round.and_then(|r| r.checked_add(ev.ts_ns));
                let Some(ts) = ts else {
                    return err(*line, "time overflows");
                };
                self.add(*line, Event { ts_ns: ts, ..*ev })?;
            }
        }
        Ok(())
    }

    fn header(&mut self, line: usize, key: &str, value: &str) -> Result<(), ScenarioError> {
        match key {
            "title" => self.title = Some(value.to_string()),
            "kernel" => {
                self.generation = Some(match value {
                    "old-path" | "old" => KernelGeneration::OldPath,
                    "new-path" | "new" => KernelGeneration::NewPath,
                    "unknown" | "pseries-unknown" => KernelGeneration::PseriesUnknown,
                    "not-pseries" => KernelGeneration::NotPseries,
                    _ => {
                        return err(
                            line,
                            format!("kernel: {value:?} (old-path, new-path, unknown, not-pseries)"),
                        )
                    }
                })
            }
            "cpus" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_CPU + 1).contains(&n) => self.cpus = Some(n),
                _ => return err(line, format!("cpus: {value:?} (1..={})", MAX_CPU + 1)),
            },
            "missing" => {
                for p in value.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
                    if !PROBE_NAMES.contains(&p) {
                        return err(
                            line,
                            format!("missing: unknown probe {p:?} (known: {})", PROBE_NAMES.join(", ")),
                        );
                    }
                    self.missing.push(p.to_string());
                }
            }
            "release" => self.release = Some(value.to_string()),
            "states" => {
                for kv in value.split_whitespace() {
                    match kv.split_once('=').map(|(i, n)| (i.parse::<i32>(), n)) {
                        Some((Ok(idx), name)) if !name.is_empty() => {
                            self.states.push(crate::events::session::HotplugState {
                                idx,
                                name: name.to_string(),
                            })
                        }
                        _ => return err(line, format!("states: expected INDEX=NAME, got {kv:?}")),
                    }
                }
            }
            "online" => {
                if crate::events::session::parse_cpu_list(value).is_empty() {
                    return err(line, format!("online: {value:?} is not a CPU list (0-3,6)"));
                }
                self.online = Some(value.to_string());
            }
            "token" => match int(value).and_then(|v| u32::try_from(v).ok()) {
                Some(t) => self.token = Some(t),
                None => return err(line, format!("token: {value:?} is not a 32-bit number")),
            },
            "threshold" => {
                for kv in value.split_whitespace() {
                    let Some((k, v)) = kv.split_once('=') else {
                        return err(line, format!("threshold: expected name=value, got {kv:?}"));
                    };
                    let th = &mut self.thresholds;
                    match k {
                        "join-stall" => th.join_stall_ns = dur_or(line, v)?,
                        "vasi-wait" => th.vasi_wait_ns = dur_or(line, v)?,
                        "blackout" => th.blackout_ns = dur_or(line, v)?,
                        "settle" => th.settle_ns = dur_or(line, v)?,
                        "premature-storm" => match v.parse() {
                            Ok(n) => th.premature_storm = n,
                            Err(_) => return err(line, format!("premature-storm={v:?} is not a count")),
                        },
                        _ => {
                            return err(
                                line,
                                format!(
                                "unknown threshold {k:?} (join-stall, vasi-wait, blackout, settle, premature-storm)"
                            ),
                            )
                        }
                    }
                }
            }
            "expect" => self.expect(line, value)?,
            "watermark" => {
                if !value.starts_with('+') || value.starts_with("++") {
                    return err(line, "watermark: +TIME (since the scenario start)");
                }
                self.watermark = Some(self.time(line, value, 0)?.0);
            }
            "expect-outcome" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                let (Some(id), Some(outcome)) = (
                    words.first().and_then(|w| w.parse().ok()),
                    words.get(1).and_then(|w| outcome(w)),
                ) else {
                    return err(line, "expect-outcome: MIGRATION-ID OUTCOME [attempts=N]");
                };
                let mut attempts = None;
                for w in &words[2..] {
                    match w.strip_prefix("attempts=").and_then(|n| n.parse().ok()) {
                        Some(n) => attempts = Some(n),
                        None => return err(line, format!("expect-outcome: unexpected {w:?}")),
                    }
                }
                self.outcomes.push(ExpectOutcome {
                    migration: id,
                    outcome,
                    attempts,
                    line,
                });
            }
            _ => return err(line, format!("unknown header {key:?}")),
        }
        Ok(())
    }

    fn expect(&mut self, line: usize, value: &str) -> Result<(), ScenarioError> {
        let mut words = value.split_whitespace();
        let Some(kind) = words.next() else {
            return err(line, "expect: needs a finding kind or `none`");
        };
        if kind == "none" {
            self.expect_none = true;
            return Ok(());
        }
        let Some(kind) = FindingKind::from_id(kind) else {
            let ids: Vec<&str> = FindingKind::ALL.iter().map(|k| k.id()).collect();
            return err(
                line,
                format!("expect: unknown finding kind {kind:?} (known: {})", ids.join(", ")),
            );
        };
        let mut e = Expect {
            kind,
            variant: None,
            severity: None,
            cpus: None,
            inconclusive: None,
            migration: None,
            line,
        };
        for w in words {
            match w.split_once('=') {
                None if w == "inconclusive" => e.inconclusive = Some(true),
                None if w == "conclusive" => e.inconclusive = Some(false),
                Some(("variant", v)) => e.variant = Some(v.to_string()),
                Some(("severity", v)) => match Severity::parse(v) {
                    Some(s) => e.severity = Some(s),
                    None => return err(line, format!("severity={v:?} (critical, warning, info)")),
                },
                Some(("cpus", v)) => e.cpus = Some(cpu_list(line, v)?),
                Some(("migration", v)) => match v.parse() {
                    Ok(m) => e.migration = Some(m),
                    Err(_) => return err(line, format!("migration={v:?} is not a number")),
                },
                _ => return err(line, format!("expect: unexpected {w:?}")),
            }
        }
        self.expects.push(e);
        Ok(())
    }
}

fn dur_or(line: usize, v: &str) -> Result<u64, ScenarioError> {
    duration(v).ok_or_else(|| ScenarioError::Line {
        path: String::new(),
        line,
        msg: format!("bad duration {v:?}"),
    })
}

fn outcome(w: &str) -> Option<Outcome> {
    Some(match w {
        "completed" => Outcome::Completed,
        "cancelled" => Outcome::Cancelled,
        "cancel-rejected" => Outcome::CancelRejected,
        "failed" => Outcome::Failed,
        "unterminated" => Outcome::Unterminated,
        "in-progress" => Outcome::InProgress,
        _ => return None,
    })
}

/// `1.5`, `1.5s`, `20ms`, `10us`, `300ns` → nanoseconds.
pub fn duration(t: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = t.strip_suffix("ns") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("us").or_else(|| t.strip_suffix("µs")) {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60e9)
    } else {
        (t, 1e9)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let ns = (v * mult).round();
    (ns.is_finite() && (0.0..1.8e19).contains(&ns)).then_some(ns as u64)
}

/// A number (decimal, 0x hex, negative) or a known name (errno, hcall
/// return, RTAS status, VASI state or signal).
pub fn value(text: &str) -> Option<i64> {
    if let Some(v) = int(text) {
        return Some(v);
    }
    let (neg, name) = match text.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, text),
    };
    let errno = match name {
        "EPERM" => Some(1),
        "ENOENT" => Some(2),
        "EIO" => Some(5),
        "EAGAIN" => Some(11),
        "ENOMEM" => Some(12),
        "EBUSY" => Some(16),
        "EINVAL" => Some(22),
        "EOPNOTSUPP" => Some(95),
        "ECANCELED" => Some(125),
        _ => None,
    };
    if let Some(e) = errno {
        // Errors are negative whichever way they are written.
        let _ = neg;
        return Some(-e);
    }
    if neg {
        return None;
    }
    let named = match name {
        "H_SUCCESS" => names::H_SUCCESS,
        "H_CONTINUE" => names::H_CONTINUE,
        "H_HARDWARE" => names::H_HARDWARE,
        "H_FUNCTION" => names::H_FUNCTION,
        "H_PARAMETER" => names::H_PARAMETER,
        "H_BAD_MODE" => names::H_BAD_MODE,
        "H_MULTI_THREADS_ACTIVE" => -9005,
        "H_OUTSTANDING_COP_OPS" => -9006,
        "RTAS_SUSPEND_ABORTED" => names::RTAS_SUSPEND_ABORTED as i64,
        "RTAS_NOT_SUSPENDABLE" => names::RTAS_NOT_SUSPENDABLE as i64,
        "RTAS_THREADS_ACTIVE" => names::RTAS_THREADS_ACTIVE as i64,
        "RTAS_OUTSTANDING_COPROC" => names::RTAS_OUTSTANDING_COPROC as i64,
        "INVALID" => 0,
        "ENABLED" => 1,
        "ABORTED" => 2,
        "SUSPENDING" => 3,
        "SUSPENDED" => 4,
        "RESUMED" => 5,
        "COMPLETED" => 6,
        "CANCEL" => 1,
        _ => return None,
    };
    Some(named)
}

fn int(text: &str) -> Option<i64> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()? as i64,
        None => t.parse::<u64>().ok()? as i64,
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

fn cpu_list(line: usize, text: &str) -> Result<Vec<u32>, ScenarioError> {
    let mut out = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (
            a.trim_start_matches("cpu").parse::<u32>(),
            b.trim_start_matches("cpu").parse::<u32>(),
        ) else {
            return err(line, format!("bad CPU list {text:?} (try 1,3-5)"));
        };
        if a > b || b > MAX_CPU {
            return err(line, format!("bad CPU range {part:?}"));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

struct Args<'a> {
    line: usize,
    positional: Vec<&'a str>,
    named: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    fn new(line: usize, words: &[&'a str]) -> Self {
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for w in words {
            match w.split_once('=') {
                Some((k, v)) => named.push((k, v)),
                None => positional.push(*w),
            }
        }
        Args {
            line,
            positional,
            named,
        }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.named.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn num(&self, key: &str) -> Result<Option<i64>, ScenarioError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match value(v) {
                Some(n) => Ok(Some(n)),
                None => err(self.line, format!("{key}={v:?} is not a number or known name")),
            },
        }
    }

    fn need(&self, key: &str) -> Result<i64, ScenarioError> {
        match self.num(key)? {
            Some(v) => Ok(v),
            None => err(self.line, format!("missing {key}=")),
        }
    }

    fn cpu(&self, key: &str) -> Result<u32, ScenarioError> {
        let v = self.need(key)?;
        match u32::try_from(v) {
            Ok(c) if c <= MAX_CPU => Ok(c),
            _ => err(self.line, format!("{key}={v} is not a CPU number")),
        }
    }

    fn i32(&self, key: &str, default: i32) -> Result<i32, ScenarioError> {
        match self.num(key)? {
            None => Ok(default),
            Some(v) => i32::try_from(v).or_else(|_| err(self.line, format!("{key}={v} out of range"))),
        }
    }

    fn pos(&self, i: usize) -> Option<&'a str> {
        self.positional.get(i).copied()
    }
}

fn hcall_opcode(line: usize, name: Option<&str>) -> Result<u32, ScenarioError> {
    let Some(name) = name else {
        return err(
            line,
            "hcall needs an opcode (H_JOIN, H_PROD, H_VASI_STATE, H_VASI_SIGNAL or a number)",
        );
    };
    Ok(match name {
        "H_JOIN" => names::H_JOIN,
        "H_PROD" => names::H_PROD,
        "H_VASI_STATE" => names::H_VASI_STATE,
        "H_VASI_SIGNAL" => names::H_VASI_SIGNAL,
        "H_CEDE" => names::H_CEDE,
        "H_CONFER" => names::H_CONFER,
        other => match int(other).and_then(|v| u32::try_from(v).ok()) {
            Some(v) => v,
            None => return err(line, format!("unknown hcall {other:?}")),
        },
    })
}

fn trigger_source(line: usize, w: Option<&str>) -> Result<TriggerSource, ScenarioError> {
    Ok(match w {
        Some("sysfs") | None => TriggerSource::Sysfs,
        Some("dispatch") | Some("syscall-dispatch") => TriggerSource::SyscallDispatch,
        Some("sys-rtas") => TriggerSource::SysRtas,
        Some(o) => return err(line, format!("trigger source {o:?} (sysfs, dispatch, sys-rtas)")),
    })
}

fn join_path(line: usize, w: Option<&str>) -> Result<JoinPath, ScenarioError> {
    Ok(match w {
        Some("do-join") | None => JoinPath::DoJoin,
        Some("percpu") | Some("percpu-suspend-me") => JoinPath::PercpuSuspendMe,
        Some(o) => return err(line, format!("join path {o:?} (do-join, percpu)")),
    })
}

fn cpumask_op(line: usize, w: Option<&str>) -> Result<CpumaskOp, ScenarioError> {
    Ok(match w {
        Some("online") => CpumaskOp::Online,
        Some("offline") => CpumaskOp::Offline,
        o => return err(line, format!("cpumask op {o:?} (online, offline)")),
    })
}

/// Parses `cpuN [tid=T] kind args...` into an event at `ts`.
fn event(line: usize, ts: u64, rest: &str, token: Option<u32>) -> Result<Event, ScenarioError> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let Some(cpu_word) = words.first() else {
        return err(line, "missing cpuN after the time");
    };
    let cpu = match cpu_word.strip_prefix("cpu").and_then(|c| c.parse::<u32>().ok()) {
        Some(c) if c <= MAX_CPU => c,
        _ => return err(line, format!("expected cpuN, got {cpu_word:?}")),
    };
    let mut idx = 1;
    let mut tid = DEFAULT_TID;
    if let Some(t) = words.get(1).and_then(|w| w.strip_prefix("tid=")) {
        tid = match t.parse() {
            Ok(t) => t,
            Err(_) => return err(line, format!("tid={t:?} is not a number")),
        };
        idx = 2;
    }
    let Some(kind_word) = words.get(idx) else {
        return err(line, "missing event kind");
    };
    let a = Args::new(line, &words[idx + 1..]);
    let token = a.num("token")?.map(|t| t as u32).or(token).unwrap_or(0);
    let kind = match *kind_word {
        "trigger" => EventKind::TriggerEnter {
            source: trigger_source(line, a.pos(0))?,
            stream_id: a.num("stream")?.map(|v| v as u64),
            comm: Comm::from_text(a.get("comm").unwrap_or("drmgr")),
        },
        "trigger-exit" => EventKind::TriggerExit {
            source: trigger_source(line, a.pos(0))?,
            ret: a.need("ret")?,
        },
        "migrate" => EventKind::MigrateEnter {
            handle: a.need("handle")? as u64,
        },
        "migrate-exit" => EventKind::MigrateExit { ret: a.need("ret")? },
        "suspend" => EventKind::SuspendEnter {
            arg0: a.num("arg")?.unwrap_or(0xc000_0000_0bad_c0de_u64 as i64) as u64,
        },
        "suspend-exit" => EventKind::SuspendExit { ret: a.need("ret")? },
        "join" => EventKind::JoinEnter {
            path: join_path(line, a.pos(0))?,
        },
        "join-exit" => EventKind::JoinExit {
            path: join_path(line, a.pos(0))?,
            ret: a.i32("ret", 0)?,
        },
        "hcall" => {
            let opcode = hcall_opcode(line, a.pos(0))?;
            let mut args = [0u64; 3];
            if let Some(h) = a.num("handle")? {
                args[0] = h as u64;
            }
            if let Some(s) = a.num("signal")? {
                args[1] = s as u64;
            }
            if let Some(r) = a.num("reason")? {
                args[2] = r as u64;
            }
            if let Some(t) = a.num("target")? {
                args[0] = t as u64;
            }
            EventKind::HcallEnter { opcode, args }
        }
        "hcall-exit" => EventKind::HcallExit {
            opcode: hcall_opcode(line, a.pos(0))?,
            retval: a.num("ret")?.unwrap_or(0),
            retbuf0: a.num("state")?.or(a.num("retbuf0")?).map(|v| v as u64),
        },
        "rtas" => EventKind::RtasEnter { token },
        "rtas-exit" => EventKind::RtasExit {
            token,
            status: a.i32("status", 0)?,
        },
        "cpumask" => EventKind::CpumaskEnter {
            op: cpumask_op(line, a.pos(0))?,
        },
        "cpumask-exit" => EventKind::CpumaskExit {
            op: cpumask_op(line, a.pos(0))?,
            ret: a.i32("ret", 0)?,
        },
        "hotplug" => EventKind::HotplugEnter {
            target_cpu: a.cpu("cpu")?,
            target: a.i32("target", 0)?,
            idx: a.i32("idx", 0)?,
            multi: false,
            fun: 0,
        },
        "hotplug-exit" => EventKind::HotplugExit {
            target_cpu: a.cpu("cpu")?,
            state: a.i32("state", 0)?,
            idx: a.i32("idx", 0)?,
            ret: a.i32("ret", 0)?,
        },
        "cpu-down" => EventKind::CpuDownEnter {
            target_cpu: if a.get("cpu").is_some() {
                Some(a.cpu("cpu")?)
            } else {
                None
            },
            via: CpuDownVia::CpuDeviceDown,
            comm: Comm::from_text(a.get("comm").unwrap_or("ppc64_cpu")),
        },
        "cpu-down-exit" => EventKind::CpuDownExit {
            via: CpuDownVia::CpuDeviceDown,
            ret: a.i32("ret", 0)?,
        },
        "offline" => EventKind::CpuOnline {
            target_cpu: a.cpu("cpu")?,
            online: false,
            via: OnlineVia::SetCpuOnline,
        },
        "online" => EventKind::CpuOnline {
            target_cpu: a.cpu("cpu")?,
            online: true,
            via: OnlineVia::SetCpuOnline,
        },
        "ipi-send" => EventKind::IpiSend {
            target_cpu: a.cpu("target")?,
            callback: 0,
            via: IpiSendVia::Tracepoint,
        },
        "ipi-send-mask" => {
            let Some(list) = a.get("cpus") else {
                return err(line, "ipi-send-mask needs cpus=LIST");
            };
            let mut mask = CpuMask::default();
            for c in cpu_list(line, list)? {
                if c >= 256 {
                    return err(line, "ipi-send-mask: CPUs above 255 do not fit the mask");
                }
                mask.0[(c / 64) as usize] |= 1 << (c % 64);
            }
            EventKind::IpiSendMask {
                mask,
                callback: 0,
                via: IpiSendVia::CallFunctionMany,
            }
        }
        "ipi-handle" => EventKind::IpiHandleEnter {
            func: 0,
            via: IpiHandleVia::CsdFunction,
        },
        "ipi-handle-exit" => EventKind::IpiHandleExit {
            func: 0,
            via: IpiHandleVia::CsdFunction,
        },
        "lost" => {
            let count = a.need("count")?;
            let first = match a.get("first") {
                Some(t) => BASE_TS_NS.saturating_add(duration(t.trim_start_matches('+')).ok_or_else(|| {
                    ScenarioError::Line {
                        path: String::new(),
                        line,
                        msg: format!("first={t:?} is not a time"),
                    }
                })?),
                None => ts,
            };
            let last = match a.get("last") {
                Some(t) => BASE_TS_NS.saturating_add(duration(t.trim_start_matches('+')).ok_or_else(|| {
                    ScenarioError::Line {
                        path: String::new(),
                        line,
                        msg: format!("last={t:?} is not a time"),
                    }
                })?),
                None => ts,
            };
            EventKind::Lost {
                count: count.max(0) as u64,
                first_ts_ns: first.min(ts),
                last_ts_ns: last.min(ts),
            }
        }
        other => return err(line, format!("unknown event kind {other:?}")),
    };
    Ok(Event {
        ts_ns: ts,
        cpu,
        tid,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_events_and_expectations() {
        let s = parse(
            "title: t\nkernel: old-path\ncpus: 4\nmissing: lpm.migrate\nexpect: offline-race variant=aborted-ebusy cpus=3 severity=critical\nexpect-outcome: 1 unterminated attempts=1\n\
             +0 cpu0 tid=7 trigger sysfs stream=0x1\n++10ms cpu1 hcall-exit H_JOIN ret=H_CONTINUE\n",
        )
        .unwrap();
        assert_eq!(s.session.generation, KernelGeneration::OldPath);
        assert_eq!(s.session.cpu_count, 4);
        assert!(!s.session.probe_coverage("lpm.migrate").unwrap().attached());
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].tid, 7);
        assert_eq!(s.events[1].ts_ns, BASE_TS_NS + 10_000_000);
        assert_eq!(
            s.events[1].kind,
            EventKind::HcallExit {
                opcode: names::H_JOIN,
                retval: 18,
                retbuf0: None
            }
        );
        assert_eq!(s.expects[0].cpus, Some(vec![3]));
        assert_eq!(s.outcomes[0].outcome, Outcome::Unterminated);
    }

    #[test]
    fn repeat_blocks_expand() {
        let s = parse("repeat 3 every 1ms from +1\n+0 cpu0 ipi-send target=1\n+10us cpu1 ipi-handle\nend\n").unwrap();
        assert_eq!(s.events.len(), 6);
        assert_eq!(s.events[2].ts_ns, BASE_TS_NS + 1_001_000_000);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("kernel: new\n+0 cpu0 bogus\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(parse("+1 cpu0 ipi-handle\n+0 cpu0 ipi-handle\n")
            .unwrap_err()
            .to_string()
            .contains("backwards"));
        assert!(parse("repeat 2 every 1s\n+0 cpu0 ipi-handle\n")
            .unwrap_err()
            .to_string()
            .contains("without `end`"));
        assert!(parse("expect: nonsense\n").is_err());
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for text in [
            "+",
            "++",
            "+1e400 cpu0 ipi-handle",
            "+-1 cpu0 ipi-handle",
            "+99999999999999999999 cpu0 ipi-handle",
            "+0 cpu99999999999 ipi-handle",
            "+0 cpu0 tid=x trigger",
            "+0 cpu0 ipi-send-mask cpus=5-1",
            "+0 cpu0 ipi-send-mask cpus=0-4095",
            "repeat 99999999999 every 1s\n+0 cpu0 ipi-handle\nend",
            "repeat 3 every 1s\n++0 cpu0 ipi-handle\nend",
            "+0 cpu0 hotplug cpu=-1",
            "+0 cpu0 lost count=5 first=+zz",
            "+0 cpu0 rtas-exit status=99999999999",
            "cpus: 0",
            ":",
            "+0 cpu0 hcall-exit",
            "+0 cpu0 hcall 0xffffffffffff",
        ] {
            let _ = parse(text);
        }
    }

    #[test]
    fn values_and_durations() {
        assert_eq!(value("-EAGAIN"), Some(-11));
        assert_eq!(value("EBUSY"), Some(-16));
        assert_eq!(value("0x10"), Some(16));
        assert_eq!(value("-9005"), Some(-9005));
        assert_eq!(value("SUSPENDING"), Some(3));
        assert_eq!(value("nope"), None);
        assert_eq!(duration("1.5"), Some(1_500_000_000));
        assert_eq!(duration("20ms"), Some(20_000_000));
        assert_eq!(duration("-1"), None);
        assert_eq!(duration("1e9"), None);
    }
}
