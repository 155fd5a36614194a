//! Probe resolution against descriptions of real kernels (and one
//! constructed old kernel): which candidate each logical probe picks, what
//! is reported missing, and which LPM generation is detected from symbols.

use lpmtrace::events::session::KernelGeneration;
use lpmtrace::probes::{facts::KernelFacts, resolve, ProbePlan};

fn facts(name: &str) -> KernelFacts {
    let path = format!("{}/tests/kernels/{name}.facts", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    KernelFacts::parse_description(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn chosen(plans: &[ProbePlan], probe: &str) -> Option<&'static str> {
    let plan = plans.iter().find(|p| p.spec.name == probe).expect("probe in catalogue");
    if plan.not_applicable.is_some() {
        return None;
    }
    plan.first_viable().map(|c| c.candidate.label)
}

fn missing_text(plans: &[ProbePlan], probe: &str) -> String {
    let plan = plans.iter().find(|p| p.spec.name == probe).unwrap();
    plan.candidates
        .iter()
        .flat_map(|c| c.missing())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn this_host_x86_runs_hotplug_and_ipi_tracepoints_only() {
    let f = facts("host-x86_64-6.18");
    assert_eq!(f.generation(), KernelGeneration::NotPseries);
    assert!(f.has_boot_clock());
    let plans = resolve(&f);
    for lpm in [
        "lpm.trigger",
        "lpm.migrate",
        "lpm.suspend",
        "lpm.join",
        "lpm.hcall",
        "lpm.rtas",
        "lpm.cpumask",
    ] {
        let plan = plans.iter().find(|p| p.spec.name == lpm).unwrap();
        assert!(
            plan.not_applicable.as_deref().unwrap_or("").contains("not a pseries"),
            "{lpm}"
        );
    }
    assert_eq!(chosen(&plans, "cpu.hotplug"), Some("cpuhp tracepoints"));
    assert_eq!(chosen(&plans, "ipi.send"), Some("ipi tracepoints (>= 6.4)"));
    assert_eq!(chosen(&plans, "ipi.handle"), Some("csd tracepoints (>= 6.6)"));
    assert_eq!(chosen(&plans, "cpu.down"), None);
    assert!(missing_text(&plans, "cpu.down").contains("without kprobes"));
}

#[test]
fn debian_6_1_uses_kprobes_and_hcall_tracepoints() {
    let f = facts("debian-bookworm-6.1-ppc64le");
    assert_eq!(f.generation(), KernelGeneration::NewPath);
    let plans = resolve(&f);
    assert_eq!(chosen(&plans, "lpm.trigger"), Some("migration_store + sys_rtas"));
    assert_eq!(chosen(&plans, "lpm.migrate"), Some("pseries_migrate_partition"));
    assert_eq!(chosen(&plans, "lpm.join"), Some("do_join"));
    assert_eq!(chosen(&plans, "lpm.hcall"), Some("powerpc hcall tracepoints"));
    // No rtas tracepoints before 6.3: falls back to the rtas_call kprobe.
    assert_eq!(chosen(&plans, "lpm.rtas"), Some("rtas_call"));
    assert!(missing_text(&plans, "lpm.rtas").contains("powerpc:rtas_input not in this kernel"));
    assert_eq!(chosen(&plans, "lpm.cpumask"), None);
    assert_eq!(chosen(&plans, "cpu.online"), Some("set_cpu_online (>= 5.6)"));
    // No ipi/csd groups in 6.1: the pseries kprobes take over.
    assert_eq!(chosen(&plans, "ipi.send"), Some("pseries cause_ipi (XIVE/XICS)"));
    assert_eq!(chosen(&plans, "ipi.handle"), Some("IPI interrupt handler"));
}

#[test]
fn debian_6_12_prefers_tracepoints() {
    let f = facts("debian-trixie-6.12-ppc64le");
    assert_eq!(f.generation(), KernelGeneration::NewPath);
    let plans = resolve(&f);
    assert_eq!(chosen(&plans, "lpm.rtas"), Some("powerpc rtas tracepoints (>= 6.3)"));
    assert_eq!(chosen(&plans, "ipi.send"), Some("ipi tracepoints (>= 6.4)"));
    assert_eq!(chosen(&plans, "ipi.handle"), Some("csd tracepoints (>= 6.6)"));
    assert_eq!(chosen(&plans, "lpm.join"), Some("do_join"));
}

#[test]
fn linux_5_10_is_the_old_path() {
    let f = facts("linux-5.10.223-pseries-ppc64le");
    assert_eq!(f.generation(), KernelGeneration::OldPath);
    let plans = resolve(&f);
    assert_eq!(chosen(&plans, "lpm.join"), Some("rtas_percpu_suspend_me"));
    assert_eq!(chosen(&plans, "lpm.migrate"), None);
    assert!(missing_text(&plans, "lpm.migrate").contains("pseries_migrate_partition not in kallsyms"));
    assert_eq!(chosen(&plans, "lpm.suspend"), Some("rtas_ibm_suspend_me"));
    assert_eq!(chosen(&plans, "lpm.trigger"), Some("migration_store + sys_rtas"));
}

#[test]
fn constructed_4_18_old_kernel_falls_back_everywhere() {
    let f = facts("constructed-rhel8-4.18-oldpath");
    assert_eq!(f.generation(), KernelGeneration::OldPath);
    assert!(!f.has_boot_clock(), "4.18 has no bpf_ktime_get_boot_ns");
    let plans = resolve(&f);
    assert_eq!(chosen(&plans, "lpm.cpumask"), Some("rtas_{on,off}line_cpus_mask"));
    assert_eq!(chosen(&plans, "cpu.down"), Some("cpu_down (< 5.7)"));
    assert_eq!(chosen(&plans, "cpu.online"), Some("pseries dying-CPU trap probes"));
    assert_eq!(chosen(&plans, "ipi.send"), Some("pseries cause_ipi (XIVE/XICS)"));
}

#[test]
fn running_kernel_description_matches_the_live_facts() {
    // The host description must stay true for the machine the tests run on
    // (when it is that machine): same event groups and symbols seen live.
    let live = KernelFacts::probe_running();
    let described = facts("host-x86_64-6.18");
    if live.release != described.release {
        eprintln!(
            "SKIPPED: running kernel {} is not the described host {}",
            live.release, described.release
        );
        return;
    }
    for e in &described.events {
        assert!(live.events.contains(e), "described event {e} not on the running kernel");
    }
    for s in &described.symbols {
        assert!(
            live.symbols.contains(s),
            "described symbol {s} not in the running kernel's kallsyms"
        );
    }
}

#[test]
fn docs_probes_md_is_generated_from_the_catalogue() {
    let mut generated = Vec::new();
    lpmtrace::commands::doctor::write_catalogue_markdown(&mut generated).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/probes.md");
    let on_disk = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        on_disk,
        String::from_utf8(generated).unwrap(),
        "docs/probes.md is stale: run `lpmtrace doctor --catalogue-markdown > docs/probes.md`"
    );
}
