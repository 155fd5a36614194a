//! The flight recorder's memory: a rolling window of recent events kept as
//! compressed chunks (the `.lpmt` block encoding, so a window costs about
//! what the same events cost on disk), bounded by event time **and** bytes,
//! plus the trigger logic: a trigger (a critical finding, SIGUSR1) freezes
//! the window before it, waits for a tail after it, then hands out a
//! [`DumpPlan`] that [`write_dump`] turns into an ordinary recording.
//!
//! [`FlightRing`] is pure (no clock, no I/O: times are event/kernel-clock
//! nanoseconds passed in), so the bounds and the trigger/tail behaviour are
//! unit-tested here; `lpmtrace record --flight-recorder` only wires it to
//! the capture (docs/flight-recorder.md).
//!
//! A dump starts where its window starts, usually long after the recorder
//! started and possibly in the middle of a migration. The events left out
//! before the window are written as one `lost` record at the dump's first
//! event ([`gap_event`]), so the analysis treats them like any other gap in
//! the trace: what rests on them is marked inconclusive rather than
//! reported as a finding (test `flight_gap`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::codec::{decode_block, BlockEncoder};
use super::error::RecordError;
use super::writer::{WriteSummary, Writer, WriterOptions};
use crate::analysis::{FindingKind, Migration, Report};
use crate::events::session::{FlightDumpInfo, SessionInfo};
use crate::events::{Event, EventKind};

/// Default window kept before a trigger.
pub const DEFAULT_WINDOW_NS: u64 = 600_000_000_000;
/// Default tail recorded after a trigger.
pub const DEFAULT_TAIL_NS: u64 = 30_000_000_000;
/// Default memory bound of the window.
pub const DEFAULT_MAX_MEMORY: usize = 64 << 20;
/// Event time one chunk spans at most: the granularity of eviction (the
/// window holds at least `window` and at most `window` + this).
pub const CHUNK_SPAN_NS: u64 = 1_000_000_000;
/// Encoded bytes of one chunk before compression, at most.
pub const CHUNK_RAW_LIMIT: usize = 1 << 20;

/// Bounds of the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlightOptions {
    /// Event time kept before a trigger.
    pub window_ns: u64,
    /// Event time recorded after a trigger before the dump is written.
    pub tail_ns: u64,
    /// Bytes the ring may hold (compressed chunks plus the open chunk's
    /// encoded events); oldest chunks go first when it is reached.
    pub max_memory: usize,
    /// zstd level of the chunks (0 = stored).
    pub compression_level: i32,
}

impl Default for FlightOptions {
    fn default() -> Self {
        FlightOptions {
            window_ns: DEFAULT_WINDOW_NS,
            tail_ns: DEFAULT_TAIL_NS,
            max_memory: DEFAULT_MAX_MEMORY,
            compression_level: super::DEFAULT_COMPRESSION_LEVEL,
        }
    }
}

/// One sealed run of events: the block encoding, compressed.
#[derive(Debug)]
pub struct Chunk {
    stored: Vec<u8>,
    compressed: bool,
    raw_len: usize,
    count: u32,
    min_ts: u64,
    max_ts: u64,
}

impl Chunk {
    /// Events in the chunk.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Smallest and largest timestamp.
    pub fn time_range(&self) -> (u64, u64) {
        (self.min_ts, self.max_ts)
    }

    /// Decodes the chunk's events, appending to `out`.
    pub fn decode(&self, out: &mut Vec<Event>) -> Result<(), String> {
        let raw = if self.compressed {
            zstd::bulk::decompress(&self.stored, self.raw_len).map_err(|e| format!("decompress: {e}"))?
        } else {
            self.stored.clone()
        };
        decode_block(&raw, self.count, self.min_ts, self.max_ts, out).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// What fired a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// Finding kind id (`unterminated-migration`, ...) or `manual` (SIGUSR1).
    pub kind: String,
    /// Kernel-clock time the trigger was seen.
    pub ts_ns: u64,
}

/// Events the dump leaves out before its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Events seen since the recorder started that are not in the dump.
    pub count: u64,
    /// Timestamp of the first event the recorder saw.
    pub first_ts_ns: u64,
    /// Timestamp of the dump's first event.
    pub last_ts_ns: u64,
}

/// Everything needed to write one dump (cheap to move to another thread:
/// chunks are shared, not copied).
#[derive(Clone, Debug)]
pub struct DumpPlan {
    /// The first trigger and any that fired during its tail.
    pub triggers: Vec<Trigger>,
    /// The window and the tail, oldest first.
    pub chunks: Vec<Arc<Chunk>>,
    /// Events left out before the window, if any.
    pub gap: Option<Gap>,
    /// The ring's bounds when the dump was taken.
    pub options: FlightOptions,
    /// See [`FlightDumpInfo::cut_migrations_until_ns`]; the caller sets it
    /// from its live analysis ([`cut_until`]).
    pub cut_until_ns: Option<u64>,
    /// Kernel-clock time the dump was taken (the recorder watched until
    /// then).
    pub taken_ns: u64,
}

impl DumpPlan {
    /// Events in the chunks (the gap record not counted).
    pub fn events(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.count)).sum()
    }

    /// Timestamps of the first and last event in the chunks.
    pub fn time_range(&self) -> Option<(u64, u64)> {
        Some((self.chunks.first()?.min_ts, self.chunks.last()?.max_ts))
    }

    /// The trigger that named the dump.
    pub fn first_kind(&self) -> &str {
        self.triggers.first().map_or("manual", |t| t.kind.as_str())
    }
}

#[derive(Debug)]
struct Pending {
    triggers: Vec<Trigger>,
    until_ns: u64,
}

/// The rolling window and the trigger state. See the module docs.
pub struct FlightRing {
    opts: FlightOptions,
    chunk_raw_limit: usize,
    chunks: VecDeque<Arc<Chunk>>,
    chunk_bytes: usize,
    enc: BlockEncoder,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    first_ts: Option<u64>,
    evicted_events: u64,
    evicted_for_memory: u64,
    pending: Option<Pending>,
    pin: Option<u64>,
}

impl std::fmt::Debug for FlightRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightRing")
            .field("chunks", &self.chunks.len())
            .field("memory", &self.memory())
            .field("evicted_events", &self.evicted_events)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl FlightRing {
    /// An empty ring. Fails only when zstd cannot be set up.
    pub fn new(opts: FlightOptions) -> std::io::Result<Self> {
        let compressor = if opts.compression_level > 0 {
            Some(zstd::bulk::Compressor::new(opts.compression_level)?)
        } else {
            None
        };
        // A chunk being filled counts against the bound too: keep it a
        // small part of the budget so eviction can always make room.
        let chunk_raw_limit = (opts.max_memory / 8).clamp(4096, CHUNK_RAW_LIMIT);
        Ok(FlightRing {
            opts,
            chunk_raw_limit,
            chunks: VecDeque::new(),
            chunk_bytes: 0,
            enc: BlockEncoder::new(),
            compressor,
            first_ts: None,
            evicted_events: 0,
            evicted_for_memory: 0,
            pending: None,
            pin: None,
        })
    }

    /// The bounds.
    pub fn options(&self) -> &FlightOptions {
        &self.opts
    }

    /// Bytes held (sealed chunks plus the open chunk's encoded events).
    pub fn memory(&self) -> usize {
        self.chunk_bytes + self.enc.bytes().len()
    }

    /// Events held.
    pub fn events(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.count)).sum::<u64>() + u64::from(self.enc.count())
    }

    /// Events dropped from the front so far (by age or by the memory bound).
    pub fn evicted(&self) -> u64 {
        self.evicted_events
    }

    /// Of those, events dropped because of the memory bound while younger
    /// than the window (the window was shortened).
    pub fn evicted_for_memory(&self) -> u64 {
        self.evicted_for_memory
    }

    /// Oldest timestamp held.
    pub fn oldest_ts(&self) -> Option<u64> {
        self.chunks
            .front()
            .map(|c| c.min_ts)
            .or_else(|| (!self.enc.is_empty()).then(|| self.enc.min_ts()))
    }

    /// Whether a trigger is waiting for its tail.
    pub fn pending(&self) -> Option<&[Trigger]> {
        self.pending.as_ref().map(|p| p.triggers.as_slice())
    }

    /// Keeps events from `ts_ns` on even when they are older than the
    /// window (the start of a migration still in flight, so a dump holds
    /// it whole); the memory bound still applies. `None` releases it.
    pub fn set_pin(&mut self, ts_ns: Option<u64>) {
        self.pin = ts_ns;
    }

    /// Adds one event (time order).
    pub fn push(&mut self, ev: &Event) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ev.ts_ns);
        }
        if !self.enc.is_empty() && ev.ts_ns.saturating_sub(self.enc.min_ts()) >= CHUNK_SPAN_NS {
            self.seal();
        }
        self.enc.push(ev);
        if self.enc.bytes().len() >= self.chunk_raw_limit || self.enc.count() == u32::MAX {
            self.seal();
        }
        self.evict_for_memory();
    }

    /// Records a trigger at `now_ns`. Returns true when it starts a new
    /// dump, false when a dump is already waiting for its tail (the trigger
    /// is then listed in that dump).
    pub fn trigger(&mut self, kind: &str, now_ns: u64) -> bool {
        let t = Trigger {
            kind: kind.to_string(),
            ts_ns: now_ns,
        };
        match &mut self.pending {
            Some(p) => {
                p.triggers.push(t);
                false
            }
            None => {
                self.pending = Some(Pending {
                    triggers: vec![t],
                    until_ns: now_ns.saturating_add(self.opts.tail_ns),
                });
                true
            }
        }
    }

    /// Advances to `now_ns`: drops what fell out of the window and, when a
    /// trigger's tail is complete, returns the dump to write.
    pub fn poll(&mut self, now_ns: u64) -> Option<DumpPlan> {
        // While a dump waits for its tail, keep the window before its
        // trigger: the tail must not push it out.
        let anchor = match &self.pending {
            Some(p) => p.triggers[0].ts_ns.min(now_ns),
            None => now_ns,
        };
        let mut cutoff = anchor.saturating_sub(self.opts.window_ns);
        if let Some(pin) = self.pin {
            cutoff = cutoff.min(pin);
        }
        while self.chunks.front().is_some_and(|c| c.max_ts < cutoff) {
            self.drop_front(false);
        }
        if !self.enc.is_empty() && self.enc.max_ts() < cutoff && self.chunks.is_empty() {
            // A quiet trace: the open chunk itself is out of the window.
            self.seal();
            self.drop_front(false);
        }
        match &self.pending {
            Some(p) if now_ns >= p.until_ns => self.take_dump(now_ns),
            _ => None,
        }
    }

    /// The waiting dump at `now_ns`, with whatever tail there is (at stop).
    pub fn take_pending(&mut self, now_ns: u64) -> Option<DumpPlan> {
        self.pending.as_ref()?;
        self.take_dump(now_ns)
    }

    fn take_dump(&mut self, now_ns: u64) -> Option<DumpPlan> {
        let pending = self.pending.take()?;
        self.seal();
        let chunks: Vec<Arc<Chunk>> = self.chunks.iter().cloned().collect();
        let gap = match (self.evicted_events, self.first_ts, chunks.first()) {
            (n, Some(first), Some(c)) if n > 0 => Some(Gap {
                count: n,
                first_ts_ns: first,
                last_ts_ns: c.min_ts,
            }),
            _ => None,
        };
        Some(DumpPlan {
            triggers: pending.triggers,
            chunks,
            gap,
            options: self.opts.clone(),
            cut_until_ns: None,
            taken_ns: now_ns,
        })
    }

    fn seal(&mut self) {
        if self.enc.is_empty() {
            return;
        }
        let raw = self.enc.bytes();
        let compressed = self
            .compressor
            .as_mut()
            .and_then(|c| c.compress(raw).ok())
            .filter(|z| z.len() < raw.len());
        let chunk = Chunk {
            compressed: compressed.is_some(),
            stored: compressed.unwrap_or_else(|| raw.to_vec()),
            raw_len: raw.len(),
            count: self.enc.count(),
            min_ts: self.enc.min_ts(),
            max_ts: self.enc.max_ts(),
        };
        self.chunk_bytes += chunk.stored.len();
        self.chunks.push_back(Arc::new(chunk));
        self.enc.reset();
    }

    fn evict_for_memory(&mut self) {
        while self.memory() > self.opts.max_memory && !self.chunks.is_empty() {
            self.drop_front(true);
        }
    }

    fn drop_front(&mut self, for_memory: bool) {
        if let Some(c) = self.chunks.pop_front() {
            self.chunk_bytes -= c.stored.len();
            self.evicted_events += u64::from(c.count);
            if for_memory {
                self.evicted_for_memory += u64::from(c.count);
            }
        }
    }
}

/// Where migrations that were in flight at `first_kept_ts` (a dump's
/// first event) end, by the live analysis that saw them whole: the latest
/// end among them, `dump_end_ts` for one still in progress. `None` when
/// the dump does not start inside a migration.
pub fn cut_until(migrations: &[Migration], first_kept_ts: u64, dump_end_ts: u64) -> Option<u64> {
    migrations
        .iter()
        .filter(|m| m.start_ns < first_kept_ts && m.end_ns.is_none_or(|e| e >= first_kept_ts))
        .map(|m| m.end_ns.unwrap_or(dump_end_ts).max(first_kept_ts))
        .max()
}

/// Marks inconclusive, in the report of a dump that starts inside a
/// migration, every finding about a migration (or, without one, a time
/// window) that starts no later than the end of the cut migrations: the
/// analysis of the dump saw those migrations without their beginning and
/// may have inferred a failure that did not happen. Returns how many
/// findings it marked.
pub fn qualify_report(report: &mut Report, info: &FlightDumpInfo) -> usize {
    // The gap record reads as an ordinary loss to the analysis; say what
    // it is, at info level (nothing failed: the dump is a window).
    if let Some(start) = info.window_start_ns.filter(|_| info.events_left_out > 0) {
        // The gap is the dump's first event: the first loss finding, which
        // starts no later than the window.
        if let Some(f) = report
            .findings
            .iter_mut()
            .find(|f| f.kind == FindingKind::EventsLost && f.window_start_ns <= start)
        {
            f.severity = crate::analysis::Severity::Info;
            f.summary = format!(
                "{} events before this flight-recorder dump's window are not in it (the window starts at {})",
                info.events_left_out,
                super::format_ts(start)
            );
            f.explanation = "A flight-recorder dump holds the window before its trigger and the tail after it; \
                             the recorder saw earlier events but did not keep them. They are one lost record \
                             at the start of the dump, so findings that rest on them are marked inconclusive."
                .into();
            f.next_step = "For more history, run the flight recorder with a longer --window (and enough \
                           --max-memory)."
                .into();
        }
    }
    let Some(until) = info.cut_migrations_until_ns else {
        return 0;
    };
    let mut marked = 0;
    for f in report.findings.iter_mut() {
        if f.inconclusive || f.kind == FindingKind::EventsLost {
            continue;
        }
        let start = f
            .migration
            .and_then(|id| report.migrations.iter().find(|m| m.id == id))
            .map_or(f.window_start_ns, |m| m.start_ns);
        if start <= until {
            f.inconclusive = true;
            f.inconclusive_reason = Some(format!(
                "this flight-recorder dump starts in the middle of a migration (its start did not fit in \
                 the recorder's memory, until {}); the analysis saw it without its beginning",
                super::format_ts(until)
            ));
            marked += 1;
        }
    }
    marked
}

/// One line about a dump for `info` and `report`.
pub fn describe_info(info: &FlightDumpInfo) -> String {
    let mut s = format!(
        "flight-recorder dump: triggered by {} at {} (window {}, tail {})",
        info.triggers.join(", "),
        super::format_ts(info.trigger_ts_ns),
        super::format_duration(info.window_ns),
        super::format_duration(info.tail_ns)
    );
    if info.events_left_out > 0 {
        let _ = std::fmt::Write::write_fmt(
            &mut s,
            format_args!(
                "; {} earlier events are not in the dump (one lost record at its start stands for them)",
                info.events_left_out
            ),
        );
    }
    if let Some(until) = info.cut_migrations_until_ns {
        let _ = std::fmt::Write::write_fmt(
            &mut s,
            format_args!(
                "; it starts inside a migration (until {}): findings about it are inconclusive",
                super::format_ts(until)
            ),
        );
    }
    s
}

/// The `lost` record that stands for the events a dump leaves out before
/// its window: `count` events between `first_ts_ns` and the dump's first
/// event at `first_kept_ts_ns`. It is stamped at the first kept event so it
/// opens the dump in time order and its window reaches the dump's start.
pub fn gap_event(first_ts_ns: u64, count: u64, first_kept_ts_ns: u64) -> Event {
    Event {
        ts_ns: first_kept_ts_ns,
        cpu: 0,
        tid: 0,
        kind: EventKind::Lost {
            count,
            first_ts_ns: first_ts_ns.min(first_kept_ts_ns),
            last_ts_ns: first_kept_ts_ns,
        },
    }
}

/// `lpmtrace-<host>-<YYYYmmddTHHMMSSZ>-<kind>.lpmt`, the name of a dump
/// taken at Unix time `unix_secs`. Host and kind are reduced to
/// `[A-Za-z0-9-]` so the name is safe in any shell and sorts by time for
/// one host.
pub fn dump_name(host: &str, unix_secs: u64, kind: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect()
    };
    let (y, mo, d, h, mi, s) = civil_from_unix(unix_secs);
    format!(
        "{}{}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{}.{}",
        DUMP_PREFIX,
        clean(host),
        clean(kind),
        super::EXTENSION
    )
}

/// Every dump name starts with this.
pub const DUMP_PREFIX: &str = "lpmtrace-";

/// UTC calendar fields of a Unix time (days-from-civil inverse, proleptic
/// Gregorian), to name files without a date crate.
pub fn civil_from_unix(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// (year, month, day) of a day count since 1970-01-01, negative ones
/// included: proleptic Gregorian, in 400-year eras that start on March 1st.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A dump already on disk, for the retention policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpFile {
    /// File name (sorts by time for one host).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Which dumps to delete, oldest first, so that at most `max_dumps` files
/// and `max_bytes` bytes remain once a new dump of `incoming` bytes is
/// added. The newest dump is never deleted by this (it is the one just
/// written); `existing` must not include it.
pub fn retention(existing: &[DumpFile], incoming: u64, max_dumps: usize, max_bytes: u64) -> Vec<String> {
    let mut files: Vec<&DumpFile> = existing.iter().collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut count = files.len() + 1;
    let mut bytes: u64 = files.iter().map(|f| f.bytes).sum::<u64>() + incoming;
    let mut delete = Vec::new();
    for f in files {
        if count <= max_dumps.max(1) && bytes <= max_bytes {
            break;
        }
        delete.push(f.name.clone());
        count -= 1;
        bytes -= f.bytes;
    }
    delete
}

/// The dumps of `host` in `dir` (files named by [`dump_name`] for that
/// host; anything else in the folder is left alone).
pub fn list_dumps(dir: &Path, host: &str) -> std::io::Result<Vec<DumpFile>> {
    let probe = dump_name(host, 0, "x");
    let prefix = &probe[..probe.len() - "19700101T000000Z-x.lpmt".len()];
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(prefix) || !name.ends_with(".lpmt") {
            continue;
        }
        // <YYYYmmddTHHMMSSZ>-: the time stamp right after the host.
        let rest = &name[prefix.len()..];
        let stamped = rest.len() > 17 && rest.as_bytes()[8] == b'T' && rest.as_bytes()[15] == b'Z';
        let meta = entry.metadata()?;
        if stamped && meta.is_file() {
            out.push(DumpFile {
                name,
                bytes: meta.len(),
            });
        }
    }
    Ok(out)
}

/// Writes `plan` as a recording in `dir` named after `session`'s host,
/// `unix_secs` and the first trigger. The file is written under a hidden
/// temporary name and renamed when complete, so a half-written dump is
/// never mistaken for one. The session header carries
/// [`FlightDumpInfo`]; the gap (if any) is the first event.
pub fn write_dump(
    dir: &Path,
    session: &SessionInfo,
    plan: &DumpPlan,
    unix_secs: u64,
) -> Result<WriteSummary, RecordError> {
    let base = dump_name(&session.hostname, unix_secs, plan.first_kind());
    let tmp = dir.join(format!(".{base}.partial{}", std::process::id()));
    let mut session = session.clone();
    session.flight = Some(FlightDumpInfo {
        triggers: plan.triggers.iter().map(|t| t.kind.clone()).collect(),
        trigger_ts_ns: plan.triggers.first().map_or(0, |t| t.ts_ns),
        window_ns: plan.options.window_ns,
        tail_ns: plan.options.tail_ns,
        events_left_out: plan.gap.map_or(0, |g| g.count),
        window_start_ns: plan.gap.map(|g| g.last_ts_ns),
        cut_migrations_until_ns: plan.cut_until_ns,
        watched_until_ns: Some(plan.taken_ns),
    });
    let opts = WriterOptions {
        force: true,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&tmp, &session, opts)?;
    let result = (|| {
        if let Some(g) = plan.gap {
            w.push(&gap_event(g.first_ts_ns, g.count, g.last_ts_ns))?;
        }
        let mut events = Vec::new();
        for (i, c) in plan.chunks.iter().enumerate() {
            events.clear();
            c.decode(&mut events).map_err(|problem| RecordError::Io {
                path: tmp.clone(),
                op: format!("decode flight-recorder chunk {i} from memory"),
                source: std::io::Error::other(problem),
            })?;
            for e in &events {
                w.push(e)?;
            }
        }
        w.finish()
    })();
    let mut summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // Moved under the first free name (`-2`, `-3`, … after the base); a
    // file that exists, or appears meanwhile, is never replaced.
    let mut n = 1u32;
    loop {
        let name = match n {
            1 => base.clone(),
            _ => format!("{}-{n}.{}", base.trim_end_matches(".lpmt"), super::EXTENSION),
        };
        let final_path = dir.join(&name);
        match crate::outfile::rename_noreplace(&tmp, &final_path) {
            Ok(()) => {
                summary.path = final_path;
                return Ok(summary);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(source) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(RecordError::Io {
                    path: final_path,
                    op: "move the finished dump into place".into(),
                    source,
                });
            }
        }
    }
}

/// Where the dumps go (for messages).
pub fn describe_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{IpiSendVia, Phase};

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn ipi(ts: u64, cpu: u32) -> Event {
        Event {
            ts_ns: ts,
            cpu,
            tid: 100 + cpu,
            kind: EventKind::IpiSend {
                target_cpu: (cpu + 1) % 4,
                callback: 0xc000_0000_0010_0000 + u64::from(cpu),
                via: IpiSendVia::Tracepoint,
            },
        }
    }

    fn opts(window_s: u64, tail_s: u64, max_memory: usize) -> FlightOptions {
        FlightOptions {
            window_ns: window_s * S,
            tail_ns: tail_s * S,
            max_memory,
            compression_level: 3,
        }
    }

    fn all_events(plan: &DumpPlan) -> Vec<Event> {
        let mut out = Vec::new();
        for c in &plan.chunks {
            c.decode(&mut out).expect("chunk decodes");
        }
        out
    }

    #[test]
    fn keeps_only_the_window_by_event_time() {
        let mut r = FlightRing::new(opts(10, 1, 64 << 20)).unwrap();
        // 60 s of events at 1 kHz.
        for i in 0..60_000u64 {
            r.push(&ipi(i * MS, (i % 4) as u32));
            if i % 50 == 0 {
                assert!(r.poll(i * MS).is_none());
            }
        }
        r.poll(60 * S);
        let oldest = r.oldest_ts().unwrap();
        // At least the window, at most the window plus one chunk.
        assert!(oldest <= 50 * S, "oldest {oldest}");
        assert!(oldest >= 50 * S - CHUNK_SPAN_NS - MS, "oldest {oldest}");
        assert_eq!(r.evicted() + r.events(), 60_000);
        assert_eq!(r.evicted_for_memory(), 0);
        assert!(r.trigger("manual", 60 * S));
        let plan = r.poll(61 * S).expect("tail done");
        let ev = all_events(&plan);
        assert_eq!(ev.len() as u64, plan.events());
        assert_eq!(ev.first().unwrap().ts_ns, oldest);
        assert_eq!(ev.last().unwrap().ts_ns, 59_999 * MS);
        let gap = plan.gap.expect("a gap");
        assert_eq!(gap.count + ev.len() as u64, 60_000);
        assert_eq!((gap.first_ts_ns, gap.last_ts_ns), (0, oldest));
        // Every event in the dump is in order and intact.
        assert!(ev.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        assert_eq!(ev[0], ipi(oldest, ((oldest / MS) % 4) as u32));
    }

    #[test]
    fn memory_bound_holds_and_drops_oldest_with_a_count() {
        let cap = 256 << 10;
        let mut r = FlightRing::new(opts(3600, 1, cap)).unwrap();
        let mut max_seen = 0;
        // Varied events so zstd cannot shrink them to nothing.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..400_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut e = ipi(i * 1000, (x % 64) as u32);
            if let EventKind::IpiSend { callback, .. } = &mut e.kind {
                *callback = x;
            }
            r.push(&e);
            max_seen = max_seen.max(r.memory());
        }
        assert!(max_seen <= cap, "memory {max_seen} over the cap {cap}");
        assert!(r.evicted_for_memory() > 0, "the cap was never reached");
        assert_eq!(r.evicted() + r.events(), 400_000);
        r.trigger("manual", 400_000 * 1000);
        let plan = r.take_pending(400_000 * 1000).unwrap();
        assert_eq!(plan.gap.unwrap().count, r.evicted());
    }

    #[test]
    fn a_trigger_waits_for_the_tail_and_keeps_the_window_before_it() {
        let mut r = FlightRing::new(opts(5, 3, 64 << 20)).unwrap();
        for i in 0..100u64 {
            r.push(&ipi(i * 100 * MS, 0)); // 0 .. 9.9 s
        }
        assert!(r.poll(10 * S).is_none());
        assert!(r.trigger("join-stall", 10 * S));
        // A second trigger during the tail joins the same dump.
        assert!(!r.trigger("manual", 11 * S));
        for i in 100..130u64 {
            r.push(&ipi(i * 100 * MS, 1)); // 10 .. 12.9 s
            assert!(r.poll(i * 100 * MS).is_none(), "dumped before the tail ended");
        }
        r.push(&ipi(13 * S, 1));
        let plan = r.poll(13 * S).expect("tail complete");
        assert!(r.pending().is_none());
        let kinds: Vec<&str> = plan.triggers.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["join-stall", "manual"]);
        let ev = all_events(&plan);
        // The window before the trigger (10 s - 5 s, chunk granularity) is
        // all there although the tail moved the clock on.
        assert!(ev[0].ts_ns <= 5 * S, "first {}", ev[0].ts_ns);
        assert_eq!(ev.last().unwrap().ts_ns, 13 * S);
        assert_eq!(plan.first_kind(), "join-stall");
        // No trigger, no dump.
        assert!(r.poll(100 * S).is_none());
        assert!(r.take_pending(100 * S).is_none());
    }

    #[test]
    fn quiet_trace_empties_the_window_and_a_dump_has_no_gap_before_eviction() {
        let mut r = FlightRing::new(opts(2, 0, 1 << 20)).unwrap();
        r.push(&ipi(S, 0));
        r.trigger("manual", S);
        let plan = r.poll(S).unwrap();
        assert!(plan.gap.is_none(), "nothing was dropped yet");
        assert_eq!(plan.events(), 1);
        r.poll(10 * S);
        assert_eq!(r.events(), 0);
        assert_eq!(r.evicted(), 1);
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn a_pin_keeps_a_migration_older_than_the_window() {
        let mut r = FlightRing::new(opts(5, 0, 64 << 20)).unwrap();
        for i in 0..200u64 {
            r.push(&ipi(i * 100 * MS, 0)); // 0 .. 19.9 s
            if i == 20 {
                r.set_pin(Some(2 * S)); // a migration started at 2 s
            }
            r.poll(i * 100 * MS);
        }
        assert!(r.oldest_ts().unwrap() <= 2 * S, "pinned start evicted");
        r.set_pin(None);
        r.poll(20 * S);
        assert!(
            r.oldest_ts().unwrap() >= 14 * S,
            "window not restored: {:?}",
            r.oldest_ts()
        );
    }

    #[test]
    fn gap_event_is_a_lost_record() {
        let e = gap_event(5, 3, 9);
        assert_eq!(e.kind.phase(), Phase::Event);
        assert!(matches!(
            e.kind,
            EventKind::Lost {
                count: 3,
                first_ts_ns: 5,
                last_ts_ns: 9
            }
        ));
    }

    #[test]
    fn names_and_retention() {
        assert_eq!(
            dump_name("lpar 7", 1_795_564_800 + 3723, "join-stall"),
            "lpmtrace-lpar_7-20261125T010203Z-join-stall.lpmt"
        );
        let f = |n: &str, b| DumpFile {
            name: n.into(),
            bytes: b,
        };
        let existing = [
            f("lpmtrace-h-20260102T000000Z-manual.lpmt", 10),
            f("lpmtrace-h-20260101T000000Z-manual.lpmt", 10),
            f("lpmtrace-h-20260103T000000Z-manual.lpmt", 10),
        ];
        // Count cap: 3 + 1 new > 3 → the oldest goes.
        assert_eq!(
            retention(&existing, 10, 3, u64::MAX),
            ["lpmtrace-h-20260101T000000Z-manual.lpmt"]
        );
        // Byte cap: 30 + 25 > 40 → two oldest go.
        assert_eq!(retention(&existing, 25, 10, 40).len(), 2);
        assert!(retention(&existing, 1, 10, 100).is_empty());
        // Never below the new dump itself.
        assert_eq!(retention(&existing, 1000, 10, 10).len(), 3);
    }
}
