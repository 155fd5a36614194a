//! The one time base of every view, and its inverse for `--from`/`--to`.
//!
//! Outputs show a moment three ways: time since the recording's first
//! event (`+1.020742s`, what the TUI, `report` and `dump` lead with), UTC
//! wall-clock time (`2026-11-25T12:48:31.331Z`, what the HMC and
//! `lslparmigr` log) and the kernel's boot clock (`boot 12.560384s`, or
//! `[   12.560384]` as in `dmesg`). [`TimeSpec::parse`] accepts each of
//! these spellings exactly as printed, so a time copied from any output
//! selects the same moment.
//!
//! UTC comes from the boot-clock-to-Unix offset the session took when the
//! recording started. The boot clock keeps counting while a partition is
//! suspended, so times after a resume stay right; a wall-clock step after
//! the start (NTP correcting the clock once the LPAR is on its new server)
//! is not followed.

/// Nanoseconds since the Unix epoch as ISO 8601 UTC, to the millisecond.
pub fn format_wall(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (year, month, day) = crate::record::flight::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
        nanos / 1_000_000
    )
}

/// UTC of a boot-clock timestamp, when the session knows the offset (0:
/// unknown, e.g. a scenario).
pub fn utc(ts_ns: u64, wall_offset_ns: i64) -> Option<String> {
    (wall_offset_ns != 0).then(|| format_wall((ts_ns as i64).saturating_add(wall_offset_ns)))
}

/// `+1.020742s`: time since `base_ns`, to the microsecond.
pub fn since(ts_ns: u64, base_ns: u64) -> String {
    let d = ts_ns.saturating_sub(base_ns);
    format!("+{}.{:06}s", d / 1_000_000_000, d % 1_000_000_000 / 1_000)
}

/// A moment as a user wrote it, before the recording says what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// Nanoseconds after the first event: `1.5`, `+1.5s`, `250ms`, `2m`.
    SinceStart(u64),
    /// The kernel's boot clock: `boot 12.56s`, `boot:12.56`, `[ 12.56]`.
    Boot(u64),
    /// Unix nanoseconds: `2026-11-25T12:48:31.331Z`, `…+01:00`.
    Utc(i64),
}

const HELP: &str = "seconds since the first event (1.5, +1.5s, 250ms, 2m), \
                    boot time (boot 12.5s, [12.5]) or UTC (2026-11-25T12:48:31.331Z)";

impl TimeSpec {
    /// Parses any spelling the outputs print; exact (no floats).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || format!("invalid time {text:?} ({HELP})");
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return seconds(inner.trim(), false).map(TimeSpec::Boot).ok_or_else(bad);
        }
        if let Some(rest) = t.strip_prefix("boot") {
            let rest = rest.trim_start_matches([' ', ':', '=']);
            return seconds(rest, false).map(TimeSpec::Boot).ok_or_else(bad);
        }
        if t.len() >= 10 && t.as_bytes()[4] == b'-' {
            return parse_utc(t).map(TimeSpec::Utc).ok_or_else(bad);
        }
        let t = t.strip_prefix('+').unwrap_or(t).trim();
        seconds(t, true).map(TimeSpec::SinceStart).ok_or_else(bad)
    }

    /// The boot-clock nanoseconds this names in a recording whose first
    /// event is at `first_ns` and whose session offset is `wall_offset_ns`.
    pub fn resolve(self, first_ns: u64, wall_offset_ns: i64) -> Result<u64, String> {
        match self {
            TimeSpec::SinceStart(d) => Ok(first_ns.saturating_add(d)),
            TimeSpec::Boot(b) => Ok(b),
            TimeSpec::Utc(_) if wall_offset_ns == 0 => {
                Err("this recording has no wall-clock offset: give the time since the first event or boot time".into())
            }
            TimeSpec::Utc(u) => {
                let boot = i128::from(u) - i128::from(wall_offset_ns);
                u64::try_from(boot.max(0)).map_err(|_| "time out of range".to_string())
            }
        }
    }
}

/// `12.5`, `12.5s`, and with `units` also `ns`, `us`, `ms`, `m`.
fn seconds(t: &str, units: bool) -> Option<u64> {
    let table: &[(&str, u128)] = if units {
        &[
            ("ns", 1),
            ("us", 1_000),
            ("µs", 1_000),
            ("ms", 1_000_000),
            ("s", 1_000_000_000),
            ("m", 60_000_000_000),
        ]
    } else {
        &[("s", 1_000_000_000)]
    };
    let (num, unit) = table
        .iter()
        .find_map(|&(suffix, mult)| t.strip_suffix(suffix).map(|n| (n.trim(), mult)))
        .unwrap_or((t, 1_000_000_000));
    decimal(num, unit)
}

/// `int.frac × unit`, exactly.
fn decimal(num: &str, unit: u128) -> Option<u64> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        || int.len() > 20
        || frac.len() > 18
    {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_v: u128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let scale = 10u128.pow(frac.len() as u32);
    let ns = int.checked_mul(unit)?.checked_add(frac_v * unit / scale)?;
    u64::try_from(ns).ok()
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f…]` then `Z`, nothing (UTC) or `±HH:MM`.
fn parse_utc(t: &str) -> Option<i64> {
    // Any text can arrive here: split only at a character boundary.
    let (date, rest) = t.split_at_checked(10)?;
    let rest = rest.strip_prefix(['T', ' ', 't'])?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, offset_s) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, o) = rest.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (h, m) = o[1..].split_once(':')?;
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        (c, sign * (h * 3600 + m * 60))
    } else {
        (rest, 0)
    };
    let mut c = clock.splitn(3, ':');
    let h: i64 = c.next()?.parse().ok()?;
    let m: i64 = c.next()?.parse().ok()?;
    let sec = decimal(c.next()?, 1_000_000_000)? as i64;
    if h > 23 || m > 59 || sec >= 61_000_000_000 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)?.checked_add(h * 3600 + m * 60 - offset_s)?;
    secs.checked_mul(1_000_000_000)?.checked_add(sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// `record::flight::civil_from_days`): eras of 400 years from March 1st.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printed_spelling_parses_back() {
        let first = 11_850_686_000;
        let offset = 1_795_610_898_770_677_284;
        let ts = 12_560_384_000;
        let printed = [
            since(ts, first),
            format!("boot {}", crate::record::format_ts(ts)),
            format!("boot {}s", crate::record::format_ts(ts)),
            format!("[{:>12}]", "12.560384"),
            utc(ts, offset).unwrap(),
        ];
        for p in &printed {
            let got = TimeSpec::parse(p).unwrap().resolve(first, offset).unwrap();
            // UTC is printed to the millisecond.
            assert!(got.abs_diff(ts) < 1_000_000, "{p}: {got} vs {ts}");
        }
    }

    #[test]
    fn offsets_parse_exactly() {
        let s = |t: &str| TimeSpec::parse(t);
        assert_eq!(s("1.5"), Ok(TimeSpec::SinceStart(1_500_000_000)));
        assert_eq!(s("+1.5s"), Ok(TimeSpec::SinceStart(1_500_000_000)));
        assert_eq!(s(" +0.000000001 "), Ok(TimeSpec::SinceStart(1)));
        assert_eq!(s("250ms"), Ok(TimeSpec::SinceStart(250_000_000)));
        assert_eq!(s("2m"), Ok(TimeSpec::SinceStart(120_000_000_000)));
        assert_eq!(s("10us"), Ok(TimeSpec::SinceStart(10_000)));
        assert_eq!(s(".5"), Ok(TimeSpec::SinceStart(500_000_000)));
        assert_eq!(s("7ns"), Ok(TimeSpec::SinceStart(7)));
        assert_eq!(s("boot:3"), Ok(TimeSpec::Boot(3_000_000_000)));
        assert_eq!(s("1970-01-01T00:00:01Z"), Ok(TimeSpec::Utc(1_000_000_000)));
        assert_eq!(s("1970-01-01 01:00:01+01:00"), Ok(TimeSpec::Utc(1_000_000_000)));
        for bad in [
            "",
            "+",
            "x",
            "abc",
            "7ns7",
            "1.2.3",
            "-1",
            "1e3",
            "99999999999999999999999",
            "boot",
            "[]",
            "2026-13-01T00:00:00Z",
            "2026-11-2µT00:00:00Z",
            "2026-11-25T0µ:00:00Z",
            "µµµµ-µ",
        ] {
            assert!(s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468, -1, 0, 1, 365, 11_016, 20_787, 2_932_896] {
            let (y, m, d) = crate::record::flight::civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn utc_needs_the_offset() {
        assert!(TimeSpec::Utc(5).resolve(0, 0).is_err());
        assert_eq!(TimeSpec::Utc(5_000).resolve(0, 1_000), Ok(4_000));
        assert_eq!(TimeSpec::SinceStart(5).resolve(10, 0), Ok(15));
    }
}
