//! The probe catalogue: every logical probe lpmtrace knows, with its attach
//! candidates in preference order. This table is the single place that says
//! which kernel hook feeds which event; docs/probes.md is generated from it
//! (`lpmtrace doctor --catalogue-markdown`).
//!
//! Rules:
//! - A logical probe is attached through the **first** candidate whose
//!   required hooks all exist on this kernel and load; the others are
//!   recorded in the coverage manifest as "not needed" or with the reason
//!   they failed.
//! - Candidates are checked against kernel *facts* (tracefs events,
//!   kallsyms), never against the version string: distributions backport.
//! - Raw tracepoints come first where the tracepoint exists: they read the
//!   stable `TP_PROTO` arguments, need no BTF, and cost less than kprobes.
//!   fentry/fexit are not used: powerpc64 has BPF trampolines only from
//!   6.13, and this project's x86 CI kernel refuses them (EPERM).

/// A kernel attach point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Raw tracepoint by name (`cpuhp_enter`); `group` is its tracefs
    /// group, used to check that it exists.
    RawTracepoint {
        /// tracefs group (`cpuhp`).
        group: &'static str,
        /// Tracepoint name (`cpuhp_enter`).
        name: &'static str,
    },
    /// Classic tracepoint (reads the tracefs `format` record).
    Tracepoint {
        /// tracefs group (`syscalls`).
        group: &'static str,
        /// Tracepoint name (`sys_enter_rtas`).
        name: &'static str,
    },
    /// Kprobe on a function entry, or at `offset` bytes into it (a trap
    /// kprobe, for code that runs with ftrace disabled).
    Kprobe {
        /// Kernel symbol.
        symbol: &'static str,
        /// Byte offset into the function (0 = entry).
        offset: u64,
    },
    /// Kretprobe on a function return.
    Kretprobe {
        /// Kernel symbol.
        symbol: &'static str,
    },
}

impl Hook {
    /// Short human form: `raw_tp:cpuhp:cpuhp_enter`, `kprobe:do_join+0x10`.
    pub fn describe(&self) -> String {
        match self {
            Hook::RawTracepoint { group, name } => format!("raw_tp:{group}:{name}"),
            Hook::Tracepoint { group, name } => format!("tp:{group}:{name}"),
            Hook::Kprobe { symbol, offset: 0 } => format!("kprobe:{symbol}"),
            Hook::Kprobe { symbol, offset } => format!("kprobe:{symbol}+{offset:#x}"),
            Hook::Kretprobe { symbol } => format!("kretprobe:{symbol}"),
        }
    }

    /// The kernel symbol a kprobe needs, if any.
    pub fn symbol(&self) -> Option<&'static str> {
        match self {
            Hook::Kprobe { symbol, .. } | Hook::Kretprobe { symbol } => Some(symbol),
            _ => None,
        }
    }
}

/// One hook of a candidate and the eBPF program that handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookSpec {
    /// Where to attach.
    pub hook: Hook,
    /// Name of the program in the eBPF object (ebpf/lpmtrace-ebpf).
    pub program: &'static str,
    /// When false, the candidate still counts as attached without this hook
    /// (e.g. `cpuhp_multi_enter` next to `cpuhp_enter`).
    pub required: bool,
}

/// A way to implement a logical probe: a set of hooks attached together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Short label for coverage output ("cpuhp tracepoints").
    pub label: &'static str,
    /// The hooks.
    pub hooks: &'static [HookSpec],
}

/// Which systems a probe is meaningful on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Any Linux kernel.
    Any,
    /// pseries (PowerVM / QEMU pseries) kernels only.
    Pseries,
}

/// A logical probe: one entry of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Logical name used in every output (`cpu.hotplug`).
    pub name: &'static str,
    /// What it observes, one line.
    pub doc: &'static str,
    /// Where it applies.
    pub scope: Scope,
    /// Candidates, most preferred first.
    pub candidates: &'static [Candidate],
}

const fn raw_tp(group: &'static str, name: &'static str, program: &'static str) -> HookSpec {
    HookSpec {
        hook: Hook::RawTracepoint { group, name },
        program,
        required: true,
    }
}

const fn tp(group: &'static str, name: &'static str, program: &'static str) -> HookSpec {
    HookSpec {
        hook: Hook::Tracepoint { group, name },
        program,
        required: true,
    }
}

const fn kprobe(symbol: &'static str, program: &'static str) -> HookSpec {
    HookSpec {
        hook: Hook::Kprobe { symbol, offset: 0 },
        program,
        required: true,
    }
}

const fn kprobe_at(symbol: &'static str, offset: u64, program: &'static str) -> HookSpec {
    HookSpec {
        hook: Hook::Kprobe { symbol, offset },
        program,
        required: true,
    }
}

const fn kretprobe(symbol: &'static str, program: &'static str) -> HookSpec {
    HookSpec {
        hook: Hook::Kretprobe { symbol },
        program,
        required: true,
    }
}

const fn optional(mut spec: HookSpec) -> HookSpec {
    spec.required = false;
    spec
}

/// Offset of the trap kprobes on the dying CPU: past the function's
/// ftrace/TOC prologue (qemu-pseries.md: `+0x10` fires, the entry does not).
pub const DYING_CPU_TRAP_OFFSET: u64 = 0x10;

/// The catalogue.
pub const PROBES: &[ProbeSpec] = &[
    ProbeSpec {
        name: "lpm.trigger",
        doc: "Migration requests: sysfs writes to /sys/kernel/mobility/migration and sys_rtas(ibm,suspend-me) (drmgr), with stream id, caller and result",
        scope: Scope::Pseries,
        candidates: &[
            Candidate {
                label: "migration_store + sys_rtas",
                hooks: &[
                    kprobe("migration_store", "migration_store"),
                    kretprobe("migration_store", "migration_store_ret"),
                    optional(kprobe("rtas_syscall_dispatch_ibm_suspend_me", "dispatch_suspend")),
                    optional(kretprobe("rtas_syscall_dispatch_ibm_suspend_me", "dispatch_suspend_ret")),
                    optional(tp("syscalls", "sys_enter_rtas", "sys_enter_rtas")),
                    optional(tp("syscalls", "sys_exit_rtas", "sys_exit_rtas")),
                    // Kernels without syscall tracepoints (and without
                    // powerpc's syscall wrapper, < 6.1): the syscall itself.
                    // With both attached, each call is reported once.
                    optional(kprobe("sys_rtas", "sys_rtas_kprobe")),
                    optional(kretprobe("sys_rtas", "sys_rtas_kretprobe")),
                ],
            },
            Candidate {
                label: "sys_rtas syscall tracepoints",
                hooks: &[tp("syscalls", "sys_enter_rtas", "sys_enter_rtas"), tp("syscalls", "sys_exit_rtas", "sys_exit_rtas")],
            },
        ],
    },
    ProbeSpec {
        name: "lpm.migrate",
        doc: "pseries_migrate_partition (>= 5.11): one migration from VASI wait to cancel/fix-up",
        scope: Scope::Pseries,
        candidates: &[Candidate {
            label: "pseries_migrate_partition",
            hooks: &[kprobe("pseries_migrate_partition", "migrate_enter"), kretprobe("pseries_migrate_partition", "migrate_ret")],
        }],
    },
    ProbeSpec {
        name: "lpm.suspend",
        doc: "rtas_ibm_suspend_me (old: u64 handle, whole join; new: int *fw_status, last CPU only) and its result",
        scope: Scope::Pseries,
        candidates: &[Candidate {
            label: "rtas_ibm_suspend_me",
            hooks: &[kprobe("rtas_ibm_suspend_me", "suspend_enter"), kretprobe("rtas_ibm_suspend_me", "suspend_ret")],
        }],
    },
    ProbeSpec {
        name: "lpm.join",
        doc: "Each CPU entering the join: do_join (>= 5.11, with its result) or rtas_percpu_suspend_me (<= 5.10)",
        scope: Scope::Pseries,
        candidates: &[
            Candidate {
                label: "do_join",
                hooks: &[kprobe("do_join", "join_enter"), kretprobe("do_join", "join_ret")],
            },
            Candidate { label: "rtas_percpu_suspend_me", hooks: &[kprobe("rtas_percpu_suspend_me", "percpu_join")] },
        ],
    },
    ProbeSpec {
        name: "lpm.hcall",
        doc: "H_JOIN, H_PROD, H_VASI_STATE, H_VASI_SIGNAL with arguments, return code and retbuf[0], filtered by opcode in the kernel",
        scope: Scope::Pseries,
        candidates: &[Candidate {
            label: "powerpc hcall tracepoints",
            hooks: &[raw_tp("powerpc", "hcall_entry", "hcall_entry"), raw_tp("powerpc", "hcall_exit", "hcall_exit")],
        }],
    },
    ProbeSpec {
        name: "lpm.rtas",
        doc: "The ibm,suspend-me RTAS call and its status (RTAS_THREADS_ACTIVE, ...)",
        scope: Scope::Pseries,
        candidates: &[
            Candidate {
                label: "powerpc rtas tracepoints (>= 6.3)",
                hooks: &[raw_tp("powerpc", "rtas_input", "rtas_input"), raw_tp("powerpc", "rtas_output", "rtas_output")],
            },
            Candidate {
                label: "rtas_call",
                hooks: &[kprobe("rtas_call", "rtas_call"), kretprobe("rtas_call", "rtas_call_ret")],
            },
        ],
    },
    ProbeSpec {
        name: "lpm.cpumask",
        doc: "rtas_online_cpus_mask / rtas_offline_cpus_mask: old kernels (<= 5.8) onlining ceded CPUs around the join",
        scope: Scope::Pseries,
        candidates: &[Candidate {
            label: "rtas_{on,off}line_cpus_mask",
            hooks: &[
                kprobe("rtas_online_cpus_mask", "cpumask_online"),
                kretprobe("rtas_online_cpus_mask", "cpumask_ret"),
                kprobe("rtas_offline_cpus_mask", "cpumask_offline"),
                kretprobe("rtas_offline_cpus_mask", "cpumask_ret"),
            ],
        }],
    },
    ProbeSpec {
        name: "cpu.hotplug",
        doc: "Every CPU hotplug step (cpuhp state machine), with state names from /sys/devices/system/cpu/hotplug/states",
        scope: Scope::Any,
        candidates: &[Candidate {
            label: "cpuhp tracepoints",
            hooks: &[
                raw_tp("cpuhp", "cpuhp_enter", "cpuhp_enter"),
                raw_tp("cpuhp", "cpuhp_exit", "cpuhp_exit"),
                optional(raw_tp("cpuhp", "cpuhp_multi_enter", "cpuhp_multi")),
            ],
        }],
    },
    ProbeSpec {
        name: "cpu.down",
        doc: "CPU offline requests (sysfs, DLPAR, SMT changes) with requester and result (-EBUSY while hotplug is disabled)",
        scope: Scope::Any,
        candidates: &[
            Candidate {
                label: "cpu_device_down + remove_cpu (>= 5.7)",
                hooks: &[
                    kprobe("cpu_device_down", "cpu_dev_down"),
                    kretprobe("cpu_device_down", "cpu_down_ret"),
                    optional(kprobe("remove_cpu", "cpu_down_num")),
                    optional(kretprobe("remove_cpu", "cpu_down_ret")),
                ],
            },
            Candidate {
                label: "cpu_down (< 5.7)",
                hooks: &[kprobe("cpu_down", "cpu_down_num"), kretprobe("cpu_down", "cpu_down_ret")],
            },
        ],
    },
    ProbeSpec {
        name: "cpu.online",
        doc: "The moment a CPU leaves or joins cpu_online_mask, seen on the CPU itself",
        scope: Scope::Any,
        candidates: &[
            Candidate { label: "set_cpu_online (>= 5.6)", hooks: &[kprobe("set_cpu_online", "set_cpu_online")] },
            Candidate {
                label: "pseries dying-CPU trap probes",
                hooks: &[
                    kprobe_at("pseries_cpu_disable", DYING_CPU_TRAP_OFFSET, "cpu_disable_trap"),
                    optional(kprobe_at("pseries_cpu_offline_self", DYING_CPU_TRAP_OFFSET, "offline_self_trap")),
                ],
            },
        ],
    },
    ProbeSpec {
        name: "ipi.send",
        doc: "IPIs sent: target CPU(s) and the function they will run",
        scope: Scope::Any,
        candidates: &[
            Candidate {
                label: "ipi tracepoints (>= 6.4)",
                hooks: &[raw_tp("ipi", "ipi_send_cpu", "ipi_send_cpu"), raw_tp("ipi", "ipi_send_cpumask", "ipi_send_mask")],
            },
            Candidate {
                label: "pseries cause_ipi (XIVE/XICS)",
                hooks: &[
                    optional(kprobe("xive_cause_ipi", "cause_ipi")),
                    optional(kprobe("icp_hv_cause_ipi", "cause_ipi")),
                    optional(kprobe("smp_call_function_many", "call_func_many")),
                ],
            },
        ],
    },
    ProbeSpec {
        name: "ipi.handle",
        doc: "Cross-CPU function calls running on their target CPU",
        scope: Scope::Any,
        candidates: &[
            Candidate {
                label: "csd tracepoints (>= 6.6)",
                hooks: &[raw_tp("csd", "csd_function_entry", "csd_entry"), raw_tp("csd", "csd_function_exit", "csd_exit")],
            },
            Candidate {
                label: "IPI interrupt handler",
                hooks: &[
                    kprobe("generic_smp_call_function_single_interrupt", "ipi_irq_enter"),
                    kretprobe("generic_smp_call_function_single_interrupt", "ipi_irq_exit"),
                ],
            },
        ],
    },
];

/// Looks up a probe by its logical name.
pub fn probe(name: &str) -> Option<&'static ProbeSpec> {
    PROBES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_the_event_model() {
        let mut names: Vec<_> = PROBES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROBES.len());
        for p in PROBES {
            assert!(
                crate::events::PROBE_NAMES.contains(&p.name),
                "{} not in PROBE_NAMES",
                p.name
            );
            assert!(!p.candidates.is_empty(), "{} has no candidate", p.name);
            for c in p.candidates {
                assert!(
                    c.hooks.iter().any(|h| h.required) || c.hooks.len() > 1,
                    "{}: {} has nothing to attach",
                    p.name,
                    c.label
                );
            }
        }
    }

    #[test]
    fn every_program_exists_in_the_ebpf_sources() {
        // The eBPF crate is the other half of this table: a typo here would
        // only show up at attach time on a POWER box.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/lpmtrace-ebpf/src");
        let mut sources = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            sources.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        for p in PROBES {
            for c in p.candidates {
                for h in c.hooks {
                    assert!(
                        sources.contains(&format!("pub fn {}(", h.program)),
                        "program {} of {} missing",
                        h.program,
                        p.name
                    );
                }
            }
        }
    }
}
