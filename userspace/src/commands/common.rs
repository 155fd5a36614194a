//! Arguments and parsers shared by several subcommands.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Args;

use crate::events::{names, session::IpiDetail};
use crate::probes::{attach::AttachOptions, catalogue::PROBES};

/// Probe selection and buffer sizes (live, record).
#[derive(Args, Debug, Clone, Default)]
pub struct ProbeArgs {
    /// Leave out logical probes (repeatable or comma-separated), e.g.
    /// `--disable ipi.send,ipi.handle` on a box where IPIs are too busy.
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
    /// Ring-buffer size (power of two, e.g. 8M, 64M).
    #[arg(long, value_parser = parse_size, default_value = "8M")]
    pub buffer: u64,
    /// Extra hcall opcodes to record besides H_JOIN, H_PROD, H_VASI_STATE
    /// and H_VASI_SIGNAL (hex like 0xe0 or decimal; repeatable).
    #[arg(long = "hcall", value_parser = parse_u32)]
    pub extra_hcalls: Vec<u32>,
    /// On Ctrl-C/SIGTERM during a migration, keep tracing up to this long
    /// so it is not cut (and probes are not detached) mid-join; 0 stops at once.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub stop_grace: Duration,
    /// Which IPIs to record one by one. `window`: while a migration is in
    /// flight and for 2 s after any LPM or CPU-hotplug event, counting the
    /// rest per CPU (an application's IPI storm then costs almost nothing);
    /// `all`: every IPI.
    #[arg(long, value_enum, default_value = "window")]
    pub ipis: IpiDetail,
}

impl ProbeArgs {
    /// Capture options for these arguments and an optional duration.
    pub fn capture_options(&self, duration: Option<Duration>) -> anyhow::Result<crate::capture::CaptureOptions> {
        Ok(crate::capture::CaptureOptions {
            duration,
            attach: self.attach_options()?,
            reorder_window_ns: 0,
            stop_grace: self.stop_grace,
        })
    }

    /// Validated attach options.
    pub fn attach_options(&self) -> anyhow::Result<AttachOptions> {
        for name in &self.disable {
            if !PROBES.iter().any(|p| p.name == name) {
                let known: Vec<_> = PROBES.iter().map(|p| p.name).collect();
                anyhow::bail!("--disable {name}: no such probe (known: {})", known.join(", "));
            }
        }
        let page = 4096u64.max(page_size());
        if !self.buffer.is_power_of_two() || self.buffer < page || self.buffer > (1 << 30) {
            anyhow::bail!(
                "--buffer {}: must be a power of two between the page size ({page}) and 1G",
                self.buffer
            );
        }
        let mut hcalls = names::DEFAULT_HCALL_FILTER.to_vec();
        hcalls.extend(&self.extra_hcalls);
        hcalls.sort_unstable();
        hcalls.dedup();
        Ok(AttachOptions {
            ring_bytes: self.buffer as u32,
            hcall_filter: hcalls,
            disabled: self.disable.iter().cloned().collect::<BTreeSet<_>>(),
            ipi_detail: self.ipis,
            ..AttachOptions::default()
        })
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

/// Starts the `--metrics` server when asked: the feed for the sink and
/// the server (keep it alive for the capture).
pub async fn start_metrics(
    addr: Option<&str>,
    session: &crate::events::session::SessionInfo,
    mode: &str,
    quiet: bool,
) -> anyhow::Result<(Option<crate::metrics::Feed>, Option<crate::metrics::server::Server>)> {
    let Some(addr) = addr else {
        return Ok((None, None));
    };
    let shared = crate::metrics::Metrics::new(crate::metrics::Snapshot::for_session(session, mode));
    let server = crate::metrics::server::start(addr, std::sync::Arc::clone(&shared)).await?;
    if !quiet {
        eprintln!("lpmtrace: metrics on http://{}/metrics", server.local_addr());
    }
    Ok((Some(crate::metrics::Feed::new(shared)), Some(server)))
}

/// Parses `30s`, `1.5s`, `500ms`, `5m`, `2h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (try 30s, 5m, 1h)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Parses `8M`, `64K`, `1G`, `4096`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {text:?} (try 8M, 512K, 1G)"))?;
    v.checked_mul(mult).ok_or_else(|| format!("size {text:?} too large"))
}

/// Parses `0x2a0` or `672`.
pub fn parse_u32(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse(),
    };
    r.map_err(|_| format!("invalid number {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_sizes_numbers() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("x").is_err());
        assert_eq!(parse_u32("0x2a0").unwrap(), 672);
    }
}
