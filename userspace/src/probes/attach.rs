//! Loads the embedded eBPF object and attaches the resolved plan.
//!
//! For each logical probe the candidates are tried in order. A candidate
//! whose required hook fails to load or attach is rolled back (its links
//! detached) and the next one is tried; the reasons end up in the coverage
//! manifest. Dropping [`AttachedProbes`] detaches and unloads everything
//! (aya owns the links), which is how every exit path leaves nothing behind.

use std::collections::BTreeSet;

use aya::{
    maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf},
    programs::{
        kprobe::KProbeLinkId, raw_trace_point::RawTracePointLinkId, trace_point::TracePointLinkId, KProbe,
        RawTracePoint, TracePoint,
    },
    Ebpf, EbpfLoader,
};
use lpmtrace_common::{
    Config, IpiTally, LostState, GLOBAL_CONFIG, MAP_EVENTS, MAP_HCALL_FILTER, MAP_IPI_TALLY, MAP_LOST,
};

use crate::events::session::{CoverageStatus, IpiDetail, ProbeCoverage};

use super::{catalogue::Hook, Availability, CandidatePlan, ProbePlan};

/// The eBPF object built by build.rs for this target's architecture.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lpmtrace"));

/// Errors that stop the session (a single probe failing is not one: it goes
/// into the coverage manifest).
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The object could not be loaded (maps could not be created, ...).
    #[error("loading the eBPF object failed: {0}")]
    Load(#[source] aya::EbpfError),
    /// A map the programs need is missing from the object.
    #[error("eBPF object has no map {0} (build mismatch?)")]
    MissingMap(&'static str),
    /// A map operation failed.
    #[error("eBPF map {map}: {source}")]
    Map {
        /// Map name.
        map: &'static str,
        /// Cause.
        #[source]
        source: aya::maps::MapError,
    },
    /// Nothing at all could be attached.
    #[error("no probe could be attached on this kernel; run `lpmtrace doctor` to see why")]
    NothingAttached,
}

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct AttachOptions {
    /// Ring-buffer size in bytes (power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// hcall opcodes to let through the kernel filter.
    pub hcall_filter: Vec<u32>,
    /// Logical probes to leave out.
    pub disabled: BTreeSet<String>,
    /// Fill level at which hot records wake the reader.
    pub wakeup_bytes: u64,
    /// Which IPIs are recorded one by one.
    pub ipi_detail: IpiDetail,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            ring_bytes: 8 << 20,
            hcall_filter: crate::events::names::DEFAULT_HCALL_FILTER.to_vec(),
            disabled: BTreeSet::new(),
            wakeup_bytes: 1 << 20,
            ipi_detail: IpiDetail::Window,
        }
    }
}

enum Link {
    RawTp(&'static str, RawTracePointLinkId),
    Tp(&'static str, TracePointLinkId),
    Kprobe(&'static str, KProbeLinkId),
}

/// A loaded object with its attached programs.
pub struct AttachedProbes {
    ebpf: Ebpf,
    /// Coverage manifest, one entry per catalogue probe.
    pub coverage: Vec<ProbeCoverage>,
    /// Whether timestamps use the boot clock.
    pub boot_clock: bool,
}

impl AttachedProbes {
    /// Takes the ring buffer of events (call once).
    pub fn take_ring(&mut self) -> Result<RingBuf<MapData>, AttachError> {
        let map = self
            .ebpf
            .take_map(MAP_EVENTS)
            .ok_or(AttachError::MissingMap(MAP_EVENTS))?;
        RingBuf::try_from(map).map_err(|source| AttachError::Map {
            map: MAP_EVENTS,
            source,
        })
    }

    /// Takes the per-CPU loss counters (call once).
    pub fn take_lost(&mut self) -> Result<PerCpuArray<MapData, LostState>, AttachError> {
        let map = self.ebpf.take_map(MAP_LOST).ok_or(AttachError::MissingMap(MAP_LOST))?;
        PerCpuArray::try_from(map).map_err(|source| AttachError::Map { map: MAP_LOST, source })
    }

    /// Takes the per-CPU IPI tally (call once).
    pub fn take_ipi_tally(&mut self) -> Result<PerCpuArray<MapData, IpiTally>, AttachError> {
        let map = self
            .ebpf
            .take_map(MAP_IPI_TALLY)
            .ok_or(AttachError::MissingMap(MAP_IPI_TALLY))?;
        PerCpuArray::try_from(map).map_err(|source| AttachError::Map {
            map: MAP_IPI_TALLY,
            source,
        })
    }

    /// The underlying object (for aya-log).
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }
}

/// Loads the object and attaches `plans`.
///
/// `boot_clock`: the kernel has `bpf_ktime_get_boot_ns` (5.8+; see
/// [`super::facts::KernelFacts::has_boot_clock`]), else timestamps use the
/// monotonic clock.
pub fn attach(
    plans: &[ProbePlan],
    options: &AttachOptions,
    suspend_me_token: Option<u32>,
    boot_clock: bool,
) -> Result<AttachedProbes, AttachError> {
    let config = Config {
        boot_clock: boot_clock as u8,
        ipis_windowed: (options.ipi_detail == IpiDetail::Window) as u8,
        _pad: [0; 2],
        suspend_me_token: suspend_me_token.unwrap_or(0),
        wakeup_bytes: options.wakeup_bytes,
    };
    raise_memlock_limit();
    let mut ebpf = EbpfLoader::new()
        .override_global(GLOBAL_CONFIG, &config, true)
        .map_max_entries(MAP_EVENTS, options.ring_bytes)
        .load(EBPF_OBJECT)
        .map_err(AttachError::Load)?;

    {
        let map = ebpf
            .map_mut(MAP_HCALL_FILTER)
            .ok_or(AttachError::MissingMap(MAP_HCALL_FILTER))?;
        let mut filter: BpfHashMap<&mut MapData, u32, u8> =
            BpfHashMap::try_from(map).map_err(|source| AttachError::Map {
                map: MAP_HCALL_FILTER,
                source,
            })?;
        for &op in &options.hcall_filter {
            filter.insert(op, 1, 0).map_err(|source| AttachError::Map {
                map: MAP_HCALL_FILTER,
                source,
            })?;
        }
    }

    let mut loaded: BTreeSet<&'static str> = BTreeSet::new();
    let mut coverage = Vec::with_capacity(plans.len());
    for plan in plans {
        let name = plan.spec.name.to_string();
        let status = if options.disabled.contains(plan.spec.name) {
            CoverageStatus::Disabled
        } else if let Some(reason) = &plan.not_applicable {
            CoverageStatus::NotApplicable { reason: reason.clone() }
        } else {
            attach_probe(&mut ebpf, &mut loaded, plan)
        };
        coverage.push(ProbeCoverage { probe: name, status });
    }
    if !coverage.iter().any(ProbeCoverage::attached) {
        return Err(AttachError::NothingAttached);
    }
    Ok(AttachedProbes {
        ebpf,
        coverage,
        boot_clock,
    })
}

fn attach_probe(ebpf: &mut Ebpf, loaded: &mut BTreeSet<&'static str>, plan: &ProbePlan) -> CoverageStatus {
    let mut reasons = Vec::new();
    for cand in &plan.candidates {
        if !cand.viable() {
            reasons.extend(
                cand.missing()
                    .into_iter()
                    .map(|m| format!("{}: {m}", cand.candidate.label)),
            );
            continue;
        }
        match attach_candidate(ebpf, loaded, cand) {
            Ok((hooks, partial)) => {
                return CoverageStatus::Attached {
                    candidate: cand.candidate.label.to_string(),
                    hooks,
                    partial,
                };
            }
            Err(why) => reasons.push(format!("{}: {why}", cand.candidate.label)),
        }
    }
    CoverageStatus::Missing { reasons }
}

/// Attaches every available hook of `cand`; on a required failure detaches
/// what it attached and returns the reason.
fn attach_candidate(
    ebpf: &mut Ebpf,
    loaded: &mut BTreeSet<&'static str>,
    cand: &CandidatePlan,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut links = Vec::new();
    let mut attached = Vec::new();
    let mut partial = Vec::new();
    for hp in &cand.hooks {
        let what = hp.spec.hook.describe();
        if let Availability::Missing(why) = &hp.availability {
            partial.push(format!("{what}: {why}"));
            continue;
        }
        match attach_hook(ebpf, loaded, hp.spec.program, &hp.spec.hook) {
            Ok(link) => {
                links.push(link);
                attached.push(what);
            }
            Err(why) if hp.spec.required => {
                detach_all(ebpf, links);
                return Err(format!("{what}: {why}"));
            }
            Err(why) => partial.push(format!("{what}: {why}")),
        }
    }
    if attached.is_empty() {
        return Err(format!("no hook attached ({})", partial.join("; ")));
    }
    // The links stay owned by their programs inside `ebpf`.
    Ok((attached, partial))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn attach_hook(
    ebpf: &mut Ebpf,
    loaded: &mut BTreeSet<&'static str>,
    program: &'static str,
    hook: &Hook,
) -> Result<Link, String> {
    let prog = ebpf
        .program_mut(program)
        .ok_or_else(|| format!("program {program} not in the eBPF object"))?;
    let first = !loaded.contains(program);
    let link = match *hook {
        Hook::RawTracepoint { name, .. } => {
            let p: &mut RawTracePoint = prog.try_into().map_err(|e| error_chain(&e))?;
            if first {
                p.load().map_err(|e| format!("load {program}: {}", error_chain(&e)))?;
            }
            Link::RawTp(program, p.attach(name).map_err(|e| error_chain(&e))?)
        }
        Hook::Tracepoint { group, name } => {
            let p: &mut TracePoint = prog.try_into().map_err(|e| error_chain(&e))?;
            if first {
                p.load().map_err(|e| format!("load {program}: {}", error_chain(&e)))?;
            }
            Link::Tp(program, p.attach(group, name).map_err(|e| error_chain(&e))?)
        }
        Hook::Kprobe { symbol, offset } => {
            let p: &mut KProbe = prog.try_into().map_err(|e| error_chain(&e))?;
            if first {
                p.load().map_err(|e| format!("load {program}: {}", error_chain(&e)))?;
            }
            Link::Kprobe(program, p.attach(symbol, offset).map_err(|e| error_chain(&e))?)
        }
        Hook::Kretprobe { symbol } => {
            let p: &mut KProbe = prog.try_into().map_err(|e| error_chain(&e))?;
            if first {
                p.load().map_err(|e| format!("load {program}: {}", error_chain(&e)))?;
            }
            Link::Kprobe(program, p.attach(symbol, 0).map_err(|e| error_chain(&e))?)
        }
    };
    loaded.insert(program);
    Ok(link)
}

fn detach_all(ebpf: &mut Ebpf, links: Vec<Link>) {
    for link in links {
        // Detach failures here only mean the link is already gone.
        match link {
            Link::RawTp(prog, id) => {
                if let Some(p) = ebpf
                    .program_mut(prog)
                    .and_then(|p| <&mut RawTracePoint>::try_from(p).ok())
                {
                    let _ = p.detach(id);
                }
            }
            Link::Tp(prog, id) => {
                if let Some(p) = ebpf.program_mut(prog).and_then(|p| <&mut TracePoint>::try_from(p).ok()) {
                    let _ = p.detach(id);
                }
            }
            Link::Kprobe(prog, id) => {
                if let Some(p) = ebpf.program_mut(prog).and_then(|p| <&mut KProbe>::try_from(p).ok()) {
                    let _ = p.detach(id);
                }
            }
        }
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK (64 KiB by
/// default: loads fail with EPERM); newer ones use memcg and ignore it.
fn raise_memlock_limit() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; failure is harmless here.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };
    if rc != 0 {
        log::debug!("could not raise RLIMIT_MEMLOCK: {}", std::io::Error::last_os_error());
    }
}
