//! Probes: the catalogue (data), the kernel's facts, the pure resolution of
//! catalogue × facts into a plan, and attaching the plan with aya.
//!
//! Resolution is pure so it can be tested against descriptions of kernels
//! we cannot run here; attaching falls back candidate by candidate when a
//! program fails to load or attach, and the outcome of every logical probe
//! is the coverage manifest ([`crate::events::session::ProbeCoverage`]).

pub mod attach;
pub mod catalogue;
pub mod facts;
pub mod privileges;

use catalogue::{Candidate, Hook, HookSpec, ProbeSpec, Scope, PROBES};
use facts::KernelFacts;

/// Whether one hook can be tried on this kernel, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// The tracepoint or symbol exists.
    Available,
    /// It does not; the reason names what is missing.
    Missing(String),
}

/// One hook of a candidate with its availability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookPlan {
    /// The hook and its program.
    pub spec: HookSpec,
    /// Can it be tried?
    pub availability: Availability,
}

/// A candidate with the availability of each hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidatePlan {
    /// The catalogue candidate.
    pub candidate: &'static Candidate,
    /// Its hooks.
    pub hooks: Vec<HookPlan>,
}

impl CandidatePlan {
    /// All required hooks are available and at least one hook is.
    pub fn viable(&self) -> bool {
        let required_ok = self
            .hooks
            .iter()
            .all(|h| !h.spec.required || h.availability == Availability::Available);
        required_ok && self.hooks.iter().any(|h| h.availability == Availability::Available)
    }

    /// Why this candidate cannot be tried (empty when viable).
    pub fn missing(&self) -> Vec<String> {
        self.hooks
            .iter()
            .filter(|h| h.spec.required || self.hooks.iter().all(|o| !o.spec.required))
            .filter_map(|h| match &h.availability {
                Availability::Missing(why) => Some(format!("{}: {why}", h.spec.hook.describe())),
                Availability::Available => None,
            })
            .collect()
    }
}

/// The plan for one logical probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePlan {
    /// The catalogue entry.
    pub spec: &'static ProbeSpec,
    /// Set when the probe does not apply to this kernel at all.
    pub not_applicable: Option<String>,
    /// Candidates in preference order.
    pub candidates: Vec<CandidatePlan>,
}

impl ProbePlan {
    /// The first candidate that can be tried.
    pub fn first_viable(&self) -> Option<&CandidatePlan> {
        self.candidates.iter().find(|c| c.viable())
    }
}

fn availability(hook: &Hook, facts: &KernelFacts) -> Availability {
    match hook {
        Hook::RawTracepoint { group, name } | Hook::Tracepoint { group, name } => {
            if facts.tracefs.is_none() {
                Availability::Missing("tracefs not available (mount -t tracefs nodev /sys/kernel/tracing)".into())
            } else if facts.has_event(group, name) {
                Availability::Available
            } else {
                Availability::Missing(format!("tracepoint {group}:{name} not in this kernel"))
            }
        }
        Hook::Kprobe { symbol, .. } | Hook::Kretprobe { symbol } => {
            if !facts.kprobes {
                Availability::Missing("kernel built without kprobes (CONFIG_KPROBES)".into())
            } else if facts.has_symbol(symbol) {
                Availability::Available
            } else {
                Availability::Missing(format!("symbol {symbol} not in kallsyms (inlined or not built)"))
            }
        }
    }
}

/// Resolves the whole catalogue against `facts` (pure).
pub fn resolve(facts: &KernelFacts) -> Vec<ProbePlan> {
    PROBES.iter().map(|spec| resolve_one(spec, facts)).collect()
}

/// Resolves one catalogue entry against `facts` (pure).
pub fn resolve_one(spec: &'static ProbeSpec, facts: &KernelFacts) -> ProbePlan {
    let not_applicable = (spec.scope == Scope::Pseries && !facts.pseries).then(|| {
        format!(
            "not a pseries partition ({}): LPM does not exist here",
            if facts.arch.is_empty() {
                "unknown arch"
            } else {
                &facts.arch
            }
        )
    });
    let candidates = spec
        .candidates
        .iter()
        .map(|candidate| CandidatePlan {
            candidate,
            hooks: candidate
                .hooks
                .iter()
                .map(|h| HookPlan {
                    spec: *h,
                    availability: availability(&h.hook, facts),
                })
                .collect(),
        })
        .collect();
    ProbePlan {
        spec,
        not_applicable,
        candidates,
    }
}
