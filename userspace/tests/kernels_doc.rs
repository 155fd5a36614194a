//! docs/kernels.md is generated here: the kernel generations lpmtrace knows
//! (prose kept in [`GENERATIONS`]), and, from the probe catalogue resolved
//! against the kernel descriptions in tests/kernels/*.facts, which candidate
//! of every logical probe each described kernel gets.
//!
//! The test fails when the committed file differs from what the catalogue
//! and the descriptions give now; `LPMT_BLESS=1 cargo test -p lpmtrace
//! --test kernels_doc` rewrites it.

use std::fmt::Write as _;
use std::path::Path;

use lpmtrace::probes::catalogue::PROBES;
use lpmtrace::probes::facts::KernelFacts;
use lpmtrace::probes::resolve;

/// (versions, lpmtrace generation, how it migrates, how it fails, where
/// vm-test exercises it).
const GENERATIONS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "≤ 5.2",
        "old-path",
        "`migration_store` / `sys_rtas` → `rtas_ibm_suspend_me(u64 handle)`: H_VASI_STATE, then `rtas_online_cpus_mask` onlines ceded (cede-offline) CPUs, `on_each_cpu(rtas_percpu_suspend_me)` IPIs, every CPU loops H_JOIN, the one that gets H_CONTINUE calls ibm,suspend-me (retried in place on -9005) and H_PRODs the others.",
        "No H_VASI_SIGNAL exists: every failure after the VASI check (mask onlining, allocation, join or ibm,suspend-me error) leaves the stream Suspending (`unterminated-migration`). A CPU going offline between `cpu_hotplug_disable` and the IPIs returns -EBUSY (`offline-race`, variant `aborted-ebusy`).",
        "not bootable here (no binary or source build); covered by the constructed description and scenario files",
    ),
    (
        "5.3 – 5.8",
        "old-path",
        "As ≤ 5.2, plus `lock_device_hotplug()` (5.4) and the present≠online check.",
        "The offline race is retried (-EAGAIN every second, `offline-race` variant `retried-eagain`) instead of failing; other failures are still never cancelled (`unterminated-migration`).",
        "not bootable here",
    ),
    (
        "5.9 – 5.10",
        "old-path",
        "Cede-offline and the CPU onlining around the join are gone (offline CPUs are really stopped and count as joined); still `on_each_cpu` IPIs with `lock_device_hotplug()` + `cpu_hotplug_disable()` around them. `migration_store` retries -EAGAIN (stream still ENABLED) every second with no limit.",
        "Still no cancel: an H_VASI_STATE error or state other than SUSPENDING returns before the join (nothing to cancel, `failed`); a join or ibm,suspend-me error after the join is never cancelled (`unterminated-migration`). Hotplug writes during the join wait (device-hotplug lock), they do not fail.",
        "`--kernel 5.10` (built from Debian's 5.10.223 source): old-migrate (sysfs and sys_rtas triggers), old-suspend-fail, old-vasi-enabled, old-hotplug, join-stall",
    ),
    (
        "≥ 5.11",
        "new-path",
        "`pseries_migrate_partition`: `wait_for_vasi_session_suspending` (1 s polls while ENABLED), then `pseries_suspend`: up to 5 × `stop_machine(do_join)`; the last CPU to H_JOIN calls `rtas_ibm_suspend_me(int *fw_status)`; on failure `pseries_cancel_migration` sends H_VASI_SIGNAL(CANCEL).",
        "After 5 failed attempts the kernel cancels (`suspend-retries-exhausted`; `cancel-rejected` when the platform refuses the cancel). A failing H_VASI_STATE while waiting for Suspending still exits without a cancel (`unterminated-migration`). `stop_machine` holds `cpus_read_lock`, so hotplug cannot race the join. Little-endian builds of newer kernels (Debian 6.1, 6.12) refuse the legacy trigger, rtas(2) ibm,suspend-me, in their RTAS syscall filter (EINVAL, `migration-failed` variant `sys-rtas-rejected`).",
        "Debian 6.1 and 6.12: migrate-solo (sysfs and the refused sys_rtas trigger), migrate-smp, migrate-hotplug, hotplug-ipi; both with lpm-faultinject: vasi-fail, cancel, join-stall",
    ),
    (
        "≥ 5.12",
        "new-path",
        "`do_join` tolerates a premature return from H_JOIN (a stray H_PROD) and joins again.",
        "Premature returns are logged (`premature-join`; a storm of them is what QEMU TCG produces with several vCPUs).",
        "Debian 6.1 and 6.12 (migrate-smp)",
    ),
    (
        "≥ 6.3",
        "new-path",
        "RTAS calls have tracepoints (`powerpc:rtas_input/rtas_output`); ipi (≥ 6.4) and csd (≥ 6.6) tracepoints follow.",
        "Same failure handling as ≥ 5.11; lpmtrace reads ibm,suspend-me statuses from the RTAS tracepoints instead of `rtas_call` kprobes.",
        "Debian 6.12",
    ),
];

fn descriptions() -> Vec<(String, KernelFacts)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "facts"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let facts = KernelFacts::parse_description(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().to_string(), facts)
        })
        .collect()
}

fn generate() -> String {
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "# Kernel generations\n").unwrap();
    writeln!(
        w,
        "Generated by `userspace/tests/kernels_doc.rs` from the probe catalogue (`userspace/src/probes/catalogue.rs`) and the kernel descriptions in `userspace/tests/kernels/`; do not edit by hand (`LPMT_BLESS=1 cargo test -p lpmtrace --test kernels_doc` rewrites it).\n"
    )
    .unwrap();
    writeln!(
        w,
        "lpmtrace tells the generations apart by symbols, never by version number: `rtas_percpu_suspend_me` means the old path, `do_join` / `pseries_migrate_partition` / `rtas_syscall_dispatch_ibm_suspend_me` the new one (distribution kernels backport the rework). The version ranges below are upstream's.\n"
    )
    .unwrap();
    writeln!(w, "## How each generation migrates and fails\n").unwrap();
    writeln!(w, "| kernels | lpmtrace generation | how it migrates | how it fails (lpmtrace finding) | real-kernel tests (`cargo xtask vm-test`) |").unwrap();
    writeln!(w, "|---|---|---|---|---|").unwrap();
    for (ver, gen, how, fails, tests) in GENERATIONS {
        writeln!(w, "| {ver} | {gen} | {how} | {fails} | {tests} |").unwrap();
    }
    let kernels = descriptions();
    writeln!(w, "\n## Which probes cover what on each described kernel\n").unwrap();
    writeln!(
        w,
        "Each cell is the catalogue candidate `lpmtrace doctor` would attach on that kernel (the first whose required hooks exist), resolved from the description file; **missing** means no candidate fits. See docs/probes.md for every candidate's hooks.\n"
    )
    .unwrap();
    let mut header = String::from("| logical probe |");
    let mut rule = String::from("|---|");
    for (name, f) in &kernels {
        write!(header, " `{name}` ({}, {:?}) |", f.release, f.generation()).unwrap();
        rule.push_str("---|");
    }
    writeln!(w, "{header}\n{rule}").unwrap();
    let plans: Vec<_> = kernels.iter().map(|(_, f)| resolve(f)).collect();
    for (i, spec) in PROBES.iter().enumerate() {
        let mut row = format!("| `{}` |", spec.name);
        for plan in &plans {
            let p = &plan[i];
            let cell = if let Some(why) = &p.not_applicable {
                format!("n/a ({why})")
            } else if let Some(c) = p.first_viable() {
                c.candidate.label.to_string()
            } else {
                "**missing**".to_string()
            };
            write!(row, " {} |", cell.replace('|', "\\|")).unwrap();
        }
        writeln!(w, "{row}").unwrap();
    }
    writeln!(w, "\n## Probes by purpose\n").unwrap();
    for spec in PROBES {
        writeln!(w, "- `{}`: {}", spec.name, spec.doc).unwrap();
    }
    out
}

#[test]
fn docs_kernels_md_is_generated_from_the_catalogue() {
    let generated = generate();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kernels.md");
    if std::env::var_os("LPMT_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/kernels.md is stale: run `LPMT_BLESS=1 cargo test -p lpmtrace --test kernels_doc`"
    );
}

#[test]
fn every_generation_row_names_a_finding_or_outcome() {
    // The failure column is what an SRE reads: it must name what lpmtrace
    // reports, with ids that exist.
    for (ver, _, _, fails, _) in GENERATIONS {
        let ids: Vec<&str> = fails
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| s.contains('-') && !s.contains(' ') && !s.contains('(') && !s.starts_with("cpu"))
            .collect();
        for id in &ids {
            let known = lpmtrace::analysis::FindingKind::from_id(id).is_some()
                || ["aborted-ebusy", "retried-eagain", "failed", "sys-rtas-rejected"].contains(id);
            assert!(known, "{ver}: `{id}` is not a finding kind or variant");
        }
    }
}
