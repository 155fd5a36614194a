//! What is known about the traced system and the probes of one session:
//! the header of every recording, the context every view and the analysis
//! need to interpret events (state names, kernel generation, coverage).

use serde::{Deserialize, Serialize};

/// Which kernel clock the timestamps come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockKind {
    /// CLOCK_BOOTTIME (`bpf_ktime_get_boot_ns`, 5.8+): counts suspended time,
    /// so an LPM blackout shows up as elapsed time.
    Boottime,
    /// CLOCK_MONOTONIC (older kernels): stops while the partition is suspended.
    Monotonic,
}

/// Which IPIs the kernel side records one by one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum IpiDetail {
    /// Only inside the IPI window: while a migration is in flight and for
    /// two seconds after any LPM or CPU-hotplug event. Outside it IPIs are
    /// counted per CPU (`ipi-tally` events), which is what keeps an
    /// application's IPI storm from costing a record per IPI.
    Window,
    /// Every IPI (what recordings before the window did; the default of a
    /// session header without the field).
    #[default]
    All,
}

/// Which LPM implementation the kernel carries, detected from its symbols
/// (never from the version string: distributions backport).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelGeneration {
    /// <= 5.10 shape: `rtas_ibm_suspend_me(u64)`, `rtas_percpu_suspend_me`
    /// IPIs, no H_VASI_SIGNAL cancel anywhere.
    OldPath,
    /// 5.11-and-later shape: `pseries_migrate_partition`, `do_join` under
    /// stop_machine, cancel on failure.
    NewPath,
    /// A pseries kernel whose LPM functions were not found (all inlined or a
    /// stripped symbol table).
    PseriesUnknown,
    /// Not a pseries kernel: the LPM probes do not apply.
    NotPseries,
}

/// How one logical probe ended up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCoverage {
    /// Logical probe name (`cpu.hotplug`, `lpm.join`, ...).
    pub probe: String,
    /// Attached or not.
    pub status: CoverageStatus,
}

/// Attached (with which hooks) or not (and why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CoverageStatus {
    /// At least the required hooks of one candidate are attached.
    Attached {
        /// Candidate label (e.g. "cpuhp tracepoints").
        candidate: String,
        /// Hooks attached, e.g. `raw_tp:cpuhp_enter`, `kprobe:do_join`.
        hooks: Vec<String>,
        /// Optional hooks of the candidate that did not attach, with reasons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        partial: Vec<String>,
    },
    /// No candidate worked.
    Missing {
        /// Why, per candidate tried ("kprobe:do_join: symbol not in kallsyms
        /// (inlined or not built)").
        reasons: Vec<String>,
    },
    /// The probe does not apply to this kernel (e.g. LPM on x86).
    NotApplicable {
        /// Why.
        reason: String,
    },
    /// The user turned it off.
    Disabled,
}

impl ProbeCoverage {
    /// True when the probe is attached.
    pub fn attached(&self) -> bool {
        matches!(self.status, CoverageStatus::Attached { .. })
    }
}

/// One entry of /sys/devices/system/cpu/hotplug/states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotplugState {
    /// State index.
    pub idx: i32,
    /// Name ("sched:active", "cpu:teardown", "online").
    pub name: String,
}

/// Everything about the traced system and the session: the recording header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Host name.
    pub hostname: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -m` (ppc64le, x86_64).
    pub arch: String,
    /// Possible CPUs (`/sys/devices/system/cpu/possible`, count).
    pub cpu_count: u32,
    /// Clock of the timestamps.
    pub clock: ClockKind,
    /// Add to a timestamp to get wall-clock nanoseconds since the Unix epoch.
    pub clock_to_wall_offset_ns: i64,
    /// The lpmtrace command line.
    pub command_line: Vec<String>,
    /// Detected LPM generation.
    pub generation: KernelGeneration,
    /// Coverage manifest, one entry per logical probe.
    pub coverage: Vec<ProbeCoverage>,
    /// hcall opcodes the kernel-side filter lets through.
    pub hcall_filter: Vec<u32>,
    /// RTAS token of ibm,suspend-me, when the device tree has it.
    pub suspend_me_token: Option<u32>,
    /// Hotplug state names by index.
    pub hotplug_states: Vec<HotplugState>,
    /// Addresses seen in events (IPI callbacks, hotplug callbacks) with their
    /// kernel symbol names, so a recording reads the same on another host.
    #[serde(default)]
    pub symbols: Vec<(u64, String)>,
    /// lpmtrace version that produced the session.
    pub tool_version: String,
    /// Which IPIs were recorded one by one (the rest are in `ipi-tally`
    /// events). Recordings made before the IPI window have no field and
    /// recorded every IPI.
    #[serde(default)]
    pub ipi_detail: IpiDetail,
    /// Set in flight-recorder dumps: what triggered the dump and which
    /// part of the session it holds (absent in ordinary recordings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight: Option<FlightDumpInfo>,
    /// The kernel's CPU masks once the probes were attached: who is owed an
    /// H_JOIN even if it says nothing before the join. Absent in recordings
    /// made before lpmtrace kept them (the CPUs seen in events stand in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_masks: Option<CpuMasks>,
    /// `/proc/device-tree/model` (e.g. `IBM,9080-HEX`, or `IBM pSeries
    /// (emulated by qemu)` in a QEMU guest), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// What the kernel said about its CPUs (sysfs cpulist text, e.g. `0-3,6`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuMasks {
    /// `/sys/devices/system/cpu/online`.
    pub online: String,
    /// `/sys/devices/system/cpu/present`.
    pub present: String,
    /// `/sys/devices/system/cpu/possible`.
    pub possible: String,
    /// `/sys/devices/system/cpu/smt/control` (`on`, `off`, `notsupported`,
    /// ...), when the kernel has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smt: Option<String>,
}

/// The CPUs of a sysfs cpulist (`0-3,6`); malformed parts are skipped and
/// ranges are capped at 65536 CPUs.
pub fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>(), b.trim().parse::<u32>()),
            None => (part.parse::<u32>(), part.parse::<u32>()),
        };
        if let (Ok(a), Ok(b)) = (a, b) {
            if b >= a && b < 1 << 16 {
                out.extend(a..=b);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl SessionInfo {
    /// The platform is QEMU's emulated pseries machine (not PowerVM).
    pub fn platform_is_qemu(&self) -> bool {
        self.platform
            .as_deref()
            .is_some_and(|p| p.to_ascii_lowercase().contains("qemu"))
    }
}

/// The header mark of a flight-recorder dump (docs/flight-recorder.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightDumpInfo {
    /// Trigger kinds, first the one that opened the dump (a finding kind id
    /// such as `unterminated-migration`, or `manual` for SIGUSR1), then
    /// any that fired during its tail.
    pub triggers: Vec<String>,
    /// Kernel-clock time of the first trigger.
    pub trigger_ts_ns: u64,
    /// Window kept before the trigger, in nanoseconds.
    pub window_ns: u64,
    /// Tail recorded after the trigger, in nanoseconds.
    pub tail_ns: u64,
    /// Events the recorder saw before the dump's window and left out; they
    /// are represented by one `lost` record at the dump's first event.
    pub events_left_out: u64,
    /// Timestamp of the dump's first event when events were left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_ns: Option<u64>,
    /// Set when the dump starts inside migrations that began before its
    /// first event (their start did not fit in memory): the recorder's end
    /// of those migrations. `report` marks findings about migrations that
    /// start no later than this inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_migrations_until_ns: Option<u64>,
    /// Kernel-clock time the recorder took the dump: it was watching until
    /// then, so silence up to it is part of the trace (a hang with no
    /// events); `report` advances the analysis clock to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_until_ns: Option<u64>,
}

impl SessionInfo {
    /// `(major, minor)` of the kernel release (`6.1.0-54-powerpc64le` →
    /// `(6, 1)`), when it starts with two numbers.
    pub fn kernel_version(&self) -> Option<(u32, u32)> {
        let mut parts = self.kernel_release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    }

    /// Name of hotplug state `idx`, when the table has it.
    pub fn hotplug_state_name(&self, idx: i32) -> Option<&str> {
        self.hotplug_states
            .iter()
            .find(|s| s.idx == idx)
            .map(|s| s.name.as_str())
    }

    /// Symbol for a kernel address, when known.
    pub fn symbol(&self, addr: u64) -> Option<&str> {
        self.symbols
            .binary_search_by_key(&addr, |(a, _)| *a)
            .ok()
            .map(|i| self.symbols[i].1.as_str())
    }

    /// Coverage entry of a logical probe.
    pub fn probe_coverage(&self, probe: &str) -> Option<&ProbeCoverage> {
        self.coverage.iter().find(|c| c.probe == probe)
    }

    /// A minimal session for tests and scenarios (no host facts).
    pub fn synthetic(arch: &str, cpu_count: u32, generation: KernelGeneration) -> Self {
        SessionInfo {
            hostname: "synthetic".into(),
            kernel_release: "synthetic".into(),
            arch: arch.into(),
            cpu_count,
            clock: ClockKind::Boottime,
            clock_to_wall_offset_ns: 0,
            command_line: Vec::new(),
            generation,
            coverage: Vec::new(),
            hcall_filter: super::names::DEFAULT_HCALL_FILTER.to_vec(),
            suspend_me_token: None,
            hotplug_states: Vec::new(),
            symbols: Vec::new(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            ipi_detail: IpiDetail::All,
            flight: None,
            cpu_masks: None,
            platform: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_versions() {
        assert_eq!(parse_cpu_list("0-3,6\n"), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("5,x,2-1,7"), vec![5, 7]);
        let mut s = SessionInfo::synthetic("ppc64le", 4, KernelGeneration::NewPath);
        assert_eq!(s.kernel_version(), None);
        s.kernel_release = "6.1.0-54-powerpc64le".into();
        assert_eq!(s.kernel_version(), Some((6, 1)));
        s.kernel_release = "5.11.0".into();
        assert_eq!(s.kernel_version(), Some((5, 11)));
        assert!(!s.platform_is_qemu());
        s.platform = Some("IBM pSeries (emulated by qemu)".into());
        assert!(s.platform_is_qemu());
    }

    #[test]
    fn masks_round_trip_and_are_optional() {
        let mut s = SessionInfo::synthetic("ppc64le", 4, KernelGeneration::NewPath);
        s.cpu_masks = Some(CpuMasks {
            online: "0-2".into(),
            present: "0-3".into(),
            possible: "0-3".into(),
            smt: Some("notsupported".into()),
        });
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SessionInfo>(&json).unwrap(), s);
        // A header written before the masks were kept reads as "unknown".
        s.cpu_masks = None;
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("cpu_masks"));
        assert_eq!(serde_json::from_str::<SessionInfo>(&json).unwrap().cpu_masks, None);
    }
}
