//! Checks that this process may load and attach BPF programs, so a missing
//! privilege is reported by name before anything is tried.

/// CAP_SYS_ADMIN.
const CAP_SYS_ADMIN: u32 = 21;
/// CAP_PERFMON (5.8+): attach tracing programs.
const CAP_PERFMON: u32 = 38;
/// CAP_BPF (5.8+): load programs and create maps.
const CAP_BPF: u32 = 39;

/// Parses the `CapEff:` line of /proc/self/status.
pub fn effective_caps(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// The capabilities missing for tracing, by name; empty when all is well.
/// CAP_SYS_ADMIN alone is enough (and is what kernels before 5.8 need);
/// otherwise both CAP_BPF and CAP_PERFMON are required.
pub fn missing_for_tracing(caps: u64) -> Vec<&'static str> {
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        missing.push("CAP_PERFMON");
    }
    missing
}

/// Checks the running process; `Err` carries a message for the user.
pub fn check() -> Result<(), String> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let caps = effective_caps(&status).ok_or("no CapEff line in /proc/self/status")?;
    let missing = missing_for_tracing(caps);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "lpmtrace needs to load eBPF programs, but this process lacks {} (and CAP_SYS_ADMIN). \
             Run it as root (sudo lpmtrace ...) or grant the capabilities: \
             setcap cap_bpf,cap_perfmon+ep $(command -v lpmtrace)",
            missing.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_missing_capabilities() {
        assert_eq!(
            effective_caps("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            Some(0x1ffffffffff)
        );
        assert!(missing_for_tracing(0x1ffffffffff).is_empty());
        assert_eq!(missing_for_tracing(0), vec!["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(missing_for_tracing(1 << CAP_BPF), vec!["CAP_PERFMON"]);
        assert!(missing_for_tracing(1 << CAP_SYS_ADMIN).is_empty());
    }
}
