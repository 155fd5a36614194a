//! What this kernel offers, read once at start-up: tracefs events, the
//! kallsyms entries the catalogue cares about, BTF, kprobe support, JIT,
//! lockdown, the pseries device tree. [`KernelFacts`] can also be parsed
//! from a text description (tests keep descriptions of real kernels in
//! `userspace/tests/kernels/`), so probe resolution is tested without
//! those kernels.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::events::session::{HotplugState, KernelGeneration};

use super::catalogue::PROBES;

/// Symbols that tell the LPM generation apart (kernel-lpm.md §0).
pub const GENERATION_MARKERS: &[&str] = &[
    "rtas_percpu_suspend_me",
    "do_join",
    "pseries_migrate_partition",
    "rtas_syscall_dispatch_ibm_suspend_me",
    "pseries_suspend",
    "pseries_cancel_migration",
    "wait_for_vasi_session_suspending",
    "post_mobility_fixup",
];

/// The BPF helper behind `bpf_ktime_get_boot_ns` (a `BPF_CALL_0` text
/// symbol, 5.8+): its presence decides the timestamp clock.
pub const BOOT_CLOCK_HELPER: &str = "bpf_ktime_get_boot_ns";

/// What the running (or described) kernel offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelFacts {
    /// `uname -r`.
    pub release: String,
    /// `uname -m`.
    pub arch: String,
    /// A pseries partition (device tree has `rtas`, or /sys/kernel/mobility).
    pub pseries: bool,
    /// `/sys/kernel/btf/vmlinux` exists.
    pub btf: bool,
    /// The kernel can do kprobes (tracefs `kprobe_events` or the kprobe PMU).
    pub kprobes: bool,
    /// tracefs is mounted (or mountable) and its events were listed.
    pub tracefs: Option<String>,
    /// `group:name` of every tracefs event.
    pub events: BTreeSet<String>,
    /// Catalogue and generation-marker symbols present in kallsyms as text.
    pub symbols: BTreeSet<String>,
    /// `/proc/sys/net/core/bpf_jit_enable`.
    pub jit: Option<String>,
    /// `/sys/kernel/security/lockdown` selection.
    pub lockdown: Option<String>,
    /// `/proc/sys/kernel/unprivileged_bpf_disabled`.
    pub unprivileged_bpf_disabled: Option<String>,
    /// RTAS token of ibm,suspend-me.
    pub suspend_me_token: Option<u32>,
    /// Hotplug states by index.
    pub hotplug_states: Vec<HotplugState>,
    /// Number of possible CPUs.
    pub possible_cpus: u32,
}

/// Every symbol the catalogue or the generation check looks for.
pub fn wanted_symbols() -> BTreeSet<&'static str> {
    let mut set: BTreeSet<&'static str> = GENERATION_MARKERS.iter().copied().collect();
    set.insert(BOOT_CLOCK_HELPER);
    for p in PROBES {
        for c in p.candidates {
            for h in c.hooks {
                if let Some(s) = h.hook.symbol() {
                    set.insert(s);
                }
            }
        }
    }
    set
}

impl KernelFacts {
    /// Reads the facts of the running kernel. Never fails: what cannot be
    /// read is recorded as absent, and `doctor` says so.
    pub fn probe_running() -> KernelFacts {
        let uname = uname();
        let tracefs = find_or_mount_tracefs();
        let mut facts = KernelFacts {
            release: uname.0,
            arch: uname.1,
            pseries: Path::new("/proc/device-tree/rtas").exists() || Path::new("/sys/kernel/mobility").exists(),
            btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
            kprobes: Path::new("/sys/bus/event_source/devices/kprobe").exists(),
            jit: read_trim("/proc/sys/net/core/bpf_jit_enable"),
            lockdown: read_trim("/sys/kernel/security/lockdown").map(|s| lockdown_selected(&s)),
            unprivileged_bpf_disabled: read_trim("/proc/sys/kernel/unprivileged_bpf_disabled"),
            suspend_me_token: fs::read("/proc/device-tree/rtas/ibm,suspend-me")
                .ok()
                .and_then(|b| b.get(..4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))),
            hotplug_states: read_trim("/sys/devices/system/cpu/hotplug/states")
                .map(|s| parse_hotplug_states(&s))
                .unwrap_or_default(),
            possible_cpus: read_trim("/sys/devices/system/cpu/possible")
                .map(|s| count_cpu_list(&s))
                .unwrap_or(0),
            ..KernelFacts::default()
        };
        if let Some(dir) = &tracefs {
            if let Ok(text) = fs::read_to_string(Path::new(dir).join("available_events")) {
                facts.events = text.lines().map(str::to_string).collect();
            }
            facts.kprobes |= Path::new(dir).join("kprobe_events").exists();
        }
        facts.tracefs = tracefs;
        if let Ok(text) = fs::read_to_string("/proc/kallsyms") {
            facts.symbols = kallsyms_subset(&text, &wanted_symbols());
        }
        facts
    }

    /// The LPM generation this kernel's symbols show.
    pub fn generation(&self) -> KernelGeneration {
        if !self.pseries {
            KernelGeneration::NotPseries
        } else if self.has_symbol("rtas_percpu_suspend_me") {
            KernelGeneration::OldPath
        } else if [
            "do_join",
            "pseries_migrate_partition",
            "rtas_syscall_dispatch_ibm_suspend_me",
        ]
        .iter()
        .any(|s| self.has_symbol(s))
        {
            KernelGeneration::NewPath
        } else {
            KernelGeneration::PseriesUnknown
        }
    }

    /// Whether eBPF programs can read CLOCK_BOOTTIME (kernel 5.8+).
    pub fn has_boot_clock(&self) -> bool {
        self.has_symbol(BOOT_CLOCK_HELPER)
    }

    /// Whether kallsyms lists `symbol` as text.
    pub fn has_symbol(&self, symbol: &str) -> bool {
        self.symbols.contains(symbol)
    }

    /// Whether tracefs lists `group:name`.
    pub fn has_event(&self, group: &str, name: &str) -> bool {
        self.events.contains(&format!("{group}:{name}"))
    }

    /// Parses a kernel description (see `userspace/tests/kernels/*.facts`):
    /// `key value` lines (release, arch, pseries, btf, kprobes, jit,
    /// suspend-me-token, possible-cpus), then `events:`, `symbols:` and
    /// `hotplug-states:` sections with one item per line. `#` starts a
    /// comment.
    pub fn parse_description(text: &str) -> Result<KernelFacts, String> {
        #[derive(PartialEq)]
        enum Section {
            Keys,
            Events,
            Symbols,
            States,
        }
        let mut facts = KernelFacts {
            tracefs: Some("described".into()),
            ..KernelFacts::default()
        };
        let mut section = Section::Keys;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match line {
                "events:" => section = Section::Events,
                "symbols:" => section = Section::Symbols,
                "hotplug-states:" => section = Section::States,
                _ => match section {
                    Section::Events => {
                        facts.events.insert(line.to_string());
                    }
                    Section::Symbols => {
                        facts.symbols.insert(line.to_string());
                    }
                    Section::States => facts.hotplug_states.extend(parse_hotplug_states(line)),
                    Section::Keys => {
                        let (key, value) = line
                            .split_once(char::is_whitespace)
                            .ok_or_else(|| format!("line {}: expected `key value`, got {raw:?}", n + 1))?;
                        let value = value.trim();
                        let yes = matches!(value, "yes" | "true" | "1");
                        match key {
                            "release" => facts.release = value.into(),
                            "arch" => facts.arch = value.into(),
                            "pseries" => facts.pseries = yes,
                            "btf" => facts.btf = yes,
                            "kprobes" => facts.kprobes = yes,
                            "jit" => facts.jit = Some(value.into()),
                            "possible-cpus" => {
                                facts.possible_cpus = value.parse().map_err(|e| format!("line {}: {e}", n + 1))?
                            }
                            "suspend-me-token" => {
                                let v = value.trim_start_matches("0x");
                                facts.suspend_me_token =
                                    Some(u32::from_str_radix(v, 16).map_err(|e| format!("line {}: {e}", n + 1))?)
                            }
                            other => return Err(format!("line {}: unknown key {other:?}", n + 1)),
                        }
                    }
                },
            }
        }
        Ok(facts)
    }
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn uname() -> (String, String) {
    // SAFETY: uname fills a zeroed struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("unknown".into(), std::env::consts::ARCH.into());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.release), field(&u.machine))
}

/// `none [integrity] confidentiality` → `integrity`.
fn lockdown_selected(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(['[', ']']).to_string())
        .unwrap_or_else(|| text.to_string())
}

/// Finds tracefs, mounting it at /sys/kernel/tracing when it is not
/// mounted yet (root only; failure just leaves tracefs absent).
pub fn find_or_mount_tracefs() -> Option<String> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(dir).join("available_events").exists() {
            return Some(dir.to_string());
        }
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: plain mount(2) of tracefs with static C strings.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    (rc == 0 && Path::new("/sys/kernel/tracing/available_events").exists()).then(|| "/sys/kernel/tracing".to_string())
}

/// Keeps the text symbols of `wanted` that appear in a kallsyms listing.
pub fn kallsyms_subset(text: &str, wanted: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !matches!(kind, "t" | "T") {
            continue;
        }
        // Compiler clones (`foo.isra.0`, `foo.constprop.0`) are not the
        // function a kprobe on `foo` needs; skip them.
        if wanted.contains(name) {
            found.insert(name.to_string());
        }
    }
    found
}

/// Parses /sys/devices/system/cpu/hotplug/states (`  0: offline`).
pub fn parse_hotplug_states(text: &str) -> Vec<HotplugState> {
    text.lines()
        .filter_map(|line| {
            let (idx, name) = line.split_once(':')?;
            Some(HotplugState {
                idx: idx.trim().parse().ok()?,
                name: name.trim().to_string(),
            })
        })
        .collect()
}

/// Counts CPUs in a list such as `0-3,8,10-11`.
pub fn count_cpu_list(text: &str) -> u32 {
    text.trim()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => u32::from(part.parse::<u32>().is_ok()),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_states_cpu_lists_and_lockdown() {
        let s = parse_hotplug_states("  0: offline\n146: cpu:teardown\n237: online\n");
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[1],
            HotplugState {
                idx: 146,
                name: "cpu:teardown".into()
            }
        );
        assert_eq!(count_cpu_list("0-3,8,10-11\n"), 7);
        assert_eq!(count_cpu_list("0"), 1);
        assert_eq!(lockdown_selected("none [integrity] confidentiality"), "integrity");
    }

    #[test]
    fn kallsyms_subset_keeps_text_symbols_only() {
        let wanted: BTreeSet<&str> = ["do_join", "set_cpu_online"].into_iter().collect();
        let text = "c000000000012340 t do_join\nc000000000012350 d set_cpu_online\nc0000000000a t do_join.isra.0\n";
        let found = kallsyms_subset(text, &wanted);
        assert_eq!(found.into_iter().collect::<Vec<_>>(), vec!["do_join".to_string()]);
    }
}
