//! `lpmtrace doctor`: what this kernel offers and how each logical probe
//! attaches (or why not). It really loads and attaches the probes (then
//! detaches them) when it has the privileges, so "not permitted" and
//! verifier refusals show up here and not in the middle of an incident.

use std::io::{self, Write};

use clap::Args;
use serde_json::json;

use crate::events::session::{CoverageStatus, KernelGeneration, ProbeCoverage};
use crate::probes::{
    self,
    attach::AttachOptions,
    catalogue::{Scope, PROBES},
    facts::KernelFacts,
    Availability, ProbePlan,
};

/// Arguments of `lpmtrace doctor`.
#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(short, long)]
    pub json: bool,
    /// Only resolve against the kernel's facts; do not load or attach.
    #[arg(long)]
    pub no_attach: bool,
    /// Print the probe catalogue as Markdown (docs/probes.md) and exit.
    #[arg(long, hide = true)]
    pub catalogue_markdown: bool,
}

/// Coverage predicted from facts alone (no loading).
fn predicted(plan: &ProbePlan) -> CoverageStatus {
    if let Some(reason) = &plan.not_applicable {
        return CoverageStatus::NotApplicable { reason: reason.clone() };
    }
    match plan.first_viable() {
        Some(c) => CoverageStatus::Attached {
            candidate: c.candidate.label.to_string(),
            hooks: c
                .hooks
                .iter()
                .filter(|h| h.availability == Availability::Available)
                .map(|h| h.spec.hook.describe())
                .collect(),
            partial: Vec::new(),
        },
        None => CoverageStatus::Missing {
            reasons: plan
                .candidates
                .iter()
                .flat_map(|c| {
                    c.missing()
                        .into_iter()
                        .map(move |m| format!("{}: {m}", c.candidate.label))
                })
                .collect(),
        },
    }
}

fn generation_text(g: KernelGeneration) -> &'static str {
    match g {
        KernelGeneration::OldPath => "old LPM path (<= 5.10 shape: rtas_percpu_suspend_me, no cancel)",
        KernelGeneration::NewPath => {
            "new LPM path (>= 5.11 shape: pseries_migrate_partition, do_join, cancel on error)"
        }
        KernelGeneration::PseriesUnknown => {
            "pseries, but no LPM function found in kallsyms (inlined?): hcall/RTAS probes only"
        }
        KernelGeneration::NotPseries => {
            "not a pseries partition: LPM probes do not apply; CPU hotplug and IPI probes only"
        }
    }
}

/// Runs `doctor`.
pub fn run(args: &DoctorArgs) -> anyhow::Result<()> {
    if args.catalogue_markdown {
        return write_catalogue_markdown(&mut io::stdout().lock());
    }
    let facts = KernelFacts::probe_running();
    let plans = probes::resolve(&facts);
    let privilege = probes::privileges::check();
    // Attach for real when allowed; otherwise say why and predict from facts.
    let attempt = if args.no_attach {
        Err("predicted from kernel facts (--no-attach)".to_string())
    } else if let Err(why) = &privilege {
        Err(format!("predicted from kernel facts; not attached: {why}"))
    } else {
        probes::attach::attach(
            &plans,
            &AttachOptions::default(),
            facts.suspend_me_token,
            facts.has_boot_clock(),
        )
        .map_err(|e| format!("predicted from kernel facts; attaching failed: {e}"))
    };
    let (coverage, mode): (Vec<ProbeCoverage>, String) = match attempt {
        Ok(attached) => (attached.coverage.clone(), "attached and detached for real".into()),
        Err(mode) => (
            plans
                .iter()
                .map(|p| ProbeCoverage {
                    probe: p.spec.name.into(),
                    status: predicted(p),
                })
                .collect(),
            mode,
        ),
    };
    let out = &mut io::stdout().lock();
    if args.json {
        let v = json!({
            "kernel": facts.release,
            "arch": facts.arch,
            "pseries": facts.pseries,
            "generation": facts.generation(),
            "btf": facts.btf,
            "kprobes": facts.kprobes,
            "tracefs": facts.tracefs,
            "bpf_jit_enable": facts.jit,
            "lockdown": facts.lockdown,
            "unprivileged_bpf_disabled": facts.unprivileged_bpf_disabled,
            "boot_clock": facts.has_boot_clock(),
            "suspend_me_token": facts.suspend_me_token,
            "possible_cpus": facts.possible_cpus,
            "hotplug_states": facts.hotplug_states.len(),
            "privileges": privilege.as_ref().err(),
            "coverage_mode": mode,
            "probes": coverage,
        });
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let yn = |b: bool| if b { "yes" } else { "no" };
    writeln!(out, "kernel       {} ({})", facts.release, facts.arch)?;
    writeln!(out, "platform     {}", generation_text(facts.generation()))?;
    writeln!(out, "BTF          {}", yn(facts.btf))?;
    writeln!(out, "kprobes      {}", yn(facts.kprobes))?;
    writeln!(
        out,
        "tracefs      {}",
        facts.tracefs.as_deref().unwrap_or("not available")
    )?;
    writeln!(
        out,
        "BPF JIT      {}",
        facts
            .jit
            .as_deref()
            .map(|j| if j == "0" {
                "off (bpf_jit_enable=0: probes run interpreted, slower)"
            } else {
                "on"
            })
            .unwrap_or("unknown")
    )?;
    writeln!(
        out,
        "lockdown     {}",
        facts.lockdown.as_deref().unwrap_or("none/unknown")
    )?;
    writeln!(
        out,
        "clock        {}",
        if facts.has_boot_clock() {
            "CLOCK_BOOTTIME (suspend time counted)"
        } else {
            "CLOCK_MONOTONIC (kernel < 5.8: suspend time not counted)"
        }
    )?;
    if facts.pseries {
        writeln!(
            out,
            "suspend-me   {}",
            facts
                .suspend_me_token
                .map(|t| format!("RTAS token {t:#x}"))
                .unwrap_or("no ibm,suspend-me token in the device tree".into())
        )?;
    }
    writeln!(
        out,
        "privileges   {}",
        match &privilege {
            Ok(()) => "ok".to_string(),
            Err(e) => e.clone(),
        }
    )?;
    writeln!(out, "\nprobes ({mode}):")?;
    for c in &coverage {
        match &c.status {
            CoverageStatus::Attached {
                candidate,
                hooks,
                partial,
            } => {
                writeln!(out, "  ok    {:<12} via {candidate}: {}", c.probe, hooks.join(", "))?;
                for p in partial {
                    writeln!(out, "          (optional hook skipped: {p})")?;
                }
            }
            CoverageStatus::Missing { reasons } => {
                writeln!(out, "  MISS  {:<12}", c.probe)?;
                for r in reasons {
                    writeln!(out, "          {r}")?;
                }
            }
            CoverageStatus::NotApplicable { reason } => writeln!(out, "  n/a   {:<12} {reason}", c.probe)?,
            CoverageStatus::Disabled => writeln!(out, "  off   {:<12} disabled by the user", c.probe)?,
        }
    }
    let ok = coverage.iter().filter(|c| c.attached()).count();
    writeln!(out, "\n{ok} of {} logical probes available.", coverage.len())?;
    Ok(())
}

/// The catalogue as Markdown (the source of docs/probes.md).
pub fn write_catalogue_markdown(out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "# Probe catalogue\n")?;
    writeln!(out, "Generated from `userspace/src/probes/catalogue.rs` by `lpmtrace doctor --catalogue-markdown`; do not edit by hand.\n")?;
    writeln!(out, "Each logical probe is attached through the first candidate whose required hooks exist on the running kernel (tracefs events, kallsyms) and load. `lpmtrace doctor` shows the outcome; every recording carries it as the coverage manifest.\n")?;
    for p in PROBES {
        let scope = match p.scope {
            Scope::Any => "any kernel",
            Scope::Pseries => "pseries only",
        };
        writeln!(out, "## `{}` ({scope})\n\n{}\n", p.name, p.doc)?;
        writeln!(out, "| # | candidate | hooks (eBPF program) |\n|---|---|---|")?;
        for (i, c) in p.candidates.iter().enumerate() {
            let hooks: Vec<String> = c
                .hooks
                .iter()
                .map(|h| {
                    format!(
                        "`{}` ({}){}",
                        h.hook.describe(),
                        h.program,
                        if h.required { "" } else { ", optional" }
                    )
                })
                .collect();
            writeln!(out, "| {} | {} | {} |", i + 1, c.label, hooks.join("<br>"))?;
        }
        writeln!(out)?;
    }
    Ok(())
}
